/* The guest's e1000 driver (82540EM), shaped like Linux's drivers/net/ethernet/intel/e1000:
 * reset, MAC from the EEPROM (checksum checked), link from the PHY, legacy rings, one TDT write
 * per transmit call, the rx tail given back once per poll, and an interrupt handler that reads
 * ICR and masks until the driver re-arms through IMS. Every register access here is an exit:
 * the point of this card. */
#define VMSCOPE_GUEST
#include "nic.h"
#include "pci.h"

enum {
	CTRL = 0x0000, STATUS = 0x0008, EERD = 0x0014, MDIC = 0x0020, ICR = 0x00c0, IMS = 0x00d0,
	IMC = 0x00d8, RCTL = 0x0100, TCTL = 0x0400, TIPG = 0x0410, RDBAL = 0x2800, RDBAH = 0x2804,
	RDLEN = 0x2808, RDH = 0x2810, RDT = 0x2818, TDBAL = 0x3800, TDBAH = 0x3804, TDLEN = 0x3808,
	TDH = 0x3810, TDT = 0x3818, RAL0 = 0x5400, RAH0 = 0x5404,
};
#define CTRL_SLU (1u << 6)
#define CTRL_RST (1u << 26)
#define STATUS_LU 2u
#define EERD_START 1u
#define EERD_DONE (1u << 4)
#define MDIC_READ (2u << 26)
#define MDIC_READY (1u << 28)
#define MDIC_ERROR (1u << 30)
#define ICR_RXT0 0x80u
#define ICR_RXO 0x40u
#define ICR_RXDMT0 0x10u
#define RCTL_EN (1u << 1)
#define RCTL_BAM (1u << 15)
#define RCTL_SECRC (1u << 26)
#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3)
#define TXD_EOP 0x01
#define TXD_IFCS 0x02
#define TXD_RS 0x08
#define STA_DD 0x01

static inline u32 rd(struct e1000g *e, u32 r) { return reg_rd32(e->regs, r); }
static inline void wr(struct e1000g *e, u32 r, u32 v) { reg_wr32(e->regs, r, v); }

static int eeprom_word(struct e1000g *e, u32 addr, u16 *out)
{
	wr(e, EERD, addr << 8 | EERD_START);
	for (int i = 0; i < 1000; i++) {
		u32 v = rd(e, EERD);
		if (v & EERD_DONE) {
			*out = (u16)(v >> 16);
			return 0;
		}
	}
	return -1;
}

static int phy_read(struct e1000g *e, u32 reg, u16 *out)
{
	wr(e, MDIC, MDIC_READ | 1u << 21 | reg << 16);
	for (int i = 0; i < 1000; i++) {
		u32 v = rd(e, MDIC);
		if (v & MDIC_READY) {
			*out = (u16)v;
			return v & MDIC_ERROR ? -1 : 0;
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
	wr(e, IMC, 0xffffffff); /* quiet while we reset, as e1000_reset_hw does */
	wr(e, CTRL, rd(e, CTRL) | CTRL_RST);
	wr(e, IMC, 0xffffffff);
	(void)rd(e, ICR);
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
	wr(e, CTRL, rd(e, CTRL) | CTRL_SLU);
	if (phy_read(e, 1, &w) || !(w & 4) || !(rd(e, STATUS) & STATUS_LU))
		return -3;
	wr(e, RAL0, (u32)n->mac[0] | (u32)n->mac[1] << 8 | (u32)n->mac[2] << 16 | (u32)n->mac[3] << 24);
	wr(e, RAH0, (u32)n->mac[4] | (u32)n->mac[5] << 8 | 1u << 31);

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
		*(volatile u64 *)(d + 8) = (u64)STA_DD << 32; /* free */
	}
	e->rx_next = e->tx_next = e->tx_clean = 0;
	wr(e, TDBAL, (u32)(u64)e->tx_ring);
	wr(e, TDBAH, 0);
	wr(e, TDLEN, E1000G_TX * 16);
	wr(e, TDH, 0);
	wr(e, TDT, 0);
	wr(e, TIPG, 0x0060200a);
	wr(e, TCTL, TCTL_EN | TCTL_PSP | 0x0f << 4 | 0x40 << 12);
	wr(e, RDBAL, (u32)(u64)e->rx_ring);
	wr(e, RDBAH, 0);
	wr(e, RDLEN, E1000G_RX * 16);
	wr(e, RDH, 0);
	wr(e, RDT, E1000G_RX - 1); /* every buffer but one: head == tail means empty */
	wr(e, RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC); /* 2048-byte buffers, RDMTS 1/2 */
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
	d[11] = TXD_EOP | TXD_IFCS | TXD_RS;
	d[12] = 0;
	wmb();
	e->tx_next = next;
	wr(e, TDT, next); /* one doorbell per transmit call: an exit */
	return 0;
}

static int poll(struct gnic *n, void (*fn)(const u8 *, u32))
{
	struct e1000g *e = &n->u.e;
	int got = 0;
	for (; got < E1000G_RX; got++) {
		volatile u8 *d = e->rx_ring + 16 * e->rx_next;
		u8 sta = d[12];
		if (!(sta & STA_DD))
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
		wr(e, RDT, (e->rx_next + E1000G_RX - 1) % E1000G_RX);
	}
	return got;
}

static int arm(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	if (!e->armed) {
		wr(e, IMS, ICR_RXT0 | ICR_RXO | ICR_RXDMT0);
		e->armed = 1;
	}
	return (e->rx_ring[16 * e->rx_next + 12] & STA_DD) != 0;
}

static void quiet(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	if (e->armed) {
		wr(e, IMC, 0xffffffff);
		e->armed = 0;
	}
}

/* The INTx handler's part, before the EOI: what happened, then masked until the next arm (the
 * level-triggered line must be quiet by the EOI, or it fires again at once). */
static void irq(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	e->icr_seen |= rd(e, ICR);
	wr(e, IMC, 0xffffffff);
	e->armed = 0;
}

static int tx_done(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	while (e->tx_clean != e->tx_next && (e->tx_ring[16 * e->tx_clean + 12] & STA_DD))
		e->tx_clean = (e->tx_clean + 1) % E1000G_TX;
	return e->tx_clean == e->tx_next;
}

static void quiesce(struct gnic *n)
{
	struct e1000g *e = &n->u.e;
	wr(e, IMC, 0xffffffff);
	wr(e, RCTL, 0);
	wr(e, TCTL, 0);
	e->armed = 0;
}

static void remove_card(struct gnic *n)
{
	quiesce(n);
	wr(&n->u.e, CTRL, CTRL_RST);
}

const struct nic_driver nic_driver_e1000 = {
	.name = "e1000", .vendor = 0x8086, .device = 0x100e, .dma_size = 0xa2000,
	.irq_kind = "intx",
	.probe = probe, .send = send, .poll = poll, .arm_rx_irq = arm, .quiet = quiet, .irq = irq,
	.tx_done = tx_done, .quiesce = quiesce, .remove = remove_card,
};
