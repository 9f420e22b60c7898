/* bench/observer: what watching costs the guest. For each exit kind and for ping and tx traffic,
 * the guest's own rate (its control page's counters, which no observer touches) with nothing
 * watching, with each observer alone (the eBPF probes, the stats fd reader, the libpcap capture,
 * the dashboard drawn at 1 Hz and at 10 Hz), with everything on, as `vmscope run` has it, and
 * with another vmscope attached to the VM from outside (`vmscope attach PID --headless`: its
 * probes, latency timing included, and its duplicates of the stats fds), nothing else watching,
 * and with programs that do nothing on the same tracepoints (bench/floor.bpf.c): what the
 * tracepoints' firing and the programs' dispatch cost by themselves, the floor under any probe.
 * Each is a ratio to "nothing watching" in the same round and the time it adds to each operation.
 *
 * "Nothing watching" still ticks once a second, reading only the guest's control page and the
 * threads' CPU times: without that there is no figure at all. Every measurement runs in a process
 * of its own (a fresh VM, a fresh curses screen); the rounds interleave the observers, so drift on
 * the machine hits all of them alike, and each figure is the median of the rounds' ratios.
 *
 * Usage: bench/observer [WORKLOAD...]  (pio_vmm pio_eventfd mmio_vmm mmio_eventfd hypercall cpuid
 * hlt ping tx; all of them by default). OBSERVER_ROUNDS sets the rounds (5); OBSERVERS, a comma
 * list of observers' names as the table heads them ("attached,nothing again"), measures only
 * those beside "nothing", the rest shown as -. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "floor.skel.h"
#include "probes/kvmtrace.h"
#include "probes/session.h"
#include "tui/frontends.h"
#include "vmm/clock.h"
#include "vmm/kvm/kvm.h"
#include "vmm/vmm.h"

volatile sig_atomic_t
    vmscope_quit; /* the dashboard's loop reads it (tui/main.c has the real one) */

#define ROUNDS_MAX 15
#define WARM_S	   0.4
#define WINDOW_S   1.5

enum observer {
	OBS_NONE,
	OBS_AGAIN,
	OBS_BPF,
	OBS_STATS,
	OBS_CAPTURE,
	OBS_DASH1,
	OBS_DASH10,
	OBS_ALL,
	OBS_ATTACH,
	OBS_SAMPLED,
	OBS_FLOOR,
	OBS_MAX
};

static const struct {
	const char *name;
	bool bpf, stats, capture;
	unsigned dash_ms; /* 0: headless ticks at 1 Hz */
	bool attach;	  /* another vmscope attaches (vmscope attach PID) */
	bool sample;	  /* ... with --sample, ticking at 10 Hz (a window spans two cycles) */
	bool floor; /* bench/floor.bpf.c: programs that do nothing on the probes' tracepoints */
} observers[OBS_MAX] = {
    [OBS_NONE] = {"nothing"},
    [OBS_AGAIN] = {"nothing again"}, /* the noise floor: the machine's own drift between rounds */
    [OBS_BPF] = {"eBPF", .bpf = true},
    [OBS_STATS] = {"stats fd", .stats = true},
    [OBS_CAPTURE] = {"capture", .capture = true},
    [OBS_DASH1] = {"dash 1Hz", .dash_ms = 1000},
    [OBS_DASH10] = {"dash 10Hz", .dash_ms = 100},
    [OBS_ALL] = {"all on", true, true, true, 1000},
    [OBS_ATTACH] = {"attached", .attach = true},
    [OBS_SAMPLED] = {"attach --sample", .attach = true, .sample = true},
    [OBS_FLOOR] = {"empty probes", .floor = true},
};

struct load {
	const char *name;
	enum workload wl;
	uint32_t kind;
	enum nic_mode nic;
};

static const struct load loads[] = {
    {"pio_vmm", WL_EXITS, EK_PIO_VMM, NIC_MODE_NONE},
    {"pio_eventfd", WL_EXITS, EK_PIO_EVENTFD, NIC_MODE_NONE},
    {"mmio_vmm", WL_EXITS, EK_MMIO_VMM, NIC_MODE_NONE},
    {"mmio_eventfd", WL_EXITS, EK_MMIO_EVENTFD, NIC_MODE_NONE},
    {"hypercall", WL_EXITS, EK_HYPERCALL, NIC_MODE_NONE},
    {"cpuid", WL_EXITS, EK_CPUID, NIC_MODE_NONE},
    {"hlt", WL_EXITS, EK_HLT, NIC_MODE_NONE},
    {"ping", WL_PING, 0, NIC_MODE_VIRTIO},
    {"tx", WL_TX, 0, NIC_MODE_VIRTIO},
};
#define NR_LOADS (sizeof(loads) / sizeof(loads[0]))

/* The guest's count of the load's operations: exits of its kind, pings answered, frames sent. */
static uint64_t guest_ops(struct session *s, const struct load *l)
{
	static struct ctl_page c;
	vmm_read_ctl(session_vmm(s), &c);
	switch (l->wl) {
	case WL_PING: return c.ping.ops;
	case WL_TX: return c.net_tx_packets;
	default: return c.kind[l->kind].ops;
	}
}

/* A terminal's other end: whatever the dashboard draws is read and dropped, as a terminal
 * emulator would take it. */
static void *drain(void *arg)
{
	char buf[4096];
	int fd = *(int *)arg;
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
		;
	return NULL;
}

/* The dashboard on a pseudo-terminal of 160x50 for the window: stdin and stdout become it. */
static int dashboard_window(struct session *s, unsigned interval_ms)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m))
		return -1;
	int slave = open(ptsname(m), O_RDWR | O_NOCTTY);
	struct winsize ws = {.ws_row = 50, .ws_col = 160};
	if (slave < 0 || ioctl(slave, TIOCSWINSZ, &ws))
		return -1;
	pthread_t t;
	if (pthread_create(&t, NULL, drain, &m))
		return -1;
	dup2(slave, STDIN_FILENO);
	dup2(slave, STDOUT_FILENO);
	setenv("TERM", "xterm-256color", 0);
	struct cli cli = {
	    .cmd = CMD_RUN, .interval_ms = interval_ms, .duration = WARM_S + WINDOW_S};
	struct snap_source src = {.control = s};
	return run_dashboard(&cli, &src);
}

/* The calling thread's CPU time so far (ns): the dashboard's, or the headless ticks'. */
static double self_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct result {
	double rate; /* the guest's operations a second */
	double self; /* the front end's thread, share of a core */
};

/* `vmscope attach PID --headless` (the vmscope beside this bench) watching this process's VM;
 * returns once its first record is out (its probes are on), or -1. */
static pid_t attach_from_outside(bool sample)
{
	char exe[4096], bin[4200], pid[16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	*strrchr(exe, '/') = 0; /* build/bench */
	snprintf(bin, sizeof(bin), "%s/../vmscope", exe);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	int p[2];
	if (pipe(p))
		return -1;
	pid_t child = fork();
	if (child == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		if (sample)
			execl(bin, bin, "attach", pid, "--headless", "--sample", "--interval",
			      "100", (char *)NULL);
		else
			execl(bin, bin, "attach", pid, "--headless", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char c;
	ssize_t r = child > 0 ? read(p[0], &c, 1) : -1;
	if (child > 0) { /* the rest is drained by nobody: a pipe's buffer holds a window's lines */
		int fl = fcntl(p[0], F_GETFL);
		fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
	}
	if (r != 1) {
		close(p[0]);
		if (child > 0) {
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
		}
		fprintf(stderr, "bench/observer: %s attach %s gave no record\n", bin, pid);
		return -1;
	}
	return child;
}

/* The floor's programs attached (each where this kernel has its tracepoint), or NULL. Where
 * kvm_exit never fires (kvm_pvm) attach reads ports and pages at kvm_userspace_exit and keeps
 * kvm_fpu on in timing windows only: the floor is the tracepoints it keeps on all the time. */
static struct floor_bpf *floor_on(void)
{
	struct floor_bpf *f = floor_bpf__open();
	struct bpf_program *p;
	bool pvm = kvm_host_kind_running() == HOST_PVM;
	if (!f)
		return NULL;
	bpf_object__for_each_program(p, f->obj)
	{
		const char *tp = bpf_program__name(p) + 2; /* f_kvm_pio: kvm_pio */
		bool btf = true;
		if (bpf_program__type(p) == BPF_PROG_TYPE_TRACING)
			kvmtrace_btf_tracepoints(&tp, 1, &btf);
		if (pvm &&
		    (!strcmp(tp, "kvm_pio") || !strcmp(tp, "kvm_mmio") || !strcmp(tp, "kvm_fpu")))
			btf = false;
		bpf_program__set_autoload(p, btf);
	}
	unsigned links = 0;
	if (!floor_bpf__load(f))
		bpf_object__for_each_program(p, f->obj) links +=
		    bpf_program__autoload(p) && bpf_program__attach(p) != NULL;
	if (!links) {
		fprintf(stderr, "bench/observer: the floor's programs could not be attached\n");
		floor_bpf__destroy(f);
		return NULL;
	}
	return f;
}

/* One measurement, in the calling (child) process. */
static struct result measure(const struct load *l, enum observer o)
{
	struct session_opts so = {.workload = l->wl,
				  .kind = l->kind,
				  .nic = l->nic,
				  .pkt_size = 22, /* 64-byte frames */
				  .no_bpf = !observers[o].bpf,
				  .no_stats = !observers[o].stats,
				  .no_capture = !observers[o].capture};
	struct session *s;
	const char *why;
	static struct snapshot snap;
	if (session_open(&s, &so, &why)) {
		fprintf(stderr, "bench/observer: %s\n", why);
		return (struct result){-1, 0};
	}
	session_tick(s, &snap);
	pid_t watcher = observers[o].attach ? attach_from_outside(observers[o].sample) : 0;
	/* its links live until the process ends (measure_apart's child) */
	if (observers[o].floor && !floor_on())
		watcher = -1;
	if (watcher < 0) {
		session_close(s);
		return (struct result){-1, 0};
	}
	usleep((useconds_t)(WARM_S * 1e6));
	uint64_t n0 = guest_ops(s, l);
	double t0 = mono_s(), c0 = self_cpu_ns();
	if (observers[o].dash_ms) {
		if (dashboard_window(s, observers[o].dash_ms))
			return (struct result){-1, 0};
	} else {
		double next = t0 + 1;
		while (mono_s() < t0 + WINDOW_S) {
			usleep(20000);
			if (mono_s() >= next) {
				session_tick(s, &snap);
				next += 1;
			}
		}
	}
	double dt = mono_s() - t0;
	struct result r = {(double)(guest_ops(s, l) - n0) / dt, (self_cpu_ns() - c0) / 1e9 / dt};
	if (watcher > 0) {
		kill(watcher, SIGINT);
		waitpid(watcher, NULL, 0);
	}
	session_close(s);
	return r;
}

/* Each measurement in a child: a fresh VM, probes and screen, nothing left over. */
static struct result measure_apart(const struct load *l, enum observer o)
{
	int p[2];
	struct result r = {-1, 0};
	fflush(stdout);
	if (pipe(p))
		return r;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		r = measure(l, o);
		if (write(p[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &r, sizeof(r)) != sizeof(r))
		r.rate = -1;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return r;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct row {
	double base[ROUNDS_MAX];
	double self[OBS_MAX][ROUNDS_MAX]; /* the front end's thread, share of a core */
	double ratio[OBS_MAX][ROUNDS_MAX];
	double added_ns[OBS_MAX][ROUNDS_MAX];
};

/* OBSERVERS: whether o is measured ("nothing" always is). */
static bool observed(enum observer o)
{
	const char *env = getenv("OBSERVERS");
	if (!env || o == OBS_NONE)
		return true;
	size_t n = strlen(observers[o].name);
	for (const char *c = env; (c = strstr(c, observers[o].name)); c += n)
		if ((c == env || c[-1] == ',') && (c[n] == ',' || !c[n]))
			return true;
	return false;
}

static bool selected(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

/* Whether observer o keeps >= 0.97 of the rate with nothing watching (the rounds' median) on
 * every workload run. */
static bool keeps(struct row *rows, enum observer o, unsigned rounds, int argc, char **argv)
{
	bool met = true;
	for (unsigned l = 0; l < NR_LOADS; l++)
		if (selected(argc, argv, loads[l].name))
			met &= median(rows[l].ratio[o], rounds) >= 0.97;
	return met;
}

/* The table: each workload's rate with nothing watching, each observer's median ratio and the ns
 * it adds, the rounds' range with everything on; then the front end's own thread. */
static void print_table(struct row *rows, unsigned rounds, int argc, char **argv)
{
	printf("  %-13s %10s", "workload", "nothing/s");
	for (unsigned o = 1; o < OBS_MAX; o++)
		printf(" %16s", observers[o].name);
	printf("\n");
	bool met = true;
	for (unsigned l = 0; l < NR_LOADS; l++) {
		if (!selected(argc, argv, loads[l].name))
			continue;
		printf("  %-13s %10.0f", loads[l].name, median(rows[l].base, rounds));
		for (unsigned o = 1; o < OBS_MAX; o++) {
			char cell[32] = "-";
			if (observed(o))
				snprintf(cell, sizeof(cell), "%.3f (%+.0f)",
					 median(rows[l].ratio[o], rounds),
					 median(rows[l].added_ns[o], rounds));
			printf(" %16s", cell);
		}
		double all = median(rows[l].ratio[OBS_ALL], rounds), lo = 1e9, hi = 0;
		for (unsigned r = 0; r < rounds; r++) {
			lo = rows[l].ratio[OBS_ALL][r] < lo ? rows[l].ratio[OBS_ALL][r] : lo;
			hi = rows[l].ratio[OBS_ALL][r] > hi ? rows[l].ratio[OBS_ALL][r] : hi;
		}
		if (observed(OBS_ALL))
			printf("  all on: rounds %.3f-%.3f", lo, hi);
		printf("\n");
		met &= all >= 0.97;
	}
	if (observed(OBS_ALL))
		printf("  target: everything on keeps >= 0.97 of the rate with nothing watching: "
		       "%s\n",
		       met ? "met" : "MISSED");
	if (observed(OBS_ATTACH))
		printf("  target: attached from outside keeps >= 0.97 of it: %s\n",
		       keeps(rows, OBS_ATTACH, rounds, argc, argv) ? "met" : "MISSED");
	if (observed(OBS_SAMPLED))
		printf(
		    "  target: attached with --sample (probes on one tick in 8) keeps >= 0.97 of "
		    "it: %s\n",
		    keeps(rows, OBS_SAMPLED, rounds, argc, argv) ? "met" : "MISSED");
	static const char floor_line[] =
	    "  empty probes: programs that do nothing on the tracepoints attach keeps on all the "
	    "time, the cost of their firing alone, below which no probe on them goes\n";
	if (observed(OBS_FLOOR))
		fputs(floor_line, stdout);
	/* The front end's own thread (the dashboard drawing, or headless ticks at 1 Hz). */
	printf("  the front end's thread, share of a core (median over workloads and rounds):");
	for (unsigned o = 0; o < OBS_MAX; o++) {
		double v[ROUNDS_MAX * NR_LOADS];
		unsigned n = 0;
		for (unsigned l = 0; l < NR_LOADS; l++)
			for (unsigned r = 0; selected(argc, argv, loads[l].name) && r < rounds; r++)
				v[n++] = rows[l].self[o][r];
		if (observed(o))
			printf("%s %s %.2f%%", o ? "," : "", observers[o].name, 100 * median(v, n));
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	static struct row rows[NR_LOADS];
	const char *env = getenv("OBSERVER_ROUNDS");
	unsigned rounds = env ? (unsigned)atoi(env) : 5;
	if (rounds < 1 || rounds > ROUNDS_MAX) {
		fprintf(stderr, "bench/observer: OBSERVER_ROUNDS must be 1 to %d\n", ROUNDS_MAX);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		bool known = false;
		for (unsigned l = 0; l < NR_LOADS; l++)
			known |= !strcmp(argv[i], loads[l].name);
		if (!known) {
			fprintf(stderr,
				"bench/observer: no workload '%s'; name exit kinds, ping or tx\n",
				argv[i]);
			return 2;
		}
	}
	print_machine();
	printf("bench/observer: the guest's rate with each observer against nothing watching, "
	       "%u rounds of %.1f s, observers interleaved; median ratio (added ns per op)\n",
	       rounds, WINDOW_S);
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned l = 0; l < NR_LOADS; l++) {
			if (!selected(argc, argv, loads[l].name))
				continue;
			double rate[OBS_MAX];
			for (unsigned o = 0; o < OBS_MAX; o++) {
				if (!observed(o)) {
					rate[o] = rate[OBS_NONE];
					rows[l].self[o][r] = 0;
					continue;
				}
				struct result m = measure_apart(&loads[l], o);
				rate[o] = m.rate;
				rows[l].self[o][r] = m.self;
				if (rate[o] <= 0) {
					fprintf(stderr, "bench/observer: %s with %s: no figure\n",
						loads[l].name, observers[o].name);
					return 1;
				}
			}
			rows[l].base[r] = rate[OBS_NONE];
			for (unsigned o = 0; o < OBS_MAX; o++) {
				rows[l].ratio[o][r] = rate[o] / rate[OBS_NONE];
				rows[l].added_ns[o][r] = 1e9 / rate[o] - 1e9 / rate[OBS_NONE];
			}
		}
	print_table(rows, rounds, argc, argv);
	return 0;
}
