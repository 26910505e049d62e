/* A set of strings, each with an optional string value: the names an
 * import has seen (to count duplicates) and the first name of each
 * hard-linked inode of a directory being imported. Open addressing,
 * grows by doubling; keys and values are copied. Not thread-safe. */
#ifndef LM_STRMAP_H
#define LM_STRMAP_H

#include <stddef.h>

struct lm_strmap_ent {
	char *key;
	char *val;   /* NULL when none */
};

struct lm_strmap {
	struct lm_strmap_ent *tab;
	size_t cap;   /* 0 or a power of two */
	size_t n;
};

/* An empty map needs no allocation: zero the struct. */
void lm_strmap_release(struct lm_strmap *m);

/* The value of @key (borrowed, valid until the map changes), or NULL;
 * *found says whether the key is there. */
const char *lm_strmap_get(const struct lm_strmap *m, const char *key, int *found);

/* Adds @key with @val (may be NULL), replacing an old value. Returns 1
 * when the key was there already, 0 when added, -ENOMEM. */
int lm_strmap_put(struct lm_strmap *m, const char *key, const char *val);

#endif
