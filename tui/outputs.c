/* The outputs' check before a run (outputs.h). */
#include "tui/outputs.h"

#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where a path writes: the file itself when it exists, else its folder and its name. */
struct where {
	bool exists;
	bool device; /* a character device (/dev/null): two outputs may share it */
	dev_t dev;
	ino_t ino;
	char name[256]; /* the last component, when the file does not exist yet */
};

static int locate(const struct output_file *f, struct where *w, char *err, size_t errlen)
{
	struct stat st;
	memset(w, 0, sizeof(*w));
	if (!f->path[0]) {
		snprintf(err, errlen, "%s wants a file name, not an empty one", f->flag);
		return -1;
	}
	if (stat(f->path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "cannot write the %s '%s': Is a directory", f->what,
				 f->path);
			return -1;
		}
		if (access(f->path, W_OK)) {
			snprintf(err, errlen, "cannot write the %s '%s': %s", f->what, f->path,
				 strerror(errno));
			return -1;
		}
		*w = (struct where){.exists = true,
				    .device = S_ISCHR(st.st_mode),
				    .dev = st.st_dev,
				    .ino = st.st_ino};
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot write the %s '%s': %s", f->what, f->path,
			 strerror(errno));
		return -1;
	}
	char dir[4096], base[4096];
	snprintf(dir, sizeof(dir), "%s", f->path);
	snprintf(base, sizeof(base), "%s", f->path);
	const char *d = dirname(dir), *b = basename(base);
	if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(
		    err, errlen,
		    "cannot write the %s '%s': No such file or directory (the folder '%s' does "
		    "not exist)",
		    f->what, f->path, d);
		return -1;
	}
	if (access(d, W_OK | X_OK)) {
		snprintf(err, errlen, "cannot write the %s '%s': %s (in the folder '%s')", f->what,
			 f->path, strerror(errno), d);
		return -1;
	}
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	snprintf(w->name, sizeof(w->name), "%s", b);
	return 0;
}

static bool same(const struct where *a, const struct where *b)
{
	return !a->device && a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       !strcmp(a->name, b->name);
}

int outputs_check(const struct output_file *f, unsigned n, char *err, size_t errlen)
{
	struct where w[8];
	if (n > 8)
		n = 8;
	for (unsigned i = 0; i < n; i++) {
		if (!f[i].path)
			continue;
		if (locate(&f[i], &w[i], err, errlen))
			return -1;
		for (unsigned j = 0; j < i; j++)
			if (f[j].path && same(&w[i], &w[j])) {
				snprintf(err, errlen,
					 "%s and %s both name the file '%s': each would destroy "
					 "the other; "
					 "give each its own file",
					 f[j].flag, f[i].flag, f[i].path);
				return -1;
			}
	}
	return 0;
}

int outputs_check_reading(const struct output_file *f, unsigned n, const char *input,
			  const char *input_what, char *err, size_t errlen)
{
	struct stat st;
	if (outputs_check(f, n, err, errlen))
		return -1;
	if (!input || stat(input, &st))
		return 0; /* its reader says what is wrong with it */
	const struct where in = {
	    .exists = true, .device = S_ISCHR(st.st_mode), .dev = st.st_dev, .ino = st.st_ino};
	for (unsigned i = 0; i < n && i < 8; i++) {
		struct where w;
		if (f[i].path && !locate(&f[i], &w, err, errlen) && same(&w, &in)) {
			snprintf(err, errlen, "%s names the %s; give another file", f[i].flag,
				 input_what);
			return -1;
		}
	}
	return 0;
}
