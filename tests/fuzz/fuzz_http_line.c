/* The /metrics door's request-line check on any bytes: it reads only what it is given, and a
 * line it calls whole is one: a token, one space, a target without spaces or controls, one
 * space, HTTP/digit.digit, then CR LF or LF; one it waits on has no line end yet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tui/http_gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *b = malloc(size ? size : 1); /* exactly size bytes: a read past them is caught */
	if (!b)
		return 0;
	memcpy(b, data, size);
	enum gate_line r = gate_line_check(b, size);
	if (r == GATE_LINE_OK) {
		size_t i = 0;
		while (i < size && (b[i] == '\r' || b[i] == '\n'))
			i++;
		char *nl = memchr(b + i, '\n', size - i);
		if (!nl)
			abort();
		size_t end = (size_t)(nl - b);
		if (end > i && b[end - 1] == '\r')
			end--;
		unsigned spaces = 0;
		for (size_t k = i; k < end; k++) {
			if ((unsigned char)b[k] < 0x20 || b[k] == 0x7f)
				abort();
			spaces += b[k] == ' ';
		}
		if (spaces != 2 || end - i < 12 || memcmp(b + end - 8, "HTTP/", 5))
			abort();
	} else if (r == GATE_LINE_PARTIAL) { /* no line end yet, and room for one */
		size_t i = 0;
		while (i < size && (b[i] == '\r' || b[i] == '\n'))
			i++;
		if (memchr(b + i, '\n', size - i) || size - i >= GATE_LINE_MAX)
			abort();
	}
	free(b);
	return 0;
}
