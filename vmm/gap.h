/* The longest silence in a stream of frames around a window of time: the gaps between
 * consecutive frames that overlap [start, end]. How a NIC switch's blackout is measured, on the
 * capture's timestamps and on the VMM's, with the same code. One writer (the thread that sees
 * the frames) and one reader; fields are relaxed atomics. */
#ifndef VMSCOPE_GAP_H
#define VMSCOPE_GAP_H
#include <stdbool.h>
#include <stdint.h>

struct gap_window {
	uint64_t last;       /* the newest frame's time, armed or not */
	uint64_t start, end; /* the window; end 0: still open */
	uint64_t max;        /* the longest gap overlapping it so far */
	bool armed, closed;  /* closed: a frame came after end, max is final */
};

#define GAP_LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define GAP_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* The reader opens a window at start (the writer's clock) ... */
static inline void gap_arm(struct gap_window *g, uint64_t start)
{
	GAP_STORE(g->armed, false);
	GAP_STORE(g->end, 0);
	GAP_STORE(g->max, 0);
	GAP_STORE(g->closed, false);
	GAP_STORE(g->start, start);
	GAP_STORE(g->armed, true);
}

/* ... and names its end; max is final once a frame comes after it (closed). */
static inline void gap_end(struct gap_window *g, uint64_t end) { GAP_STORE(g->end, end); }

/* The writer, for every frame (timestamps in order). */
static inline void gap_frame(struct gap_window *g, uint64_t ts)
{
	uint64_t last = g->last;
	GAP_STORE(g->last, ts);
	if (!GAP_LOAD(g->armed) || GAP_LOAD(g->closed) || ts < GAP_LOAD(g->start))
		return;
	if (last && ts - last > GAP_LOAD(g->max))
		GAP_STORE(g->max, ts - last);
	uint64_t end = GAP_LOAD(g->end);
	if (end && ts > end)
		GAP_STORE(g->closed, true);
}

/* The result: true once closed; the gap then counts from the last frame before start. */
static inline bool gap_read(const struct gap_window *g, uint64_t *max)
{
	*max = GAP_LOAD(g->max);
	return GAP_LOAD(g->armed) && GAP_LOAD(g->closed);
}

#endif
