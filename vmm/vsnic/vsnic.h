/* The SR-IOV NIC (--nic vf): a physical function that keeps the control plane and its virtual
 * functions, whose data path is the card's own: descriptor rings in guest memory, a doorbell page
 * that is ordinary memory (a KVM memory slot: no exit), and the NIC engine, the card's silicon,
 * which polls the doorbells on the network side's thread, moves frames between the rings and the
 * link, writes completions and raises MSI-X through irqfd. The layout is in regs.h.
 *
 * Threads: config space and the trapping BARs run on the vCPU thread; the engine and received
 * frames on the poller's. One lock serialises them. */
#ifndef VMSCOPE_SRIOV_H
#define VMSCOPE_SRIOV_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "regs.h"
#include "vmm/guest_mem.h"
#include "vmm/nic.h"
#include "vmm/pci/pci.h"
#include "vmm/pci/pci_msix.h"
#include "vmm/pci/pci_sriov.h"

struct net;
struct net_backend;

/* What a VF's registers and rings hold, latched when the guest enables it. */
struct vsnic_ring {
	uint64_t base;
	uint32_t size;	   /* descriptors; 0: not set up */
	uint32_t head;	   /* the card's count of descriptors completed (free-running) */
	uint32_t bad_tail; /* the last out-of-range tail counted, so a stuck one counts once */
	bool bad_seen;
};

struct vsnic_vf {
	struct pci_dev pci;
	struct pci_msix msix;
	struct vsnic *card;
	unsigned n;
	bool present;  /* VF Enable made it and it is plugged, or it is assigned to a VM */
	bool assigned; /* a host-owned card's VF, given to a VM as a function of its own */
	uint8_t *db;   /* the doorbell page: VSNIC_DB_SIZE bytes of RAM, page aligned */
	/* The VM it serves: its memory (DMA), its interrupts (MSI-X) and ioeventfds (WAKE). */
	struct guest_mem mem;
	struct irq_router *irq;
	const struct accel *accel;
	int wake_fd;	/* an assigned VF's own WAKE eventfd; -1: the card's */
	uint64_t wakes; /* its signals (an assigned VF's) */
	uint32_t reg[VSNIC_VF_REGS_END / 4];
	bool ready;	   /* ENABLE latched a good setup: the engine serves it */
	bool tx_stalled;   /* the link had no room last time (counted once per stall) */
	uint64_t wake_gpa; /* where BAR2's WAKE register is, its ioeventfd assigned; 0: none */
	struct vsnic_ring tx, rx;
	/* Its share of the card's totals (the data path's counts, its register traps), also
	 * the PF's per-VF statistics registers. A VF that goes adds them to the card's. */
	struct nic_stats st;
};

/* The card's own counters (nic_readout extras). */
#define VSNIC_COUNTERS(X)                                                                          \
	X(vf_enables, "VFs brought up by the guest's VF Enable")                                   \
	X(engine_turns, "times the engine looked at the doorbells")                                \
	X(engine_sleeps, "times it went to sleep, ENGINE_IDLE set in every ready VF")              \
	X(engine_wakes, "WAKE writes that woke it (ioeventfd signals and trapped ones)")           \
	X(doorbell_bad, "tails more than a ring ahead of the head: ignored")                       \
	X(desc_bad, "descriptors with a buffer outside guest memory or a bad length")              \
	X(rx_too_small, "frames longer than the posted buffer: descriptor marked ERR")             \
	X(setup_bad, "ENABLE with rings outside guest memory or a bad size")                       \
	X(veb_frames, "frames from one VF to another, switched inside the card (never on the "     \
		      "link)")
struct vsnic_stats {
	VSNIC_COUNTERS(NIC_COUNTER_FIELD)
};
/* Also read out: vfs_ready, and the capability's sriov_refused and vf_errors (pci_sriov.h). */

/* The VFs a card keeps: the guest-owned card's TotalVFs (regs.h), or the host's (several VMs): a
 * VF for each VM, and one for its successor while a restart boots it before the old one goes. */
#define VSNIC_VFS_MAX 8

/* Descriptors the engine sends in one turn, a frame of each VF in turn (vsnic_engine). */
#define VSNIC_TX_TURN 32

/* Exits counted by where they trapped (the VF's setup and MSI-X, the PF's registers). */
enum {
	VSNIC_TRAP_VF_CTRL,
	VSNIC_TRAP_VF_SETUP,
	VSNIC_TRAP_VF_MSIX,
	VSNIC_TRAP_VF_OTHER,
	VSNIC_TRAP_PF_REGS,
	VSNIC_TRAP_PF_MSIX,
	VSNIC_TRAP_DOORBELL,
	VSNIC_TRAP_VF_WAKE,
	VSNIC_TRAPS,
};

struct vsnic {
	struct nic nic; /* first: the model table's handle */
	struct pci_dev pf;
	struct pci_msix pf_msix;
	struct pci_sriov sriov;
	struct vsnic_vf vf[VSNIC_VFS_MAX];
	unsigned tx_first; /* the VF the engine's next turn starts with (round robin) */
	bool host;	   /* owned by the host (vsnic_host_open), its PF on no VM's bus */
	/* The host's card: VMs' vCPU threads give VFs out and take them back at once (each VM's
	 * hot-plug work is its own thread's); this keeps the card's one place on the link. Never
	 * taken on the poller's thread, nor while holding lock. */
	pthread_mutex_t host_lock;
	uint8_t vf_mac[VSNIC_VFS_MAX][6]; /* the PF's table: what each VF is given */
	struct guest_mem mem;
	struct irq_router *irq;
	struct net *net;
	struct net_backend *be;
	const struct accel *accel; /* NULL: no ioeventfd (WAKE traps) */
	int wake_fd;		   /* every VF's WAKE ioeventfd; the poller watches it */
	bool attached, watching;
	pthread_mutex_t lock;
	uint64_t traps[VSNIC_TRAPS];
	struct nic_stats st; /* the card's own, and those of VFs that went */
	struct vsnic_stats est;
};

/* The PF with env->mac for VF 0 (VF n: the last byte + n), not yet on the link. */
int vsnic_init(struct vsnic *c, const struct nic_env *env);
/* Attaches to the link: frames arrive, the engine runs. */
int vsnic_start(struct vsnic *c);
void vsnic_exit(struct vsnic *c);
/* One turn of the engine over every ready VF's doorbells (the poller calls it; tests too):
 * the descriptors it completed. */
unsigned vsnic_engine(void *opaque);
/* The poller found no work for a while: true when the engine may sleep (ENGINE_IDLE is set in
 * every ready VF and no tail moved meanwhile), false when work came in the meantime. */
bool vsnic_idle(void *opaque);
/* A frame from the link: the card's switch hands it to the VF(s) its MAC names. */
void vsnic_rx(void *opaque, const uint8_t *frame, uint32_t len);
/* Accesses to the trapping BARs, as the guest's MMIO makes them (also for tests). */
void vsnic_pf_mmio(struct vsnic *c, uint64_t off, void *data, uint32_t len, bool is_write);
void vsnic_vf_mmio(struct vsnic_vf *vf, uint64_t off, void *data, uint32_t len, bool is_write);

/* A card the host owns, as on a host with an SR-IOV NIC (--vms with --nic vf): its PF is on no
 * VM's bus; the host's PF driver sets NumVFs to two for each of nvms VMs (its own and its
 * successor's during a restart, which boots the new VM before the old one goes) and VF Enable.
 * Each VM is then given a free VF as VFIO gives one, with the VM's MAC: a function of its own
 * with the VF's IDs, the doorbell page as BAR0 (a memory slot of that VM), BAR2's registers and
 * MSI-X trapping; the engine does that VF's DMA in that VM's memory and its MSI-X goes to that
 * VM. The card is on the link while a VF is assigned; VF-to-VF frames stay inside it. */
int vsnic_host_open(struct vsnic **out, struct net *net, unsigned nvms);
void vsnic_host_close(struct vsnic *c);
/* A free VF's function for the VM env describes (env->mac its MAC); *n is the VF, *pci is to
 * be plugged. -errno (-EBUSY: none free). */
int vsnic_assign(struct vsnic *c, const struct nic_env *env, unsigned *n, struct pci_dev **pci);
/* VF n's function is unplugged: the VF stops and its function goes. */
void vsnic_unassign(struct vsnic *c, unsigned n);
/* What VF n alone did: its share of the totals, its own counters. */
void vsnic_read_vf(struct vsnic *c, unsigned n, struct nic_readout *out);

/* engine.c, for vsnic.c: the WAKE register's ioeventfd follows the VF's BAR2. */
void vsnic_on_wake(void *opaque, uint64_t count);
void vsnic_on_vf_wake(void *opaque, uint64_t count); /* an assigned VF's own */
void vsnic_vf_bar_moved(struct pci_dev *d, unsigned bar, uint64_t addr);

#endif
