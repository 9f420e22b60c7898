/* The vCPU: its run loop over the CPU backend (vmm/cpu.h), the one exit dispatch, the guest's
 * events and the hang watchdog. */
#define _GNU_SOURCE
#include "vmm/vmm_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmm/clock.h"
#include "vmm/counters.h"
#include "vmm/net/net.h"
#include "vmm/nic.h"
#include "vmm/log.h"

#define IDLE_HALT_MAX_NS 250000000ull

void vcpu_set_state(struct vmm *vm, enum vmm_state s)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->status.state != VMM_FAILED)
		vm->status.state = s;
	pthread_mutex_unlock(&vm->lock);
}

static uint64_t guest_rip(struct vmm *vm)
{
	return vm->cpu_be->rip(vm);
}

void vcpu_fail(struct vmm *vm, uint64_t rip, const char *fmt, ...)
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

void vcpu_serial_line(const char *line, void *opaque)
{
	struct vmm *vm = opaque;
	if (!vm->ns_banner && !strncmp(line, "vmscope guest", 13))
		STORE(vm->ns_banner, mono_ns() - vm->ns_t0);
	vlog(&vm->log, "guest: %s", line);
}

int vcpu_console(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct vmm *vm = opaque;
	uint8_t line[CON_LINE_MAX];
	uint32_t n = 0;
	(void)addr;
	if (!is_write || len != 4)
		return -EINVAL;
	memcpy(&n, data, 4);
	if (n > CON_LINE_MAX)
		return -EINVAL;		    /* garbage: counted as a bad access, nothing printed */
	memcpy(line, vm->ctl->con_line, n); /* once: the guest may write it meanwhile */
	serial_write(&vm->uart, line, n);
	return 0;
}

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "?15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

const char *vcpu_exception_name(unsigned vector)
{
	return vector < 32 ? exception_names[vector] : NULL;
}

int vcpu_guest_event(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
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
		STORE(vm->ready, true);
		vcpu_set_state(vm, vm->paused ? VMM_PAUSED : VMM_RUNNING);
		break;
	case GEV_EXCEPTION: {
		uint32_t v = c->exc_vector & 31;
		const char *name = vcpu_exception_name(v) ? vcpu_exception_name(v) : "reserved";
		vcpu_fail(vm, c->exc_rip,
			  "guest took exception %s (vector %u, error %#llx) at RIP %#llx", name, v,
			  (unsigned long long)c->exc_error, (unsigned long long)c->exc_rip);
		break;
	}
	case GEV_ASSERT:
		vcpu_fail(vm, guest_rip(vm), "guest assertion failed at vmm/guest/main.c:%u",
			  c->assert_line);
		break;
	case GEV_NIC_BOUND:
	case GEV_NIC_MOVED: slots_switch_event(vm, ev); break;
	default: return -EINVAL;
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

void cpu_backend_use(struct vmm *vm, const struct cpu_backend *be)
{
	vm->cpu_be = be;
	vm->accel = (struct accel){.opaque = vm,
				   .ioeventfd = be->ioeventfd,
				   .map_ram = be->map_ram,
				   .coalesce = be->coalesce};
}

/* A write the backend queued instead of exiting (coalesced): to its device, not an exit. */
void vcpu_dispatch_queued(struct vmm *vm, enum io_space space, uint64_t addr, uint8_t *data,
			  uint32_t len)
{
	CNT_ADD(vm->cnt.coalesced, 1);
	count_io(vm, iobus_dispatch(&vm->bus, space, addr, data, len, true));
}

/* Every backend's exit, served the same way. */
void vcpu_dispatch_exit(struct vmm *vm, const struct cpu_exit *x)
{
	CNT_ADD(vm->cnt.userspace_exits, 1);
	CNT_ADD(vm->cnt.exit_reason[x->reason < VMM_EXIT_REASONS ? x->reason : 0], 1);
	switch (x->kind) {
	case CX_IO: {
		uint8_t *p = x->data;
		for (uint32_t i = 0; i < x->count; i++, p += x->size)
			count_io(vm,
				 iobus_dispatch(&vm->bus, x->space, x->addr, p, x->size, x->write));
		break;
	}
	case CX_HLT:
		if (LOAD(vm->ctl->halt_is_idle)) {
			CNT_ADD(vm->cnt.hlt_idle, 1);
			idle_halt(vm);
		} else {
			CNT_ADD(vm->cnt.hlt_op, 1);
		}
		break;
	case CX_FAILED: vcpu_fail(vm, x->rip, "%s", x->why); break;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vmm *vm = arg;
	struct cpu_exit x;

	char name[16] = "vmscope-vcpu0"; /* VM1's, as it always was */
	if (vm->opts.index)
		snprintf(name, sizeof(name), "vmscope-vm%u", vm->opts.index + 1);
	prctl(PR_SET_NAME, name);
	__atomic_store_n(&vm->vcpu_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	prctl(PR_SET_TIMERSLACK, 1000ul); /* idle halts pace the guest: wake on time */
	while (!LOAD(vm->stop)) {
		if (LOAD(vm->hp_work))
			slots_hotplug_work(vm);
		if (LOAD(vm->paused)) {
			struct pollfd p = {.fd = vm->wake_efd, .events = POLLIN};
			uint64_t drain;
			vcpu_set_state(vm, VMM_PAUSED);
			if (poll(&p, 1, 100) > 0 && read(vm->wake_efd, &drain, sizeof(drain)) < 0)
				drain = 0;
			continue;
		}
		STORE(vm->in_guest, true);
		if (!vm->ns_first_run)
			STORE(vm->ns_first_run, mono_ns() - vm->ns_t0);
		int r = vm->cpu_be->run(vm, &x);
		STORE(vm->in_guest, false);
		if (r < 0) {
			vcpu_fail(vm, 0, "%s failed: %s", vm->cpu_be->run_call, strerror(-r));
			break;
		}
		if (r == 0) {
			CNT_ADD(vm->cnt.vcpu_interrupts, 1);
			if (LOAD(vm->hang_suspected)) {
				uint64_t rip = guest_rip(vm);
				vcpu_fail(vm, rip,
					  "guest stopped responding (no heartbeat for %u ms) at "
					  "RIP %#llx",
					  vm->opts.hang_timeout_ms, (unsigned long long)rip);
			}
			continue;
		}
		vcpu_dispatch_exit(vm, &x);
	}
	vcpu_set_state(vm, VMM_STOPPED);
	return NULL;
}

void vcpu_interrupt(struct vmm *vm)
{
	vm->cpu_be->interrupt(vm);
}

/* Wakes a halted guest: the VMM's own sleep in idle_halt() without an irqchip, the doorbell
 * interrupt with one (HLT then waits inside KVM, where only an interrupt ends it). */
void vcpu_wake(struct vmm *vm)
{
	uint64_t one = 1;
	if (write(vm->wake_efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, a wake is pending anyway */
	}
	if (vm->command_gsi >= 0)
		irq_raise(&vm->irq, vm->command_gsi);
}

/* The hang watchdog runs on its own clock, whatever the front end does (a paused or slow
 * dashboard, a one-minute headless tick): a guest in KVM_RUN whose heartbeat stands still for
 * hang_timeout_ms is kicked out and reported within a tenth of that. */
static void *vcpu_watchdog_thread(void *arg)
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
		bool late = slots_switch_late(vm, now);
		pthread_mutex_unlock(&vm->nic_lock);
		if (late) {
			STORE(vm->hp_work, true);
			vcpu_interrupt(vm);
		}
		if (hb != vm->watch_hb || !LOAD(vm->in_guest) || LOAD(vm->stop)) {
			vm->watch_hb = hb;
			vm->watch_since_ns = now;
			continue;
		}
		if (now - vm->watch_since_ns > vm->opts.hang_timeout_ms * 1000000ull &&
		    !LOAD(vm->hang_suspected)) {
			STORE(vm->hang_suspected, true);
			vcpu_interrupt(vm);
		}
	}
	return NULL;
}

static void interrupt_handler(int sig)
{
	(void)sig;
}

int vcpu_start(struct vmm *vm)
{
	struct sigaction sa = {.sa_handler = interrupt_handler};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: the signal must end KVM_RUN */
	int r = pthread_create(&vm->thread, NULL, vcpu_thread, vm);
	if (r)
		return -r;
	vm->thread_started = true;
	return 0;
}

int vcpu_start_watchdog(struct vmm *vm)
{
	int r = pthread_create(&vm->watchdog, NULL, vcpu_watchdog_thread, vm);
	if (r)
		return -r;
	vm->watchdog_started = true;
	return 0;
}
