/* Clocks in nanoseconds, one way everywhere in the VMM: monotonic time, and a thread's CPU time. */
#ifndef VMSCOPE_CLOCK_H
#define VMSCOPE_CLOCK_H
#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* The clock's time in ns; 0 if it cannot be read. */
static inline uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;
	if (clock_gettime(clk, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}
/* The same in seconds, for the front ends' ticks and the session's timestamps. */
static inline double mono_s(void)
{
	return (double)mono_ns() / 1e9;
}

/* CPU time thread t has used so far (ns); 0 if it cannot be read. */
static inline uint64_t thread_cpu_ns(pthread_t t)
{
	clockid_t clk;
	return pthread_getcpuclockid(t, &clk) ? 0 : clock_ns(clk);
}

#endif
