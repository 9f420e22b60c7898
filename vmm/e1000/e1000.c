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

/* ---- the register file ---- */

/* ---- the registers' read and write ops, indexed by register (QEMU's macreg_readops[]);
 * a register without one reads and writes its dword as it is ---- */

static uint32_t rd_icr(struct e1000 *e, uint32_t off) /* read to clear (SDM 13.4.17) */
{
	uint32_t v = R(e, E1000_ICR);
	R(e, E1000_ICR) = 0;
	update_irq(e);
	return v;
}

static uint32_t rd_eecd(struct e1000 *e, uint32_t off)
{
	return e1000_eecd_read(e);
}
static uint32_t rd_write_only(struct e1000 *e, uint32_t off)
{
	return 0;
}

/* Statistics clear on read; a 64-bit pair clears when its high half is read (SDM 13.7). */
static uint32_t rd_stats(struct e1000 *e, uint32_t off)
{
	uint32_t v = R(e, off);
	bool low_of_pair =
	    off == E1000_GORCL || off == E1000_GOTCL || off == E1000_TORL || off == E1000_TOTL;
	if (!low_of_pair)
		R(e, off) = 0;
	if (off == E1000_GORCH || off == E1000_GOTCH || off == E1000_TORH || off == E1000_TOTH)
		R(e, off - 4) = 0;
	return v;
}

static uint32_t (*const readops[REG_END])(struct e1000 *e, uint32_t off) = {
    [REG_ICR] = rd_icr,	       [REG_EECD] = rd_eecd,   [REG_ICS] = rd_write_only,
    [REG_IMC] = rd_write_only, [REG_STATS] = rd_stats,
};

static void wake_poller(struct e1000 *e)
{
	uint64_t one = 1;
	if (e->tx_wake_fd >= 0 && write(e->tx_wake_fd, &one, sizeof(one)) < 0) {
		/* counter saturated: the poller is due anyway */
	}
}

static void wr_ctrl(struct e1000 *e, uint32_t off, uint32_t v)
{
	if (v & E1000_CTRL_RST) {
		CNT_ADD(e->est.resets, 1);
		reset(e, NULL);
		return;
	}
	R(e, off) = v & ~E1000_CTRL_PHY_RST;
}

static void wr_eecd(struct e1000 *e, uint32_t off, uint32_t v)
{
	e1000_eecd_write(e, v);
}
static void wr_eerd(struct e1000 *e, uint32_t off, uint32_t v)
{
	e1000_eerd_write(e, v);
}
static void wr_mdic(struct e1000 *e, uint32_t off, uint32_t v)
{
	e1000_mdic_write(e, v);
}

static void wr_icr(struct e1000 *e, uint32_t off, uint32_t v) /* write 1 to clear */
{
	R(e, E1000_ICR) &= ~v;
	update_irq(e);
}

static void wr_ics(struct e1000 *e, uint32_t off, uint32_t v)
{
	e1000_raise(e, v & E1000_ICR_ALL);
}

static void wr_ims(struct e1000 *e, uint32_t off, uint32_t v)
{
	R(e, E1000_IMS) |= v & E1000_ICR_ALL;
	update_irq(e);
}

static void wr_imc(struct e1000 *e, uint32_t off, uint32_t v)
{
	R(e, E1000_IMS) &= ~v;
	update_irq(e);
}

static void wr_len(struct e1000 *e, uint32_t off, uint32_t v)
{
	R(e, off) = v & 0xfffffu;
} /* checked at use */
static void wr_index(struct e1000 *e, uint32_t off, uint32_t v)
{
	R(e, off) = v & 0xffff;
}

/* The poller transmits (the backend is its alone): e1000_mmio wakes it once the lock is let go. */
static void wr_tdt(struct e1000 *e, uint32_t off, uint32_t v)
{
	R(e, off) = v & 0xffff;
}

static void (*const writeops[REG_END])(struct e1000 *e, uint32_t off, uint32_t v) = {
    [REG_CTRL] = wr_ctrl, [REG_EECD] = wr_eecd, [REG_EERD] = wr_eerd, [REG_MDIC] = wr_mdic,
    [REG_ICR] = wr_icr,	  [REG_ICS] = wr_ics,	[REG_IMS] = wr_ims,   [REG_IMC] = wr_imc,
    [REG_RDLEN] = wr_len, [REG_TDLEN] = wr_len, [REG_RDH] = wr_index, [REG_RDT] = wr_index,
    [REG_TDH] = wr_index, [REG_TDT] = wr_tdt,
};

void e1000_mmio(struct e1000 *e, uint64_t off, void *data, uint32_t len, bool is_write)
{
	uint32_t v = 0;
	enum reg_id idx = reg_find(off & ~3ull);
	bool kick = false;

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
		if (writeops[idx])
			writeops[idx](e, (uint32_t)off, v);
		else
			R(e, off) = v;
		kick = idx == REG_TDT;
	} else {
		v = readops[idx] ? readops[idx](e, (uint32_t)off) : R(e, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&e->lock);
	/* Woken after the unlock: woken before, the poller could take the vCPU thread's core and
	 * then wait for the lock that thread holds, until the scheduler runs it again (under a CPU
	 * hog, a tick of 4 ms). */
	if (kick)
		wake_poller(e);
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
	memcpy(e->mac, env->mac, 6);
	reset(e, env->mac);
	return 0;
}

int e1000_start(struct e1000 *e)
{
	struct net_port port = {.rx = e1000_rx, .tx_ready = on_tx_ready, .opaque = e};
	memcpy(port.mac, e->mac, 6);
	const struct net_card_watch w[] = {{e->tx_wake_fd, on_tx_wake},
					   {e->intx.resample_efd, on_resample}};
	e->attached = true; /* watches may be in place even on failure: detach removes them */
	return net_attach_card(e->net, &port, w, 2);
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
