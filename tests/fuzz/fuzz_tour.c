/* The tour script reader: any bytes as a --script file. A script is refused with its line, or
 * accepted whole: every step has a title and a caption, both UTF-8 without control characters,
 * and filling its captions with figures stays inside the caption. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probes/text.h"
#include "tui/tour.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tour t;
	static struct snapshot snap;
	char err[400] = "", out[600];
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	if (tour_parse(text, "fuzz.tour", &t, err, sizeof(err))) {
		if (strncmp(err, "fuzz.tour", 9) || utf8_check(err, strlen(err)) != strlen(err))
			abort(); /* names the script; never echoes bytes that are not text */
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 && *p != '\t')
				abort();
	} else {
		if (!t.nr || t.nr > TOUR_STEPS_MAX)
			abort();
		for (unsigned i = 0; i < t.nr; i++) {
			const struct tour_step *st = &t.step[i];
			size_t tl = strlen(st->title), cl = strlen(st->caption);
			if (!tl || !cl || utf8_check(st->title, tl) != tl ||
			    utf8_check(st->caption, cl) != cl)
				abort();
			tour_caption(st->caption, &snap, out, sizeof(out));
			if (strlen(out) >= sizeof(out))
				abort();
		}
	}
	free(text);
	return 0;
}
