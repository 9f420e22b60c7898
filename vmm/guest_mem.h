/* Bounded access to guest memory for device models (DMA): every guest-supplied address and length
 * is checked here, once, for all NIC models. */
#ifndef VMSCOPE_GUEST_MEM_H
#define VMSCOPE_GUEST_MEM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem {
	uint8_t *base;
	uint64_t size;
};

/* A host pointer to [gpa, gpa+len) if it lies wholly inside guest memory (no wrap), else NULL. */
static inline void *gpa_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa > m->size || len > m->size - gpa)
		return NULL;
	return m->base + gpa;
}

#endif
