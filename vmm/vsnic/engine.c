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
	CNT_ADD(vf->card->st.ring_errors, 1);
	CNT_ADD(vf->ring_errors, 1);
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
static void complete(struct vsnic *c, uint64_t at, uint16_t len, uint16_t flags)
{
	uint16_t v[2] = {len, flags};
	gpa_write(&c->mem, at + 8, v, sizeof(v)); /* inside the ring checked at setup */
}

/* After completions: the guest asked to be woken (IRQ_ARM), so clear it and send the vector.
 * The fence pairs with the guest's: it stores IRQ_ARM then reads DONE; we store DONE then read
 * IRQ_ARM, so one of the two sees the other. */
static void maybe_interrupt(struct vsnic_vf *vf)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(DB32(vf, VSNIC_DB_IRQ_ARM), __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(DB32(vf, VSNIC_DB_IRQ_ARM), 0, __ATOMIC_RELEASE);
	if (pci_msix_notify(&vf->msix, 0))
		CNT_ADD(vf->card->st.interrupts, 1);
}

static unsigned vf_tx(struct vsnic *c, struct vsnic_vf *vf)
{
	struct vsnic_ring *r = &vf->tx;
	uint32_t n = posted(vf, r, VSNIC_DB_TX_TAIL), done = 0;
	for (; done < n; done++) {
		if (!c->be->ops->tx_room(c->be)) {
			if (!vf->tx_stalled)
				CNT_ADD(c->st.tx_backpressure, 1);
			vf->tx_stalled = true;
			break;
		}
		vf->tx_stalled = false;
		struct desc d;
		uint64_t at = desc_at(r, r->head);
		gpa_read(&c->mem, at, &d, sizeof(d)); /* once: the guest may rewrite it meanwhile */
		void *p =
		    d.len >= 14 && d.len <= NET_FRAME_MAX ? gpa_ptr(&c->mem, d.addr, d.len) : NULL;
		uint16_t flags = VSNIC_DESC_DONE;
		if (!p) {
			ring_error(vf, &c->est.desc_bad);
			CNT_ADD(c->st.tx_malformed, 1);
			flags |= VSNIC_DESC_ERR;
		} else if (net_port_send(c->be, c, &(struct iovec){p, d.len}, 1) == 0) {
			CNT_ADD(c->st.tx_packets, 1);
			CNT_ADD(c->st.tx_bytes, d.len);
			CNT_ADD(vf->tx_packets, 1);
		} else {
			CNT_ADD(c->st.tx_dropped, 1);
			flags |= VSNIC_DESC_ERR;
		}
		complete(c, at, d.len, flags);
		r->head++;
	}
	if (!done)
		return 0;
	__atomic_store_n(DB32(vf, VSNIC_DB_TX_HEAD), r->head, __ATOMIC_RELEASE);
	maybe_interrupt(vf);
	return done;
}

unsigned vsnic_engine(void *opaque)
{
	struct vsnic *c = opaque;
	unsigned work = 0;
	pthread_mutex_lock(&c->lock);
	CNT_ADD(c->est.engine_turns, 1);
	for (unsigned i = 0; i < VSNIC_TOTAL_VFS; i++)
		if (c->vf[i].ready) {
			/* Awake: drivers need not ring WAKE. */
			if (__atomic_load_n(DB32(&c->vf[i], VSNIC_DB_ENGINE_IDLE),
					    __ATOMIC_RELAXED))
				__atomic_store_n(DB32(&c->vf[i], VSNIC_DB_ENGINE_IDLE), 0,
						 __ATOMIC_RELEASE);
			work += vf_tx(c, &c->vf[i]);
		}
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
	for (unsigned i = 0; i < VSNIC_TOTAL_VFS && asleep; i++)
		if (c->vf[i].ready)
			__atomic_store_n(DB32(&c->vf[i], VSNIC_DB_ENGINE_IDLE), 1,
					 __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < VSNIC_TOTAL_VFS && asleep; i++)
		if (c->vf[i].ready && posted(&c->vf[i], &c->vf[i].tx, VSNIC_DB_TX_TAIL))
			asleep = false;
	if (asleep)
		CNT_ADD(c->est.engine_sleeps, 1);
	else /* work came: awake after all, and drivers need not ring */
		for (unsigned i = 0; i < VSNIC_TOTAL_VFS; i++)
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

/* The WAKE ioeventfd follows BAR2 wherever the PF's VF BAR puts it. */
void vsnic_vf_bar_moved(struct pci_dev *d, unsigned bar, uint64_t addr)
{
	struct vsnic_vf *vf = d->opaque;
	struct vsnic *c = vf->card;
	if (bar != VSNIC_VF_BAR2 || !c->accel || c->wake_fd < 0)
		return;
	if (vf->wake_gpa)
		accel_ioeventfd(c->accel, IO_MMIO, vf->wake_gpa, 4, c->wake_fd, false);
	vf->wake_gpa = 0;
	if (addr && !accel_ioeventfd(c->accel, IO_MMIO, addr + VSNIC_VF_WAKE, 4, c->wake_fd, true))
		vf->wake_gpa = addr + VSNIC_VF_WAKE;
}

/* One frame into a VF's rx ring: 1 delivered, 0 dropped (counted). */
static int vf_rx(struct vsnic *c, struct vsnic_vf *vf, const uint8_t *frame, uint32_t len)
{
	struct vsnic_ring *r = &vf->rx;
	if (!posted(vf, r, VSNIC_DB_RX_TAIL)) {
		CNT_ADD(c->st.rx_no_buffer, 1);
		CNT_ADD(vf->rx_no_buffer, 1);
		return 0;
	}
	struct desc d;
	uint64_t at = desc_at(r, r->head);
	gpa_read(&c->mem, at, &d, sizeof(d));
	int ok = 0;
	if (d.len < len) {
		CNT_ADD(c->est.rx_too_small, 1);
		complete(c, at, 0, VSNIC_DESC_DONE | VSNIC_DESC_ERR);
	} else if (!gpa_write(&c->mem, d.addr, frame, len)) {
		ring_error(vf, &c->est.desc_bad);
		complete(c, at, 0, VSNIC_DESC_DONE | VSNIC_DESC_ERR);
	} else {
		complete(c, at, (uint16_t)len, VSNIC_DESC_DONE);
		CNT_ADD(c->st.rx_packets, 1);
		CNT_ADD(c->st.rx_bytes, len);
		CNT_ADD(vf->rx_packets, 1);
		ok = 1;
	}
	r->head++;
	__atomic_store_n(DB32(vf, VSNIC_DB_RX_HEAD), r->head, __ATOMIC_RELEASE);
	maybe_interrupt(vf);
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
	for (unsigned i = 0; i < VSNIC_TOTAL_VFS; i++) {
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
