/* The microVM monitor: one VM, one vCPU thread, the built-in guest and its devices. */
#ifndef VMSCOPE_VMM_H
#define VMSCOPE_VMM_H
#include <stdbool.h>
#include <stdint.h>

#include "vmm/control.h"
#include "vmm/kvm/kvm.h"
#include "vmm/log.h"
#include "vmm/names.h"

/* Root ports with a hot-plug slot each: a card, and its successor during a switch. */
#define VMM_PORTS 2

/* Exit reasons counted by the VMM (KVM_EXIT_* is below 64 on every kernel we meet). */
#define VMM_EXIT_REASONS 64

/* Written only by VMM threads (relaxed atomics); read by anyone with vmm_counter(). */
struct vmm_counters {
	uint64_t userspace_exits;		/* KVM_RUN returns with an exit to handle */
	uint64_t exit_reason[VMM_EXIT_REASONS]; /* ... by KVM_EXIT_* reason */
	uint64_t pio_vmm;			/* exits workload: port writes the VMM served */
	uint64_t mmio_vmm;			/* exits workload: MMIO writes the VMM served */
	uint64_t pio_eventfd;			/* ioeventfd signals (port) KVM completed alone */
	uint64_t mmio_eventfd;			/* ioeventfd signals (MMIO) KVM completed alone */
	uint64_t hlt_op;			/* HLTs the guest measured */
	uint64_t hlt_idle;			/* HLTs the guest used to wait */
	uint64_t serial_tx_bytes;
	uint64_t io_unclaimed;	  /* accesses no device claimed (dropped) */
	uint64_t io_refused;	  /* accesses a device refused (dropped) */
	uint64_t vcpu_interrupts; /* KVM_RUN interrupted by the VMM (signal) */
	/* The translated CPU's own (zero on KVM, which answers these in the kernel): */
	uint64_t cpuid;			/* CPUIDs it counted before TCG ran them */
	uint64_t hypercall;		/* VMCALLs it answered */
	uint64_t tcg_blocks_translated; /* block addresses run for the first time */
	uint64_t tcg_blocks_run;
	uint64_t tcg_insns; /* instructions in the blocks run */
	uint64_t
	    coalesced; /* writes KVM queued without an exit (the serial port's), served later */
};

struct vmm_status {
	enum vmm_state state;
	char reason[160]; /* for VMM_FAILED: what happened, with RIP */
	uint64_t rip;
};

struct vmm_opts {
	enum cpu_mode cpu;	  /* CPU_AUTO: the best the host gives */
	const char *kvm_path;	  /* default /dev/kvm */
	const char *log_path;	  /* NULL: ring only */
	unsigned hang_timeout_ms; /* no guest heartbeat for this long = hung; default 2000 */
	enum nic_mode nic;	  /* the first network card (NIC_MODE_NONE: none), on the TAP link
				   * (root) or the loopback peer */
	struct net *net;	  /* the network side to attach the card to (it outlives the VM);
				   * NULL with nic: the VM opens one of its own */
	unsigned index;		  /* which VM of the link's (0: VM1): its MAC and IP (net.h) */
	uint32_t peer_ip;	  /* where its ping and tx go (host order); 0: the link's peer */
	struct vsnic *sriov;	  /* the host's SR-IOV card: the vf card is a VF of it (NULL: a
				   * card of the VM's own, its PF in the guest) */
};

/* The network side, for the probes. */
struct vmm_net {
	bool present;
	const char *model;   /* the card: "emulated", "virtio" (nic.h) */
	const char *chip;    /* what the guest sees: "Intel 82540EM", ... */
	bool engine;	     /* the network thread is the card's engine (nic_model.engine) */
	const char *backend; /* "tap" or "loopback" */
	const char *why;     /* why loopback, when it is */
	char netns[32];	     /* the link's namespace, for tools and captures */
};

/* The guest's ping timed where its card meets the link (vmm/net/backend.h), summed over n
 * round trips, in ns on one clock (the guest's TSC offset taken out): out, from the guest's
 * send stamp to its card handing the request to the link; link, from there to the reply coming
 * back from the link; taken, from the stamp to the card having taken the reply. */
struct vmm_ping_hops {
	uint64_t n;
	double out_ns, link_ns, taken_ns;
};

struct vmm;
struct net;
struct vsnic;

/* Creates the VM and loads the guest, ready to start. -errno; *why gets a sentence on failure. */
int vmm_create(struct vmm **out, const struct vmm_opts *opts, const char **why);
int vmm_start(struct vmm *vm);
/* Stops the vCPU thread and frees everything. */
void vmm_destroy(struct vmm *vm);

/* Session control: takes effect at the guest's next loop pass. */
void vmm_set_workload(struct vmm *vm, enum workload wl, uint32_t kind, uint32_t rate);
void vmm_pause(struct vmm *vm, bool pause);
/* Paced tx sends n datagrams back to back a period (0, 1: one at a time); the rate stays. */
void vmm_set_burst(struct vmm *vm, uint32_t n);
/* Payload bytes of the guest's ping and tx packets (clamped by the guest). */
void vmm_set_packet_size(struct vmm *vm, uint32_t bytes);
/* Eventfd accounting; call before reading counters. (The hang watchdog has its own thread.) */
void vmm_poll(struct vmm *vm);

void vmm_status(struct vmm *vm, struct vmm_status *st);
enum host_kind vmm_host(const struct vmm *vm);
enum cpu_mode vmm_cpu_mode(const struct vmm *vm);
/* KVM's in-kernel LAPIC is there (hardware and paravirt modes): HLT never reaches the VMM. */
bool vmm_irqchip(const struct vmm *vm);
uint64_t vmm_tsc_khz(const struct vmm *vm);
/* false: no ping timed yet, or the guest's TSC cannot be set against the host's. */
bool vmm_ping_hops(struct vmm *vm, struct vmm_ping_hops *out);
/* The guest's TSC can be set against the host's (its CPU backend told the offset). */
bool vmm_guest_tsc_known(const struct vmm *vm);
/* Why the CPU mode is not the one asked for (auto on a host without usable KVM), or NULL. */
const char *vmm_cpu_note(const struct vmm *vm);
int vmm_vcpu_fd(const struct vmm *vm);
/* The vCPU thread's id (0 until it runs). */
int vmm_vcpu_tid(const struct vmm *vm);
int vmm_vm_fd(const struct vmm *vm);
struct vlog *vmm_log(struct vmm *vm);
/* A consistent-enough copy of the guest's control page (counters are monotonic). */
void vmm_read_ctl(struct vmm *vm, struct ctl_page *out);
void vmm_read_counters(struct vmm *vm, struct vmm_counters *out);
void vmm_net_info(struct vmm *vm, struct vmm_net *out);
/* CPU time so far (ns): the vCPU thread (guest and VMM), the part the kernel accounted to the
 * guest (clock-tick resolution), and the network thread (the VMM's device work, or the NIC
 * engine's on --nic vf). */
struct vmm_cpu {
	uint64_t vcpu_ns, guest_ns, net_ns;
};
int vmm_read_cpu(struct vmm *vm, struct vmm_cpu *out);
/* n numbers from field first (1-based, as proc(5) counts them) of a /proc stat file: 0, or -1
 * (no such file, or fewer fields). */
int proc_stat_fields(const char *path, int first, unsigned n, uint64_t *out);
struct nic_readout;
struct link_counters;
/* 0, or -ENODEV when the VM has no NIC. */
int vmm_read_net(struct vmm *vm, struct nic_readout *dev, struct link_counters *peer);
/* The NIC seam's only door: builds the model's card and puts it in a root port's slot before
 * the guest starts (present at power-on), or unplugs and frees every card. -errno with *why. */
int vmm_attach_nic(struct vmm *vm, enum nic_mode mode, const char **why);
void vmm_detach_nic(struct vmm *vm);
/* The card the guest's traffic goes through (during a switch the old one, until it moved). */
enum nic_mode vmm_nic_mode(struct vmm *vm);

/* The live switch, make before break, as Linux's net_failover with a VF and a virtio standby:
 * the new card is hot-added behind the free root port; the guest's hot-plug driver brings it up
 * with the same MAC and IP (GEV_NIC_BOUND), drains the old card's tx, announces itself on the
 * new one (gratuitous ARP, and the link learns), drains the old card's rx, lets go of it
 * (GEV_NIC_MOVED) and only then does the VMM remove it. The vCPU thread does every step, so
 * the bus never changes under an access. A guest that does not bind the new card within the
 * bound leaves the old one working: the new one is removed again and the switch failed. */
enum vmm_switch_phase {
	SWITCH_NONE,
	SWITCH_ADDING,	/* asked; the vCPU thread hot-adds next */
	SWITCH_BINDING, /* the card is in the slot; the guest brings it up */
	SWITCH_MOVING,	/* the guest's driver is up; it moves its traffic */
	SWITCH_DONE,	/* the old card is gone */
	SWITCH_FAILED,	/* why says why; the old card carries on */
};

struct vmm_switch {
	uint32_t seq; /* switches asked for so far; this is the newest */
	enum vmm_switch_phase phase;
	enum nic_mode from, to;
	/* CLOCK_MONOTONIC ns: asked, and the old card removed or the switch given up (0: not yet)
	 */
	uint64_t ns_start, ns_end;
	uint64_t probe_ns; /* the guest's time from the slot event to its driver up */
	char why[160];
};
/* Starts a switch; 0, or -errno with *why (no card, same mode, one under way, VM not running). */
int vmm_switch_nic(struct vmm *vm, enum nic_mode to, const char **why);
void vmm_switch_read(struct vmm *vm, struct vmm_switch *out);
/* Resources the VM holds now, to prove a switch leaks none. */
struct vmm_resources {
	unsigned cards, memslots, ioeventfds, gsis;
};
void vmm_resources(struct vmm *vm, struct vmm_resources *out);

/* Where the NIC's registers are: the guest-physical ranges its BARs decode now. */
struct vmm_region {
	bool io; /* port I/O; else MMIO */
	uint64_t base, size;
};
#define VMM_NIC_REGIONS 32
unsigned vmm_nic_regions(struct vmm *vm, struct vmm_region *out);
/* Boot milestones, ns since vmm_create() began; 0 until reached. */
uint64_t vmm_ns_first_insn(struct vmm *vm);
uint64_t vmm_ns_banner(struct vmm *vm);
/* The boot's timeline, in order: each step of vmm_create (KVM_CREATE_VM, memory, ...), the vCPU
 * thread's first KVM_RUN, the guest's first instruction (its first exit), its banner. Each mark
 * is where its step ended, ns since vmm_create() began (0: not reached). How many. */
#define VMM_MARKS 12
struct vmm_mark {
	const char *name;
	uint64_t ns;
};
unsigned vmm_boot_marks(struct vmm *vm, struct vmm_mark *out);

#endif
