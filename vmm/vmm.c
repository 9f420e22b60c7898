/* The microVM monitor: VM and vCPU setup, the vCPU loop, the watchdog, session control. */
#define _GNU_SOURCE
#include "vmm.h"

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

#include "boot.h"
#include "clock.h"
#include "counters.h"
#include "exitdev.h"
#include "iobus.h"
#include "irq.h"
#include "net/net.h"
#include "nic.h"
#include "pci.h"
#include "pcie_port.h"
#include "serial.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define IDLE_HALT_MAX_NS 250000000ull

struct vmm {
	struct vmm_opts opts;
	int kvm_fd, vm_fd, vcpu_fd, wake_efd;
	bool irqchip;     /* KVM's in-kernel LAPIC: HLT stays in KVM, MSIs reach the guest */
	int doorbell_gsi; /* an MSI that wakes a halted guest for a command, or -1 */
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
	struct ctl_page *ctl;
	enum host_kind host;
	enum cpu_mode cpu;
	uint64_t tsc_khz;

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
	int active; /* the port whose card carries the guest's traffic; -1: none */
	struct nic_stats retired; /* the totals of cards that were removed */
	pthread_mutex_t nic_lock;
	struct vmm_switch sw; /* under nic_lock */
	bool hp_work;         /* the vCPU thread has hot-plug work (the switch moved on) */
	struct serial uart;
	struct exitdev exits;
	struct vlog log;
	struct vmm_counters cnt;

	pthread_t thread, watchdog;
	int vcpu_tid; /* for its guest time in /proc/self/task/TID/stat; 0 until it runs */
	bool thread_started, watchdog_started;
	int watchdog_efd; /* ends the watchdog */
	pthread_mutex_t lock; /* status */
	struct vmm_status status;
	bool stop, paused, hang_suspected, in_guest;

	uint64_t watch_hb, watch_since_ns;
	uint64_t ns_t0, ns_created, ns_first_insn, ns_banner;
};

static void set_state(struct vmm *vm, enum vmm_state s)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->status.state != VMM_FAILED)
		vm->status.state = s;
	pthread_mutex_unlock(&vm->lock);
}

static uint64_t guest_rip(struct vmm *vm)
{
	struct kvm_regs r;
	return ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0 ? 0 : r.rip;
}

/* The guest is beyond help: record why, log it, and stop the vCPU loop. */
static void fail(struct vmm *vm, uint64_t rip, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct vmm *vm, uint64_t rip, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&vm->lock);
	va_start(ap, fmt);
	vsnprintf(vm->status.reason, sizeof(vm->status.reason), fmt, ap);
	va_end(ap);
	vm->status.state = VMM_FAILED;
	vm->status.rip = rip;
	pthread_mutex_unlock(&vm->lock);
	vlog(&vm->log, "vmm: %s", vm->status.reason);
	STORE(vm->stop, true);
}

static void serial_line(const char *line, void *opaque)
{
	struct vmm *vm = opaque;
	if (!vm->ns_banner && !strncmp(line, "vmscope guest", 13))
		STORE(vm->ns_banner, mono_ns() - vm->ns_t0);
	vlog(&vm->log, "guest: %s", line);
}

static const char *const exception_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
	"#NP", "#SS", "#GP", "#PF", "?15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

static void switch_event(struct vmm *vm, uint32_t ev);

static int guest_event(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct vmm *vm = opaque;
	uint32_t ev = 0;
	struct ctl_page *c = vm->ctl;

	(void)addr;
	if (!is_write || len != 4)
		return -EINVAL;
	memcpy(&ev, data, 4);
	switch (ev) {
	case GEV_FIRST_INSN:
		if (!vm->ns_first_insn)
			STORE(vm->ns_first_insn, mono_ns() - vm->ns_t0);
		break;
	case GEV_READY:
		set_state(vm, vm->paused ? VMM_PAUSED : VMM_RUNNING);
		break;
	case GEV_EXCEPTION: {
		uint32_t v = c->exc_vector & 31;
		const char *name = exception_names[v] ? exception_names[v] : "reserved";
		fail(vm, c->exc_rip, "guest took exception %s (vector %u, error %#llx) at RIP %#llx",
		     name, v, (unsigned long long)c->exc_error, (unsigned long long)c->exc_rip);
		break;
	}
	case GEV_ASSERT:
		fail(vm, guest_rip(vm), "guest assertion failed at vmm/guest/main.c:%u",
		     c->assert_line);
		break;
	case GEV_NIC_BOUND:
	case GEV_NIC_MOVED:
		switch_event(vm, ev);
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static void count_io(struct vmm *vm, int r)
{
	if (r == -ENOENT)
		CNT_ADD(vm->cnt.io_unclaimed, 1);
	else if (r < 0)
		CNT_ADD(vm->cnt.io_refused, 1);
}

/* An idle HLT: sleep until the guest's deadline or a command, whichever comes first. */
static void idle_halt(struct vmm *vm)
{
	uint64_t ns = LOAD(vm->ctl->halt_ns);
	if (ns > IDLE_HALT_MAX_NS)
		ns = IDLE_HALT_MAX_NS;
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};
	struct pollfd p = {.fd = vm->wake_efd, .events = POLLIN};
	uint64_t drain;
	if (ppoll(&p, 1, &ts, NULL) > 0 && read(vm->wake_efd, &drain, sizeof(drain)) < 0)
		drain = 0;
}

static void handle_exit(struct vmm *vm)
{
	struct kvm_run *run = vm->run;
	unsigned reason = run->exit_reason;

	CNT_ADD(vm->cnt.userspace_exits, 1);
	CNT_ADD(vm->cnt.exit_reason[reason < VMM_EXIT_REASONS ? reason : 0], 1);
	switch (reason) {
	case KVM_EXIT_IO: {
		uint8_t *p = (uint8_t *)run + run->io.data_offset;
		for (uint32_t i = 0; i < run->io.count; i++, p += run->io.size)
			count_io(vm, iobus_dispatch(&vm->bus, IO_PIO, run->io.port, p, run->io.size,
						    run->io.direction == KVM_EXIT_IO_OUT));
		break;
	}
	case KVM_EXIT_MMIO:
		count_io(vm, iobus_dispatch(&vm->bus, IO_MMIO, run->mmio.phys_addr, run->mmio.data,
					    run->mmio.len > 8 ? 8 : run->mmio.len,
					    run->mmio.is_write));
		break;
	case KVM_EXIT_HLT:
		if (LOAD(vm->ctl->halt_is_idle)) {
			CNT_ADD(vm->cnt.hlt_idle, 1);
			idle_halt(vm);
		} else {
			CNT_ADD(vm->cnt.hlt_op, 1);
		}
		break;
	case KVM_EXIT_SHUTDOWN: {
		/* On AMD, KVM resets the vCPU on shutdown: RIP then reads as the reset vector. */
		uint64_t rip = guest_rip(vm);
		if (rip == 0xfff0)
			fail(vm, 0, "guest triple-faulted (shutdown); KVM reset the vCPU, so its RIP is lost");
		else
			fail(vm, rip, "guest triple-faulted (shutdown) at RIP %#llx", (unsigned long long)rip);
		break;
	}
	case KVM_EXIT_FAIL_ENTRY:
		fail(vm, 0, "KVM could not enter the guest (entry failure reason %#llx)",
		     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		fail(vm, guest_rip(vm), "KVM internal error (suberror %u) at RIP %#llx",
		     run->internal.suberror, (unsigned long long)guest_rip(vm));
		break;
	default:
		fail(vm, guest_rip(vm), "unexpected KVM exit reason %u at RIP %#llx", reason,
		     (unsigned long long)guest_rip(vm));
		break;
	}
}

static void kick_handler(int sig) { (void)sig; }
static void hotplug_work(struct vmm *vm);

static void *vcpu_thread(void *arg)
{
	struct vmm *vm = arg;

	prctl(PR_SET_NAME, "vmscope-vcpu0");
	__atomic_store_n(&vm->vcpu_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	prctl(PR_SET_TIMERSLACK, 1000ul); /* idle halts pace the guest: wake on time */
	while (!LOAD(vm->stop)) {
		if (LOAD(vm->hp_work))
			hotplug_work(vm);
		if (LOAD(vm->paused)) {
			struct pollfd p = {.fd = vm->wake_efd, .events = POLLIN};
			uint64_t drain;
			set_state(vm, VMM_PAUSED);
			if (poll(&p, 1, 100) > 0 && read(vm->wake_efd, &drain, sizeof(drain)) < 0)
				drain = 0;
			continue;
		}
		STORE(vm->in_guest, true);
		int r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
		STORE(vm->in_guest, false);
		if (r < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				fail(vm, 0, "KVM_RUN failed: %s", strerror(errno));
				break;
			}
			vm->run->immediate_exit = 0;
			CNT_ADD(vm->cnt.vcpu_interrupts, 1);
			if (LOAD(vm->hang_suspected)) {
				uint64_t rip = guest_rip(vm);
				fail(vm, rip, "guest stopped responding (no heartbeat for %u ms) at RIP %#llx",
				     vm->opts.hang_timeout_ms, (unsigned long long)rip);
			}
			continue;
		}
		handle_exit(vm);
	}
	set_state(vm, VMM_STOPPED);
	return NULL;
}

static void kick(struct vmm *vm)
{
	vm->run->immediate_exit = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vm->thread_started)
		pthread_kill(vm->thread, SIGUSR1);
}

/* Wakes a halted guest: the VMM's own sleep in idle_halt() without an irqchip, the doorbell
 * interrupt with one (HLT then waits inside KVM, where only an interrupt ends it). */
static void wake(struct vmm *vm)
{
	uint64_t one = 1;
	if (write(vm->wake_efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, a wake is pending anyway */
	}
	if (vm->doorbell_gsi >= 0)
		irq_raise(&vm->irq, vm->doorbell_gsi);
}

/* Root ports at 00:04.0 and 00:05.0, their buses 1 and 2, as firmware would number them. */
#define PORT_SLOT_FIRST 4
#define SWITCH_BOUND_MS 5000     /* a guest that takes longer to bind the new card: failed */
#define SWITCH_BOUND_EMU_MS 60000 /* ... when every instruction is emulated */

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
	vm->ctl->peer_ip = LINK_PEER_IP;
	vm->ctl->guest_ip = LINK_GUEST_IP;
	return 0;
}

static uint32_t card_bdf(const struct nic *c)
{
	return pci_dev_busnr(c->pci) << 8 | c->pci->devfn;
}

/* Builds a card of the model and puts it in port p's slot (announce: a hot-add the guest is
 * told of). Call with nic_lock held, on the vCPU thread or before it runs. */
static int plug_card(struct vmm *vm, int p, enum nic_mode mode, bool announce, const char **why)
{
	const struct nic_model *model = nic_model_find(mode);
	unsigned slot = PORT_SLOT_FIRST + (unsigned)p;
	int r;

	*why = NULL;
	if (!model || !vm->netside) {
		*why = !model ? "no such network card model" : "the VM has no network side";
		return -EINVAL;
	}
	const struct nic_env env = {
		.mem = &vm->gmem, .irq = &vm->irq, .vm_fd = vm->vm_fd, .net = vm->netside,
		/* INTA of device 0 behind the port: the port's slot swizzles it, as PC firmware */
		.intx_pin = IRQ_PCI_PIN_FIRST + slot % 4,
		.mac = NET_GUEST_MAC, .ip = LINK_GUEST_IP,
	};
	r = model->create(&env, &vm->card[p]);
	if (r) {
		vm->card[p] = NULL;
		*why = r == -EBUSY ? "the link already has two cards attached"
				   : "the network card could not be set up";
		return r;
	}
	r = pcie_port_plug(&vm->port[p], vm->card[p]->pci, announce);
	if (r) {
		model->destroy(vm->card[p]);
		vm->card[p] = NULL;
		*why = "the network card does not fit on the PCI bus";
		return r;
	}
	vlog(&vm->log, "vmm: %s (%s) %s at %02x:00.0 behind root port 00:%02x.0, on the %s backend%s%s",
	     model->chip, model->name, announce ? "hot-added" : "present", pci_dev_busnr(vm->card[p]->pci),
	     slot, net_backend_name(vm->netside), vm->netside->have_link ? ", netns " : "",
	     vm->netside->have_link ? vm->netside->link.netns : "");
	return 0;
}

/* Takes port p's card out (announce: a removal the guest is told of) and frees it; its totals
 * stay in the VM's. With nic_lock held. */
static void unplug_card(struct vmm *vm, int p, bool announce)
{
	struct nic *c = vm->card[p];
	struct nic_readout ro;
	if (!c)
		return;
	nic_read(c, &ro);
	nic_stats_add(&vm->retired, &ro.total);
	pcie_port_unplug(&vm->port[p], announce);
	c->model->destroy(c);
	vm->card[p] = NULL;
	if (vm->active == p)
		vm->active = -1;
}

int vmm_attach_nic(struct vmm *vm, enum nic_mode mode, const char **why)
{
	pthread_mutex_lock(&vm->nic_lock);
	int r = -EBUSY;
	*why = "the VM already has a network card";
	if (vm->active < 0 && !vm->thread_started) {
		r = plug_card(vm, 0, mode, false, why);
		if (!r)
			vm->active = 0;
	}
	pthread_mutex_unlock(&vm->nic_lock);
	return r;
}

void vmm_detach_nic(struct vmm *vm)
{
	pthread_mutex_lock(&vm->nic_lock);
	for (int p = 0; p < VMM_PORTS; p++)
		unplug_card(vm, p, false);
	pthread_mutex_unlock(&vm->nic_lock);
}

enum nic_mode vmm_nic_mode(struct vmm *vm)
{
	pthread_mutex_lock(&vm->nic_lock);
	enum nic_mode m = vm->active >= 0 ? vm->card[vm->active]->model->mode : NIC_MODE_NONE;
	pthread_mutex_unlock(&vm->nic_lock);
	return m;
}

static void switch_failed(struct vmm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void switch_failed(struct vmm *vm, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->sw.why, sizeof(vm->sw.why), fmt, ap);
	va_end(ap);
	vm->sw.phase = SWITCH_FAILED;
	vm->sw.ns_end = mono_ns();
	vlog(&vm->log, "vmm: switch to %s failed: %s", nic_mode_name(vm->sw.to), vm->sw.why);
}

static uint64_t switch_bound_ns(const struct vmm *vm)
{
	return (vm->cpu == CPU_EMULATED ? SWITCH_BOUND_EMU_MS : SWITCH_BOUND_MS) * 1000000ull;
}

/* The port a switch brings the new card into: the one the guest's card is not in. -1: no card. */
static int spare_port(const struct vmm *vm) { return vm->active >= 0 ? 1 - vm->active : -1; }

/* The vCPU thread's part of a switch, between two KVM_RUNs: the hot-add, or the removal of a
 * card the guest did not bring up in time. */
static void hotplug_work(struct vmm *vm)
{
	STORE(vm->hp_work, false);
	pthread_mutex_lock(&vm->nic_lock);
	struct vmm_switch *sw = &vm->sw;
	int fresh = spare_port(vm); /* a switch starts only from a card: never -1 here */
	if (sw->phase == SWITCH_ADDING) {
		const char *why;
		if (plug_card(vm, fresh, sw->to, true, &why)) {
			switch_failed(vm, "%s", why);
		} else {
			sw->phase = SWITCH_BINDING;
		}
	} else if ((sw->phase == SWITCH_BINDING || sw->phase == SWITCH_MOVING) &&
		   mono_ns() - sw->ns_start > switch_bound_ns(vm)) {
		/* Surprise removal of the card the guest never took: the old one carries on. */
		unplug_card(vm, fresh, true);
		switch_failed(vm, "the guest did not %s the new card within %llu ms, so the %s card stays",
			      sw->phase == SWITCH_BINDING ? "bring up" : "move its traffic to",
			      (unsigned long long)(switch_bound_ns(vm) / 1000000), nic_mode_name(sw->from));
	}
	pthread_mutex_unlock(&vm->nic_lock);
}

/* The guest's side of a switch, from its events (on the vCPU thread). */
static void switch_event(struct vmm *vm, uint32_t ev)
{
	const struct ctl_page *c = vm->ctl;
	pthread_mutex_lock(&vm->nic_lock);
	struct vmm_switch *sw = &vm->sw;
	int fresh = spare_port(vm);
	struct nic *new = fresh >= 0 ? vm->card[fresh] : NULL, *old = vm->active >= 0 ? vm->card[vm->active] : NULL;
	uint64_t khz = vm->tsc_khz ? vm->tsc_khz : 1;
	if (ev == GEV_NIC_BOUND && sw->phase == SWITCH_BINDING && new && c->hp_bound_bdf == card_bdf(new)) {
		sw->phase = SWITCH_MOVING;
		sw->probe_ns = c->hp_probe_cycles * 1000000ull / khz;
	} else if (ev == GEV_NIC_MOVED && sw->phase == SWITCH_MOVING && old &&
		   c->hp_released_bdf == card_bdf(old)) {
		int was = vm->active;
		vm->active = fresh;
		unplug_card(vm, was, true);
		sw->phase = SWITCH_DONE;
		sw->ns_end = mono_ns();
		vlog(&vm->log, "vmm: switched %s -> %s in %.1f ms (guest probe %.1f ms)", nic_mode_name(sw->from),
		     nic_mode_name(sw->to), (double)(sw->ns_end - sw->ns_start) / 1e6, (double)sw->probe_ns / 1e6);
	} else {
		CNT_ADD(vm->cnt.io_refused, 1); /* out of turn, or not the card in the slot */
	}
	pthread_mutex_unlock(&vm->nic_lock);
}

int vmm_switch_nic(struct vmm *vm, enum nic_mode to, const char **why)
{
	struct vmm_status st;
	int r = 0;
	vmm_status(vm, &st);
	pthread_mutex_lock(&vm->nic_lock);
	enum nic_mode from = vm->active >= 0 ? vm->card[vm->active]->model->mode : NIC_MODE_NONE;
	*why = NULL;
	if (!nic_model_find(to))
		*why = "there is no such network card model", r = -EINVAL;
	else if (from == NIC_MODE_NONE)
		*why = "the VM has no network card to switch from (start it with --nic)", r = -ENODEV;
	else if (from == to)
		*why = "the guest already uses that card", r = -EALREADY;
	else if (vm->sw.phase >= SWITCH_ADDING && vm->sw.phase <= SWITCH_MOVING)
		*why = "a switch is already under way", r = -EBUSY;
	else if (st.state != VMM_RUNNING || LOAD(vm->paused))
		*why = st.state == VMM_PAUSED || LOAD(vm->paused) ? "the guest is paused: resume it to switch"
								     : "the guest is not running", r = -EAGAIN;
	if (!r) {
		uint32_t seq = vm->sw.seq + 1;
		vm->sw = (struct vmm_switch){.seq = seq, .phase = SWITCH_ADDING, .from = from, .to = to,
					     .ns_start = mono_ns()};
		STORE(vm->hp_work, true);
	}
	pthread_mutex_unlock(&vm->nic_lock);
	if (!r) {
		wake(vm);
		kick(vm);
	}
	return r;
}

void vmm_switch_read(struct vmm *vm, struct vmm_switch *out)
{
	pthread_mutex_lock(&vm->nic_lock);
	*out = vm->sw;
	pthread_mutex_unlock(&vm->nic_lock);
}

void vmm_resources(struct vmm *vm, struct vmm_resources *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&vm->nic_lock);
	for (int p = 0; p < VMM_PORTS; p++)
		out->cards += vm->card[p] != NULL;
	pthread_mutex_unlock(&vm->nic_lock);
	out->memslots = (unsigned)__builtin_popcount(vm->pci.memslots);
	out->ioeventfds = (unsigned)kvm_ioeventfds_assigned();
	pthread_mutex_lock(&vm->irq.lock);
	for (unsigned i = 0; i < IRQ_MAX; i++)
		out->gsis += vm->irq.route[i].used;
	pthread_mutex_unlock(&vm->irq.lock);
}

/* Which CPU mode the request resolves to on this host, or -EINVAL with *why. */
static int resolve_cpu_mode(struct vmm *vm, const char **why)
{
	enum cpu_mode want = vm->opts.cpu;
	bool pvm = vm->host == HOST_PVM;

	if (want == CPU_AUTO)
		want = pvm ? CPU_PARAVIRT : CPU_HARDWARE;
	if (want == CPU_EMULATED && !pvm) {
		*why = "--cpu emulated needs a kvm_pvm host; this host's KVM is hardware-assisted";
		return -EINVAL;
	}
	if (want == CPU_PARAVIRT && !pvm) {
		*why = "--cpu paravirt needs a kvm_pvm host; this host's KVM is hardware-assisted";
		return -EINVAL;
	}
	if (want == CPU_HARDWARE && pvm) {
		*why = "--cpu hardware needs VT-x or AMD-V; this host's KVM is kvm_pvm (use auto)";
		return -EINVAL;
	}
	vm->cpu = want;
	return 0;
}

int vmm_create(struct vmm **out, const struct vmm_opts *opts, const char **why)
{
	struct vmm *vm = calloc(1, sizeof(*vm));
	int r;

	*why = NULL;
	if (!vm)
		return -ENOMEM;
	vm->ns_t0 = mono_ns();
	vm->opts = *opts;
	if (!vm->opts.kvm_path)
		vm->opts.kvm_path = "/dev/kvm";
	if (!vm->opts.hang_timeout_ms)
		vm->opts.hang_timeout_ms = 2000;
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->wake_efd = vm->watchdog_efd = vm->doorbell_gsi = -1;
	vm->mem = MAP_FAILED;
	vm->run = MAP_FAILED;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->nic_lock, NULL);
	vm->active = -1;
	r = vlog_init(&vm->log, opts->log_path);
	if (r) {
		*why = "the log file could not be opened for writing";
		goto err;
	}

	r = vm->kvm_fd = kvm_open(vm->opts.kvm_path);
	if (r < 0) {
		*why = kvm_open_strerror(r);
		goto err;
	}
	*why = "KVM refused to create the microVM";
	/* KVM tears a VM down asynchronously (irqfd shutdown, RCU): right after another VM went away
	 * a nested host may refuse for a moment. Try again for up to a second. */
	for (int tries = 0; (vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0)) < 0 && tries < 20; tries++) {
		if (errno != ENOMEM && errno != EAGAIN && errno != EBUSY && errno != ENOSPC && errno != EINTR)
			break;
		usleep(50000);
	}
	if (vm->vm_fd < 0) {
		static __thread char msg[96]; /* outlives vm, which the error path frees */
		int e = errno;
		snprintf(msg, sizeof(msg), "KVM refused to create the microVM (%s)", strerror(e));
		*why = msg;
		errno = e;
		goto err_errno;
	}
	vm->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED)
		goto err_errno;
	vm->ctl = (struct ctl_page *)(vm->mem + GPA_CTL);
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEM_SIZE,
		.userspace_addr = (uintptr_t)vm->mem,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		goto err_errno;
	/* The irqchip must exist before the vCPU. Not in emulated mode: without the VIF page
	 * kvm_pvm delivers no interrupt, so a guest halted in KVM would never wake. */
	if (vm->opts.cpu != CPU_EMULATED) {
		*why = "KVM refused to create the in-kernel interrupt controller";
		if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
			goto err_errno;
		vm->irqchip = true;
	}
	*why = "KVM refused to create the microVM";
	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		goto err_errno;
	int mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		goto err_errno;
	vm->run_size = (size_t)mmap_size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED)
		goto err_errno;

	vm->host = kvm_detect_host(vm->vcpu_fd);
	r = resolve_cpu_mode(vm, why);
	if (r)
		goto err;
	vm->tsc_khz = kvm_tsc_khz(vm->vcpu_fd, vm->host);
	if (!vm->tsc_khz) {
		*why = "KVM does not report the guest's TSC frequency";
		r = -ENOTSUP;
		goto err;
	}
	r = guest_load(vm->mem, vm->host, vm->tsc_khz);
	if (r) {
		*why = "the built-in guest image does not fit guest memory";
		goto err;
	}
	r = guest_vcpu_setup(vm->kvm_fd, vm->vcpu_fd, vm->host, vm->cpu, why);
	if (r)
		goto err;

	vm->ctl->irq_mode = !vm->irqchip ? IRQ_NONE : vm->host == HOST_PVM ? IRQ_VIF : IRQ_STI;

	serial_init(&vm->uart, serial_line, vm);
	vm->exits.pio_efd = vm->exits.mmio_efd = -1;
	vm->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vm->watchdog_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->wake_efd < 0 || vm->watchdog_efd < 0)
		goto err_errno;
	r = iobus_register(&vm->bus, IO_PIO, PORT_SERIAL, 8, serial_io, &vm->uart);
	if (!r)
		r = iobus_register(&vm->bus, IO_PIO, PORT_GUEST_EVENT, 4, guest_event, vm);
	if (!r)
		r = pci_bus_init(&vm->pci, &vm->bus, vm->vm_fd);
	if (r) {
		*why = "the guest's port and MMIO ranges overlap";
		goto err;
	}
	r = exitdev_init(&vm->exits, vm->vm_fd, &vm->bus, &vm->cnt);
	if (r) {
		*why = "KVM refused the guest's ioeventfds";
		goto err;
	}
	irq_router_init(&vm->irq, vm->vm_fd, vm->irqchip);
	if (vm->irqchip) {
		vm->doorbell_gsi = irq_alloc(&vm->irq);
		r = vm->doorbell_gsi < 0 ? vm->doorbell_gsi
					 : irq_set_msi(&vm->irq, vm->doorbell_gsi, GPA_LAPIC, VEC_DOORBELL, true);
		if (r) {
			*why = "KVM refused the MSI route of the guest's doorbell interrupt";
			goto err;
		}
	}
	vm->gmem = (struct guest_mem){vm->mem, GUEST_MEM_SIZE, GPA_DMA_FLOOR};
	if (vm->opts.nic != NIC_MODE_NONE) {
		/* The slots the cards come and go through: root ports, hot-plug capable. */
		for (int p = 0; p < VMM_PORTS && !r; p++) {
			char name[16];
			snprintf(name, sizeof(name), "root-port%d", p);
			r = pcie_port_init(&vm->port[p], name, PORT_SLOT_FIRST + (unsigned)p, 1 + (unsigned)p,
					   vm->irqchip ? &vm->irq : NULL);
			if (!r) {
				vm->nr_ports = p + 1;
				r = pci_bus_plug(&vm->pci, &vm->port[p].dev, NULL, PCI_DEVFN(PORT_SLOT_FIRST + p, 0));
			}
		}
		if (r) {
			*why = "the PCIe root ports could not be set up";
			goto err;
		}
		r = open_net(vm, why);
		if (!r)
			r = vmm_attach_nic(vm, vm->opts.nic, why);
		if (r)
			goto err;
	}
	vm->ns_created = mono_ns() - vm->ns_t0;
	vlog(&vm->log, "vmm: host %s, cpu mode %s, tsc %llu kHz", host_kind_name(vm->host),
	     cpu_mode_name(vm->cpu), (unsigned long long)vm->tsc_khz);
	*out = vm;
	return 0;

err_errno:
	r = -errno;
err:
	vmm_destroy(vm);
	return r < 0 ? r : -EIO;
}

static void *watchdog_thread(void *arg);
static uint64_t switch_bound_ns(const struct vmm *vm);
static void drive_peer(struct vmm *vm);

int vmm_start(struct vmm *vm)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: the signal must end KVM_RUN */
	int r = pthread_create(&vm->thread, NULL, vcpu_thread, vm);
	if (r)
		return -r;
	vm->thread_started = true;
	drive_peer(vm);
	r = pthread_create(&vm->watchdog, NULL, watchdog_thread, vm);
	if (r)
		return -r;
	vm->watchdog_started = true;
	return 0;
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
		wake(vm);
		kick(vm);
		pthread_join(vm->thread, NULL);
		vm->thread_started = false;
	}
	vmm_detach_nic(vm);
	for (int p = 0; p < vm->nr_ports; p++)
		pcie_port_exit(&vm->port[p]);
	if (vm->own_net)
		net_close(vm->netside);
	if (vm->vm_fd >= 0) {
		exitdev_exit(&vm->exits, vm->vm_fd);
		irq_router_exit(&vm->irq);
	}
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
	free(vm);
}

/* rx and echo are driven from the far end of the link; the vCPU's thread is the VM's side of
 * the CPUs while the peer drives (link.h), so this runs again once it exists. */
static void drive_peer(struct vmm *vm)
{
	const struct ctl_page *c = vm->ctl;
	uint32_t wl = LOAD(c->workload);
	if (vm->netside)
		net_drive(vm->netside, wl == WL_RX ? LINK_FLOOD : wl == WL_ECHO ? LINK_ECHO : LINK_QUIET,
			  LOAD(c->rate), LOAD(c->pkt_size), vm->thread_started ? &vm->thread : NULL);
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
	wake(vm);
	drive_peer(vm);
}

void vmm_set_packet_size(struct vmm *vm, uint32_t bytes)
{
	STORE(vm->ctl->pkt_size, bytes ? bytes : 64);
}

void vmm_pause(struct vmm *vm, bool pause)
{
	STORE(vm->paused, pause);
	if (pause)
		kick(vm);
	else
		set_state(vm, VMM_RUNNING);
	wake(vm);
}

void vmm_poll(struct vmm *vm)
{
	exitdev_poll(&vm->exits);
	STORE(vm->cnt.serial_tx_bytes, LOAD(vm->uart.tx_bytes));
}

/* The hang watchdog runs on its own clock, whatever the front end does (a paused or slow
 * dashboard, a one-minute headless tick): a guest in KVM_RUN whose heartbeat stands still for
 * hang_timeout_ms is kicked out and reported within a tenth of that. */
static void *watchdog_thread(void *arg)
{
	struct vmm *vm = arg;
	unsigned period_ms = vm->opts.hang_timeout_ms / 10 ? vm->opts.hang_timeout_ms / 10 : 1;
	struct pollfd p = {.fd = vm->watchdog_efd, .events = POLLIN};

	prctl(PR_SET_NAME, "vmscope-watch");
	vm->watch_since_ns = mono_ns();
	for (;;) {
		int r = poll(&p, 1, (int)period_ms);
		if (r > 0 || (r < 0 && errno != EINTR))
			break; /* vmm_destroy() signalled the eventfd */
		uint64_t hb = LOAD(vm->ctl->heartbeat), now = mono_ns();
		/* A switch past its bound: the vCPU thread takes the new card out again. */
		pthread_mutex_lock(&vm->nic_lock);
		bool late = (vm->sw.phase == SWITCH_BINDING || vm->sw.phase == SWITCH_MOVING) &&
			    now - vm->sw.ns_start > switch_bound_ns(vm);
		pthread_mutex_unlock(&vm->nic_lock);
		if (late) {
			STORE(vm->hp_work, true);
			kick(vm);
		}
		if (hb != vm->watch_hb || !LOAD(vm->in_guest) || LOAD(vm->stop)) {
			vm->watch_hb = hb;
			vm->watch_since_ns = now;
			continue;
		}
		if (now - vm->watch_since_ns > vm->opts.hang_timeout_ms * 1000000ull &&
		    !LOAD(vm->hang_suspected)) {
			STORE(vm->hang_suspected, true);
			kick(vm);
		}
	}
	return NULL;
}

void vmm_status(struct vmm *vm, struct vmm_status *st)
{
	pthread_mutex_lock(&vm->lock);
	*st = vm->status;
	pthread_mutex_unlock(&vm->lock);
}

enum host_kind vmm_host(const struct vmm *vm) { return vm->host; }
enum cpu_mode vmm_cpu_mode(const struct vmm *vm) { return vm->cpu; }
bool vmm_irqchip(const struct vmm *vm) { return vm->irqchip; }
uint64_t vmm_tsc_khz(const struct vmm *vm) { return vm->tsc_khz; }
int vmm_vcpu_fd(const struct vmm *vm) { return vm->vcpu_fd; }
int vmm_vm_fd(const struct vmm *vm) { return vm->vm_fd; }
struct vlog *vmm_log(struct vmm *vm) { return &vm->log; }
uint64_t vmm_ns_first_insn(struct vmm *vm) { return LOAD(vm->ns_first_insn); }
uint64_t vmm_ns_banner(struct vmm *vm) { return LOAD(vm->ns_banner); }
uint64_t vmm_ns_created(struct vmm *vm) { return vm->ns_created; }

void vmm_read_ctl(struct vmm *vm, struct ctl_page *out)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	memcpy(out, (const void *)vm->ctl, sizeof(*out));
}

void vmm_net_info(struct vmm *vm, struct vmm_net *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&vm->nic_lock);
	struct nic *c = vm->active >= 0 ? vm->card[vm->active] : NULL;
	out->present = c != NULL;
	if (c) {
		out->model = c->model->name;
		out->chip = c->model->chip;
		out->engine = c->model->engine;
	}
	pthread_mutex_unlock(&vm->nic_lock);
	if (!c)
		return;
	out->backend = net_backend_name(vm->netside);
	out->why = vm->netside->why;
	if (vm->netside->have_link)
		snprintf(out->netns, sizeof(out->netns), "%s", vm->netside->link.netns);
}

/* guest_time (field 43 of proc(5)'s stat), in clock ticks: what the kernel accounted to the
 * guest on this thread (kvm_pvm accounts it too). */
static bool guest_ticks(int tid, uint64_t *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the name may hold spaces */
	for (int field = 2; p && field < 43; field++)
		p = strchr(p + 1, ' ');
	return p && sscanf(p + 1, "%" SCNu64, out) == 1;
}

int vmm_read_cpu(struct vmm *vm, struct vmm_cpu *out)
{
	uint64_t ticks;
	int tid = __atomic_load_n(&vm->vcpu_tid, __ATOMIC_ACQUIRE);
	memset(out, 0, sizeof(*out));
	if (!vm->thread_started || !tid || !guest_ticks(tid, &ticks))
		return -ENOENT;
	out->vcpu_ns = thread_cpu_ns(vm->thread);
	out->guest_ns = ticks * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
	out->net_ns = vm->netside ? net_thread_cpu_ns(vm->netside) : 0;
	return 0;
}

int vmm_read_net(struct vmm *vm, struct nic_readout *dev, struct link_counters *peer)
{
	pthread_mutex_lock(&vm->nic_lock);
	if (vm->active < 0) {
		pthread_mutex_unlock(&vm->nic_lock);
		return -ENODEV;
	}
	/* The model's own counters are the active card's; the totals every model keeps are the
	 * VM's, over every card it had, so they only go up across switches. */
	nic_read(vm->card[vm->active], dev);
	struct nic_stats sum = vm->retired;
	for (int p = 0; p < VMM_PORTS; p++) {
		struct nic_readout other;
		const struct nic_readout *ro = dev;
		if (!vm->card[p])
			continue;
		if (p != vm->active) {
			nic_read(vm->card[p], &other);
			ro = &other;
		}
		nic_stats_add(&sum, &ro->total);
	}
	dev->total = sum;
	pthread_mutex_unlock(&vm->nic_lock);
	net_read_peer(vm->netside, peer);
	return 0;
}

unsigned vmm_nic_regions(struct vmm *vm, struct vmm_region *out)
{
	struct pci_dev *fn[8];
	unsigned n = 0;
	/* Every decoding BAR of every function of every card (two during a switch), RAM-backed
	 * ones too: a VF's doorbell page belongs there, and its count of exits (none) is the lesson. */
	pthread_mutex_lock(&vm->nic_lock);
	for (int p = 0; p < VMM_PORTS; p++) {
		unsigned nr = vm->card[p] ? nic_functions(vm->card[p], fn, 8) : 0;
		for (unsigned f = 0; f < nr; f++)
			for (unsigned i = 0; i < 6 && n < VMM_NIC_REGIONS; i++) {
				const struct pci_bar *b = &fn[f]->bar[i];
				uint64_t at = __atomic_load_n(&b->mapped_at, __ATOMIC_RELAXED);
				if (b->size && at)
					out[n++] = (struct vmm_region){b->io, at, b->size};
			}
	}
	pthread_mutex_unlock(&vm->nic_lock);
	return n;
}

void vmm_read_counters(struct vmm *vm, struct vmm_counters *out)
{
	counters_copy(out, &vm->cnt, sizeof(*out));
}
