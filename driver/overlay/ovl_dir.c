/* Merged directory listings. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ovl_int.h"

/* A set of names, open addressing; grows at half full. */
struct nameset {
	char **slot;
	size_t size, used;
};

static size_t name_hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* Returns 1 when NAME was added, 0 when already there, -ENOMEM. The set
 * borrows NAME: it must outlive the set. */
static int nameset_add(struct nameset *ns, char *name)
{
	size_t i;

	if ((ns->used + 1) * 2 > ns->size) {
		size_t nsize = ns->size ? ns->size * 2 : 64;
		char **nslot = calloc(nsize, sizeof(*nslot));

		if (!nslot)
			return -ENOMEM;
		for (size_t j = 0; j < ns->size; j++) {
			if (!ns->slot[j])
				continue;
			for (i = name_hash(ns->slot[j]) & (nsize - 1); nslot[i]; i = (i + 1) & (nsize - 1))
				;
			nslot[i] = ns->slot[j];
		}
		free(ns->slot);
		ns->slot = nslot;
		ns->size = nsize;
	}
	for (i = name_hash(name) & (ns->size - 1); ns->slot[i]; i = (i + 1) & (ns->size - 1))
		if (strcmp(ns->slot[i], name) == 0)
			return 0;
	ns->slot[i] = name;
	ns->used++;
	return 1;
}

struct merge_ctx {
	struct lm_ovl *ovl;
	int layer;
	struct nameset seen;
	char **hidden;          /* whiteout names, owned, freed after the merge */
	size_t nhidden, caphidden;
	struct lm_dirsnap *ds;
	size_t cap;
};

static int push_entry(struct lm_dirsnap *ds, size_t *cap, char *name, uint64_t ino, unsigned dt)
{
	if (ds->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct lm_dirent *v = realloc(ds->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ds->v = v;
		*cap = ncap;
	}
	ds->v[ds->n].name = name;
	ds->v[ds->n].ino = ino;
	ds->v[ds->n].dtype = dt;
	ds->n++;
	return 0;
}

static int merge_one(void *arg, const char *name, enum lm_ent_kind kind, unsigned dtype,
		     uint64_t ino)
{
	struct merge_ctx *m = arg;
	char *copy = strdup(name);
	int rc;

	if (!copy)
		return -ENOMEM;
	rc = nameset_add(&m->seen, copy);
	if (rc <= 0) {
		free(copy);
		return rc;
	}
	if (kind == LM_ENT_WHITEOUT) {
		if (m->nhidden == m->caphidden) {
			size_t ncap = m->caphidden ? m->caphidden * 2 : 16;
			char **v = realloc(m->hidden, ncap * sizeof(*v));

			if (!v)
				return -ENOMEM; /* copy stays in the set: a leak on a failing path */
			m->hidden = v;
			m->caphidden = ncap;
		}
		m->hidden[m->nhidden++] = copy;
		return 0;
	}
	rc = push_entry(m->ds, &m->cap, copy, ovl_entry_ino(m->ovl, m->layer, ino), dtype);
	if (rc)
		free(copy);
	return rc;
}

void lm_ovl_dirsnap_free(struct lm_dirsnap *ds)
{
	if (!ds)
		return;
	for (size_t i = 0; i < ds->n; i++)
		free(ds->v[i].name);
	free(ds->v);
	free(ds);
}

/* Merges the listings of directory PATH in layers DL into DS (which may
 * already hold entries). Caller holds ns. */
static int merge_listing(struct lm_ovl *ovl, const char *path, const int *dl, int ndl,
			 struct lm_dirsnap *ds, size_t *cap)
{
	struct merge_ctx m = { .ovl = ovl, .ds = ds, .cap = *cap };
	int rc = 0;

	for (int i = 0; rc == 0 && i < ndl; i++) {
		struct lm_layer *l = ovl->layers[dl[i]];

		m.layer = dl[i];
		rc = l->ops->iterate(l, path, merge_one, &m, NULL);
	}
	for (size_t i = 0; i < m.nhidden; i++)
		free(m.hidden[i]);
	free(m.hidden);
	free(m.seen.slot);
	*cap = m.cap;
	return rc;
}

int ovl_dir_count(struct lm_ovl *ovl, const char *path, const int *dl, int ndl, size_t *count)
{
	struct lm_dirsnap ds = { 0 };
	size_t cap = 0;
	int rc = merge_listing(ovl, path, dl, ndl, &ds, &cap);

	*count = ds.n;
	for (size_t i = 0; i < ds.n; i++)
		free(ds.v[i].name);
	free(ds.v);
	return rc;
}

int lm_ovl_opendir(struct lm_ovl *ovl, struct lm_node *node, struct lm_dirsnap **out)
{
	int dl[LM_MAX_LAYERS], ndl, rc;
	char path[LM_PATH_MAX];
	struct lm_dirsnap *ds = calloc(1, sizeof(*ds));
	char *dot = strdup("."), *dotdot = strdup("..");
	uint64_t pino;
	size_t cap = 0;

	if (!ds || !dot || !dotdot) {
		free(dot);
		free(dotdot);
		free(ds);
		return -ENOMEM;
	}
	pthread_rwlock_rdlock(&ovl->ns);
	pthread_mutex_lock(&ovl->tab_lock);
	ndl = node->ndl;
	memcpy(dl, node->dl, sizeof(*dl) * (size_t)ndl);
	pino = node->aliases ? node->aliases->parent->ino : node->ino;
	pthread_mutex_unlock(&ovl->tab_lock);
	push_entry(ds, &cap, dot, node->ino, DT_DIR);
	push_entry(ds, &cap, dotdot, pino, DT_DIR);
	rc = ovl_node_path(ovl, node, false, path, sizeof(path));
	if (rc == 0)
		rc = merge_listing(ovl, path, dl, ndl, ds, &cap);
	pthread_rwlock_unlock(&ovl->ns);
	if (rc) {
		lm_ovl_dirsnap_free(ds);
		return rc;
	}
	*out = ds;
	return 0;
}
