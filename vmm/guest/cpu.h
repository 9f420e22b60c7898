/* The guest's few CPU helpers, shared by its files. */
#ifndef VMSCOPE_GUEST_CPU_H
#define VMSCOPE_GUEST_CPU_H
#include "../control.h"

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}
static inline void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((u64)hi << 32) | lo;
}

#endif
