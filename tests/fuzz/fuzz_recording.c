/* The recording reader: any bytes, plain or gzip, as a file given to `vmscope replay`. Whatever
 * it accepts must replay: every snapshot it kept parses again, and seeking stays in bounds. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tui/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct snapshot snap;
	char err[600] = "";
	struct replay *r;
	int fd = memfd_create("recording", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (replay_open_fd(&r, fd, "fuzz", err, sizeof(err))) { /* closes fd */
		if (!err[0])
			abort(); /* a refusal always says why */
		return 0;
	}
	unsigned n = replay_count(r);
	if (!n)
		abort(); /* an accepted recording has a snapshot */
	while (replay_next(r, &snap))
		;
	if (replay_pos(r) != n)
		abort(); /* every kept line parses again */
	replay_seek(r, n + 5);
	if (replay_pos(r) != n || replay_next(r, &snap))
		abort();
	replay_close(r);
	return 0;
}
