/* Guest memory for device tests and fuzz targets: PROT_NONE pages on both sides, so a stray
 * access by a device model faults instead of going unseen. */
#ifndef VMSCOPE_TESTS_GUARDED_H
#define VMSCOPE_TESTS_GUARDED_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/guest_mem.h"

/* size bytes between two guard pages, mapped at the first call through *cache and reused after;
 * NULL if the mapping failed. */
static inline uint8_t *guarded_ram(uint8_t **cache, size_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	if (!*cache) {
		uint8_t *r = mmap(NULL, size + 2 * (size_t)pg, PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r == MAP_FAILED || mprotect(r + pg, size, PROT_READ | PROT_WRITE))
			return NULL;
		*cache = r + pg;
	}
	return *cache;
}

/* The same as guest memory: cleared, devices may DMA from floor up. */
static inline struct guest_mem guarded_mem(uint8_t **cache, size_t size, uint64_t floor)
{
	uint8_t *ram = guarded_ram(cache, size);
	if (!ram)
		__builtin_trap();
	memset(ram, 0, size);
	return (struct guest_mem){ram, size, floor};
}

#endif
