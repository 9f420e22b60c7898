/* --listen: /metrics in Prometheus' text exposition format (version 0.0.4), served by
 * libmicrohttpd from its own thread; the front end publishes each snapshot. Counters only go up:
 * across guest restarts (whose counters start again from 0) they carry on from where they were. */
#ifndef VMSCOPE_METRICS_H
#define VMSCOPE_METRICS_H
#include <stdio.h>

#include "probes/snapshot.h"

struct metrics;

/* Parses [ADDR:]PORT (ADDR an IPv4 address, 127.0.0.1 when left out; PORT 0 picks a free one).
 * 0, or -1 with a sentence in err. */
int metrics_parse_listen(const char *spec, char *addr, size_t addrlen, unsigned *port, char *err,
			 size_t errlen);
/* Listens and serves. 0, or -1 with a sentence in err (the port taken, say). */
int metrics_open(struct metrics **out, const char *addr, unsigned port, char *err, size_t errlen);
unsigned metrics_port(const struct metrics *m); /* the port it listens on */
void metrics_publish(struct metrics *m, const struct snapshot *snap);
/* The exposition for what was published so far (what a scrape gets). */
void metrics_write(struct metrics *m, FILE *f);
void metrics_close(struct metrics *m);

#endif
