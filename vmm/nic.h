/* The NIC seam: every network card model (emulated e1000, virtio-net, SR-IOV VF) is one entry of
 * one table, created from the same environment and read through the same statistics. The VMM's
 * vmm_attach_nic()/vmm_detach_nic() are the only way a card comes and goes, so a live switch is a
 * sequence of calls that exist. */
#ifndef VMSCOPE_NIC_H
#define VMSCOPE_NIC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/control.h"
#include "vmm/guest_mem.h"
#include "vmm/names.h"

struct irq_router;
struct net;
struct pci_dev;
struct vsnic;

/* What a model is built from: the same for every card. */
struct nic_env {
	const struct guest_mem *mem; /* for DMA, through the bounded helpers only */
	struct irq_router *irq;	     /* MSI-X vectors and INTx lines */
	int intx_pin;		     /* the IOAPIC pin of the slot's INTA (firmware's choice) */
	const struct accel *accel;   /* NULL (unit tests): no ioeventfd, no RAM slots */
	struct net *net;	     /* the session's link: attach, watch, send */
	uint8_t mac[6];		     /* the guest's identity, whatever the card */
	uint32_t ip;
	/* The vf model where the host owns the SR-IOV card (several VMs): the VM is given one of
	 * its VFs (vsnic.h, vsnic_assign). NULL: a card of the VM's own. */
	struct vsnic *sriov;
};

/* Totals every model keeps, named once here (direction_what_unit): the field is the name in the
 * snapshot, the JSON and /metrics. Written by the model's threads with relaxed atomics, read
 * with nic_read(). */
#define NIC_STATS(X)                                                                               \
	X(tx_packets, "guest -> link, frames the link took")                                       \
	X(tx_bytes, "guest -> link, bytes of those frames")                                        \
	X(rx_packets, "link -> guest, frames put in guest buffers")                                \
	X(rx_bytes, "link -> guest, bytes of those frames")                                        \
	X(tx_dropped, "well-formed frames the link refused")                                       \
	X(tx_backpressure, "times tx stopped taking descriptors: the link was full")               \
	X(tx_malformed, "frames refused: bad address, length or layout")                           \
	X(rx_no_buffer, "frames dropped: the guest had no buffer posted")                          \
	X(rx_filtered, "frames the card's address filter dropped")                                 \
	X(ring_errors, "descriptor rings the guest broke (counted, then dropped)")                 \
	X(interrupts, "MSI-X messages and INTx assertions sent")                                   \
	X(reg_traps, "register accesses that reached the VMM (userspace exits)")                   \
	X(notify_events, "doorbell writes KVM completed alone (ioeventfd signals)")                \
	X(reg_bad, "accesses to unknown registers, writes to read-only ones")

struct nic_stats {
#define NIC_STAT_FIELD(name, doc) uint64_t name;
	NIC_STATS(NIC_STAT_FIELD)
#undef NIC_STAT_FIELD
};

struct nic_counter {
	const char *name;
	uint64_t value;
};

#define NIC_STATS_NR (sizeof(struct nic_stats) / sizeof(uint64_t))
/* The totals by name, in NIC_STATS order; out holds NIC_STATS_NR. */
void nic_stats_named(const struct nic_stats *s, struct nic_counter *out);

#define NIC_EXTRA_MAX 16
#define NIC_REGS_MAX  56

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
	const char *name; /* "emulated", "virtio", "vf": what --nic takes */
	const char *chip; /* what the guest sees, for the log and the dashboard */
	enum nic_mode mode;
	/* The card has silicon of its own: while it is attached the network thread is its engine
	 * (net_port.poll), so that thread's CPU is the card's, not the VMM's. */
	bool engine;
	/* The card's struct (struct nic first), built by nic_create() in three steps: init sets
	 * its registers and nic->pci, start attaches it to env->net, exit undoes whatever of the
	 * two was done (no callback runs after it). */
	size_t size;
	int (*init)(struct nic *n, const struct nic_env *env);
	int (*start)(struct nic *n);
	void (*exit)(struct nic *n);
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
/* Builds a card of the model and attaches it to env->net; the VMM then plugs nic->pci. -errno. */
int nic_create(const struct nic_model *model, const struct nic_env *env, struct nic **out);
/* Detaches the card from the link and frees it; it is unplugged already. */
void nic_destroy(struct nic *n);
void nic_read(struct nic *n, struct nic_readout *out);
unsigned nic_functions(struct nic *n, struct pci_dev **out, unsigned max);
/* Register exits of the card as the VMM sees them: traps plus ioeventfd doorbells. */
static inline uint64_t nic_exits(const struct nic_stats *s)
{
	return s->reg_traps + s->notify_events;
}
/* Adds one card's totals to a sum (the VM's over every card it had). */
void nic_stats_add(struct nic_stats *sum, const struct nic_stats *add);
/* For models: appends a named counter. */
void nic_extra(struct nic_readout *out, const char *name, uint64_t value);

/* A model's own counters are named once, as an X-macro list X(name, "what it counts"): these
 * make its struct's fields and its readout's lines from it. */
#define NIC_COUNTER_FIELD(name, doc) uint64_t name;
#define NIC_COUNTER_READ(name, doc)  nic_extra(out, #name, x.name);

/* A model's three steps for nic_create(), from its own TYPE_init/_start/_exit on struct TYPE
 * (struct nic first, its PCI function in the field pci_field). Use once per model, then
 * NIC_MODEL_STEPS(TYPE) in its struct nic_model. */
#define NIC_MODEL_GLUE(type, pci_field)                                                            \
	static int type##_model_init(struct nic *n, const struct nic_env *env)                     \
	{                                                                                          \
		n->pci = &((struct type *)n)->pci_field;                                           \
		return type##_init((struct type *)n, env);                                         \
	}                                                                                          \
	static int type##_model_start(struct nic *n)                                               \
	{                                                                                          \
		return type##_start((struct type *)n);                                             \
	}                                                                                          \
	static void type##_model_exit(struct nic *n)                                               \
	{                                                                                          \
		type##_exit((struct type *)n);                                                     \
	}
#define NIC_MODEL_STEPS(type)                                                                      \
	.size = sizeof(struct type), .init = type##_model_init, .start = type##_model_start,       \
	.exit = type##_model_exit

extern const struct nic_model nic_model_e1000, nic_model_virtio, nic_model_vf;
/* A VF of the host's SR-IOV card, assigned (nic_env.sriov): what --nic vf is with several VMs. */
extern const struct nic_model nic_model_vf_assigned;

#endif
