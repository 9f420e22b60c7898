/* Counters written by one VMM thread and read by others: relaxed atomics, one way everywhere. */
#ifndef VMSCOPE_COUNTERS_H
#define VMSCOPE_COUNTERS_H
#include <stddef.h>
#include <stdint.h>

#define CNT_ADD(c, n) __atomic_fetch_add(&(c), (n), __ATOMIC_RELAXED)

/* Copies a struct made only of uint64_t counters, each load atomic (no torn values). */
static inline void counters_copy(void *dst, const void *src, size_t bytes)
{
	const uint64_t *s = src;
	uint64_t *d = dst;
	for (size_t i = 0; i < bytes / sizeof(uint64_t); i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

#endif
