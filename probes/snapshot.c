/* Snapshot helpers shared by the session (writer) and the front ends (readers). */
#include "snapshot.h"

#include <stdio.h>
#include <string.h>

const char *source_name(enum source s)
{
	static const char *const names[SRC_MAX] = {"guest", "vmm", "stats", "bpf"};
	return s < SRC_MAX ? names[s] : "?";
}

const char *snap_event_name(enum snap_event_kind k)
{
	static const char *const names[SEV_MAX] = {"nic_switch", "guest_restarted", "guest_failed",
						   "link"};
	return (unsigned)k < SEV_MAX ? names[k] : "?";
}

const char *snap_kind_name(uint32_t exit_kind)
{
	return exit_kind == SNAP_NO_KIND ? "-" : exit_kind_name(exit_kind);
}

const char *per_packet_name(enum per_packet_part p)
{
	static const char *const names[PP_MAX] = {"all",  "userspace", "in_kernel", "nic",
						  "irqs", "card",      "vmm",	    "guest"};
	return p < PP_MAX ? names[p] : "?";
}

const char *ping_hop_name(enum ping_hop h)
{
	static const char *const names[HOP_MAX] = {"to_link", "link", "card_in", "guest_in"};
	return h < HOP_MAX ? names[h] : "?";
}

/* Who timed each hop's ends: the guest's TSC, the VMM's at the link, or both. */
const char *ping_hop_source(enum ping_hop h)
{
	static const char *const src[HOP_MAX] = {"guest-vmm", "vmm", "vmm", "vmm-guest"};
	return h < HOP_MAX ? src[h] : "?";
}

const char *kt_event_name(unsigned event)
{
	static const char *const names[KT_MAX] = {
	    [KT_USERSPACE_EXIT] = "kvm_userspace_exit",
	    [KT_PIO] = "kvm_pio",
	    [KT_MMIO] = "kvm_mmio",
	    [KT_EMULATE_INSN] = "kvm_emulate_insn",
	    [KT_MSI_SET_IRQ] = "kvm_msi_set_irq",
	    [KT_EXIT] = "kvm_exit",
	    [KT_ENTRY] = "kvm_entry",
	    [KT_HYPERCALL] = "kvm_hypercall",
	    [KT_CPUID] = "kvm_cpuid",
	    [KT_APIC_ACCEPT_IRQ] = "kvm_apic_accept_irq",
	    [KT_VCPU_WAKEUP] = "kvm_vcpu_wakeup",
	    [KT_RUN] = "kvm_fpu",
	};
	return event < KT_MAX ? names[event] : "?";
}

/* VMX basic exit reasons (Intel SDM Vol. 3D, Appendix C). */
static const char *const vmx_exit_names[] = {
    "EXCEPTION_NMI",
    "EXTERNAL_INTERRUPT",
    "TRIPLE_FAULT",
    "INIT",
    "SIPI",
    "IO_SMI",
    "OTHER_SMI",
    "INTERRUPT_WINDOW",
    "NMI_WINDOW",
    "TASK_SWITCH",
    "CPUID",
    "GETSEC",
    "HLT",
    "INVD",
    "INVLPG",
    "RDPMC",
    "RDTSC",
    "RSM",
    "VMCALL",
    "VMCLEAR",
    "VMLAUNCH",
    "VMPTRLD",
    "VMPTRST",
    "VMREAD",
    "VMRESUME",
    "VMWRITE",
    "VMXOFF",
    "VMXON",
    "CR_ACCESS",
    "DR_ACCESS",
    "IO_INSTRUCTION",
    "MSR_READ",
    "MSR_WRITE",
    "INVALID_STATE",
    "MSR_LOAD_FAIL",
    NULL,
    "MWAIT",
    "MONITOR_TRAP_FLAG",
    NULL,
    "MONITOR",
    "PAUSE",
    "MCE_DURING_VMENTRY",
    NULL,
    "TPR_BELOW_THRESHOLD",
    "APIC_ACCESS",
    "EOI_INDUCED",
    "GDTR_IDTR",
    "LDTR_TR",
    "EPT_VIOLATION",
    "EPT_MISCONFIG",
    "INVEPT",
    "RDTSCP",
    "PREEMPTION_TIMER",
    "INVVPID",
    "WBINVD",
    "XSETBV",
    "APIC_WRITE",
    "RDRAND",
    "INVPCID",
    "VMFUNC",
    "ENCLS",
    "RDSEED",
    "PML_FULL",
    "XSAVES",
    "XRSTORS",
    NULL,
    NULL,
    "UMWAIT",
    "TPAUSE",
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    "BUS_LOCK",
    "NOTIFY",
};

/* SVM exit codes from 0x60 (AMD APM Vol. 2, Appendix C); below it, CR/DR accesses and
 * exceptions by number. */
static const char *const svm_exit_names[] = {
    "INTR",	   "NMI",	"SMI",	      "INIT",	 "VINTR",      "CR0_SEL_WRITE",
    "IDTR_READ",   "GDTR_READ", "LDTR_READ",  "TR_READ", "IDTR_WRITE", "GDTR_WRITE",
    "LDTR_WRITE",  "TR_WRITE",	"RDTSC",      "RDPMC",	 "PUSHF",      "POPF",
    "CPUID",	   "RSM",	"IRET",	      "SWINT",	 "INVD",       "PAUSE",
    "HLT",	   "INVLPG",	"INVLPGA",    "IOIO",	 "MSR",	       "TASK_SWITCH",
    "FERR_FREEZE", "SHUTDOWN",	"VMRUN",      "VMMCALL", "VMLOAD",     "VMSAVE",
    "STGI",	   "CLGI",	"SKINIT",     "RDTSCP",	 "ICEBP",      "WBINVD",
    "MONITOR",	   "MWAIT",	"MWAIT_COND", "XSETBV",	 "RDPRU",      "EFER_WRITE_TRAP",
};

/* An SVM exit code's name into buf, or NULL. */
static const char *svm_exit_name(unsigned code, char *buf, size_t n)
{
	static const char *const low[] = {"READ_CR",  "WRITE_CR", "READ_DR",
					  "WRITE_DR", "EXCP",	  "EXCP"};
	static const char *const npf[] = {"NPF", "AVIC_INCOMPLETE_IPI", "AVIC_NOACCEL", "VMGEXIT"};
	const unsigned nr = sizeof(svm_exit_names) / sizeof(svm_exit_names[0]);
	if (code < 0x60) /* CR and DR accesses by register, exceptions by vector */
		snprintf(buf, n, "%s%u", low[code >> 4], code < 0x40 ? code & 15 : code - 0x40);
	else if (code - 0x60 < nr)
		snprintf(buf, n, "%s", svm_exit_names[code - 0x60]);
	else if (code >= 0x90 && code < 0xa0)
		snprintf(buf, n, "CR%u_WRITE_TRAP", code - 0x90);
	else if (code >= 0x400 && code - 0x400 < sizeof(npf) / sizeof(npf[0]))
		snprintf(buf, n, "%s", npf[code - 0x400]);
	else
		return NULL;
	return buf;
}

const char *hw_exit_reason_name(enum host_kind host, unsigned code, char *buf, size_t n)
{
	const unsigned nr = sizeof(vmx_exit_names) / sizeof(vmx_exit_names[0]);
	if (host == HOST_AMDV)
		return svm_exit_name(code, buf, n);
	if (host != HOST_VTX || code >= nr || !vmx_exit_names[code])
		return NULL;
	snprintf(buf, n, "%s", vmx_exit_names[code]);
	return buf;
}

double snapshot_irq_rate(const struct snapshot *s)
{
	return s->irq_timer.rate + s->irq_command.rate + s->irq_self.rate + s->irq_nic.rate;
}

const char *kvm_hypercall_name(unsigned nr, char *buf, size_t n)
{
	static const char *const names[] = {
	    [1] = "KVM_HC_VAPIC_POLL_IRQ", [5] = "KVM_HC_KICK_CPU",
	    [9] = "KVM_HC_CLOCK_PAIRING",  [10] = "KVM_HC_SEND_IPI",
	    [11] = "KVM_HC_SCHED_YIELD",   [12] = "KVM_HC_MAP_GPA_RANGE",
	};
	if (nr < sizeof(names) / sizeof(names[0]) && names[nr])
		snprintf(buf, n, "%s", names[nr]);
	else
		snprintf(buf, n, "%u", nr);
	return buf;
}

const char *kvm_exit_reason_name(unsigned reason)
{
	static const char *const names[] = {
	    "UNKNOWN",
	    "EXCEPTION",
	    "IO",
	    "HYPERCALL",
	    "DEBUG",
	    "HLT",
	    "MMIO",
	    "IRQ_WINDOW_OPEN",
	    "SHUTDOWN",
	    "FAIL_ENTRY",
	    "INTR",
	    "SET_TPR",
	    "TPR_ACCESS",
	    "S390_SIEIC",
	    "S390_RESET",
	    "DCR",
	    "NMI",
	    "INTERNAL_ERROR",
	    "OSI",
	    "PAPR_HCALL",
	    "S390_UCONTROL",
	    "WATCHDOG",
	    "S390_TSCH",
	    "EPR",
	    "SYSTEM_EVENT",
	    "S390_STSI",
	    "IOAPIC_EOI",
	    "HYPERV",
	    "ARM_NISV",
	    "X86_RDMSR",
	    "X86_WRMSR",
	};
	return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : "OTHER";
}

void figure_update(struct figure *f, uint64_t total, uint64_t prev_total, double dt)
{
	f->valid = true;
	f->total = total;
	f->rate = (dt > 0 && total >= prev_total) ? (double)(total - prev_total) / dt : 0;
}

const struct named_figure *snapshot_find(const struct named_figure *arr, unsigned nr,
					 const char *name)
{
	for (unsigned i = 0; i < nr; i++)
		if (!strcmp(arr[i].name, name))
			return &arr[i];
	return NULL;
}

double log2_hist_percentile(const uint64_t *hist, unsigned slots, double q)
{
	uint64_t total = 0, seen = 0;
	for (unsigned i = 0; i < slots; i++)
		total += hist[i];
	if (!total)
		return 0;
	double want = q * (double)total;
	for (unsigned i = 0; i < slots; i++) {
		if (!hist[i])
			continue;
		if ((double)(seen + hist[i]) >= want) {
			/* slot i holds [2^i, 2^(i+1)) */
			double lo = (double)(1ull << i),
			       frac = (want - (double)seen) / (double)hist[i];
			return lo + frac * lo;
		}
		seen += hist[i];
	}
	return (double)(1ull << (slots - 1));
}

double hist_percentile_us(const uint64_t *hist, unsigned slots, double q, uint64_t tsc_khz)
{
	return tsc_khz ? log2_hist_percentile(hist, slots, q) * 1000.0 / (double)tsc_khz : 0;
}

double rtt_percentile_us(const uint64_t *h, double q, uint64_t tsc_khz)
{
	uint64_t total = 0, seen = 0;
	for (unsigned i = 0; i < RTT_SLOTS; i++)
		total += h[i];
	if (!total || !tsc_khz)
		return 0;
	double want = q * (double)total, us_per_cycle = 1000.0 / (double)tsc_khz;
	for (unsigned i = 0; i < RTT_SLOTS; i++) {
		if (!h[i])
			continue;
		if ((double)(seen + h[i]) >= want) {
			double lo = (double)rtt_slot_low(i), hi = (double)rtt_slot_low(i + 1),
			       frac = (want - (double)seen) / (double)h[i];
			return (lo + frac * (hi - lo)) * us_per_cycle;
		}
		seen += h[i];
	}
	return (double)rtt_slot_low(RTT_SLOTS) * us_per_cycle;
}

double snap_latency_us(const struct snap_latency *l, double q)
{
	double ns = log2_hist_percentile(l->hist, KT_LAT_SLOTS, q);
	/* No slot's interpolation goes past the largest one seen. */
	return (ns > (double)l->max_ns ? (double)l->max_ns : ns) / 1000.0;
}

const char snap_attached_absent[] =
    "an attached VM: the guest's own counters, the VMM's, the card and the live switch are "
    "what vmscope's built-in VM shows; the host sees this VM through KVM's stats and tracepoints";
