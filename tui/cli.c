/* The command line. */
#include "cli.h"
#include "probes/text.h"
#include "tui/metrics.h"
#include "vmm/names.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		static const char *const faults[] = {"ud", "triple", "hang", "wild", "garbage"};
		cli->workload = WL_FAULT;
		for (uint32_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
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

/* What the parse keeps beside struct cli: the flags as given, to spot contradictions. */
struct parse {
	struct cli *cli;
	enum cli_cmd sub;      /* the subcommand (help and version do not change it) */
	const char *kind_flag; /* --kind, as given */
	const char *workload_flag;
	const char *neighbours_flag; /* --neighbours or --neighbour-rate, as given */
	const char *live_only;	/* the first flag that drives a live VM, for replay's refusal */
	bool cast_size;		/* --cast-size was given */
	const char *first_flag; /* the first option given */
	const char *not_attach; /* the first option given that vmscope attach does not take */
	char *err;
	size_t errlen;
};

#define OPT(fn) static int fn(struct parse *p, const char *val, char *err, size_t errlen)

OPT(opt_help)
{
	p->cli->cmd = CMD_HELP;
	return 0;
}
OPT(opt_version)
{
	p->cli->cmd = CMD_VERSION;
	return 0;
}
OPT(opt_duration)
{
	if (parse_seconds(val, &p->cli->duration))
		FAIL("--duration wants seconds above 0 and at most 1000000 (like 5 or 0.5), not "
		     "'%s'",
		     val);
	return 0;
}

OPT(opt_switch_every)
{
	if (parse_seconds(val, &p->cli->switch_every) || p->cli->switch_every < 0.1)
		FAIL("--switch-every wants seconds from 0.1 to 1000000 (like 2), not '%s'", val);
	return 0;
}

OPT(opt_switch_to)
{
	struct cli *cli = p->cli;
	char mode[16];
	const char *at = strchr(val, '@');
	struct cli_switch sw;
	snprintf(mode, sizeof(mode), "%.*s", at ? (int)(at - val) : 0, val);
	if (!at || nic_mode_parse(mode, &sw.mode) || sw.mode == NIC_MODE_NONE ||
	    parse_seconds(at + 1, &sw.at))
		FAIL("--switch-to wants MODE@SECONDS with MODE one of emulated, virtio, vf and "
		     "SECONDS above 0, at most 1000000 (like vf@2.5), not '%s'",
		     val);
	if (cli->nr_switch_to == CLI_SWITCHES_MAX)
		FAIL("--switch-to is given more than %d times: use --switch-every for a cycle",
		     CLI_SWITCHES_MAX);
	cli->switch_to[cli->nr_switch_to++] = sw;
	return 0;
}

OPT(opt_format)
{
	if (!strcmp(val, "jsonl"))
		p->cli->format = FMT_JSONL;
	else if (!strcmp(val, "csv"))
		p->cli->format = FMT_CSV;
	else
		FAIL("--format wants jsonl or csv, not '%s'", val);
	return 0;
}

OPT(opt_workload)
{
	if (parse_workload(val, p->cli))
		FAIL("--workload wants " WORKLOADS ", not '%s'", val);
	p->workload_flag = val;
	return 0;
}

OPT(opt_neighbours)
{
	if (neighbour_load_parse(val, &p->cli->neighbours))
		FAIL("--neighbours wants " NEIGHBOUR_LOADS ", not '%s'", val);
	p->neighbours_flag = val;
	return 0;
}

OPT(opt_neighbour_rate)
{
	unsigned long v;
	if (parse_uint(val, 10000000, &v))
		FAIL("--neighbour-rate wants packets per second from 0 (unpaced) to 10000000, not "
		     "'%s'",
		     val);
	p->cli->neighbour_rate = (uint32_t)v;
	p->neighbours_flag = val;
	return 0;
}

OPT(opt_kind)
{
	if (exit_kind_parse(val, &p->cli->kind))
		FAIL("--kind wants one of pio_vmm pio_eventfd mmio_vmm mmio_eventfd "
		     "hypercall cpuid hlt all, not '%s'",
		     val);
	p->kind_flag = val;
	return 0;
}

OPT(opt_cpu)
{
	if (cpu_mode_parse(val, &p->cli->cpu))
		FAIL("--cpu wants auto, hardware, paravirt, emulated or translated, not '%s'", val);
	return 0;
}

OPT(opt_nic)
{
	char list[64];
	if (nic_mode_parse(val, &p->cli->nic))
		FAIL("--nic wants %s, not '%s'", nic_mode_list(list, sizeof(list)), val);
	return 0;
}

OPT(opt_script)
{
	if (p->sub != CMD_DEMO)
		FAIL("--script is the guided tour's: vmscope demo --script FILE");
	p->cli->script_path = val;
	return 0;
}

OPT(opt_cast)
{
	if (p->sub != CMD_REPLAY)
		FAIL("--cast writes a replay as an asciicast: vmscope replay --cast FILE "
		     "[RECORDING]");
	p->cli->cast_path = val;
	return 0;
}

OPT(opt_cast_size)
{
	unsigned cols, rows;
	char end;
	if (sscanf(val, "%ux%u%c", &cols, &rows, &end) != 2 || cols < MIN_CAST_COLS ||
	    rows < MIN_CAST_ROWS || cols > 1000 || rows > 1000)
		FAIL("--cast-size wants COLSxROWS from %dx%d to 1000x1000 (like 120x40), not '%s'",
		     MIN_CAST_COLS, MIN_CAST_ROWS, val);
	p->cli->cast_cols = cols;
	p->cli->cast_rows = rows;
	p->cast_size = true;
	return 0;
}

OPT(opt_listen)
{
	struct cli *cli = p->cli;
	if (metrics_parse_listen(val, cli->listen_addr, sizeof(cli->listen_addr), &cli->listen_port,
				 err, errlen))
		return -1;
	cli->listen = true;
	return 0;
}

/* Every option, once: the parser and the usage text are made from these rows. A row sets a
 * field of struct cli itself (a flag, a string, a bounded number) or calls its parse. */
enum {
	LIVE = 1,  /* drives a live VM: a replay refuses it */
	ATTACH = 2 /* vmscope attach PID takes it too */
};
enum opt_kind { O_FLAG, O_STRING, O_UINT, O_PARSE };
static const struct cli_option {
	const char *name;
	const char *arg; /* the value's name in the usage; NULL: it takes none */
	unsigned flags;
	enum opt_kind kind;
	size_t field;		/* O_FLAG (bool), O_STRING (const char *), O_UINT (uint32_t) */
	unsigned long min, max; /* O_UINT */
	const char *want;	/* O_UINT: what it wants, for the refusal */
	int (*parse)(struct parse *p, const char *val, char *err, size_t errlen); /* O_PARSE */
	const char *help; /* lines after the first are indented under it; NULL: not listed */
} options[] = {
#define FLAG(n, fl, f, h)                                                                          \
	{                                                                                          \
		.name = n, .flags = fl, .kind = O_FLAG, .field = offsetof(struct cli, f),          \
		.help = h                                                                          \
	}
#define STRING(n, a, fl, f, h)                                                                     \
	{                                                                                          \
		.name = n, .arg = a, .flags = fl, .kind = O_STRING,                                \
		.field = offsetof(struct cli, f), .help = h                                        \
	}
#define UINT(n, a, fl, f, lo, hi, w, h)                                                            \
	{                                                                                          \
		.name = n, .arg = a, .flags = fl, .kind = O_UINT,                                  \
		.field = offsetof(struct cli, f), .min = lo, .max = hi, .want = w, .help = h       \
	}
#define PARSE(n, a, fl, fn, h)                                                                     \
	{                                                                                          \
		.name = n, .arg = a, .flags = fl, .kind = O_PARSE, .parse = fn, .help = h          \
	}
    FLAG("--headless", ATTACH, headless, "no dashboard: one record per tick on stdout"),
    PARSE("--duration", "SECONDS", LIVE | ATTACH, opt_duration,
	  "stop after this long (default: until q or Ctrl-C)"),
    UINT("--interval", "MS", LIVE | ATTACH, interval_ms, 50, 60000, "milliseconds from 50 to 60000",
	 "tick length, 50..60000 (default 1000)"),
    PARSE("--format", "jsonl|csv", ATTACH, opt_format, "headless record format (default jsonl)"),
    PARSE("--workload", "W", LIVE, opt_workload,
	  "idle | exits[:KIND] | ping | tx | rx | echo | both (default exits:all)\n"
	  "ping: guest pings the peer; tx: guest sends UDP to the peer's sink;\n"
	  "rx: the peer floods the guest; echo: the peer sends, the guest echoes;\n"
	  "both: tx and rx at once"),
    PARSE("--kind", "KIND", LIVE, opt_kind,
	  "pio_vmm pio_eventfd mmio_vmm mmio_eventfd hypercall cpuid hlt all"),
    UINT("--rate", "N", LIVE, rate, 0, 10000000,
	 "operations per second from 0 (unpaced) to 10000000",
	 "operations per second, 0 = as fast as possible (default 1000)"),
    PARSE("--nic", "MODE", LIVE, opt_nic,
	  "the VM's first network card: emulated (an Intel 82540EM, every\n"
	  "register access traps), virtio, vf (an SR-IOV virtual function),\n"
	  "or none (default virtio); on the TAP link as root, the\n"
	  "in-process loopback peer otherwise"),
    UINT("--vms", "N", LIVE, vms, 1, 4, "a number of VMs from 1 to 4",
	 "VMs on the one link, 1..4 (default 1): VM1 runs --workload,\n"
	 "VM2.. are its neighbours and load the path it shares"),
    PARSE("--neighbours", "W", LIVE, opt_neighbours,
	  "what VM2.. run: idle | tx | rx | both | ping (default tx);\n"
	  "rx: the peer floods each of them, both: tx and rx at once"),
    PARSE("--neighbour-rate", "N", LIVE, opt_neighbour_rate,
	  "each neighbour's packets per second, 0 = as fast as it can\n"
	  "(default 5000)"),
    PARSE("--switch-every", "SECONDS", LIVE, opt_switch_every,
	  "move the running guest to the next card, emulated -> virtio -> vf"),
    PARSE("--switch-to", "MODE@SEC", LIVE, opt_switch_to,
	  "move it to MODE at SEC seconds (repeatable)"),
    UINT("--size", "BYTES", LIVE, pkt_size, 8, 1472, "payload bytes from 8 to 1472",
	 "payload of ping and tx packets, 8..1472 (default 64)"),
    PARSE("--cpu", "MODE", LIVE, opt_cpu,
	  "auto | emulated (kvm_pvm only) | paravirt | hardware | translated\n"
	  "(binary translation, no KVM needed; auto picks it where\n"
	  "/dev/kvm is missing or refused) (default auto)"),
    STRING("--pcap", "FILE", LIVE, pcap_file,
	   "also write the link's traffic there (tcpdump, Wireshark)"),
    STRING("--log", "FILE", LIVE, log_path, "append the guest's console and the VMM's log to FILE"),
    FLAG("--no-bpf", LIVE | ATTACH, no_bpf, "do not load the eBPF probes"),
    FLAG("--no-stats", LIVE | ATTACH, no_stats, "do not read KVM's stats fd (its figures show -)"),
    FLAG("--no-capture", LIVE, no_capture,
	 "no libpcap capture on the link (the capture's figures show -)"),
    FLAG("--verbose", LIVE | ATTACH, verbose, "let libbpf say what it does"),
    FLAG("--sample", ATTACH, sample,
	 "attach: the eBPF probes on for one tick in 8, not all the time:\n"
	 "their cost to the VM an eighth; their counts are of those ticks"),
    STRING("--record", "FILE", LIVE | ATTACH, record_path,
	   "also write every tick to FILE (FILE.gz: compressed), for replay"),
    PARSE("--listen", "[ADDR:]PORT", ATTACH, opt_listen,
	  "serve /metrics for Prometheus there (ADDR default 127.0.0.1)"),
    PARSE("--script", "FILE", 0, opt_script,
	  "demo: run this tour script instead of the built-in one"),
    PARSE("--cast", "FILE", 0, opt_cast,
	  "replay: write the dashboard replaying the recording to FILE as an\n"
	  "asciicast v2 (asciinema's player, a web page), a frame a tick"),
    PARSE("--cast-size", "COLSxROWS", 0, opt_cast_size,
	  "replay --cast: the screen's size (default 120x40)"),
    PARSE("--help", NULL, 0, opt_help, NULL),
    PARSE("--version", NULL, 0, opt_version, NULL),
#undef FLAG
#undef STRING
#undef UINT
#undef PARSE
};

/* The row's own field, set from val: 0, or -1 with the refusal in err. */
static int set_field(struct parse *p, const struct cli_option *o, const char *val)
{
	char *err = p->err;
	size_t errlen = p->errlen;
	char *at = (char *)p->cli + o->field;
	unsigned long v;
	switch (o->kind) {
	case O_FLAG: *(bool *)at = true; return 0;
	case O_STRING: *(const char **)at = val; return 0;
	case O_UINT:
		if (parse_uint(val, o->max, &v) || v < o->min)
			FAIL("%s wants %s, not '%s'", o->name, o->want, val);
		*(uint32_t *)at = (uint32_t)v;
		return 0;
	case O_PARSE: return o->parse(p, val, err, errlen);
	}
	return -1;
}

static const char usage_head[] =
    "usage: vmscope [run] [options]\n"
    "       vmscope demo [--script FILE] [options]\n"
    "       vmscope replay [FILE] [--headless [--format F]] [--listen [ADDR:]PORT]\n"
    "       vmscope replay [FILE] --cast CAST [--cast-size COLSxROWS]\n"
    "       vmscope attach [PID [--headless] [--record FILE] [--listen [ADDR:]PORT] ...]\n"
    "\n"
    "Boots a tiny built-in KVM microVM and shows what its exits cost, live.\n"
    "demo runs the guided tour: CPU emulated -> paravirt -> hardware, NIC emulated -> virtio ->\n"
    "SR-IOV VF, then three VMs on one card, with a caption for each step (space: next,\n"
    "backspace: back).\n"
    "replay shows a recording (--record) in the same dashboard, without KVM or root; with no\n"
    "FILE, the tour recorded on a real run.\n"
    "attach lists the KVM VMs on this host (process, VMM, guest name, vCPUs, stats fds held);\n"
    "attach PID watches one of them: its vCPUs' stats and exits, each exit's latency.\n"
    "\n"
    "options:\n";

static const char usage_tail[] =
    "  -h, --help, --version\n"
    "\n"
    "examples:\n"
    "  sudo vmscope                                     the live dashboard\n"
    "  sudo vmscope run --headless --duration 5         five JSON lines, one a second\n"
    "  sudo vmscope run --headless --duration 3 --kind mmio_vmm --rate 0 --format csv\n"
    "  sudo vmscope run --headless --duration 3 --workload ping --rate 0   closed-loop RTT\n"
    "  sudo vmscope run --cpu emulated                  the same guest in KVM's instruction "
    "emulator\n"
    "  sudo vmscope run --headless --duration 8 --workload ping --rate 0 --switch-every 2\n"
    "                                                   live switches; their events in the JSON\n"
    "  sudo vmscope --record run.jsonl.gz               record a session; then, anywhere:\n"
    "  vmscope replay run.jsonl.gz                      the same dashboard, from the recording\n"
    "  sudo vmscope attach 4242 --headless --duration 5 another VMM's VM, five records\n";

#define NR_OPTIONS   (sizeof(options) / sizeof(options[0]))
#define USAGE_COLUMN 25 /* where an option's help starts */

void cli_print_usage(FILE *f)
{
	fputs(usage_head, f);
	for (unsigned i = 0; i < NR_OPTIONS; i++) {
		const struct cli_option *o = &options[i];
		char left[USAGE_COLUMN];
		if (!o->help)
			continue;
		snprintf(left, sizeof(left), "%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		const char *line = o->help;
		fprintf(f, "  %-*s", USAGE_COLUMN - 3, left);
		for (;;) {
			size_t n = strcspn(line, "\n");
			fprintf(f, " %.*s\n", (int)n, line);
			if (!line[n])
				break;
			line += n + 1;
			fprintf(f, "%*s", USAGE_COLUMN - 1, "");
		}
	}
	fputs(usage_tail, f);
}

unsigned cli_option_names(const char **out, unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < NR_OPTIONS && n < max; i++)
		out[n++] = options[i].name;
	return n;
}

static const struct cli_option *find_option(const char *name)
{
	for (unsigned i = 0; i < NR_OPTIONS; i++)
		if (!strcmp(name, options[i].name))
			return &options[i];
	return NULL;
}

/* The subcommand, if argv[1] names one; returns the index of the first option. */
static int parse_command(int argc, char **argv, struct cli *cli)
{
	static const struct {
		const char *name;
		enum cli_cmd cmd;
	} cmds[] = {
	    {"run", CMD_RUN}, {"replay", CMD_REPLAY}, {"demo", CMD_DEMO}, {"attach", CMD_ATTACH}};
	for (unsigned i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			cli->cmd = cmds[i].cmd;
			return 2;
		}
	return 1;
}

/* The flags one by one, each through its row of the option table. */
static int parse_options(struct parse *p, int i, int argc, char **argv)
{
	struct cli *cli = p->cli;
	char *err = p->err;
	size_t errlen = p->errlen;
	for (; i < argc; i++) {
		char *arg = argv[i], *val = NULL, name[32];
		char *eq = strchr(arg, '=');

		if (!strcmp(arg, "-h")) {
			cli->cmd = CMD_HELP;
			continue;
		}
		if (cli->cmd == CMD_REPLAY && strncmp(arg, "--", 2) && !cli->replay_path) {
			cli->replay_path = arg;
			continue;
		}
		if (cli->cmd == CMD_ATTACH && strncmp(arg, "--", 2) && !cli->attach_pid) {
			cli->attach_pid = arg;
			continue;
		}
		if (strncmp(arg, "--", 2))
			FAIL("unexpected argument '%s': see vmscope --help", arg);
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
		const struct cli_option *o = find_option(name);
		if (!o)
			FAIL("unknown option '%s': see vmscope --help", name);
		if (o->arg) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				FAIL("%s needs a value: see vmscope --help", name);
			/* "--pcap --headless" would write a file named --headless. */
			if (!eq && !strncmp(val, "--", 2))
				FAIL("%s needs a value, not the option '%s' (use %s=VALUE for a "
				     "value that "
				     "starts with --)",
				     name, val, name);
		} else if (eq) {
			FAIL("%s takes no value", name);
		}
		if ((o->flags & LIVE) && !p->live_only)
			p->live_only = o->name;
		if (!p->first_flag && o->parse != opt_help && o->parse != opt_version)
			p->first_flag = o->name;
		if (!p->not_attach && !(o->flags & ATTACH) && o->parse != opt_help &&
		    o->parse != opt_version)
			p->not_attach = o->name;
		if (set_field(p, o, val))
			return -1;
	}
	return 0;
}

/* What the flags say together. */
static int check_combinations(struct parse *p)
{
	struct cli *cli = p->cli;
	char *err = p->err;
	size_t errlen = p->errlen;
	if (p->sub == CMD_DEMO &&
	    (cli->workload != WL_EXITS || cli->kind != EK_ALL || p->workload_flag || p->kind_flag ||
	     cli->switch_every > 0 || cli->nr_switch_to || cli->nic != NIC_MODE_VIRTIO))
		FAIL("the tour's script chooses the workload and the cards: drop --workload, "
		     "--kind, --nic "
		     "and --switch-* from vmscope demo");
	if (p->sub == CMD_ATTACH && !cli->attach_pid && p->first_flag)
		FAIL("vmscope attach without a PID lists the KVM VMs on this host and takes no "
		     "options: drop %s, or name the VMM's PID",
		     p->first_flag);
	if (p->sub == CMD_ATTACH && p->not_attach)
		FAIL("%s is for vmscope's own VM; vmscope attach PID watches another's and takes "
		     "--headless, --duration, --interval, --format, --record, --listen, --no-bpf, "
		     "--no-stats and --verbose",
		     p->not_attach);
	if (p->sub == CMD_ATTACH && cli->attach_pid) {
		char *end;
		errno = 0;
		long pid = strtol(cli->attach_pid, &end, 10);
		if (errno || *end || end == cli->attach_pid || pid <= 0 || pid > 4194304)
			FAIL("vmscope attach wants the VMM's process ID (a number; vmscope attach "
			     "lists them), not '%s'",
			     cli->attach_pid);
		cli->pid = (int)pid;
		if (cli->format == FMT_CSV)
			FAIL("--format csv has the columns of vmscope's own VM; vmscope attach "
			     "writes JSON lines (drop --format csv)");
	}
	if (cli->cmd == CMD_REPLAY && p->live_only)
		FAIL("%s drives a live VM; a replay shows what was recorded (replay takes FILE, "
		     "--headless, --format, --listen, --cast and --cast-size)",
		     p->live_only);
	/* --kind picks the exits workload's kind: with another workload, or another kind, the two
	 * flags say different things. */
	if (p->kind_flag && p->workload_flag) {
		const char *colon = strchr(p->workload_flag, ':');
		if (cli->workload != WL_EXITS)
			FAIL(
			    "--kind %s asks for the exits workload, but --workload is %s: drop one",
			    p->kind_flag, p->workload_flag);
		if (colon && strcmp(colon + 1, p->kind_flag))
			FAIL("--kind %s contradicts --workload %s: drop one", p->kind_flag,
			     p->workload_flag);
	}
	if (p->kind_flag) {
		cli->workload = WL_EXITS;
		exit_kind_parse(p->kind_flag, &cli->kind);
	}
	if (cli->nic == NIC_MODE_NONE && cli->workload >= WL_PING)
		FAIL("the %s workload needs the network card; drop --nic none",
		     workload_name(cli->workload));
	if (cli->pcap_file && cli->nic == NIC_MODE_NONE)
		FAIL("--pcap records the network card's link; drop --nic none");
	if (cli->pcap_file && cli->no_capture)
		FAIL("--pcap writes what the capture sees; drop --no-capture or --pcap");
	if ((cli->switch_every > 0 || cli->nr_switch_to) && cli->nic == NIC_MODE_NONE)
		FAIL("--switch-every and --switch-to move the network card; drop --nic none");
	if (cli->switch_every > 0 && cli->nr_switch_to)
		FAIL("--switch-every and --switch-to both plan the switches: use one");
	if (cli->vms > 1 && p->sub == CMD_DEMO)
		FAIL("the tour runs one VM: drop --vms from vmscope demo");
	if (cli->vms > 1 && cli->nic == NIC_MODE_NONE)
		FAIL("several VMs (--vms) share a network link: drop --nic none");
	if (p->neighbours_flag && cli->vms <= 1)
		FAIL("--neighbours and --neighbour-rate set what VM2.. run: add --vms N (2 to 4)");
	if (p->cast_size && !cli->cast_path)
		FAIL("--cast-size sets the size of --cast's screen; add --cast FILE");
	if (cli->cast_path && (cli->headless || cli->listen))
		FAIL("--cast writes the dashboard to a file; drop --headless and --listen");
	if (cli->format == FMT_CSV && !cli->headless && cli->cmd != CMD_HELP &&
	    cli->cmd != CMD_VERSION)
		FAIL("--format applies to --headless output; add --headless");
	return 0;
}

int cli_parse(int argc, char **argv, struct cli *cli, char *err, size_t errlen)
{
	*cli = (struct cli){.interval_ms = 1000,
			    .cast_cols = 120,
			    .cast_rows = 40,
			    .workload = WL_EXITS,
			    .kind = EK_ALL,
			    .rate = 1000,
			    .pkt_size = 64,
			    .nic = NIC_MODE_VIRTIO,
			    .vms = 1,
			    .neighbours = WL_TX,
			    .neighbour_rate = NEIGHBOUR_RATE_DEFAULT};
	int i = parse_command(argc, argv, cli);
	struct parse p = {.cli = cli, .sub = cli->cmd, .err = err, .errlen = errlen};
	if (parse_options(&p, i, argc, argv) || check_combinations(&p)) {
		/* The sentence may quote an argument: one line, nothing a terminal would act on. */
		char said[512];
		snprintf(said, sizeof(said), "%s", err);
		text_escape(err, errlen, said, strlen(said));
		return -1;
	}
	/* Planned switches happen in the order of their times. */
	for (unsigned a = 1; a < cli->nr_switch_to; a++)
		for (unsigned b = a; b > 0 && cli->switch_to[b - 1].at > cli->switch_to[b].at;
		     b--) {
			struct cli_switch t = cli->switch_to[b];
			cli->switch_to[b] = cli->switch_to[b - 1];
			cli->switch_to[b - 1] = t;
		}
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
