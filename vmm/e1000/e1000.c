/* Intel 82540EM (8254x SDM, rev 4.0): register file, EEPROM, PHY, legacy descriptors, filters,
 * interrupts. Everything the guest writes is guest-controlled: ring bases and lengths, head and
 * tail, descriptor addresses and lengths are checked (guest_mem.h) and counted when wrong. */
#include "vmm/e1000/e1000_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/counters.h"
#include "vmm/net/net.h"

enum { RO = 1 }; /* writes are dropped and counted */

/* The registers the model knows, by name: one entry each (ranges under one name), which is also
 * the name the exits are counted under. Accesses anywhere else are counted as bad and read 0. */
#define E1000_REGISTERS(X)                                                                         \
	X(CTRL, 0)                                                                                 \
	X(STATUS, RO)                                                                              \
	X(EECD, 0)                                                                                 \
	X(EERD, 0)                                                                                 \
	X(CTRL_EXT, 0)                                                                             \
	X(MDIC, 0)                                                                                 \
	X(FCAL, 0)                                                                                 \
	X(FCAH, 0)                                                                                 \
	X(FCT, 0)                                                                                  \
	X(VET, 0)                                                                                  \
	X(ICR, 0)                                                                                  \
	X(ITR, 0)                                                                                  \
	X(ICS, 0)                                                                                  \
	X(IMS, 0)                                                                                  \
	X(IMC, 0)                                                                                  \
	X(RCTL, 0)                                                                                 \
	X(FCTTV, 0)                                                                                \
	X(TXCW, 0)                                                                                 \
	X(RXCW, RO)                                                                                \
	X(TCTL, 0)                                                                                 \
	X(TIPG, 0)                                                                                 \
	X(LEDCTL, 0)                                                                               \
	X(PBA, 0)                                                                                  \
	X(FCRTL, 0)                                                                                \
	X(FCRTH, 0)                                                                                \
	X(RDBAL, 0)                                                                                \
	X(RDBAH, 0)                                                                                \
	X(RDLEN, 0)                                                                                \
	X(RDH, 0)                                                                                  \
	X(RDT, 0)                                                                                  \
	X(RDTR, 0)                                                                                 \
	X(RXDCTL, 0)                                                                               \
	X(RADV, 0)                                                                                 \
	X(RSRPD, 0)                                                                                \
	X(TXDMAC, 0)                                                                               \
	X(TDBAL, 0)                                                                                \
	X(TDBAH, 0)                                                                                \
	X(TDLEN, 0)                                                                                \
	X(TDH, 0)                                                                                  \
	X(TDT, 0)                                                                                  \
	X(TIDV, 0)                                                                                 \
	X(TXDCTL, 0)                                                                               \
	X(TADV, 0)                                                                                 \
	X(STATS, RO)                                                                               \
	X(RXCSUM, 0)                                                                               \
	X(MTA, 0)                                                                                  \
	X(RA, 0)                                                                                   \
	X(VFTA, 0)

enum reg_id {
	REG_OTHER, /* 0 in reg_at[]: nothing we know (its accesses are counted as "other") */
#define REG_ENUM(name, flags) REG_##name,
	E1000_REGISTERS(REG_ENUM)
#undef REG_ENUM
	    REG_END,
};
_Static_assert(REG_END <= E1000_REG_NAMES, "room for every register name and 'other'");

static const struct reg_def {
	const char *name;
	unsigned flags;
} regs[REG_END] = {[REG_OTHER] = {"other", 0},
#define REG_DEF(name, fl) [REG_##name] = {#name, fl},
		   E1000_REGISTERS(REG_DEF)
#undef REG_DEF
};

/* Which register each dword of BAR0 is, as QEMU's e1000 indexes its op tables by offset: one
 * lookup per trap. The ranges are the statistics, the multicast table, the receive addresses
 * and the VLAN filter (SDM 13.4.27-13.4.40, 13.5, 13.7). */
#define AT(r)		     [E1000_##r / 4] = REG_##r
#define SPAN(r, from, bytes) [(from) / 4 ...((from) + (bytes)) / 4 - 1] = REG_##r
static const uint8_t reg_at[E1000_BAR0_SIZE / 4] = {
    AT(CTRL),
    AT(STATUS),
    AT(EECD),
    AT(EERD),
    AT(CTRL_EXT),
    AT(MDIC),
    AT(FCAL),
    AT(FCAH),
    AT(FCT),
    AT(VET),
    AT(ICR),
    AT(ITR),
    AT(ICS),
    AT(IMS),
    AT(IMC),
    AT(RCTL),
    AT(FCTTV),
    AT(TXCW),
    AT(RXCW),
    AT(TCTL),
    AT(TIPG),
    AT(LEDCTL),
    AT(PBA),
    AT(FCRTL),
    AT(FCRTH),
    AT(RDBAL),
    AT(RDBAH),
    AT(RDLEN),
    AT(RDH),
    AT(RDT),
    AT(RDTR),
    AT(RXDCTL),
    AT(RADV),
    AT(RSRPD),
    AT(TXDMAC),
    AT(TDBAL),
    AT(TDBAH),
    AT(TDLEN),
    AT(TDH),
    AT(TDT),
    AT(TIDV),
    AT(TXDCTL),
    AT(TADV),
    AT(RXCSUM),
    SPAN(STATS, E1000_STATS, E1000_STATS_END - E1000_STATS),
    SPAN(MTA, E1000_MTA, 0x200),
    SPAN(RA, E1000_RA, 0x80),
    SPAN(VFTA, E1000_VFTA, 0x200),
};
#undef AT
#undef SPAN

/* The register at off (its slot of reg_count[] too), or REG_OTHER. */
static enum reg_id reg_find(uint64_t off)
{
	return off < E1000_BAR0_SIZE ? reg_at[off / 4] : REG_OTHER;
}

const char *e1000_reg_name(uint32_t off)
{
	return regs[reg_find(off & ~3u)].name;
}

/* ---- interrupts ---- */

static void update_irq(struct e1000 *e)
{
	irq_line_set(&e->intx, (R(e, E1000_ICR) & R(e, E1000_IMS)) != 0);
}

void e1000_raise(struct e1000 *e, uint32_t cause)
{
	R(e, E1000_ICR) |= cause;
	update_irq(e);
}

/* ---- statistics (SDM 13.7): 32-bit counters saturate; 64-bit ones are a low/high pair ---- */

static void stat_add(struct e1000 *e, uint32_t r, uint32_t n)
{
	uint32_t *c = &R(e, r);
	*c = *c + n < *c ? 0xffffffffu : *c + n;
}

static void stat_add64(struct e1000 *e, uint32_t lo, uint64_t n)
{
	uint64_t v = (uint64_t)R(e, lo + 4) << 32 | R(e, lo);
	v += n;
	R(e, lo) = (uint32_t)v;
	R(e, lo + 4) = (uint32_t)(v >> 32);
}

/* ---- reset ---- */

/* The EEPROM is not a register: a reset keeps it, a power-on (mac given) writes it. */
static void reset(struct e1000 *e, const uint8_t mac[6])
{
	memset(e->reg, 0, sizeof(e->reg));
	memset(&e->ee, 0, sizeof(e->ee));
	e->ee.out_pos = -1;
	if (mac)
		e1000_eeprom_build(e, mac);
	e1000_phy_reset(e);
	R(e, E1000_CTRL) = 0x00140240; /* SLU, ASDE, full duplex, as after a reset with autoneg */
	R(e, E1000_STATUS) = E1000_STATUS_FD | E1000_STATUS_LU | E1000_STATUS_SPEED_1000;
	R(e, E1000_PBA) = 0x00100030; /* 48 KiB rx, 16 KiB tx */
	R(e, E1000_LEDCTL) = 0x07068302;
	R(e, E1000_TIPG) = 0x0060200a;
	R(e, E1000_RXCW) = 0x40000000; /* /C/ ordered sets seen: autoneg done */
	/* The station address the EEPROM load puts in RAL0/RAH0. */
	R(e, E1000_RA) = (uint32_t)e->eeprom[0] | (uint32_t)e->eeprom[1] << 16;
	R(e, E1000_RA + 4) = e->eeprom[2] | E1000_RAH_AV;
	update_irq(e);
}

/* ---- rings ---- */

/* A ring's descriptor count, or 0 (counted) when its base and length do not make one. */
static uint32_t ring_size(struct e1000 *e, uint32_t bal, uint32_t len_reg, uint64_t *base)
{
	uint32_t len = R(e, len_reg);
	*base = (uint64_t)R(e, bal + 4) << 32 | R(e, bal);
	if (!len)
		return 0;
	/* SDM 13.4.27/13.4.37: length a multiple of 128 bytes, base 16-byte aligned. */
	if ((len & 127) || (*base & 15) || !gpa_ring(&e->mem, *base, len / 16, 16)) {
		CNT_ADD(e->est.ring_bad_base, 1);
		CNT_ADD(e->st.ring_errors, 1);
		return 0;
	}
	return len / 16;
}

static bool ring_indices_ok(struct e1000 *e, uint32_t n, uint32_t head, uint32_t tail)
{
	if (head < n && tail < n)
		return true;
	CNT_ADD(e->est.ring_bad_index, 1);
	CNT_ADD(e->st.ring_errors, 1);
	return false;
}

/* A frame being gathered from its descriptors. */
struct tx_frame {
	struct iovec iov[16];
	unsigned niov;
	uint32_t total;
	bool bad; /* a buffer outside guest memory, or too many or too long: dropped at EOP */
};

/* A data descriptor's length (legacy, or extended DTYP 1 with 20 bits); false: an extended
 * context descriptor (DTYP 0), which only sets up offloads (SDM 3.3.3-3.3.7). */
static bool tx_desc_data(struct e1000 *e, const struct e1000_desc *d, uint32_t *len)
{
	*len = (uint32_t)d->b[0] | (uint32_t)d->b[1] << 8;
	if (!(d->b[3] & E1000_TXD_CMD_DEXT))
		return true;
	uint32_t dw2;
	memcpy(&dw2, d->b, 4);
	*len = dw2 & 0xfffff;
	if (((dw2 >> 20) & 0xf) == 1)
		return true;
	CNT_ADD(e->est.tx_context, 1);
	return false;
}

static void tx_gather(struct e1000 *e, struct tx_frame *f, uint64_t addr, uint32_t len)
{
	void *p = gpa_ptr(&e->mem, addr, len);
	if (!p) {
		CNT_ADD(e->est.desc_bad_addr, 1);
		f->bad = true;
	} else if (f->niov == 16 || f->total + len > NET_FRAME_MAX) {
		f->bad = true;
	} else {
		f->iov[f->niov++] = (struct iovec){p, len};
		f->total += len;
	}
}

/* EOP: the frame goes to the link (or is counted as what stopped it), and a new one begins. */
static void tx_send(struct e1000 *e, struct tx_frame *f)
{
	if (f->bad || f->total < 14) {
		CNT_ADD(e->st.tx_malformed, 1);
	} else if (net_port_send(e->be, e, f->iov, f->niov) == 0) {
		CNT_ADD(e->st.tx_packets, 1);
		CNT_ADD(e->st.tx_bytes, f->total);
		stat_add(e, E1000_GPTC, 1);
		stat_add(e, E1000_TPT, 1);
		stat_add64(e, E1000_GOTCL, f->total);
		stat_add64(e, E1000_TOTL, f->total);
	} else {
		CNT_ADD(e->st.tx_dropped, 1);
	}
	f->niov = 0;
	f->total = 0;
	f->bad = false;
}

void e1000_tx(struct e1000 *e)
{
	struct tx_frame f = {.niov = 0};
	uint32_t n;
	uint64_t base;
	bool wrote_back = false;

	pthread_mutex_lock(&e->lock);
	if (!(R(e, E1000_TCTL) & E1000_TCTL_EN) ||
	    !(n = ring_size(e, E1000_TDBAL, E1000_TDLEN, &base)))
		goto out;
	/* At most one ring's worth per call: a guest moving TDT meanwhile cannot keep us here. */
	for (uint32_t budget = n; budget; budget--) {
		uint32_t head = R(e, E1000_TDH), tail = R(e, E1000_TDT), len;
		if (head == tail || !ring_indices_ok(e, n, head, tail))
			break;
		if (!f.niov && !e->be->ops->tx_room(e->be)) {
			e->be->tx_waiting = true;
			CNT_ADD(e->st.tx_backpressure, 1);
			break;
		}
		struct e1000_desc d;
		gpa_read(&e->mem, base + 16ull * head, &d, sizeof(d)); /* bounded by ring_size() */
		bool data = tx_desc_data(e, &d, &len);
		if (data && len)
			tx_gather(e, &f, d.addr, len);
		if (data && (d.b[3] & E1000_TXD_CMD_EOP))
			tx_send(e, &f);
		if (d.b[3] & E1000_TXD_CMD_RS) {
			uint8_t sta = d.b[4] | E1000_TXD_STA_DD;
			gpa_write(&e->mem, base + 16ull * head + 12, &sta, 1);
			wrote_back = true;
		}
		CNT_ADD(e->est.tx_descriptors, 1);
		R(e, E1000_TDH) = (head + 1) % n;
	}
	/* A frame cut off by the ring's end or a stop waits: its descriptors are already consumed,
	 * as on the chip (they are in its FIFO), so it is counted malformed rather than sent half.
	 */
	if (f.niov)
		CNT_ADD(e->st.tx_malformed, 1);
	if (wrote_back || R(e, E1000_TDH) == R(e, E1000_TDT))
		e1000_raise(e, (wrote_back ? E1000_ICR_TXDW : 0) |
				   (R(e, E1000_TDH) == R(e, E1000_TDT) ? E1000_ICR_TXQE : 0));
out:
	pthread_mutex_unlock(&e->lock);
}

/* ---- receive ---- */

static uint32_t rx_buffer_size(uint32_t rctl)
{
	static const uint32_t plain[4] = {2048, 1024, 512, 256}, ext[4] = {2048, 16384, 8192, 4096};
	unsigned bsize = (rctl >> 16) & 3;
	return (rctl & E1000_RCTL_BSEX) ? ext[bsize] : plain[bsize];
}

/* The receive filter (SDM 3.2.1): exact addresses in RAL/RAH with AV, the multicast table by
 * the bits RCTL.MO picks, broadcast with BAM, promiscuous with UPE/MPE. */
static bool rx_accept(struct e1000 *e, const uint8_t *dst)
{
	uint32_t rctl = R(e, E1000_RCTL);
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	if (!memcmp(dst, bcast, 6))
		return rctl & E1000_RCTL_BAM;
	if (dst[0] & 1) {
		if (rctl & E1000_RCTL_MPE)
			return true;
		unsigned mo = (rctl >> 12) & 3;
		uint32_t hash =
		    ((uint32_t)dst[4] >> (4 - mo) | (uint32_t)dst[5] << (4 + mo)) & 0xfff;
		return (R(e, E1000_MTA + 4 * (hash >> 5)) >> (hash & 31)) & 1;
	}
	if (rctl & E1000_RCTL_UPE)
		return true;
	for (unsigned i = 0; i < 16; i++) {
		uint32_t lo = R(e, E1000_RA + 8 * i), hi = R(e, E1000_RA + 8 * i + 4);
		uint8_t a[6] = {(uint8_t)lo,	     (uint8_t)(lo >> 8), (uint8_t)(lo >> 16),
				(uint8_t)(lo >> 24), (uint8_t)hi,	 (uint8_t)(hi >> 8)};
		if ((hi & E1000_RAH_AV) && !memcmp(a, dst, 6))
			return true;
	}
	return false;
}

void e1000_rx(void *opaque, const uint8_t *frame, uint32_t len)
{
	struct e1000 *e = opaque;
	uint32_t n, cause = 0;
	uint64_t base;

	pthread_mutex_lock(&e->lock);
	uint32_t rctl = R(e, E1000_RCTL);
	if (!(rctl & E1000_RCTL_EN) || !(R(e, E1000_STATUS) & E1000_STATUS_LU) || len < 14 ||
	    !(n = ring_size(e, E1000_RDBAL, E1000_RDLEN, &base))) {
		CNT_ADD(e->st.rx_no_buffer, 1);
		goto out;
	}
	if (!rx_accept(e, frame)) {
		CNT_ADD(e->st.rx_filtered, 1);
		goto out;
	}
	uint32_t head = R(e, E1000_RDH), tail = R(e, E1000_RDT);
	if (!ring_indices_ok(e, n, head, tail)) {
		CNT_ADD(e->st.rx_no_buffer, 1);
		goto out;
	}
	/* The frame spans as many buffers as it needs; all must be free before any is used. */
	uint32_t bufsz = rx_buffer_size(rctl), need = (len + bufsz - 1) / bufsz;
	uint32_t free_desc = (tail + n - head) % n;
	if (free_desc < need) {
		CNT_ADD(e->st.rx_no_buffer, 1);
		CNT_ADD(e->est.rx_overrun, 1);
		stat_add(e, E1000_MPC, 1);
		stat_add(e, E1000_RNBC, 1);
		cause |= E1000_ICR_RXO;
		goto irq;
	}
	for (uint32_t done = 0, i = 0; i < need; i++) {
		struct e1000_desc d;
		uint64_t at = base + 16ull * head;
		uint32_t chunk = len - done < bufsz ? len - done : bufsz;
		gpa_read(&e->mem, at, &d, sizeof(d));
		if (!gpa_write(&e->mem, d.addr, frame + done, chunk)) {
			CNT_ADD(e->est.desc_bad_addr, 1);
			chunk = 0; /* the descriptor comes back empty */
		}
		done += chunk;
		uint8_t wb[8] = {
		    (uint8_t)chunk,
		    (uint8_t)(chunk >> 8),
		    0,
		    0,
		    (uint8_t)(E1000_RXD_STA_DD | (i == need - 1 ? E1000_RXD_STA_EOP : 0)),
		    0,
		    0,
		    0};
		gpa_write(&e->mem, at + 8, wb, sizeof(wb));
		head = (head + 1) % n;
		R(e, E1000_RDH) = head;
		CNT_ADD(e->est.rx_descriptors, 1);
	}
	CNT_ADD(e->st.rx_packets, 1);
	CNT_ADD(e->st.rx_bytes, len);
	stat_add(e, E1000_GPRC, 1);
	stat_add(e, E1000_TPR, 1);
	stat_add64(e, E1000_GORCL, len);
	stat_add64(e, E1000_TORL, len);
	if (frame[0] == 0xff && frame[1] == 0xff)
		stat_add(e, E1000_BPRC, 1);
	else if (frame[0] & 1)
		stat_add(e, E1000_MPRC, 1);
	cause |= E1000_ICR_RXT0;
	/* RXDMT0: free descriptors fell to RCTL.RDMTS's share of the ring (1/2, 1/4, 1/8). */
	free_desc = (tail + n - head) % n;
	unsigned rdmts = (rctl >> 8) & 3;
	if (rdmts < 3 && free_desc <= n >> (rdmts + 1))
		cause |= E1000_ICR_RXDMT0;
irq:
	e1000_raise(e, cause);
out:
	pthread_mutex_unlock(&e->lock);
}

/* ---- the register file ---- */

static uint32_t reg_read(struct e1000 *e, uint32_t off, unsigned idx)
{
	uint32_t v;
	switch (off) {
	case E1000_ICR: /* read to clear (SDM 13.4.17) */
		v = R(e, E1000_ICR);
		R(e, E1000_ICR) = 0;
		update_irq(e);
		return v;
	case E1000_EECD: return e1000_eecd_read(e);
	case E1000_ICS:
	case E1000_IMC: /* write-only */ return 0;
	}
	v = R(e, off);
	if (idx == REG_STATS) {
		/* Clear on read; a 64-bit pair clears when its high half is read. */
		bool low_of_pair = off == E1000_GORCL || off == E1000_GOTCL || off == E1000_TORL ||
				   off == E1000_TOTL;
		if (!low_of_pair)
			R(e, off) = 0;
		if (off == E1000_GORCH || off == E1000_GOTCH || off == E1000_TORH ||
		    off == E1000_TOTH)
			R(e, off - 4) = 0;
	}
	return v;
}

static void wake_poller(struct e1000 *e)
{
	uint64_t one = 1;
	if (e->tx_wake_fd >= 0 && write(e->tx_wake_fd, &one, sizeof(one)) < 0) {
		/* counter saturated: the poller is due anyway */
	}
}

static void reg_write(struct e1000 *e, uint32_t off, uint32_t v)
{
	switch (off) {
	case E1000_CTRL:
		if (v & E1000_CTRL_RST) {
			CNT_ADD(e->est.resets, 1);
			reset(e, NULL);
			return;
		}
		R(e, off) = v & ~E1000_CTRL_PHY_RST;
		return;
	case E1000_EECD: e1000_eecd_write(e, v); return;
	case E1000_EERD: e1000_eerd_write(e, v); return;
	case E1000_MDIC: e1000_mdic_write(e, v); return;
	case E1000_ICR:
		R(e, E1000_ICR) &= ~v;
		update_irq(e);
		return; /* write 1 to clear */
	case E1000_ICS: e1000_raise(e, v & E1000_ICR_ALL); return;
	case E1000_IMS:
		R(e, E1000_IMS) |= v & E1000_ICR_ALL;
		update_irq(e);
		return;
	case E1000_IMC:
		R(e, E1000_IMS) &= ~v;
		update_irq(e);
		return;
	case E1000_RDLEN:
	case E1000_TDLEN: R(e, off) = v & 0xfffffu; return; /* checked at use */
	case E1000_RDH:
	case E1000_RDT:
	case E1000_TDH: R(e, off) = v & 0xffff; return;
	case E1000_TDT:
		R(e, off) = v & 0xffff;
		wake_poller(e); /* the poller transmits: the backend is its alone */
		return;
	default: R(e, off) = v; return;
	}
}

void e1000_mmio(struct e1000 *e, uint64_t off, void *data, uint32_t len, bool is_write)
{
	uint32_t v = 0;
	unsigned idx = reg_find(off & ~3ull);

	CNT_ADD(e->reg_count[idx], 1);
	pthread_mutex_lock(&e->lock);
	/* Registers are dwords (SDM 13.1): other sizes, odd offsets and unknown ones are dropped.
	 */
	if (len != 4 || (off & 3) || idx == REG_OTHER || (is_write && (regs[idx].flags & RO))) {
		CNT_ADD(e->st.reg_bad, 1);
		if (!is_write)
			memset(data, 0, len > 8 ? 8 : len);
	} else if (is_write) {
		memcpy(&v, data, 4);
		reg_write(e, (uint32_t)off, v);
	} else {
		v = reg_read(e, (uint32_t)off, idx);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&e->lock);
}

/* BAR1: IOADDR (0) selects a register, IODATA (4) reads or writes it (SDM 13.2). */
static void io_access(struct e1000 *e, uint64_t off, void *data, uint32_t len, bool is_write)
{
	if (off == 0 && len == 4) {
		if (is_write) {
			uint32_t a;
			memcpy(&a, data, 4);
			e->ioaddr = a & (E1000_BAR0_SIZE - 4);
		} else {
			memcpy(data, &e->ioaddr, 4);
		}
		return;
	}
	if (off == 4 && len == 4) {
		e1000_mmio(e, e->ioaddr, data, 4, is_write);
		return;
	}
	CNT_ADD(e->st.reg_bad, 1);
	if (!is_write)
		memset(data, 0, len > 8 ? 8 : len);
}

static int bar_access(struct pci_dev *d, unsigned bar, uint64_t off, void *data, uint32_t len,
		      bool is_write)
{
	struct e1000 *e = d->opaque;
	if (bar == 0)
		e1000_mmio(e, off, data, len, is_write);
	else
		io_access(e, off, data, len, is_write);
	return 0;
}

/* ---- life cycle and the link ---- */

static void on_tx_wake(void *opaque, uint64_t count)
{
	e1000_tx(opaque);
}
static void on_tx_ready(void *opaque)
{
	e1000_tx(opaque);
}

static void on_resample(void *opaque, uint64_t count)
{
	struct e1000 *e = opaque;
	pthread_mutex_lock(&e->lock);
	irq_line_resampled(&e->intx);
	pthread_mutex_unlock(&e->lock);
}

int e1000_init(struct e1000 *e, const struct nic_env *env)
{
	struct nic handle = e->nic;
	memset(e, 0, sizeof(*e));
	e->nic = handle;
	e->tx_wake_fd = -1;
	e->intx = (struct irq_line){.gsi = -1, .efd = -1, .resample_efd = -1};
	e->mem = *env->mem;
	e->net = env->net;
	e->be = env->net ? env->net->be : NULL;
	pthread_mutex_init(&e->lock, NULL);
	pci_dev_init(&e->pci, "e1000", E1000_VENDOR, E1000_DEVICE, 0x020000, 3, E1000_VENDOR,
		     0x001e);
	e->pci.opaque = e;
	e->pci.bar_access = bar_access;
	int r = pci_dev_add_bar(&e->pci, 0, E1000_BAR0_SIZE, false);
	if (!r)
		r = pci_dev_add_bar(&e->pci, 1, E1000_BAR1_SIZE, true);
	if (r)
		return r;
	/* INTA on the pin firmware routed the slot to; without an irqchip it is not connected. */
	r = irq_line_init(&e->intx, env->irq, env->intx_pin);
	if (r)
		return r;
	e->pci.cfg[PCI_INTERRUPT_PIN] = 1;
	e->pci.cfg[PCI_INTERRUPT_LINE] = e->intx.gsi >= 0 ? (uint8_t)e->intx.gsi : 0xff;
	e->tx_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->tx_wake_fd < 0)
		return -errno;
	reset(e, env->mac);
	return 0;
}

int e1000_start(struct e1000 *e)
{
	const struct net_port port = {.rx = e1000_rx, .tx_ready = on_tx_ready, .opaque = e};
	int r = net_watch(e->net, e->tx_wake_fd, on_tx_wake, e);
	if (!r && e->intx.resample_efd >= 0)
		r = net_watch(e->net, e->intx.resample_efd, on_resample, e);
	if (!r)
		r = net_attach(e->net, &port);
	e->attached = true; /* watches may be in place even on failure: detach removes them */
	return r;
}

void e1000_exit(struct e1000 *e)
{
	if (e->attached)
		net_detach(e->net, e);
	e->attached = false;
	irq_line_exit(&e->intx);
	if (e->tx_wake_fd >= 0)
		close(e->tx_wake_fd);
	e->tx_wake_fd = -1;
	pthread_mutex_destroy(&e->lock);
}

/* ---- the model table's entry ---- */

static void read_stats(struct nic *nic, struct nic_readout *out)
{
	struct e1000 *e = (struct e1000 *)nic;
	struct e1000_stats x;
	counters_copy(&out->total, &e->st, sizeof(out->total));
	counters_copy(&x, &e->est, sizeof(x));
	pthread_mutex_lock(&e->lock);
	out->total.interrupts = e->intx.gsi >= 0 ? e->intx.raised : 0;
	pthread_mutex_unlock(&e->lock);
	out->total.reg_traps = __atomic_load_n(&e->pci.bar_exits, __ATOMIC_RELAXED);
	out->total.notify_events = 0; /* nothing of the e1000 ends inside KVM */
	E1000_COUNTERS(NIC_COUNTER_READ)
	/* The registers in the table's order, then "other". */
	for (unsigned n = 1; n <= REG_END && out->nr_regs < NIC_REGS_MAX; n++) {
		unsigned i = n % REG_END;
		out->regs[out->nr_regs++] = (struct nic_counter){
		    regs[i].name, __atomic_load_n(&e->reg_count[i], __ATOMIC_RELAXED)};
	}
}

NIC_MODEL_GLUE(e1000, pci)

const struct nic_model nic_model_e1000 = {
    .name = "emulated",
    .chip = "Intel 82540EM",
    .mode = NIC_MODE_EMULATED,
    NIC_MODEL_STEPS(e1000),
    .read = read_stats,
};
