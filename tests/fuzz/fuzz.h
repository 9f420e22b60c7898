/* What the libFuzzer targets share: the input read as a stream of small decisions, and a guest
 * memory with guard pages on both sides (a stray access faults instead of going unseen). */
#ifndef VMSCOPE_FUZZ_H
#define VMSCOPE_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/guest_mem.h"

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fuzz_take(struct fuzz_in *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

#define FUZZ_MEM (256u << 10)

/* Guest memory, the same mapping for every run (cleared), with PROT_NONE pages around it. */
static inline struct guest_mem fuzz_mem(void)
{
	static uint8_t *ram;
	long pg = sysconf(_SC_PAGESIZE);
	if (!ram) {
		uint8_t *r = mmap(NULL, FUZZ_MEM + 2 * (size_t)pg, PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r == MAP_FAILED)
			__builtin_trap();
		ram = r + pg;
		if (mprotect(ram, FUZZ_MEM, PROT_READ | PROT_WRITE))
			__builtin_trap();
	}
	memset(ram, 0, FUZZ_MEM);
	return (struct guest_mem){ram, FUZZ_MEM, 0x1000};
}

/* Fills guest memory from the input: a few runs of bytes at chosen places (rings, buffers). */
static inline void fuzz_fill(struct fuzz_in *in, const struct guest_mem *m, unsigned runs)
{
	for (unsigned r = 0; r < runs && in->n; r++) {
		uint64_t at = fuzz_take(in, 3) % m->size;
		size_t len = (size_t)fuzz_take(in, 1);
		if (len > in->n)
			len = in->n;
		if (len > m->size - at)
			len = (size_t)(m->size - at);
		memcpy(m->base + at, in->p, len);
		in->p += len, in->n -= len;
	}
}

#endif
