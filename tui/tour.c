/* The guided tour.
 *
 * A script is lines of text; '#' starts a comment, blank lines are ignored.
 *   step SECONDS TITLE     a new step, on screen for SECONDS (1..600) unless a key moves on
 *   say TEXT               its caption (several say lines join with a space); {NAME} shows a
 *                          figure of the snapshot beside it (the placeholders table below)
 *   need hardware|pvm|no-emulator
 *                          skipped, with a note, unless the host gives VT-x/AMD-V, or is kvm_pvm,
 *                          or has no KVM instruction-emulator mode (any host but kvm_pvm)
 *   cpu MODE               reboot the guest in MODE (emulated, paravirt, hardware, translated)
 *   nic MODE               move the guest to that card (emulated, virtio, vf) if it is not
 *   workload W [RATE]      idle, exits[:KIND], ping, tx, rx, echo; RATE per second, 0 unpaced
 *   size BYTES             the payload of ping and tx packets, 8..1472
 *   neighbours W [RATE]    what VM2.. run (idle, tx, rx, both, ping), RATE packets a second each
 *   need vms               skipped unless the session has several VMs (vmscope demo boots 3)
 * Actions run in the order cpu, nic, workload, size, neighbours, whatever their order in the
 * step. */
#define _GNU_SOURCE
#include "tui/tour.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/text.h"
#include "tui/units.h"
#include "vmm/names.h"

/* Every number a caption gives is a placeholder filled from the snapshot beside it, and every
 * claim in words holds on kvm_pvm, VT-x and AMD-V alike (tests/unit/test_tour.c checks both). */
const char tour_builtin[] =
    "# vmscope's guided tour: what each kind of virtualization costs, watched on this guest.\n"
    "step 12 CPU: KVM's instruction emulator\n"
    "need pvm\n"
    "cpu emulated\n"
    "workload exits:all 100\n"
    "say The guest runs with no hardware help: KVM's instruction emulator decodes and runs every\n"
    "say instruction in software. The header's work line is what that costs: a plain instruction\n"
    "say takes {work.guest} here, {work.host} on the host ({work.ratio}). The exits themselves\n"
    "say (EXITS avg: a port write to the VMM {cost.pio_vmm}, a CPUID {cost.cpuid}) are not where\n"
    "say emulation loses: the ordinary code between them is.\n"
    "step 12 CPU: binary translation, no KVM\n"
    "need no-emulator\n"
    "cpu translated\n"
    "workload exits:all 1000\n"
    "say No KVM: the VMM translates each block of guest code into host code once (Unicorn's\n"
    "say TCG, {tcg.blocks} blocks so far) and runs it, {tcg.insns} instructions a second. A plain\n"
    "say instruction takes {work.guest}, {work.host} on the host ({work.ratio}). Privileged work\n"
    "say traps to the VMM as a call it counts (EXITS avg: a port write {cost.pio_vmm}, a CPUID\n"
    "say {cost.cpuid}, a hypercall {cost.hypercall}); KVM's sources see none of it.\n"
    "step 12 CPU: paravirtual (PVM hypercalls)\n"
    "need pvm\n"
    "cpu paravirt\n"
    "workload exits:all 1000\n"
    "say The same guest, paravirtualized: its kernel runs natively as a PVM guest's kernel and\n"
    "say asks the hypervisor for privileged work with hypercalls. Plain instructions run natively\n"
    "say again: {work.guest} against {work.host} on the host ({work.ratio}). EXITS avg: a\n"
    "say hypercall {cost.hypercall}, a port write KVM completes itself (ioeventfd)\n"
    "say {cost.pio_eventfd}, one the VMM serves {cost.pio_vmm}.\n"
    "step 12 CPU: paravirtual on KVM (its PV interfaces)\n"
    "need hardware\n"
    "cpu paravirt\n"
    "workload exits:all 1000\n"
    "say The same guest, paravirtualized for KVM: it finds KVM by CPUID and uses its PV\n"
    "say interfaces. PV EOI: KVM marks in guest memory an interrupt that needs no EOI, and the\n"
    "say guest skips the LAPIC write (an exit, unless the CPU virtualizes the APIC):\n"
    "say {eoi.lapic} EOI writes an interrupt, {eoi.pv} spared. kvmclock and steal time need no\n"
    "say exit (steal {steal} a second). Hypercalls go by KVM's numbers: a hypercall\n"
    "say {cost.hypercall}.\n"
    "step 12 CPU: hardware-assisted (VT-x / AMD-V)\n"
    "need hardware\n"
    "cpu hardware\n"
    "workload exits:all 1000\n"
    "say VT-x or AMD-V runs the guest natively; sensitive instructions exit to KVM by hardware\n"
    "say reason. Plain instructions: {work.guest} against {work.host} on the host ({work.ratio}).\n"
    "say EXITS avg: a CPUID {cost.cpuid}, a hypercall {cost.hypercall}, a port write the VMM\n"
    "say serves {cost.pio_vmm}. SOURCES: bpf counts kvm_exit by hardware reason.\n"
    "step 15 NIC: the emulated Intel 82540EM\n"
    "nic emulated\n"
    "workload ping 0\n"
    "say An emulated NIC: the guest's e1000 driver touches a real chip's registers and every "
    "access\n"
    "say traps to the VMM. NETWORK per pkt: {pp.nic} of the card's exits a packet, {pp.user}\n"
    "say reaching the VMM ({pp.all} exits of every kind); exits by register says where they go.\n"
    "say Ping p50 {ping.p50}; host CPU {cpu.host} a packet.\n"
    "step 15 NIC: virtio-net, paravirtual\n"
    "nic virtio\n"
    "workload tx 0\n"
    "say virtio: the guest fills a ring and kicks once per batch, an ioeventfd that KVM completes\n"
    "say itself. NETWORK per pkt: {pp.nic} of the card's exits and {pp.user} reaching the VMM a\n"
    "say packet; host CPU {cpu.host} a packet. COMPARE puts it beside the e1000.\n"
    "step 15 NIC: an SR-IOV virtual function\n"
    "nic vf\n"
    "workload tx 0\n"
    "say The SR-IOV VF: the guest drives the card's own queues, its doorbells are plain memory,\n"
    "say and the hypervisor leaves the data path. NETWORK per pkt: {pp.nic} of the card's exits\n"
    "say a packet; host CPU {cpu.host} a packet, and the card's engine (a thread standing for the\n"
    "say NIC's silicon) {cpu.card}. COMPARE now has all three cards.\n"
    "step 12 Three VMs, one link: the hypervisor's path\n"
    "need vms\n"
    "nic virtio\n"
    "workload ping 0\n"
    "neighbours idle\n"
    "say VM1, VM2 and VM3 each have a virtio card, and the VMM's one network thread serves all\n"
    "say {vms.n}, switching their frames onto the link as a host bridge does. VM2 and VM3 idle\n"
    "say for now: VM1's closed-loop ping p99 is {vms.alone.p99} alone, and the network thread\n"
    "say spends {vms.path} a packet (VMS panel).\n"
    "step 15 The hypervisor's path under load\n"
    "need vms\n"
    "neighbours both 5000\n"
    "say VM2 and VM3 now each send {vms.rate} packets a second and take as many from the peer,\n"
    "say all through that same thread. VM1's ping p99: {vms.loaded.p99} with them,\n"
    "say {vms.alone.p99} alone ({vms.ratio} that). The network thread spends {vms.path} a\n"
    "say packet, for every VM's packets.\n"
    "step 12 SR-IOV: a VF for each VM\n"
    "need vms\n"
    "nic vf\n"
    "neighbours idle\n"
    "say The host's SR-IOV card enables VFs and gives each of the {vms.n} VMs its own, as VFIO\n"
    "say does: its queues and doorbells are the VM's memory, and no thread of the VMM is in the\n"
    "say data path. VM1 alone on its VF: ping p99 {vms.alone.p99}; the card's engine spends\n"
    "say {vms.path} a packet.\n"
    "step 15 SR-IOV under load: VM1's latency while VM2 and VM3 flood\n"
    "need vms\n"
    "neighbours both 5000\n"
    "say VM2 and VM3 flood again, each through its own VF; the card's engine serves the VFs'\n"
    "say queues in turn. VM1's ping p99 under load over alone: {vms.ratio.vf} on its VF,\n"
    "say {vms.ratio.virtio} on virtio's shared path; its p50 {vms.loaded.p50} loaded,\n"
    "say {vms.alone.p50} alone. The vCPUs and the card's engine (a thread standing for the NIC's\n"
    "say silicon) share {vms.cpus} CPUs here, so a tail can be a wait for a CPU: a real NIC has\n"
    "say its own.\n";

/* The figures a caption may name: "{name}" is replaced by the value in the snapshot the
 * caption is shown with, or "-" where that snapshot has none. */
static void put_time(char *out, size_t n, bool valid, double ns)
{
	if (!valid || !(ns >= 0))
		snprintf(out, n, "-");
	else if (ns == 0)
		snprintf(out, n, "0 ns");
	else
		units_ns(out, n, ns, UNITS_TEXT);
}

static void ph_work(const struct snapshot *s, unsigned which, char *out, size_t n)
{
	const struct work_cost *w = &s->work;
	if (which == 2) {
		if (w->valid && w->host_ns_per_insn > 0)
			snprintf(out, n, "%.0fx", w->ns_per_insn / w->host_ns_per_insn);
		else
			snprintf(out, n, "-");
	} else {
		put_time(out, n, w->valid, which ? w->host_ns_per_insn : w->ns_per_insn);
	}
}

static void ph_cost(const struct snapshot *s, unsigned kind, char *out, size_t n)
{
	put_time(out, n, s->cost[kind].ops > 0, s->cost[kind].avg_ns);
}

static void ph_exits(const struct snapshot *s, unsigned part, char *out, size_t n)
{
	const struct per_packet *p = &s->per_packet[part];
	if (p->valid)
		snprintf(out, n, "%.2f", p->value);
	else
		snprintf(out, n, "-");
}

static void ph_cpu(const struct snapshot *s, unsigned part, char *out, size_t n)
{
	put_time(out, n, s->per_packet[part].valid, s->per_packet[part].value);
}

static void ph_ping(const struct snapshot *s, unsigned q, char *out, size_t n)
{
	put_time(out, n, s->latency_valid, s->latency_us[q] * 1e3);
}

/* The translated CPU's own figures (the vmm source's tcg_*): blocks so far, instructions/s. */
static void ph_tcg(const struct snapshot *s, unsigned which, char *out, size_t n)
{
	const struct named_figure *f =
	    snapshot_find(s->vmm, s->nr_vmm, which ? "tcg_insns" : "tcg_blocks_translated");
	if (!f || !f->f.valid)
		snprintf(out, n, "-");
	else if (which)
		units_count(out, n, f->f.rate);
	else
		snprintf(out, n, "%llu", (unsigned long long)f->f.total);
}

/* Per interrupt the guest took this tick: EOIs it wrote to the LAPIC, or that PV EOI spared. */
static void ph_eoi(const struct snapshot *s, unsigned pv, char *out, size_t n)
{
	double irqs = snapshot_irq_rate(s);
	const struct figure *f = pv ? &s->eoi_pv : &s->eoi_lapic;
	if (!f->valid || !(irqs > 0))
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%.2f", f->rate / irqs);
}

static void ph_steal(const struct snapshot *s, unsigned arg, char *out, size_t n)
{
	put_time(out, n, s->kvm_pv_on && s->steal_ns.valid, s->steal_ns.rate);
}

/* Several VMs (snap_vms): VM1's ping on the card in use, alone or loaded (arg bit 0), p50 or
 * p99 (bit 1). */
static void ph_vm1_ping(const struct snapshot *s, unsigned arg, char *out, size_t n)
{
	unsigned loaded = arg & 1, q = arg & 2 ? 1 : 0;
	const struct snap_vm1_load *l =
	    s->nic_mode < NIC_MODE_MAX ? &s->vms.load[s->nic_mode] : NULL;
	put_time(out, n, s->vms.nr && l && l->valid[loaded], l ? l->us[loaded][q] * 1e3 : 0);
}

/* VM1's p99 loaded over alone on a card (NIC_MODE_MAX: the one in use), "2.15x". */
static void ph_vms_ratio(const struct snapshot *s, unsigned mode, char *out, size_t n)
{
	unsigned m = mode < NIC_MODE_MAX ? mode : (unsigned)s->nic_mode;
	const struct snap_vm1_load *l = m < NIC_MODE_MAX ? &s->vms.load[m] : NULL;
	if (!s->vms.nr || !l || !l->valid[0] || !l->valid[1] || !(l->us[0][1] > 0))
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%.2fx", l->us[1][1] / l->us[0][1]);
}

static void ph_vms_path(const struct snapshot *s, unsigned arg, char *out, size_t n)
{
	put_time(out, n, s->vms.nr && s->vms.path_cpu.valid, s->vms.path_cpu.value);
}

/* How many: the host's CPUs (0), the VMs (1); the neighbours' rate a second each (2). */
static void ph_vms_count(const struct snapshot *s, unsigned which, char *out, size_t n)
{
	const struct snap_vms *v = &s->vms;
	unsigned x = which == 0 ? v->cpus : which == 1 ? v->nr : v->neighbour_rate;
	if (!v->nr || !x)
		snprintf(out, n, "-");
	else if (which == 2)
		units_count(out, n, x);
	else
		snprintf(out, n, "%u", x);
}

static const struct placeholder {
	const char *name;
	void (*put)(const struct snapshot *s, unsigned arg, char *out, size_t n);
	unsigned arg;
} placeholders[] = {
    {"work.guest", ph_work, 0},
    {"work.host", ph_work, 1},
    {"work.ratio", ph_work, 2},
    {"cost.pio_vmm", ph_cost, EK_PIO_VMM},
    {"cost.pio_eventfd", ph_cost, EK_PIO_EVENTFD},
    {"cost.mmio_vmm", ph_cost, EK_MMIO_VMM},
    {"cost.mmio_eventfd", ph_cost, EK_MMIO_EVENTFD},
    {"cost.hypercall", ph_cost, EK_HYPERCALL},
    {"cost.cpuid", ph_cost, EK_CPUID},
    {"cost.hlt", ph_cost, EK_HLT},
    {"pp.nic", ph_exits, PP_NIC},
    {"pp.user", ph_exits, PP_USERSPACE},
    {"pp.all", ph_exits, PP_ALL},
    {"cpu.host", ph_cpu, PP_CPU_VMM},
    {"cpu.guest", ph_cpu, PP_CPU_GUEST},
    {"cpu.card", ph_cpu, PP_CPU_CARD},
    {"ping.p50", ph_ping, 0},
    {"ping.p99", ph_ping, 1},
    {"tcg.blocks", ph_tcg, 0},
    {"tcg.insns", ph_tcg, 1},
    {"eoi.lapic", ph_eoi, 0},
    {"eoi.pv", ph_eoi, 1},
    {"steal", ph_steal, 0},
    {"vms.alone.p50", ph_vm1_ping, 0},
    {"vms.loaded.p50", ph_vm1_ping, 1},
    {"vms.alone.p99", ph_vm1_ping, 2},
    {"vms.loaded.p99", ph_vm1_ping, 3},
    {"vms.ratio", ph_vms_ratio, NIC_MODE_MAX},
    {"vms.ratio.emulated", ph_vms_ratio, NIC_MODE_EMULATED},
    {"vms.ratio.virtio", ph_vms_ratio, NIC_MODE_VIRTIO},
    {"vms.ratio.vf", ph_vms_ratio, NIC_MODE_VF},
    {"vms.path", ph_vms_path, 0},
    {"vms.cpus", ph_vms_count, 0},
    {"vms.n", ph_vms_count, 1},
    {"vms.rate", ph_vms_count, 2},
};

/* The placeholder that text (just past a '{') names, or NULL; *len is its length with braces. */
static const struct placeholder *placeholder_at(const char *text, size_t *len)
{
	const char *close = strchr(text, '}');
	if (!close)
		return NULL;
	size_t n = (size_t)(close - text);
	for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
		if (strlen(placeholders[i].name) == n && !strncmp(placeholders[i].name, text, n)) {
			*len = n + 2;
			return &placeholders[i];
		}
	return NULL;
}

void tour_caption(const char *tmpl, const struct snapshot *s, char *out, size_t n)
{
	size_t o = 0;
	for (const char *p = tmpl; *p && o + 1 < n;) {
		size_t len;
		const struct placeholder *ph = *p == '{' ? placeholder_at(p + 1, &len) : NULL;
		if (!ph) {
			out[o++] = *p++;
			continue;
		}
		char v[32];
		ph->put(s, ph->arg, v, sizeof(v));
		o += (size_t)snprintf(out + o, n - o, "%s", v);
		if (o >= n)
			o = n - 1;
		p += len;
	}
	out[o] = 0;
}

/* A script being parsed: where, and the step its lines belong to. */
struct tparse {
	struct tour *t;
	struct tour_step *st; /* NULL before the first step line */
	const char *name;
	unsigned lineno;
	char *err;
	size_t errlen;
};

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		int n_ = snprintf(p->err, p->errlen, "%s line %u: ", p->name, p->lineno);          \
		snprintf(p->err + (n_ > 0 && (size_t)n_ < p->errlen ? n_ : 0),                     \
			 p->errlen - (n_ > 0 && (size_t)n_ < p->errlen ? (size_t)n_ : 0),          \
			 __VA_ARGS__);                                                             \
		utf8_copy(p->err, p->errlen, p->err); /* a long one is cut between characters */   \
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

static int kw_step(struct tparse *p, const char *rest)
{
	char *end;
	if (p->t->nr == TOUR_STEPS_MAX)
		FAIL("more than %d steps", TOUR_STEPS_MAX);
	struct tour_step *st = p->st = &p->t->step[p->t->nr++];
	errno = 0;
	st->seconds = strtod(rest, &end);
	if (end == rest || errno || !(st->seconds >= 1 && st->seconds <= 600))
		FAIL("step wants SECONDS (1 to 600) and a title, like: step 15 The emulated NIC");
	end += strspn(end, " \t");
	if (!*end)
		FAIL("the step has no title");
	utf8_copy(st->title, sizeof(st->title), end); /* a long title is cut between characters */
	return 0;
}

static int kw_say(struct tparse *p, const char *rest)
{
	struct tour_step *st = p->st;
	size_t n = strlen(st->caption), len;
	char shown[41];
	for (const char *b = strchr(rest, '{'); b; b = strchr(b + 1, '{'))
		if (!placeholder_at(b + 1, &len) && (utf8_copy(shown, sizeof(shown), b), true))
			FAIL("'%s' is not a figure a caption can show (say {work.guest}, "
			     "{cost.pio_vmm}, {pp.nic}, {cpu.host}, {ping.p50}, ...)",
			     shown);
	if (n + 1 + strlen(rest) >= sizeof(st->caption))
		FAIL("the caption is longer than %zu characters", sizeof(st->caption) - 1);
	snprintf(st->caption + n, sizeof(st->caption) - n, "%s%s", n ? " " : "", rest);
	return 0;
}

static int kw_need(struct tparse *p, const char *rest)
{
	if (!strcmp(rest, "hardware"))
		p->st->need |= NEED_HARDWARE;
	else if (!strcmp(rest, "pvm"))
		p->st->need |= NEED_PVM;
	else if (!strcmp(rest, "no-emulator"))
		p->st->need |= NEED_NO_EMULATOR;
	else if (!strcmp(rest, "vms"))
		p->st->need |= NEED_VMS;
	else
		FAIL("need wants hardware, pvm, no-emulator or vms, not '%s'", rest);
	return 0;
}

static int act_cpu(struct tparse *p, const char *rest, struct tour_action *a)
{
	enum cpu_mode m;
	if (cpu_mode_parse(rest, &m) || m == CPU_AUTO)
		FAIL("cpu wants emulated, paravirt, hardware or translated, not '%s'", rest);
	*a = (struct tour_action){.what = TA_CPU, .arg = m};
	return 0;
}

static int act_nic(struct tparse *p, const char *rest, struct tour_action *a)
{
	enum nic_mode m;
	if (nic_mode_parse(rest, &m) || m == NIC_MODE_NONE)
		FAIL("nic wants emulated, virtio or vf, not '%s'", rest);
	*a = (struct tour_action){.what = TA_NIC, .arg = m};
	return 0;
}

static int act_workload(struct tparse *p, const char *rest, struct tour_action *a)
{
	char w[64] = "", r[16] = "", extra[8];
	unsigned long rate = 1000;
	int n = sscanf(rest, "%63s %15s %7s", w, r, extra);
	char *end = r;
	if (n == 2)
		rate = strtoul(r, &end, 10);
	*a = (struct tour_action){.what = TA_WORKLOAD};
	if (n < 1 || n > 2 || parse_workload(w, a) || rate > 10000000 || *end || r[0] == '-')
		FAIL("workload wants " WORKLOADS " and an optional "
		     "rate per second, not '%s'",
		     rest);
	a->rate = (uint32_t)rate;
	return 0;
}

static int act_size(struct tparse *p, const char *rest, struct tour_action *a)
{
	char *end;
	unsigned long b = strtoul(rest, &end, 10);
	if (end == rest || *end || b < 8 || b > 1472)
		FAIL("size wants payload bytes from 8 to 1472, not '%s'", rest);
	*a = (struct tour_action){.what = TA_SIZE, .arg = (unsigned)b};
	return 0;
}

static int act_neighbours(struct tparse *p, const char *rest, struct tour_action *a)
{
	char w[16] = "", r[16] = "", extra[8];
	unsigned long rate = NEIGHBOUR_RATE_DEFAULT;
	int n = sscanf(rest, "%15s %15s %7s", w, r, extra);
	char *end = r;
	if (n == 2)
		rate = strtoul(r, &end, 10);
	*a = (struct tour_action){.what = TA_NEIGHBOURS};
	enum workload wl = WL_MAX;
	if (n < 1 || n > 2 || neighbour_load_parse(w, &wl) || rate > 10000000 || *end ||
	    r[0] == '-')
		FAIL("neighbours wants " NEIGHBOUR_LOADS " and an optional rate per second, not "
		     "'%s'",
		     rest);
	a->arg = wl;
	a->rate = (uint32_t)rate;
	return 0;
}

/* The script's words: a step's own lines, then the actions it takes. */
static const struct {
	const char *word;
	int (*line)(struct tparse *p, const char *rest);
	int (*action)(struct tparse *p, const char *rest, struct tour_action *a);
} words[] = {
    {"step", kw_step, NULL},  {"say", kw_say, NULL},
    {"need", kw_need, NULL},  {"cpu", NULL, act_cpu},
    {"nic", NULL, act_nic},   {"workload", NULL, act_workload},
    {"size", NULL, act_size}, {"neighbours", NULL, act_neighbours},
};

static int parse_line(struct tparse *p, char *line)
{
	char *word, *rest, *save;
	char *hash = strchr(line, '#');
	if (hash && strncmp(line, "say ", 4)) /* a caption may say '#' */
		*hash = 0;
	for (size_t e = strlen(line); e && strchr(" \t\r", line[e - 1]); e--)
		line[e - 1] = 0;
	word = strtok_r(line, " \t\r", &save);
	if (!word)
		return 0;
	rest = save ? save + strspn(save, " \t") : "";
	for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(word, words[i].word))
			continue;
		if (!p->st && words[i].line != kw_step)
			FAIL("'%s' before the first step line", word);
		if (words[i].line)
			return words[i].line(p, rest);
		if (p->st->nr_act == TOUR_ACTIONS_MAX)
			FAIL("more than %d actions in one step", TOUR_ACTIONS_MAX);
		if (words[i].action(p, rest, &p->st->act[p->st->nr_act]))
			return -1;
		p->st->nr_act++;
		return 0;
	}
	if (!p->st)
		FAIL("'%s' before the first step line", word);
	FAIL("unknown word '%s' (step, say, need, cpu, nic, workload, size, neighbours)", word);
}

int tour_parse(const char *text, const char *name, struct tour *t, char *err, size_t errlen)
{
	struct tparse ps = {.t = t, .name = name, .err = err, .errlen = errlen}, *p = &ps;
	memset(t, 0, sizeof(*t));
	for (const char *at = text; *at;) {
		const char *nl = strchr(at, '\n');
		size_t len = nl ? (size_t)(nl - at) : strlen(at);
		char line[600];
		p->lineno++;
		if (len >= sizeof(line))
			FAIL("the line is longer than %zu characters", sizeof(line) - 1);
		memcpy(line, at, len);
		line[len] = 0;
		at += len + (nl ? 1 : 0);
		if (len && line[len - 1] == '\r') /* a CRLF file */
			line[--len] = 0;
		/* What the script says goes into recordings (JSON: UTF-8) and onto the terminal. */
		size_t bad = utf8_check(line, len);
		if (bad < len)
			FAIL("the line is not UTF-8 text (byte %zu is 0x%02x)", bad + 1,
			     (unsigned char)line[bad]);
		for (size_t i = 0; i < len; i++)
			if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
				FAIL("the line has a control character (byte %zu is 0x%02x)", i + 1,
				     (unsigned char)line[i]);
		if (parse_line(p, line))
			return -1;
	}
	if (!t->nr) {
		p->lineno = 1;
		FAIL("the script has no step");
	}
	for (unsigned i = 0; i < t->nr; i++)
		if (!t->step[i].caption[0]) {
			snprintf(err, errlen, "%s: step %u (%s) has no say line", name, i + 1,
				 t->step[i].title);
			return -1;
		}
	return 0;
}

int tour_load(const char *path, struct tour *t, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "cannot read the --script file '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	enum { SCRIPT_MAX = 64 << 10 };
	char *text = malloc(SCRIPT_MAX);
	if (!text) {
		fclose(f);
		snprintf(err, errlen, "out of memory reading the --script file '%s'", path);
		return -1;
	}
	size_t n = fread(text, 1, SCRIPT_MAX - 1, f);
	bool more = fgetc(f) != EOF;
	int r = -1;
	fclose(f);
	text[n] = 0;
	if (more)
		snprintf(err, errlen, "the --script file '%s' is over 64 KiB: not a tour script",
			 path);
	else if (strlen(text) != n)
		snprintf(err, errlen, "the --script file '%s' has a NUL byte: not a text file",
			 path);
	else
		r = tour_parse(text, path, t, err, errlen);
	free(text);
	return r;
}
