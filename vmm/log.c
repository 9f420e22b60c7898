/* The VMM's log ring and file. */
#include "vmm/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

int vlog_init(struct vlog *log, const char *path)
{
	memset(log, 0, sizeof(*log));
	pthread_mutex_init(&log->lock, NULL);
	if (path) {
		log->file = fopen(path, "a");
		if (!log->file)
			return -errno;
		setvbuf(log->file, NULL, _IOLBF, 0);
	}
	return 0;
}

void vlog_close(struct vlog *log)
{
	if (log->file)
		fclose(log->file);
	log->file = NULL;
	pthread_mutex_destroy(&log->lock);
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
	if (log->file) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		fprintf(log->file, "%lld.%03ld %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
			line);
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
