/* The VM: created in named steps (KVM, memory, vCPU, devices, slots), started, controlled, freed.
 */
#define _GNU_SOURCE
#include "vmm/vmm_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmm/clock.h"
#include "vmm/counters.h"
#include "vmm/net/net.h"
#include "vmm/nic.h"
#include "vmm/kvm/boot.h"

/* The network side: borrowed from the session, or (tests, benchmarks) our own: the TAP link if
 * we may build one, else the loopback peer. */
static int open_net(struct vmm *vm, const char **why)
{
	vm->netside = vm->opts.net;
	if (!vm->netside) {
		int r = net_open(&vm->netside, why);
		if (r)
			return r;
		vm->own_net = true;
	}
	if (vm->netside->why)
		vlog(&vm->log, "vmm: %s; using the in-process loopback peer", vm->netside->why);
	vm->ctl->peer_ip = vm->opts.peer_ip ? vm->opts.peer_ip : LINK_PEER_IP;
	vm->ctl->guest_ip = net_guest_ip(vm->opts.index);
	return 0;
}

/* Which CPU mode the request resolves to on this host, or -EINVAL with *why. */
static int resolve_cpu_mode(struct vmm *vm, const char **why)
{
	enum cpu_mode want = vm->opts.cpu;
	bool pvm = vm->host == HOST_PVM;

	if (want == CPU_AUTO)
		want = pvm ? CPU_PARAVIRT : CPU_HARDWARE;
	if (want == CPU_EMULATED && !pvm) {
		*why = "--cpu emulated needs a kvm_pvm host; this host's KVM is hardware-assisted "
		       "(--cpu translated emulates on any host)";
		return -EINVAL;
	}
	if (want == CPU_HARDWARE && pvm) {
		*why = "--cpu hardware needs VT-x or AMD-V; this host's KVM is kvm_pvm (use auto)";
		return -EINVAL;
	}
	vm->cpu = want;
	return 0;
}

/* Why KVM_CREATE_VM failed, as a sentence that outlives the VM (the error path frees it). */
static const char *create_vm_strerror(int e)
{
	switch (e) {
	case ENOMEM: return "KVM refused to create the microVM (Cannot allocate memory)";
	case EBUSY: return "KVM refused to create the microVM (Device or resource busy)";
	case EAGAIN: return "KVM refused to create the microVM (Resource temporarily unavailable)";
	case ENOSPC: return "KVM refused to create the microVM (No space left on device)";
	case EPERM: return "KVM refused to create the microVM (Operation not permitted)";
	case EACCES: return "KVM refused to create the microVM (Permission denied)";
	case EINVAL: return "KVM refused to create the microVM (Invalid argument)";
	default: return "KVM refused to create the microVM";
	}
}

static struct vmm *vm_alloc(const struct vmm_opts *opts)
{
	struct vmm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->ns_t0 = mono_ns();
	vm->opts = *opts;
	if (!vm->opts.kvm_path)
		vm->opts.kvm_path = "/dev/kvm";
	if (!vm->opts.hang_timeout_ms)
		vm->opts.hang_timeout_ms = 2000;
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->wake_efd = vm->watchdog_efd = vm->command_gsi =
	    -1;
	vm->exits.pio_efd = vm->exits.mmio_efd = -1;
	vm->mem = MAP_FAILED;
	vm->run = MAP_FAILED;
	cpu_backend_use(vm, &kvm_cpu);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->nic_lock, NULL);
	pthread_mutex_init(&vm->coalesced_lock, NULL);
	vm->active = -1;
	return vm;
}

static int create_kvm_vm(struct vmm *vm, const char **why)
{
	int r = vm->kvm_fd = kvm_open(vm->opts.kvm_path);
	if (r < 0) {
		*why = kvm_open_strerror(r);
		return r;
	}
	/* KVM tears a VM down asynchronously (irqfd shutdown, RCU): right after another VM went
	 * away a nested host may refuse for a moment. Try again for up to a second. */
	for (int tries = 0; (vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0)) < 0 && tries < 20;
	     tries++) {
		if (errno != ENOMEM && errno != EAGAIN && errno != EBUSY && errno != ENOSPC &&
		    errno != EINTR)
			break;
		usleep(50000);
	}
	if (vm->vm_fd < 0) {
		int e = errno;
		*why = create_vm_strerror(e);
		return -e;
	}
	return 0;
}

/* Guest memory: one anonymous mapping, KVM's memory slot 0, the control page inside it. Fresh
 * for every boot, so zero where the image does not reach: the guest's .bss relies on it. */
static int map_memory(struct vmm *vm, const char **why)
{
	vm->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		*why = "the guest's memory could not be mapped";
		return -errno;
	}
	vm->ctl = (struct ctl_page *)(vm->mem + GPA_CTL);
	struct kvm_userspace_memory_region region = {
	    .slot = 0,
	    .guest_phys_addr = 0,
	    .memory_size = GUEST_MEM_SIZE,
	    .userspace_addr = (uintptr_t)vm->mem,
	};
	if (vm->vm_fd >= 0 && ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		*why = "KVM refused the guest's memory";
		return -errno;
	}
	vm->gmem = (struct guest_mem){vm->mem, GUEST_MEM_SIZE, GPA_DMA_FLOOR};
	return 0;
}

static int create_vcpu(struct vmm *vm, const char **why)
{
	/* The irqchip must exist before the vCPU. Not in emulated mode: without the VIF page
	 * kvm_pvm delivers no interrupt, so a guest halted in KVM would never wake. */
	if (vm->opts.cpu != CPU_EMULATED) {
		if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
			*why = "KVM refused to create the in-kernel interrupt controller";
			return -errno;
		}
		vm->irqchip = true;
	}
	*why = "KVM refused to create the microVM's vCPU";
	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return -errno;
	int mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		return mmap_size < 0 ? -errno : -EIO;
	vm->run_size = (size_t)mmap_size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED)
		return -errno;
	*why = NULL;
	return 0;
}

/* The host's kind and the CPU mode on it, then the guest image and the vCPU's registers. */
static int load_guest(struct vmm *vm, const char **why)
{
	vm->host = kvm_detect_host(vm->vcpu_fd);
	int r = resolve_cpu_mode(vm, why);
	if (r)
		return r;
	vm->tsc_khz = kvm_tsc_khz(vm->vcpu_fd, vm->host);
	if (!vm->tsc_khz) {
		*why = "KVM does not report the guest's TSC frequency";
		return -ENOTSUP;
	}
	vm->tsc_offset_known = kvm_tsc_offset(vm->vcpu_fd, &vm->tsc_offset) == 0;
	r = guest_load(vm->mem, guest_hypercall_insn(vm->host), vm->tsc_khz);
	if (r) {
		*why = "the built-in guest image does not fit guest memory";
		return r;
	}
	r = guest_vcpu_setup(vm->kvm_fd, vm->vcpu_fd, vm->host, vm->cpu, why);
	if (r)
		return r;
	vm->ctl->irq_mode = !vm->irqchip ? IRQ_NONE : vm->host == HOST_PVM ? IRQ_VIF : IRQ_STI;
	/* On hardware KVM the paravirt mode is the same guest using KVM's PV interfaces. */
	vm->ctl->pv_wanted = vm->cpu == CPU_PARAVIRT && vm->host != HOST_PVM;
	return 0;
}

/* The serial port, the guest's event and console ports, the PCI bus, the exits workload's devices
 * and the interrupt router with the command doorbell's MSI. */
static int init_devices(struct vmm *vm, const char **why)
{
	int r;
	serial_init(&vm->uart, vcpu_serial_line, vm);
	vm->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vm->watchdog_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->wake_efd < 0 || vm->watchdog_efd < 0) {
		*why = "the VMM's eventfds could not be created";
		return -errno;
	}
	r = iobus_register(&vm->bus, IO_PIO, PORT_SERIAL, 8, serial_io, &vm->uart);
	/* The console's bytes need no exit each: KVM queues them, the VMM reads them in order
	 * at the next exit or poll (where KVM cannot, each one exits as before). */
	if (!r && vm->vm_fd >= 0)
		accel_coalesce(&vm->accel, IO_PIO, PORT_SERIAL, 1);
	if (!r)
		r = iobus_register(&vm->bus, IO_PIO, PORT_GUEST_EVENT, 4, vcpu_guest_event, vm);
	if (!r)
		r = iobus_register(&vm->bus, IO_PIO, PORT_CONSOLE, 4, vcpu_console, vm);
	if (!r)
		r = pci_bus_init(&vm->pci, &vm->bus, &vm->accel);
	if (r) {
		*why = "the guest's port and MMIO ranges overlap";
		return r;
	}
	r = exitdev_init(&vm->exits, &vm->accel, &vm->bus, &vm->cnt);
	if (r) {
		*why = "the CPU backend refused the guest's ioeventfds";
		return r;
	}
	irq_router_init(&vm->irq, vm->vm_fd, vm->irqchip);
	if (vm->irqchip) {
		vm->command_gsi = irq_alloc(&vm->irq);
		r = vm->command_gsi < 0
			? vm->command_gsi
			: irq_set_msi(&vm->irq, vm->command_gsi, GPA_LAPIC, VEC_COMMAND, true);
		if (r) {
			*why = "KVM refused the MSI route of the guest's doorbell interrupt";
			return r;
		}
	}
	return 0;
}

/* The root ports the cards come and go through, the network side and the first card. */
static int init_network(struct vmm *vm, const char **why)
{
	if (vm->opts.nic == NIC_MODE_NONE)
		return 0;
	int r = slots_init_ports(vm, why);
	if (!r)
		r = open_net(vm, why);
	if (!r)
		r = vmm_attach_nic(vm, vm->opts.nic, why);
	return r;
}

/* No KVM: the translated CPU over the same memory, devices and network. */
static int create_translated(struct vmm *vm, const char **why)
{
	vm->cpu = CPU_TRANSLATED;
	if (vm->host == HOST_UNKNOWN)
		vm->host = kvm_host_kind(vm->opts.kvm_path);
	return translated_cpu_create(vm, why);
}

/* --cpu auto where KVM is absent or refused: the translated CPU, and one sentence saying so. */
static int kvm_or_translated(struct vmm *vm, const char **why)
{
	int r = create_kvm_vm(vm, why);
	if (!r || vm->opts.cpu != CPU_AUTO)
		return r;
	snprintf(vm->cpu_note_buf, sizeof(vm->cpu_note_buf),
		 "no KVM here (%s): the guest runs on the translated CPU (binary translation) "
		 "instead",
		 *why);
	vm->cpu_note = vm->cpu_note_buf;
	vlog(&vm->log, "vmm: %s", vm->cpu_note);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->kvm_fd = -1;
	vm->host = HOST_NONE;
	*why = NULL;
	return 0;
}

/* A step of vmm_create ended: the boot's timeline (vmm_boot_marks). */
static void mark(struct vmm *vm, const char *name)
{
	if (vm->nr_marks < VMM_MARKS)
		vm->marks[vm->nr_marks++] = (struct vmm_mark){name, mono_ns() - vm->ns_t0};
}

struct vmm_step {
	int (*fn)(struct vmm *, const char **);
	const char *name;
};

int vmm_create(struct vmm **out, const struct vmm_opts *opts, const char **why)
{
	static const struct vmm_step kvm_steps[] = {
	    {map_memory, "memory"},    {create_vcpu, "vCPU"},	  {load_guest, "guest image"},
	    {init_devices, "devices"}, {init_network, "network"}, {NULL, NULL},
	};
	static const struct vmm_step translated_steps[] = {
	    {map_memory, "memory"},
	    {create_translated, "translated CPU"},
	    {init_devices, "devices"},
	    {init_network, "network"},
	    {NULL, NULL},
	};
	struct vmm *vm;
	int r;

	*why = NULL;
	if (opts->index >= NET_VMS_MAX) {
		*why = "no room for another VM on the link";
		return -EINVAL;
	}
	vm = vm_alloc(opts);
	if (!vm)
		return -ENOMEM;
	r = vlog_init(&vm->log, opts->log_path);
	if (r) {
		*why = "the log file could not be opened for writing";
		goto err;
	}
	if (opts->cpu != CPU_TRANSLATED) {
		r = kvm_or_translated(vm, why);
		if (r)
			goto err;
		mark(vm, vm->vm_fd >= 0 ? "KVM_CREATE_VM" : "no KVM");
	}
	for (const struct vmm_step *step = vm->vm_fd >= 0 ? kvm_steps : translated_steps; step->fn;
	     step++) {
		r = step->fn(vm, why);
		if (r)
			goto err;
		mark(vm, step->name);
	}
	vlog(&vm->log, "vmm: host %s, cpu mode %s, tsc %llu kHz", host_kind_name(vm->host),
	     cpu_mode_name(vm->cpu), (unsigned long long)vm->tsc_khz);
	*out = vm;
	return 0;
err:
	vmm_destroy(vm);
	return r < 0 ? r : -EIO;
}

static void drive_peer(struct vmm *vm);

int vmm_start(struct vmm *vm)
{
	int r = vcpu_start(vm);
	if (r)
		return r;
	if (vm->cpu_be->start) /* after the vCPU: the guest boots meanwhile */
		vm->cpu_be->start(vm);
	drive_peer(vm);
	return vcpu_start_watchdog(vm);
}

void vmm_destroy(struct vmm *vm)
{
	if (!vm)
		return;
	if (vm->watchdog_started) {
		uint64_t one = 1;
		if (write(vm->watchdog_efd, &one, sizeof(one)) < 0) {
			/* cannot fail on a fresh eventfd */
		}
		pthread_join(vm->watchdog, NULL);
		vm->watchdog_started = false;
	}
	if (vm->thread_started) {
		STORE(vm->stop, true);
		vcpu_wake(vm);
		vcpu_interrupt(vm);
		pthread_join(vm->thread, NULL);
		vm->thread_started = false;
	}
	if (vm->cpu_be->poll) /* the guest's last words */
		vm->cpu_be->poll(vm);
	vmm_detach_nic(vm);
	for (int p = 0; p < vm->nr_ports; p++)
		pcie_port_exit(&vm->port[p]);
	if (vm->own_net)
		net_close(vm->netside);
	if (vm->wake_efd >= 0) { /* init_devices ran */
		exitdev_exit(&vm->exits, &vm->accel);
		irq_router_exit(&vm->irq);
	}
	if (vm->cpu_be->destroy)
		vm->cpu_be->destroy(vm);
	if (vm->run != MAP_FAILED)
		munmap(vm->run, vm->run_size);
	if (vm->mem != MAP_FAILED)
		munmap(vm->mem, GUEST_MEM_SIZE);
	if (vm->wake_efd >= 0)
		close(vm->wake_efd);
	if (vm->watchdog_efd >= 0)
		close(vm->watchdog_efd);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vlog_close(&vm->log);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->nic_lock);
	pthread_mutex_destroy(&vm->coalesced_lock);
	free(vm);
}

/* rx and echo are driven from the far end of the link, each VM's towards its own address;
 * VM1's vCPU thread is the VM's side of the CPUs while the peer drives it (link.h), so this runs
 * again once it exists. */
static void drive_peer(struct vmm *vm)
{
	const struct ctl_page *c = vm->ctl;
	uint32_t wl = LOAD(c->workload);
	if (!vm->netside)
		return;
	struct link_target t = {.what = wl == WL_RX || wl == WL_BOTH ? LINK_FLOOD
					: wl == WL_ECHO		     ? LINK_ECHO
								     : LINK_QUIET,
				.rate = LOAD(c->rate),
				.size = LOAD(c->pkt_size),
				.burst = LOAD(c->burst)};
	net_drive(vm->netside, vm->opts.index, t, vm->thread_started ? &vm->thread : NULL);
}

void vmm_set_workload(struct vmm *vm, enum workload wl, uint32_t kind, uint32_t rate)
{
	struct ctl_page *c = vm->ctl;
	STORE(c->workload, (uint32_t)wl);
	if (wl == WL_FAULT)
		STORE(c->fault_kind, kind);
	else
		STORE(c->exit_kind, kind);
	STORE(c->rate, rate);
	__atomic_fetch_add(&c->cmd_seq, 1, __ATOMIC_RELEASE);
	vcpu_wake(vm);
	drive_peer(vm);
}

void vmm_set_burst(struct vmm *vm, uint32_t n)
{
	STORE(vm->ctl->burst, n);
}

void vmm_set_packet_size(struct vmm *vm, uint32_t bytes)
{
	STORE(vm->ctl->pkt_size, bytes ? bytes : 64);
}

void vmm_pause(struct vmm *vm, bool pause)
{
	STORE(vm->paused, pause);
	if (pause)
		vcpu_interrupt(vm);
	else /* a guest that has not said it is ready is still booting */
		vcpu_set_state(vm, LOAD(vm->ready) ? VMM_RUNNING : VMM_BOOTING);
	vcpu_wake(vm);
}

void vmm_poll(struct vmm *vm)
{
	if (vm->cpu_be->poll)
		vm->cpu_be->poll(vm);
	exitdev_poll(&vm->exits);
	STORE(vm->cnt.serial_tx_bytes, LOAD(vm->uart.tx_bytes));
}
