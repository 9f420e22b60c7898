/* The JSON visitor the snapshot's schema walks with (snapshot_json.c): each call names a key and
 * a field, and either writes the field (fixed decimals) or reads it back from jansson's tree. */
#ifndef VMSCOPE_PROBES_JV_H
#define VMSCOPE_PROBES_JV_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JV_DEPTH 12

struct jv {
	bool rd;
	FILE *f;		   /* writing */
	bool comma[JV_DEPTH];	   /* writing: the container at this depth has a member already */
	json_t *at[JV_DEPTH];	   /* reading: the container at each depth */
	size_t idx[JV_DEPTH];	   /* reading: the next element of an array */
	const char *key[JV_DEPTH]; /* the key each container was entered by, for messages */
	int depth;
	char err[200];
};

/* The first error wins; key (or the container's) names where. */
void jv_fail(struct jv *v, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writing: a JSON string, escaped; a member's key (and the comma before it). */
void jv_put_str(FILE *f, const char *s);
void jv_key(struct jv *v, const char *key);
/* Enters an object (or array) member; false: reading, and it is not there (or null). */
bool jv_begin(struct jv *v, const char *key, bool array);
void jv_end(struct jv *v, bool array);
void jv_null(struct jv *v, const char *key);
/* Reading: how many members the container has, at most max (more is an error). */
unsigned jv_len(struct jv *v, unsigned max, const char *key);
void jv_f64(struct jv *v, const char *key, double *x, int prec);
/* The member is there and not null (valid says so when reading; decides when writing). */
bool jv_present(struct jv *v, const char *key, bool *valid);
bool jv_begin_opt(struct jv *v, const char *key, bool *valid);
void jv_opt_f64(struct jv *v, const char *key, double *x, bool *valid, int prec);
void jv_u64(struct jv *v, const char *key, uint64_t *x);
void jv_opt_u64(struct jv *v, const char *key, uint64_t *x, bool *valid);
void jv_u32(struct jv *v, const char *key, uint32_t *x);
void jv_bool(struct jv *v, const char *key, bool *x);
void jv_str(struct jv *v, const char *key, char *buf, size_t n, bool skip_empty);
/* An enum by its name; names(i) for i < max. */
void jv_name(struct jv *v, const char *key, unsigned *x, const char *(*names)(unsigned),
	     unsigned max);

#endif
