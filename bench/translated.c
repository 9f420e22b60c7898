/* bench/translated: the translated CPU (Unicorn's TCG) beside KVM's native mode on this host, in
 * one run: a plain guest instruction's cost (the guest's work loop, and the same loop on the
 * host), each exit kind's round trip as the guest's TSC sees it, and the translator's own
 * figures (blocks translated, instructions a second). Rounds alternate the two CPUs so drift on
 * the machine hits both; each figure is the median of its rounds. Where there is no KVM the
 * KVM column is "-". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "probes/session.h"
#include "vmm/clock.h"
#include "vmm/vmm.h"

#define ROUNDS		5
#define SECONDS_PER_RUN 0.3

enum { KVM, TCG, NCPU };

struct cpu_run {
	struct session *s;
	double exit_ns[EK_MAX][ROUNDS];
	double insn_ns[ROUNDS], host_insn_ns, insns_per_s[ROUNDS];
	uint64_t blocks;
};

static const struct named_figure *vmm_figure(const struct snapshot *s, const char *name)
{
	return snapshot_find(s->vmm, s->nr_vmm, name);
}

/* One round: every kind unpaced for a while, the guest's own average per op (under cpuid, the
 * translator's instructions a second: the guest busy, TCG running CPUID itself); then a paced
 * load for the work loop's figure; then idle, so the other CPU's round runs alone. */
static void round_of(struct cpu_run *c, int r)
{
	static struct snapshot a, b;
	struct ctl_page x, y;
	struct vmm *vm = session_vmm(c->s);
	double ns_per_cycle = 1e6 / (double)vmm_tsc_khz(vm);
	for (uint32_t k = 0; k < EK_MAX; k++) {
		session_set_workload(c->s, WL_EXITS, k, 0);
		nap(0.05);
		vmm_read_ctl(vm, &x);
		session_tick(c->s, &a);
		nap(SECONDS_PER_RUN);
		vmm_read_ctl(vm, &y);
		session_tick(c->s, &b);
		const struct named_figure *i0 = vmm_figure(&a, "tcg_insns"),
					  *i1 = vmm_figure(&b, "tcg_insns");
		if (k == EK_CPUID)
			c->insns_per_s[r] = i0 && i1 && b.t > a.t
						? (double)(i1->f.total - i0->f.total) / (b.t - a.t)
						: -1;
		uint64_t ops = y.kind[k].ops - x.kind[k].ops;
		c->exit_ns[k][r] =
		    ops ? (double)(y.kind[k].cycles - x.kind[k].cycles) / (double)ops * ns_per_cycle
			: -1;
	}
	session_set_workload(c->s, WL_EXITS, EK_ALL, 1000);
	session_tick(c->s, &a);
	nap(1.0);
	session_tick(c->s, &b);
	c->insn_ns[r] = b.work.valid ? b.work.ns_per_insn : -1;
	c->host_insn_ns = b.work.host_ns_per_insn;
	const struct named_figure *blocks = vmm_figure(&b, "tcg_blocks_translated");
	c->blocks = blocks ? blocks->f.total : 0;
	session_set_workload(c->s, WL_IDLE, 0, 0);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, ROUNDS, sizeof(*v), cmp);
	return v[ROUNDS / 2];
}

static void cell(char *out, size_t n, double ns)
{
	if (ns < 0)
		snprintf(out, n, "-");
	else if (ns < 10)
		snprintf(out, n, "%.2f ns", ns);
	else if (ns < 1e4)
		snprintf(out, n, "%.0f ns", ns);
	else
		snprintf(out, n, "%.1f us", ns / 1e3);
}

int main(void)
{
	static struct cpu_run c[NCPU];
	const char *why;
	const enum cpu_mode mode[NCPU] = {CPU_AUTO, CPU_TRANSLATED};

	print_machine();
	for (int i = 0; i < NCPU; i++) {
		struct session_opts so = {.cpu = mode[i], .workload = WL_IDLE, .no_bpf = true};
		if (session_open(&c[i].s, &so, &why)) {
			fprintf(stderr, "bench/translated: %s\n", why);
			return 1;
		}
	}
	bool kvm = session_cpu_mode(c[KVM].s) != CPU_TRANSLATED;
	for (int r = 0; r < ROUNDS; r++)
		for (int i = kvm ? KVM : TCG; i < NCPU; i++)
			round_of(&c[i], r);

	printf("bench/translated: host %s; KVM's mode %s; guest TSC per op, median of %d rounds\n",
	       host_kind_name(session_host(c[KVM].s)),
	       kvm ? cpu_mode_name(session_cpu_mode(c[KVM].s)) : "- (no KVM)", ROUNDS);
	printf("  %-18s %12s %12s %10s\n", "", "kvm", "translated", "ratio");
	char a[24], b[24], ratio[24];
	for (uint32_t k = 0; k < EK_MAX; k++) {
		double x = kvm ? median(c[KVM].exit_ns[k]) : -1, y = median(c[TCG].exit_ns[k]);
		cell(a, sizeof(a), x);
		cell(b, sizeof(b), y);
		snprintf(ratio, sizeof(ratio), x > 0 && y > 0 ? "%.2fx" : "-", y / x);
		printf("  %-18s %12s %12s %10s\n", exit_kind_name(k), a, b, ratio);
	}
	double x = kvm ? median(c[KVM].insn_ns) : -1, y = median(c[TCG].insn_ns);
	cell(a, sizeof(a), x);
	cell(b, sizeof(b), y);
	snprintf(ratio, sizeof(ratio), x > 0 && y > 0 ? "%.1fx" : "-", y / x);
	printf("  %-18s %12s %12s %10s   (the same loop on the host: %.2f ns)\n",
	       "plain instruction", a, b, ratio, c[TCG].host_insn_ns);
	printf("  translated: %llu blocks translated, %.1fM guest instructions/s under unpaced "
	       "cpuid\n",
	       (unsigned long long)c[TCG].blocks, median(c[TCG].insns_per_s) / 1e6);
	for (int i = 0; i < NCPU; i++)
		session_close(c[i].s);
	return 0;
}
