/* KVM's vCPU as the CPU backend: KVM_RUN, and its exits told in the seam's words (vmm/cpu.h). */
#define _GNU_SOURCE
#include "vmm/vmm_impl.h"
#include "vmm/kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

static uint64_t kvm_rip(struct vmm *vm)
{
	struct kvm_regs r;
	return ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0 ? 0 : r.rip;
}

static void io_exit(struct cpu_exit *x, enum io_space space, uint64_t addr, uint8_t *data,
		    uint32_t size, uint32_t count, bool write)
{
	x->kind = CX_IO;
	x->space = space;
	x->addr = addr;
	x->data = data;
	x->size = size;
	x->count = count;
	x->write = write;
}

static void failed(struct vmm *vm, struct cpu_exit *x)
{
	struct kvm_run *run = vm->run;
	x->kind = CX_FAILED;
	x->rip = kvm_rip(vm);
	switch (run->exit_reason) {
	case KVM_EXIT_SHUTDOWN:
		/* On AMD, KVM resets the vCPU on shutdown: RIP then reads as the reset vector. */
		if (x->rip == 0xfff0) {
			x->rip = 0;
			snprintf(x->why, sizeof(x->why),
				 "guest triple-faulted (shutdown); KVM reset the vCPU, so its RIP "
				 "is lost");
		} else {
			snprintf(x->why, sizeof(x->why),
				 "guest triple-faulted (shutdown) at RIP %#llx",
				 (unsigned long long)x->rip);
		}
		break;
	case KVM_EXIT_FAIL_ENTRY:
		x->rip = 0;
		snprintf(x->why, sizeof(x->why),
			 "KVM could not enter the guest (entry failure reason %#llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(x->why, sizeof(x->why), "KVM internal error (suberror %u) at RIP %#llx",
			 run->internal.suberror, (unsigned long long)x->rip);
		break;
	default:
		snprintf(x->why, sizeof(x->why), "unexpected KVM exit reason %u at RIP %#llx",
			 run->exit_reason, (unsigned long long)x->rip);
		break;
	}
}

/* What KVM queued in the coalesced ring, to the devices in order (from any thread). */
static void kvm_drain(struct vmm *vm)
{
	struct kvm_coalesced_mmio_ring *ring = vm->coalesced;
	if (!ring || ring->first == __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&vm->coalesced_lock);
	for (uint32_t first = ring->first; first != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
	     first = (first + 1) % vm->coalesced_max) {
		struct kvm_coalesced_mmio *m = &ring->coalesced_mmio[first % vm->coalesced_max];
		uint8_t data[8];
		uint32_t len = m->len > 8 ? 8 : m->len;
		memcpy(data, m->data, len);
		vcpu_dispatch_queued(vm, m->pio ? IO_PIO : IO_MMIO, m->phys_addr, data, len);
		__atomic_store_n(&ring->first, (first + 1) % vm->coalesced_max, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vm->coalesced_lock);
}

static int kvm_run_once(struct vmm *vm, struct cpu_exit *x)
{
	struct kvm_run *run = vm->run;
	int r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	kvm_drain(vm); /* what the guest wrote before this exit comes before it */
	if (r < 0) {
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
		run->immediate_exit = 0;
		return 0;
	}
	x->reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		io_exit(x, IO_PIO, run->io.port, (uint8_t *)run + run->io.data_offset, run->io.size,
			run->io.count, run->io.direction == KVM_EXIT_IO_OUT);
		break;
	case KVM_EXIT_MMIO:
		io_exit(x, IO_MMIO, run->mmio.phys_addr, run->mmio.data,
			run->mmio.len > 8 ? 8 : run->mmio.len, 1, run->mmio.is_write);
		break;
	case KVM_EXIT_HLT: x->kind = CX_HLT; break;
	default: failed(vm, x); break;
	}
	return 1;
}

static void kvm_interrupt(struct vmm *vm)
{
	vm->run->immediate_exit = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vm->thread_started)
		pthread_kill(vm->thread, SIGUSR1);
}

/* Letting go of an ioeventfd waits for a grace period of the VM's SRCU (KVM_IOEVENTFD with
 * DEASSIGN: kvm_io_bus_unregister_dev). Measured on kvm_pvm at the end of a switch from virtio
 * to the VF, with the card's engine polling: 2.3-4.8 ms for the first of the old card's two,
 * where the switch to the e1000 (the network thread asleep) took 0.08 ms; SRCU waited for a
 * timer tick. Done on the vCPU thread, that wait stopped the guest: it was the switch's whole
 * blackout (p50 4.3 ms of 4.4). So a deassign is handed to a thread of the VM's own, which
 * holds a duplicate of the eventfd until KVM has let go (KVM finds the ioeventfd by its eventfd,
 * not by the number) and counts it unbound then. An assign first waits until none is pending,
 * so two never meet at one address; the VM's end waits for them all. The guest let go of the
 * card before: a write of its to the old address meanwhile signals an eventfd nobody reads,
 * where the VMM would have dropped it. */
#define REAP_MAX 16

struct kvm_reap {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* queued, taken, done or stop: every waiter looks again */
	struct reap_item {
		uint64_t addr;
		uint32_t len;
		int fd; /* the duplicate, closed once KVM let go */
		bool pio;
	} q[REAP_MAX];
	unsigned head, n;
	bool busy, stop;
	struct vmm *vm;
};

static struct kvm_reap *reap_of(struct vmm *vm)
{
	return __atomic_load_n((struct kvm_reap **)&vm->cpu_state, __ATOMIC_ACQUIRE);
}

static void *reaper(void *arg)
{
	struct kvm_reap *k = arg;
	prctl(PR_SET_NAME, "vmscope-reap");
	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (!k->n && !k->stop)
			pthread_cond_wait(&k->cond, &k->lock);
		if (!k->n)
			break;
		struct reap_item it = k->q[k->head];
		k->head = (k->head + 1) % REAP_MAX;
		k->n--;
		k->busy = true;
		pthread_mutex_unlock(&k->lock);
		int r = kvm_ioeventfd(k->vm->vm_fd, it.addr, it.len, it.fd, it.pio, false);
		close(it.fd);
		if (r)
			vlog(&k->vm->log, "vmm: KVM kept the ioeventfd at %s %#llx: %s",
			     it.pio ? "port" : "address", (unsigned long long)it.addr,
			     strerror(-r));
		else
			accel_ioeventfds_count(-1);
		pthread_mutex_lock(&k->lock);
		k->busy = false;
		pthread_cond_broadcast(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

/* Until every deassign handed over is done. */
static void reap_wait(struct kvm_reap *k)
{
	pthread_mutex_lock(&k->lock);
	while (k->n || k->busy)
		pthread_cond_wait(&k->cond, &k->lock);
	pthread_mutex_unlock(&k->lock);
}

/* 1: the reaper has it; 0: it is full or the eventfd could not be duplicated (do it here). */
static int reap_hand(struct kvm_reap *k, uint64_t addr, uint32_t len, int fd, bool pio)
{
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return 0;
	pthread_mutex_lock(&k->lock);
	bool room = k->n < REAP_MAX;
	if (room) {
		k->q[(k->head + k->n) % REAP_MAX] =
		    (struct reap_item){.addr = addr, .len = len, .fd = dup_fd, .pio = pio};
		k->n++;
		pthread_cond_broadcast(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
	if (!room)
		close(dup_fd);
	return room;
}

static void kvm_start(struct vmm *vm)
{
	struct kvm_reap *k = calloc(1, sizeof(*k));
	if (!k)
		return; /* deassigns stay on the caller's thread */
	k->vm = vm;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, NULL);
	if (pthread_create(&k->thread, NULL, reaper, k)) {
		pthread_mutex_destroy(&k->lock);
		pthread_cond_destroy(&k->cond);
		free(k);
		return;
	}
	__atomic_store_n((struct kvm_reap **)&vm->cpu_state, k, __ATOMIC_RELEASE);
}

static void kvm_destroy(struct vmm *vm)
{
	struct kvm_reap *k = reap_of(vm);
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true; /* it empties the queue first */
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->cond);
	free(k);
	vm->cpu_state = NULL;
}

static int kvm_accel_ioeventfd(void *opaque, enum io_space space, uint64_t addr, uint32_t len,
			       int fd, bool assign)
{
	struct vmm *vm = opaque;
	struct kvm_reap *k = reap_of(vm);
	if (k && assign)
		reap_wait(k);
	else if (k && reap_hand(k, addr, len, fd, space == IO_PIO))
		return 1;
	return kvm_ioeventfd(vm->vm_fd, addr, len, fd, space == IO_PIO, assign);
}

/* Slot 0 is guest memory; the accel's RAM slots follow it. Size 0 deletes a slot (api.rst 4.35). */
static int kvm_accel_map_ram(void *opaque, unsigned slot, uint64_t gpa, uint64_t size, void *ptr)
{
	struct vmm *vm = opaque;
	struct kvm_userspace_memory_region r = {.slot = 1 + slot,
						.guest_phys_addr = gpa,
						.memory_size = gpa ? size : 0,
						.userspace_addr = (uintptr_t)ptr};
	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/* KVM_REGISTER_COALESCED_MMIO (api.rst 4.116; PIO with KVM_CAP_COALESCED_PIO): the ring is the
 * page of the vCPU's mapping that KVM_CAP_COALESCED_MMIO names. */
static int kvm_accel_coalesce(void *opaque, enum io_space space, uint64_t addr, uint32_t len)
{
	struct vmm *vm = opaque;
	long page = sysconf(_SC_PAGESIZE);
	int off = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	if (off <= 0 ||
	    (space == IO_PIO && ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) <= 0))
		return -ENOTSUP;
	if ((size_t)(off + 1) * (size_t)page > vm->run_size)
		return -ENOTSUP;
	struct kvm_coalesced_mmio_zone z = {.addr = addr, .size = len, .pio = space == IO_PIO};
	if (ioctl(vm->vm_fd, KVM_REGISTER_COALESCED_MMIO, &z) < 0)
		return -errno;
	vm->coalesced_max = (unsigned)(((size_t)page - sizeof(struct kvm_coalesced_mmio_ring)) /
				       sizeof(struct kvm_coalesced_mmio));
	vm->coalesced = (struct kvm_coalesced_mmio_ring *)((uint8_t *)vm->run + off * page);
	return 0;
}

const struct cpu_backend kvm_cpu = {
    .name = "kvm",
    .run_call = "KVM_RUN",
    .run = kvm_run_once,
    .interrupt = kvm_interrupt,
    .rip = kvm_rip,
    .start = kvm_start,
    .destroy = kvm_destroy,
    .ioeventfd = kvm_accel_ioeventfd,
    .map_ram = kvm_accel_map_ram,
    .coalesce = kvm_accel_coalesce,
    .poll = kvm_drain,
};
