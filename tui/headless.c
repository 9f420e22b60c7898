/* Headless mode: one record per tick on stdout until the duration ends or a signal arrives. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tui/frontends.h"
#include "tui/output.h"

#define EXIT_GUEST_FAILED 3

static void add_ms(struct timespec *t, unsigned ms)
{
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	t->tv_sec += ms / 1000 + t->tv_nsec / 1000000000L;
	t->tv_nsec %= 1000000000L;
}

int run_headless(const struct cli *cli, struct session *s)
{
	static struct snapshot snap;
	struct timespec next;
	unsigned ticks = 0, max_ticks = 0;

	if (cli->duration > 0) {
		max_ticks = (unsigned)(cli->duration * 1000.0 / cli->interval_ms + 0.5);
		if (!max_ticks)
			max_ticks = 1;
	}
	if (cli->format == FMT_CSV)
		out_csv_header(stdout);
	clock_gettime(CLOCK_MONOTONIC, &next);
	session_tick(s, &snap); /* baseline: rates start from here */
	while (!vmscope_quit && (!max_ticks || ticks < max_ticks)) {
		add_ms(&next, cli->interval_ms);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			if (vmscope_quit)
				break;
		if (vmscope_quit)
			break;
		session_tick(s, &snap);
		ticks++;
		if (cli->format == FMT_CSV)
			out_csv(stdout, &snap);
		else
			out_jsonl(stdout, &snap);
		if (fflush(stdout) == EOF && errno == EPIPE)
			return 0;
		if (!strcmp(snap.state, "failed")) {
			fprintf(stderr, "vmscope: the guest failed: %s\n", snap.reason);
			return EXIT_GUEST_FAILED;
		}
	}
	return 0;
}
