/* What vmscope writes, vmscope reads: any bytes as the text of a snapshot (the reason, a tour's
 * title and caption, a log line) go into a record that parses back, whose text is valid UTF-8,
 * and equal to what went in wherever that was UTF-8 already. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probes/snapshot_json.h"
#include "probes/text.h"

static void put(char *dst, size_t n, const uint8_t **data, size_t *size)
{
	size_t k = *size < n - 1 ? *size : n - 1;
	memcpy(dst, *data, k);
	dst[k] = 0;
	*data += k;
	*size -= k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct snapshot s, back;
	char err[200];
	memset(&s, 0, sizeof(s));
	s.t = 1;
	s.seq = 1;
	s.state = VMM_FAILED;
	s.workload = WL_IDLE;
	s.exit_kind = SNAP_NO_KIND;
	put(s.reason, sizeof(s.reason), &data, &size);
	s.tour.steps = 1;
	put(s.tour.title, sizeof(s.tour.title), &data, &size);
	put(s.tour.caption, sizeof(s.tour.caption), &data, &size);
	put(s.log[0], sizeof(s.log[0]), &data, &size);
	s.nr_log = 1;
	size_t n;
	char *line = snapshot_to_json(&s, &n);
	if (!line)
		return 0;
	if (utf8_check(line, n) != n)
		abort(); /* the record is UTF-8 */
	if (snapshot_from_json(line, n, &back, err, sizeof(err)))
		abort(); /* and reads back */
	const char *in[] = {s.reason, s.tour.title, s.tour.caption, s.log[0]};
	const char *out[] = {back.reason, back.tour.title, back.tour.caption, back.log[0]};
	for (unsigned i = 0; i < 4; i++) {
		size_t len = strlen(out[i]);
		if (utf8_check(out[i], len) != len)
			abort();
		if (utf8_check(in[i], strlen(in[i])) == strlen(in[i]) && strcmp(in[i], out[i]))
			abort(); /* valid text comes back as it went */
	}
	free(line);
	return 0;
}
