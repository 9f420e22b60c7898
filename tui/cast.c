/* vmscope replay --cast FILE: the dashboard replaying a recording, written as an asciicast v2
 * file (asciinema's format: a header line, then one [seconds, "o", text] event per frame), so a
 * recording plays in asciinema's player and on a web page without vmscope.
 *
 * The screen is the dashboard's own: the same panels and footer, drawn by curses for an xterm of
 * the size asked for, into a memory file instead of a terminal. Each tick of the recording is one
 * frame, stamped with the tick's own time: the cast runs at the recording's pace, however fast it
 * is made. */
#include "tui/dash.h" /* first: it asks curses for wide characters */

#include <errno.h>
#include <jansson.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/memfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probes/text.h"

#define CAST_TERM "xterm-256color"

struct cast {
	FILE *out;	 /* the .cast file */
	int scr_fd;	 /* the memory file curses draws into */
	FILE *scr, *in;	 /* curses' output (scr_fd) and input (/dev/null) */
	SCREEN *sc;	 /* the virtual terminal */
	off_t seen;	 /* of scr_fd: what was read of it (0 after each frame) */
	char *buf;	 /* a frame's bytes */
	size_t buf_size; /* its allocation */
	unsigned frames;
	bool ended; /* endwin() was called */
};

/* The header line: the terminal's size and what it is, the recording as its title. 0, or -1. */
static int cast_header(struct cast *c, const struct cli *cli, const struct replay_header *h,
		       const char *path)
{
	char title[160];
	snprintf(title, sizeof(title), "vmscope replay %s (%s, %s)", path, h->host, h->cpu_mode);
	/* The title is text from a file: its valid UTF-8 only (json_pack refuses the rest). */
	json_t *j = json_pack("{s:i, s:i, s:i, s:s%, s:{s:s}}", "version", 2, "width",
			      cli->cast_cols, "height", cli->cast_rows, "title", title,
			      utf8_check(title, strlen(title)), "env", "TERM", CAST_TERM);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (s)
		fprintf(c->out, "%s\n", s);
	free(s);
	json_decref(j);
	return s ? 0 : -1;
}

/* What curses wrote since the last frame, as one output event at t seconds. */
static int cast_frame(struct cast *c, double t)
{
	struct stat st;
	fflush(c->scr);
	if (fstat(c->scr_fd, &st))
		return -1;
	size_t n = (size_t)(st.st_size - c->seen);
	if (!n)
		return 0;
	if (n > c->buf_size) {
		char *b = realloc(c->buf, n);
		if (!b)
			return -1;
		c->buf = b;
		c->buf_size = n;
	}
	if (pread(c->scr_fd, c->buf, n, c->seen) != (ssize_t)n)
		return -1;
	/* The memory file starts again for the next frame: it holds one frame, not the cast. */
	if (ftruncate(c->scr_fd, 0) || fseek(c->scr, 0, SEEK_SET))
		return -1;
	c->seen = 0;
	/* curses writes whole characters; a byte that is not UTF-8 would make the line invalid
	 * JSON, so it becomes U+FFFD's stand-in '?'. */
	for (size_t i = 0; i < n;) {
		size_t len = utf8_char((const unsigned char *)c->buf + i, n - i);
		if (!len)
			c->buf[i] = '?', len = 1;
		i += len;
	}
	json_t *ev = json_pack("[f, s, s#]", t, "o", c->buf, n);
	char *s = ev ? json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	if (s)
		fprintf(c->out, "%s\n", s);
	free(s);
	json_decref(ev);
	c->frames++;
	return s ? 0 : -1;
}

/* A curses screen of the asked size drawing into a memory file. */
static int cast_screen(struct cast *c, const struct cli *cli)
{
	char n[16];
	c->scr_fd = (int)syscall(SYS_memfd_create, "vmscope-cast", MFD_CLOEXEC);
	if (c->scr_fd < 0 || !(c->scr = fdopen(c->scr_fd, "w")) ||
	    !(c->in = fopen("/dev/null", "r")))
		return -1;
	/* The dashboard draws lines and arrows in UTF-8: a UTF-8 locale whatever the user's. */
	if (!setlocale(LC_ALL, "C.UTF-8"))
		setlocale(LC_ALL, "");
	snprintf(n, sizeof(n), "%u", cli->cast_cols);
	setenv("COLUMNS", n, 1);
	snprintf(n, sizeof(n), "%u", cli->cast_rows);
	setenv("LINES", n, 1);
	c->sc = newterm(CAST_TERM, c->scr, c->in);
	if (!c->sc)
		return -1;
	set_term(c->sc);
	curs_set(0);
	dash_colors();
	return 0;
}

static void cast_close(struct cast *c)
{
	if (c->sc) {
		if (!c->ended)
			endwin();
		delscreen(c->sc);
	}
	if (c->scr)
		fclose(c->scr);
	else if (c->scr_fd >= 0)
		close(c->scr_fd);
	if (c->in)
		fclose(c->in);
	free(c->buf);
}

int run_cast(const struct cli *cli, struct snap_source *src, const char *path)
{
	struct cast c = {.scr_fd = -1};
	struct dash *d = calloc(1, sizeof(*d));
	int rc = 1;
	if (!d || cast_screen(&c, cli)) {
		fprintf(stderr, "vmscope: --cast could not make its %s screen of %ux%u: %s\n",
			CAST_TERM, cli->cast_cols, cli->cast_rows,
			d ? strerror(errno ? errno : EINVAL) : "out of memory");
		goto out;
	}
	c.out = fopen(cli->cast_path, "w");
	if (!c.out) {
		fprintf(stderr, "vmscope: --cast could not create %s: %s\n", cli->cast_path,
			strerror(errno));
		goto out;
	}
	d->cli = cli;
	d->src = src;
	d->replay = src->replay;
	d->playing = true;
	d->speed = 1;
	int bad = cast_header(&c, cli, replay_header(src->replay), path);
	double t0 = 0;
	while (!bad && !vmscope_quit && source_tick(src, &d->snap)) {
		dash_fold(d);
		if (!c.frames)
			t0 = d->snap.t;
		dash_draw(d);
		bad = cast_frame(&c, d->snap.t - t0);
	}
	double end = d->snap.t - t0;
	endwin(); /* what a terminal gets at the end: the cursor back */
	c.ended = true;
	bad = bad || cast_frame(&c, end);
	errno = 0;
	if (fflush(c.out) || ferror(c.out) || bad) {
		fprintf(stderr, "vmscope: --cast could not write %s: %s\n", cli->cast_path,
			strerror(errno ? errno : EIO));
		fclose(c.out);
	} else if (fclose(c.out)) {
		fprintf(stderr, "vmscope: --cast could not write %s: %s\n", cli->cast_path,
			strerror(errno));
	} else {
		fprintf(stderr, "vmscope: %s: %u frames, %.1f s at %ux%u\n", cli->cast_path,
			c.frames, end, cli->cast_cols, cli->cast_rows);
		rc = 0;
	}
out:
	cast_close(&c);
	free(d);
	return rc;
}
