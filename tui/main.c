/* vmscope: parse the command line, open a session, hand it to a front end. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tui/cli.h"
#include "tui/frontends.h"

#ifndef VMSCOPE_VERSION
#define VMSCOPE_VERSION "0.1"
#endif

volatile sig_atomic_t vmscope_quit; /* the signal that asked us to stop, or 0 */

static void on_signal(int sig) { vmscope_quit = sig; }

int main(int argc, char **argv)
{
	struct cli cli;
	char err[256];
	const char *why;
	struct session *s;

	if (cli_parse(argc, argv, &cli, err, sizeof(err))) {
		fprintf(stderr, "vmscope: %s\n", err);
		return 2;
	}
	if (cli.cmd == CMD_HELP) {
		fputs(cli_usage, stdout);
		return 0;
	}
	if (cli.cmd == CMD_VERSION) {
		printf("vmscope %s\n", VMSCOPE_VERSION);
		return 0;
	}
	if (!cli.headless && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "vmscope: the dashboard needs a terminal; add --headless to get "
				"records on a pipe\n");
		return 2;
	}

	/* Every terminating signal ends the run the same way: the front end returns, the session
	 * closes (namespace removed, pcap flushed, terminal restored). A closed stdout is EPIPE. */
	static const int stop_signals[] = {SIGHUP, SIGINT, SIGTERM, SIGQUIT};
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaction(stop_signals[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct session_opts so = {
		.cpu = cli.cpu,
		.workload = cli.workload,
		.kind = cli.kind,
		.rate = cli.rate,
		.log_path = cli.log_path,
		.no_bpf = cli.no_bpf,
		.nic = cli.nic,
		.pkt_size = cli.pkt_size,
		.pcap_file = cli.pcap_file,
		.verbose = cli.verbose,
	};
	/* A --pcap path we cannot write is the user's to fix: say so before booting anything. */
	if (cli.pcap_file) {
		int fd = open(cli.pcap_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "vmscope: cannot write the --pcap file '%s': %s\n", cli.pcap_file,
				strerror(errno));
			return 1;
		}
		close(fd);
	}
	if (session_open(&s, &so, &why)) {
		fprintf(stderr, "vmscope: %s\n", why);
		return 1;
	}
	if (cli.nic != NIC_MODE_NONE && session_net_why(s))
		fprintf(stderr, "vmscope: %s; the in-process loopback peer answers instead (no "
				"namespace, no capture)\n", session_net_why(s));
	int rc = cli.headless ? run_headless(&cli, s) : run_dashboard(&cli, s);
	session_close(s);
	/* Ctrl-C is the documented way to end a run; any other signal is reported as shells do. */
	if (vmscope_quit && vmscope_quit != SIGINT && rc == 0)
		rc = 128 + vmscope_quit;
	return rc;
}
