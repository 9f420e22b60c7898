/* The VMM's log ring and file. */
#include "vmm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

int vlog_init(struct vlog *log, const char *path)
{
	memset(log, 0, sizeof(*log));
	pthread_mutex_init(&log->lock, NULL);
	log->fd = -1;
	if (path) {
		log->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log->fd < 0)
			return -errno;
	}
	return 0;
}

int vlog_close(struct vlog *log)
{
	if (log->fd >= 0 && close(log->fd) && !log->file_errno)
		log->file_errno = errno;
	log->fd = -1;
	pthread_mutex_destroy(&log->lock);
	return log->file_errno;
}

int vlog_file_error(struct vlog *log, uint64_t *lines)
{
	pthread_mutex_lock(&log->lock);
	int e = log->file_errno;
	*lines = log->file_lines;
	pthread_mutex_unlock(&log->lock);
	return e;
}

void vlog(struct vlog *log, const char *fmt, ...)
{
	char line[VLOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log->lock);
	memcpy(log->lines[log->next_seq % VLOG_LINES], line, sizeof(line));
	log->next_seq++;
	if (log->fd >= 0) {
		/* One write a line, checked: a failure shows at the line it happens, not at the
		 * end. */
		struct timespec ts;
		char out[VLOG_LINE_MAX + 32];
		clock_gettime(CLOCK_REALTIME, &ts);
		int n = snprintf(out, sizeof(out), "%lld.%03ld %s\n", (long long)ts.tv_sec,
				 ts.tv_nsec / 1000000, line);
		ssize_t w = write(log->fd, out, (size_t)n);
		if (w != n) {
			log->file_errno =
			    w < 0 ? errno : ENOSPC; /* a short write: the disk is full */
			close(log->fd);
			log->fd = -1;
		} else {
			log->file_lines++;
		}
	}
	pthread_mutex_unlock(&log->lock);
}

unsigned vlog_since(struct vlog *log, uint64_t *seq, char (*out)[VLOG_LINE_MAX], unsigned max,
		    uint32_t *dropped)
{
	unsigned n = 0;
	pthread_mutex_lock(&log->lock);
	uint64_t first = log->next_seq > VLOG_LINES ? log->next_seq - VLOG_LINES : 0;
	if (*seq < first) {
		*dropped += (uint32_t)(first - *seq);
		*seq = first;
	}
	/* The newest lines are the ones to keep when there are more than max. */
	if (log->next_seq - *seq > max) {
		*dropped += (uint32_t)(log->next_seq - *seq - max);
		*seq = log->next_seq - max;
	}
	for (; *seq < log->next_seq; (*seq)++)
		memcpy(out[n++], log->lines[*seq % VLOG_LINES], VLOG_LINE_MAX);
	pthread_mutex_unlock(&log->lock);
	return n;
}

unsigned vlog_tail(struct vlog *log, char (*out)[VLOG_LINE_MAX], unsigned max)
{
	uint64_t seq = 0; /* from the oldest line the ring holds: the newest max of them */
	uint32_t dropped = 0;
	return vlog_since(log, &seq, out, max, &dropped);
}
