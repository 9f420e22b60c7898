/* Inside the dashboard: struct dash and the calls between its files. dashboard.c owns the
 * screen and the loop, panels.c draws the panels, keys.c holds the key bindings, cast.c draws
 * a replay into an asciicast file, panel_sources.c the SOURCES panel. These are the only files
 * that touch curses. */
#ifndef VMSCOPE_TUI_DASH_H
#define VMSCOPE_TUI_DASH_H
#define _XOPEN_SOURCE_EXTENDED
#include <curses.h>
#include <stdbool.h>

#include "tui/frontends.h"
#include "tui/record.h"

enum { C_TITLE = 1, C_HEAD, C_GOOD, C_WARN, C_BAD, C_DIM };
enum { EV_NONE = 0, EV_REDRAW = 1, EV_QUIT = 2 };

#define MIN_COLS  80
#define MIN_LINES 24
#define HISTORY	  64

#define LOG_KEEP 48
struct dash {
	const struct cli *cli;
	struct snap_source *src;
	struct session *s;     /* the live session's control, or NULL (a replay) */
	struct replay *replay; /* the recording, or NULL */
	struct snapshot snap;
	char log[LOG_KEEP][VLOG_LINE_MAX]; /* the newest log lines the snapshots carried */
	unsigned nr_log;
	bool playing;		 /* replay: the recording moves on by itself */
	double speed;		 /* replay: 1/4 .. 16 */
	double history[HISTORY]; /* total exits/s, newest last */
	double hist_tx[HISTORY], hist_rx[HISTORY], hist_rtt[HISTORY]; /* network, newest last */
	char hist_mark[HISTORY]; /* a switch ended in that tick: the new card's initial, else 0 */
#define RECENT 3
	unsigned nr_recent;
	struct snap_event recent[RECENT]; /* the last switches, newest first */
	char msg[200];
	double msg_until;
	bool help;	/* the help screen is up */
	int help_top;	/* its first line on screen (it scrolls on a small terminal) */
	int help_lines; /* how many it has, as last drawn */
};

/* dashboard.c */
void dash_say(struct dash *d, const char *text);
/* The whole screen from d: the help, or the panels and the footer. */
void dash_draw(struct dash *d);
/* The dashboard's colours on the current screen (the terminal's, or --cast's). */
void dash_colors(void);
/* What the snapshot carries beyond its figures: the history lines, the last switches, the log. */
void dash_fold(struct dash *d);
/* Replay: to tick pos of the recording, with the history of the ticks before it. */
void dash_seek(struct dash *d, long pos);

/* panels.c: every panel that is wanted and fits, top to bottom, above the keys' line. */
void panels_draw(struct dash *d);
/* panel_sources.c: the SOURCES panel, from line y; the next free line. */
int panel_sources(struct dash *d, int y, int rows);
/* A titled line of a panel: the text, or the busiest entries of a named list (rates). */
void panel_line(int y, const char *title, const char *text);
void panel_line_top(int y, const char *title, const struct named_figure *arr, unsigned nr);
/* panel_attached.c: an attached VM's panels (vmscope attach PID, or its recording). */
int panel_attached_header(struct dash *d, int y, int rows);
int panel_vcpus(struct dash *d, int y, int rows);
int panel_latency(struct dash *d, int y, int rows);
int panel_devices(struct dash *d, int y, int rows);

/* keys.c */
/* A key: EV_* flags. */
int keys_handle(struct dash *d, int ch);
/* The last line: the keys of this mode (live, tour or replay), or a message. */
void keys_draw_footer(struct dash *d);
/* The help screen: the keys of this mode from the same table, then what the panels mean. */
void keys_draw_help(struct dash *d);

#endif
