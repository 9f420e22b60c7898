/* Bounded access to guest memory for device models (DMA). Everything a guest hands a device
 * (ring bases, descriptor addresses, lengths, indices) is guest-controlled and may change under
 * the device's feet: every NIC model reads it through these helpers, which check address+length
 * against guest memory once, refuse wrap-around, and copy a value out once (no double fetch). */
#ifndef VMSCOPE_GUEST_MEM_H
#define VMSCOPE_GUEST_MEM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct guest_mem {
	uint8_t *base;
	uint64_t size;
	uint64_t dma_floor; /* devices never touch [0, dma_floor): the VMM's own pages (page tables,
			     * descriptor tables, the VIF and control pages) */
};

/* A host pointer to [gpa, gpa+len) if it lies wholly inside guest memory that devices may use
 * (no wrap), else NULL. */
static inline void *gpa_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa > m->size || len > m->size - gpa || gpa < m->dma_floor)
		return NULL;
	return m->base + gpa;
}

/* A ring of count elements of elem bytes at gpa: inside guest memory, no overflow. */
static inline void *gpa_ring(const struct guest_mem *m, uint64_t gpa, uint64_t count, uint64_t elem)
{
	if (elem && count > UINT64_MAX / elem)
		return NULL;
	return gpa_ptr(m, gpa, count * elem);
}

/* Copies len bytes out of guest memory once (a descriptor, a header): the device then works
 * on its own copy, whatever the guest writes meanwhile. false: outside guest memory. */
static inline bool gpa_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = gpa_ptr(m, gpa, len);
	if (!p)
		return false;
	memcpy(dst, p, len);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return true;
}

/* Copies into guest memory (a completion, a received frame); false: outside guest memory. */
static inline bool gpa_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gpa_ptr(m, gpa, len);
	if (!p)
		return false;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(p, src, len);
	return true;
}

#endif
