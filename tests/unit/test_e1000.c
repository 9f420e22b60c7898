/* The emulated 82540EM without KVM: register semantics as the 8254x SDM gives them, transmit and
 * receive through the in-process loopback backend, and hostile rings and descriptors, each counted
 * and each kept inside guest memory (guard pages on both sides fault on any stray access). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/devenv.h"
#include "tests/guarded.h"
#include "tests/harness.h"
#include "vmm/e1000/e1000.h"
#include "vmm/net/link.h"
#include "vmm/net/net.h"

#define MEM   (1u << 20)
#define FLOOR 0x4000 /* the "control page" and below: no DMA */
#define TXR   0x10000
#define RXR   0x11000
#define TXB   0x20000
#define RXB   0x40000

static uint8_t *region, *ram; /* region: the guarded mapping */
static struct guest_mem mem;
static struct irq_router irq;
static struct net netside;
static struct e1000 *e;
static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static uint8_t got[2048];
static uint32_t got_len, got_frames;

static uint32_t rd(uint32_t off)
{
	uint32_t v = 0;
	e1000_mmio(e, off, &v, 4, false);
	return v;
}
static void wr(uint32_t off, uint32_t v)
{
	e1000_mmio(e, off, &v, 4, true);
}

static void setup(void)
{
	mem = guarded_mem(&region, MEM, FLOOR);
	ram = mem.base;
	struct nic_env env = dev_env(&mem, &irq, &netside);
	env.intx_pin = 19;
	e = calloc(1, sizeof(*e));
	REQUIRE(e1000_init(e, &env) == 0);
	got_len = got_frames = 0;
}

static void teardown(void)
{
	e1000_exit(e);
	free(e);
	irq_router_exit(&irq);
}

/* Rings as the guest driver sets them: 8 tx and 8 rx descriptors, 2 KiB buffers. */
static void rings_up(void)
{
	wr(E1000_TDBAL, TXR);
	wr(E1000_TDLEN, 8 * 16);
	wr(E1000_TDH, 0);
	wr(E1000_TDT, 0);
	wr(E1000_TCTL, E1000_TCTL_EN);
	for (int i = 0; i < 8; i++) {
		uint64_t a = RXB + 2048ull * i;
		memcpy(ram + RXR + 16 * i, &a, 8);
	}
	wr(E1000_RDBAL, RXR);
	wr(E1000_RDLEN, 8 * 16);
	wr(E1000_RDH, 0);
	wr(E1000_RDT, 7);
	wr(E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM);
}

static void tx_desc(unsigned i, uint64_t addr, uint16_t len, uint8_t cmd)
{
	uint8_t *d = ram + TXR + 16 * i;
	memset(d, 0, 16);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 2);
	d[11] = cmd;
}

static uint32_t frame(uint8_t *f, const uint8_t *dst)
{
	memset(f, 0, 60);
	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x08, f[13] = 0x00; /* IPv4 ethertype, garbage body: the peer counts it, no more */
	return 60;
}

TEST(e1000_identity_and_eeprom_over_eerd_and_microwire)
{
	setup();
	CHECK(pci_cfg_get(&e->pci, 0, 4) == 0x100e8086u);
	CHECK(pci_cfg_get(&e->pci, PCI_INTERRUPT_PIN, 1) == 1);
	CHECK(pci_cfg_get(&e->pci, PCI_INTERRUPT_LINE, 1) == 0xff); /* no irqchip: not connected */
	uint16_t sum = 0, w[64];
	for (unsigned i = 0; i < 64; i++) {
		wr(E1000_EERD, i << 8 | E1000_EERD_START);
		uint32_t v = rd(E1000_EERD);
		CHECK(v & E1000_EERD_DONE);
		w[i] = (uint16_t)(v >> 16);
		sum = (uint16_t)(sum + w[i]);
	}
	CHECK(sum == E1000_EEPROM_SUM);
	CHECK(w[0] == 0x5452 && w[1] == 0x1200 && w[2] == 0x5634);
	/* The same words bit-banged: start bit, opcode 10, six address bits, 16 data bits. */
	for (unsigned addr = 0; addr < 3; addr++) {
		uint32_t cs = E1000_EECD_CS, cmd = 0x180 | addr; /* 1 10 aaaaaa */
		uint16_t v = 0;
		wr(E1000_EECD, cs);
		for (int b = 8; b >= 0; b--) {
			uint32_t di = (cmd >> b) & 1 ? E1000_EECD_DI : 0;
			wr(E1000_EECD, cs | di);
			wr(E1000_EECD, cs | di | E1000_EECD_SK);
			wr(E1000_EECD, cs | di);
		}
		for (int b = 0; b < 16; b++) {
			wr(E1000_EECD, cs | E1000_EECD_SK);
			v = (uint16_t)(v << 1 | !!(rd(E1000_EECD) & E1000_EECD_DO));
			wr(E1000_EECD, cs);
		}
		wr(E1000_EECD, 0);
		CHECKF(v == w[addr], "word %u: bit-banged %#x, EERD %#x", addr, v, w[addr]);
	}
	wr(E1000_EECD, E1000_EECD_REQ);
	CHECK(rd(E1000_EECD) & E1000_EECD_GNT && rd(E1000_EECD) & E1000_EECD_PRES);
	/* The station address loaded into RAL0/RAH0, valid. */
	CHECK(rd(E1000_RA) == 0x12005452 && rd(E1000_RA + 4) == (0x5634 | E1000_RAH_AV));
	teardown();
}

TEST(e1000_mdic_reads_the_phy_and_refuses_other_addresses)
{
	setup();
	wr(E1000_MDIC, E1000_MDIC_OP_READ | 1u << 21 | 1u << 16);
	uint32_t v = rd(E1000_MDIC);
	CHECK((v & E1000_MDIC_READY) && !(v & E1000_MDIC_ERROR) && (v & 4)); /* link up */
	wr(E1000_MDIC, E1000_MDIC_OP_READ | 1u << 21 | 2u << 16);
	CHECK((rd(E1000_MDIC) & 0xffff) == 0x0141);
	wr(E1000_MDIC, E1000_MDIC_OP_READ | 5u << 21 | 1u << 16); /* no PHY at 5 */
	CHECK(rd(E1000_MDIC) & E1000_MDIC_ERROR);
	wr(E1000_MDIC, E1000_MDIC_OP_WRITE | 1u << 21 | 4u << 16 | 0x01e1);
	wr(E1000_MDIC, E1000_MDIC_OP_READ | 1u << 21 | 4u << 16);
	CHECK((rd(E1000_MDIC) & 0xffff) == 0x01e1);
	wr(E1000_MDIC, E1000_MDIC_OP_WRITE | 1u << 21 | 1u << 16 | 0); /* status: read-only */
	wr(E1000_MDIC, E1000_MDIC_OP_READ | 1u << 21 | 1u << 16);
	CHECK((rd(E1000_MDIC) & 0xffff) == 0x796d);
	teardown();
}

TEST(e1000_icr_reads_clear_ims_imc_ics_mask_and_raise)
{
	setup();
	wr(E1000_ICS, E1000_ICR_TXDW | E1000_ICR_LSC);
	CHECK(!e->intx.level); /* masked */
	wr(E1000_IMS, E1000_ICR_LSC);
	CHECK(rd(E1000_IMS) == E1000_ICR_LSC);
	CHECK(e->intx.level && e->intx.raised == 1);
	wr(E1000_IMS, E1000_ICR_RXT0); /* IMS writes add */
	CHECK(rd(E1000_IMS) == (E1000_ICR_LSC | E1000_ICR_RXT0));
	CHECK(rd(E1000_ICR) == (E1000_ICR_TXDW | E1000_ICR_LSC));
	CHECK(rd(E1000_ICR) == 0 && !e->intx.level); /* read to clear */
	irq_line_resampled(&e->intx);		     /* the guest's EOI */
	CHECK(e->intx.raised == 1);
	wr(E1000_IMC, E1000_ICR_LSC);
	CHECK(rd(E1000_IMS) == E1000_ICR_RXT0);
	wr(E1000_ICS, E1000_ICR_LSC);
	CHECK(!e->intx.level);
	wr(E1000_ICS, E1000_ICR_RXT0);
	CHECK(e->intx.level && e->intx.raised == 2);
	/* Still asserted at the EOI: raised again (a level-triggered line). */
	irq_line_resampled(&e->intx);
	CHECK(e->intx.raised == 3);
	wr(E1000_ICR, E1000_ICR_RXT0); /* write 1 to clear */
	CHECK(rd(E1000_ICR) == E1000_ICR_LSC);
	teardown();
}

TEST(e1000_bad_accesses_are_counted_and_dropped)
{
	setup();
	uint64_t v = 0;
	e1000_mmio(e, E1000_CTRL, &v, 2, false); /* registers are dwords */
	e1000_mmio(e, E1000_CTRL + 1, &v, 4, false);
	CHECK(rd(0x1f000) == 0); /* nothing there */
	wr(E1000_STATUS, 0);	 /* read-only */
	CHECK(rd(E1000_STATUS) & E1000_STATUS_LU);
	CHECK(e->st.reg_bad == 4);
	CHECK(e->reg_count[0] == 0 || strcmp(e1000_reg_name(E1000_CTRL), "CTRL") == 0);
	CHECK(!strcmp(e1000_reg_name(E1000_MTA + 0x44), "MTA"));
	CHECK(!strcmp(e1000_reg_name(0x1f000), "other"));
	teardown();
}

TEST(e1000_tdt_transmits_and_writes_back_dd)
{
	struct link_counters lc0, lc1;
	setup();
	rings_up();
	loopback_read_counters(netside.be, &lc0);
	uint64_t sent0 = netside.be->st.tx_frames;
	for (unsigned i = 0; i < 3; i++) {
		frame(ram + TXB + 2048 * i, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
		tx_desc(i, TXB + 2048 * i, 60, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	}
	wr(E1000_IMS, E1000_ICR_TXDW);
	wr(E1000_TDT, 3);
	e1000_tx(e); /* the poller's part of the TDT write */
	loopback_read_counters(netside.be, &lc1);
	CHECK(netside.be->st.tx_frames - sent0 == 3);
	CHECK(e->st.tx_packets == 3 && e->st.tx_bytes == 180);
	CHECK(rd(E1000_TDH) == 3);
	for (unsigned i = 0; i < 3; i++)
		CHECK(ram[TXR + 16 * i + 12] & E1000_TXD_STA_DD);
	CHECK(e->intx.level);
	CHECK(rd(E1000_ICR) == (E1000_ICR_TXDW | E1000_ICR_TXQE));
	/* A frame over two descriptors goes as one; the statistics count it and clear on read. */
	(void)frame(got, mac);
	memcpy(ram + TXB, got, 30);
	memcpy(ram + TXB + 4096, got + 30, 30);
	tx_desc(3, TXB, 30, 0);
	tx_desc(4, TXB + 4096, 30, E1000_TXD_CMD_EOP);
	wr(E1000_TDT, 5);
	e1000_tx(e);
	CHECK(e->st.tx_packets == 4 && rd(E1000_TDH) == 5);
	CHECK(!(ram[TXR + 16 * 4 + 12] & E1000_TXD_STA_DD)); /* no RS: no write-back */
	CHECK(rd(E1000_GPTC) == 4 && rd(E1000_GPTC) == 0);
	CHECK(rd(E1000_GOTCL) == 240 && rd(E1000_GOTCH) == 0 && rd(E1000_GOTCL) == 0);
	/* The ring wraps: TDT behind TDH. */
	for (unsigned i = 5; i < 8; i++)
		tx_desc(i, TXB, 60, E1000_TXD_CMD_EOP);
	tx_desc(0, TXB, 60, E1000_TXD_CMD_EOP);
	wr(E1000_TDT, 1);
	e1000_tx(e);
	CHECK(e->st.tx_packets == 8 && rd(E1000_TDH) == 1);
	teardown();
}

TEST(e1000_rx_fills_descriptors_filters_and_signals)
{
	uint8_t f[60];
	setup();
	rings_up();
	wr(E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_RXO | E1000_ICR_RXDMT0);
	e1000_rx(e, f, frame(f, mac)); /* our unicast address */
	CHECK(e->st.rx_packets == 1 && rd(E1000_RDH) == 1);
	CHECK(ram[RXR + 12] == (E1000_RXD_STA_DD | E1000_RXD_STA_EOP));
	CHECK(ram[RXR + 8] == 60 && !memcmp(ram + RXB, f, 60));
	CHECK(rd(E1000_ICR) & E1000_ICR_RXT0);
	/* Not ours: dropped by the filter, counted. */
	e1000_rx(e, f, frame(f, (const uint8_t *)"\x52\x54\x00\x99\x99\x99"));
	CHECK(e->st.rx_filtered == 1 && rd(E1000_RDH) == 1);
	/* Multicast through the MTA (MO 0: bits 47:36), and promiscuous. */
	const uint8_t mc[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
	uint32_t hash = (0x00 >> 4 | 0xfb << 4) & 0xfff;
	e1000_rx(e, f, frame(f, mc));
	CHECK(e->st.rx_filtered == 2);
	wr(E1000_MTA + 4 * (hash >> 5), 1u << (hash & 31));
	e1000_rx(e, f, frame(f, mc));
	CHECK(e->st.rx_packets == 2);
	wr(E1000_RCTL, rd(E1000_RCTL) | E1000_RCTL_UPE);
	e1000_rx(e, f, frame(f, (const uint8_t *)"\x52\x54\x00\x99\x99\x99"));
	CHECK(e->st.rx_packets == 3 && rd(E1000_RDH) == 3);
	/* RDT 7 of 8: 7 usable; fill them, then the next is an overrun (RXO, no buffer). */
	for (int i = 0; i < 4; i++)
		e1000_rx(e, f, frame(f, mac));
	CHECK(rd(E1000_RDH) == 7 && e->st.rx_packets == 7);
	CHECK(rd(E1000_ICR) & E1000_ICR_RXDMT0);
	e1000_rx(e, f, frame(f, mac));
	CHECK(e->st.rx_no_buffer == 1 && (rd(E1000_ICR) & E1000_ICR_RXO));
	CHECK(rd(E1000_MPC) == 1 && rd(E1000_MPC) == 0 && rd(E1000_GPRC) == 7);
	/* Buffers back: RDT moves, reception goes on across the wrap. */
	wr(E1000_RDT, 3);
	e1000_rx(e, f, frame(f, mac));
	CHECK(rd(E1000_RDH) == 0 && e->st.rx_packets == 8);
	/* Receiver off: nothing. */
	wr(E1000_RCTL, 0);
	e1000_rx(e, f, frame(f, mac));
	CHECK(e->st.rx_no_buffer == 2 && e->st.rx_packets == 8);
	teardown();
}

TEST(e1000_hostile_rings_and_descriptors_are_counted_and_bounded)
{
	uint8_t f[60];
	setup();
	rings_up();
	/* A buffer outside guest memory, one that wraps the address space, one that runs past
	 * the end, a huge length, one below the DMA floor (the control page). */
	uint64_t bad[] = {MEM + 4096, ~0ull - 8, MEM - 16, TXB, FLOOR - 64};
	uint16_t len[] = {60, 60, 60, 0xffff, 60};
	for (unsigned i = 0; i < 5; i++)
		tx_desc(i, bad[i], len[i], E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	wr(E1000_TDT, 5);
	e1000_tx(e);
	CHECK(e->st.tx_malformed == 5 && e->st.tx_packets == 0);
	CHECK(e->est.desc_bad_addr == 4); /* the huge one is inside memory, but no frame */
	CHECK(rd(E1000_TDH) == 5);	  /* consumed, written back, not sent */
	/* TDT beyond the ring: refused, counted, TDH stays. */
	wr(E1000_TDT, 200);
	e1000_tx(e);
	CHECK(e->est.ring_bad_index == 1 && rd(E1000_TDH) == 5);
	/* A ring length not a multiple of 128, a ring past the end of memory, a ring over the
	 * control page: no ring at all. */
	wr(E1000_TDT, 6);
	wr(E1000_TDLEN, 100);
	e1000_tx(e);
	wr(E1000_TDLEN, 128);
	wr(E1000_TDBAL, MEM - 64);
	e1000_tx(e);
	wr(E1000_TDBAL, 0);
	e1000_tx(e);
	CHECK(e->est.ring_bad_base == 3);
	/* rx: a descriptor pointing outside memory comes back empty, counted. */
	uint64_t out = MEM + 4096;
	memcpy(ram + RXR, &out, 8);
	e1000_rx(e, f, frame(f, mac));
	CHECK(e->est.desc_bad_addr == 5 && ram[RXR + 8] == 0 && (ram[RXR + 12] & E1000_RXD_STA_DD));
	wr(E1000_RDLEN, 8 * 16 + 8);
	e1000_rx(e, f, frame(f, mac));
	wr(E1000_RDLEN, 128);
	wr(E1000_RDBAH, 1); /* 4 GiB up */
	e1000_rx(e, f, frame(f, mac));
	CHECK(e->est.ring_bad_base == 5);
	/* The guard pages are intact: any stray access above would have faulted. */
	CHECK(e->st.ring_errors == e->est.ring_bad_base + e->est.ring_bad_index);
	teardown();
}

TEST(e1000_survives_register_garbage)
{
	uint64_t x = 0x2545f4914f6cdd1dull;
	uint8_t f[60];
	setup();
	rings_up();
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t off = (uint32_t)(x >> 12) % E1000_BAR0_SIZE & ~3u, v = (uint32_t)(x >> 32);
		if (off == E1000_CTRL)
			v &= ~E1000_CTRL_RST;
		if (x & 1)
			wr(off, v);
		else
			(void)rd(off);
		if ((x & 0xff) == 3)
			e1000_tx(e);
		if ((x & 0xff) == 5)
			e1000_rx(e, f, frame(f, mac));
	}
	CHECK(e->st.reg_bad > 0);
	CHECK(pci_cfg_get(&e->pci, 0, 4) == 0x100e8086u);
	wr(E1000_CTRL, E1000_CTRL_RST); /* and a reset brings it back */
	CHECK(rd(E1000_STATUS) & E1000_STATUS_LU && rd(E1000_IMS) == 0 && rd(E1000_TDLEN) == 0);
	teardown();
}
