/* The guided tour.
 *
 * A script is lines of text; '#' starts a comment, blank lines are ignored.
 *   step SECONDS TITLE     a new step, on screen for SECONDS (1..600) unless a key moves on
 *   say TEXT               its caption (several say lines join with a space)
 *   need hardware|pvm      skipped, with a note, unless the host gives VT-x/AMD-V, or is kvm_pvm
 *   cpu MODE               reboot the guest in MODE (emulated, paravirt, hardware) if it is not
 *   nic MODE               move the guest to that card (emulated, virtio, vf) if it is not
 *   workload W [RATE]      idle, exits[:KIND], ping, tx, rx, echo; RATE per second, 0 unpaced
 *   size BYTES             the payload of ping and tx packets, 8..1472
 * Actions run in the order cpu, nic, workload, size, whatever their order in the step. */
#define _GNU_SOURCE
#include "tour.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/nic.h"

const char tour_builtin[] =
	"# vmscope's guided tour: what each kind of virtualization costs, watched on this guest.\n"
	"step 12 CPU: KVM's instruction emulator\n"
	"need pvm\n"
	"cpu emulated\n"
	"workload exits:all 100\n"
	"say The guest runs with no hardware help: KVM's instruction emulator decodes and runs every\n"
	"say instruction. Look at the header (cpu emulated) and at the EXITS table: even a CPUID or a\n"
	"say port write costs tens of microseconds (avg), and the guest's heartbeat crawls.\n"
	"step 12 CPU: paravirtual (PVM hypercalls)\n"
	"need pvm\n"
	"cpu paravirt\n"
	"workload exits:all 1000\n"
	"say The same guest, paravirtualized: its kernel runs natively in ring 0 of a PVM guest and\n"
	"say asks the hypervisor for privileged work with hypercalls. The EXITS table: the same\n"
	"say kinds now cost a few microseconds; hypercall is the cheapest way out.\n"
	"step 12 CPU: hardware-assisted (VT-x / AMD-V)\n"
	"need hardware\n"
	"cpu hardware\n"
	"workload exits:all 1000\n"
	"say VT-x or AMD-V runs the guest; sensitive instructions trap to KVM by exit reason. SOURCES:\n"
	"say bpf kvm_exit by hardware reason; EXITS: what each kind costs in a round trip.\n"
	"step 15 NIC: the emulated Intel 82540EM\n"
	"nic emulated\n"
	"workload ping 0\n"
	"say An emulated NIC: the guest's e1000 driver touches a real chip's registers and every access\n"
	"say traps to the VMM. NETWORK: exits per packet (all, user, nic) and the registers the exits\n"
	"say go to; ping p50 is what all those traps cost a round trip.\n"
	"step 15 NIC: virtio-net, paravirtual\n"
	"nic virtio\n"
	"workload tx 0\n"
	"say virtio: the guest fills a ring and kicks once per batch (an ioeventfd, handled inside\n"
	"say KVM). NETWORK: exits per packet fall far below one, and COMPARE puts it beside the e1000.\n"
	"step 15 NIC: an SR-IOV virtual function\n"
	"nic vf\n"
	"workload tx 0\n"
	"say The SR-IOV VF: the guest drives the card's own queues; the hypervisor leaves the data\n"
	"say path. NETWORK: no NIC exits per packet at all, and the card's CPU (its engine) does the\n"
	"say work. COMPARE now has all three cards.\n";

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		int n_ = snprintf(err, errlen, "%s line %u: ", name, lineno);                      \
		snprintf(err + (n_ > 0 && (size_t)n_ < errlen ? n_ : 0),                           \
			 errlen - (n_ > 0 && (size_t)n_ < errlen ? (size_t)n_ : 0), __VA_ARGS__);   \
		return -1;                                                                         \
	} while (0)

static int parse_workload(const char *w, struct tour_action *a)
{
	enum workload wl;
	a->kind = EK_ALL;
	if (workload_parse(w, &wl, &a->kind))
		return -1;
	a->arg = wl;
	return 0;
}

int tour_parse(const char *text, const char *name, struct tour *t, char *err, size_t errlen)
{
	unsigned lineno = 0;
	struct tour_step *st = NULL;
	memset(t, 0, sizeof(*t));
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[600], *word, *rest, *save;
		lineno++;
		if (len >= sizeof(line))
			FAIL("the line is longer than %zu characters", sizeof(line) - 1);
		memcpy(line, p, len);
		line[len] = 0;
		p += len + (nl ? 1 : 0);
		char *hash = strchr(line, '#');
		if (hash && strncmp(line, "say ", 4)) /* a caption may say '#' */
			*hash = 0;
		for (size_t e = strlen(line); e && strchr(" \t\r", line[e - 1]); e--)
			line[e - 1] = 0;
		word = strtok_r(line, " \t\r", &save);
		if (!word)
			continue;
		rest = save ? save + strspn(save, " \t") : "";
		if (!strcmp(word, "step")) {
			char *end;
			if (t->nr == TOUR_STEPS_MAX)
				FAIL("more than %d steps", TOUR_STEPS_MAX);
			st = &t->step[t->nr++];
			errno = 0;
			st->seconds = strtod(rest, &end);
			if (end == rest || errno || !(st->seconds >= 1 && st->seconds <= 600))
				FAIL("step wants SECONDS (1 to 600) and a title, like: step 15 The emulated NIC");
			end += strspn(end, " \t");
			if (!*end)
				FAIL("the step has no title");
			snprintf(st->title, sizeof(st->title), "%s", end);
			continue;
		}
		if (!st)
			FAIL("'%s' before the first step line", word);
		if (!strcmp(word, "say")) {
			size_t n = strlen(st->caption);
			if (n + 1 + strlen(rest) >= sizeof(st->caption))
				FAIL("the caption is longer than %zu characters", sizeof(st->caption) - 1);
			snprintf(st->caption + n, sizeof(st->caption) - n, "%s%s", n ? " " : "", rest);
			continue;
		}
		if (!strcmp(word, "need")) {
			if (!strcmp(rest, "hardware"))
				st->need |= NEED_HARDWARE;
			else if (!strcmp(rest, "pvm"))
				st->need |= NEED_PVM;
			else
				FAIL("need wants hardware or pvm, not '%s'", rest);
			continue;
		}
		if (st->nr_act == TOUR_ACTIONS_MAX)
			FAIL("more than %d actions in one step", TOUR_ACTIONS_MAX);
		struct tour_action *a = &st->act[st->nr_act];
		if (!strcmp(word, "cpu")) {
			enum cpu_mode m;
			if (cpu_mode_parse(rest, &m) || m == CPU_AUTO)
				FAIL("cpu wants emulated, paravirt or hardware, not '%s'", rest);
			*a = (struct tour_action){.what = TA_CPU, .arg = m};
		} else if (!strcmp(word, "nic")) {
			enum nic_mode m;
			if (nic_mode_parse(rest, &m) || m == NIC_MODE_NONE)
				FAIL("nic wants emulated, virtio or vf, not '%s'", rest);
			*a = (struct tour_action){.what = TA_NIC, .arg = m};
		} else if (!strcmp(word, "workload")) {
			char w[64] = "", r[16] = "", extra[8];
			unsigned long rate = 1000;
			int n = sscanf(rest, "%63s %15s %7s", w, r, extra);
			char *end = r;
			if (n == 2)
				rate = strtoul(r, &end, 10);
			*a = (struct tour_action){.what = TA_WORKLOAD};
			if (n < 1 || n > 2 || parse_workload(w, a) || rate > 10000000 || *end || r[0] == '-')
				FAIL("workload wants idle, exits[:KIND], ping, tx, rx or echo and an optional "
				     "rate per second, not '%s'", rest);
			a->rate = (uint32_t)rate;
		} else if (!strcmp(word, "size")) {
			char *end;
			unsigned long b = strtoul(rest, &end, 10);
			if (end == rest || *end || b < 8 || b > 1472)
				FAIL("size wants payload bytes from 8 to 1472, not '%s'", rest);
			*a = (struct tour_action){.what = TA_SIZE, .arg = (unsigned)b};
		} else {
			FAIL("unknown word '%s' (step, say, need, cpu, nic, workload, size)", word);
		}
		st->nr_act++;
	}
	if (!t->nr) {
		lineno = 1;
		FAIL("the script has no step");
	}
	for (unsigned i = 0; i < t->nr; i++)
		if (!t->step[i].caption[0]) {
			snprintf(err, errlen, "%s: step %u (%s) has no say line", name, i + 1, t->step[i].title);
			return -1;
		}
	return 0;
}

int tour_load(const char *path, struct tour *t, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "cannot read the --script file '%s': %s", path, strerror(errno));
		return -1;
	}
	static char text[64 << 10];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	bool more = fgetc(f) != EOF;
	fclose(f);
	if (more) {
		snprintf(err, errlen, "the --script file '%s' is over 64 KiB: not a tour script", path);
		return -1;
	}
	text[n] = 0;
	if (strlen(text) != n) {
		snprintf(err, errlen, "the --script file '%s' has a NUL byte: not a text file", path);
		return -1;
	}
	return tour_parse(text, path, t, err, errlen);
}

