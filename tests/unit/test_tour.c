/* The tour's script: the built-in one parses into the lesson's steps; bad scripts are refused
 * with the line and why. */
#include <string.h>

#include "tests/harness.h"
#include "tui/tour.h"

TEST(the_built_in_tour_tells_the_lesson_in_order)
{
	static struct tour t;
	char err[200] = "";
	REQUIRE(tour_parse(tour_builtin, "built-in", &t, err, sizeof(err)) == 0);
	CHECK(t.nr == 6);
	/* emulated CPU -> paravirt -> hardware -> e1000 -> virtio -> VF */
	const struct {
		enum tour_act what;
		unsigned arg;
	} want[6] = {{TA_CPU, CPU_EMULATED}, {TA_CPU, CPU_PARAVIRT}, {TA_CPU, CPU_HARDWARE},
		     {TA_NIC, NIC_MODE_EMULATED}, {TA_NIC, NIC_MODE_VIRTIO}, {TA_NIC, NIC_MODE_VF}};
	for (unsigned i = 0; i < 6 && i < t.nr; i++) {
		const struct tour_step *st = &t.step[i];
		CHECKF(st->nr_act >= 2 && st->act[0].what == want[i].what && st->act[0].arg == want[i].arg,
		       "step %u (%s)", i + 1, st->title);
		CHECK(strlen(st->caption) > 80 && st->seconds >= 10);
	}
	CHECK(t.step[0].need == NEED_PVM && t.step[2].need == NEED_HARDWARE && !t.step[3].need);
	CHECK(t.step[3].act[1].what == TA_WORKLOAD && t.step[3].act[1].arg == WL_PING && t.step[3].act[1].rate == 0);
	CHECK(t.step[0].act[1].arg == WL_EXITS && t.step[0].act[1].kind == EK_ALL && t.step[0].act[1].rate == 100);
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
		{"step 5 A\nsay x\ncpu auto\n", "s line 3: cpu wants emulated, paravirt or hardware"},
		{"step 5 A\nsay x\nneed quantum\n", "s line 3: need wants hardware or pvm"},
		{"step 5 A\nsay x\nsize 9000\n", "s line 3: size wants payload bytes"},
		{"step 5 A\nsay x\ndance\n", "s line 3: unknown word 'dance'"},
		{"step 5 A\n", "s: step 1 (A) has no say line"},
		{"step 5 A\nsay x\ncpu paravirt\nnic vf\nsize 64\nworkload tx\nnic virtio\n",
		 "s line 7: more than 4 actions"},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECKF(tour_parse(bad[i].text, "s", &t, err, sizeof(err)) == -1 && strstr(err, bad[i].says),
		       "script %u: wanted \"%s\", got \"%s\"", i, bad[i].says, err);
	}
	/* Comments after words, '#' inside a caption, CRLF endings. */
	CHECK(tour_parse("step 3 One # first\r\nsay see #5 here\r\nworkload tx 500 # fast\r\n", "s", &t,
			 err, sizeof(err)) == 0);
	CHECK(t.nr == 1 && !strcmp(t.step[0].title, "One") && !strcmp(t.step[0].caption, "see #5 here") &&
	      t.step[0].act[0].rate == 500);
}
