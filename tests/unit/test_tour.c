/* The tour's script: the built-in one parses into the lesson's steps; bad scripts are refused
 * with the line and why. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"
#include "tui/record.h"
#include "tui/tour.h"

TEST(the_built_in_tour_tells_the_lesson_in_order)
{
	static struct tour t;
	char err[200] = "";
	REQUIRE(tour_parse(tour_builtin, "built-in", &t, err, sizeof(err)) == 0);
	CHECK(t.nr == 12);
	/* emulated CPU (KVM's emulator, or binary translation) -> paravirt (PVM's, or KVM's PV
	 * interfaces on VT-x/AMD-V) -> hardware -> e1000 -> virtio -> VF */
	const struct {
		enum tour_act what;
		unsigned arg;
	} want[8] = {{TA_CPU, CPU_EMULATED},	{TA_CPU, CPU_TRANSLATED},
		     {TA_CPU, CPU_PARAVIRT},	{TA_CPU, CPU_PARAVIRT},
		     {TA_CPU, CPU_HARDWARE},	{TA_NIC, NIC_MODE_EMULATED},
		     {TA_NIC, NIC_MODE_VIRTIO}, {TA_NIC, NIC_MODE_VF}};
	for (unsigned i = 0; i < 8 && i < t.nr; i++) {
		const struct tour_step *st = &t.step[i];
		CHECKF(st->nr_act >= 2 && st->act[0].what == want[i].what &&
			   st->act[0].arg == want[i].arg,
		       "step %u (%s)", i + 1, st->title);
		CHECK(strlen(st->caption) > 80 && st->seconds >= 10);
	}
	/* Every host gets one step of each CPU generation it can give: kvm_pvm 1, 3; VT-x/AMD-V 2,
	 * 4, 5; no KVM 2. */
	CHECK(t.step[0].need == NEED_PVM && t.step[1].need == NEED_NO_EMULATOR);
	CHECK(t.step[2].need == NEED_PVM && t.step[3].need == NEED_HARDWARE);
	CHECK(t.step[4].need == NEED_HARDWARE && !t.step[5].need);
	CHECK(t.step[5].act[1].what == TA_WORKLOAD && t.step[5].act[1].arg == WL_PING &&
	      t.step[5].act[1].rate == 0);
	CHECK(t.step[0].act[1].arg == WL_EXITS && t.step[0].act[1].kind == EK_ALL &&
	      t.step[0].act[1].rate == 100);
	/* Then several VMs on one card: virtio alone and loaded, the VF alone and loaded. */
	const struct {
		enum nic_mode nic;
		enum workload neighbours;
	} vms[4] = {{NIC_MODE_VIRTIO, WL_IDLE},
		    {NIC_MODE_NONE, WL_BOTH},
		    {NIC_MODE_VF, WL_IDLE},
		    {NIC_MODE_NONE, WL_BOTH}};
	for (unsigned i = 0; i < 4 && 8 + i < t.nr; i++) {
		const struct tour_step *st = &t.step[8 + i];
		bool nic = vms[i].nic == NIC_MODE_NONE, load = false;
		for (unsigned k = 0; k < st->nr_act; k++) {
			nic |= st->act[k].what == TA_NIC && st->act[k].arg == vms[i].nic;
			load |=
			    st->act[k].what == TA_NEIGHBOURS && st->act[k].arg == vms[i].neighbours;
		}
		CHECKF(st->need == NEED_VMS && nic && load, "step %u (%s)", 9 + i, st->title);
	}
}

TEST(a_bad_tour_script_is_refused_with_its_line)
{
	static struct tour t;
	char err[300];
	const struct {
		const char *text, *says;
	} bad[] = {
	    {"", "s line 1: the script has no step"},
	    {"# only a comment\nsay hello\n", "s line 2: 'say' before the first step line"},
	    {"step 5 A\nsay x\nnic token-ring\n", "s line 3: nic wants emulated, virtio or vf"},
	    {"step 0 A\n", "s line 1: step wants SECONDS (1 to 600)"},
	    {"step 5\n", "s line 1: the step has no title"},
	    {"step 5 A\nsay x\nworkload ping fast\n", "s line 3: workload wants idle"},
	    {"step 5 A\nsay x\nworkload exits:teleport\n", "s line 3: workload wants idle"},
	    {"step 5 A\nsay x\ncpu auto\n",
	     "s line 3: cpu wants emulated, paravirt, hardware or translated"},
	    {"step 5 A\nsay x\nneed quantum\n",
	     "s line 3: need wants hardware, pvm, no-emulator or vms"},
	    {"step 5 A\nsay x\nneighbours flood\n",
	     "s line 3: neighbours wants idle, tx, rx, both or ping"},
	    {"step 5 A\nsay x\nsize 9000\n", "s line 3: size wants payload bytes"},
	    {"step 5 A\nsay x\ndance\n", "s line 3: unknown word 'dance'"},
	    {"step 5 A\nsay it costs {pio.avg}\n",
	     "s line 2: '{pio.avg}' is not a figure a caption"},
	    {"step 5 A\n", "s: step 1 (A) has no say line"},
	    {"step 5 A\nsay x\ncpu paravirt\nnic vf\nsize 64\nworkload tx\nnic virtio\n",
	     "s line 7: more than 4 actions"},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECKF(tour_parse(bad[i].text, "s", &t, err, sizeof(err)) == -1 &&
			   strstr(err, bad[i].says),
		       "script %u: wanted \"%s\", got \"%s\"", i, bad[i].says, err);
	}
	/* Comments after words, '#' inside a caption, CRLF endings. */
	CHECK(tour_parse("step 3 One # first\r\nsay see #5 here\r\nworkload tx 500 # fast\r\n", "s",
			 &t, err, sizeof(err)) == 0);
	CHECK(t.nr == 1 && !strcmp(t.step[0].title, "One") &&
	      !strcmp(t.step[0].caption, "see #5 here") && t.step[0].act[0].rate == 500);
}

/* Placeholders take the snapshot's figures; a figure the snapshot does not have is "-". */
TEST(a_caption_shows_the_figures_of_its_snapshot)
{
	static struct snapshot s;
	char out[480];
	memset(&s, 0, sizeof(s));
	s.work = (struct work_cost){
	    .valid = true, .loops = 3, .ns_per_insn = 268, .host_ns_per_insn = 0.13};
	s.cost[EK_PIO_VMM] = (struct kind_cost){.ops = 5, .avg_ns = 30800};
	s.per_packet[PP_NIC] = (struct per_packet){.valid = true, .value = 1.004};
	tour_caption("{work.guest} vs {work.host} ({work.ratio}); pio {cost.pio_vmm}, cpuid "
		     "{cost.cpuid}; nic {pp.nic} all {pp.all}; {ping.p50}; {not.one}",
		     &s, out, sizeof(out));
	CHECKF(!strcmp(
		   out,
		   "268 ns vs 0.13 ns (2062x); pio 30.8 us, cpuid -; nic 1.00 all -; -; {not.one}"),
	       "%s", out);
	/* Cut to the buffer, never past it. */
	tour_caption("{work.guest}{work.guest}{work.guest}", &s, out, 10);
	CHECK(strlen(out) == 9);
}

/* Every number a built-in caption gives comes from a placeholder: its words carry no figure of
 * their own that one host's measurements could contradict. */
TEST(the_built_in_captions_give_numbers_only_through_placeholders)
{
	static struct tour t;
	char err[200] = "";
	REQUIRE(tour_parse(tour_builtin, "built-in", &t, err, sizeof(err)) == 0);
	for (unsigned i = 0; i < t.nr; i++) {
		const char *c = t.step[i].caption;
		unsigned figures = 0;
		for (const char *p = c; *p; p++) {
			if (*p == '{') {
				const char *e = strchr(p, '}');
				REQUIRE(e);
				p = e;
				figures++;
				continue;
			}
			/* A digit inside a name (e1000, p50) is no figure. */
			const char *w = p;
			while (w > c && isalnum((unsigned char)w[-1]))
				w--;
			CHECKF(!isdigit((unsigned char)*p) || isalpha((unsigned char)*w),
			       "step %u (%s) says a number of its own at \"%.20s\"", i + 1,
			       t.step[i].title, p);
		}
		CHECKF(figures >= 2, "step %u (%s) shows %u figures", i + 1, t.step[i].title,
		       figures);
	}
}

/* Two captions say the same: the same words, and each number the same to its last printed digit
 * but one (a recording keeps figures to a fixed precision, the caption was filled before). */
static bool same_caption(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			char *ea, *eb;
			double x = strtod(a, &ea), y = strtod(b, &eb);
			const char *dot = memchr(a, '.', (size_t)(ea - a));
			double unit = dot ? pow(10, -(double)(ea - dot - 1)) : 1;
			if (fabs(x - y) > unit * 1.001)
				return false;
			a = ea, b = eb;
			continue;
		}
		if (*a++ != *b++)
			return false;
	}
	return *a == *b;
}

/* The shipped recording of the tour: each snapshot's caption is its step's caption filled with
 * that snapshot's own figures, so every number a learner reads beside a figure is that figure;
 * and by the end of each step every figure it names was measured (no "-" left). */
TEST(the_shipped_tour_recording_captions_match_its_figures)
{
	static struct tour t;
	static struct snapshot s, last;
	char err[300] = "", want[480];
	struct replay *r;
	REQUIRE(tour_parse(tour_builtin, "built-in", &t, err, sizeof(err)) == 0);
	if (replay_open(&r, VMSCOPE_TOUR_RECORDING, err, sizeof(err)))
		SKIP("%s", err);
	unsigned checked = 0, steps = 0, step = 0;
	bool have_last = false;
	for (;;) {
		bool more = replay_next(r, &s);
		if (have_last && (!more || s.tour.step != step)) {
			/* the last snapshot of a step */
			steps++;
			CHECKF(!strstr(last.tour.caption, " - ") &&
				   !strstr(last.tour.caption, "(-"),
			       "step %u ends with a figure missing: %s", step, last.tour.caption);
		}
		if (!more)
			break;
		if (!s.tour.step || s.tour.step > t.nr)
			continue;
		if (strcmp(s.tour.title, t.step[s.tour.step - 1].title))
			continue; /* a step the host skipped shows the one it went on to */
		tour_caption(t.step[s.tour.step - 1].caption, &s, want, sizeof(want));
		CHECKF(same_caption(want, s.tour.caption),
		       "tick %llu, step %u: recorded \"%s\", its figures say \"%s\"",
		       (unsigned long long)s.seq, s.tour.step, s.tour.caption, want);
		checked++;
		step = s.tour.step;
		last = s;
		have_last = true;
	}
	replay_close(r);
	printf("    %u snapshots over %u steps checked\n", checked, steps);
	CHECK(checked > 20 && steps >= 5);
}
