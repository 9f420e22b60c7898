/* The command line: any bytes, split at NUL into arguments. Every parse either succeeds with
 * every bound kept, or refuses with a sentence; no argument is written past an array's end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tui/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { MAX_ARGS = 64 };
	char *text = malloc(size + 1), *argv[MAX_ARGS + 2];
	int argc = 0;
	struct cli cli;
	char err[320] = "";
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	argv[argc++] = "vmscope";
	for (size_t i = 0; i <= size && argc <= MAX_ARGS; i += strlen(text + i) + 1)
		argv[argc++] = text + i;
	argv[argc] = NULL;
	if (cli_parse(argc, argv, &cli, err, sizeof(err))) {
		if (!err[0] || strchr(err, '\n'))
			abort(); /* a refusal is one sentence on one line */
	} else {
		if (cli.nr_switch_to > CLI_SWITCHES_MAX || cli.interval_ms < 50 ||
		    cli.interval_ms > 60000 || cli.pkt_size < 8 || cli.pkt_size > 1472 ||
		    cli.duration < 0 || cli.duration > 1e6)
			abort();
		for (unsigned i = 1; i < cli.nr_switch_to; i++)
			if (cli.switch_to[i - 1].at > cli.switch_to[i].at)
				abort(); /* planned switches in the order of their times */
	}
	free(text);
	return 0;
}
