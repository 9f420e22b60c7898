/* The guest's drivers for the vmscope SR-IOV NIC (vmm/vsnic/regs.h): the PF's, which turns on
 * one VF the way Linux's sriov_enable() does (NumVFs, then VF Enable and VF MSE, the VF at the
 * routing ID the capability gives) and hands over; and the VF's, whose data path is memory only:
 * descriptors, and tails written to the doorbell page, which is RAM in the guest's address space
 * (no exit). Only ring setup and the MSI-X table trap. */
#define VMSCOPE_GUEST
#include "nic.h"
#include "pci.h"
#include "../vsnic/regs.h"

#define EXT_CAP_SRIOV	0x0010
#define SRIOV_CTRL	0x08
#define SRIOV_TOTAL_VF	0x0e
#define SRIOV_NUM_VF	0x10
#define SRIOV_VF_OFFSET 0x14
#define SRIOV_VF_STRIDE 0x16
#define SRIOV_VF_DID	0x1a
#define SRIOV_BAR	0x24
#define SRIOV_VFE	0x01
#define SRIOV_MSE	0x08

/* ---- the PF ---- */

static int pf_probe(struct gnic *n)
{
	u32 pf = n->bdf, cap = pci_find_ext_cap(pf, EXT_CAP_SRIOV);
	pci_enable(pf);
	if (!cap || reg_rd32((volatile u8 *)pci_bar(pf, 0), VSNIC_PF_ID) != VSNIC_PF_ID_VALUE)
		return -1;
	if (pci_read16(pf, cap + SRIOV_TOTAL_VF) < 1 ||
	    pci_read16(pf, cap + SRIOV_VF_DID) != VSNIC_VF_DEVICE)
		return -2;
	pci_write16(pf, cap + SRIOV_CTRL, 0);
	pci_write16(pf, cap + SRIOV_NUM_VF, 1);
	pci_write16(pf, cap + SRIOV_CTRL, SRIOV_VFE | SRIOV_MSE);
	/* VF 1 (the first) at the PF's routing ID + First VF Offset. */
	u32 vf = pf + pci_read16(pf, cap + SRIOV_VF_OFFSET);
	if (pci_read32(vf, 0) != 0xffffffff || !(pci_read16(vf, 0x06) & 0x10))
		return -3; /* a VF reads all ones for its IDs but has capabilities */
	u64 db = pci_read32(pf, cap + SRIOV_BAR + 0) & ~0xfu;
	u64 regs = pci_read32(pf, cap + SRIOV_BAR + 4 * VSNIC_VF_BAR2) & ~0xfu;
	if (!db || !regs)
		return -4;
	pci_write16(vf, 0x04, 0x4); /* bus mastering: the VF's own; memory decoding is VF MSE */
	n->u.f.pf_bdf = pf;
	n->u.f.db = (volatile u8 *)db;
	n->u.f.regs = (volatile u8 *)regs;
	int r = nic_bind(n, &nic_driver_sriov_vf, vf);
	return r ? r - 10 : 0;
}

/* ---- the VF ---- */

/* The doorbell page is memory (a KVM memory slot): its accesses never exit, so unlike the
 * registers (REG, task.h) they are no yield point, and cost the data path nothing extra. */
static inline u32 db_rd32(const struct vfg *f, u32 off)
{
	return *(volatile u32 *)(f->db + off);
}
static inline void db_wr32(struct vfg *f, u32 off, u32 v)
{
	*(volatile u32 *)(f->db + off) = v;
}

/* IRQ_ARM: the vector at the card's next completions, rx or tx. The store comes before the
 * caller's look at the ring (the mb pairs with the card's fence). */
static void irq_arm(struct vfg *f)
{
	db_wr32(f, VSNIC_DB_IRQ_ARM, 1);
	mb();
}

static volatile u8 *desc(volatile u8 *ring, u32 size, u32 i)
{
	return ring + 16 * (i & (size - 1));
}

static int vf_probe(struct gnic *n)
{
	struct vfg *f = &n->u.f;
	/* A VF given to this VM (the host owns the card and its PF, as with VFIO) is a function
	 * of its own: its IDs read, its BARs are its own. One the PF turned on reads all ones. */
	f->assigned = pci_read16(n->bdf, 0) == VSNIC_VENDOR;
	if (f->assigned) {
		pci_enable(n->bdf);
		f->pf_bdf = 0;
		f->db = (volatile u8 *)pci_bar(n->bdf, 0);
		f->regs = (volatile u8 *)pci_bar(n->bdf, VSNIC_VF_BAR2);
		if (!f->db || !f->regs)
			return -4;
	}
	reg_wr32(f->regs, VSNIC_VF_CTRL, 0);
	u32 lo = reg_rd32(f->regs, VSNIC_VF_MAC_LO), hi = reg_rd32(f->regs, VSNIC_VF_MAC_HI);
	for (int i = 0; i < 4; i++)
		n->mac[i] = (u8)(lo >> (8 * i));
	n->mac[4] = (u8)hi;
	n->mac[5] = (u8)(hi >> 8);
	if (!(reg_rd32(f->regs, VSNIC_VF_STATUS) & VSNIC_STATUS_LINK_UP))
		return -5;
	/* dma: rx ring, tx ring, VFG_RX rx buffers, VFG_TX tx buffers (nic.h). */
	f->rx_ring = (volatile u8 *)n->dma;
	f->tx_ring = (volatile u8 *)(n->dma + 16 * VFG_RX);
	f->rx_bufs = (u8 *)(n->dma + VFG_BUFS_AT);
	f->tx_bufs = f->rx_bufs + VFG_RX * NIC_BUF;
	for (u32 i = 0; i < VFG_RX; i++) {
		volatile u8 *d = desc(f->rx_ring, VFG_RX, i);
		*(volatile u64 *)d = (u64)f->rx_bufs + (u64)i * NIC_BUF;
		*(volatile u64 *)(d + 8) = NIC_BUF; /* length: the buffer's size; flags 0 */
	}
	for (u32 i = 0; i < VFG_TX; i++) {
		volatile u8 *d = desc(f->tx_ring, VFG_TX, i);
		*(volatile u64 *)d = (u64)f->tx_bufs + (u64)i * NIC_BUF;
		*(volatile u64 *)(d + 8) = 0;
	}
	f->rx_next = f->tx_next = f->tx_clean = 0;
	reg_wr32(f->regs, VSNIC_VF_TX_BASE_LO, (u32)(u64)f->tx_ring);
	reg_wr32(f->regs, VSNIC_VF_TX_BASE_HI, 0);
	reg_wr32(f->regs, VSNIC_VF_TX_SIZE, VFG_TX);
	reg_wr32(f->regs, VSNIC_VF_RX_BASE_LO, (u32)(u64)f->rx_ring);
	reg_wr32(f->regs, VSNIC_VF_RX_BASE_HI, 0);
	reg_wr32(f->regs, VSNIC_VF_RX_SIZE, VFG_RX);
	reg_wr32(f->regs, VSNIC_VF_CTRL, VSNIC_CTRL_ENABLE);
	if (!(reg_rd32(f->regs, VSNIC_VF_STATUS) & VSNIC_STATUS_READY))
		return -6;
	wmb();
	db_wr32(f, VSNIC_DB_RX_TAIL, VFG_RX); /* every buffer posted: a memory write, no exit */
	if (n->want_irq)
		n->irq = pci_msix_setup(n->bdf, (u64)f->regs, VSNIC_VF_BAR2, 1, VEC_NET + 1);
	return 0;
}

static int vf_send(struct gnic *n, const void *frame, u32 len)
{
	struct vfg *f = &n->u.f;
	if (len > NIC_BUF)
		return -1;
	f->tx_clean = db_rd32(f, VSNIC_DB_TX_HEAD); /* what the card completed */
	if (f->tx_next - f->tx_clean >= VFG_TX)
		return -1; /* ring full */
	volatile u8 *d = desc(f->tx_ring, VFG_TX, f->tx_next);
	__builtin_memcpy(f->tx_bufs + (u64)(f->tx_next & (VFG_TX - 1)) * NIC_BUF, frame, len);
	*(volatile u16 *)(d + 8) = (u16)len;
	*(volatile u16 *)(d + 10) = 0;
	wmb();
	f->tx_next++;
	db_wr32(f, VSNIC_DB_TX_TAIL, f->tx_next); /* the doorbell: memory the card polls */
	mb(); /* the tail before the look at ENGINE_IDLE: pairs with the card's fence */
	if (db_rd32(f, VSNIC_DB_ENGINE_IDLE))
		reg_wr32(f->regs, VSNIC_VF_WAKE, 1); /* the card's engine sleeps: wake it */
	return 0;
}

static int vf_poll(struct gnic *n, void (*fn)(const u8 *, u32))
{
	struct vfg *f = &n->u.f;
	int got = 0;
	for (; got < VFG_RX; got++) {
		volatile u8 *d = desc(f->rx_ring, VFG_RX, f->rx_next);
		u16 flags = *(volatile u16 *)(d + 10);
		if (!(flags & VSNIC_DESC_DONE))
			break;
		u32 len = *(volatile u16 *)(d + 8);
		if (!(flags & VSNIC_DESC_ERR) && len >= 14 && len <= NIC_BUF)
			fn(f->rx_bufs + (u64)(f->rx_next & (VFG_RX - 1)) * NIC_BUF, len);
		*(volatile u16 *)(d + 8) = NIC_BUF;
		*(volatile u16 *)(d + 10) = 0;
		f->rx_next++;
	}
	if (got) {
		wmb();
		db_wr32(f, VSNIC_DB_RX_TAIL, f->rx_next + VFG_RX); /* buffers back: no exit */
	}
	return got;
}

static int vf_arm(struct gnic *n)
{
	struct vfg *f = &n->u.f;
	irq_arm(f);
	return (*(volatile u16 *)(desc(f->rx_ring, VFG_RX, f->rx_next) + 10) & VSNIC_DESC_DONE) !=
	       0;
}

/* Woken once the card has taken half the ring (TX_IRQ_AT), as virtio's used_event: woken at
 * the card's first completion, the guest refilled a few descriptors and halted again, thousands
 * of times a second under a flood, and on kvm_pvm each wake-up costs its thread hundreds of us.
 * 1: half the ring is free already. */
static int vf_arm_tx(struct gnic *n)
{
	struct vfg *f = &n->u.f;
	db_wr32(f, VSNIC_DB_TX_IRQ_AT, f->tx_next - VFG_TX / 2);
	irq_arm(f);
	return f->tx_next - db_rd32(f, VSNIC_DB_TX_HEAD) <= VFG_TX / 2;
}

static void vf_quiet(struct gnic *n)
{
	db_wr32(&n->u.f, VSNIC_DB_IRQ_ARM, 0);
}

static int vf_tx_done(struct gnic *n)
{
	return db_rd32(&n->u.f, VSNIC_DB_TX_HEAD) == n->u.f.tx_next;
}

static void vf_quiesce(struct gnic *n)
{
	db_wr32(&n->u.f, VSNIC_DB_IRQ_ARM, 0);
	reg_wr32(n->u.f.regs, VSNIC_VF_CTRL, 0);
}

static void vf_remove(struct gnic *n)
{
	vf_quiesce(n);
	if (n->u.f.assigned)
		return; /* the host's to turn off: the VMM unplugs it */
	u32 pf = n->u.f.pf_bdf, cap = pci_find_ext_cap(pf, EXT_CAP_SRIOV);
	if (cap)
		pci_write16(pf, cap + SRIOV_CTRL, 0); /* VF Enable off: the VF goes away */
}

const struct nic_driver nic_driver_sriov_pf = {
    .name = "vsnic-pf",
    .vendor = VSNIC_VENDOR,
    .device = VSNIC_PF_DEVICE,
    .dma_size = 0,
    .irq_kind = "msi-x",
    .probe = pf_probe,
};

const struct nic_driver nic_driver_sriov_vf = {
    .name = "vsnic-vf",
    .vendor = VSNIC_VENDOR,
    .device = VSNIC_VF_DEVICE,
    .dma_size = VFG_DMA_SIZE,
    .irq_kind = "msi-x",
    .probe = vf_probe,
    .send = vf_send,
    .poll = vf_poll,
    .arm_rx_irq = vf_arm,
    .arm_tx_irq = vf_arm_tx,
    .quiet = vf_quiet,
    .tx_done = vf_tx_done,
    .quiesce = vf_quiesce,
    .remove = vf_remove,
};
