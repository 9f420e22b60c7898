/* Loader for bpf/kvmtrace.bpf.c: open, set rodata, load, attach, read (libbpf-tools lifecycle). */
#include "kvmtrace.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "kvmtrace.skel.h"
#include "probes/snapshot.h"

struct kvmtrace {
	struct kvmtrace_bpf *skel;
	struct bpf_link *links[KT_MAX];
	bool attached[KT_MAX];
	struct bpf_program *prog[KT_MAX]; /* each event's program: tp_btf/ or classic tp/ */
	int ncpus;			  /* the per-CPU map's values */
	int stats_fd; /* BPF_ENABLE_STATS: the kernel times every program while it is open */
	bool cost_ok; /* the kernel accounts run time here */
	unsigned reads;
	uint64_t w_runs, w_ns, w_counted;		 /* the open window's start (kt_counts) */
	uint64_t win_seq, win_runs, win_ns, win_counted; /* the last one to end */
	uint64_t *vals;
	bool latency;		     /* KT_OPEN_LATENCY */
	struct bpf_link *run_link;   /* kvm_fpu: KVM_RUN's entry, the userspace kind's end */
	bool timed_run;		     /* kvm_fpu's program is loaded (its link may be gone) */
	bool at_run;		     /* userspace exits read at KVM_RUN's return (exits_at_run) */
	unsigned time_reads;	     /* reads since opening, for the probes' windows */
	bool sampled;		     /* KT_OPEN_SAMPLED: every probe on in windows only */
	bool window_on;		     /* a window (timing, or sampled) is open until the next read */
	bool entry_seen;	     /* kvm_entry fires here: it ends timed exits, not kvm_fpu */
	unsigned vcpus;		     /* kvmtrace_vcpus: the vCPUs the watched VMM holds */
	uint64_t learnt;	     /* the vCPU threads whose vCPU the programs know */
	struct kt_lat_val *lat_vals; /* one histogram, ncpus values */
	uint64_t *flat_vals; /* the flat map read whole: KT_FLAT_MAX slots of ncpus values */
	__u32 *flat_keys;
	struct kt_slot *slot_vals;	   /* the slots map read whole: KT_SLOTS of ncpus values */
	struct kt_lat_slot *lat_slot_vals; /* lat_slots read whole: KT_LAT_SLOTS_NR of ncpus */
};

static bool verbose_libbpf;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!verbose_libbpf || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static const char *tracefs_root(void)
{
	static const char *const roots[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
	char path[128];
	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/events/kvm", roots[i]);
		if (access(path, F_OK) == 0)
			return roots[i];
	}
	/* docs/kvm-hosts.md: tracefs is not always mounted; tp/ attachment needs it. */
	if (mount("tracefs", roots[0], "tracefs", 0, NULL) == 0) {
		snprintf(path, sizeof(path), "%s/events/kvm", roots[0]);
		if (access(path, F_OK) == 0)
			return roots[0];
	}
	return NULL;
}

/* The program of an event: the classic tracepoint's is named after it (kvm_pio), the BTF raw
 * tracepoint's has _btf after it (kvm_exit has none: kvmtrace.bpf.c). NULL: none. */
static struct bpf_program *program_of(struct kvmtrace_bpf *skel, unsigned event, bool raw)
{
	char name[64];
	snprintf(name, sizeof(name), "%s%s", kt_event_name(event), raw ? "_btf" : "");
	return bpf_object__find_program_by_name(skel->obj, name);
}

/* Whether the kernel (or the kvm module) describes the tracepoint's arguments in BTF. */
static bool has_raw_tp(struct btf *vmlinux, struct btf *kvm, const char *tracepoint)
{
	char name[64];
	snprintf(name, sizeof(name), "btf_trace_%s", tracepoint);
	return (vmlinux && btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) > 0) ||
	       (kvm && btf__find_by_name_kind(kvm, name, BTF_KIND_TYPEDEF) > 0);
}

/* The kernel's BTF and the kvm module's (NULL where there is none); btf__free both. */
static void load_btf(struct btf **vmlinux, struct btf **kvm)
{
	*kvm = NULL;
	*vmlinux = btf__load_vmlinux_btf();
	if (libbpf_get_error(*vmlinux))
		*vmlinux = NULL;
	if (*vmlinux) {
		*kvm = btf__load_module_btf("kvm", *vmlinux);
		if (libbpf_get_error(*kvm))
			*kvm = NULL;
	}
}

void kvmtrace_btf_tracepoints(const char *const *tracepoints, unsigned n, bool *out)
{
	struct btf *vmlinux, *kvm;
	load_btf(&vmlinux, &kvm);
	for (unsigned i = 0; i < n; i++)
		out[i] = has_raw_tp(vmlinux, kvm, tracepoints[i]);
	btf__free(kvm);
	btf__free(vmlinux);
}

/* One program an event: the raw one where BTF describes it, else the classic one; a tracepoint
 * this kernel lacks must not sink the rest: load only what exists. VMSCOPE_BPF_CLASSIC=1 takes the
 * classic ones everywhere, as a kernel without the BTF would (the tests check both). */
static void choose_programs(struct kvmtrace *kt, const char *root, bool attach, bool at_run)
{
	const char *classic_only = getenv("VMSCOPE_BPF_CLASSIC");
	bool want_raw = !classic_only || strcmp(classic_only, "1");
	char path[160];
	struct btf *vmlinux, *kvm;
	load_btf(&vmlinux, &kvm);
	for (unsigned e = 0; e < KT_MAX; e++) {
		if (e == KT_RUN)
			continue; /* load_object's */
		struct bpf_program *raw = program_of(kt->skel, e, true),
				   *classic = program_of(kt->skel, e, false);
		snprintf(path, sizeof(path), "%s/events/kvm/%s/id", root, kt_event_name(e));
		bool use_raw = want_raw && raw && has_raw_tp(vmlinux, kvm, kt_event_name(e));
		/* The interrupts and halts of a VM watched from outside: vmscope's own VM has
		 * its guest's counts of them. */
		bool wanted = attach || e < KT_APIC_ACCEPT_IRQ;
		/* Exits read at KVM_RUN's return: their ports and pages are not traced, nor the
		 * vCPU learnt; kvm_exit and kvm_entry never fire where that is done (kvm_pvm). */
		if (at_run && (e == KT_PIO || e == KT_MMIO || e == KT_EMULATE_INSN ||
			       e == KT_EXIT || e == KT_ENTRY))
			wanted = false;
		kt->prog[e] = use_raw ? raw : classic;
		if (raw)
			bpf_program__set_autoload(raw, wanted && use_raw);
		bpf_program__set_autoload(classic, wanted && !use_raw && access(path, F_OK) == 0);
	}
	btf__free(kvm);
	btf__free(vmlinux);
}

/* The BPF object opened afresh, set for this watch (its process, whether exits are timed, which
 * programs load; timed_run: kvm_fpu too, KVM_RUN's edges; at_run: userspace exits read there)
 * and loaded. 0, or -errno (kt->skel NULL: it could not be opened). */
static int load_object(struct kvmtrace *kt, pid_t tgid, const char *root, bool timed_run,
		       bool at_run)
{
	kvmtrace_bpf__destroy(kt->skel);
	kt->skel = kvmtrace_bpf__open();
	if (!kt->skel)
		return -errno;
	kt->skel->rodata->target_tgid = (__u32)tgid;
	kt->skel->rodata->latency_on = kt->latency;
	kt->skel->rodata->exits_at_run = at_run;
	kt->at_run = at_run;
	choose_programs(kt, root, kt->latency, at_run);
	kt->prog[KT_RUN] = kt->skel->progs.kvm_fpu_btf;
	bpf_program__set_autoload(kt->skel->progs.kvm_fpu_btf, timed_run);
	return kvmtrace_bpf__load(kt->skel);
}

int kvmtrace_open(struct kvmtrace **out, pid_t tgid, unsigned flags, const char **why)
{
	struct kvmtrace *kt;
	const char *root;
	int r, nr_attached = 0;

	verbose_libbpf = flags & KT_OPEN_VERBOSE;
	libbpf_set_print(libbpf_print);
	if (geteuid() != 0) {
		*why =
		    "eBPF probes are off: they need root (CAP_BPF and CAP_PERFMON); run with sudo";
		return -EPERM;
	}
	root = tracefs_root();
	if (!root) {
		*why =
		    "eBPF probes are off: the kvm tracepoints are not visible (tracefs could not "
		    "be mounted)";
		return -ENOENT;
	}
	kt = calloc(1, sizeof(*kt));
	if (!kt)
		return -ENOMEM;
	/* The observer's own cost, as bpftop reads it: the kernel's run time of each program, in
	 * windows (kt_counts); the first begins at the first read. */
	kt->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	kt->cost_ok = kt->stats_fd >= 0;
	if (kt->cost_ok)
		close(kt->stats_fd);
	kt->stats_fd = -1;
	kt->reads = KT_COST_EVERY - 1;
	kt->latency = flags & KT_OPEN_LATENCY;
	kt->ncpus = libbpf_num_possible_cpus();
	kt->vals = kt->ncpus > 0 ? calloc((size_t)kt->ncpus, sizeof(*kt->vals)) : NULL;
	kt->flat_vals =
	    kt->ncpus > 0 ? calloc((size_t)KT_FLAT_MAX * (size_t)kt->ncpus, sizeof(*kt->flat_vals))
			  : NULL;
	kt->flat_keys =
	    calloc(KT_FLAT_MAX > KT_SLOTS ? KT_FLAT_MAX : KT_SLOTS, sizeof(*kt->flat_keys));
	kt->slot_vals = kt->ncpus > 0
			    ? calloc((size_t)KT_SLOTS * (size_t)kt->ncpus, sizeof(*kt->slot_vals))
			    : NULL;
	kt->lat_slot_vals = kt->ncpus > 0 ? calloc((size_t)KT_LAT_SLOTS_NR * (size_t)kt->ncpus,
						   sizeof(*kt->lat_slot_vals))
					  : NULL;
	kt->lat_vals = kt->ncpus > 0 ? calloc((size_t)kt->ncpus, sizeof(*kt->lat_vals)) : NULL;
	if (!kt->vals || !kt->flat_vals || !kt->flat_keys || !kt->lat_vals || !kt->slot_vals ||
	    !kt->lat_slot_vals) {
		r = -ENOMEM;
		*why = kt->ncpus > 0
			   ? "eBPF probes are off: out of memory for their counters"
			   : "eBPF probes are off: the possible CPUs could not be counted";
		goto err;
	}
	bool at_run = kt->latency && (flags & KT_OPEN_AT_RUN);
	kt->sampled = kt->latency && (flags & KT_OPEN_SAMPLED);
	r = load_object(kt, tgid, root, kt->latency, at_run);
	/* Its exits are read at kvm_userspace_exit's BTF program: where that cannot be had, by
	 * their own tracepoints. */
	if (!r && at_run && kt->prog[KT_USERSPACE_EXIT] != kt->skel->progs.kvm_userspace_exit_btf)
		r = -ENOENT;
	/* A kernel whose verifier cannot follow the vCPU (no bpf_rdonly_cast, before 6.2): its
	 * exits from their own tracepoints. */
	if (r && kt->skel && at_run)
		r = load_object(kt, tgid, root, kt->latency, false);
	/* A kernel that cannot trace KVM_RUN's entry (no BTF for kvm_fpu): the userspace kind is
	 * not timed; the rest loads as ever. */
	if (r && kt->skel && kt->latency)
		r = load_object(kt, tgid, root, false, false);
	if (r) {
		*why = !kt->skel ? "eBPF probes are off: the BPF object could not be opened"
		       : r == -EPERM
			   ? "eBPF probes are off: the kernel refused to load BPF programs "
			     "(lockdown or missing CAP_BPF)"
			   : "eBPF probes are off: the kernel's verifier refused the programs";
		goto err;
	}
	/* The end of a timed exit first: a start it could not close would stand in the way of the
	 * next one's. */
	if (kt->latency && bpf_program__autoload(kt->skel->progs.kvm_fpu_btf)) {
		if (kt->at_run || kt->sampled) { /* the first window, until the first read */
			kt->skel->bss->timing_window = 1;
			kt->skel->bss->timing_on = 1;
		}
		kt->run_link = bpf_program__attach(kt->skel->progs.kvm_fpu_btf);
	}
	kt->timed_run = kt->attached[KT_RUN] = kt->run_link != NULL;
	kt->window_on = kt->sampled || (kt->at_run && kt->timed_run);
	nr_attached = kt->timed_run;
	for (unsigned e = 0; e < KT_MAX; e++) {
		struct bpf_program *p = kt->prog[e];
		if (e == KT_RUN || !bpf_program__autoload(p))
			continue;
		struct bpf_link *link = bpf_program__attach(p);
		if (!link)
			continue;
		kt->links[e] = link;
		kt->attached[e] = true;
		nr_attached++;
	}
	if (!nr_attached) {
		r = -ENOENT;
		*why = "eBPF probes are off: no kvm tracepoint could be attached";
		goto err;
	}
	*out = kt;
	return 0;
err:
	kvmtrace_close(kt);
	return r < 0 ? r : -EIO;
}

static void add_detail(struct kt_counts *c, unsigned e, uint32_t detail, uint64_t n)
{
	unsigned nr = c->nr_detail[e];
	if (nr < KT_DETAIL_MAX) {
		c->detail[e][nr] = (struct kt_detail){detail, n};
		c->nr_detail[e]++;
		return;
	}
	/* Full: keep the busiest, so a flood of one kind never hides behind rare ones. */
	unsigned min = 0;
	for (unsigned i = 1; i < nr; i++)
		if (c->detail[e][i].count < c->detail[e][min].count)
			min = i;
	if (c->detail[e][min].count < n)
		c->detail[e][min] = (struct kt_detail){detail, n};
}

/* A whole per-CPU array of n entries into vals in one call (a batch), or entry by entry where the
 * kernel has no batch for it; each entry's values are kt->ncpus apart, size bytes each. */
static int read_array(struct kvmtrace *kt, const struct bpf_map *m, __u32 n, void *vals,
		      size_t size)
{
	int fd = bpf_map__fd(m);
	__u32 count = n, out_batch;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	if (!bpf_map_lookup_batch(fd, NULL, &out_batch, kt->flat_keys, vals, &count, &opts) ||
	    (errno == ENOENT && count == n))
		return 0;
	for (__u32 i = 0; i < n; i++)
		if (bpf_map_lookup_elem(fd, &i,
					(char *)vals + (size_t)i * (size_t)kt->ncpus * size))
			return -1;
	return 0;
}

/* A detail's count from one more place (a CPU's slot, the hash): added to its entry if it has
 * one, a new entry if not. */
static void merge_detail(struct kt_counts *c, unsigned e, uint32_t detail, uint64_t n)
{
	c->total[e] += n;
	for (unsigned i = 0; i < c->nr_detail[e]; i++)
		if (c->detail[e][i].detail == detail) {
			c->detail[e][i].count += n;
			return;
		}
	add_detail(c, e, detail, n);
}

/* A program's runs and run time so far, by the kernel's accounting, added to runs and ns; false:
 * the kernel would not say. */
static bool add_cost(struct bpf_program *p, uint64_t *runs, uint64_t *ns)
{
	struct bpf_prog_info info = {0};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
		return false;
	*runs += info.run_cnt;
	*ns += info.run_time_ns;
	return true;
}

/* Every attached program's runs and run time by the kernel's accounting. */
static bool kernel_cost(struct kvmtrace *kt, uint64_t *runs, uint64_t *ns)
{
	bool ok = true;
	*runs = *ns = 0;
	for (unsigned e = 0; ok && e < KT_MAX; e++)
		if (kt->attached[e]) /* kvm_fpu's too after its link is gone: its runs so far */
			ok = add_cost(kt->prog[e], runs, ns);
	return ok;
}

/* The maps' counts into out (events, details, the runs that counted none). */
static int read_counts(struct kvmtrace *kt, struct kt_counts *out)
{
	int fd = bpf_map__fd(kt->skel->maps.counts);
	struct kt_key key, next;
	struct kt_key *prev = NULL;

	memset(out, 0, sizeof(*out));
	memcpy(out->attached, kt->attached, sizeof(out->attached));
	if (read_array(kt, kt->skel->maps.flat, KT_FLAT_MAX, kt->flat_vals, sizeof(uint64_t)) ||
	    read_array(kt, kt->skel->maps.slots, KT_SLOTS, kt->slot_vals, sizeof(struct kt_slot)))
		return -1;
	for (__u32 i = 0; i < KT_FLAT_MAX; i++) {
		uint64_t n = 0;
		for (int c = 0; c < kt->ncpus; c++)
			n += kt->flat_vals[(size_t)i * (size_t)kt->ncpus + (size_t)c];
		if (i == KT_FLAT_LEARNT)
			continue; /* not a count of runs (learn_vcpus) */
		else if (i < KT_FLAT_UNCOUNTED)
			out->others += n;
		else if (i < KT_FLAT_EVENTS)
			out->uncounted += n;
		else if (n) { /* an event's small detail */
			unsigned e = (i - KT_FLAT_EVENTS) / KT_FLAT_DETAILS;
			out->total[e] += n;
			add_detail(out, e, (i - KT_FLAT_EVENTS) % KT_FLAT_DETAILS, n);
		}
	}
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (key.event >= KT_MAX || bpf_map_lookup_elem(fd, &key, kt->vals))
			continue;
		uint64_t value = 0;
		for (int c = 0; c < kt->ncpus; c++)
			value += kt->vals[c];
		merge_detail(out, key.event, key.detail, value);
	}
	for (size_t i = 0; i < (size_t)KT_SLOTS * (size_t)kt->ncpus; i++) {
		const struct kt_slot *sl = &kt->slot_vals[i];
		if (sl->event && sl->event <= KT_MAX && sl->count)
			merge_detail(out, sl->event - 1, sl->detail, sl->count);
	}
	/* An exit read at KVM_RUN's return counts its port or page too, in the same run of
	 * kvm_userspace_exit's program: only the events attached are runs of their own. */
	out->exits_at_run = kt->at_run;
	out->run_cnt = out->others + out->uncounted;
	for (unsigned e = 0; e < KT_MAX; e++)
		if (kt->attached[e])
			out->run_cnt += out->total[e];
	return 0;
}

/* The kernel's accounting in windows (kt_counts): a window open ends at this read (and is kept
 * if the probes ran in it); else one begins at every KT_COST_EVERY-th. At each edge the kernel's
 * counts are read just after the maps' (out, this read's): the few runs between the two reads
 * are the probes' count only at the start, the kernel's only at the end. */
static void cost_window(struct kvmtrace *kt, struct kt_counts *out, bool sampled_opening)
{
	uint64_t runs, ns;
	bool due = ++kt->reads % KT_COST_EVERY == 0; /* every read counts, as window_opens' */
	if (kt->stats_fd >= 0) {
		/* a window without a run says nothing of a run's cost: the last one stands */
		if (kernel_cost(kt, &runs, &ns) && runs > kt->w_runs && ns >= kt->w_ns) {
			kt->win_seq++;
			kt->win_runs = runs - kt->w_runs;
			kt->win_ns = ns - kt->w_ns;
			kt->win_counted = out->run_cnt - kt->w_counted;
		}
		close(kt->stats_fd);
		kt->stats_fd = -1;
	} else if (kt->cost_ok && (kt->sampled ? sampled_opening : due)) {
		kt->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (kt->stats_fd >= 0 && !kernel_cost(kt, &kt->w_runs, &kt->w_ns)) {
			close(kt->stats_fd);
			kt->stats_fd = -1;
		}
		kt->w_counted = out->run_cnt;
	}
	out->cost_on = kt->cost_ok;
	out->win_seq = kt->win_seq;
	out->win_runs = kt->win_runs;
	out->win_ns = kt->win_ns;
	out->win_counted = kt->win_counted;
}

/* Attached from outside, kvm_emulate_insn's BTF program only learns each thread's vCPU
 * (kvmtrace.bpf.c): on while a vCPU's thread is not known yet, off after. */
static bool learning(const struct kvmtrace *kt)
{
	return kt->latency && kt->prog[KT_EMULATE_INSN] == kt->skel->progs.kvm_emulate_insn_btf &&
	       kt->attached[KT_EMULATE_INSN];
}

/* The program on while fewer threads are known than the VMM holds vCPUs, off once as many are.
 * True while it is on. */
static bool learn_vcpus(struct kvmtrace *kt)
{
	const unsigned e = KT_EMULATE_INSN;
	__u32 key = KT_FLAT_LEARNT;
	if (!learning(kt))
		return false;
	if (!bpf_map_lookup_elem(bpf_map__fd(kt->skel->maps.flat), &key, kt->vals)) {
		kt->learnt = 0;
		for (int c = 0; c < kt->ncpus; c++)
			kt->learnt += kt->vals[c];
	}
	bool need = !kt->vcpus || kt->learnt < kt->vcpus;
	if (need && !kt->links[e])
		kt->links[e] = bpf_program__attach(kt->prog[e]);
	else if (!need && kt->links[e]) {
		bpf_link__destroy(kt->links[e]);
		kt->links[e] = NULL;
	}
	return kt->links[e] != NULL;
}

/* Every event's link on or off (sampled); kvm_emulate_insn's while it learns is learn_vcpus'. */
static void probe_links(struct kvmtrace *kt, bool on)
{
	for (unsigned e = 0; e < KT_MAX; e++) {
		if (!kt->attached[e] || e == KT_RUN || (e == KT_EMULATE_INSN && learning(kt)))
			continue;
		if (on && !kt->links[e]) {
			kt->links[e] = bpf_program__attach(kt->prog[e]);
		} else if (!on && kt->links[e]) {
			bpf_link__destroy(kt->links[e]);
			kt->links[e] = NULL;
		}
	}
}

/* The probes' windows, one read's interval in KT_TIME_EVERY: with at_run the exits are timed in
 * them (kvm_fpu's link on), half a cycle away from the kernel's accounting windows so that the
 * two do not stack; sampled, every probe is on in them, and they are the accounting's windows.
 * A window's number tells its starts from an earlier one's, which are not ended in it. Whether
 * this read opens one (sampled: the accounting opens with it). */
static bool window_opens(struct kvmtrace *kt)
{
	if (!((kt->at_run && kt->timed_run) || kt->sampled))
		return false;
	/* every read counts, the one that closes a window too: one in KT_TIME_EVERY, not one
	 * in KT_TIME_EVERY + 1 */
	unsigned n = ++kt->time_reads;
	return !kt->window_on && n % KT_TIME_EVERY == (kt->sampled ? 0 : KT_TIME_EVERY / 2);
}

static void probe_window(struct kvmtrace *kt, struct kt_counts *out, bool opening)
{
	bool timing = kt->timed_run && (kt->at_run || (kt->sampled && !kt->entry_seen));
	if (kt->window_on) {
		kt->skel->bss->timing_on = 0;
		if (timing && kt->run_link) {
			bpf_link__destroy(kt->run_link);
			kt->run_link = NULL;
		}
		if (kt->sampled)
			probe_links(kt, false);
		kt->window_on = false;
		out->window_closed = true;
	} else if (opening) {
		kt->skel->bss->timing_window++;
		if (kt->sampled)
			probe_links(kt, true);
		if (timing && !kt->run_link) {
			kt->skel->bss->timing_on = 1;
			kt->run_link = bpf_program__attach(kt->skel->progs.kvm_fpu_btf);
			if (!kt->run_link)
				kt->skel->bss->timing_on = 0;
		}
		kt->window_on = true;
	}
}

bool kvmtrace_vcpus(struct kvmtrace *kt, unsigned vcpus)
{
	kt->vcpus = vcpus;
	return learn_vcpus(kt);
}

int kvmtrace_read(struct kvmtrace *kt, struct kt_counts *out)
{
	if (read_counts(kt, out))
		return -1;
	bool opening = window_opens(kt);
	cost_window(kt, out, opening);
	probe_window(kt, out, opening);
	out->timed_every = (kt->at_run || kt->sampled) && kt->timed_run ? KT_TIME_EVERY : 0;
	out->sampled_every = kt->sampled ? KT_TIME_EVERY : 0;
	if (learning(kt))
		out->attached[KT_EMULATE_INSN] = false; /* it counts nothing so */
	/* Where kvm_entry fires (VT-x, AMD-V) it ends every timed exit: KVM_RUN's entry need not
	 * be traced, at two runs an exit. */
	if (out->total[KT_ENTRY])
		kt->entry_seen = true;
	if (kt->run_link && kt->entry_seen && !kt->at_run) {
		bpf_link__destroy(kt->run_link);
		kt->run_link = NULL;
	}
	return 0;
}

/* One CPU's histogram of a key (from the hash or a slot) added to out's entry for the key, or to
 * a new one while out has room. */
static void lat_merge(struct kt_latency *out, unsigned *nr, unsigned max,
		      const struct kt_lat_key *key, const struct kt_lat_val *v)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < KT_LAT_SLOTS; i++)
		n += v->slot[i];
	if (!n)
		return;
	unsigned j = 0;
	while (j < *nr && (out[j].key.kind != key->kind || out[j].key.reason != key->reason ||
			   out[j].key.vcpu != key->vcpu))
		j++;
	if (j == *nr) {
		if (*nr == max)
			return;
		memset(&out[j], 0, sizeof(out[j]));
		out[j].key = *key;
		out[j].key.pad = 0;
		(*nr)++;
	}
	struct kt_lat_val *to = &out[j].val;
	for (unsigned i = 0; i < KT_LAT_SLOTS; i++)
		to->slot[i] += v->slot[i];
	to->sum_ns += v->sum_ns;
	if (v->max_ns > to->max_ns)
		to->max_ns = v->max_ns;
}

static int by_count(const void *a, const void *b)
{
	uint64_t x = 0, y = 0;
	for (unsigned i = 0; i < KT_LAT_SLOTS; i++) {
		x += ((const struct kt_latency *)a)->val.slot[i];
		y += ((const struct kt_latency *)b)->val.slot[i];
	}
	return x < y ? 1 : x > y ? -1 : 0;
}

int kvmtrace_latency(struct kvmtrace *kt, bool timed[KT_LAT_KINDS], struct kt_latency *out,
		     unsigned max, unsigned *nr)
{
	*nr = 0;
	if (!kt->latency)
		return -1;
	timed[KT_LAT_EXIT] = kt->attached[KT_EXIT] && kt->attached[KT_ENTRY];
	timed[KT_LAT_USERSPACE] =
	    kt->attached[KT_USERSPACE_EXIT] && (kt->timed_run || kt->attached[KT_ENTRY]);
	int fd = bpf_map__fd(kt->skel->maps.lat);
	struct kt_lat_key key, next, *prev = NULL;
	while (*nr < max && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, kt->lat_vals))
			continue;
		for (int c = 0; c < kt->ncpus; c++)
			lat_merge(out, nr, max, &key, &kt->lat_vals[c]);
	}
	/* the slots, each CPU's held by whichever key came first to it there */
	if (!read_array(kt, kt->skel->maps.lat_slots, KT_LAT_SLOTS_NR, kt->lat_slot_vals,
			sizeof(struct kt_lat_slot)))
		for (size_t i = 0; i < (size_t)KT_LAT_SLOTS_NR * (size_t)kt->ncpus; i++) {
			struct kt_lat_slot *sl = &kt->lat_slot_vals[i];
			sl->key.pad = 0;
			if (sl->key.kind < KT_LAT_KINDS)
				lat_merge(out, nr, max, &sl->key, &sl->val);
		}
	qsort(out, *nr, sizeof(*out), by_count);
	return 0;
}

void kvmtrace_close(struct kvmtrace *kt)
{
	if (!kt)
		return;
	bpf_link__destroy(kt->run_link);
	for (unsigned e = 0; e < KT_MAX; e++)
		bpf_link__destroy(kt->links[e]);
	kvmtrace_bpf__destroy(kt->skel);
	if (kt->stats_fd >= 0)
		close(kt->stats_fd);
	free(kt->vals);
	free(kt->flat_vals);
	free(kt->slot_vals);
	free(kt->lat_slot_vals);
	free(kt->flat_keys);
	free(kt->lat_vals);
	free(kt);
}

void kvmtrace_follow(struct kvmtrace *kt, int tid)
{
	if (kt->skel->bss)
		__atomic_store_n(&kt->skel->bss->follow_tid, (__u32)tid, __ATOMIC_RELAXED);
}
