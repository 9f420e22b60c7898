/* Command-line parsing: defaults, every option, and one-sentence errors. */
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"
#include "tui/cli.h"
#include "vmm/names.h"

static int parse(struct cli *c, char *err, const char *a1, const char *a2, const char *a3,
		 const char *a4)
{
	char *argv[6] = {"vmscope", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
	int argc = 1;
	while (argc < 5 && argv[argc])
		argc++;
	return cli_parse(argc, argv, c, err, 200);
}

TEST(cli_defaults_open_the_dashboard_on_all_exit_kinds)
{
	struct cli c;
	char err[200];
	CHECK(parse(&c, err, NULL, NULL, NULL, NULL) == 0);
	CHECK(c.cmd == CMD_RUN && !c.headless);
	CHECK(c.workload == WL_EXITS && c.kind == EK_ALL && c.rate == 1000);
	CHECK(c.interval_ms == 1000 && c.cpu == CPU_AUTO && c.format == FMT_JSONL);
	CHECK(parse(&c, err, "run", NULL, NULL, NULL) == 0 && c.cmd == CMD_RUN);
}

TEST(cli_parses_headless_options_both_spellings)
{
	struct cli c;
	char err[200];
	CHECK(parse(&c, err, "run", "--headless", "--duration=2.5", "--format=csv") == 0);
	CHECK(c.headless && c.duration == 2.5 && c.format == FMT_CSV);
	CHECK(parse(&c, err, "--interval", "250", "--workload", "exits:mmio_eventfd") == 0);
	CHECK(c.interval_ms == 250 && c.workload == WL_EXITS && c.kind == EK_MMIO_EVENTFD);
	CHECK(parse(&c, err, "--kind", "hlt", "--rate", "0") == 0);
	CHECK(c.kind == EK_HLT && c.rate == 0);
	CHECK(parse(&c, err, "--cpu", "emulated", "--workload", "idle") == 0);
	CHECK(c.cpu == CPU_EMULATED && c.workload == WL_IDLE);
	CHECK(parse(&c, err, "--workload", "fault:hang", "--no-bpf", "--verbose") == 0);
	CHECK(c.workload == WL_FAULT && c.kind == FAULT_HANG && c.no_bpf && c.verbose &&
	      !c.no_capture);
	CHECK(parse(&c, err, "--no-capture", NULL, NULL, NULL) == 0 && c.no_capture);
	CHECK(parse(&c, err, "--help", NULL, NULL, NULL) == 0 && c.cmd == CMD_HELP);
	CHECK(parse(&c, err, "--version", NULL, NULL, NULL) == 0 && c.cmd == CMD_VERSION);
	CHECK(parse(&c, err, "--workload", "both", NULL, NULL) == 0 && c.workload == WL_BOTH);
}

/* --vms N's neighbours: each load the flag names, and the N key's cycle through them all. */
TEST(cli_neighbours_take_every_load_and_the_key_cycles_them)
{
	struct cli c;
	char err[200];
	static const struct {
		const char *name;
		enum workload wl;
	} loads[] = {
	    {"idle", WL_IDLE}, {"tx", WL_TX}, {"rx", WL_RX}, {"both", WL_BOTH}, {"ping", WL_PING}};
	enum workload wl = WL_IDLE;
	for (unsigned i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
		CHECKF(parse(&c, err, "--vms", "3", "--neighbours", loads[i].name) == 0 &&
			   c.neighbours == loads[i].wl,
		       "--neighbours %s: %s", loads[i].name, err);
		CHECK(wl == loads[i].wl);
		wl = neighbour_load_next(wl);
	}
	CHECK(wl == WL_IDLE); /* round again */
	CHECK(neighbour_load_next(WL_EXITS) == WL_IDLE);
}

TEST(cli_errors_are_one_sentence_naming_the_flag)
{
	struct cli c;
	char err[200];
	const char *bad[][4] = {
	    {"--bogus", NULL, NULL, NULL},
	    {"--rate", "fast", NULL, NULL},
	    {"--rate", "-1", NULL, NULL},
	    {"--interval", "10", NULL, NULL},
	    {"--duration", "0", NULL, NULL},
	    {"--duration", "x", NULL, NULL},
	    {"--format", "xml", NULL, NULL},
	    {"--workload", "exits:nope", NULL, NULL},
	    {"--workload", "fault", NULL, NULL},
	    {"--cpu", "fast", NULL, NULL},
	    {"--kind", "io", NULL, NULL},
	    {"stray", NULL, NULL, NULL},
	    {"--headless=yes", NULL, NULL, NULL},
	    {"--format", "csv", NULL, NULL},
	    {"--duration", NULL, NULL, NULL},
	    /* several VMs: a count out of range, a load they do not run, no card to share,
	     * neighbours without --vms */
	    {"--vms", "5", NULL, NULL},
	    {"--vms", "0", NULL, NULL},
	    {"--vms", "2", "--neighbours", "flood"},
	    {"--vms", "2", "--nic", "none"},
	    {"--neighbours", "tx", NULL, NULL},
	    {"--neighbour-rate", "10", NULL, NULL},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECKF(parse(&c, err, bad[i][0], bad[i][1], bad[i][2], bad[i][3]) == -1,
		       "accepted %s %s", bad[i][0], bad[i][1] ? bad[i][1] : "");
		CHECKF(err[0] && !strchr(err, '\n'), "message for %s: '%s'", bad[i][0], err);
	}
	parse(&c, err, "--rate", "fast", NULL, NULL);
	CHECK(strstr(err, "--rate") && strstr(err, "fast"));
}

/* The usage text is made from the option table: every option the parser takes is listed in it,
 * and each one listed parses (the help is never ahead of or behind the parser). */
TEST(cli_usage_lists_every_option_the_parser_takes)
{
	const char *names[64];
	unsigned n = cli_option_names(names, 64);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	REQUIRE(f);
	cli_print_usage(f);
	fclose(f);
	CHECK(n >= 20);
	for (unsigned i = 0; i < n; i++) {
		char needle[40];
		snprintf(needle, sizeof(needle), "  %s", names[i]);
		CHECKF(strstr(text, needle) || strstr(text, names[i]), "%s is not in the usage",
		       names[i]);
	}
	/* And the other way: each "  --name" at a line's start in the options list is a row. */
	for (const char *p = strstr(text, "\n  --"); p; p = strstr(p + 1, "\n  --")) {
		char name[32];
		sscanf(p + 3, "%31[a-z-]", name);
		bool found = false;
		for (unsigned i = 0; i < n; i++)
			found |= !strcmp(names[i], name);
		CHECKF(found, "the usage lists %s, which the parser does not take", name);
	}
	free(text);
}
