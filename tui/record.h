/* Recordings: a header line, then one snapshot record per tick (the headless JSON schema, its
 * events included). A name ending in .gz is gzip-compressed; a recording cut off by a kill
 * replays up to its last complete line. */
#ifndef VMSCOPE_RECORD_H
#define VMSCOPE_RECORD_H
#include <stdbool.h>
#include <stddef.h>

#include "probes/snapshot.h"

#define RECORDING_FORMAT    1
#define RECORDING_LINE_MAX  (4u << 20)	   /* a longer line is skipped */
#define RECORDING_BYTES_MAX (512ull << 20) /* what a recording may expand to, in all */

struct recorder;

/* Opens path for writing. 0, or -1 with a sentence in err. interval_ms goes in the header. */
int recorder_open(struct recorder **out, const char *path, unsigned interval_ms, char *err,
		  size_t errlen);
/* Appends one snapshot (the header before the first), flushed so a kill loses no whole tick.
 * -1 once writing failed (a full disk), with the sentence in recorder_error(). */
int recorder_write(struct recorder *r, const struct snapshot *snap);
const char *recorder_error(const struct recorder *r);
/* 0, or -1: writing failed (recorder_error() said so), or finishing the file failed (err). */
int recorder_close(struct recorder *r, char *err, size_t errlen);

struct replay_header {
	unsigned format;
	char version[48], host[16], cpu_mode[16], start[32];
	unsigned interval_ms;
};

struct replay;

/* Reads a recording from a file (plain or gzip) or an open descriptor (the fuzz target).
 * 0, or -1 with a sentence in err naming the file and the line. What was skipped (garbage
 * lines, an over-long line, a cut-off end) is said in replay_skipped(). */
int replay_open(struct replay **out, const char *path, char *err, size_t errlen);
int replay_open_fd(struct replay **out, int fd, const char *name, char *err, size_t errlen);
const struct replay_header *replay_header(const struct replay *r);
unsigned replay_count(const struct replay *r); /* snapshots in the recording */
unsigned replay_pos(const struct replay *r);   /* the next one replay_next gives */
void replay_seek(struct replay *r, unsigned pos);
/* The snapshot at the position, moving on; false at the end (or on a line that no longer
 * parses, which open already checked). */
bool replay_next(struct replay *r, struct snapshot *snap);
/* The snapshot at pos without moving; false when there is none. */
bool replay_peek(struct replay *r, unsigned pos, struct snapshot *snap);
/* A sentence about what was left out, or NULL when every line was used. */
const char *replay_skipped(const struct replay *r);
void replay_close(struct replay *r);

#endif
