/* vmscope: parse the command line, open a session, hand it to a front end. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probes/text.h"
#include "probes/attach.h"
#include "probes/vmlist.h"
#include "tui/cli.h"
#include "tui/frontends.h"
#include "tui/metrics.h"
#include "tui/outputs.h"
#include "tui/record.h"
#include "tui/tour.h"
#include "vmm/clock.h"

#ifndef VMSCOPE_VERSION
#define VMSCOPE_VERSION "0.1"
#endif
/* What `vmscope replay` plays without a file: the guided tour, recorded on a real run. It is
 * found beside the binary, never by a path compiled in: installed, PREFIX/bin/vmscope has it in
 * PREFIX/share/vmscope/; in the build tree, build/vmscope has it in demo/. */
static const char *const tour_places[] = {"../share/vmscope/tour.jsonl.gz",
					  "../demo/tour.jsonl.gz"};

/* The shipped tour's path into buf; the first place tried when none has it. */
static const char *tour_recording(char *buf, size_t n)
{
	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		len = 0;
	exe[len] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		slash[1] = 0;
	else
		snprintf(exe, sizeof(exe), "./");
	for (size_t i = 0; i < sizeof(tour_places) / sizeof(tour_places[0]); i++) {
		snprintf(buf, n, "%s%s", exe, tour_places[i]);
		if (!access(buf, F_OK))
			return buf;
	}
	snprintf(buf, n, "%s%s", exe, tour_places[0]);
	return buf;
}

volatile sig_atomic_t vmscope_quit; /* the signal that asked us to stop, or 0 */

static void on_signal(int sig)
{
	vmscope_quit = sig;
}

/* A fault (SIGSEGV and its kind) sent by kill(1) ends the run like SIGTERM; one the CPU raised
 * is a bug: the default action (a core) as if we had not been here. */
static void on_fault_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si->si_code <= 0 && si->si_pid != getpid()) {
		vmscope_quit = sig;
		return;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Every signal whose default action ends the process ends the run through one clean shutdown:
 * the front end returns, the session closes (namespace removed, pcap and recording complete,
 * terminal restored), the status is 128 + the signal (0 for Ctrl-C). SIGPIPE is ignored: a
 * closed stdout is EPIPE, which ends a headless run. SIGUSR1 is the VMM's own (it interrupts
 * KVM_RUN) and does nothing else. */
static void catch_signals(void)
{
	static const int stop[] = {SIGHUP,  SIGINT,  SIGTERM, SIGQUIT, SIGALRM, SIGUSR2,  SIGVTALRM,
				   SIGPROF, SIGXCPU, SIGXFSZ, SIGIO,   SIGPWR,	SIGSTKFLT};
	static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
		sigaction(stop[i], &sa, NULL);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaction(sig, &sa, NULL);
	struct sigaction fa = {.sa_sigaction = on_fault_signal, .sa_flags = SA_SIGINFO};
	sigemptyset(&fa.sa_mask);
	for (unsigned i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigaction(faults[i], &fa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The dashboard draws on a terminal; said before anything is booted or read. */
static bool no_terminal(const struct cli *cli)
{
	if (cli->headless || (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)))
		return false;
	fprintf(stderr,
		"vmscope: the dashboard needs a terminal; add --headless to get records on a "
		"pipe\n");
	return true;
}

/* A live run: the session is the source, and what --record asks for is attached to it. */
/* The tour's script is checked before anything boots: a bad one is the user's to fix. */
static int load_tour(const struct cli *cli, struct tour *tour)
{
	char err[320];
	if (cli->script_path
		? tour_load(cli->script_path, tour, err, sizeof(err))
		: tour_parse(tour_builtin, "the built-in tour", tour, err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		return -1;
	}
	return 0;
}

static int run_live(const struct cli *cli, struct snap_source *src)
{
	char err[320];
	const char *why;
	struct session *s;
	/* The tour's last steps are about several VMs on one card: it boots three, the neighbours
	 * idle until those steps. */
	bool demo = cli->cmd == CMD_DEMO;
	const struct session_opts so = {
	    .cpu = cli->cpu,
	    .workload = cli->workload,
	    .kind = cli->kind,
	    .rate = cli->rate,
	    .log_path = cli->log_path,
	    .no_bpf = cli->no_bpf,
	    .no_stats = cli->no_stats,
	    .no_capture = cli->no_capture,
	    .nic = cli->nic,
	    .pkt_size = cli->pkt_size,
	    .pcap_file = cli->pcap_file,
	    .verbose = cli->verbose,
	    .vms = demo ? TOUR_VMS : cli->vms,
	    .neighbours = demo ? WL_IDLE : cli->neighbours,
	    .neighbour_rate = cli->neighbour_rate,
	};
	struct tour tour = {0};
	struct tour_run run = {.t = &tour};
	if (no_terminal(cli))
		return 2;
	if (cli->cmd == CMD_DEMO && load_tour(cli, &tour))
		return 1;
	/* Every refusal before anything is created, truncated or booted: the outputs, then what
	 * the session needs of the host. */
	const struct output_file out[] = {{"--record", "recording", cli->record_path},
					  {"--pcap", "--pcap file", cli->pcap_file},
					  {"--log", "--log file", cli->log_path}};
	if (outputs_check(out, 3, err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		return 1;
	}
	int r = session_check(&so, &why);
	if (r && r != SESSION_NO_PCAP) {
		/* A mode that needs KVM, and no usable KVM: the one that needs none. */
		fprintf(stderr, "vmscope: %s; --cpu translated runs the guest without KVM\n", why);
		return 1;
	}
	if (!r)
		r = session_open(&s, &so, &why);
	if (r == SESSION_NO_PCAP) {
		fprintf(stderr, "vmscope: --pcap cannot record: %s\n", why);
		return 1;
	}
	if (r) {
		fprintf(stderr, "vmscope: %s\n", why);
		return 1;
	}
	if (cli->record_path &&
	    recorder_open(&src->rec, cli->record_path, cli->interval_ms, err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		session_close(s);
		return 1;
	}
	if (session_cpu_note(s))
		fprintf(stderr, "vmscope: %s\n", session_cpu_note(s));
	if (cli->nic != NIC_MODE_NONE && session_net_why(s))
		fprintf(stderr,
			"vmscope: %s; the in-process loopback peer answers instead (no "
			"namespace, no capture)\n",
			session_net_why(s));
	src->control = s;
	if (cli->cmd == CMD_DEMO) {
		src->tour = &run;
		tour_go(&run, s, 0, 1, mono_s());
	}
	src->deferred = !cli->headless; /* the dashboard holds the terminal until it ends */
	int rc = cli->headless ? run_headless(cli, src) : run_dashboard(cli, src);
	/* An output that was lost makes the run's status 1, unless it failed otherwise. */
	if (source_finish(src) && rc == 0)
		rc = 1;
	session_close(s);
	return rc;
}

/* vmscope attach PID: another process's VM is the source; what --record and --listen ask for
 * is attached to it as to a live session. */
static int run_attached(const struct cli *cli, struct snap_source *src)
{
	char err[320];
	struct attach *a;
	const struct attach_opts ao = {.pid = cli->pid,
				       .no_bpf = cli->no_bpf,
				       .no_stats = cli->no_stats,
				       .verbose = cli->verbose,
				       .sample = cli->sample};
	if (no_terminal(cli))
		return 2;
	const struct output_file out[] = {{"--record", "recording", cli->record_path}};
	if (outputs_check(out, 1, err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		return 1;
	}
	if (attach_open(&a, &ao, err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		return 1;
	}
	if (cli->record_path &&
	    recorder_open(&src->rec, cli->record_path, cli->interval_ms, err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		attach_close(a);
		return 1;
	}
	src->attached = a;
	src->deferred = !cli->headless;
	int rc = cli->headless ? run_headless(cli, src) : run_dashboard(cli, src);
	if (!cli->headless && attach_gone(a))
		fprintf(stderr, "vmscope: %s\n", attach_gone(a));
	if (source_finish(src) && rc == 0)
		rc = 1;
	attach_close(a);
	return rc;
}

/* vmscope attach: the KVM VMs on this host, one a line. */
static int list_vms(void)
{
	static struct vm_info vms[VMLIST_MAX];
	unsigned nr, unreadable;
	int r = vmlist_scan(vms, VMLIST_MAX, &nr, &unreadable);
	if (r) {
		fprintf(stderr, "vmscope: /proc could not be read: %s\n", strerror(-r));
		return 1;
	}
	printf("%-8s %-17s %5s %9s  %s\n", "PID", "VMM", "vCPUs", "stats fds", "GUEST");
	for (unsigned i = 0; i < nr; i++) {
		char text[80];
		text_escape(text, sizeof(text), vms[i].guest, strlen(vms[i].guest));
		printf("%-8d %-17s %5u %9u  %s\n", vms[i].pid,
		       vms[i].vmm ? vms[i].vmm : vms[i].comm, vms[i].vcpus, vms[i].stats_fds,
		       vms[i].guest[0]				      ? text
		       : vms[i].vmm && !strcmp(vms[i].vmm, "vmscope") ? "(its built-in guest)"
								      : "-");
	}
	if (!nr)
		printf("(no KVM VM on this host%s)\n",
		       unreadable ? " that this user may see: run with sudo to see every user's"
				  : "");
	else if (unreadable)
		printf("(%u processes this user may not look into: run with sudo to see every "
		       "user's VMs)\n",
		       unreadable);
	else
		printf("(vmscope attach PID watches one)\n");
	return 0;
}

/* A replay: the recording is the source; nothing here needs KVM, root or a network. */
static int run_replay(const struct cli *cli, struct snap_source *src)
{
	char err[600], shipped[4200];
	const char *path =
	    cli->replay_path ? cli->replay_path : tour_recording(shipped, sizeof(shipped));
	if (!cli->replay_path && access(path, R_OK)) {
		fprintf(stderr,
			"vmscope: replay without a FILE plays the shipped tour, but %s is missing "
			"(make tour-recording makes it)\n",
			path);
		return 1;
	}
	/* The cast is checked before anything is read or created, and never the recording. */
	const struct output_file cast = {"--cast", "cast", cli->cast_path};
	if (outputs_check_reading(&cast, 1, path, "recording it replays", err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		return 1;
	}
	if (replay_open(&src->replay, path, err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		return 1;
	}
	if (!cli->cast_path && no_terminal(cli)) {
		replay_close(src->replay);
		return 2;
	}
	if (replay_skipped(src->replay))
		fprintf(stderr, "vmscope: %s: replaying %u snapshots; skipped: %s\n", path,
			replay_count(src->replay), replay_skipped(src->replay));
	int rc = cli->cast_path	 ? run_cast(cli, src, path)
		 : cli->headless ? run_headless(cli, src)
				 : run_dashboard(cli, src);
	replay_close(src->replay);
	return rc;
}

int main(int argc, char **argv)
{
	struct cli cli;
	char err[320];

	if (cli_parse(argc, argv, &cli, err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		return 2;
	}
	if (cli.cmd == CMD_HELP) {
		cli_print_usage(stdout);
		return 0;
	}
	if (cli.cmd == CMD_VERSION) {
		printf("vmscope %s\n", VMSCOPE_VERSION);
		return 0;
	}
	if (cli.cmd == CMD_ATTACH && !cli.attach_pid)
		return list_vms();
	catch_signals();

	struct snap_source src = {0};
	if (cli.listen) {
		if (metrics_open(&src.metrics, cli.listen_addr, cli.listen_port, err,
				 sizeof(err))) {
			fprintf(stderr, "vmscope: %s\n", err);
			return 1;
		}
		fprintf(stderr, "vmscope: serving metrics at http://%s:%u/metrics\n",
			cli.listen_addr, metrics_port(src.metrics));
		if (strncmp(cli.listen_addr, "127.", 4))
			fprintf(stderr,
				"vmscope: %s is not loopback: every host that can reach it may "
				"read the "
				"metrics\n",
				cli.listen_addr);
	}
	int rc = cli.cmd == CMD_REPLAY	 ? run_replay(&cli, &src)
		 : cli.cmd == CMD_ATTACH ? run_attached(&cli, &src)
					 : run_live(&cli, &src); /* run, demo */
	metrics_close(src.metrics);
	/* Ctrl-C is the documented way to end a run; any other signal is reported as shells do. */
	if (vmscope_quit && vmscope_quit != SIGINT && rc == 0)
		rc = 128 + vmscope_quit;
	return rc;
}
