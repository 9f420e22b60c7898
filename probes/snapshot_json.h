/* A snapshot as one JSON line and back: the headless records, the lines of a recording and
 * what a replay reads are the same schema (README "Headless records"), written and read by one
 * walk over the snapshot, so the two directions cannot drift apart. */
#ifndef VMSCOPE_SNAPSHOT_JSON_H
#define VMSCOPE_SNAPSHOT_JSON_H
#include <stddef.h>

#include "probes/snapshot.h"

/* The record for s, one line ending in '\n' (malloc'd; NULL when out of memory). */
char *snapshot_to_json(const struct snapshot *s, size_t *len);
/* Parses one record into s. 0, or -1 with a sentence in err saying which key is wrong. Keys the
 * record lacks leave their fields empty (a source that was off); unknown keys are ignored. */
int snapshot_from_json(const char *text, size_t len, struct snapshot *s, char *err, size_t errlen);

#endif
