/* KVM's paravirtual interfaces, for the paravirt CPU mode on hardware KVM (VT-x/AMD-V): the guest
 * finds KVM by CPUID (Documentation/virt/kvm/x86/cpuid.rst: the signature "KVMKVMKVM" at
 * 0x40000000, the features at 0x40000001) and uses what removes exits for what it does:
 * - PV EOI (msr.rst, MSR_KVM_PV_EOI_EN): KVM sets a bit in guest memory when an interrupt needs
 *   no EOI write; the handler clears it instead of writing the LAPIC's EOI register (an exit);
 * - kvmclock (MSR_KVM_SYSTEM_TIME_NEW): nanoseconds from the TSC and KVM's scale, no exit;
 * - steal time (MSR_KVM_STEAL_TIME): how long the vCPU was ready but the host ran something else;
 * - its hypercall workload on a real KVM hypercall number (hypercalls.rst: KVM_HC_SCHED_YIELD to
 *   itself, which KVM answers at once) instead of an unknown one.
 * In the hardware mode the VMM hides the leaves and the guest finds nothing: unmodified. */
#define VMSCOPE_GUEST
#include "lib.h"
#include "cpu.h"

#define KVM_CPUID_SIGNATURE	   0x40000000u
#define KVM_CPUID_FEATURES	   0x40000001u
#define KVM_FEATURE_CLOCKSOURCE2   3
#define KVM_FEATURE_STEAL_TIME	   5
#define KVM_FEATURE_PV_EOI	   6
#define KVM_FEATURE_PV_SCHED_YIELD 13
#define MSR_KVM_SYSTEM_TIME_NEW	   0x4b564d01u
#define MSR_KVM_STEAL_TIME	   0x4b564d03u
#define MSR_KVM_PV_EOI_EN	   0x4b564d04u
#define KVM_MSR_ENABLED		   1ull
#define KVM_HC_SCHED_YIELD	   11
#define KVM_HC_UNUSED		   0 /* no KVM hypercall has number 0: -KVM_ENOSYS */

struct pvclock { /* arch/x86/include/asm/pvclock-abi.h */
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	signed char tsc_shift;
	u8 flags;
	u8 pad[2];
};

struct steal_time { /* arch/x86/include/uapi/asm/kvm_para.h */
	u64 steal;
	u32 version;
	u32 flags;
	u8 preempted;
	u8 pad[47];
};

static struct pvclock clock __attribute__((aligned(32)));
static struct steal_time steal __attribute__((aligned(64)));
static volatile u32 pv_eoi __attribute__((aligned(4)));
static u32 used;

static void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

void kvm_pv_init(void)
{
	u32 a, b, c, d;
	if (CTL->irq_mode != IRQ_STI || !CTL->pv_wanted)
		return;
	cpuid(KVM_CPUID_SIGNATURE, &a, &b, &c, &d);
	if (b != 0x4b4d564b || c != 0x564b4d56 || d != 0x4d || a < KVM_CPUID_FEATURES)
		return; /* "KVMKVMKVM\0\0\0": not KVM, or it hides itself */
	cpuid(KVM_CPUID_FEATURES, &a, &b, &c, &d);
	CTL->kvm_features = a;
	if (a & (1u << KVM_FEATURE_PV_EOI)) {
		wrmsr(MSR_KVM_PV_EOI_EN, (u64)&pv_eoi | KVM_MSR_ENABLED);
		used |= PV_EOI;
	}
	if (a & (1u << KVM_FEATURE_CLOCKSOURCE2)) {
		wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (u64)&clock | KVM_MSR_ENABLED);
		used |= PV_CLOCK;
	}
	if (a & (1u << KVM_FEATURE_STEAL_TIME)) {
		wrmsr(MSR_KVM_STEAL_TIME, (u64)&steal | KVM_MSR_ENABLED);
		used |= PV_STEAL;
	}
	if (a & (1u << KVM_FEATURE_PV_SCHED_YIELD))
		used |= PV_YIELD;
	CTL->pv_used = used;
	puts("kvm pv:");
	puts(used & PV_EOI ? " pv-eoi" : "");
	puts(used & PV_CLOCK ? " kvmclock" : "");
	puts(used & PV_STEAL ? " steal-time" : "");
	puts(used & PV_YIELD ? " sched-yield" : "");
	puts("\n");
}

/* The interrupt's EOI: a bit KVM set (no exit) or the LAPIC's register (an exit). */
int kvm_pv_eoi_taken(void)
{
	if (!(used & PV_EOI) || !(__atomic_fetch_and(&pv_eoi, ~1u, __ATOMIC_SEQ_CST) & 1))
		return 0;
	CTL->eoi_pv++;
	return 1;
}

u64 kvm_hypercall_nr(void)
{
	return used & PV_YIELD ? KVM_HC_SCHED_YIELD : KVM_HC_UNUSED;
}

/* What the guest reads without an exit: kvmclock's nanoseconds (pvclock's version protocol:
 * odd while KVM updates it) and the steal time so far. */
void kvm_pv_publish(void)
{
	if (used & PV_CLOCK) {
		u32 v;
		u64 ns;
		do {
			v = __atomic_load_n(&clock.version, __ATOMIC_ACQUIRE);
			u64 delta = rdtsc() - clock.tsc_timestamp;
			delta = clock.tsc_shift >= 0 ? delta << clock.tsc_shift
						     : delta >> -clock.tsc_shift;
			ns = clock.system_time +
			     (u64)(((unsigned __int128)delta * clock.tsc_to_system_mul) >> 32);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
		} while ((v & 1) || v != __atomic_load_n(&clock.version, __ATOMIC_ACQUIRE));
		CTL->kvmclock_ns = ns;
	}
	if (used & PV_STEAL) {
		u32 v;
		u64 st;
		do {
			v = __atomic_load_n(&steal.version, __ATOMIC_ACQUIRE);
			st = steal.steal;
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
		} while ((v & 1) || v != __atomic_load_n(&steal.version, __ATOMIC_ACQUIRE));
		CTL->steal_ns = st;
	}
}
