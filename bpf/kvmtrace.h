/* Types shared by kvmtrace.bpf.c and its loader probes/kvmtrace.c: plain types only. */
#ifndef VMSCOPE_KVMTRACE_H
#define VMSCOPE_KVMTRACE_H

enum kt_event {
	KT_USERSPACE_EXIT, /* detail: KVM_EXIT_* reason */
	KT_PIO,		   /* detail: port */
	KT_MMIO,	   /* detail: guest-physical page number (gpa >> 12) */
	KT_EMULATE_INSN,   /* detail: 1 if the emulation failed */
	KT_MSI_SET_IRQ,	   /* detail: 0 */
	KT_EXIT,	   /* detail: VMX or SVM exit reason */
	KT_ENTRY,	   /* detail: 0 */
	KT_HYPERCALL,	   /* detail: hypercall number (low 32 bits) */
	KT_CPUID,	   /* detail: leaf */
	/* With KT_OPEN_LATENCY (attach) only: what the host sees of any VM's interrupts and halts.
	 */
	KT_APIC_ACCEPT_IRQ, /* detail: vector */
	KT_VCPU_WAKEUP,	    /* detail: 1 the halt waited, 0 halt-polling caught the wakeup */
	/* With KT_OPEN_LATENCY where exits are timed to KVM_RUN's entry: kvm_fpu, which fires as
	 * KVM_RUN loads the guest's FPU state (detail KT_RUN_ENTER) and as it puts it back before
	 * returning (KT_RUN_RETURN). */
	KT_RUN,
	KT_MAX,
};

enum { KT_RUN_RETURN, KT_RUN_ENTER };

struct kt_key {
	unsigned int event;
	unsigned int detail;
};

#define KT_MAP_ENTRIES 4096

/* The larger details' first stop (kvmtrace.bpf.c's slots map): a per-CPU array indexed by a hash
 * of the event and detail, each slot held by the first detail to land on it; a detail whose slot
 * another holds goes on to the hash map. An array slot is a few instructions, a hash lookup is
 * the hash and a walk. */
#define KT_SLOTS_BITS 9
#define KT_SLOTS      (1u << KT_SLOTS_BITS)

struct kt_slot {
	unsigned int event; /* the event + 1; 0: free */
	unsigned int detail;
	unsigned long long count;
};

static inline unsigned int kt_slot_of(unsigned int event, unsigned int detail)
{
	return ((detail ^ (event << 24)) * 2654435761u) >> (32 - KT_SLOTS_BITS);
}

/* The per-CPU array's slots (kvmtrace.bpf.c's flat map): runs passed over, then each event's
 * small details (below KT_FLAT_DETAILS), which never go to the hash, then the vCPU threads whose
 * vCPU is known (attach only; not a count of runs). */
#define KT_FLAT_OTHERS	  0
#define KT_FLAT_UNCOUNTED KT_MAX
#define KT_FLAT_EVENTS	  (2 * KT_MAX)
#define KT_FLAT_DETAILS	  64
#define KT_FLAT_LEARNT	  (KT_FLAT_EVENTS + KT_MAX * KT_FLAT_DETAILS)
#define KT_FLAT_MAX	  (KT_FLAT_LEARNT + 1)

/* Exit latency (vmscope attach): the time a vCPU spends out of the guest per exit, as a log2
 * histogram of nanoseconds by reason and vCPU. Two kinds, by what the host's KVM shows: from
 * kvm_exit (its hardware reason) to the vCPU's next kvm_entry, where those fire (VT-x, AMD-V);
 * from kvm_userspace_exit (its KVM_EXIT_* reason) to the vCPU thread's next KVM_RUN, which is
 * all kvm_pvm shows (its kvm_exit and kvm_entry never fire). */
enum kt_lat_kind {
	KT_LAT_EXIT,
	KT_LAT_USERSPACE,
	KT_LAT_KINDS,
};
#define KT_THREAD_SLOTS_BITS                                                                       \
	10 /* where each vCPU thread's exit began (kvmtrace.bpf.c's lat_start) */
#define KT_THREAD_SLOTS (1u << KT_THREAD_SLOTS_BITS)
#define KT_LAT_SLOTS	32 /* slot i counts [2^i, 2^(i+1)) ns; the last one, all above */
#define KT_LAT_ENTRIES	2048

struct kt_lat_key {
	unsigned int kind;
	unsigned int reason;
	unsigned int vcpu;
	unsigned int pad;
};

struct kt_lat_val {
	unsigned long long slot[KT_LAT_SLOTS];
	unsigned long long max_ns, sum_ns;
};

/* The histograms' first stop, as kt_slot is the details': a per-CPU array by a hash of the key,
 * each slot held by the first key to land on it (used: 1), the lat hash for the rest. */
#define KT_LAT_SLOTS_BITS 6
#define KT_LAT_SLOTS_NR	  (1u << KT_LAT_SLOTS_BITS)

struct kt_lat_slot {
	struct kt_lat_key key; /* key.pad: 1 once the slot is held */
	struct kt_lat_val val;
};

static inline unsigned int kt_lat_slot_of(const struct kt_lat_key *k)
{
	return ((k->reason ^ (k->vcpu << 12) ^ (k->kind << 28)) * 2654435761u) >>
	       (32 - KT_LAT_SLOTS_BITS);
}

#endif
