/* The live dashboard: one loop owns the screen; it draws the panels (panels.c) and hands keys
 * to the bindings (keys.c). */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/dash.h"
#include "tui/tour.h"
#include "vmm/clock.h"
#include "vmm/names.h"

void dash_say(struct dash *d, const char *text)
{
	snprintf(d->msg, sizeof(d->msg), "%s", text);
	d->msg_until = mono_s() + 4;
}

void dash_draw(struct dash *d)
{
	erase();
	if (d->help) {
		keys_draw_help(d);
		refresh();
		return;
	}
	if (COLS < MIN_COLS || LINES < MIN_LINES) {
		char l1[64], l2[64];
		snprintf(l1, sizeof(l1), "vmscope needs %dx%d;", MIN_COLS, MIN_LINES);
		snprintf(l2, sizeof(l2), "this is %dx%d", COLS, LINES);
		mvaddnstr(0, 0, l1, COLS);
		if (LINES > 1)
			mvaddnstr(1, 0, l2, COLS);
		refresh();
		return;
	}
	panels_draw(d);
	keys_draw_footer(d);
	refresh();
}

static void clear_history(struct dash *d)
{
	memset(d->history, 0, sizeof(d->history));
	memset(d->hist_tx, 0, sizeof(d->hist_tx));
	memset(d->hist_rx, 0, sizeof(d->hist_rx));
	memset(d->hist_rtt, 0, sizeof(d->hist_rtt));
}

void dash_fold(struct dash *d)
{
	double total = 0;
	for (unsigned k = 0; k < EK_MAX; k++)
		total += d->snap.exits[k][d->snap.exits_src[k]].rate;
	double *series[] = {d->history, d->hist_tx, d->hist_rx, d->hist_rtt};
	double now[] = {total, d->snap.pps_tx.rate, d->snap.pps_rx.rate, d->snap.latency_us[0]};
	for (unsigned i = 0; i < 4; i++) {
		memmove(series[i], series[i] + 1, sizeof(d->history) - sizeof(d->history[0]));
		series[i][HISTORY - 1] = now[i];
	}
	memmove(d->hist_mark, d->hist_mark + 1, HISTORY - 1);
	d->hist_mark[HISTORY - 1] = 0;
	if (d->snap.events_dropped) {
		char said[96];
		snprintf(said, sizeof(said),
			 "%u older events of the last tick were not kept (%u a tick)",
			 d->snap.events_dropped, SNAP_EVENTS_MAX);
		dash_say(d, said);
	}
	for (unsigned i = 0; i < d->snap.nr_events; i++) {
		const struct snap_event *e = &d->snap.events[i];
		if (e->kind == SEV_GUEST_RESTARTED) { /* a new guest: its history starts here */
			clear_history(d);
			continue;
		}
		if (e->kind == SEV_LINK) /* the panel's title says it while it lasts */
			dash_say(d, e->why);
		if (e->kind != SEV_NIC_SWITCH)
			continue;
		d->hist_mark[HISTORY - 1] = e->ok ? nic_mode_initial(e->to) : 'x';
		memmove(d->recent + 1, d->recent, sizeof(d->recent[0]) * (RECENT - 1));
		d->recent[0] = *e;
		if (d->nr_recent < RECENT)
			d->nr_recent++;
	}
	for (unsigned i = 0; i < d->snap.nr_log; i++) {
		if (d->nr_log == LOG_KEEP)
			memmove(d->log, d->log + 1, sizeof(d->log[0]) * --d->nr_log);
		memcpy(d->log[d->nr_log++], d->snap.log[i], VLOG_LINE_MAX);
	}
}

void dash_seek(struct dash *d, long pos)
{
	long n = (long)replay_count(d->replay);
	pos = pos < 1 ? 1 : pos > n ? n : pos;
	clear_history(d);
	memset(d->hist_mark, 0, sizeof(d->hist_mark));
	d->nr_recent = d->nr_log = 0;
	for (long i = pos - HISTORY > 0 ? pos - HISTORY : 0; i < pos; i++)
		if (replay_peek(d->replay, (unsigned)i, &d->snap))
			dash_fold(d);
	replay_seek(d->replay, (unsigned)pos);
}

/* curses, as the dashboard uses it: raw keys every 50 ms, no cursor, its colours. */
static bool screen_init(void)
{
	setlocale(LC_ALL, "");
	if (!initscr())
		return false;
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	timeout(50);
	dash_colors();
	return true;
}

void dash_colors(void)
{
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(C_TITLE, COLOR_BLACK, COLOR_CYAN);
		init_pair(C_HEAD, COLOR_CYAN, -1);
		init_pair(C_GOOD, COLOR_GREEN, -1);
		init_pair(C_WARN, COLOR_YELLOW, -1);
		init_pair(C_BAD, COLOR_RED, -1);
		init_pair(C_DIM, COLOR_BLUE, -1);
	}
}

static int dashboard_loop(const struct cli *cli, struct snap_source *src, struct dash *d)
{
	double next, start = mono_s();
	unsigned planned = 0; /* steps of --switch-every / --switch-to taken */

	d->cli = cli;
	d->src = src;
	d->s = src->control;
	d->replay = src->replay;
	d->playing = true;
	d->speed = 1;
	if (!screen_init()) {
		fprintf(stderr, "vmscope: the terminal could not be initialised (check TERM)\n");
		return 1;
	}
	/* The tick: the run's interval live, the recording's (over the speed) in a replay. */
	double interval =
	    (d->replay ? replay_header(d->replay)->interval_ms : cli->interval_ms) / 1000.0;
	if (source_tick(src, &d->snap))
		dash_fold(d);
	if (d->s && session_cpu_note(d->s))
		dash_say(d, session_cpu_note(d->s));
	next = mono_s() + interval;
	dash_draw(d);
	while (!vmscope_quit) {
		int ch = getch();
		int ev = ch == ERR ? EV_NONE : keys_handle(d, ch);
		if (ev & EV_QUIT)
			break;
		if (cli->duration > 0 && d->snap.t >= cli->duration)
			break;
		/* After the tick that is due: a planned switch at a tick's end leaves that tick one
		 * card's figures (the compare table takes no tick a switch overlaps). */
		double step = d->replay ? interval / d->speed : interval;
		if (mono_s() >= next) {
			if (d->playing || d->s) {
				if (source_tick(src, &d->snap))
					dash_fold(d);
				else
					d->playing =
					    false; /* the recording's end: stay on its last tick */
				ev |= EV_REDRAW;
			}
			next += step;
			if (next < mono_s())
				next = mono_s() + step;
			if (src->over) /* the link was removed: said after the screen is gone */
				break;
		}
		if (d->s) {
			enum nic_mode to;
			const char *why;
			if (frontend_plan_step(cli, d->s, mono_s() - start, &planned, &to, &why)) {
				char text[200];
				snprintf(text, sizeof(text), "no planned switch to %s: %s",
					 nic_mode_name(to), why);
				dash_say(d, text);
				ev |= EV_REDRAW;
			}
		}
		source_poll(src);
		if (src->tour && d->s) { /* the tour moves on by itself when a step's time is up */
			int was = src->tour->cur;
			tour_poll(src->tour, d->s, mono_s());
			if (src->tour->cur != was) {
				tour_fill(src->tour, &d->snap);
				ev |= EV_REDRAW;
			}
		}
		if (ev & EV_REDRAW)
			dash_draw(d);
	}
	endwin();
	source_last_tick(src, &d->snap); /* the recording and /metrics get a switch's last event */
	return 0;
}

int run_dashboard(const struct cli *cli, struct snap_source *src)
{
	struct dash *d = calloc(1, sizeof(*d)); /* large (a snapshot, the log): not on the stack */
	if (!d) {
		fprintf(stderr, "vmscope: out of memory\n");
		return 1;
	}
	int rc = dashboard_loop(cli, src, d);
	free(d);
	return rc;
}
