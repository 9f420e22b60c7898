/* Snapshot helpers shared by the session (writer) and the front ends (readers). */
#include "snapshot.h"

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
	};
	return event < KT_MAX ? names[event] : "?";
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
