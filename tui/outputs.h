/* The files a run was asked to write (--record, --pcap, --log), checked together before anything
 * is created, truncated or booted: a refusal leaves every file as it was. */
#ifndef VMSCOPE_TUI_OUTPUTS_H
#define VMSCOPE_TUI_OUTPUTS_H
#include <stddef.h>

struct output_file {
	const char *flag; /* "--record" */
	const char *what; /* "recording", "--pcap file": what the messages call it */
	const char *path; /* NULL: not asked for */
};

/* 0, or -1 with a sentence in err: a path that cannot be written (the OS's reason), a folder, a
 * folder that does not exist, or two outputs naming the same file (by device and inode, so also
 * through a link or another spelling). Creates and truncates nothing. */
int outputs_check(const struct output_file *f, unsigned n, char *err, size_t errlen);
/* outputs_check, and none of them is the file the run reads (input, what the message calls it:
 * "recording it replays"), by device and inode. */
int outputs_check_reading(const struct output_file *f, unsigned n, const char *input,
			  const char *input_what, char *err, size_t errlen);

#endif
