/* The guest's e1000 (82540EM) driver state: legacy descriptor rings, as Linux's e1000 sets them
 * up. */
#ifndef VMSCOPE_GUEST_E1000_H
#define VMSCOPE_GUEST_E1000_H
#include "../control.h"

#define E1000G_RX 256
#define E1000G_TX 64

struct e1000g {
	volatile u8 *regs;
	volatile u8 *rx_ring, *tx_ring;
	u8 *rx_bufs, *tx_bufs;
	u32 rx_next;  /* next descriptor the card fills */
	u32 tx_next;  /* next descriptor we fill (TDT) */
	u32 tx_clean; /* oldest descriptor not yet reclaimed */
	int armed;    /* IMS has the rx causes on */
	u32 icr_seen; /* causes the interrupt handler read */
};

#endif
