/* What the libFuzzer targets share: the input read as a stream of small decisions, and a guest
 * memory with guard pages on both sides (a stray access faults instead of going unseen). */
#ifndef VMSCOPE_FUZZ_H
#define VMSCOPE_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/guarded.h"
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
	static uint8_t *cache;
	return guarded_mem(&cache, FUZZ_MEM, 0x1000);
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

/* A received frame of the input's choosing: a length, then that many bytes (zero-padded). */
static inline uint32_t fuzz_frame(struct fuzz_in *in, uint8_t *frame, uint32_t cap)
{
	uint32_t n = (uint32_t)fuzz_take(in, 2) % cap;
	memset(frame, 0, cap);
	if (n > in->n)
		n = (uint32_t)in->n;
	memcpy(frame, in->p, n);
	in->p += n, in->n -= n;
	return n;
}

#endif
