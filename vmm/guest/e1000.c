/* The guest's e1000 driver (82540EM), shaped like Linux's drivers/net/ethernet/intel/e1000:
 * reset, MAC from the EEPROM (checksum checked), link from the PHY, legacy rings, one E1000_TDT
 * write per transmit call, the rx tail given back once per poll, and an interrupt handler that
 * reads E1000_ICR and masks until the driver re-arms through E1000_IMS. Every register access here
 * is an exit: the point of this card. */
#define VMSCOPE_GUEST
#include "nic.h"
#include "pci.h"
#include "vmm/e1000/regs.h"

static inline u32 rd(struct e1000g *e, u32 r)
{
	return reg_rd32(e->regs, r);
}
static inline void wr(struct e1000g *e, u32 r, u32 v)
{
	reg_wr32(e->regs, r, v);
}

static int eeprom_word(struct e1000g *e, u32 addr, u16 *out)
{
	wr(e, E1000_EERD, addr << 8 | E1000_EERD_START);
	for (int i = 0; i < 1000; i++) {
		u32 v = rd(e, E1000_EERD);
		if (v & E1000_EERD_DONE) {
			*out = (u16)(v >> 16);
			return 0;
		}
	}
	return -1;
}

static int phy_read(struct e1000g *e, u32 reg, u16 *out)
{
	wr(e, E1000_MDIC, E1000_MDIC_OP_READ | 1u << 21 | reg << 16);
	for (int i = 0; i < 1000; i++) {
		u32 v = rd(e, E1000_MDIC);
		if (v & E1000_MDIC_READY) {
			*out = (u16)v;
			return v & E1000_MDIC_ERROR ? -1 : 0;
		}
	}
	return -1;
}

static int probe(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	u16 w, sum = 0;

	pci_enable(n->bdf);
	e->regs = (volatile u8 *)pci_bar(n->bdf, 0);
	wr(e, E1000_IMC, 0xffffffff); /* quiet while we reset, as e1000_reset_hw does */
	wr(e, E1000_CTRL, rd(e, E1000_CTRL) | E1000_CTRL_RST);
	wr(e, E1000_IMC, 0xffffffff);
	(void)rd(e, E1000_ICR);
	/* The MAC and the checksum over the whole EEPROM (words 0x00-0x3f add up to 0xbaba). */
	for (u32 i = 0; i < 64; i++) {
		if (eeprom_word(e, i, &w))
			return -1;
		if (i < 3) {
			n->mac[2 * i] = (u8)w;
			n->mac[2 * i + 1] = (u8)(w >> 8);
		}
		sum = (u16)(sum + w);
	}
	if (sum != 0xbaba)
		return -2;
	/* Link: set link up, ask the PHY, then the MAC's view. */
	wr(e, E1000_CTRL, rd(e, E1000_CTRL) | E1000_CTRL_SLU);
	if (phy_read(e, 1, &w) || !(w & 4) || !(rd(e, E1000_STATUS) & E1000_STATUS_LU))
		return -3;
	wr(e, E1000_RAL0,
	   (u32)n->mac[0] | (u32)n->mac[1] << 8 | (u32)n->mac[2] << 16 | (u32)n->mac[3] << 24);
	wr(e, E1000_RAH0, (u32)n->mac[4] | (u32)n->mac[5] << 8 | 1u << 31);

	/* dma: rx ring (4 KiB), tx ring (1 KiB), 256 rx buffers, 64 tx buffers. */
	e->rx_ring = (volatile u8 *)n->dma;
	e->tx_ring = (volatile u8 *)(n->dma + 0x1000);
	e->rx_bufs = (u8 *)(n->dma + 0x2000);
	e->tx_bufs = e->rx_bufs + E1000G_RX * NIC_BUF;
	for (u32 i = 0; i < E1000G_RX; i++) {
		volatile u8 *d = e->rx_ring + 16 * i;
		*(volatile u64 *)d = (u64)e->rx_bufs + (u64)i * NIC_BUF;
		*(volatile u64 *)(d + 8) = 0;
	}
	for (u32 i = 0; i < E1000G_TX; i++) {
		volatile u8 *d = e->tx_ring + 16 * i;
		*(volatile u64 *)d = (u64)e->tx_bufs + (u64)i * NIC_BUF;
		*(volatile u64 *)(d + 8) = (u64)E1000_TXD_STA_DD << 32; /* free */
	}
	e->rx_next = e->tx_next = e->tx_clean = 0;
	wr(e, E1000_TDBAL, (u32)(u64)e->tx_ring);
	wr(e, E1000_TDBAH, 0);
	wr(e, E1000_TDLEN, E1000G_TX * 16);
	wr(e, E1000_TDH, 0);
	wr(e, E1000_TDT, 0);
	wr(e, E1000_TIPG, 0x0060200a);
	wr(e, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP | 0x0f << 4 | 0x40 << 12);
	wr(e, E1000_RDBAL, (u32)(u64)e->rx_ring);
	wr(e, E1000_RDBAH, 0);
	wr(e, E1000_RDLEN, E1000G_RX * 16);
	wr(e, E1000_RDH, 0);
	wr(e, E1000_RDT, E1000G_RX - 1); /* every buffer but one: head == tail means empty */
	wr(e, E1000_RCTL,
	   E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC); /* 2048-byte buffers, RDMTS 1/2 */
	if (n->want_irq)
		n->irq = pci_intx_setup(n->bdf, VEC_INTX);
	e->armed = 0;
	return 0;
}

static int tx_done(struct gnic *n);

static int send(struct gnic *n, const void *frame, u32 len)
{
	struct e1000g *e = &n->u.e;
	u32 next = (e->tx_next + 1) % E1000G_TX;
	if (len > NIC_BUF)
		return -1;
	/* Reclaim what the card is done with (DD written back: RS on every descriptor). */
	tx_done(n);
	if (next == e->tx_clean)
		return -1; /* ring full */
	volatile u8 *d = e->tx_ring + 16 * e->tx_next;
	__builtin_memcpy(e->tx_bufs + (u64)e->tx_next * NIC_BUF, frame, len);
	*(volatile u16 *)(d + 8) = (u16)len;
	d[10] = 0;
	d[11] = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
	d[12] = 0;
	wmb();
	e->tx_next = next;
	wr(e, E1000_TDT, next); /* one doorbell per transmit call: an exit */
	return 0;
}

static int poll(struct gnic *n, void (*fn)(const u8 *, u32))
{
	struct e1000g *e = &n->u.e;
	int got = 0;
	for (; got < E1000G_RX; got++) {
		volatile u8 *d = e->rx_ring + 16 * e->rx_next;
		u8 sta = d[12];
		if (!(sta & E1000_RXD_STA_DD))
			break;
		u32 len = *(volatile u16 *)(d + 8);
		if ((sta & 0x02) && len >= 14 && len <= NIC_BUF) /* EOP: whole frames only */
			fn(e->rx_bufs + (u64)e->rx_next * NIC_BUF, len);
		d[12] = 0;
		e->rx_next = (e->rx_next + 1) % E1000G_RX;
	}
	if (got) {
		wmb();
		/* The buffers go back once per poll, as e1000_alloc_rx_buffers does: one exit. */
		wr(e, E1000_RDT, (e->rx_next + E1000G_RX - 1) % E1000G_RX);
	}
	return got;
}

static int arm(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	if (!e->armed) {
		wr(e, E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_RXO | E1000_ICR_RXDMT0);
		e->armed = 1;
	}
	return (e->rx_ring[16 * e->rx_next + 12] & E1000_RXD_STA_DD) != 0;
}

static void quiet(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	if (e->armed) {
		wr(e, E1000_IMC, 0xffffffff);
		e->armed = 0;
	}
}

/* The INTx handler's part, before the EOI: what happened, then masked until the next arm (the
 * level-triggered line must be quiet by the EOI, or it fires again at once). */
static void irq(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	e->icr_seen |= rd(e, E1000_ICR);
	wr(e, E1000_IMC, 0xffffffff);
	e->armed = 0;
}

static int tx_done(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	while (e->tx_clean != e->tx_next && (e->tx_ring[16 * e->tx_clean + 12] & E1000_TXD_STA_DD))
		e->tx_clean = (e->tx_clean + 1) % E1000G_TX;
	return e->tx_clean == e->tx_next;
}

static void quiesce(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	wr(e, E1000_IMC, 0xffffffff);
	wr(e, E1000_RCTL, 0);
	wr(e, E1000_TCTL, 0);
	e->armed = 0;
}

static void remove_card(struct gnic *n)
{
	quiesce(n);
	wr(&n->u.e, E1000_CTRL, E1000_CTRL_RST);
}

const struct nic_driver nic_driver_e1000 = {
    .name = "e1000",
    .vendor = 0x8086,
    .device = 0x100e,
    .dma_size = 0xa2000,
    .irq_kind = "intx",
    .probe = probe,
    .send = send,
    .poll = poll,
    .arm_rx_irq = arm,
    .quiet = quiet,
    .irq = irq,
    .tx_done = tx_done,
    .quiesce = quiesce,
    .remove = remove_card,
};
