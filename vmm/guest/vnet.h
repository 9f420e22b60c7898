/* The guest's virtio-net driver (polling, with an rx interrupt to sleep on): init per
 * virtio 1.x 3.1.1, one rx and one tx queue. */
#ifndef VMSCOPE_GUEST_VNET_H
#define VMSCOPE_GUEST_VNET_H
#include "../control.h"

#define VNET_RXQ_SIZE 1024 /* deep, like a real NIC: the vCPU may be off its core for ms */
#define VNET_TXQ_SIZE 256  /* as virtio-net's default: see VFG_TX (nic.h) */
#define VNET_BUF      2048
#define VNET_HDR      12
/* A queue's rings (2.7): descriptors, the driver area after them, the device area from the
 * next page; then its DMA area: the rx rings, the tx rings, the rx buffers, the tx buffers. */
#define VNET_AVAIL_AT(n) (16u * (n))
#define VNET_USED_AT(n)	 ((16u * (n) + 6u + 2u * (n) + 0xfffu) & ~0xfffu)
#define VNET_RINGS(n)	 ((VNET_USED_AT(n) + 6u + 8u * (n) + 0xfffu) & ~0xfffu)
#define VNET_TX_RINGS_AT VNET_RINGS(VNET_RXQ_SIZE)
#define VNET_RX_BUFS_AT	 (VNET_TX_RINGS_AT + VNET_RINGS(VNET_TXQ_SIZE))
#define VNET_TX_BUFS_AT	 (VNET_RX_BUFS_AT + VNET_RXQ_SIZE * VNET_BUF)
#define VNET_DMA_SIZE	 (VNET_TX_BUFS_AT + VNET_TXQ_SIZE * VNET_BUF)

struct vnet_queue {
	u16 size, idx; /* our avail idx (next to publish) */
	u16 last_used; /* next used element to look at */
	volatile u8 *desc, *avail, *used;
	volatile u16 *notify; /* where a notification is written */
	u8 *bufs;
};

struct vnet {
	u32 bdf;
	u64 bar;
	volatile u8 *common, *isr, *devcfg;
	u8 mac[6];
	struct vnet_queue rx, tx;
	u64 notifications;
	int msix; /* MSI-X vectors programmed: the rx interrupt can be armed */
};

/* Initialises the virtio-net function at bdf with its rings and buffers at dma; 0, or a
 * negative step number. With vec_base, MSI-X entries 0 (config), 1 (rx), 2 (tx) send vectors
 * vec_base + entry to the LAPIC. */
int vnet_init(struct vnet *v, u32 bdf, u32 vec_base, u64 dma);
/* Queues one frame; 0, or -1 when the ring is full. Kicks only when the device wants it. */
int vnet_send(struct vnet *v, const void *frame, u32 len);
/* Calls fn for each received frame, re-posting its buffer; returns how many. */
int vnet_poll(struct vnet *v, void (*fn)(const u8 *frame, u32 len));
/* Asks for an rx interrupt at the next used buffer (EVENT_IDX used_event); returns 1 if one
 * is already there, so the caller must not sleep. */
int vnet_rx_arm(struct vnet *v);
/* Back to polling: no rx interrupts. */
void vnet_rx_quiet(struct vnet *v);
/* Reclaims sent buffers. */
void vnet_reap(struct vnet *v);
/* The tx ring is full: asks for an interrupt once the device has taken half of it; 1 when
 * there is room already (do not sleep). */
int vnet_tx_arm(struct vnet *v);

#endif
