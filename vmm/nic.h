/* The NIC seam: every network card model (emulated e1000, virtio-net, SR-IOV VF) is one entry of
 * one table, created from the same environment and read through the same statistics. The VMM's
 * vmm_attach_nic()/vmm_detach_nic() are the only way a card comes and goes, so a live switch is a
 * sequence of calls that exist. */
#ifndef VMSCOPE_NIC_H
#define VMSCOPE_NIC_H
#include <stdbool.h>
#include <stdint.h>

#include "vmm/control.h"
#include "vmm/guest_mem.h"

struct irq_router;
struct net;
struct pci_dev;

/* What a model is built from: the same for every card. */
struct nic_env {
	const struct guest_mem *mem; /* for DMA, through the bounded helpers only */
	struct irq_router *irq;      /* MSI-X vectors and INTx lines */
	int intx_pin;                /* the IOAPIC pin of the slot's INTA (firmware's choice) */
	int vm_fd;                   /* -1: no KVM (unit tests): no ioeventfd, no memory slots */
	struct net *net;             /* the session's link: attach, watch, send */
	uint8_t mac[6];              /* the guest's identity, whatever the card */
	uint32_t ip;
};

/* Totals every model keeps, named direction_what_unit; written by the model's threads with
 * relaxed atomics, read with nic_read(). */
struct nic_stats {
	uint64_t tx_packets, tx_bytes; /* guest -> link, frames the link took */
	uint64_t rx_packets, rx_bytes; /* link -> guest, frames put in guest buffers */
	uint64_t tx_dropped;       /* well-formed frames the link refused */
	uint64_t tx_backpressure;  /* times tx stopped taking descriptors: the link was full */
	uint64_t tx_malformed;     /* frames refused: bad address, length or layout */
	uint64_t rx_no_buffer;     /* frames dropped: the guest had no buffer posted */
	uint64_t rx_filtered;      /* frames the card's address filter dropped */
	uint64_t ring_errors;      /* descriptor rings the guest broke (counted, then dropped) */
	uint64_t interrupts;       /* MSI-X messages and INTx assertions sent */
	uint64_t reg_traps;        /* register accesses that reached the VMM (userspace exits) */
	uint64_t notify_events;    /* doorbell writes KVM completed alone (ioeventfd signals) */
	uint64_t reg_bad;          /* accesses to unknown registers, writes to read-only ones */
};

struct nic_counter {
	const char *name;
	uint64_t value;
};

#define NIC_EXTRA_MAX 16
#define NIC_REGS_MAX 56

/* Everything a model tells: the totals, its own counters (named, documented in its header), and
 * for a trapping model the accesses per register (what the e1000 lesson points at). */
struct nic_readout {
	const char *model; /* the table entry's name */
	struct nic_stats total;
	unsigned nr_extra, nr_regs;
	struct nic_counter extra[NIC_EXTRA_MAX];
	struct nic_counter regs[NIC_REGS_MAX];
};

struct nic;

struct nic_model {
	const char *name;  /* "emulated", "virtio", "vf": what --nic takes */
	const char *chip;  /* what the guest sees, for the log and the dashboard */
	enum nic_mode mode;
	/* The card has silicon of its own: while it is attached the network thread is its engine
	 * (net_port.poll), so that thread's CPU is the card's, not the VMM's. */
	bool engine;
	/* Builds the card and attaches it to env->net; the VMM then plugs nic->pci. -errno. */
	int (*create)(const struct nic_env *env, struct nic **out);
	/* Detaches from the link (no callback runs after it) and frees; the card is unplugged. */
	void (*destroy)(struct nic *n);
	void (*read)(struct nic *n, struct nic_readout *out);
	/* Its PCI functions (a PF and its VFs); NULL: only nic->pci. The pointers stay valid as
	 * long as the card, whether or not the function is on the bus now. */
	unsigned (*functions)(struct nic *n, struct pci_dev **out, unsigned max);
};

/* The part every card begins with. */
struct nic {
	const struct nic_model *model;
	struct pci_dev *pci;
};

const struct nic_model *nic_model_find(enum nic_mode mode);
const char *nic_mode_name(enum nic_mode mode); /* "none", "emulated", "virtio", "vf" */
int nic_mode_parse(const char *s, enum nic_mode *mode);
/* The list of models built in, for messages ("emulated, virtio"). */
const char *nic_mode_list(void);
void nic_read(struct nic *n, struct nic_readout *out);
unsigned nic_functions(struct nic *n, struct pci_dev **out, unsigned max);
/* Register exits of the card as the VMM sees them: traps plus ioeventfd doorbells. */
static inline uint64_t nic_exits(const struct nic_stats *s) { return s->reg_traps + s->notify_events; }
/* Adds one card's totals to a sum (the VM's over every card it had). */
void nic_stats_add(struct nic_stats *sum, const struct nic_stats *add);
/* For models: appends a named counter. */
void nic_extra(struct nic_readout *out, const char *name, uint64_t value);

extern const struct nic_model nic_model_e1000, nic_model_virtio, nic_model_vf;

#endif
