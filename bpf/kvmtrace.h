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
	KT_MAX,
};

struct kt_key {
	unsigned int event;
	unsigned int detail;
};

#define KT_MAP_ENTRIES 4096

/* The per-CPU array's slots (kvmtrace.bpf.c's flat map): runs passed over, then each event's
 * small details (below KT_FLAT_DETAILS), which never go to the hash. */
#define KT_FLAT_OTHERS	  0
#define KT_FLAT_UNCOUNTED KT_MAX
#define KT_FLAT_EVENTS	  (2 * KT_MAX)
#define KT_FLAT_DETAILS	  64
#define KT_FLAT_MAX	  (KT_FLAT_EVENTS + KT_MAX * KT_FLAT_DETAILS)

#endif
