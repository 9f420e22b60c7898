/* The emulated NIC: an Intel 82540EM ("e1000") as its driver sees it, from Intel's PCI/PCI-X
 * Family of Gigabit Ethernet Controllers Software Developer's Manual (8254x SDM): the register
 * file in BAR0 (and the IOADDR/IODATA window in BAR1), the Microwire EEPROM behind EECD and EERD,
 * the PHY behind MDIC, legacy transmit and receive descriptor rings, the receive address filter,
 * the interrupt cause/mask registers on an INTx line, and the statistics registers.
 *
 * Every register access traps to the VMM: that is the lesson of this card, so there is no
 * coalesced MMIO and no ioeventfd shortcut. A TDT write hands the transmit work to the network
 * side's poller (as virtio's kicks do), which also delivers received frames; register accesses
 * run on the vCPU thread. One lock serialises both. */
#ifndef VMSCOPE_E1000_H
#define VMSCOPE_E1000_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/guest_mem.h"
#include "vmm/irq.h"
#include "vmm/nic.h"
#include "vmm/pci/pci.h"

#include "vmm/e1000/regs.h"

#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_SUM   0xbaba /* words 0x00-0x3f add up to this (SDM 5.6.9) */
#define E1000_PHY_REGS	   32

struct e1000_desc {
	uint64_t addr;
	uint8_t
	    b[8]; /* tx: length, cso, cmd, sta, css, special; rx: length, csum, sta, err, special */
};

/* The e1000's own counters (the totals are struct nic_stats). */
#define E1000_COUNTERS(X)                                                                          \
	X(tx_descriptors, "descriptors consumed (TDH moved)")                                      \
	X(tx_context, "extended context descriptors (offload setup: nothing to send)")             \
	X(rx_descriptors, "descriptors filled (RDH moved)")                                        \
	X(rx_overrun, "RXO: frames that found no free descriptor")                                 \
	X(ring_bad_base, "TDBA/RDBA+LEN outside guest memory, or LEN not 128-aligned")             \
	X(ring_bad_index, "head or tail at or beyond the ring's end")                              \
	X(desc_bad_addr, "a buffer address+length outside guest memory")                           \
	X(eeprom_reads, "words read through EECD bit-banging or EERD")                             \
	X(phy_accesses, "MDIC operations")                                                         \
	X(resets, "CTRL.RST")
struct e1000_stats {
	E1000_COUNTERS(NIC_COUNTER_FIELD)
};

/* The register accesses counted by name (each one an exit); ranges count as one name. */
#define E1000_REG_NAMES 56

struct e1000 {
	struct nic nic; /* first: the model table's handle */
	struct pci_dev pci;
	struct guest_mem mem;
	struct net *net;
	struct net_backend *be;
	struct irq_line intx;
	int tx_wake_fd; /* the vCPU thread hands TDT writes to the poller through it */
	uint8_t mac[6]; /* the guest's, from the environment: the EEPROM's, and the link's port's */
	bool attached;
	pthread_mutex_t lock;

	uint32_t reg[E1000_BAR0_SIZE / 4];
	uint32_t ioaddr; /* BAR1's IOADDR */
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint16_t phy[E1000_PHY_REGS];
	struct {
		uint32_t val_in;
		unsigned bits_in;
		bool reading;
		int out_pos; /* the bit of the EEPROM (word * 16 + 15 - bit) on DO */
	} ee;
	uint64_t reg_count[E1000_REG_NAMES];
	struct nic_stats st;
	struct e1000_stats est;
};

/* env->mac goes into the EEPROM and RAL0/RAH0; env->intx_pin is its INTA. */
int e1000_init(struct e1000 *e, const struct nic_env *env);
/* Attaches to the link (frames arrive, TDT writes are served). */
int e1000_start(struct e1000 *e);
void e1000_exit(struct e1000 *e);
/* A register access at a BAR0 offset, as the guest's MMIO makes it (also for tests). */
void e1000_mmio(struct e1000 *e, uint64_t off, void *data, uint32_t len, bool is_write);
/* Transmits what TDH..TDT hold while the link has room (the poller runs it). */
void e1000_tx(struct e1000 *e);
/* A frame from the link (the backend's receive callback). */
void e1000_rx(void *opaque, const uint8_t *frame, uint32_t len);
/* The name a register access is counted under. */
const char *e1000_reg_name(uint32_t off);

#endif
