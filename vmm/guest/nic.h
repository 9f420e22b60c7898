/* The guest's network card drivers, one table entry each, chosen by what the PCI scan finds.
 * The workloads and the stack call nic_*() only, never a driver. */
#ifndef VMSCOPE_GUEST_NIC_H
#define VMSCOPE_GUEST_NIC_H
#include "../control.h"
#include "e1000.h"
#include "task.h"
#include "vnet.h"

#define VFG_RX 1024 /* deep: the engine fills it while the vCPU may be off its core for ms */
#define VFG_TX 256  /* a NIC's usual depth: a guest that fills it halts a quarter as often */
/* Its DMA area: the rx ring, the tx ring, then the buffers from a page boundary. */
#define VFG_BUFS_AT  ((16u * (VFG_RX + VFG_TX) + 0xfffu) & ~0xfffu)
#define VFG_DMA_SIZE (VFG_BUFS_AT + (VFG_RX + VFG_TX) * NIC_BUF)

/* The SR-IOV VF driver's state: rings, and the doorbell page its writes go to (memory). */
struct vfg {
	u32 pf_bdf;
	int assigned;		/* given to us as a function of its own (no PF here) */
	volatile u8 *db, *regs; /* BAR0 (doorbells), BAR2 (setup, MSI-X) */
	volatile u8 *rx_ring, *tx_ring;
	u8 *rx_bufs, *tx_bufs;
	u32 rx_next;  /* frames taken (free-running) */
	u32 tx_next;  /* descriptors posted */
	u32 tx_clean; /* descriptors the card completed that we reclaimed */
};

#define NIC_BUF 2048 /* every driver's buffers; frames up to 1514 bytes */

/* What every driver orders its ring writes and register accesses with (x86: stores are ordered
 * among themselves, so a compiler barrier; a store before a load needs mfence). */
static inline void wmb(void)
{
	__asm__ volatile("" ::: "memory");
}
static inline void mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}
/* A card's registers (REG: task.h). */
static inline u32 reg_rd32(volatile u8 *base, u32 off)
{
	return REG(u32, base + off);
}
static inline void reg_wr32(volatile u8 *base, u32 off, u32 v)
{
	REG(u32, base + off) = v;
}

struct gnic;

struct nic_driver {
	const char *name;
	u16 vendor, device;
	u64 dma_size;	      /* guest memory its rings and buffers need */
	const char *irq_kind; /* how it interrupts: "msi-x", "intx" */
	/* Brings the card up (reset, MAC, rings, interrupts if want_irq); 0 or a negative step. */
	int (*probe)(struct gnic *n);
	/* Queues one frame; 0, or -1 when the ring is full. */
	int (*send)(struct gnic *n, const void *frame, u32 len);
	/* Calls fn for each received frame and gives its buffer back; returns how many. */
	int (*poll)(struct gnic *n, void (*fn)(const u8 *frame, u32 len));
	/* Asks for an interrupt at the next received frame; 1 if one is already there (do not
	 * sleep). */
	int (*arm_rx_irq)(struct gnic *n);
	/* The tx ring is full: asks for an interrupt once the card has taken frames from it, as a
	 * driver stops its queue until the tx completion interrupt; 1 when there is room already
	 * (do not sleep). NULL: the card's sends complete at once (the e1000's TDT write). */
	int (*arm_tx_irq)(struct gnic *n);
	/* Back to polling: no rx or tx interrupts. */
	void (*quiet)(struct gnic *n);
	/* In the interrupt handler, before the EOI: acknowledge the card (may be NULL). */
	void (*irq)(struct gnic *n);
	/* Every frame sent is on the wire (the card completed every tx descriptor): 1, else 0. */
	int (*tx_done)(struct gnic *n);
	/* Stops the card taking new work and lets its rings drain. */
	void (*quiesce)(struct gnic *n);
	/* Lets go of the card (reset it): it may be unplugged after this. */
	void (*remove)(struct gnic *n);
};

struct gnic {
	const struct nic_driver *drv;
	u32 bdf;
	u32 slot_bdf; /* the function in the slot (a VF's is its PF) */
	u64 dma;      /* where its rings and buffers are */
	int want_irq; /* the VMM gave an irqchip: sleep on interrupts */
	int irq;      /* the card interrupts (MSI-X or INTx) */
	u8 mac[6];
	union {
		struct vnet v;
		struct e1000g e;
		struct vfg f;
	} u;
};

extern const struct nic_driver nic_driver_virtio, nic_driver_e1000, nic_driver_sriov_pf,
    nic_driver_sriov_vf;

/* Finds the first function on the buses that a driver of the table takes, binds it; 0, -1 no
 * card, or the driver's negative step (*drv says which). */
int nic_probe_first(struct gnic *n, int want_irq, const struct nic_driver **drv);
/* The same for the function at bdf only (a hot-added card). */
int nic_probe_at(struct gnic *n, u32 bdf, int want_irq, const struct nic_driver **drv);
/* Binds drv to the function at bdf (its own DMA area): a PF's driver hands over to its VF's. */
int nic_bind(struct gnic *n, const struct nic_driver *drv, u32 bdf);
static inline int nic_send(struct gnic *n, const void *f, u32 len)
{
	return n->drv->send(n, f, len);
}
static inline int nic_poll(struct gnic *n, void (*fn)(const u8 *, u32))
{
	return n->drv->poll(n, fn);
}
static inline int nic_arm_rx_irq(struct gnic *n)
{
	return n->irq ? n->drv->arm_rx_irq(n) : 0;
}
static inline void nic_quiet(struct gnic *n)
{
	if (n->irq)
		n->drv->quiet(n);
}

/* A card's driver came up (r 0) or did not: say so on the console, as a kernel log would. */
void nic_log(const struct gnic *n, const struct nic_driver *drv, int r);

#endif
