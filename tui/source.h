/* The seam every front end draws from: a snapshot source is a live session (which can also be
 * driven) or a recording (which cannot). Front ends take a source and never reach past it;
 * whatever is attached to it (the recorder, the metrics endpoint) sees every snapshot. */
#ifndef VMSCOPE_SOURCE_H
#define VMSCOPE_SOURCE_H
#include <stdbool.h>

#include "probes/session.h"
#include "probes/snapshot.h"

struct attach;
struct recorder;
struct replay;
struct metrics;
struct tour_run;

#define SOURCE_LOST_MAX 4

struct snap_source {
	struct session *control; /* the live session to drive, or NULL */
	struct replay *replay;	 /* the recording, or NULL */
	struct attach *attached; /* another process's VM (vmscope attach PID), or NULL */
	struct recorder *rec;	 /* --record: every snapshot is appended there */
	struct metrics *metrics; /* --listen: every snapshot is published there */
	struct tour_run *tour;	 /* vmscope demo: the step on screen goes into every snapshot */
	bool rec_failed;	 /* the recorder said why once already */
	bool over; /* the live session cannot go on (its link was removed), or the attached VM
		    * exited: the run ends */
	/* Outputs the user asked for that stopped (the recording, --pcap, --log): said on stderr
	 * (after the dashboard, which holds the terminal, when deferred) and in the exit status. */
	bool deferred;
	unsigned nr_lost;
	char lost[SOURCE_LOST_MAX][400];
};

/* The next snapshot into snap, handed to what is attached; false at a recording's end. */
bool source_tick(struct snap_source *src, struct snapshot *snap);
/* A live session's first tick, taken but not handed on: the baseline its rates start from. */
void source_baseline(struct snap_source *src, struct snapshot *snap);
/* Between ticks (every 50-100 ms): the live session follows a switch. */
void source_poll(struct snap_source *src);
/* The run is ending: a live session's events still waiting (a switch that had not settled)
 * go out in one last tick, to whatever is attached. True: snap is that tick. */
bool source_last_tick(struct snap_source *src, struct snapshot *snap);
/* An output stopped: the sentence is said (or kept until the dashboard is gone) and counts. */
void source_lost(struct snap_source *src, const char *sentence);
/* After the front end: every output's last writes checked (the session's, then the
 * recording's, which is closed here); what was deferred is said now. 0, or -1: one was lost. */
int source_finish(struct snap_source *src);

#endif
