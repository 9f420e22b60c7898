/* Split virtqueues (virtio 1.x, 2.7), device side: everything the driver controls is bounded. */
#ifndef VMSCOPE_VIRTIO_RING_H
#define VMSCOPE_VIRTIO_RING_H
#include <stdbool.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

#define VQ_MAX_SIZE 1024 /* we offer at most this; the spec allows 32768 */

#define VRING_DESC_F_NEXT	   1
#define VRING_DESC_F_WRITE	   2
#define VRING_DESC_F_INDIRECT	   4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY	   1

/* Faults of the driver, counted per queue; any one of them breaks the queue until reset. */
struct vq_errors {
	uint64_t bad_addr;     /* ring, descriptor or buffer outside guest memory */
	uint64_t bad_index;    /* head or next index >= queue size */
	uint64_t loop;	       /* a chain longer than the queue: a loop or garbage */
	uint64_t len_overflow; /* chain length above what a packet may be */
	uint64_t bad_order;    /* a device-readable descriptor after a writable one */
	uint64_t indirect;     /* INDIRECT, which we never negotiate */
	uint64_t avail_jump;   /* avail idx moved more than the queue size */
};

struct vq_seg {
	uint8_t *ptr; /* host address, valid for len bytes */
	uint32_t len;
	bool write; /* device-writable */
};

struct vq_chain {
	uint16_t head;
	uint16_t nr;
	uint32_t read_len, write_len;
	struct vq_seg seg[VQ_MAX_SIZE];
};

struct vq {
	/* Set by the transport from the driver's configuration. */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool ready;
	const struct guest_mem *mem;
	/* Device state. */
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used; /* used idx at the last vq_should_signal() */
	bool broken;
	uint32_t max_chain_bytes;
	struct vq_errors err;
};

/* Validates sizes and ring addresses; 0, or -EINVAL (counted as bad_addr) and the queue broken. */
int vq_start(struct vq *vq);
void vq_reset(struct vq *vq);
/* 1 and a chain, 0 when nothing is pending, -EIO when the driver broke the queue. */
int vq_pop(struct vq *vq, struct vq_chain *chain);
/* Returns a chain the device is done with; len = bytes written into it. */
void vq_push(struct vq *vq, uint16_t head, uint32_t len);
/* After pushes: does the driver want an interrupt? (EVENT_IDX or NO_INTERRUPT, 2.7.7) */
bool vq_should_signal(struct vq *vq);
/* Device-side notification suppression (2.7.10): ask for notifications again, or not. With
 * EVENT_IDX this sets avail_event; returns true if buffers arrived meanwhile (re-check before
 * sleeping). */
bool vq_enable_notify(struct vq *vq, bool enable);
uint64_t vq_error_total(const struct vq_errors *e);
/* The spec's vring_need_event(). */
static inline bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

#endif
