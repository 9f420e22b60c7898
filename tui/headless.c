/* Headless mode: one record per tick on stdout until the duration ends, the guest fails, or a
 * signal arrives. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tui/frontends.h"
#include "tui/output.h"
#include "tui/tour.h"
#include "vmm/clock.h"
#include "vmm/names.h"

#define EXIT_GUEST_FAILED 3
#define SLICE_S		  0.05 /* how often a waiting tick looks for a signal or a failed guest */

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

/* One record on stdout: 0; or the run must end: the reader went away (EPIPE: the status a
 * filter killed by SIGPIPE has, nothing said), or stdout failed otherwise (said, status 1). */
static int emit(const struct cli *cli, const struct snapshot *snap)
{
	errno = 0;
	if (cli->format == FMT_CSV)
		out_csv(stdout, snap);
	else
		out_jsonl(stdout, snap);
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	int e = errno ? errno : EIO;
	if (e == EPIPE)
		return 128 + SIGPIPE;
	fprintf(stderr, "vmscope: writing the records to stdout failed (%s); the run stops here\n",
		strerror(e));
	return 1;
}

int frontend_plan_step(const struct cli *cli, struct session *s, double elapsed, unsigned *done,
		       enum nic_mode *to, const char **why)
{
	/* A plan's switch waits for the guest's hot-plug driver: one asked for at 0.0001 s comes
	 * once the guest is up, not as a card it cannot see. */
	if (session_guest_booting(s))
		return 0;
	*to = cli_switch_due(cli, elapsed, session_nic_mode(s), done);
	return *to == NIC_MODE_NONE ? 0 : session_switch_nic(s, *to, why);
}

/* A switch the session refuses (one still under way, say) is said on stderr and the run goes
 * on; its outcome otherwise is an event in the records. */
static void planned_switch(const struct cli *cli, struct session *s, double elapsed, unsigned *done)
{
	const char *why;
	enum nic_mode to;
	if (frontend_plan_step(cli, s, elapsed, done, &to, &why))
		fprintf(stderr, "vmscope: no switch to %s at %.1f s: %s\n", nic_mode_name(to),
			elapsed, why);
}

static int headless_loop(const struct cli *cli, struct snap_source *src, struct snapshot *snap);

int run_headless(const struct cli *cli, struct snap_source *src)
{
	struct snapshot *snap = malloc(sizeof(*snap)); /* large: not on the stack */
	if (!snap) {
		fprintf(stderr, "vmscope: out of memory\n");
		return 1;
	}
	int rc = headless_loop(cli, src, snap);
	free(snap);
	return rc;
}

static int headless_loop(const struct cli *cli, struct snap_source *src, struct snapshot *snap)
{
	struct session *s = src->control;
	double interval = cli->interval_ms / 1000.0, start = mono_s();
	double end = cli->duration > 0 ? start + cli->duration : 0, next = start + interval;
	unsigned switches = 0;

	if (cli->format == FMT_CSV)
		out_csv_header(stdout);
	if (!s && !src->attached) {
		/* A recording: every snapshot it holds, as fast as the reader takes them. */
		int rc = 0;
		while (!vmscope_quit && !rc && source_tick(src, snap))
			rc = emit(cli, snap);
		return rc;
	}
	source_baseline(src, snap); /* rates start from here; not a record of its own */
	while (!vmscope_quit) {
		/* A tick ends at its interval, at the end of the run (a part-tick), or as soon as
		 * the guest fails: its failure is reported when it happens, whatever the interval.
		 */
		double due = end && end < next ? end : next;
		while (!(s && session_guest_failed(s)) && !vmscope_quit && mono_s() < due) {
			/* A switch due at the tick's end waits for the tick: the tick before it
			 * stays one card's figures (the compare table takes no tick a switch
			 * overlaps). */
			if (s)
				planned_switch(cli, s, mono_s() - start, &switches);
			source_poll(src);
			if (s && src->tour && !tour_poll(src->tour, s, mono_s()))
				end = due = mono_s(); /* the tour is over: this tick is the last */
			double left = due - mono_s();
			nap(left < SLICE_S ? left : SLICE_S);
		}
		if (vmscope_quit)
			break;
		source_tick(src, snap);
		int rc = emit(cli, snap);
		if (rc)
			return rc;
		if (snap->state == VMM_FAILED) {
			fprintf(stderr, "vmscope: the guest failed: %s\n", snap->reason);
			return EXIT_GUEST_FAILED;
		}
		if (src->over) /* said, and counted in the exit status (source_finish) */
			break;
		/* A tick a tenth of the interval long (the run's end just past a tick) would be a
		 * rate over next to nothing: the run ends at this one instead. */
		if (end && (due >= end || end - mono_s() < interval / 10))
			break;
		next += interval;
		if (next <= mono_s()) /* stopped and resumed, or starved: no burst of short ticks */
			next = mono_s() + interval;
	}
	if (source_last_tick(src, snap)) /* a switch that had not settled: its event */
		return emit(cli, snap);
	return 0;
}
