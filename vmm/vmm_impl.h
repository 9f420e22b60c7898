/* Inside the VMM: struct vmm and the calls its parts make of each other. vm.c creates and frees
 * the VM, vcpu.c runs the vCPU and the watchdog, slots.c holds the cards and the live switch,
 * readout.c answers the probes. Nothing outside vmm/ includes this. */
#ifndef VMSCOPE_VMM_IMPL_H
#define VMSCOPE_VMM_IMPL_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/vmm.h"
#include "vmm/accel.h"
#include "vmm/cpu.h"
#include "vmm/exitdev.h"
#include "vmm/guest_mem.h"
#include "vmm/iobus.h"
#include "vmm/irq.h"
#include "vmm/nic.h"
#include "vmm/pci/pci.h"
#include "vmm/pci/pcie_port.h"
#include "vmm/serial.h"

#define LOAD(x)	    __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Root ports at 00:04.0 and 00:05.0, their buses 1 and 2, as firmware would number them. */
#define PORT_SLOT_FIRST 4

struct vmm {
	struct vmm_opts opts;
	int kvm_fd, vm_fd, vcpu_fd, wake_efd;
	bool irqchip;	 /* KVM's in-kernel LAPIC: HLT stays in KVM, MSIs reach the guest */
	int command_gsi; /* an MSI that wakes a halted guest for a command, or -1 */
	const struct cpu_backend *cpu_be; /* what runs the guest (vmm/cpu.h) */
	void *cpu_state;		  /* the backend's own, when it keeps any */
	struct accel accel;		  /* the backend's ioeventfds and RAM slots */
	const char *cpu_note; /* why the CPU mode is not what was asked (auto without KVM) */
	char cpu_note_buf[400];
	struct kvm_run *run;
	size_t run_size;
	/* KVM's coalesced ring (in the run mapping), or NULL; drained under its lock from the vCPU
	 * thread at each exit and from the probes' poll. */
	struct kvm_coalesced_mmio_ring *coalesced;
	unsigned coalesced_max;
	pthread_mutex_t coalesced_lock;
	uint8_t *mem;
	struct ctl_page *ctl;
	enum host_kind host;
	enum cpu_mode cpu;
	uint64_t tsc_khz;
	/* The guest's TSC less the host's (its CPU backend says, once: KVM's offset, TCG's MSR). */
	int64_t tsc_offset;
	bool tsc_offset_known;

	struct iobus bus;
	struct pci_bus pci;
	struct irq_router irq;
	struct guest_mem gmem;
	struct net *netside; /* borrowed from opts, or our own */
	bool own_net;
	/* The cards: one per root port's slot, at most two at once (during a switch). Changed by
	 * the vCPU thread only (or before it runs); nic_lock keeps readers off while it does. */
	struct pcie_port port[VMM_PORTS];
	int nr_ports;
	struct nic *card[VMM_PORTS];
	int active;		  /* the port whose card carries the guest's traffic; -1: none */
	struct nic_stats retired; /* the totals of cards that were removed */
	pthread_mutex_t nic_lock;
	struct vmm_switch sw; /* under nic_lock */
	bool hp_work;	      /* the vCPU thread has hot-plug work (the switch moved on) */
	struct serial uart;
	struct exitdev exits;
	struct vlog log;
	struct vmm_counters cnt;

	pthread_t thread, watchdog;
	int vcpu_tid; /* for its guest time in /proc/self/task/TID/stat; 0 until it runs */
	bool thread_started, watchdog_started;
	int watchdog_efd;     /* ends the watchdog */
	pthread_mutex_t lock; /* status */
	struct vmm_status status;
	bool stop, paused, hang_suspected, in_guest;
	bool ready; /* the guest said GEV_READY: its drivers, hot-plug's too, are up */

	uint64_t watch_hb, watch_since_ns;
	uint64_t ns_t0, ns_first_run, ns_first_insn, ns_banner;
	struct vmm_mark marks[VMM_MARKS]; /* vmm_create's steps, as they ended */
	unsigned nr_marks;
};

/* vcpu.c */
void vcpu_set_state(struct vmm *vm, enum vmm_state s);
/* The guest is beyond help: record why, log it, and stop the vCPU loop. */
void vcpu_fail(struct vmm *vm, uint64_t rip, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Starts the vCPU thread (and the signal that interrupts its KVM_RUN), and the watchdog. */
int vcpu_start(struct vmm *vm);
int vcpu_start_watchdog(struct vmm *vm);
/* Forces the vCPU out of KVM_RUN (a signal and immediate_exit), to see new work. */
void vcpu_interrupt(struct vmm *vm);
/* Serves one exit: the run loop's, or a backend's hook that serves it inside its run. */
void vcpu_dispatch_exit(struct vmm *vm, const struct cpu_exit *x);
/* A write the backend queued instead of exiting (coalesced PIO/MMIO): to its device. */
void vcpu_dispatch_queued(struct vmm *vm, enum io_space space, uint64_t addr, uint8_t *data,
			  uint32_t len);
/* Wakes a halted guest. */
void vcpu_wake(struct vmm *vm);
/* An exception's mnemonic by vector ("#UD"), or NULL for a reserved one or one past 31. */
const char *vcpu_exception_name(unsigned vector);
/* The guest's port for its events (GEV_*). */
int vcpu_guest_event(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque);
int vcpu_console(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque);
void vcpu_serial_line(const char *line, void *opaque);

/* slots.c */
/* The vCPU thread's part of a switch, between two KVM_RUNs. */
void slots_hotplug_work(struct vmm *vm);
/* The guest's side of a switch, from its events (on the vCPU thread). */
void slots_switch_event(struct vmm *vm, uint32_t ev);
/* A switch past its bound (the watchdog asks; with nic_lock held). */
bool slots_switch_late(const struct vmm *vm, uint64_t now);
int slots_init_ports(struct vmm *vm, const char **why);

#endif
