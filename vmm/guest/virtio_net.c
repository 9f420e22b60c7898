/* The guest's virtio-net driver (virtio v1.2: 3.1.1 init, 2.7 split rings, 4.1.4 PCI
 * capabilities, 4.1.5.1.2 MSI-X, 5.1 net). It polls while there is traffic; notifications go to the
 * notify region (an ioeventfd: no exit to the VMM) and only when the device's avail_event asks
 * for one (EVENT_IDX). To sleep, the guest arms the rx used_event and waits for the MSI-X
 * interrupt (an irqfd: no exit to the VMM either). */
#define VMSCOPE_GUEST
#include "nic.h"
#include "pci.h"
#include "vnet.h"

#define R8(a)  REG(u8, a)
#define R16(a) REG(u16, a)
#define R32(a) REG(u32, a)
#define R64(a) REG(u64, a)

enum { COMMON = 1, NOTIFY = 2, ISR = 3, DEVICE = 4 };
enum {
	DFSEL = 0x00,
	DF = 0x04,
	GFSEL = 0x08,
	GF = 0x0c,
	STATUS = 0x14,
	QSEL = 0x16,
	QSIZE = 0x18,
	QENABLE = 0x1c,
	QNOFF = 0x1e,
	QDESC = 0x20,
	QAVAIL = 0x28,
	QUSED = 0x30,
	MSIX_CONFIG = 0x10,
	QMSIX = 0x1a,
};
#define NO_VECTOR   0xffff
#define F_MAC	    5
#define F_EVENT_IDX 29
#define F_VERSION_1 32

static int setup_queue(struct vnet *v, struct vnet_queue *q, u16 index, u16 size, u64 base,
		       u32 notify_off, u32 mult, u64 bufs, int device_writes)
{
	R16(v->common + QSEL) = index;
	if (v->msix) { /* MSI-X entry 1 + queue; the device answers NO_VECTOR if it refuses */
		R16(v->common + QMSIX) = (u16)(1 + index);
		if (R16(v->common + QMSIX) != 1 + index)
			v->msix = 0;
	}
	if (R16(v->common + QSIZE) < size)
		return -1;
	R16(v->common + QSIZE) = size;
	q->size = size;
	q->desc = (volatile u8 *)base;
	q->avail = (volatile u8 *)(base + VNET_AVAIL_AT(size));
	q->used = (volatile u8 *)(base + VNET_USED_AT(size));
	q->bufs = (u8 *)bufs;
	q->idx = q->last_used = 0;
	for (u32 i = 0; i < VNET_RINGS(size); i++)
		q->desc[i] = 0;
	/* Descriptor i always points at buffer i. */
	for (u16 i = 0; i < q->size; i++) {
		volatile u8 *d = q->desc + 16 * i;
		*(volatile u64 *)d = bufs + (u64)i * VNET_BUF;
		*(volatile u32 *)(d + 8) = VNET_BUF;
		*(volatile u16 *)(d + 12) = device_writes ? 2 : 0; /* VRING_DESC_F_WRITE */
	}
	R64(v->common + QDESC) = base;
	R64(v->common + QAVAIL) = base + VNET_AVAIL_AT(size);
	R64(v->common + QUSED) = base + VNET_USED_AT(size);
	q->notify = (volatile u16 *)(v->bar + notify_off + (u64)R16(v->common + QNOFF) * mult);
	R16(v->common + QENABLE) = 1;
	/* We poll: used_event far ahead means "no interrupts, please" (2.7.7.2). */
	*(volatile u16 *)(q->avail + 4 + 2 * q->size) = (u16)(q->last_used - 1);
	return 0;
}

static void notify_if_wanted(struct vnet *v, struct vnet_queue *q, u16 old)
{
	mb(); /* publish avail idx before reading avail_event */
	u16 event = *(volatile u16 *)(q->used + 4 + 8 * q->size);
	if ((u16)(q->idx - event - 1) < (u16)(q->idx - old)) {
		*q->notify = (u16)(q == &v->rx ? 0 : 1);
		v->notifications++;
	}
}

int vnet_init(struct vnet *v, u32 bdf, u32 vec_base, u64 dma)
{
	u32 common = 0, notify = 0, isr = 0, dev = 0, mult = 0, found = 0;
	u64 f;

	v->bdf = bdf;
	v->bar = pci_bar(bdf, 0);
	pci_enable(bdf);
	u32 c = pci_find_cap(bdf, 0x09); /* vendor-specific: virtio's structures (4.1.4) */
	for (int n = 0; c && n < 48; n++, c = pci_next_cap(bdf, 0x09, c)) {
		if (pci_read8(bdf, c + 4) != 0)
			continue; /* not in BAR0 */
		u32 off = pci_read32(bdf, c + 8), type = pci_read8(bdf, c + 3);
		found |= type < 32 ? 1u << type : 0;
		switch (type) {
		case COMMON: common = off; break;
		case NOTIFY:
			notify = off;
			mult = pci_read32(bdf, c + 16);
			break;
		case ISR: isr = off; break;
		case DEVICE: dev = off; break;
		}
	}
	if (found != (1u << COMMON | 1u << NOTIFY | 1u << ISR | 1u << DEVICE))
		return -1;
	v->common = (volatile u8 *)(v->bar + common);
	v->isr = (volatile u8 *)(v->bar + isr);
	v->devcfg = (volatile u8 *)(v->bar + dev);

	R8(v->common + STATUS) = 0;	/* 1. reset */
	R8(v->common + STATUS) = 1;	/* 2. ACKNOWLEDGE */
	R8(v->common + STATUS) = 1 | 2; /* 3. DRIVER */
	R32(v->common + DFSEL) = 0;
	f = R32(v->common + DF);
	R32(v->common + DFSEL) = 1;
	f |= (u64)R32(v->common + DF) << 32;
	u64 want = 1ull << F_VERSION_1 | 1ull << F_MAC | 1ull << F_EVENT_IDX;
	if ((f & want) != want)
		return -2;
	R32(v->common + GFSEL) = 0; /* 4. our subset */
	R32(v->common + GF) = (u32)want;
	R32(v->common + GFSEL) = 1;
	R32(v->common + GF) = (u32)(want >> 32);
	R8(v->common + STATUS) = 1 | 2 | 8; /* 5. FEATURES_OK */
	if (!(R8(v->common + STATUS) & 8))  /* 6. accepted? */
		return -3;
	v->msix = vec_base ? pci_msix_setup(bdf, v->bar, 0, 3, vec_base) : 0;
	if (v->msix) {
		R16(v->common + MSIX_CONFIG) = 0;
		if (R16(v->common + MSIX_CONFIG) != 0)
			v->msix = 0;
	}
	/* dma: the layout in vnet.h. */
	if (setup_queue(v, &v->rx, 0, VNET_RXQ_SIZE, dma, notify, mult, dma + VNET_RX_BUFS_AT, 1) ||
	    setup_queue(v, &v->tx, 1, VNET_TXQ_SIZE, dma + VNET_TX_RINGS_AT, notify, mult,
			dma + VNET_TX_BUFS_AT, 0))
		return -4; /* 7. queues */
	for (u32 i = 0; i < 6; i++)
		v->mac[i] = R8(v->devcfg + i);
	R8(v->common + STATUS) = 1 | 2 | 8 | 4; /* 8. DRIVER_OK */
	if (R8(v->common + STATUS) & 0x40)
		return -5; /* NEEDS_RESET */
	/* Post every rx buffer. */
	for (u16 i = 0; i < v->rx.size; i++)
		*(volatile u16 *)(v->rx.avail + 4 + 2 * i) = i;
	wmb();
	v->rx.idx = v->rx.size;
	*(volatile u16 *)(v->rx.avail + 2) = v->rx.idx;
	notify_if_wanted(v, &v->rx, 0);
	return 0;
}

int vnet_rx_arm(struct vnet *v)
{
	struct vnet_queue *q = &v->rx;
	if (!v->msix)
		return 0;
	*(volatile u16 *)(q->avail + 4 + 2 * q->size) = q->last_used;
	mb(); /* publish used_event before looking at used idx (2.7.10) */
	return *(volatile u16 *)(q->used + 2) != q->last_used;
}

void vnet_rx_quiet(struct vnet *v)
{
	struct vnet_queue *q = &v->rx;
	*(volatile u16 *)(q->avail + 4 + 2 * q->size) = (u16)(q->last_used - 1);
}

void vnet_reap(struct vnet *v)
{
	struct vnet_queue *q = &v->tx;
	q->last_used = *(volatile u16 *)(q->used + 2);
	/* Keep the device quiet: we never wait for tx completions. */
	*(volatile u16 *)(q->avail + 4 + 2 * q->size) = (u16)(q->last_used - 1);
}

int vnet_tx_arm(struct vnet *v)
{
	struct vnet_queue *q = &v->tx;
	if (!v->msix)
		return 1;
	vnet_reap(v);
	u16 out = (u16)(q->idx - q->last_used);
	if (out < q->size)
		return 1;
	/* An interrupt once the device has taken half the ring (used_event, 2.7.10). */
	*(volatile u16 *)(q->avail + 4 + 2 * q->size) = (u16)(q->last_used + out / 2);
	mb();
	return (u16)(*(volatile u16 *)(q->used + 2) - q->last_used) > out / 2;
}

int vnet_send(struct vnet *v, const void *frame, u32 len)
{
	struct vnet_queue *q = &v->tx;
	if (len > VNET_BUF - VNET_HDR)
		return -1;
	if ((u16)(q->idx - q->last_used) >= q->size) {
		vnet_reap(v);
		if ((u16)(q->idx - q->last_used) >= q->size)
			return -1;
	}
	u16 slot = q->idx % q->size;
	u8 *buf = q->bufs + (u64)slot * VNET_BUF;
	for (u32 i = 0; i < VNET_HDR; i++)
		buf[i] = 0;
	__builtin_memcpy(buf + VNET_HDR, frame, len);
	*(volatile u32 *)(q->desc + 16 * slot + 8) = VNET_HDR + len;
	*(volatile u16 *)(q->avail + 4 + 2 * slot) = slot;
	wmb();
	u16 old = q->idx++;
	*(volatile u16 *)(q->avail + 2) = q->idx;
	notify_if_wanted(v, q, old);
	return 0;
}

#define VNET_RX_BUDGET 64

int vnet_poll(struct vnet *v, void (*fn)(const u8 *frame, u32 len))
{
	struct vnet_queue *q = &v->rx;
	int n = 0;
	u16 used = *(volatile u16 *)(q->used + 2);
	u16 old = q->idx;
	/* NAPI's budget (Linux's NAPI_POLL_WEIGHT): 64 frames a pass, whatever the used index
	 * says, so the main loop (and its heartbeat) runs between passes under any flood. A whole
	 * ring (1024) a pass took KVM's emulator past the 2 s hang bound under a flood. */
	while (q->last_used != used && n < VNET_RX_BUDGET) {
		volatile u8 *e = q->used + 4 + 8 * (q->last_used % q->size);
		u32 id = *(volatile u32 *)e, len = *(volatile u32 *)(e + 4);
		if (id < q->size && len > VNET_HDR && len <= VNET_BUF)
			fn(q->bufs + (u64)id * VNET_BUF + VNET_HDR, len - VNET_HDR);
		*(volatile u16 *)(q->avail + 4 + 2 * (q->idx % q->size)) = (u16)(id % q->size);
		q->idx++;
		q->last_used++;
		n++;
	}
	if (n) {
		wmb();
		*(volatile u16 *)(q->avail + 2) = q->idx;
		*(volatile u16 *)(q->avail + 4 + 2 * q->size) = (u16)(q->last_used - 1);
		notify_if_wanted(v, q, old);
	}
	return n;
}

/* ---- the driver table's entry ---- */

static int probe(struct gnic *n)
{
	int r = vnet_init(&n->u.v, n->bdf, n->want_irq ? VEC_NET : 0, n->dma);
	if (r)
		return r;
	__builtin_memcpy(n->mac, n->u.v.mac, 6);
	n->irq = n->u.v.msix;
	return 0;
}

static int send(struct gnic *n, const void *frame, u32 len)
{
	return vnet_send(&n->u.v, frame, len);
}
static int poll(struct gnic *n, void (*fn)(const u8 *, u32))
{
	return vnet_poll(&n->u.v, fn);
}
static int arm(struct gnic *n)
{
	return vnet_rx_arm(&n->u.v);
}
static void quiet(struct gnic *n)
{
	vnet_rx_quiet(&n->u.v);
	vnet_reap(&n->u.v); /* and the tx queue's used_event far ahead again */
}
static int arm_tx(struct gnic *n)
{
	return vnet_tx_arm(&n->u.v);
}

static int tx_done(struct gnic *n)
{
	struct vnet_queue *q = &n->u.v.tx;
	return *(volatile u16 *)(q->used + 2) == q->idx;
}

static void quiesce(struct gnic *n)
{
	vnet_reap(&n->u.v);
	*(volatile u8 *)(n->u.v.common + STATUS) = 0; /* reset: the device lets go of the rings */
}

const struct nic_driver nic_driver_virtio = {
    .name = "virtio-net",
    .vendor = 0x1af4,
    .device = 0x1041,
    .dma_size = VNET_DMA_SIZE,
    .irq_kind = "msi-x",
    .probe = probe,
    .send = send,
    .poll = poll,
    .arm_rx_irq = arm,
    .arm_tx_irq = arm_tx,
    .quiet = quiet,
    .tx_done = tx_done,
    .quiesce = quiesce,
    .remove = quiesce,
};
