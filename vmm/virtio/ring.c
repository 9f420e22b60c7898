/* Split virtqueues, device side (virtio 1.x, 2.7). The driver owns these rings and may write
 * anything into them at any time: every index, address and length is checked before use, and
 * each value is read once (no double fetch). */
#include "ring.h"

#include <errno.h>
#include <string.h>

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Ring layouts (2.7.6, 2.7.8): flags, idx, ring[size], then the event word. */
static uint64_t avail_bytes(uint16_t n)
{
	return 4 + 2ull * n + 2;
}
static uint64_t used_bytes(uint16_t n)
{
	return 4 + 8ull * n + 2;
}

static inline uint16_t ld16(const volatile void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}
static inline void st16(volatile void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
}

static int vq_fail(struct vq *vq, uint64_t *counter)
{
	(*counter)++;
	vq->broken = true;
	return -EIO;
}

uint64_t vq_error_total(const struct vq_errors *e)
{
	return e->bad_addr + e->bad_index + e->loop + e->len_overflow + e->bad_order + e->indirect +
	       e->avail_jump;
}

void vq_reset(struct vq *vq)
{
	struct vq_errors err = vq->err; /* errors are cumulative across resets */
	const struct guest_mem *mem = vq->mem;
	uint32_t max = vq->max_chain_bytes;
	memset(vq, 0, sizeof(*vq));
	vq->err = err;
	vq->mem = mem;
	vq->max_chain_bytes = max;
}

int vq_start(struct vq *vq)
{
	uint16_t n = vq->size;
	if (!n || n > VQ_MAX_SIZE || (n & (n - 1)) || !vq->mem) {
		vq_fail(vq, &vq->err.bad_index);
		return -EINVAL;
	}
	/* 2.7: descriptor table 16-byte aligned, avail 2, used 4. */
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3) ||
	    !gpa_ring(vq->mem, vq->desc_gpa, n, sizeof(struct vring_desc)) ||
	    !gpa_ptr(vq->mem, vq->avail_gpa, avail_bytes(n)) ||
	    !gpa_ptr(vq->mem, vq->used_gpa, used_bytes(n))) {
		vq_fail(vq, &vq->err.bad_addr);
		return -EINVAL;
	}
	if (!vq->max_chain_bytes)
		vq->max_chain_bytes = 65562; /* a 64 KiB GSO packet plus the virtio-net header */
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->broken = false;
	vq->ready = true;
	return 0;
}

static uint8_t *avail_ring(struct vq *vq)
{
	return vq->mem->base + vq->avail_gpa;
}
static uint8_t *used_ring(struct vq *vq)
{
	return vq->mem->base + vq->used_gpa;
}

int vq_pop(struct vq *vq, struct vq_chain *chain)
{
	if (!vq->ready || vq->broken)
		return vq->broken ? -EIO : 0;
	uint16_t avail_idx = ld16(avail_ring(vq) + 2);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
	if (!pending)
		return 0;
	if (pending > vq->size)
		return vq_fail(vq, &vq->err.avail_jump);

	uint16_t head = ld16(avail_ring(vq) + 4 + 2 * (vq->last_avail & (vq->size - 1)));
	if (head >= vq->size)
		return vq_fail(vq, &vq->err.bad_index);

	uint16_t idx = head;
	uint64_t total = 0;
	bool seen_write = false;

	chain->head = head;
	chain->nr = 0;
	chain->read_len = chain->write_len = 0;
	for (;;) {
		struct vring_desc d;
		/* One fetch per descriptor; the table was bounded at vq_start(). */
		if (!gpa_read(vq->mem, vq->desc_gpa + sizeof(d) * idx, &d, sizeof(d)))
			return vq_fail(vq, &vq->err.bad_addr);
		if (chain->nr == vq->size)
			return vq_fail(vq, &vq->err.loop);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return vq_fail(vq, &vq->err.indirect);
		uint8_t *p = gpa_ptr(vq->mem, d.addr, d.len);
		if (!p)
			return vq_fail(vq, &vq->err.bad_addr);
		total += d.len;
		if (total > vq->max_chain_bytes)
			return vq_fail(vq, &vq->err.len_overflow);
		bool write = d.flags & VRING_DESC_F_WRITE;
		/* 2.7.4.2: device-readable descriptors come before device-writable ones. */
		if (!write && seen_write)
			return vq_fail(vq, &vq->err.bad_order);
		seen_write |= write;
		chain->seg[chain->nr++] = (struct vq_seg){p, d.len, write};
		if (write)
			chain->write_len += d.len;
		else
			chain->read_len += d.len;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->size)
			return vq_fail(vq, &vq->err.bad_index);
		idx = d.next;
	}
	vq->last_avail++;
	return 1;
}

void vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
	if (!vq->ready || vq->broken)
		return;
	uint8_t *elem = used_ring(vq) + 4 + 8 * (vq->used_idx & (vq->size - 1));
	uint32_t id = head;
	memcpy(elem, &id, 4);
	memcpy(elem + 4, &len, 4);
	vq->used_idx++;
	st16(used_ring(vq) + 2, vq->used_idx); /* release: the element before the index */
}

bool vq_should_signal(struct vq *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* used idx store before the event read */
	uint16_t old = vq->signalled_used, now = vq->used_idx;
	/* 2.7.7.2: "old" is the used idx at the previous check, interrupt or not (as vhost does).
	 */
	vq->signalled_used = now;
	if (vq->event_idx)
		return vring_need_event(ld16(avail_ring(vq) + 4 + 2ull * vq->size), now, old);
	return !(ld16(avail_ring(vq)) & VRING_AVAIL_F_NO_INTERRUPT) && now != old;
}

bool vq_enable_notify(struct vq *vq, bool enable)
{
	if (!vq->ready || vq->broken)
		return false;
	if (vq->event_idx) {
		/* avail_event: notify me when avail idx passes what I have consumed. */
		if (enable)
			st16(used_ring(vq) + 4 + 8ull * vq->size, vq->last_avail);
	} else {
		st16(used_ring(vq), enable ? 0 : VRING_USED_F_NO_NOTIFY);
	}
	if (!enable)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* publish before re-reading avail idx */
	return ld16(avail_ring(vq) + 2) != vq->last_avail;
}
