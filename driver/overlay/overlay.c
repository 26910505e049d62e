/* The overlay's node table, merged lookup and read-side operations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovl_int.h"

#define TAB_MIN 1024

static size_t key_hash(dev_t dev, uint64_t ino, size_t size)
{
	uint64_t h = (ino ^ ((uint64_t)dev << 32)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 20) & (size - 1);
}

/* ---- inode numbers and ids ---- */

/* Objects of layers on one filesystem keep their inode numbers; across
 * filesystems the filesystem's index goes in the high bits, as overlayfs's
 * xino does, so numbers stay unique. */
static uint64_t report_ino(struct lm_ovl *ovl, dev_t dev, uint64_t ino)
{
	for (int i = 0; i < ovl->ndevs; i++)
		if (ovl->devs[i] == dev)
			return ovl->ndevs == 1 ? ino : ino ^ ((uint64_t)(i + 1) << 48);
	return ino;
}

/* Caller holds tab_lock. */
static struct lm_remap *remap_find(struct lm_ovl *ovl, uint64_t upper_ino)
{
	struct lm_remap *r = ovl->remap[key_hash(0, upper_ino, ovl->remapsize)];

	while (r && r->upper_ino != upper_ino)
		r = r->next;
	return r;
}

uint64_t ovl_entry_ino(struct lm_ovl *ovl, int layer, uint64_t ino)
{
	dev_t dev = ovl->layers[layer]->dev;

	if (is_upper(ovl, layer)) {
		struct lm_remap *r;

		pthread_mutex_lock(&ovl->tab_lock);
		r = remap_find(ovl, ino);
		if (r) {
			dev = (dev_t)r->o.dev;
			ino = r->o.ino;
		}
		pthread_mutex_unlock(&ovl->tab_lock);
	}
	return report_ino(ovl, dev, ino);
}

uid_t ovl_uid_in(struct lm_ovl *ovl, uid_t uid)
{
	return lm_idmap_to_cont(ovl->cfg.uidmap, uid);
}

gid_t ovl_gid_in(struct lm_ovl *ovl, gid_t gid)
{
	return lm_idmap_to_cont(ovl->cfg.gidmap, gid);
}

void lm_ovl_fix_stat(struct lm_ovl *ovl, struct lm_node *node, struct stat *st)
{
	st->st_ino = node->ino;
	if (ovl->cfg.squash_uid >= 0)
		st->st_uid = (uid_t)ovl->cfg.squash_uid;
	else
		st->st_uid = lm_idmap_to_host(ovl->cfg.uidmap, st->st_uid);
	if (ovl->cfg.squash_gid >= 0)
		st->st_gid = (gid_t)ovl->cfg.squash_gid;
	else
		st->st_gid = lm_idmap_to_host(ovl->cfg.gidmap, st->st_gid);
	/* A merged directory's link count cannot be known without reading
	 * every layer; overlayfs reports 1, which tells find not to rely on it. */
	if (S_ISDIR(st->st_mode) && (ovl->cfg.static_nlink || node->ndl > 1))
		st->st_nlink = 1;
	else if (!S_ISDIR(st->st_mode) && node->nlink_bias > 0 && is_upper(ovl, node->layer))
		st->st_nlink += (nlink_t)node->nlink_bias;
}

/* ---- node table ---- */

static void tab_insert(struct lm_ovl *ovl, struct lm_node *n)
{
	if (ovl->nnodes + 1 > ovl->tabsize) {
		size_t nsize = ovl->tabsize * 2;
		struct lm_node **nt = calloc(nsize, sizeof(*nt));

		if (nt) {
			for (size_t i = 0; i < ovl->tabsize; i++) {
				struct lm_node *c = ovl->tab[i], *next;

				for (; c; c = next) {
					size_t h = key_hash(c->key_dev, c->key_ino, nsize);

					next = c->hnext;
					c->hnext = nt[h];
					nt[h] = c;
				}
			}
			free(ovl->tab);
			ovl->tab = nt;
			ovl->tabsize = nsize;
		}
	}
	size_t h = key_hash(n->key_dev, n->key_ino, ovl->tabsize);

	n->hnext = ovl->tab[h];
	ovl->tab[h] = n;
	ovl->nnodes++;
}

static struct lm_node *tab_find(struct lm_ovl *ovl, dev_t dev, uint64_t ino)
{
	struct lm_node *n = ovl->tab[key_hash(dev, ino, ovl->tabsize)];

	while (n && (n->key_dev != dev || n->key_ino != ino))
		n = n->hnext;
	return n;
}

static void tab_remove(struct lm_ovl *ovl, struct lm_node *n)
{
	struct lm_node **p = &ovl->tab[key_hash(n->key_dev, n->key_ino, ovl->tabsize)];

	while (*p && *p != n)
		p = &(*p)->hnext;
	if (*p) {
		*p = n->hnext;
		n->hnext = NULL;
		ovl->nnodes--;
	}
}

void ovl_remap_del(struct lm_ovl *ovl, uint64_t upper_ino)
{
	struct lm_remap **p, *r;

	pthread_mutex_lock(&ovl->tab_lock);
	for (p = &ovl->remap[key_hash(0, upper_ino, ovl->remapsize)]; *p; p = &(*p)->next) {
		if ((*p)->upper_ino == upper_ino) {
			r = *p;
			*p = r->next;
			free(r);
			break;
		}
	}
	pthread_mutex_unlock(&ovl->tab_lock);
}

static void remap_add(struct lm_ovl *ovl, uint64_t upper_ino, const struct lm_origin *o)
{
	struct lm_remap *r;

	pthread_mutex_lock(&ovl->tab_lock);
	r = remap_find(ovl, upper_ino);
	if (!r && (r = malloc(sizeof(*r))) != NULL) {
		size_t h = key_hash(0, upper_ino, ovl->remapsize);

		r->upper_ino = upper_ino;
		r->next = ovl->remap[h];
		ovl->remap[h] = r;
	}
	if (r) /* else the object shows its upper inode number: a cosmetic loss */
		r->o = *o;
	pthread_mutex_unlock(&ovl->tab_lock);
}

static void walk_key(const struct lm_walk *w, dev_t *dev, uint64_t *ino)
{
	*dev = w->has_origin ? (dev_t)w->origin.dev : w->st.st_dev;
	*ino = w->has_origin ? w->origin.ino : w->st.st_ino;
}

static struct lm_alias *alias_find(struct lm_node *n, struct lm_node *parent, const char *name)
{
	struct lm_alias *a;

	for (a = n->aliases; a; a = a->next)
		if (a->parent == parent && strcmp(a->name, name) == 0)
			break;
	return a;
}

/* Caller holds tab_lock. */
static int alias_add(struct lm_node *n, struct lm_node *parent, const char *name, bool upper)
{
	struct lm_alias *a = malloc(sizeof(*a));

	if (!a || !(a->name = strdup(name))) {
		free(a);
		return -ENOMEM;
	}
	a->parent = parent;
	a->upper = upper;
	a->next = n->aliases;
	n->aliases = a;
	parent->refs++;
	return 0;
}

static void node_maybe_free(struct lm_ovl *ovl, struct lm_node *n);

static void free_openrefs(struct lm_node *n)
{
	while (n->open) {
		struct lm_openref *r = n->open;

		n->open = r->next;
		free(r);
	}
}

/* Caller holds tab_lock. */
static void alias_free(struct lm_ovl *ovl, struct lm_alias *a)
{
	struct lm_node *parent = a->parent;

	free(a->name);
	free(a);
	parent->refs--;
	node_maybe_free(ovl, parent);
}

/* Caller holds tab_lock. */
static void node_maybe_free(struct lm_ovl *ovl, struct lm_node *n)
{
	if (n == ovl->root || n->nlookup || n->refs)
		return;
	tab_remove(ovl, n);
	while (n->aliases) {
		struct lm_alias *a = n->aliases;

		n->aliases = a->next;
		alias_free(ovl, a);
	}
	free_openrefs(n);
	free(n->dl);
	free(n);
}

static int set_dl(struct lm_node *n, const int *dl, int ndl)
{
	int *v;

	if (n->ndl == ndl && memcmp(n->dl, dl, sizeof(*dl) * (size_t)ndl) == 0)
		return 0;
	v = malloc(sizeof(*v) * (size_t)(ndl ? ndl : 1));
	if (!v)
		return -ENOMEM;
	memcpy(v, dl, sizeof(*v) * (size_t)ndl);
	free(n->dl);
	n->dl = v;
	n->ndl = ndl;
	return 0;
}

static struct lm_node *node_new(struct lm_ovl *ovl, dev_t kdev, uint64_t kino,
				const struct lm_walk *w)
{
	struct lm_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->key_dev = kdev;
	n->key_ino = kino;
	n->ino = report_ino(ovl, kdev, kino);
	n->type = w->st.st_mode & S_IFMT;
	n->layer = w->layer;
	if (w->has_origin && !S_ISDIR(n->type))
		n->nlink_bias = w->origin.nlink_bias;
	if (S_ISDIR(w->st.st_mode) && set_dl(n, w->dl, w->ndl)) {
		free(n);
		return NULL;
	}
	return n;
}

struct lm_node *ovl_node_find(struct lm_ovl *ovl, const struct lm_walk *w)
{
	struct lm_node *n;
	dev_t dev;
	uint64_t ino;

	pthread_mutex_lock(&ovl->tab_lock);
	walk_key(w, &dev, &ino);
	n = tab_find(ovl, dev, ino);
	pthread_mutex_unlock(&ovl->tab_lock);
	return n;
}

/* Finds or makes the node for the object W found at PARENT/NAME, records
 * the name, and takes one lookup reference. Returns NULL when out of memory. */
struct lm_node *ovl_node_get(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
			     const struct lm_walk *w)
{
	bool upper = is_upper(ovl, w->layer);
	struct lm_alias *a;
	struct lm_node *n;
	dev_t dev;
	uint64_t ino;

	pthread_mutex_lock(&ovl->tab_lock);
	walk_key(w, &dev, &ino);
	n = tab_find(ovl, dev, ino);
	if (!n) {
		n = node_new(ovl, dev, ino, w);
		if (!n || alias_add(n, parent, name, upper)) {
			if (n)
				free(n->dl);
			free(n);
			n = NULL;
			goto out;
		}
		tab_insert(ovl, n);
	} else if (S_ISDIR(n->type)) {
		/* A directory has one name: the one it was last found under. */
		a = n->aliases;
		if (a && (a->parent != parent || strcmp(a->name, name) != 0)) {
			n->aliases = NULL;
			if (alias_add(n, parent, name, upper)) {
				n->aliases = a;
			} else {
				n->aliases->next = NULL;
				a->next = NULL;
				alias_free(ovl, a);
			}
		}
		set_dl(n, w->dl, w->ndl);
		n->layer = w->layer;
	} else {
		a = alias_find(n, parent, name);
		if (!a)
			alias_add(n, parent, name, upper);
		else
			a->upper = upper;
		/* Found in the upper through a name copied up in an earlier life
		 * of this node: the upper object is the one to use from now on. */
		if (upper)
			n->layer = LM_UPPER;
	}
	n->nlookup++;
out:
	pthread_mutex_unlock(&ovl->tab_lock);
	return n;
}

void ovl_alias_drop(struct lm_ovl *ovl, struct lm_node *node, struct lm_node *parent,
		    const char *name)
{
	struct lm_alias **p;

	pthread_mutex_lock(&ovl->tab_lock);
	for (p = &node->aliases; *p; p = &(*p)->next) {
		if ((*p)->parent == parent && strcmp((*p)->name, name) == 0) {
			struct lm_alias *a = *p;

			*p = a->next;
			node->refs++; /* keep node alive while its parent may be freed */
			alias_free(ovl, a);
			node->refs--;
			/* Its last known name is gone: the host may give its inode
			 * number to a new object, which must get a node of its own. */
			if (!node->aliases && node != ovl->root)
				tab_remove(ovl, node);
			node_maybe_free(ovl, node);
			break;
		}
	}
	pthread_mutex_unlock(&ovl->tab_lock);
}

int ovl_alias_move(struct lm_ovl *ovl, struct lm_node *node, struct lm_node *p1,
		   const char *n1, struct lm_node *p2, const char *n2)
{
	struct lm_alias *a;
	char *nn = strdup(n2);

	if (!nn)
		return -ENOMEM;
	pthread_mutex_lock(&ovl->tab_lock);
	a = alias_find(node, p1, n1);
	if (!a) {
		pthread_mutex_unlock(&ovl->tab_lock);
		free(nn);
		return 0;
	}
	free(a->name);
	a->name = nn;
	if (a->parent != p2) {
		p2->refs++;
		a->parent = p2;
		p1->refs--;
		node_maybe_free(ovl, p1);
	}
	a->upper = true;
	pthread_mutex_unlock(&ovl->tab_lock);
	return 0;
}

void lm_ovl_forget(struct lm_ovl *ovl, struct lm_node *node, uint64_t n)
{
	pthread_mutex_lock(&ovl->tab_lock);
	if (n > node->nlookup)
		n = node->nlookup; /* the kernel never does this; do not underflow */
	node->nlookup -= n;
	node_maybe_free(ovl, node);
	pthread_mutex_unlock(&ovl->tab_lock);
}

int ovl_node_layer(struct lm_ovl *ovl, struct lm_node *node)
{
	int l;

	pthread_mutex_lock(&ovl->tab_lock);
	l = node->layer;
	pthread_mutex_unlock(&ovl->tab_lock);
	return l;
}

/* ---- paths ---- */

/* Caller holds tab_lock. Writes the path of NODE ending at buf+end,
 * returns the start offset or -errno. */
static long path_build(struct lm_node *node, bool upper, char *buf, long end)
{
	while (node->aliases) {
		struct lm_alias *a = node->aliases;
		size_t len;

		if (upper && !S_ISDIR(node->type))
			while (a && !a->upper)
				a = a->next;
		if (!a)
			return -ENOENT;
		len = strlen(a->name);
		if ((long)len + 1 > end)
			return -ENAMETOOLONG;
		end -= (long)len;
		memcpy(buf + end, a->name, len);
		node = a->parent;
		if (!node->aliases)
			break;
		buf[--end] = '/';
		upper = false;
	}
	return end;
}

int ovl_node_path(struct lm_ovl *ovl, struct lm_node *node, bool upper, char *buf, size_t size)
{
	long start;

	pthread_mutex_lock(&ovl->tab_lock);
	if (node == ovl->root) {
		pthread_mutex_unlock(&ovl->tab_lock);
		strcpy(buf, ".");
		return 0;
	}
	if (!node->aliases) {
		pthread_mutex_unlock(&ovl->tab_lock);
		return -ENOENT; /* unlinked */
	}
	buf[size - 1] = '\0';
	start = path_build(node, upper || is_upper(ovl, node->layer), buf, (long)size - 1);
	pthread_mutex_unlock(&ovl->tab_lock);
	if (start < 0)
		return (int)start;
	memmove(buf, buf + start, size - (size_t)start);
	return 0;
}

int ovl_child_path(struct lm_ovl *ovl, struct lm_node *parent, const char *name, char *buf,
		   size_t size)
{
	char dir[LM_PATH_MAX];
	int rc = ovl_node_path(ovl, parent, false, dir, sizeof(dir));

	return rc ? rc : lm_path_join(buf, size, dir, name);
}

/* ---- lookup ---- */

static bool origin_get(struct lm_ovl *ovl, const char *dir, const char *name,
		       uint64_t upper_ino, struct lm_origin *o);

/* Walks PARENT's layers for NAME, top to bottom, as overlayfs does: the
 * first object wins; a directory merges with the directories below it
 * until an opaque one; a whiteout or a non-directory ends the walk.
 * Caller holds ns. */
int ovl_walk(struct lm_ovl *ovl, struct lm_node *parent, const char *name, struct lm_walk *w)
{
	int pdl[LM_MAX_LAYERS], npdl, rc;
	char dir[LM_PATH_MAX];
	struct lm_lentry e;

	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	/* Whiteout spellings are markers, never objects of the merged tree. */
	if (strncmp(name, LM_WH_PREFIX, LM_WH_PREFIX_LEN) == 0)
		return -ENOENT;
	rc = ovl_node_path(ovl, parent, false, dir, sizeof(dir));
	if (rc)
		return rc;
	pthread_mutex_lock(&ovl->tab_lock);
	npdl = parent->ndl;
	memcpy(pdl, parent->dl, sizeof(*pdl) * (size_t)npdl);
	pthread_mutex_unlock(&ovl->tab_lock);

	w->layer = -1;
	w->ndl = 0;
	w->upper_kind = LM_ENT_NONE;
	for (int i = 0; i < npdl; i++) {
		struct lm_layer *l = ovl->layers[pdl[i]];

		rc = l->ops->lookup(l, dir, name, i + 1 < npdl, &e);
		if (rc)
			return rc;
		if (is_upper(ovl, pdl[i]))
			w->upper_kind = e.kind;
		if (e.kind == LM_ENT_NONE)
			continue;
		if (e.kind == LM_ENT_WHITEOUT)
			break;
		if (w->layer < 0) {
			w->layer = pdl[i];
			w->st = e.st;
		} else if (!S_ISDIR(e.st.st_mode)) {
			break;
		}
		if (!S_ISDIR(e.st.st_mode))
			break;
		w->dl[w->ndl++] = pdl[i];
		if (e.opaque)
			break;
	}
	if (w->layer < 0)
		return -ENOENT;
	w->has_origin = false;
	if (is_upper(ovl, w->layer) && ovl->nlayers > 1)
		w->has_origin = origin_get(ovl, dir, name, w->st.st_ino, &w->origin);
	return 0;
}

/* The origin of upper object DIR/NAME (inode UPPER_INO): from the mount's
 * cache, else from its marker (then cached). False when it has none. */
static bool origin_get(struct lm_ovl *ovl, const char *dir, const char *name,
		       uint64_t upper_ino, struct lm_origin *o)
{
	struct lm_layer *up = ovl->layers[LM_UPPER];
	char path[LM_PATH_MAX];
	struct lm_remap *r;
	ssize_t n;

	pthread_mutex_lock(&ovl->tab_lock);
	r = remap_find(ovl, upper_ino);
	if (r)
		*o = r->o;
	pthread_mutex_unlock(&ovl->tab_lock);
	if (r)
		return true;
	if (lm_path_join(path, sizeof(path), dir, name))
		return false;
	n = up->ops->getxattr(up, path, ovl->origin_xattr, o, sizeof(*o));
	if (n != sizeof(*o))
		return false; /* none, or not ours: the object is its own origin */
	remap_add(ovl, upper_ino, o);
	return true;
}

void ovl_origin_set(struct lm_ovl *ovl, const char *path, uint64_t upper_ino,
		    const struct lm_origin *o)
{
	struct lm_layer *up = ovl->layers[LM_UPPER];

	if (o->dev == up->dev && o->ino == upper_ino)
		return; /* an object made in the upper is its own origin */
	remap_add(ovl, upper_ino, o);
	/* Best effort: without the marker, identity holds for this mount. */
	up->ops->setxattr(up, path, ovl->origin_xattr, o, sizeof(*o), 0);
}

int lm_ovl_lookup(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
		  struct lm_node **out, struct stat *st)
{
	struct lm_walk w;
	struct lm_node *n;
	int rc;

	pthread_rwlock_rdlock(&ovl->ns);
	rc = ovl_walk(ovl, parent, name, &w);
	if (rc == 0) {
		n = ovl_node_get(ovl, parent, name, &w);
		if (!n) {
			rc = -ENOMEM;
		} else {
			*out = n;
			*st = w.st;
			/* Another name of a hard-link group already copied up:
			 * the node's object is the upper one. */
			if (ovl_node_layer(ovl, n) != w.layer)
				rc = ovl_node_stat(ovl, n, st);
			else
				lm_ovl_fix_stat(ovl, n, st);
			if (rc)
				lm_ovl_forget(ovl, n, 1);
		}
	}
	pthread_rwlock_unlock(&ovl->ns);
	return rc;
}

/* Caller holds ns. */
int ovl_node_stat(struct lm_ovl *ovl, struct lm_node *node, struct stat *st)
{
	char path[LM_PATH_MAX];
	int layer = ovl_node_layer(ovl, node);
	struct lm_layer *l = ovl->layers[layer];
	int rc = ovl_node_path(ovl, node, false, path, sizeof(path));

	if (rc == 0)
		rc = l->ops->getattr(l, path, st);
	if (rc == 0)
		lm_ovl_fix_stat(ovl, node, st);
	return rc;
}

int lm_ovl_file_attach(struct lm_ovl *ovl, struct lm_node *node, struct lm_file *f)
{
	struct lm_openref *r = malloc(sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->f = f;
	pthread_mutex_lock(&ovl->tab_lock);
	r->next = node->open;
	node->open = r;
	pthread_mutex_unlock(&ovl->tab_lock);
	return 0;
}

void lm_ovl_file_detach(struct lm_ovl *ovl, struct lm_node *node, struct lm_file *f)
{
	struct lm_openref **p, *r = NULL;

	pthread_mutex_lock(&ovl->tab_lock);
	for (p = &node->open; *p; p = &(*p)->next) {
		if ((*p)->f == f) {
			r = *p;
			*p = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&ovl->tab_lock);
	free(r);
}

int lm_ovl_getattr(struct lm_ovl *ovl, struct lm_node *node, struct stat *st)
{
	int rc;

	pthread_rwlock_rdlock(&ovl->ns);
	rc = ovl_node_stat(ovl, node, st);
	pthread_rwlock_unlock(&ovl->ns);
	if (rc == -ENOENT) {
		/* No name left: an open, unlinked file is still there. */
		pthread_mutex_lock(&ovl->tab_lock);
		if (node->open)
			rc = node->open->f->ops->fstat(node->open->f, st);
		pthread_mutex_unlock(&ovl->tab_lock);
		if (rc == 0)
			lm_ovl_fix_stat(ovl, node, st);
	}
	return rc;
}

ssize_t lm_ovl_readlink(struct lm_ovl *ovl, struct lm_node *node, char *buf, size_t size)
{
	char path[LM_PATH_MAX];
	struct lm_layer *l;
	ssize_t rc;

	pthread_rwlock_rdlock(&ovl->ns);
	l = ovl->layers[ovl_node_layer(ovl, node)];
	rc = ovl_node_path(ovl, node, false, path, sizeof(path));
	if (rc == 0)
		rc = l->ops->readlink(l, path, buf, size);
	pthread_rwlock_unlock(&ovl->ns);
	return rc;
}

ssize_t lm_ovl_getxattr(struct lm_ovl *ovl, struct lm_node *node, const char *name,
			void *buf, size_t size)
{
	char path[LM_PATH_MAX];
	struct lm_layer *l;
	ssize_t rc;

	if (ovl->cfg.noxattrs)
		return -ENOTSUP;
	if (lm_xattr_is_private(name))
		return -ENODATA;
	pthread_rwlock_rdlock(&ovl->ns);
	l = ovl->layers[ovl_node_layer(ovl, node)];
	rc = ovl_node_path(ovl, node, false, path, sizeof(path));
	if (rc == 0)
		rc = l->ops->getxattr(l, path, name, buf, size);
	pthread_rwlock_unlock(&ovl->ns);
	return rc;
}

/* Lists the node's xattrs without the overlay-private ones. With size 0,
 * returns the size a full listing needs. */
ssize_t lm_ovl_listxattr(struct lm_ovl *ovl, struct lm_node *node, char *buf, size_t size)
{
	char path[LM_PATH_MAX], *raw = NULL;
	struct lm_layer *l;
	ssize_t len, out = 0;
	int rc;

	if (ovl->cfg.noxattrs)
		return -ENOTSUP;
	pthread_rwlock_rdlock(&ovl->ns);
	l = ovl->layers[ovl_node_layer(ovl, node)];
	rc = ovl_node_path(ovl, node, false, path, sizeof(path));
	if (rc) {
		len = rc;
		goto out;
	}
	len = l->ops->listxattr(l, path, NULL, 0);
	if (len <= 0)
		goto out;
	raw = malloc((size_t)len);
	if (!raw) {
		len = -ENOMEM;
		goto out;
	}
	len = l->ops->listxattr(l, path, raw, (size_t)len);
	for (ssize_t i = 0; len > 0 && i < len; i += (ssize_t)strlen(raw + i) + 1) {
		size_t nl = strlen(raw + i) + 1;

		if (lm_xattr_is_private(raw + i))
			continue;
		if (size) {
			if ((size_t)out + nl > size) {
				out = -ERANGE;
				break;
			}
			memcpy(buf + out, raw + i, nl);
		}
		out += (ssize_t)nl;
	}
	if (len > 0)
		len = out;
out:
	pthread_rwlock_unlock(&ovl->ns);
	free(raw);
	return len;
}

int lm_ovl_statfs(struct lm_ovl *ovl, struct statvfs *sv)
{
	struct lm_layer *l = ovl->layers[0];

	return l->ops->statfs(l, sv);
}

/* ---- life cycle ---- */

struct lm_node *lm_ovl_root(struct lm_ovl *ovl)
{
	return ovl->root;
}

bool lm_ovl_writable(const struct lm_ovl *ovl)
{
	return ovl->has_upper;
}

static int root_new(struct lm_ovl *ovl)
{
	struct lm_walk w = { .layer = -1 };
	struct lm_node *n;
	char v[2];
	int rc;

	for (int i = 0; i < ovl->nlayers; i++) {
		struct lm_layer *l = ovl->layers[i];
		struct stat st;

		rc = l->ops->getattr(l, ".", &st);
		if (rc)
			return rc;
		if (w.layer < 0) {
			w.layer = i;
			w.st = st;
		}
		w.dl[w.ndl++] = i;
		if (i + 1 < ovl->nlayers &&
		    ((l->ops->getxattr(l, ".", "trusted.overlay.opaque", v, 2) == 1 && v[0] == 'y') ||
		     (l->ops->getxattr(l, ".", "user.overlay.opaque", v, 2) == 1 && v[0] == 'y')))
			break;
	}
	n = node_new(ovl, w.st.st_dev, w.st.st_ino, &w);
	if (!n)
		return -ENOMEM;
	n->nlookup = 1;
	tab_insert(ovl, n);
	ovl->root = n;
	return 0;
}

int lm_ovl_new(const struct lm_ovl_config *cfg, struct lm_ovl **out)
{
	struct lm_ovl *ovl;
	size_t n = cfg->nlower + (cfg->upper ? 1 : 0);
	int rc = -ENOMEM;

	if (n == 0 || n > LM_MAX_LAYERS)
		return -EINVAL;
	ovl = calloc(1, sizeof(*ovl));
	if (!ovl)
		return -ENOMEM;
	ovl->cfg = *cfg;
	ovl->layers = calloc(n, sizeof(*ovl->layers));
	ovl->tabsize = TAB_MIN;
	ovl->tab = calloc(ovl->tabsize, sizeof(*ovl->tab));
	ovl->remapsize = 4096;
	ovl->remap = calloc(ovl->remapsize, sizeof(*ovl->remap));
	if (!ovl->layers || !ovl->tab || !ovl->remap)
		goto fail;
	ovl->has_upper = cfg->upper != NULL;
	/* trusted.* needs CAP_SYS_ADMIN; rootless mounts use user.*. */
	ovl->origin_xattr = geteuid() == 0 ? LM_ORIGIN_XATTR : LM_ORIGIN_XATTR_USER;
	if (cfg->upper)
		ovl->layers[ovl->nlayers++] = cfg->upper;
	for (size_t i = 0; i < cfg->nlower; i++)
		ovl->layers[ovl->nlayers++] = cfg->lowers[i];
	for (int i = 0; i < ovl->nlayers; i++) {
		int j;

		for (j = 0; j < ovl->ndevs && ovl->devs[j] != ovl->layers[i]->dev; j++)
			;
		if (j == ovl->ndevs)
			ovl->devs[ovl->ndevs++] = ovl->layers[i]->dev;
	}
	pthread_rwlock_init(&ovl->ns, NULL);
	pthread_mutex_init(&ovl->tab_lock, NULL);
	rc = root_new(ovl);
	if (rc)
		goto fail;
	*out = ovl;
	return 0;
fail:
	lm_ovl_free(ovl);
	return rc;
}

void lm_ovl_free(struct lm_ovl *ovl)
{
	if (!ovl)
		return;
	for (size_t i = 0; ovl->tab && i < ovl->tabsize; i++) {
		while (ovl->tab[i]) {
			struct lm_node *n = ovl->tab[i];

			ovl->tab[i] = n->hnext;
			while (n->aliases) {
				struct lm_alias *a = n->aliases;

				n->aliases = a->next;
				free(a->name);
				free(a);
			}
			free_openrefs(n);
			free(n->dl);
			free(n);
		}
	}
	for (size_t i = 0; ovl->remap && i < ovl->remapsize; i++) {
		while (ovl->remap[i]) {
			struct lm_remap *r = ovl->remap[i];

			ovl->remap[i] = r->next;
			free(r);
		}
	}
	for (int i = 0; i < ovl->nlayers; i++)
		lm_layer_free(ovl->layers[i]);
	free(ovl->layers);
	free(ovl->tab);
	free(ovl->remap);
	free(ovl);
}
