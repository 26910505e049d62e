/* Sealed layers, building: options, keys, and the tree of entries as a
 * tar adds them (format in sealed.h; chunks, index, metadata and the
 * superblock are written by sealed_build_out.c).
 *
 * The tree is arrays of nodes and entries addressed by number, with a
 * hash table of (directory, name) for lookups, so adding n paths costs
 * O(n) whatever the shape of the tree. Replacing a path repoints its
 * entry; whatever it pointed to is left behind and never reached again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kdf.h"
#include "sealed_build_int.h"

void *build_grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	if (n > SIZE_MAX / size || !(p = realloc(p, n * size)))
		return NULL;
	*cap = n;
	return p;
}

int build_str(struct lm_sealed_build *b, const void *s, size_t len, size_t *off)
{
	char *q = build_grow(b->strs, &b->capstrs, b->nstrs + len + 1, 1);

	if (!q)
		return -ENOMEM;
	b->strs = q;
	if (len)
		memcpy(b->strs + b->nstrs, s, len);
	*off = b->nstrs;
	b->nstrs += len;
	return 0;
}

/* ---- Lookups ---- */

static uint64_t ent_hash(uint32_t parent, const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ parent;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static bool ent_is(const struct lm_sealed_build *b, uint32_t e, uint32_t parent,
		   const char *name, size_t len)
{
	const struct build_ent *x = &b->ents[e];

	return x->parent == parent && x->name_len == len &&
	       !memcmp(b->strs + x->name_off, name, len);
}

/* The entry @name in directory node @parent, or BUILD_NONE. */
static uint32_t ent_find(const struct lm_sealed_build *b, uint32_t parent, const char *name,
			 size_t len)
{
	size_t mask = b->hcap - 1, i = ent_hash(parent, name, len) & mask;

	for (; b->htab[i]; i = (i + 1) & mask)
		if (ent_is(b, b->htab[i] - 1, parent, name, len))
			return b->htab[i] - 1;
	return BUILD_NONE;
}

static void htab_put(uint32_t *tab, size_t cap, uint64_t h, uint32_t e)
{
	size_t i = h & (cap - 1);

	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = e + 1;
}

static int htab_grow(struct lm_sealed_build *b)
{
	size_t cap = b->hcap * 2;
	uint32_t *tab;

	if (b->nents * 2 < b->hcap)
		return 0;
	tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (size_t e = 0; e < b->nents; e++) {
		const struct build_ent *x = &b->ents[e];

		htab_put(tab, cap, ent_hash(x->parent, b->strs + x->name_off, x->name_len),
			 (uint32_t)e);
	}
	free(b->htab);
	b->htab = tab;
	b->hcap = cap;
	return 0;
}

/* ---- Nodes and entries ---- */

static int node_new(struct lm_sealed_build *b, const struct lm_sealed_attr *a, uint32_t *out)
{
	struct build_node *n;

	if (b->nnodes >= LM_SEALED_INODES_MAX * 4ull)
		return -EFBIG;
	n = build_grow(b->nodes, &b->capnodes, b->nnodes + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	b->nodes = n;
	n += b->nnodes;
	memset(n, 0, sizeof(*n));
	n->mode = a->mode;
	n->uid = a->uid;
	n->gid = a->gid;
	n->rdev = S_ISCHR(a->mode) || S_ISBLK(a->mode) ? a->rdev : 0;
	n->mtime = a->mtime;
	n->mtime_ns = a->mtime_ns;
	n->children = BUILD_NONE;
	if (S_ISLNK(a->mode)) {
		n->link_len = (uint32_t)strlen(a->link);
		n->size = n->link_len;
		if (build_str(b, a->link, n->link_len, &n->link_off))
			return -ENOMEM;
	}
	if (S_ISREG(a->mode))
		n->ref_first = (uint32_t)b->nrefs;
	*out = (uint32_t)b->nnodes++;
	return 0;
}

/* Points @name in @parent at @target with @kind, adding the entry when
 * there is none. */
static int ent_set(struct lm_sealed_build *b, uint32_t parent, const char *name, size_t len,
		   uint8_t kind, uint32_t target)
{
	uint32_t e = ent_find(b, parent, name, len);
	struct build_ent *x;

	if (e == BUILD_NONE) {
		if (b->nents >= UINT32_MAX / 2 || htab_grow(b))
			return -ENOMEM;
		x = build_grow(b->ents, &b->capents, b->nents + 1, sizeof(*x));
		if (!x)
			return -ENOMEM;
		b->ents = x;
		e = (uint32_t)b->nents++;
		x = &b->ents[e];
		x->parent = parent;
		x->name_len = (uint16_t)len;
		if (build_str(b, name, len, &x->name_off)) {
			b->nents--;
			return -ENOMEM;
		}
		x->next = b->nodes[parent].children;
		b->nodes[parent].children = e;
		htab_put(b->htab, b->hcap, ent_hash(parent, name, len), e);
	}
	x = &b->ents[e];
	x->kind = kind;
	x->target = target;
	return 0;
}

/* The node that @parent's entry @name points at, or BUILD_NONE (missing,
 * or a whiteout). */
static uint32_t child(const struct lm_sealed_build *b, uint32_t parent, const char *name,
		      size_t len)
{
	uint32_t e = ent_find(b, parent, name, len);

	return e == BUILD_NONE ? BUILD_NONE : b->ents[e].target;
}

static int dir_implicit(struct lm_sealed_build *b, uint32_t parent, const char *name,
			size_t len, uint32_t *out)
{
	struct lm_sealed_attr a = { .mode = S_IFDIR | 0755, .mtime = (int64_t)b->created };
	int rc = node_new(b, &a, out);

	return rc ? rc : ent_set(b, parent, name, len, LM_SEALED_DK_OBJ, *out);
}

/* ---- Paths ---- */

struct build_path {
	uint32_t dir;                /* parent node; BUILD_NONE for the root */
	const char *name;            /* last component */
	size_t len;
};

static bool comp_ok(const char *s, size_t len)
{
	if (len == 0 || len > LM_SEALED_NAME_MAX)
		return false;
	return !(s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.')));
}

/* Walks @path to its last component; with @create, missing parents (or
 * whiteouts in their place) become directories. -EINVAL for a bad path,
 * -ENOENT (without @create), -ENOTDIR. */
static int path_walk(struct lm_sealed_build *b, const char *path, bool create,
		     struct build_path *p, struct lm_err *err)
{
	uint32_t dir = LM_SEALED_ROOT;
	const char *s = path;
	int rc;

	p->dir = BUILD_NONE;
	if (!strcmp(path, "") || !strcmp(path, "."))
		return 0;
	for (;;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);
		uint32_t n;

		if (!comp_ok(s, len))
			return lm_errf(err, -EINVAL, "bad path \"%s\" in a layer", path);
		if (!slash) {
			p->dir = dir;
			p->name = s;
			p->len = len;
			return 0;
		}
		n = child(b, dir, s, len);
		if (n == BUILD_NONE) {
			if (!create)
				return lm_errf(err, -ENOENT, "no %s in the layer", path);
			rc = dir_implicit(b, dir, s, len, &n);
			if (rc)
				return lm_errf(err, rc, "%s: out of memory", path);
		} else if (!S_ISDIR(b->nodes[n].mode)) {
			return lm_errf(err, -ENOTDIR, "a parent of %s is not a directory", path);
		}
		dir = n;
		s = slash + 1;
	}
}

/* The node at @path (no whiteout), or -ENOENT. */
static int path_node(struct lm_sealed_build *b, const char *path, uint32_t *out,
		     struct lm_err *err)
{
	struct build_path p;
	int rc = path_walk(b, path, false, &p, err);

	if (rc)
		return rc;
	*out = p.dir == BUILD_NONE ? LM_SEALED_ROOT : child(b, p.dir, p.name, p.len);
	if (*out == BUILD_NONE)
		return lm_errf(err, -ENOENT, "no %s in the layer", path);
	return 0;
}

/* ---- Lifecycle ---- */

static int opts_check(const struct lm_sealed_build_opts *o, struct lm_err *err)
{
	if (o->chunk_shift && (o->chunk_shift < LM_SEALED_SHIFT_MIN ||
			       o->chunk_shift > LM_SEALED_SHIFT_MAX))
		return lm_errf(err, -EINVAL, "chunk shift %u is not %u..%u", o->chunk_shift,
			       LM_SEALED_SHIFT_MIN, LM_SEALED_SHIFT_MAX);
	if (o->compress != LM_SEALED_LZ4 && o->compress != LM_SEALED_LZ4HC &&
	    o->compress != LM_SEALED_NONE)
		return lm_errf(err, -EINVAL, "unknown compression %d", (int)o->compress);
	if (o->threads > LM_SEALED_THREADS_MAX)
		return lm_errf(err, -EINVAL, "%u threads: at most %u", o->threads,
			       LM_SEALED_THREADS_MAX);
	if (!o->dek) {
		if (o->tenant && o->tenant[0])
			return lm_errf(err, -EINVAL, "a tenant's layer needs a DEK");
		return 0;
	}
	if (!o->tenant || !lm_tenant_name_valid(o->tenant))
		return lm_errf(err, -EINVAL, "an encrypted layer needs a valid tenant name");
	if (o->cipher && !lm_aead_name(o->cipher))
		return lm_errf(err, -EINVAL, "unknown cipher %d", (int)o->cipher);
	if (o->cipher && !lm_aead_available(o->cipher))
		return lm_errf(err, -EINVAL, "cipher %s is not available on this machine",
			       lm_aead_name(o->cipher));
	return 0;
}

static int build_keys(struct lm_sealed_build *b, const unsigned char *dek)
{
	b->hsub = lm_secret_alloc(LM_KEY_BYTES);
	if (!b->hsub)
		return -ENOMEM;
	return lm_sealed_keys_derive(dek, b->cipher, b->layer_id, &b->keys, b->hsub);
}

static int build_root(struct lm_sealed_build *b)
{
	struct lm_sealed_attr a = { .mode = S_IFDIR | 0755, .mtime = (int64_t)b->created };
	uint32_t root;

	b->hcap = 1024;
	b->htab = calloc(b->hcap, sizeof(*b->htab));
	if (!b->htab)
		return -ENOMEM;
	return node_new(b, &a, &root);
}

int lm_sealed_build_new(int fd, const struct lm_sealed_build_opts *o,
			struct lm_sealed_build **out, struct lm_err *err)
{
	struct lm_sealed_build *b;
	int rc;

	*out = NULL;
	rc = opts_check(o, err);
	if (rc)
		return rc;
	b = calloc(1, sizeof(*b));
	if (!b)
		return lm_errf(err, -ENOMEM, "out of memory");
	b->fd = fd;
	b->cur = BUILD_NONE;
	b->shift = o->chunk_shift ? o->chunk_shift : LM_SEALED_SHIFT_DEFAULT;
	b->chunk = (size_t)1 << b->shift;
	b->compress = o->compress;
	b->encrypted = o->dek != NULL;
	b->cipher = b->encrypted ? (o->cipher ? o->cipher : lm_aead_default()) : 0;
	if (b->encrypted)
		strcpy(b->tenant, o->tenant);
	if (o->layer_id)
		memcpy(b->layer_id, o->layer_id, LM_OBJECT_ID_BYTES);
	else
		lm_crypt_random(b->layer_id, LM_OBJECT_ID_BYTES);
	b->created = o->created ? o->created : (uint64_t)time(NULL);
	b->off = LM_SEALED_SB;
	b->threads = o->threads;
	rc = build_root(b);
	if (!rc)
		rc = build_out_init(b);
	if (!rc && b->encrypted)
		rc = build_keys(b, o->dek);
	if (rc) {
		lm_sealed_build_free(b);
		return lm_errf(err, rc, rc == -ENOMEM ? "out of memory" : "cannot derive the layer keys");
	}
	*out = b;
	return 0;
}

void lm_sealed_build_free(struct lm_sealed_build *b)
{
	if (!b)
		return;
	build_out_release(b);
	lm_sealed_keys_release(&b->keys);
	lm_secret_free(b->hsub);
	for (size_t i = 0; i < b->nnodes; i++)
		free(b->nodes[i].xattrs);
	free(b->nodes);
	free(b->ents);
	free(b->htab);
	if (b->encrypted && b->strs)
		lm_crypt_wipe(b->strs, b->nstrs);
	free(b->strs);
	free(b->refs);
	free(b);
}

/* ---- Adding ---- */

static int attr_check(const struct lm_sealed_attr *a, struct lm_err *err)
{
	size_t n;

	if (!lm_sealed_mode_valid(a->mode))
		return lm_errf(err, -EINVAL, "bad mode 0%o", a->mode);
	if (a->mtime_ns >= 1000000000u)
		return lm_errf(err, -EINVAL, "bad mtime nanoseconds %u", a->mtime_ns);
	if (!S_ISLNK(a->mode))
		return 0;
	n = a->link ? strnlen(a->link, LM_SEALED_LINK_MAX + 1) : 0;
	if (n == 0 || n > LM_SEALED_LINK_MAX)
		return lm_errf(err, -EINVAL, "a symlink target is 1..%u bytes", LM_SEALED_LINK_MAX);
	return 0;
}

/* A directory replaced by a directory keeps its children and opaque flag
 * and takes the new attributes; its xattrs come with the new entry. */
static void dir_reattr(struct build_node *n, const struct lm_sealed_attr *a)
{
	n->mode = a->mode;
	n->uid = a->uid;
	n->gid = a->gid;
	n->mtime = a->mtime;
	n->mtime_ns = a->mtime_ns;
	free(n->xattrs);
	n->xattrs = NULL;
	n->nxattrs = n->capxattrs = 0;
}

int build_write_err(struct lm_err *err, int rc)
{
	return lm_errf(err, rc, "cannot write the layer: %s", strerror(-rc));
}

/* A call after writing failed: the first failure again. */
static int build_failed(const struct lm_sealed_build *b, struct lm_err *err)
{
	return lm_errf(err, b->failed, "the layer could not be written: %s",
		       strerror(-b->failed));
}

/* Ends the file being added and reports a broken builder. */
static int build_begin(struct lm_sealed_build *b, struct lm_err *err)
{
	int rc;

	if (b->failed)
		return build_failed(b, err);
	rc = build_file_end(b);
	if (rc)
		return build_write_err(err, rc);
	return 0;
}

int lm_sealed_build_add(struct lm_sealed_build *b, const char *path,
			const struct lm_sealed_attr *a, struct lm_err *err)
{
	struct build_path p;
	uint32_t n, old;
	int rc = build_begin(b, err);

	if (!rc)
		rc = attr_check(a, err);
	if (!rc)
		rc = path_walk(b, path, true, &p, err);
	if (rc)
		return rc;
	old = p.dir == BUILD_NONE ? LM_SEALED_ROOT : child(b, p.dir, p.name, p.len);
	if (p.dir == BUILD_NONE && !S_ISDIR(a->mode))
		return lm_errf(err, -EINVAL, "the root of a layer is a directory");
	if (old != BUILD_NONE && S_ISDIR(a->mode) && S_ISDIR(b->nodes[old].mode)) {
		dir_reattr(&b->nodes[old], a);
		b->st.entries++;
		return 0;
	}
	rc = node_new(b, a, &n);
	if (!rc)
		rc = ent_set(b, p.dir, p.name, p.len, LM_SEALED_DK_OBJ, n);
	if (rc)
		return lm_errf(err, rc, "%s: too many entries or out of memory", path);
	b->st.entries++;
	if (S_ISREG(a->mode)) {
		b->cur = n;
		b->st.files++;
	}
	return 0;
}

int lm_sealed_build_data(struct lm_sealed_build *b, const void *buf, size_t len,
			 struct lm_err *err)
{
	if (b->failed)
		return build_failed(b, err);
	if (b->cur == BUILD_NONE)
		return lm_errf(err, -EINVAL, "data without a regular file to append it to");
	return build_data(b, buf, len, err);
}

static int xattr_cmp(const struct lm_sealed_build *b, const struct build_xattr *x,
		     const char *name, size_t len)
{
	return lm_sealed_name_cmp(b->strs + x->name_off, x->name_len, name, len);
}

int lm_sealed_build_xattr(struct lm_sealed_build *b, const char *path, const char *name,
			  const void *val, size_t len, struct lm_err *err)
{
	size_t nlen = name ? strlen(name) : 0;
	struct build_xattr *x = NULL;
	struct build_node *n;
	uint32_t ino, i;
	int rc;

	if (b->failed)
		return build_failed(b, err);
	if (nlen == 0 || nlen > LM_SEALED_NAME_MAX || len > LM_SEALED_XATTR_VALUE_MAX)
		return lm_errf(err, -EINVAL, "bad xattr %s of %s", name ? name : "", path);
	rc = path_node(b, path, &ino, err);
	if (rc)
		return rc;
	n = &b->nodes[ino];
	for (i = 0; i < n->nxattrs && !x; i++)
		if (!xattr_cmp(b, &n->xattrs[i], name, nlen))
			x = &n->xattrs[i];
	if (!x) {
		x = build_grow(n->xattrs, &n->capxattrs, n->nxattrs + 1, sizeof(*x));
		if (!x)
			return lm_errf(err, -ENOMEM, "out of memory");
		n->xattrs = x;
		x = &n->xattrs[n->nxattrs++];
		x->name_len = (uint32_t)nlen;
		if (build_str(b, name, nlen, &x->name_off)) {
			n->nxattrs--;
			return lm_errf(err, -ENOMEM, "out of memory");
		}
	}
	x->val_len = (uint32_t)len;
	if (build_str(b, val, len, &x->val_off))
		return lm_errf(err, -ENOMEM, "out of memory");
	return 0;
}

int lm_sealed_build_link(struct lm_sealed_build *b, const char *path,
			 const char *target, struct lm_err *err)
{
	struct build_path p;
	uint32_t t;
	int rc = build_begin(b, err);

	if (!rc)
		rc = path_node(b, target, &t, err);
	if (rc)
		return rc;
	if (S_ISDIR(b->nodes[t].mode))
		return lm_errf(err, -EPERM, "%s: a hard link to a directory", path);
	rc = path_walk(b, path, true, &p, err);
	if (rc)
		return rc;
	if (p.dir == BUILD_NONE)
		return lm_errf(err, -EINVAL, "the root of a layer cannot be a link");
	rc = ent_set(b, p.dir, p.name, p.len, LM_SEALED_DK_OBJ, t);
	if (rc)
		return lm_errf(err, rc, "%s: out of memory", path);
	b->st.entries++;
	return 0;
}

int lm_sealed_build_whiteout(struct lm_sealed_build *b, const char *path,
			     struct lm_err *err)
{
	struct build_path p;
	int rc = build_begin(b, err);

	if (!rc)
		rc = path_walk(b, path, true, &p, err);
	if (rc)
		return rc;
	if (p.dir == BUILD_NONE)
		return lm_errf(err, -EINVAL, "the root of a layer cannot be a whiteout");
	rc = ent_set(b, p.dir, p.name, p.len, LM_SEALED_DK_WHITEOUT, BUILD_NONE);
	if (rc)
		return lm_errf(err, rc, "%s: out of memory", path);
	b->st.entries++;
	return 0;
}

int lm_sealed_build_opaque(struct lm_sealed_build *b, const char *path,
			   struct lm_err *err)
{
	struct build_path p;
	uint32_t n;
	int rc = build_begin(b, err);

	if (!rc)
		rc = path_walk(b, path, true, &p, err);
	if (rc)
		return rc;
	n = p.dir == BUILD_NONE ? LM_SEALED_ROOT : child(b, p.dir, p.name, p.len);
	if (n == BUILD_NONE) {
		rc = dir_implicit(b, p.dir, p.name, p.len, &n);
		if (rc)
			return lm_errf(err, rc, "%s: out of memory", path);
	} else if (!S_ISDIR(b->nodes[n].mode)) {
		return lm_errf(err, -ENOTDIR, "%s is not a directory", path);
	}
	b->nodes[n].flags |= LM_SEALED_IF_OPAQUE;
	return 0;
}

void lm_sealed_build_stats(const struct lm_sealed_build *b, struct lm_sealed_build_stats *s)
{
	*s = b->st;
}

int lm_sealed_build_finish(struct lm_sealed_build *b, char *hex, struct lm_err *err)
{
	int rc = build_begin(b, err);

	return rc ? rc : build_finish(b, hex, err);
}
