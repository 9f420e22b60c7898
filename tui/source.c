/* The snapshot source: one place where a tick is taken and handed on. */
#include "source.h"

#include <stdio.h>

#include "probes/attach.h"
#include "tui/metrics.h"
#include "tui/record.h"
#include "tui/tour.h"

bool source_tick(struct snap_source *src, struct snapshot *snap)
{
	if (src->control) {
		session_tick(src->control, snap);
	} else if (src->attached) {
		if (src->over)
			return false;
		attach_tick(src->attached, snap);
		if (attach_gone(src->attached)) {
			/* Said now in headless runs; after the dashboard, which holds the
			 * terminal, by its caller. */
			if (!src->deferred)
				fprintf(stderr, "vmscope: %s\n", attach_gone(src->attached));
			src->over = true;
		}
	} else if (!src->replay || !replay_next(src->replay, snap)) {
		return false;
	}
	if (src->tour)
		tour_fill(src->tour, snap);
	if (src->control) {
		char msg[400];
		while (session_outputs_news(src->control, false, msg, sizeof(msg)))
			source_lost(src, msg);
		/* The link going down or coming back is said; a link removed ends the run. */
		for (unsigned i = 0; i < snap->nr_events; i++) {
			const struct snap_event *e = &snap->events[i];
			if (e->kind != SEV_LINK)
				continue;
			if (e->to == LINK_GONE) {
				snprintf(msg, sizeof(msg), "%s; the run stops here", e->why);
				source_lost(src, msg);
				src->over = true;
			} else if (!src->deferred) {
				fprintf(stderr, "vmscope: %s\n", e->why);
			}
		}
	}
	if (src->rec && recorder_write(src->rec, snap) && !src->rec_failed) {
		src->rec_failed = true; /* the run goes on; the recording ends here */
		source_lost(src, recorder_error(src->rec) ? recorder_error(src->rec)
							  : "the recording could not be written");
	}
	if (src->metrics)
		metrics_publish(src->metrics, snap);
	return true;
}

void source_poll(struct snap_source *src)
{
	if (src->control)
		session_poll(src->control);
}

void source_baseline(struct snap_source *src, struct snapshot *snap)
{
	if (src->control)
		session_tick(src->control, snap);
	else if (src->attached)
		attach_tick(src->attached, snap);
}

bool source_last_tick(struct snap_source *src, struct snapshot *snap)
{
	return src->control && session_settle(src->control) && source_tick(src, snap);
}

void source_lost(struct snap_source *src, const char *sentence)
{
	if (!src->deferred)
		fprintf(stderr, "vmscope: %s\n", sentence);
	if (src->nr_lost < SOURCE_LOST_MAX)
		snprintf(src->lost[src->nr_lost], sizeof(src->lost[0]), "%s", sentence);
	src->nr_lost++;
}

int source_finish(struct snap_source *src)
{
	char msg[400];
	while (src->control && session_outputs_news(src->control, true, msg, sizeof(msg)))
		source_lost(src, msg);
	if (src->rec && recorder_close(src->rec, msg, sizeof(msg)) && !src->rec_failed)
		source_lost(src, msg);
	src->rec = NULL;
	if (src->deferred) {
		src->deferred = false;
		for (unsigned i = 0; i < src->nr_lost && i < SOURCE_LOST_MAX; i++)
			fprintf(stderr, "vmscope: %s\n", src->lost[i]);
	}
	return src->nr_lost ? -1 : 0;
}
