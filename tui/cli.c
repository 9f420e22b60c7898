/* The command line. */
#include "cli.h"
#include "tui/metrics.h"
#include "vmm/nic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_usage[] =
	"usage: vmscope [run] [options]\n"
	"       vmscope demo [--script FILE] [options]\n"
	"       vmscope replay [FILE] [--headless [--format F]] [--listen [ADDR:]PORT]\n"
	"\n"
	"Boots a tiny built-in KVM microVM and shows what its exits cost, live.\n"
	"demo runs the guided tour: CPU emulated -> paravirt -> hardware, NIC emulated -> virtio ->\n"
	"SR-IOV VF, with a caption for each step (space: next, backspace: back).\n"
	"replay shows a recording (--record) in the same dashboard, without KVM or root; with no\n"
	"FILE, the tour recorded on a real run.\n"
	"\n"
	"options:\n"
	"  --headless             no dashboard: one record per tick on stdout\n"
	"  --duration SECONDS     stop after this long (default: until q or Ctrl-C)\n"
	"  --interval MS          tick length, 50..60000 (default 1000)\n"
	"  --format jsonl|csv     headless record format (default jsonl)\n"
	"  --workload W           idle | exits[:KIND] | ping | tx | rx | echo (default exits:all)\n"
	"                         ping: guest pings the peer; tx: guest sends UDP to the peer's sink;\n"
	"                         rx: the peer floods the guest; echo: the peer sends, the guest echoes\n"
	"  --kind KIND            pio_vmm pio_eventfd mmio_vmm mmio_eventfd hypercall cpuid hlt all\n"
	"  --rate N               operations per second, 0 = as fast as possible (default 1000)\n"
	"  --nic MODE             the VM's first network card: emulated (an Intel 82540EM, every\n"
	"                         register access traps), virtio, vf (an SR-IOV virtual function),\n"
	"                         or none (default virtio); on the TAP link as root, the\n"
	"                         in-process loopback peer otherwise\n"
	"  --switch-every SECONDS move the running guest to the next card, emulated -> virtio -> vf\n"
	"  --switch-to MODE@SEC   move it to MODE at SEC seconds (repeatable)\n"
	"  --size BYTES           payload of ping and tx packets, 8..1472 (default 64)\n"
	"  --cpu MODE             auto | emulated (kvm_pvm only) | paravirt | hardware (default auto)\n"
	"  --pcap FILE            also write the link's traffic there (tcpdump, Wireshark)\n"
	"  --log FILE             append the guest's serial log and the VMM's log to FILE\n"
	"  --no-bpf               do not load the eBPF probes\n"
	"  --no-capture           no libpcap capture on the link (the capture's figures show -)\n"
	"  --verbose              let libbpf say what it does\n"
	"  --record FILE          also write every tick to FILE (FILE.gz: compressed), for replay\n"
	"  --listen [ADDR:]PORT   serve /metrics for Prometheus there (ADDR default 127.0.0.1)\n"
	"  -h, --help, --version\n"
	"\n"
	"examples:\n"
	"  sudo vmscope                                     the live dashboard\n"
	"  sudo vmscope run --headless --duration 5         five JSON lines, one a second\n"
	"  sudo vmscope run --headless --duration 3 --kind mmio_vmm --rate 0 --format csv\n"
	"  sudo vmscope run --headless --duration 3 --workload ping --rate 0   closed-loop RTT\n"
	"  sudo vmscope run --cpu emulated                  the same guest in KVM's instruction emulator\n"
	"  sudo vmscope run --headless --duration 8 --workload ping --rate 0 --switch-every 2\n"
	"                                                   live switches; their events in the JSON\n"
	"  sudo vmscope --record run.jsonl.gz               record a session; then, anywhere:\n"
	"  vmscope replay run.jsonl.gz                      the same dashboard, from the recording\n";

/* Seconds above 0, up to a million. */
static int parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	return errno || *end || end == s || !(*out > 0) || *out > 1e6 ? -1 : 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return -1;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_workload(const char *s, struct cli *cli)
{
	const char *colon = strchr(s, ':');
	if (!workload_parse(s, &cli->workload, &cli->kind))
		return 0;
	if (colon == s + 5 && !strncmp(s, "fault", 5)) { /* for tests: make the guest fail */
		static const char *const faults[] = {"ud", "triple", "hang"};
		cli->workload = WL_FAULT;
		for (uint32_t i = 0; i < 3; i++)
			if (!strcmp(colon + 1, faults[i])) {
				cli->kind = i;
				return 0;
			}
	}
	return -1;
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -1;                                                                         \
	} while (0)

int cli_parse(int argc, char **argv, struct cli *cli, char *err, size_t errlen)
{
	static const char *const with_value[] = {"--duration", "--interval", "--format", "--workload",
						 "--kind", "--rate", "--cpu", "--log", "--nic", "--size", "--pcap",
						 "--switch-every", "--switch-to", "--record", "--listen", "--script"};
	unsigned long v;
	int i = 1;
	const char *kind_flag = NULL, *workload_flag = NULL; /* as given, to spot contradictions */
	const char *live_only = NULL; /* a flag that drives a live VM, for replay's refusal */

	*cli = (struct cli){.interval_ms = 1000, .workload = WL_EXITS, .kind = EK_ALL, .rate = 1000,
			    .pkt_size = 64, .nic = NIC_MODE_VIRTIO};
	if (i < argc && !strcmp(argv[i], "run")) {
		i++;
	} else if (i < argc && !strcmp(argv[i], "replay")) {
		cli->cmd = CMD_REPLAY;
		i++;
	} else if (i < argc && !strcmp(argv[i], "demo")) {
		cli->cmd = CMD_DEMO;
		i++;
	}
	enum cli_cmd sub = cli->cmd;
	for (; i < argc; i++) {
		char *arg = argv[i], *val = NULL, name[32];
		char *eq = strchr(arg, '=');
		bool needs = false;

		if (!strcmp(arg, "-h")) {
			cli->cmd = CMD_HELP;
			continue;
		}
		if (cli->cmd == CMD_REPLAY && strncmp(arg, "--", 2) && !cli->replay_path) {
			cli->replay_path = arg;
			continue;
		}
		if (strncmp(arg, "--", 2))
			FAIL("unexpected argument '%s': see vmscope --help", arg);
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
		for (unsigned j = 0; j < sizeof(with_value) / sizeof(with_value[0]); j++)
			needs |= !strcmp(name, with_value[j]);
		if (needs) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				FAIL("%s needs a value: see vmscope --help", name);
			/* "--pcap --headless" would write a file named --headless. */
			if (!eq && !strncmp(val, "--", 2))
				FAIL("%s needs a value, not the option '%s' (use %s=VALUE for a value that "
				     "starts with --)", name, val, name);
		} else if (eq) {
			FAIL("%s takes no value", name);
		}

		static const char *const live[] = {"--duration", "--workload", "--kind", "--rate", "--cpu",
						   "--nic", "--size", "--pcap", "--log", "--no-bpf", "--no-capture",
						   "--verbose", "--switch-every", "--switch-to", "--record",
						   "--interval"};
		for (unsigned j = 0; j < sizeof(live) / sizeof(live[0]); j++)
			if (!strcmp(name, live[j]) && !live_only)
				live_only = live[j];

		if (!strcmp(name, "--help")) {
			cli->cmd = CMD_HELP;
		} else if (!strcmp(name, "--version")) {
			cli->cmd = CMD_VERSION;
		} else if (!strcmp(name, "--headless")) {
			cli->headless = true;
		} else if (!strcmp(name, "--no-bpf")) {
			cli->no_bpf = true;
		} else if (!strcmp(name, "--no-capture")) {
			cli->no_capture = true;
		} else if (!strcmp(name, "--verbose")) {
			cli->verbose = true;
		} else if (!strcmp(name, "--duration")) {
			if (parse_seconds(val, &cli->duration))
				FAIL("--duration wants seconds above 0 (like 5 or 0.5), not '%s'", val);
		} else if (!strcmp(name, "--switch-every")) {
			if (parse_seconds(val, &cli->switch_every) || cli->switch_every < 0.1)
				FAIL("--switch-every wants seconds, 0.1 or more (like 2), not '%s'", val);
		} else if (!strcmp(name, "--switch-to")) {
			char mode[16];
			const char *at = strchr(val, '@');
			struct cli_switch *sw = &cli->switch_to[cli->nr_switch_to];
			snprintf(mode, sizeof(mode), "%.*s", at ? (int)(at - val) : 0, val);
			if (!at || nic_mode_parse(mode, &sw->mode) || sw->mode == NIC_MODE_NONE ||
			    parse_seconds(at + 1, &sw->at))
				FAIL("--switch-to wants MODE@SECONDS with MODE one of emulated, virtio, vf "
				     "(like vf@2.5), not '%s'", val);
			if (cli->nr_switch_to == CLI_SWITCHES_MAX)
				FAIL("--switch-to is given more than %d times: use --switch-every for a cycle",
				     CLI_SWITCHES_MAX);
			cli->nr_switch_to++;
		} else if (!strcmp(name, "--interval")) {
			if (parse_uint(val, 60000, &v) || v < 50)
				FAIL("--interval wants milliseconds from 50 to 60000, not '%s'", val);
			cli->interval_ms = (unsigned)v;
		} else if (!strcmp(name, "--format")) {
			if (!strcmp(val, "jsonl"))
				cli->format = FMT_JSONL;
			else if (!strcmp(val, "csv"))
				cli->format = FMT_CSV;
			else
				FAIL("--format wants jsonl or csv, not '%s'", val);
		} else if (!strcmp(name, "--workload")) {
			if (parse_workload(val, cli))
				FAIL("--workload wants idle, exits[:KIND], ping, tx, rx or echo, not '%s'", val);
			workload_flag = val;
		} else if (!strcmp(name, "--kind")) {
			if (exit_kind_parse(val, &cli->kind))
				FAIL("--kind wants one of pio_vmm pio_eventfd mmio_vmm mmio_eventfd "
				     "hypercall cpuid hlt all, not '%s'", val);
			kind_flag = val;
		} else if (!strcmp(name, "--rate")) {
			if (parse_uint(val, 10000000, &v))
				FAIL("--rate wants operations per second from 0 (unpaced) to 10000000, "
				     "not '%s'", val);
			cli->rate = (uint32_t)v;
		} else if (!strcmp(name, "--cpu")) {
			if (cpu_mode_parse(val, &cli->cpu))
				FAIL("--cpu wants auto, emulated, paravirt or hardware, not '%s'", val);
		} else if (!strcmp(name, "--nic")) {
			if (nic_mode_parse(val, &cli->nic))
				FAIL("--nic wants %s, not '%s'", nic_mode_list(), val);
		} else if (!strcmp(name, "--size")) {
			if (parse_uint(val, 1472, &v) || v < 8)
				FAIL("--size wants payload bytes from 8 to 1472, not '%s'", val);
			cli->pkt_size = (uint32_t)v;
		} else if (!strcmp(name, "--pcap")) {
			cli->pcap_file = val;
		} else if (!strcmp(name, "--log")) {
			cli->log_path = val;
		} else if (!strcmp(name, "--script")) {
			if (sub != CMD_DEMO)
				FAIL("--script is the guided tour's: vmscope demo --script FILE");
			cli->script_path = val;
		} else if (!strcmp(name, "--record")) {
			cli->record_path = val;
		} else if (!strcmp(name, "--listen")) {
			if (metrics_parse_listen(val, cli->listen_addr, sizeof(cli->listen_addr),
						 &cli->listen_port, err, errlen))
				return -1;
			cli->listen = true;
		} else {
			FAIL("unknown option '%s': see vmscope --help", name);
		}
	}
	if (sub == CMD_DEMO && (cli->workload != WL_EXITS || cli->kind != EK_ALL || workload_flag ||
				kind_flag || cli->switch_every > 0 || cli->nr_switch_to || cli->nic != NIC_MODE_VIRTIO))
		FAIL("the tour's script chooses the workload and the cards: drop --workload, --kind, --nic "
		     "and --switch-* from vmscope demo");
	if (cli->cmd == CMD_REPLAY && live_only)
		FAIL("%s drives a live VM; a replay shows what was recorded (replay takes FILE, "
		     "--headless, --format and --listen)", live_only);
	/* --kind picks the exits workload's kind: with another workload, or another kind, the two
	 * flags say different things. */
	if (kind_flag && workload_flag) {
		const char *colon = strchr(workload_flag, ':');
		if (cli->workload != WL_EXITS)
			FAIL("--kind %s asks for the exits workload, but --workload is %s: drop one",
			     kind_flag, workload_flag);
		if (colon && strcmp(colon + 1, kind_flag))
			FAIL("--kind %s contradicts --workload %s: drop one", kind_flag, workload_flag);
	}
	if (kind_flag) {
		cli->workload = WL_EXITS;
		exit_kind_parse(kind_flag, &cli->kind);
	}
	if (cli->nic == NIC_MODE_NONE && cli->workload >= WL_PING)
		FAIL("the %s workload needs the network card; drop --nic none", workload_name(cli->workload));
	if (cli->pcap_file && cli->nic == NIC_MODE_NONE)
		FAIL("--pcap records the network card's link; drop --nic none");
	if (cli->pcap_file && cli->no_capture)
		FAIL("--pcap writes what the capture sees; drop --no-capture or --pcap");
	/* Planned switches happen in the order of their times. */
	for (unsigned a = 1; a < cli->nr_switch_to; a++)
		for (unsigned b = a; b > 0 && cli->switch_to[b - 1].at > cli->switch_to[b].at; b--) {
			struct cli_switch t = cli->switch_to[b];
			cli->switch_to[b] = cli->switch_to[b - 1];
			cli->switch_to[b - 1] = t;
		}
	if ((cli->switch_every > 0 || cli->nr_switch_to) && cli->nic == NIC_MODE_NONE)
		FAIL("--switch-every and --switch-to move the network card; drop --nic none");
	if (cli->switch_every > 0 && cli->nr_switch_to)
		FAIL("--switch-every and --switch-to both plan the switches: use one");
	if (cli->format == FMT_CSV && !cli->headless && cli->cmd != CMD_HELP && cli->cmd != CMD_VERSION)
		FAIL("--format applies to --headless output; add --headless");
	return 0;
}

enum nic_mode cli_switch_due(const struct cli *cli, double elapsed, enum nic_mode current,
			     unsigned *done)
{
	if (cli->switch_every > 0) {
		if (elapsed < cli->switch_every * (*done + 1))
			return NIC_MODE_NONE;
		(*done)++;
		/* The lesson's order, round and round: emulated -> virtio -> vf -> emulated. */
		return current == NIC_MODE_EMULATED ? NIC_MODE_VIRTIO
		       : current == NIC_MODE_VIRTIO ? NIC_MODE_VF
						    : NIC_MODE_EMULATED;
	}
	/* --switch-to in the order given; a time already passed is taken at once. */
	if (*done < cli->nr_switch_to && elapsed >= cli->switch_to[*done].at)
		return cli->switch_to[(*done)++].mode;
	return NIC_MODE_NONE;
}
