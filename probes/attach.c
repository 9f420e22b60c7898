/* vmscope attach: another process's KVM VM, watched from outside (attach.h).
 *
 * The stats: KVM refuses vCPU ioctls from another address space, so KVM_GET_STATS_FD cannot be
 * asked for here; a stats fd the VMM holds can be duplicated (pidfd_getfd, which needs the right
 * to ptrace it: its own user under Yama's ptrace_scope 0, else root) and read as the VMM reads
 * it. A duplicate holds the VM alive, so one is kept only while the VMM holds its own: when the
 * VMM closes it (its VM gone, or a new VM in its place), ours goes too. The probes: kvmtrace
 * filtered to the VMM's process, with each exit timed (root). */
#define _GNU_SOURCE
#include "probes/attach.h"

#include <errno.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "probes/assemble.h"
#include "probes/kvmtrace.h"
#include "probes/stats_fd.h"
#include "probes/vmlist.h"
#include "vmm/clock.h"
#include "vmm/kvm/kvm.h"
#include "vmm/vmm.h"

#define SCAN_MAX (2 * SNAP_VCPUS_MAX)

struct held_stats {
	unsigned id;  /* the vCPU's id, from the fd's name */
	int their_fd; /* the VMM's fd it duplicates */
	struct kstats ks;
	int exits, halts; /* where "exits" and "halt_exits" are among its values; -1: not there */
	uint64_t *vals;
};

struct scan {
	unsigned vms, vcpus, nr;
	struct {
		int fd;
		unsigned id;
	} stats[SCAN_MAX];
};

struct attach {
	struct attach_opts o;
	int pidfd;
	enum host_kind host;
	struct vm_info info;
	uint64_t t0_ns, last_ns, seq;
	struct held_stats st[SNAP_VCPUS_MAX];
	unsigned nr_st;
	int dup_errno;	     /* why the last duplication failed; 0 */
	unsigned stats_seen; /* stats fds the VMM held at the last scan */
	uint64_t *sum;	     /* every counter added up over the vCPUs (vCPU 0's descriptors) */
	struct kvmtrace *kt;
	const char *bpf_why;
	struct kt_counts counts;
	struct kt_latency lat[KT_LAT_ENTRIES];
	struct assembly as;
	struct snapshot *win; /* --sample: the last tick that closed a window of the probes */
	bool gone;
	char gone_why[160];
	unsigned vcpus_seen; /* vCPU fds at the last tick, to say when it changes */
	bool said_gone;
};

static void on_fd(void *ctx, int fd, const char *what)
{
	struct scan *sc = ctx;
	char *end;
	if (!strcmp(what, "kvm-vm")) {
		sc->vms++;
	} else if (!strncmp(what, "kvm-vcpu-stats:", 15)) {
		unsigned long id = strtoul(what + 15, &end, 10);
		if (!*end && sc->nr < SCAN_MAX)
			sc->stats[sc->nr++] = (typeof(sc->stats[0])){fd, (unsigned)id};
	} else if (!strncmp(what, "kvm-vcpu:", 9)) {
		sc->vcpus++;
	}
}

static bool exited(const struct attach *a)
{
	struct pollfd p = {.fd = a->pidfd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

static void drop(struct attach *a, unsigned i)
{
	kstats_close(&a->st[i].ks);
	free(a->st[i].vals);
	a->st[i] = a->st[--a->nr_st];
}

/* Whether our duplicate is still the file the VMM holds as their_fd (kcmp: the same open file);
 * where kcmp is not built in, the fd's name is all there is to go by. */
static bool same_file(const struct attach *a, const struct held_stats *h, int their_fd)
{
	long r = syscall(SYS_kcmp, getpid(), a->o.pid, KCMP_FILE, h->ks.fd, their_fd);
	return r == 0 || (r < 0 && (errno == ENOSYS || errno == EPERM) && h->their_fd == their_fd);
}

/* The VMM's stats fds now: a new one duplicated, one it closed dropped. One a vCPU: a second
 * file for the same vCPU (or our own duplicate, seen when the VMM is this process) is not read
 * twice. */
static void follow_stats(struct attach *a, const struct scan *sc)
{
	bool keep[SNAP_VCPUS_MAX] = {false}, matched[SCAN_MAX] = {false};
	a->stats_seen = sc->nr;
	for (unsigned s = 0; s < sc->nr; s++)
		for (unsigned i = 0; i < a->nr_st && !matched[s]; i++)
			if (same_file(a, &a->st[i], sc->stats[s].fd))
				keep[i] = matched[s] = true;
	for (unsigned s = 0; s < sc->nr; s++) {
		bool have = matched[s];
		for (unsigned i = 0; i < a->nr_st && !have; i++)
			have = keep[i] && a->st[i].id == sc->stats[s].id;
		if (have || a->nr_st == SNAP_VCPUS_MAX)
			continue;
		int fd = (int)syscall(SYS_pidfd_getfd, a->pidfd, sc->stats[s].fd, 0);
		if (fd < 0) {
			a->dup_errno = errno;
			continue;
		}
		struct held_stats *h = &a->st[a->nr_st];
		*h = (struct held_stats){.id = sc->stats[s].id, .their_fd = sc->stats[s].fd};
		if (kstats_from_fd(fd, &h->ks)) {
			a->dup_errno = EIO;
			continue;
		}
		h->vals = calloc(h->ks.nr ? h->ks.nr : 1, sizeof(*h->vals));
		if (!h->vals) {
			kstats_close(&h->ks);
			continue;
		}
		h->exits = kstats_find(&h->ks, "exits");
		h->halts = kstats_find(&h->ks, "halt_exits");
		a->dup_errno = 0;
		keep[a->nr_st++] = true;
	}
	for (unsigned i = a->nr_st; i-- > 0;)
		if (!keep[i])
			drop(a, i);
}

static int by_id(const void *x, const void *y)
{
	return (int)((const struct held_stats *)x)->id - (int)((const struct held_stats *)y)->id;
}

int attach_open(struct attach **out, const struct attach_opts *o, char *why, size_t n)
{
	struct vm_info info;
	int r = vmlist_one(o->pid, &info);

	if (r < 0) {
		snprintf(why, n,
			 "process %d's fds are not this user's to read: run vmscope attach as its "
			 "user, or with sudo",
			 o->pid);
		return -EPERM;
	}
	if (r == 0) {
		bool none = kill(o->pid, 0) && errno == ESRCH;
		if (none)
			snprintf(why, n, "there is no process %d", o->pid);
		else
			snprintf(why, n,
				 "process %d holds no KVM VM; vmscope attach lists those that do",
				 o->pid);
		return none ? -ESRCH : -ENOENT;
	}
	struct attach *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->o = *o;
	a->info = info;
	a->pidfd = pidfd_open(o->pid, 0);
	if (a->pidfd < 0) {
		r = -errno;
		snprintf(why, n, "process %d could not be followed (pidfd_open: %s)", o->pid,
			 strerror(errno));
		free(a);
		return r;
	}
	a->host = kvm_host_kind_running();
	a->t0_ns = a->last_ns = mono_ns();
	if (o->no_bpf)
		a->bpf_why = "eBPF probes are off (--no-bpf)";
	else if (kvmtrace_open(&a->kt, o->pid,
			       KT_OPEN_LATENCY | (o->verbose ? KT_OPEN_VERBOSE : 0) |
				   (a->host == HOST_PVM ? KT_OPEN_AT_RUN : 0) |
				   (o->sample ? KT_OPEN_SAMPLED : 0),
			       &a->bpf_why))
		a->kt = NULL;
	/* A busy VM's threads are learnt within its first exits: the learning program's run an
	 * exit is over before the first record rather than at the second tick. */
	for (int i = 0; a->kt && i < 25 && kvmtrace_vcpus(a->kt, info.vcpus); i++)
		usleep(10000);
	*out = a;
	return 0;
}

const char *attach_gone(const struct attach *a)
{
	return a->gone ? a->gone_why : NULL;
}

/* The vCPUs' stats into readings: each vCPU's exits and halts, every counter added up. */
static void read_stats(struct attach *a, struct readings *in, struct snap_attached *att)
{
	const struct snap_attached *prev = &a->as.prev.attached;
	qsort(a->st, a->nr_st, sizeof(a->st[0]), by_id);
	free(a->sum);
	a->sum = a->nr_st ? calloc(a->st[0].ks.nr ? a->st[0].ks.nr : 1, sizeof(*a->sum)) : NULL;
	for (unsigned i = 0; i < a->nr_st; i++) {
		struct held_stats *h = &a->st[i];
		if (kstats_read(&h->ks, h->vals))
			continue;
		struct snap_vcpu *v = &att->vcpu[att->nr_vcpu++];
		const struct snap_vcpu *pv = NULL;
		for (unsigned p = 0; p < prev->nr_vcpu; p++)
			if (prev->vcpu[p].id == h->id)
				pv = &prev->vcpu[p];
		v->id = h->id;
		if (h->exits >= 0)
			figure_update(&v->exits, h->vals[h->exits],
				      pv ? pv->exits.total : h->vals[h->exits], in->dt);
		if (h->halts >= 0)
			figure_update(&v->halts, h->vals[h->halts],
				      pv ? pv->halts.total : h->vals[h->halts], in->dt);
		/* One VM's vCPUs share one layout; a vCPU of another shape is not added in. */
		if (a->sum && h->ks.nr == a->st[0].ks.nr)
			for (uint32_t k = 0; k < h->ks.nr; k++)
				a->sum[k] += h->vals[k];
	}
	if (att->nr_vcpu && a->sum) {
		in->ks = &a->st[0].ks;
		in->stat_values = a->sum;
	}
	if (a->o.no_stats)
		snprintf(att->stats_why, sizeof(att->stats_why),
			 "the stats fds are off (--no-stats)");
	else if (a->gone)
		snprintf(att->stats_why, sizeof(att->stats_why),
			 "the VM exited: its stats fds are gone with it");
	else if (!a->stats_seen)
		snprintf(att->stats_why, sizeof(att->stats_why),
			 "%s holds no KVM stats fd of its own to share (QEMU opens one for each "
			 "query-stats and closes it: ask it over QMP)",
			 a->info.vmm ? a->info.vmm : a->info.comm);
	else if (!att->nr_vcpu)
		snprintf(att->stats_why, sizeof(att->stats_why),
			 "its stats fds could not be duplicated (%s): vmscope may not ptrace "
			 "process %d; run as its user, or with sudo",
			 strerror(a->dup_errno ? a->dup_errno : EPERM), a->o.pid);
}

/* A latency histogram's reason, by the kind of exit it times. */
static void lat_name(const struct attach *a, const struct kt_lat_key *k, char *buf, size_t n)
{
	if (k->kind == KT_LAT_USERSPACE)
		snprintf(buf, n, "%s", kvm_exit_reason_name(k->reason));
	else if (!hw_exit_reason_name(a->host, k->reason, buf, n))
		snprintf(buf, n, "%#x", k->reason);
}

static void add_lat(struct snap_latency *l, const struct kt_lat_val *v)
{
	for (unsigned i = 0; i < KT_LAT_SLOTS; i++) {
		l->hist[i] += v->slot[i];
		l->count += v->slot[i];
	}
	l->sum_ns += v->sum_ns;
	if (v->max_ns > l->max_ns)
		l->max_ns = v->max_ns;
}

/* The exits timed: by reason over every vCPU (the busiest SNAP_LAT_MAX), and per vCPU. */
static void read_latency(struct attach *a, struct snap_attached *att)
{
	bool timed[KT_LAT_KINDS] = {false};
	unsigned nr = 0;
	att->lat_kind = KT_LAT_KINDS;
	if (!a->kt || kvmtrace_latency(a->kt, timed, a->lat, KT_LAT_ENTRIES, &nr)) {
		snprintf(att->lat_why, sizeof(att->lat_why), "needs the eBPF probes");
		return;
	}
	/* Where kvm_exit fires it is the truer start; kvm_pvm has only userspace exits. */
	bool hw = timed[KT_LAT_EXIT] && a->host != HOST_PVM;
	att->lat_kind = hw			  ? KT_LAT_EXIT
			: timed[KT_LAT_USERSPACE] ? KT_LAT_USERSPACE
						  : KT_LAT_KINDS;
	if (att->lat_kind == KT_LAT_KINDS) {
		snprintf(att->lat_why, sizeof(att->lat_why),
			 "neither kvm_exit/kvm_entry nor KVM_RUN's entry can be traced here");
		return;
	}
	att->lat_every = a->counts.timed_every;
	bool sampled = a->counts.sampled_every > 0;
	if (hw && att->lat_every)
		snprintf(att->lat_why, sizeof(att->lat_why),
			 "the probes are on for 1 tick in %u (--sample): the exits in those ticks "
			 "are timed",
			 att->lat_every);
	else if (!hw && att->lat_every)
		snprintf(att->lat_why, sizeof(att->lat_why),
			 "only exits to userspace are timed, to the next KVM_RUN, for 1 tick in %u "
			 "(%s): %s",
			 att->lat_every, sampled ? "--sample" : "each counted",
			 a->host == HOST_PVM ? "kvm_pvm has no kvm_exit or kvm_entry events"
					     : "kvm_exit or kvm_entry cannot be traced here");
	else if (!hw)
		snprintf(att->lat_why, sizeof(att->lat_why),
			 "%s: only exits to userspace are timed (from kvm_userspace_exit to the "
			 "next KVM_RUN); exits KVM handles itself are not",
			 a->host == HOST_PVM ? "kvm_pvm has no kvm_exit or kvm_entry events"
					     : "kvm_exit or kvm_entry cannot be traced here");
	for (unsigned i = 0; i < nr; i++) {
		const struct kt_latency *l = &a->lat[i];
		if (l->key.kind != att->lat_kind)
			continue;
		char name[24];
		lat_name(a, &l->key, name, sizeof(name));
		unsigned r = 0;
		while (r < att->nr_lat && strcmp(att->lat[r].reason, name))
			r++;
		if (r == att->nr_lat) {
			if (r == SNAP_LAT_MAX)
				continue; /* a->lat is busiest first: the rarest fall off */
			snprintf(att->lat[att->nr_lat++].reason, sizeof(att->lat[0].reason), "%s",
				 name);
		}
		add_lat(&att->lat[r], &l->val);
		for (unsigned v = 0; v < att->nr_vcpu; v++)
			if (att->vcpu[v].id == l->key.vcpu) {
				att->vcpu[v].lat_valid = true;
				add_lat(&att->vcpu[v].lat, &l->val);
			}
	}
}

/* Port I/O by port, MMIO by page, interrupts by vector and halts woken, from the probes. */
static void read_devices(struct attach *a, double dt, struct snap_attached *att)
{
	const struct snap_attached *prev = &a->as.prev.attached;
	snprintf(att->io_source, sizeof(att->io_source), "%s",
		 a->counts.exits_at_run ? "kvm_userspace_exit" : "kvm_pio, kvm_mmio");
	const struct {
		unsigned event;
		struct named_figure *arr;
		unsigned *nr;
		const struct named_figure *parr;
		unsigned pnr;
	} what[3] = {{KT_PIO, att->pio, &att->nr_pio, prev->pio, prev->nr_pio},
		     {KT_MMIO, att->mmio, &att->nr_mmio, prev->mmio, prev->nr_mmio},
		     {KT_APIC_ACCEPT_IRQ, att->irq, &att->nr_irq, prev->irq, prev->nr_irq}};
	if (a->counts.attached[KT_VCPU_WAKEUP]) {
		uint64_t polled = kt_count(&a->counts, KT_VCPU_WAKEUP, 0),
			 waited = kt_count(&a->counts, KT_VCPU_WAKEUP, 1);
		figure_update(&att->wake_polled, polled,
			      prev->wake_polled.valid ? prev->wake_polled.total : polled, dt);
		figure_update(&att->wake_waited, waited,
			      prev->wake_waited.valid ? prev->wake_waited.total : waited, dt);
	}
	for (unsigned w = 0; w < 3; w++) {
		unsigned e = what[w].event;
		for (unsigned i = 0; i < a->counts.nr_detail[e] && *what[w].nr < SNAP_REASONS_MAX;
		     i++) {
			const struct kt_detail *d = &a->counts.detail[e][i];
			struct named_figure *n = &what[w].arr[(*what[w].nr)++];
			if (e != KT_MMIO) /* a port, a vector */
				snprintf(n->name, sizeof(n->name), "%#x", d->detail);
			else
				snprintf(n->name, sizeof(n->name), "%#llx",
					 (unsigned long long)d->detail << 12);
			const struct named_figure *p =
			    snapshot_find(what[w].parr, what[w].pnr, n->name);
			figure_update(&n->f, d->count, p ? p->f.total : d->count, dt);
		}
	}
}

/* One named figure's rate from the same name's in from (0 where it has none). */
static void hold_named(struct named_figure *to, unsigned n, const struct named_figure *from,
		       unsigned nf)
{
	for (unsigned i = 0; i < n; i++) {
		const struct named_figure *h = snapshot_find(from, nf, to[i].name);
		to[i].f.rate = h ? h->f.rate : 0;
	}
}

/* A name first seen in the window that just closed: its counts are all the window's (a name
 * new in any other tick starts at rate 0, as it may be one coming back into the busiest). */
static void first_seen(struct named_figure *to, unsigned n, const struct named_figure *from,
		       unsigned nf, double dt)
{
	for (unsigned i = 0; i < n; i++)
		if (dt > 0 && !snapshot_find(from, nf, to[i].name))
			to[i].f.rate = (double)to[i].f.total / dt;
}

/* --sample: the probes count in one tick in KT_TIME_EVERY. A tick that closed a window has its
 * rates (the window's counts over its interval); between windows every bpf rate is the last
 * window's, not the 0 that nothing counted would give. */
static void hold_rates(struct attach *a, struct snapshot *snap)
{
	snap->bpf_sampled_every = a->counts.sampled_every;
	if (!a->win && !(a->win = calloc(1, sizeof(*a->win))))
		return;
	if (a->counts.window_closed) {
		const struct snapshot *w = a->win;
		struct snap_attached *at = &snap->attached;
		first_seen(snap->uexit, snap->nr_uexit, w->uexit, w->nr_uexit, snap->dt);
		first_seen(snap->kexit, snap->nr_kexit, w->kexit, w->nr_kexit, snap->dt);
		first_seen(snap->hcall, snap->nr_hcall, w->hcall, w->nr_hcall, snap->dt);
		first_seen(at->pio, at->nr_pio, w->attached.pio, w->attached.nr_pio, snap->dt);
		first_seen(at->mmio, at->nr_mmio, w->attached.mmio, w->attached.nr_mmio, snap->dt);
		first_seen(at->irq, at->nr_irq, w->attached.irq, w->attached.nr_irq, snap->dt);
		*a->win = *snap;
		return;
	}
	const struct snapshot *w = a->win;
	for (unsigned e = 0; e < KT_MAX; e++)
		snap->bpf_event[e].rate = w->bpf_event[e].rate;
	hold_named(snap->uexit, snap->nr_uexit, w->uexit, w->nr_uexit);
	hold_named(snap->kexit, snap->nr_kexit, w->kexit, w->nr_kexit);
	hold_named(snap->hcall, snap->nr_hcall, w->hcall, w->nr_hcall);
	struct snap_attached *at = &snap->attached;
	const struct snap_attached *wa = &w->attached;
	hold_named(at->pio, at->nr_pio, wa->pio, wa->nr_pio);
	hold_named(at->mmio, at->nr_mmio, wa->mmio, wa->nr_mmio);
	hold_named(at->irq, at->nr_irq, wa->irq, wa->nr_irq);
	at->wake_polled.rate = wa->wake_polled.rate;
	at->wake_waited.rate = wa->wake_waited.rate;
}

/* The VMM's CPU time, all its threads (utime and stime, fields 14 and 15 of proc(5)'s stat):
 * what the probes' share is measured against. */
static bool vmm_cpu_ns(int pid, uint64_t *ns)
{
	char path[64];
	uint64_t t[2];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (proc_stat_fields(path, 14, 2, t))
		return false;
	*ns = (t[0] + t[1]) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
	return true;
}

void attach_tick(struct attach *a, struct snapshot *snap)
{
	struct readings in = {0};
	struct snap_attached att = {.on = true, .pid = a->o.pid};
	uint64_t now = mono_ns();

	in.seq = a->seq++;
	in.t = (double)(now - a->t0_ns) / 1e9;
	in.dt = in.seq ? (double)(now - a->last_ns) / 1e9 : 0;
	a->last_ns = now;
	in.host = a->host; /* the guest's CPU mode is not the host's to tell: none is said */
	in.status.state = VMM_RUNNING;
	snprintf(att.comm, sizeof(att.comm), "%s", a->info.comm);
	snprintf(att.vmm, sizeof(att.vmm), "%s", a->info.vmm ? a->info.vmm : a->info.comm);
	snprintf(att.guest, sizeof(att.guest), "%s", a->info.guest);

	/* /proc/PID is read only while the pidfd says it is still the process attached to: a
	 * PID re-used by another process after it exited is never looked into. */
	struct scan sc = {0};
	if (!a->gone && (exited(a) || vmlist_kvm_fds(a->o.pid, on_fd, &sc) || exited(a))) {
		a->gone = true;
		snprintf(a->gone_why, sizeof(a->gone_why), "the VM exited (process %d is gone)",
			 a->o.pid);
	} else if (!a->gone && !sc.vms) {
		a->gone = true;
		snprintf(a->gone_why, sizeof(a->gone_why),
			 "the VM exited (process %d holds no KVM VM now)", a->o.pid);
	}
	if (a->gone) {
		in.status.state = VMM_STOPPED;
		snprintf(in.status.reason, sizeof(in.status.reason), "%s", a->gone_why);
		while (a->nr_st) /* nothing of it is held on to */
			drop(a, a->nr_st - 1);
	} else {
		att.vcpus = sc.vcpus;
		if (!a->o.no_stats)
			follow_stats(a, &sc);
	}
	read_stats(a, &in, &att);
	if (a->kt && !a->gone)
		kvmtrace_vcpus(a->kt, att.vcpus);
	if (a->kt && !kvmtrace_read(a->kt, &a->counts)) {
		in.kt = &a->counts;
		read_devices(a, in.dt, &att);
		in.cpu_ok = vmm_cpu_ns(a->o.pid, &in.cpu.vcpu_ns);
	}
	in.bpf_why = a->bpf_why;
	read_latency(a, &att);
	snapshot_assemble_attached(&a->as, &in, &att, snap);
	if (in.kt && a->counts.sampled_every)
		hold_rates(a, snap);
	/* What changed in the VM's life: said in the log, as the VMM's log says its own news. */
	if (!a->gone && in.seq && att.vcpus != a->vcpus_seen && snap->nr_log < SNAP_LOG_MAX)
		snprintf(snap->log[snap->nr_log++], sizeof(snap->log[0]),
			 "attach: the VMM holds %u vCPUs now (%u before)", att.vcpus,
			 a->vcpus_seen);
	if (a->gone && !a->said_gone && snap->nr_log < SNAP_LOG_MAX) {
		snprintf(snap->log[snap->nr_log++], sizeof(snap->log[0]), "attach: %.140s",
			 a->gone_why);
		a->said_gone = true;
	}
	if (!a->gone)
		a->vcpus_seen = att.vcpus;
}

void attach_close(struct attach *a)
{
	if (!a)
		return;
	while (a->nr_st)
		drop(a, a->nr_st - 1);
	kvmtrace_close(a->kt);
	free(a->win);
	free(a->sum);
	if (a->pidfd >= 0)
		close(a->pidfd);
	free(a);
}
