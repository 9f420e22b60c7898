/* Prometheus' text exposition of vmscope's snapshots (the metrics endpoint serves it). */
#ifndef VMSCOPE_TUI_EXPOSITION_H
#define VMSCOPE_TUI_EXPOSITION_H
#include <stdio.h>

#include "probes/snapshot.h"

struct exposition;

struct exposition *exposition_new(void); /* NULL: out of memory */
void exposition_free(struct exposition *x);
/* The snapshot as the exposition, into f; the counters carry on from the snapshots before. */
void exposition_render(struct exposition *x, FILE *f, const struct snapshot *s);

#endif
