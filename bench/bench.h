/* What the benchmarks share: the machine line every benchmark starts with, and the per-packet
 * line every network benchmark prints. */
#ifndef VMSCOPE_BENCH_H
#define VMSCOPE_BENCH_H
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "probes/snapshot.h"

/* Sleeps s seconds (fractions too). */
static inline void nap(double s)
{
	struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	nanosleep(&t, NULL);
}

/* Every exit per packet, its parts, and interrupts per packet, each with its source. */
static inline void print_per_packet(const char *indent, const struct snapshot *s)
{
	printf("%sper packet:", indent);
	for (unsigned p = 0; p < PP_MAX; p++) {
		const struct per_packet *pp = &s->per_packet[p];
		const char *what = p == PP_IRQS ? "" : p >= PP_CPU_CARD ? " cpu ns" : " exits";
		if (pp->valid)
			printf(" %s%s %.3f (%s)", per_packet_name(p), what, pp->value, pp->source);
		else
			printf(" %s -", per_packet_name(p));
	}
	printf("\n");
}

/* The machine the figures come from: two machines' figures can be told apart. */
static inline void print_machine(void)
{
	char model[128] = "?", line[256];
	double load = -1;
	FILE *f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	f = fopen("/proc/loadavg", "r");
	if (f && fscanf(f, "%lf", &load) != 1)
		load = -1;
	if (f)
		fclose(f);
	printf("machine: %s, %ld cores, load average %.2f at start\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), load);
}

#endif
