/* The command line: parsed into struct cli, with one-sentence errors. */
#ifndef VMSCOPE_CLI_H
#define VMSCOPE_CLI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/vmm.h"

enum cli_cmd { CMD_RUN, CMD_REPLAY, CMD_DEMO, CMD_ATTACH, CMD_HELP, CMD_VERSION };
enum out_format { FMT_JSONL, FMT_CSV };

#define CLI_SWITCHES_MAX 32
/* --cast-size's smallest screen: the dashboard's own (tui/dash.h MIN_COLS, MIN_LINES). */
#define MIN_CAST_COLS 80
#define MIN_CAST_ROWS 24

/* A planned live switch of the NIC: to mode, at seconds into the run. */
struct cli_switch {
	enum nic_mode mode;
	double at;
};

struct cli {
	enum cli_cmd cmd;
	bool headless;
	double duration;      /* seconds; 0 = until interrupted */
	uint32_t interval_ms; /* tick length */
	enum out_format format;
	enum workload workload;
	uint32_t kind; /* exit kind, or fault kind for the fault workload */
	uint32_t rate;
	uint32_t pkt_size;
	enum nic_mode nic;
	enum cpu_mode cpu;
	const char *log_path;
	const char *pcap_file;
	bool no_bpf;
	bool no_stats;
	bool no_capture;
	bool verbose;
	bool sample;	     /* attach --sample: the probes on for one tick in 8 */
	double switch_every; /* 0: none; else cycle the cards this often */
	unsigned nr_switch_to;
	struct cli_switch switch_to[CLI_SWITCHES_MAX];
	const char *record_path; /* --record FILE */
	bool listen;		 /* --listen [ADDR:]PORT */
	char listen_addr[64];
	unsigned listen_port;
	const char *replay_path;       /* vmscope replay FILE; NULL: the shipped tour */
	const char *script_path;       /* vmscope demo --script FILE; NULL: the built-in tour */
	const char *cast_path;	       /* vmscope replay --cast FILE */
	const char *attach_pid;	       /* vmscope attach PID, as given; NULL: list the VMs */
	int pid;		       /* that PID */
	unsigned cast_cols, cast_rows; /* --cast-size COLSxROWS */
	uint32_t vms;		       /* --vms: VMs on the one link */
	enum workload neighbours;      /* what VM2.. run */
	uint32_t neighbour_rate;
};

/* The switch a plan asks for once elapsed seconds have passed, or NIC_MODE_NONE; *done counts
 * the plan's steps taken (start it at 0). current: the card in use. */
enum nic_mode cli_switch_due(const struct cli *cli, double elapsed, enum nic_mode current,
			     unsigned *done);

/* 0 on success; -1 with a sentence in err saying what is wrong and what to do. */
int cli_parse(int argc, char **argv, struct cli *cli, char *err, size_t errlen);
/* The usage text (--help), made from the option table. */
void cli_print_usage(FILE *f);
/* The options' names ("--duration", ...), for tests and completions; how many. */
unsigned cli_option_names(const char **out, unsigned max);

#endif
