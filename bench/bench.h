/* What the benchmarks share: the per-packet line every network benchmark prints. */
#ifndef VMSCOPE_BENCH_H
#define VMSCOPE_BENCH_H
#include <stdio.h>

#include "probes/snapshot.h"

/* Every exit per packet, its parts, and interrupts per packet, each with its source. */
static inline void print_per_packet(const char *indent, const struct snapshot *s)
{
	printf("%sper packet:", indent);
	for (unsigned p = 0; p < PP_MAX; p++) {
		const struct per_packet *pp = &s->per_packet[p];
		if (pp->valid)
			printf(" %s%s %.3f (%s)", per_packet_name(p), p == PP_IRQS ? "" : " exits",
			       pp->value, pp->source);
		else
			printf(" %s -", per_packet_name(p));
	}
	printf("\n");
}

#endif
