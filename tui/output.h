/* Headless record writers: JSON lines and CSV, one record per snapshot. */
#ifndef VMSCOPE_OUTPUT_H
#define VMSCOPE_OUTPUT_H
#include <stdio.h>

#include "probes/snapshot.h"

void out_jsonl(FILE *f, const struct snapshot *s);
void out_csv_header(FILE *f);
void out_csv(FILE *f, const struct snapshot *s);

#endif
