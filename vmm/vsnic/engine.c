/* The vsnic's engine, the card's silicon: it polls the VFs' doorbell pages, moves frames between
 * their rings and the link, writes completions and raises the VFs' interrupts. Every ring
 * index, descriptor and buffer is the guest's: checked, counted when wrong, never trusted. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/counters.h"
#include "vmm/kvm/kvm.h"
#include "vmm/net/net.h"
#include "vmm/vsnic/vsnic.h"

#define DB32(vf, off) ((volatile uint32_t *)((vf)->db + (off)))

static void ring_error(struct vsnic_vf *vf, uint64_t *what)
{
	CNT_ADD(*what, 1);
	CNT_ADD(vf->st.ring_errors, 1);
}

/* How many descriptors the guest has posted past the card's head, or 0 when none or when the
 * tail is out of range (more than a ring ahead: counted once per bad value, then ignored). */
static uint32_t posted(struct vsnic_vf *vf, struct vsnic_ring *r, unsigned tail_off)
{
	uint32_t tail = __atomic_load_n(DB32(vf, tail_off), __ATOMIC_ACQUIRE);
	uint32_t n = tail - r->head;
	if (n <= r->size) {
		r->bad_seen = false;
		return n;
	}
	if (!r->bad_seen || r->bad_tail != tail)
		ring_error(vf, &vf->card->est.doorbell_bad);
	r->bad_seen = true;
	r->bad_tail = tail;
	return 0;
}

struct desc {
	uint64_t addr;
	uint16_t len, flags;
	uint32_t rsvd;
};

static uint64_t desc_at(const struct vsnic_ring *r, uint32_t i)
{
	return r->base + (uint64_t)(i & (r->size - 1)) * VSNIC_DESC_SIZE;
}

/* Writes back a descriptor's length and flags (the guest polls flags). */
static void complete(struct vsnic_vf *vf, uint64_t at, uint16_t len, uint16_t flags)
{
	uint16_t v[2] = {len, flags};
	gpa_write(&vf->mem, at + 8, v, sizeof(v)); /* inside the ring checked at setup */
}

/* After completions: the guest asked to be woken (IRQ_ARM), so clear it and send the vector;
 * after tx completions only once the head reached TX_IRQ_AT. The fence pairs with the guest's:
 * it stores TX_IRQ_AT and IRQ_ARM then reads the head or DONE; we store those then read IRQ_ARM,
 * so one of the two sees the other. */
static void maybe_interrupt(struct vsnic_vf *vf, bool tx)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(DB32(vf, VSNIC_DB_IRQ_ARM), __ATOMIC_ACQUIRE))
		return;
	if (tx && (int32_t)(vf->tx.head -
			    __atomic_load_n(DB32(vf, VSNIC_DB_TX_IRQ_AT), __ATOMIC_ACQUIRE)) < 0)
		return; /* the driver asked to be woken further on */
	__atomic_store_n(DB32(vf, VSNIC_DB_IRQ_ARM), 0, __ATOMIC_RELEASE);
	if (pci_msix_notify(&vf->msix, 0))
		CNT_ADD(vf->st.interrupts, 1);
}

static int vf_rx(struct vsnic *c, struct vsnic_vf *vf, const uint8_t *frame, uint32_t len);

/* The card's embedded switch (VEB): the ready VF whose MAC a frame is for, or NULL. */
static struct vsnic_vf *veb_lookup(struct vsnic *c, const uint8_t *dst)
{
	for (unsigned i = 0; i < VSNIC_VFS_MAX; i++)
		if (c->vf[i].ready && !memcmp(dst, c->vf_mac[i], 6))
			return &c->vf[i];
	return NULL;
}

/* A frame a VF sent: to another VF of this card inside it (never on the link), or out to the
 * link; a broadcast to both. 0, or -1 when the link refused it. */
static int veb_send(struct vsnic *c, struct vsnic_vf *from, uint8_t *frame, uint32_t len)
{
	if (!(frame[0] & 1)) {
		struct vsnic_vf *to = veb_lookup(c, frame);
		if (to && to != from) {
			vf_rx(c, to, frame, len);
			CNT_ADD(c->est.veb_frames, 1);
			return 0;
		}
	} else {
		for (unsigned i = 0; i < VSNIC_VFS_MAX; i++)
			if (c->vf[i].ready && &c->vf[i] != from)
				vf_rx(c, &c->vf[i], frame, len);
	}
	return net_port_send(c->be, c, &(struct iovec){frame, len}, 1) ? -1 : 0;
}

/* One of a VF's posted descriptors to its destination, if it has one and the link has room.
 * The completion is written; the head the guest reads waits for vf_tx_done. */
static bool vf_tx_one(struct vsnic *c, struct vsnic_vf *vf)
{
	struct vsnic_ring *r = &vf->tx;
	if (!posted(vf, r, VSNIC_DB_TX_TAIL))
		return false;
	if (!c->be->ops->tx_room(c->be)) {
		if (!vf->tx_stalled)
			CNT_ADD(vf->st.tx_backpressure, 1);
		vf->tx_stalled = true;
		return false;
	}
	vf->tx_stalled = false;
	struct desc d;
	uint64_t at = desc_at(r, r->head);
	gpa_read(&vf->mem, at, &d, sizeof(d)); /* once: the guest may rewrite it meanwhile */
	uint8_t *p =
	    d.len >= 14 && d.len <= NET_FRAME_MAX ? gpa_ptr(&vf->mem, d.addr, d.len) : NULL;
	uint16_t flags = VSNIC_DESC_DONE;
	if (!p) {
		ring_error(vf, &c->est.desc_bad);
		CNT_ADD(vf->st.tx_malformed, 1);
		flags |= VSNIC_DESC_ERR;
	} else if (veb_send(c, vf, p, d.len) == 0) {
		CNT_ADD(vf->st.tx_packets, 1);
		CNT_ADD(vf->st.tx_bytes, d.len);
	} else {
		CNT_ADD(vf->st.tx_dropped, 1);
		flags |= VSNIC_DESC_ERR;
	}
	complete(vf, at, d.len, flags);
	r->head++;
	return true;
}

/* The turn's completions to the guest: the head it reads, and its interrupt if it asked. */
static void vf_tx_done(struct vsnic_vf *vf)
{
	__atomic_store_n(DB32(vf, VSNIC_DB_TX_HEAD), vf->tx.head, __ATOMIC_RELEASE);
	maybe_interrupt(vf, true);
}

/* A turn of the engine's arbiter: a frame from each VF with one posted, in turn, round after
 * round, until no VF has one or the turn's budget is spent, as a NIC's scheduler picks the next
 * frame for the wire from its queues one at a time: a frame a VF posts behind another VF's
 * burst waits for one frame of each other VF at most, not for the burst. Each turn starts one
 * VF further on. */
unsigned vsnic_engine(void *opaque)
{
	struct vsnic *c = opaque;
	unsigned work = 0;
	bool sent[VSNIC_VFS_MAX] = {false};
	pthread_mutex_lock(&c->lock);
	CNT_ADD(c->est.engine_turns, 1);
	for (unsigned k = 0; k < VSNIC_VFS_MAX; k++) {
		struct vsnic_vf *vf = &c->vf[k];
		/* Awake: drivers need not ring WAKE. */
		if (vf->ready && __atomic_load_n(DB32(vf, VSNIC_DB_ENGINE_IDLE), __ATOMIC_RELAXED))
			__atomic_store_n(DB32(vf, VSNIC_DB_ENGINE_IDLE), 0, __ATOMIC_RELEASE);
	}
	for (bool more = true; more && work < VSNIC_TX_TURN;) {
		more = false;
		for (unsigned k = 0; k < VSNIC_VFS_MAX && work < VSNIC_TX_TURN; k++) {
			unsigned i = (c->tx_first + k) % VSNIC_VFS_MAX;
			if (c->vf[i].ready && vf_tx_one(c, &c->vf[i])) {
				sent[i] = more = true;
				work++;
			}
		}
	}
	for (unsigned i = 0; i < VSNIC_VFS_MAX; i++)
		if (sent[i])
			vf_tx_done(&c->vf[i]);
	c->tx_first = (c->tx_first + 1) % VSNIC_VFS_MAX;
	pthread_mutex_unlock(&c->lock);
	return work;
}

/* ENGINE_IDLE first, then a last look at the tails: a driver stores its tail, then reads
 * ENGINE_IDLE, so either it sees the flag and rings WAKE, or this sees its tail. */
bool vsnic_idle(void *opaque)
{
	struct vsnic *c = opaque;
	bool asleep = c->watching; /* no watch on the WAKE eventfd: nothing could wake it */
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < VSNIC_VFS_MAX && asleep; i++)
		if (c->vf[i].ready)
			__atomic_store_n(DB32(&c->vf[i], VSNIC_DB_ENGINE_IDLE), 1,
					 __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < VSNIC_VFS_MAX && asleep; i++)
		if (c->vf[i].ready && posted(&c->vf[i], &c->vf[i].tx, VSNIC_DB_TX_TAIL))
			asleep = false;
	if (asleep)
		CNT_ADD(c->est.engine_sleeps, 1);
	else /* work came: awake after all, and drivers need not ring */
		for (unsigned i = 0; i < VSNIC_VFS_MAX; i++)
			if (c->vf[i].ready)
				__atomic_store_n(DB32(&c->vf[i], VSNIC_DB_ENGINE_IDLE), 0,
						 __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->lock);
	return asleep;
}

void vsnic_on_wake(void *opaque, uint64_t count)
{
	struct vsnic *c = opaque;
	CNT_ADD(c->est.engine_wakes, count);
}

void vsnic_on_vf_wake(void *opaque, uint64_t count)
{
	struct vsnic_vf *vf = opaque;
	CNT_ADD(vf->wakes, count);
	vsnic_on_wake(vf->card, count);
}

/* The WAKE ioeventfd follows BAR2 wherever the PF's VF BAR puts it. */
void vsnic_vf_bar_moved(struct pci_dev *d, unsigned bar, uint64_t addr)
{
	struct vsnic_vf *vf = d->opaque;
	int fd = vf->wake_fd >= 0 ? vf->wake_fd : vf->card->wake_fd;
	if (bar != VSNIC_VF_BAR2 || !vf->accel || fd < 0)
		return;
	if (vf->wake_gpa)
		accel_ioeventfd(vf->accel, IO_MMIO, vf->wake_gpa, 4, fd, false);
	vf->wake_gpa = 0;
	if (addr && !accel_ioeventfd(vf->accel, IO_MMIO, addr + VSNIC_VF_WAKE, 4, fd, true))
		vf->wake_gpa = addr + VSNIC_VF_WAKE;
}

/* One frame into a VF's rx ring: 1 delivered, 0 dropped (counted). */
static int vf_rx(struct vsnic *c, struct vsnic_vf *vf, const uint8_t *frame, uint32_t len)
{
	struct vsnic_ring *r = &vf->rx;
	if (!posted(vf, r, VSNIC_DB_RX_TAIL)) {
		CNT_ADD(vf->st.rx_no_buffer, 1);
		return 0;
	}
	struct desc d;
	uint64_t at = desc_at(r, r->head);
	gpa_read(&vf->mem, at, &d, sizeof(d));
	int ok = 0;
	if (d.len < len) {
		CNT_ADD(c->est.rx_too_small, 1);
		complete(vf, at, 0, VSNIC_DESC_DONE | VSNIC_DESC_ERR);
	} else if (!gpa_write(&vf->mem, d.addr, frame, len)) {
		ring_error(vf, &c->est.desc_bad);
		complete(vf, at, 0, VSNIC_DESC_DONE | VSNIC_DESC_ERR);
	} else {
		complete(vf, at, (uint16_t)len, VSNIC_DESC_DONE);
		CNT_ADD(vf->st.rx_packets, 1);
		CNT_ADD(vf->st.rx_bytes, len);
		ok = 1;
	}
	r->head++;
	__atomic_store_n(DB32(vf, VSNIC_DB_RX_HEAD), r->head, __ATOMIC_RELEASE);
	maybe_interrupt(vf, false);
	return ok;
}

void vsnic_rx(void *opaque, const uint8_t *frame, uint32_t len)
{
	struct vsnic *c = opaque;
	bool group = len >= 6 && (frame[0] & 1), taken = false;
	if (len < 14 || len > NET_FRAME_MAX)
		return;
	pthread_mutex_lock(&c->lock);
	/* The card's switch: broadcast and multicast to every ready VF, unicast to its owner. */
	for (unsigned i = 0; i < VSNIC_VFS_MAX; i++) {
		struct vsnic_vf *vf = &c->vf[i];
		if (!vf->ready || (!group && memcmp(frame, c->vf_mac[i], 6)))
			continue;
		vf_rx(c, vf, frame, len);
		taken = true;
	}
	if (!taken)
		CNT_ADD(c->st.rx_filtered, 1);
	pthread_mutex_unlock(&c->lock);
}
