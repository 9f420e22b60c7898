/* Headless record writers. The schema is documented in README.md ("Headless records"). */
#include "output.h"

#include <stdlib.h>

#include "probes/snapshot_json.h"
#include "vmm/names.h"
#include "vmm/vmm.h"

void out_jsonl(FILE *f, const struct snapshot *s)
{
	size_t n;
	char *line = snapshot_to_json(s, &n);
	if (line)
		fwrite(line, 1, n, f);
	free(line);
}

void out_csv_header(FILE *f)
{
	fputs("t,host,cpu_mode,state,workload,kind,rate", f);
	for (unsigned k = 0; k < EK_MAX; k++)
		fprintf(f, ",exits_%s,source_%s,cost_avg_ns_%s", exit_kind_name(k),
			exit_kind_name(k), exit_kind_name(k));
	fputs(",idle_halts,bpf,nic_mode,pps_tx,pps_rx,latency_p50_us,latency_p99_us,lost", f);
	for (unsigned p = 0; p < PP_MAX; p++)
		fprintf(f, ",%s_per_packet%s%s",
			p == PP_IRQS	   ? "irqs"
			: p >= PP_CPU_CARD ? "cpu_ns"
					   : "exits",
			p == PP_IRQS || p == PP_ALL ? "" : "_",
			p == PP_IRQS || p == PP_ALL ? "" : per_packet_name(p));
	fputs(",work_ns_per_insn,host_work_ns_per_insn", f);
	fputc('\n', f);
}

void out_csv(FILE *f, const struct snapshot *s)
{
	fprintf(f, "%.3f,%s,%s,%s,%s,%s,%u", s->t, host_kind_name(s->host),
		cpu_mode_name(s->cpu_mode), vmm_state_name(s->state), workload_name(s->workload),
		snap_kind_name(s->exit_kind), s->rate);
	for (unsigned k = 0; k < EK_MAX; k++)
		fprintf(f, ",%.3f,%s,%.1f", s->exits[k][s->exits_src[k]].rate,
			source_name(s->exits_src[k]), s->cost[k].avg_ns);
	fprintf(f, ",%.3f,%s,%s,%.3f,%.3f,", s->idle_halts.rate, s->bpf_on ? "on" : "off",
		nic_mode_name(s->nic_mode), s->pps_tx.rate, s->pps_rx.rate);
	/* A figure this run does not make is an empty field, never a 0. */
	if (s->latency_valid)
		fprintf(f, "%.1f,%.1f,", s->latency_us[0], s->latency_us[1]);
	else
		fputs(",,", f);
	fprintf(f, "%llu", (unsigned long long)s->ping_lost.total);
	for (unsigned p = 0; p < PP_MAX; p++)
		if (s->per_packet[p].valid)
			fprintf(f, ",%.4f", s->per_packet[p].value);
		else
			fputs(",", f);
	if (s->work.valid)
		fprintf(f, ",%.4f,%.4f", s->work.ns_per_insn, s->work.host_ns_per_insn);
	else
		fputs(",,", f);
	fputc('\n', f);
}
