/* The command line: parsed into struct cli, with one-sentence errors. */
#ifndef VMSCOPE_CLI_H
#define VMSCOPE_CLI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

enum cli_cmd { CMD_RUN, CMD_HELP, CMD_VERSION };
enum out_format { FMT_JSONL, FMT_CSV };

struct cli {
	enum cli_cmd cmd;
	bool headless;
	double duration;      /* seconds; 0 = until interrupted */
	unsigned interval_ms; /* tick length */
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
	bool verbose;
};

/* 0 on success; -1 with a sentence in err saying what is wrong and what to do. */
int cli_parse(int argc, char **argv, struct cli *cli, char *err, size_t errlen);
extern const char cli_usage[];

#endif
