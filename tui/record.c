/* Recordings: written through zlib (plain files too, in its transparent mode), read back with a
 * bound on every line and on the whole, each line checked once when the file is opened. */
#define _GNU_SOURCE
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "probes/snapshot_json.h"
#include "probes/text.h"

#ifndef VMSCOPE_VERSION
#define VMSCOPE_VERSION "0.1"
#endif

struct recorder {
	gzFile gz;
	char path[256];
	unsigned interval_ms;
	time_t start;
	bool header_done, failed;
	int fd;
	unsigned long ticks; /* complete ticks in the file */
	off_t good;	     /* its length after the last of them */
	char err[512];
};

/* zlib's message without its internal name for the stream ("<fd:4>: "): the file's name is
 * in our sentence already. */
static const char *gz_why(gzFile gz, int *zerr)
{
	const char *m = gzerror(gz, zerr);
	const char *colon = m && !strncmp(m, "<fd:", 4) ? strstr(m, ": ") : NULL;
	return colon ? colon + 2 : m;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

int recorder_open(struct recorder **out, const char *path, unsigned interval_ms, char *err,
		  size_t errlen)
{
	struct recorder *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write the recording '%s': %s", path, strerror(errno));
		free(r);
		return -1;
	}
	/* "T": zlib writes a plain file as it is; a .gz name gets gzip at a cheap level. */
	r->fd = fd;
	r->gz = gzdopen(fd, ends_with(path, ".gz") ? "wb6" : "wT");
	if (!r->gz) {
		close(fd);
		snprintf(err, errlen, "cannot write the recording '%s': out of memory", path);
		free(r);
		return -1;
	}
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->interval_ms = interval_ms;
	r->start = time(NULL);
	*out = r;
	return 0;
}

/* Writing stopped: the file is cut back to its last complete tick, and the sentence says how
 * much it holds. */
static int fail(struct recorder *r, const char *why)
{
	if (ftruncate(r->fd, r->good) < 0) {
		/* a partial line may stay at its end: replay skips it and says so */
	}
	if (r->ticks)
		snprintf(r->err, sizeof(r->err),
			 "writing the recording '%s' failed (%s); it holds the first %lu ticks, up "
			 "to the last complete one",
			 r->path, why, r->ticks);
	else
		snprintf(r->err, sizeof(r->err),
			 "writing the recording '%s' failed (%s); nothing of it was written",
			 r->path, why);
	r->failed = true;
	return -1;
}

static int put(struct recorder *r, const char *buf, size_t n)
{
	if (r->failed)
		return -1;
	if (n && gzwrite(r->gz, buf, (unsigned)n) != (int)n) {
		int zerr;
		const char *why = gz_why(r->gz, &zerr);
		return fail(r, zerr == Z_ERRNO ? strerror(errno) : why);
	}
	return 0;
}

int recorder_write(struct recorder *r, const struct snapshot *snap)
{
	if (!r->header_done) {
		char start[32];
		struct tm tm;
		gmtime_r(&r->start, &tm);
		strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_t *h =
		    json_pack("{s:i,s:s,s:s,s:s,s:s,s:i}", "vmscope_recording", RECORDING_FORMAT,
			      "version", VMSCOPE_VERSION, "host", host_kind_name(snap->host),
			      "cpu_mode", cpu_mode_name(snap->cpu_mode), "start", start,
			      "interval_ms", (int)r->interval_ms);
		char *line = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(h);
		if (!line)
			return -1;
		int rc = put(r, line, strlen(line));
		free(line);
		if (rc || put(r, "\n", 1))
			return -1;
		r->header_done = true;
	}
	size_t n;
	char *line = snapshot_to_json(snap, &n);
	if (!line)
		return -1;
	int rc = put(r, line, n);
	free(line);
	/* A sync flush each tick: a kill leaves every finished tick readable. */
	if (!rc) {
		errno = 0;
		if (gzflush(r->gz, Z_SYNC_FLUSH) != Z_OK)
			return fail(r, errno ? strerror(errno) : "the compressor failed");
		r->ticks++;
		r->good = lseek(r->fd, 0, SEEK_CUR);
	}
	return rc;
}

const char *recorder_error(const struct recorder *r)
{
	return r->failed ? r->err : NULL;
}

int recorder_close(struct recorder *r, char *err, size_t errlen)
{
	if (!r)
		return 0;
	errno = 0;
	int rc = 0;
	if (gzclose(r->gz) != Z_OK && !r->failed) {
		snprintf(err, errlen,
			 "finishing the recording '%s' failed (%s); it holds the first "
			 "%lu ticks",
			 r->path, errno ? strerror(errno) : "the compressor failed", r->ticks);
		rc = -1;
	}
	rc = r->failed ? -1 : rc;
	free(r);
	return rc;
}

/* ---- Reading ---- */

struct replay {
	char name[256];
	struct replay_header hdr;
	char *text; /* the valid records, each ending in '\n' */
	size_t text_len, text_cap;
	size_t *off; /* start of each record in text */
	unsigned n, cap, pos;
	char skipped[400];
};

const struct replay_header *replay_header(const struct replay *r)
{
	return &r->hdr;
}
unsigned replay_count(const struct replay *r)
{
	return r->n;
}
unsigned replay_pos(const struct replay *r)
{
	return r->pos;
}
const char *replay_skipped(const struct replay *r)
{
	return r->skipped[0] ? r->skipped : NULL;
}

void replay_seek(struct replay *r, unsigned pos)
{
	r->pos = pos < r->n ? pos : r->n;
}

bool replay_peek(struct replay *r, unsigned pos, struct snapshot *snap)
{
	char err[200];
	if (pos >= r->n)
		return false;
	size_t end = pos + 1 < r->n ? r->off[pos + 1] : r->text_len;
	return snapshot_from_json(r->text + r->off[pos], end - r->off[pos], snap, err,
				  sizeof(err)) == 0;
}

bool replay_next(struct replay *r, struct snapshot *snap)
{
	if (!replay_peek(r, r->pos, snap))
		return false;
	r->pos++;
	return true;
}

void replay_close(struct replay *r)
{
	if (!r)
		return;
	free(r->text);
	free(r->off);
	free(r);
}

/* The header line: format, then what the run was. */
static int parse_header(struct replay *r, const char *line, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *h = json_loadb(line, len, 0, &je);
	json_t *fmt = h ? json_object_get(h, "vmscope_recording") : NULL;
	if (!fmt || !json_is_integer(fmt)) {
		snprintf(err, errlen,
			 "%s: line 1 is not a vmscope recording's header; record one with "
			 "vmscope --record FILE",
			 r->name);
		json_decref(h);
		return -1;
	}
	if (json_integer_value(fmt) != RECORDING_FORMAT) {
		snprintf(err, errlen,
			 "%s is a recording of format %lld; this vmscope reads format %d", r->name,
			 (long long)json_integer_value(fmt), RECORDING_FORMAT);
		json_decref(h);
		return -1;
	}
	r->hdr.format = RECORDING_FORMAT;
	const struct {
		const char *key;
		char *buf;
		size_t n;
	} strs[] = {{"version", r->hdr.version, sizeof(r->hdr.version)},
		    {"host", r->hdr.host, sizeof(r->hdr.host)},
		    {"cpu_mode", r->hdr.cpu_mode, sizeof(r->hdr.cpu_mode)},
		    {"start", r->hdr.start, sizeof(r->hdr.start)}};
	for (unsigned i = 0; i < 4; i++) {
		const char *s = json_string_value(json_object_get(h, strs[i].key));
		snprintf(strs[i].buf, strs[i].n, "%s", s ? s : "?");
	}
	json_int_t iv = json_integer_value(json_object_get(h, "interval_ms"));
	r->hdr.interval_ms = iv >= 50 && iv <= 60000 ? (unsigned)iv : 1000;
	json_decref(h);
	return 0;
}

static int keep(struct replay *r, const char *line, size_t len)
{
	if (r->n == r->cap) {
		unsigned cap = r->cap ? r->cap * 2 : 256;
		size_t *off = realloc(r->off, cap * sizeof(*off));
		if (!off)
			return -1;
		r->off = off;
		r->cap = cap;
	}
	if (r->text_len + len + 1 >
	    r->text_cap) { /* doubling: a long recording is not copied per line */
		size_t cap = r->text_cap ? r->text_cap : 1 << 16;
		while (cap < r->text_len + len + 1)
			cap *= 2;
		if (cap > RECORDING_BYTES_MAX) /* no more than the bound on the whole */
			cap = r->text_len + len + 1 > RECORDING_BYTES_MAX ? r->text_len + len + 1
									  : RECORDING_BYTES_MAX;
		char *text = realloc(r->text, cap);
		if (!text)
			return -1;
		r->text = text;
		r->text_cap = cap;
	}
	r->off[r->n++] = r->text_len;
	memcpy(r->text + r->text_len, line, len);
	r->text_len += len;
	r->text[r->text_len++] = '\n';
	return 0;
}

/* Notes what was left out: the first few lines by number, then a count. */
static void note_skip(struct replay *r, unsigned *nr_bad, unsigned long line, const char *why)
{
	size_t n = strlen(r->skipped);
	if (*nr_bad < 3)
		snprintf(r->skipped + n, sizeof(r->skipped) - n, "%sline %lu %s", n ? "; " : "",
			 line, why);
	(*nr_bad)++;
}

/* Reading a recording line by line. */
struct reader {
	char *line;    /* the current line, RECORDING_LINE_MAX at most */
	size_t have;   /* its bytes so far */
	bool too_long; /* it passed the limit: skipped to its end */
	unsigned long lineno;
	unsigned nr_bad;
	unsigned long blank, first_blank; /* empty lines: skipped unparsed, said once at the end */
	struct snapshot *snap;		  /* each line is parsed here, to be sure it is one */
};

/* One complete line: the header, or a snapshot kept (or skipped, said why). -1 with err. */
static int take_line(struct replay *r, struct reader *rd, char *err, size_t errlen)
{
	char perr[200];
	rd->lineno++;
	size_t sp = 0;
	while (!rd->too_long && sp < rd->have && strchr(" \t\r", rd->line[sp]))
		sp++;
	if (!rd->too_long && rd->lineno > 1 && sp == rd->have) {
		if (!rd->blank++)
			rd->first_blank = rd->lineno;
		rd->have = 0;
		return 0;
	}
	if (rd->too_long) {
		note_skip(r, &rd->nr_bad, rd->lineno, "is longer than 4 MiB");
	} else if (rd->lineno == 1) {
		if (parse_header(r, rd->line, rd->have, err, errlen))
			return -1;
	} else if (snapshot_from_json(rd->line, rd->have, rd->snap, perr, sizeof(perr))) {
		char why[240], shown[200];
		text_escape(shown, sizeof(shown), perr,
			    strlen(perr)); /* it may quote the file's bytes */
		snprintf(why, sizeof(why), "is not a snapshot: %s", shown);
		note_skip(r, &rd->nr_bad, rd->lineno, why);
	} else if (keep(r, rd->line, rd->have)) {
		snprintf(err, errlen, "%s: out of memory at line %lu", r->name, rd->lineno);
		return -1;
	}
	rd->have = 0;
	rd->too_long = false;
	return 0;
}

/* What the whole file says: a recording with snapshots, or why it is none. */
static int finish(struct replay *r, struct reader *rd, unsigned long long total, char *err,
		  size_t errlen)
{
	if (rd->blank) {
		char why[64];
		snprintf(why, sizeof(why), "and %lu more are blank", rd->blank - 1);
		note_skip(r, &rd->nr_bad, rd->first_blank, rd->blank > 1 ? why : "is blank");
	}
	if (total == 0) {
		snprintf(err, errlen, "%s is empty: not a recording", r->name);
		return -1;
	}
	if (!r->hdr.format) {
		snprintf(err, errlen, "%s is not a vmscope recording: %s", r->name,
			 r->skipped[0] ? r->skipped : "it has no complete line");
		return -1;
	}
	if (!r->n) {
		snprintf(err, errlen, "%s has no snapshot to replay%s%s", r->name,
			 r->skipped[0] ? ": " : "", r->skipped);
		return -1;
	}
	if (rd->nr_bad > 3) {
		size_t n = strlen(r->skipped);
		snprintf(r->skipped + n, sizeof(r->skipped) - n, "; %u more lines", rd->nr_bad - 3);
	}
	return 0;
}

static int load(struct replay *r, gzFile gz, char *err, size_t errlen)
{
	enum { CHUNK = 1 << 16 };
	char *buf = malloc(CHUNK);
	struct reader rd = {.line = malloc(RECORDING_LINE_MAX),
			    .snap = malloc(sizeof(struct snapshot))};
	unsigned long long total = 0;
	int rc = -1;

	if (!buf || !rd.line || !rd.snap) {
		snprintf(err, errlen, "%s: out of memory", r->name);
		goto out;
	}
	for (;;) {
		int got = gzread(gz, buf, CHUNK);
		if (got <= 0) {
			int zerr = Z_OK;
			if (got < 0)
				gzerror(gz, &zerr);
			if (got < 0 && zerr != Z_BUF_ERROR && zerr != Z_DATA_ERROR) {
				snprintf(err, errlen, "%s: cannot be read (%s)", r->name,
					 gz_why(gz, &zerr));
				goto out;
			}
			/* A cut-off file (a kill while recording): its last partial line is
			 * dropped. */
			if (rd.have || rd.too_long || got < 0)
				note_skip(r, &rd.nr_bad, rd.lineno + 1,
					  "is cut off (the recording was interrupted)");
			break;
		}
		total += (unsigned)got;
		if (total > RECORDING_BYTES_MAX) {
			note_skip(r, &rd.nr_bad, rd.lineno + 1,
				  "and the rest: the recording expands past 512 MiB");
			break;
		}
		for (int i = 0; i < got; i++) {
			if (buf[i] == '\n') {
				if (take_line(r, &rd, err, errlen))
					goto out;
			} else if (rd.have < RECORDING_LINE_MAX) {
				rd.line[rd.have++] = buf[i];
			} else {
				rd.too_long = true;
			}
		}
	}
	rc = finish(r, &rd, total, err, errlen);
out:
	free(buf);
	free(rd.line);
	free(rd.snap);
	return rc;
}

int replay_open_fd(struct replay **out, int fd, const char *name, char *err, size_t errlen)
{
	struct replay *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(r->name, sizeof(r->name), "%s", name);
	gzFile gz = gzdopen(fd, "rb");
	if (!gz) {
		snprintf(err, errlen, "%s: out of memory", name);
		free(r);
		return -1;
	}
	gzbuffer(gz, 1 << 16);
	int rc = load(r, gz, err, errlen);
	gzclose_r(gz);
	if (rc) {
		replay_close(r);
		return -1;
	}
	*out = r;
	return 0;
}

int replay_open(struct replay **out, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read the recording '%s': %s", path, strerror(errno));
		return -1;
	}
	return replay_open_fd(out, fd, path, err, errlen);
}
