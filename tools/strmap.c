/* A set of strings with optional values (see strmap.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* FNV-1a: names of an archive are hostile, but a collision only costs
 * time, and the table stays at most half full. */
static size_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static struct lm_strmap_ent *slot_of(const struct lm_strmap *m, const char *key)
{
	size_t i = str_hash(key) & (m->cap - 1);

	while (m->tab[i].key && strcmp(m->tab[i].key, key))
		i = (i + 1) & (m->cap - 1);
	return &m->tab[i];
}

void lm_strmap_release(struct lm_strmap *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->tab[i].key);
		free(m->tab[i].val);
	}
	free(m->tab);
	memset(m, 0, sizeof(*m));
}

const char *lm_strmap_get(const struct lm_strmap *m, const char *key, int *found)
{
	const struct lm_strmap_ent *e;

	*found = 0;
	if (!m->cap)
		return NULL;
	e = slot_of(m, key);
	*found = e->key != NULL;
	return e->val;
}

static int grow(struct lm_strmap *m)
{
	struct lm_strmap old = *m;
	size_t cap = m->cap ? 2 * m->cap : 64;

	m->tab = calloc(cap, sizeof(*m->tab));
	if (!m->tab) {
		m->tab = old.tab;
		return -ENOMEM;
	}
	m->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.tab[i].key)
			*slot_of(m, old.tab[i].key) = old.tab[i];
	free(old.tab);
	return 0;
}

int lm_strmap_put(struct lm_strmap *m, const char *key, const char *val)
{
	struct lm_strmap_ent *e;
	char *v = NULL;

	if (2 * (m->n + 1) > m->cap && grow(m))
		return -ENOMEM;
	if (val && !(v = strdup(val)))
		return -ENOMEM;
	e = slot_of(m, key);
	if (e->key) {
		free(e->val);
		e->val = v;
		return 1;
	}
	e->key = strdup(key);
	if (!e->key) {
		free(v);
		return -ENOMEM;
	}
	e->val = v;
	m->n++;
	return 0;
}
