/* The network thread, which every packet and every switch's card passes through: a short time
 * slice, so that woken it preempts a busy neighbour on its core at once instead of at the
 * scheduler's next tick. (Not the vCPUs: with several VMs a neighbour's vCPU then preempted VM1's
 * at once too, and VM1's p99 under load rose; docs/internals.md.) */
#ifndef VMSCOPE_THREAD_H
#define VMSCOPE_THREAD_H
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREAD_SLICE_NS 100000ull /* the least the kernel takes (EEVDF, Linux 6.12 on) */

/* For the calling thread, if it runs under the normal policy (a policy the user chose is
 * kept), with its nice value kept. Measured on kvm_pvm with a CPU hog on one of two cores: a
 * closed-loop ping's p99 over virtio 700-850 us -> 124-130 us (docs/internals.md). A kernel
 * without custom slices refuses or ignores it: nothing changes there. */
static inline void thread_short_slice(void)
{
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t prio;
		uint64_t runtime, deadline, period;
	} a = {.size = sizeof(a), .policy = SCHED_OTHER, .runtime = THREAD_SLICE_NS};
	if (sched_getscheduler(0) != SCHED_OTHER)
		return;
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	if (errno)
		return;
	a.nice = nice;
	(void)syscall(SYS_sched_setattr, 0, &a, 0);
}

#endif
