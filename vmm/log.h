/* The VMM's log: a bounded ring of recent lines (for the dashboard pane) and an optional file. */
#ifndef VMSCOPE_LOG_H
#define VMSCOPE_LOG_H
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define VLOG_LINES    128
#define VLOG_LINE_MAX 160

struct vlog {
	pthread_mutex_t lock;
	char lines[VLOG_LINES][VLOG_LINE_MAX];
	uint64_t next_seq;   /* sequence number of the next line; line s is lines[s % VLOG_LINES] */
	int fd;		     /* the file (appended to, a line a write), or -1: ring only */
	int file_errno;	     /* writing the file failed (it was closed then): why */
	uint64_t file_lines; /* lines the file took */
};

int vlog_init(struct vlog *log, const char *path);
/* 0, or the errno that made the file stop (every write and the final close are checked). */
int vlog_close(struct vlog *log);
/* The file's errno once writing it failed, else 0; *lines: the lines it took. */
int vlog_file_error(struct vlog *log, uint64_t *lines);
void vlog(struct vlog *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies up to max of the newest lines, oldest first, into out; returns how many. */
unsigned vlog_tail(struct vlog *log, char (*out)[VLOG_LINE_MAX], unsigned max);
/* The lines from sequence number *seq on, oldest first, up to max; *seq moves past what was
 * copied and *dropped counts lines that were lost (overwritten in the ring, or beyond max). */
unsigned vlog_since(struct vlog *log, uint64_t *seq, char (*out)[VLOG_LINE_MAX], unsigned max,
		    uint32_t *dropped);

#endif
