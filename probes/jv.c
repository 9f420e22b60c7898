/* The JSON visitor's primitives (jv.h): one call per field, writing or reading. */
#define _GNU_SOURCE
#include "probes/jv.h"
#include "probes/text.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void jv_fail(struct jv *v, const char *key, const char *fmt, ...)
{
	if (v->err[0])
		return; /* the first error is the one to tell */
	char path[120] = "";
	size_t n = 0;
	for (int d = 1; d <= v->depth && n < sizeof(path); d++)
		if (v->key[d])
			n += (size_t)snprintf(path + n, sizeof(path) - n, "%s.", v->key[d]);
	va_list ap;
	va_start(ap, fmt);
	char what[80];
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(v->err, sizeof(v->err), "\"%s%s\" %s", path, key ? key : "[]", what);
}

/* Always valid UTF-8: a byte that is not part of a character (a string cut in the middle of
 * one, or bytes that never were text) is written as U+FFFD, so every record reads back. */
void jv_put_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t len = utf8_char(p + i, n - i);
		if (!len) {
			fputs("\\ufffd", f);
			i++;
		} else if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
		} else {
			fwrite(p + i, 1, len, f);
			i += len;
		}
	}
	fputc('"', f);
}

/* Writing: the separator and the key of the next member. */
void jv_key(struct jv *v, const char *key)
{
	if (v->comma[v->depth])
		fputc(',', v->f);
	v->comma[v->depth] = true;
	if (key) {
		jv_put_str(v->f, key);
		fputc(':', v->f);
	}
}

/* Reading: the value of the next member (NULL: the record does not have it). */
static json_t *rget(struct jv *v, const char *key)
{
	json_t *c = v->at[v->depth];
	if (key)
		return json_is_object(c) ? json_object_get(c, key) : NULL;
	return json_is_array(c) ? json_array_get(c, v->idx[v->depth]++) : NULL;
}

/* Enters an object (or an array); false: the record has null or nothing there, skip it. */
bool jv_begin(struct jv *v, const char *key, bool array)
{
	if (v->depth + 1 >= JV_DEPTH)
		return false;
	if (!v->rd) {
		jv_key(v, key);
		fputc(array ? '[' : '{', v->f);
		v->depth++;
		v->comma[v->depth] = false;
		v->key[v->depth] = key;
		return true;
	}
	json_t *j = rget(v, key);
	if (!j || json_is_null(j))
		return false;
	if (array ? !json_is_array(j) : !json_is_object(j)) {
		jv_fail(v, key, "is not %s", array ? "an array" : "an object");
		return false;
	}
	v->depth++;
	v->at[v->depth] = j;
	v->idx[v->depth] = 0;
	v->key[v->depth] = key;
	return true;
}

void jv_end(struct jv *v, bool array)
{
	if (!v->rd)
		fputc(array ? ']' : '}', v->f);
	v->depth--;
}

void jv_null(struct jv *v, const char *key)
{
	if (!v->rd) {
		jv_key(v, key);
		fputs("null", v->f);
	}
}

/* Elements of the array just entered (reading), bounded by max. */
unsigned jv_len(struct jv *v, unsigned max, const char *key)
{
	size_t n = json_array_size(v->at[v->depth]);
	if (n > max) {
		jv_fail(v, key, "has %zu entries, at most %u are allowed", n, max);
		n = max;
	}
	return (unsigned)n;
}

void jv_f64(struct jv *v, const char *key, double *x, int prec)
{
	if (!v->rd) {
		jv_key(v, key);
		if (isfinite(*x))
			fprintf(v->f, "%.*f", prec, *x);
		else
			fputs("null", v->f);
		return;
	}
	json_t *j = rget(v, key);
	if (!j || json_is_null(j))
		return;
	if (!json_is_number(j))
		jv_fail(v, key, "is not a number");
	else
		*x = json_number_value(j);
}

/* A member that may be null (by key): writing, null when not *valid, and false; reading,
 * whether the record has a value there, in *valid too. The caller then visits the value. */
bool jv_present(struct jv *v, const char *key, bool *valid)
{
	if (!v->rd) {
		if (!*valid)
			jv_null(v, key);
		return *valid;
	}
	json_t *j = rget(v, key);
	*valid = j && !json_is_null(j);
	return *valid;
}

/* An object that may be null: entered when *valid (writing) or there (reading). */
bool jv_begin_opt(struct jv *v, const char *key, bool *valid)
{
	if (!v->rd && !*valid) {
		jv_null(v, key);
		return false;
	}
	*valid = jv_begin(v, key, false);
	return *valid;
}

void jv_opt_f64(struct jv *v, const char *key, double *x, bool *valid, int prec)
{
	if (jv_present(v, key, valid))
		jv_f64(v, key, x, prec);
}

void jv_u64(struct jv *v, const char *key, uint64_t *x)
{
	if (!v->rd) {
		jv_key(v, key);
		fprintf(v->f, "%llu", (unsigned long long)*x);
		return;
	}
	json_t *j = rget(v, key);
	if (!j || json_is_null(j))
		return;
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		jv_fail(v, key, "is not a count");
	else
		*x = (uint64_t)json_integer_value(j);
}

void jv_opt_u64(struct jv *v, const char *key, uint64_t *x, bool *valid)
{
	if (jv_present(v, key, valid))
		jv_u64(v, key, x);
}

void jv_u32(struct jv *v, const char *key, uint32_t *x)
{
	uint64_t w = *x;
	jv_u64(v, key, &w);
	if (w > UINT32_MAX)
		jv_fail(v, key, "is out of range");
	else
		*x = (uint32_t)w;
}

void jv_bool(struct jv *v, const char *key, bool *x)
{
	if (!v->rd) {
		jv_key(v, key);
		fputs(*x ? "true" : "false", v->f);
		return;
	}
	json_t *j = rget(v, key);
	if (!j || json_is_null(j))
		return;
	if (!json_is_boolean(j))
		jv_fail(v, key, "is not true or false");
	else
		*x = json_is_true(j);
}

/* A string field of size n; written only when skip_empty is false or it has text. */
void jv_str(struct jv *v, const char *key, char *buf, size_t n, bool skip_empty)
{
	if (!v->rd) {
		if (!skip_empty || buf[0]) {
			jv_key(v, key);
			jv_put_str(v->f, buf);
		}
		return;
	}
	json_t *j = rget(v, key);
	if (!j || json_is_null(j))
		return;
	if (!json_is_string(j))
		jv_fail(v, key, "is not a string");
	else
		utf8_copy(buf, n,
			  json_string_value(j)); /* longer than the field: cut between characters */
}

/* An enum by its name; names(i) for i < max. */
void jv_name(struct jv *v, const char *key, unsigned *x, const char *(*names)(unsigned),
	     unsigned max)
{
	if (!v->rd) {
		jv_key(v, key);
		jv_put_str(v->f, names(*x));
		return;
	}
	json_t *j = rget(v, key);
	if (!j || json_is_null(j))
		return;
	const char *s = json_string_value(j);
	for (unsigned i = 0; s && i < max; i++)
		if (!strcmp(s, names(i))) {
			*x = i;
			return;
		}
	jv_fail(v, key, "is not one of the names vmscope writes there");
}

/* The enum tables, as names(unsigned). */
