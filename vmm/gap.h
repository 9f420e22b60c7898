/* The longest silence in a stream of frames around a window of time: the gaps between
 * consecutive frames that overlap [start, end]. How a NIC switch's blackout is measured, on the
 * capture's timestamps and on the VMM's, with the same code. One writer (the thread that sees
 * the frames) and one reader; fields are relaxed atomics. */
#ifndef VMSCOPE_GAP_H
#define VMSCOPE_GAP_H
#include <stdbool.h>
#include <stdint.h>

/* The window's end is known only once the switch ended, and the reader names it at its next
 * tick, some milliseconds later: the frames of that time are already counted. So the writer
 * keeps every new longest gap as a step (when it began, how long), and the answer is the
 * longest that began by the end. The steps grow strictly; GAP_STEPS holds more than the few a
 * window sees, and past it the oldest (shortest) steps give way. */
#define GAP_STEPS 32

struct gap_window {
	uint64_t last;	     /* the newest frame's time, armed or not */
	uint64_t start, end; /* the window; end 0: still open */
	uint64_t max;	     /* the answer, final once closed */
	bool armed, closed;  /* closed: a frame came after end, max is final */
	unsigned gen;	     /* windows armed so far */
	/* The writer's own: the longest gaps of window seen_gen so far, in the order they came. */
	unsigned seen_gen, steps;
	uint64_t step_at[GAP_STEPS], step_len[GAP_STEPS];
};

#define GAP_LOAD(x)	__atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define GAP_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* The reader opens a window at start (the writer's clock) ... */
static inline void gap_arm(struct gap_window *g, uint64_t start)
{
	GAP_STORE(g->armed, false);
	GAP_STORE(g->end, 0);
	GAP_STORE(g->max, 0);
	GAP_STORE(g->closed, false);
	GAP_STORE(g->start, start);
	GAP_STORE(g->gen, g->gen + 1); /* the writer starts its steps afresh */
	GAP_STORE(g->armed, true);
}

/* ... and names its end; max is final once a frame comes after it (closed). */
static inline void gap_end(struct gap_window *g, uint64_t end)
{
	GAP_STORE(g->end, end);
}

/* The writer, for every frame (timestamps in order). */
static inline void gap_frame(struct gap_window *g, uint64_t ts)
{
	uint64_t last = g->last;
	GAP_STORE(g->last, ts);
	if (!GAP_LOAD(g->armed) || GAP_LOAD(g->closed) || ts < GAP_LOAD(g->start) || !last)
		return;
	unsigned gen = GAP_LOAD(g->gen);
	if (g->seen_gen != gen)
		g->seen_gen = gen, g->steps = 0;
	unsigned n = g->steps;
	if (!n || ts - last > g->step_len[n - 1]) {
		if (n == GAP_STEPS) {
			for (unsigned i = 1; i < GAP_STEPS; i++)
				g->step_at[i - 1] = g->step_at[i],
					       g->step_len[i - 1] = g->step_len[i];
			n--;
		}
		g->step_at[n] = last;
		g->step_len[n] = ts - last;
		g->steps = n + 1;
	}
	uint64_t end = GAP_LOAD(g->end);
	if (!end || ts <= end)
		return;
	/* The first frame after the end: the answer is the longest gap that began by then. */
	uint64_t max = 0;
	for (unsigned i = g->steps; i-- > 0;)
		if (g->step_at[i] <= end) {
			max = g->step_len[i];
			break;
		}
	GAP_STORE(g->max, max);
	GAP_STORE(g->closed, true);
}

/* The result: true once closed; the gap then counts from the last frame before start. */
static inline bool gap_read(const struct gap_window *g, uint64_t *max)
{
	*max = GAP_LOAD(g->max);
	return GAP_LOAD(g->armed) && GAP_LOAD(g->closed);
}

#endif
