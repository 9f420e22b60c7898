/* The snapshot source: one place where a tick is taken and handed on. */
#include "source.h"

#include <stdio.h>

#include "tui/metrics.h"
#include "tui/record.h"
#include "tui/tour.h"

bool source_tick(struct snap_source *src, struct snapshot *snap)
{
	if (src->control)
		session_tick(src->control, snap);
	else if (!src->replay || !replay_next(src->replay, snap))
		return false;
	if (src->tour)
		tour_fill(src->tour, snap);
	if (src->rec && recorder_write(src->rec, snap) && !src->rec_failed) {
		src->rec_failed = true; /* the run goes on; the recording ends here */
		fprintf(stderr, "vmscope: %s\n",
			recorder_error(src->rec) ? recorder_error(src->rec)
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
}
