/* Changes to the merged tree: copy-up, creation, removal, rename, setattr
 * and xattr writes. Every function here holds ovl->ns for writing for its
 * whole run, so a change is atomic to lookups through the mount. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovl_int.h"

#define WRLOCK(ovl) pthread_rwlock_wrlock(&(ovl)->ns)
#define UNLOCK(ovl) pthread_rwlock_unlock(&(ovl)->ns)

static struct lm_node *node_parent(struct lm_ovl *ovl, struct lm_node *node)
{
	struct lm_node *p;

	pthread_mutex_lock(&ovl->tab_lock);
	p = node->aliases ? node->aliases->parent : NULL;
	pthread_mutex_unlock(&ovl->tab_lock);
	return p;
}

static bool dir_in_upper(struct lm_ovl *ovl, struct lm_node *node)
{
	bool r;

	pthread_mutex_lock(&ovl->tab_lock);
	r = node->ndl > 0 && is_upper(ovl, node->dl[0]);
	pthread_mutex_unlock(&ovl->tab_lock);
	return r;
}

/* Records that the object at upper PATH is NODE's object (its inode number
 * stays the origin's for the life of the mount). */
static int note_upper(struct lm_ovl *ovl, struct lm_node *node, const char *path)
{
	struct lm_layer *up = ovl_upper(ovl);
	struct lm_origin o = { node->key_dev, node->key_ino, node->nlink_bias };
	struct stat st;
	int rc = up->ops->getattr(up, path, &st);

	if (rc)
		return rc;
	ovl_origin_set(ovl, path, st.st_ino, &o);
	return 0;
}

/* Copies SRC's object at PATH into the upper at PATH. A copy-up is not a
 * change the container made: the upper parent keeps its times, as with
 * overlayfs. */
static int copy_in(struct lm_ovl *ovl, const char *path, struct lm_layer *src,
		   const struct stat *st)
{
	struct lm_layer *up = ovl_upper(ovl);
	const char *slash = strrchr(path, '/');
	char dir[LM_PATH_MAX];
	struct stat pst;
	int rc, prc;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	prc = up->ops->getattr(up, dir, &pst);
	rc = up->ops->copy_in(up, path, src, path, st);
	if (prc == 0) {
		struct timespec ts[2] = { pst.st_atim, pst.st_mtim };

		up->ops->utimens(up, dir, ts);
	}
	return rc;
}

/* Before upper object PATH goes away: a deleted object's inode number may
 * come back for a new object, which must not inherit the old origin. */
static void forget_upper_obj(struct lm_ovl *ovl, const char *path)
{
	struct lm_layer *up = ovl_upper(ovl);
	struct stat st;

	if (up->ops->getattr(up, path, &st) == 0 && (S_ISDIR(st.st_mode) || st.st_nlink <= 1))
		ovl_remap_del(ovl, st.st_ino);
}

/* Copies NODE's object (its parent already in the upper) from its layer
 * into the upper at the same path, with at most LIMIT bytes of data (-1:
 * all), and records its origin. */
static int copy_obj_up(struct lm_ovl *ovl, struct lm_node *node, off_t limit)
{
	struct lm_layer *src = ovl->layers[ovl_node_layer(ovl, node)];
	char path[LM_PATH_MAX];
	struct stat st;
	int rc = ovl_node_path(ovl, node, false, path, sizeof(path));

	if (rc == 0)
		rc = src->ops->getattr(src, path, &st);
	if (rc)
		return rc;
	if (!S_ISDIR(st.st_mode)) {
		/* Names of the group the mount has not seen keep counting. */
		node->nlink_bias = st.st_nlink > 1 ? (int64_t)st.st_nlink - 1 : 0;
		if (limit >= 0 && limit < st.st_size)
			st.st_size = limit; /* about to be truncated: copy no more */
	}
	rc = copy_in(ovl, path, src, &st);
	return rc ? rc : note_upper(ovl, node, path);
}

/* Makes sure directory NODE exists in the upper layer, copying up its
 * parents first. */
static int copy_up_dir(struct lm_ovl *ovl, struct lm_node *node)
{
	struct lm_node *parent;
	int rc, *dl;

	if (!ovl->has_upper)
		return -EROFS;
	if (dir_in_upper(ovl, node))
		return 0;
	parent = node_parent(ovl, node);
	if (!parent)
		return -ENOENT;
	rc = copy_up_dir(ovl, parent);
	if (rc == 0)
		rc = copy_obj_up(ovl, node, -1);
	if (rc)
		return rc;
	pthread_mutex_lock(&ovl->tab_lock);
	dl = malloc(sizeof(*dl) * (size_t)(node->ndl + 1));
	if (dl) {
		dl[0] = LM_UPPER;
		memcpy(dl + 1, node->dl, sizeof(*dl) * (size_t)node->ndl);
		free(node->dl);
		node->dl = dl;
		node->ndl++;
		node->layer = LM_UPPER;
	}
	pthread_mutex_unlock(&ovl->tab_lock);
	return dl ? 0 : -ENOMEM;
}

/* Finds a name of NODE not yet in the upper; copies its parent and name
 * out. Returns false when every name is in the upper. */
static bool next_lower_alias(struct lm_ovl *ovl, struct lm_node *node, struct lm_node **parent,
			     char *name)
{
	struct lm_alias *a;

	pthread_mutex_lock(&ovl->tab_lock);
	for (a = node->aliases; a && a->upper; a = a->next)
		;
	if (a) {
		*parent = a->parent;
		snprintf(name, NAME_MAX + 1, "%s", a->name);
	}
	pthread_mutex_unlock(&ovl->tab_lock);
	return a != NULL;
}

static void mark_alias_upper(struct lm_ovl *ovl, struct lm_node *node, struct lm_node *parent,
			     const char *name)
{
	pthread_mutex_lock(&ovl->tab_lock);
	for (struct lm_alias *a = node->aliases; a; a = a->next)
		if (a->parent == parent && strcmp(a->name, name) == 0)
			a->upper = true;
	pthread_mutex_unlock(&ovl->tab_lock);
}

/* Makes NODE's object an upper object, copying it up with its parents and
 * at most LIMIT bytes of its data (-1: all).
 * Every name of a hard-link group known to the mount is linked to the one
 * copy, so the group stays one file (as overlayfs's index=on keeps it). */
static int copy_up_upto(struct lm_ovl *ovl, struct lm_node *node, off_t limit)
{
	struct lm_layer *up = ovl_upper(ovl);
	char path[LM_PATH_MAX], upath[LM_PATH_MAX], name[NAME_MAX + 1];
	struct lm_node *parent;
	int rc;

	if (!up)
		return -EROFS;
	if (S_ISDIR(node->type))
		return copy_up_dir(ovl, node);
	if (!is_upper(ovl, ovl_node_layer(ovl, node))) {
		parent = node_parent(ovl, node);
		if (!parent)
			return -ENOENT;
		rc = copy_up_dir(ovl, parent);
		if (rc == 0)
			rc = copy_obj_up(ovl, node, limit);
		if (rc)
			return rc;
		pthread_mutex_lock(&ovl->tab_lock);
		node->layer = LM_UPPER;
		node->aliases->upper = true; /* the first name: the one path used */
		pthread_mutex_unlock(&ovl->tab_lock);
	}
	while (next_lower_alias(ovl, node, &parent, name)) {
		rc = copy_up_dir(ovl, parent);
		if (rc == 0)
			rc = ovl_node_path(ovl, node, true, upath, sizeof(upath));
		if (rc == 0)
			rc = ovl_child_path(ovl, parent, name, path, sizeof(path));
		if (rc == 0) {
			rc = up->ops->link(up, upath, path);
			if (rc == -EEXIST)
				rc = 0;
		}
		if (rc)
			return rc;
		mark_alias_upper(ovl, node, parent, name);
		if (node->nlink_bias > 0) {
			node->nlink_bias--;
			rc = note_upper(ovl, node, upath);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int copy_up(struct lm_ovl *ovl, struct lm_node *node)
{
	return copy_up_upto(ovl, node, -1);
}

/* True when NAME in PARENT exists in a lower layer (so removing it from the
 * merged view needs a whiteout). */
static int name_in_lower(struct lm_ovl *ovl, struct lm_node *parent, const char *name)
{
	int dl[LM_MAX_LAYERS], ndl, rc;
	char dir[LM_PATH_MAX];
	struct lm_lentry e;

	rc = ovl_node_path(ovl, parent, false, dir, sizeof(dir));
	if (rc)
		return rc;
	pthread_mutex_lock(&ovl->tab_lock);
	ndl = parent->ndl;
	memcpy(dl, parent->dl, sizeof(*dl) * (size_t)ndl);
	pthread_mutex_unlock(&ovl->tab_lock);
	for (int i = 0; i < ndl; i++) {
		struct lm_layer *l = ovl->layers[dl[i]];

		if (is_upper(ovl, dl[i]))
			continue;
		rc = l->ops->lookup(l, dir, name, false, &e);
		if (rc)
			return rc;
		if (e.kind == LM_ENT_OBJ)
			return 1;
		if (e.kind == LM_ENT_WHITEOUT)
			return 0;
	}
	return 0;
}

/* Gets PARENT/NAME ready for a new upper object: the parent copied up, a
 * whiteout there removed. *path receives the upper path; *was_wh whether a
 * whiteout was replaced. The name must not exist in the merged view. */
static int prepare_new(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
		       char *path, bool *was_wh)
{
	struct lm_layer *up = ovl_upper(ovl);
	struct lm_walk w;
	char dir[LM_PATH_MAX];
	int rc;

	if (!up)
		return -EROFS;
	if (strncmp(name, LM_WH_PREFIX, LM_WH_PREFIX_LEN) == 0)
		return -EINVAL; /* would read back as a whiteout */
	rc = ovl_walk(ovl, parent, name, &w);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	rc = copy_up_dir(ovl, parent);
	if (rc == 0)
		rc = ovl_node_path(ovl, parent, false, dir, sizeof(dir));
	if (rc == 0)
		rc = lm_path_join(path, LM_PATH_MAX, dir, name);
	if (rc)
		return rc;
	/* A parent just copied up holds nothing, so the walk's view of the
	 * upper is still right. */
	*was_wh = w.upper_kind == LM_ENT_WHITEOUT;
	return *was_wh ? up->ops->unwhiteout(up, path) : 0;
}

/* Host owner for a new object in PARENT: the caller's ids mapped to the
 * host, the group inherited from a set-group-id parent. */
static void new_owner(struct lm_ovl *ovl, struct lm_node *parent, const struct lm_ctx *ctx,
		      uid_t *uid, gid_t *gid, bool *sgid)
{
	struct lm_layer *up = ovl_upper(ovl);
	char dir[LM_PATH_MAX];
	struct stat st;

	*uid = ovl_uid_in(ovl, ctx->uid);
	*gid = ovl_gid_in(ovl, ctx->gid);
	*sgid = false;
	if (ovl_node_path(ovl, parent, false, dir, sizeof(dir)) == 0 &&
	    up->ops->getattr(up, dir, &st) == 0 && (st.st_mode & S_ISGID)) {
		*gid = st.st_gid;
		*sgid = true;
	}
}

/* Returns the node of the object just made at upper PATH (PARENT/NAME):
 * a new upper object, over nothing visible, needs no walk. */
static int finish_created(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
			  const char *path, struct lm_node **out, struct stat *st)
{
	struct lm_layer *up = ovl_upper(ovl);
	struct lm_walk w = { .layer = LM_UPPER, .upper_kind = LM_ENT_OBJ };
	int rc = up->ops->getattr(up, path, &w.st);

	if (rc)
		return rc;
	if (S_ISDIR(w.st.st_mode))
		w.dl[w.ndl++] = LM_UPPER;
	*out = ovl_node_get(ovl, parent, name, &w);
	if (!*out)
		return -ENOMEM;
	*st = w.st;
	lm_ovl_fix_stat(ovl, *out, st);
	return 0;
}

/* Looks up the object just made at PARENT/NAME and returns its node. */
static int finish_new(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
		      struct lm_node **out, struct stat *st)
{
	struct lm_walk w;
	int rc = ovl_walk(ovl, parent, name, &w);

	if (rc)
		return rc;
	*out = ovl_node_get(ovl, parent, name, &w);
	if (!*out)
		return -ENOMEM;
	*st = w.st;
	lm_ovl_fix_stat(ovl, *out, st);
	return 0;
}

int lm_ovl_create(struct lm_ovl *ovl, struct lm_node *parent, const char *name, mode_t mode,
		  int flags, const struct lm_ctx *ctx, struct lm_node **out, struct stat *st,
		  struct lm_file **f)
{
	struct lm_layer *up = ovl_upper(ovl);
	char path[LM_PATH_MAX];
	bool wh, sgid;
	uid_t uid;
	gid_t gid;
	int rc;

	WRLOCK(ovl);
	rc = prepare_new(ovl, parent, name, path, &wh);
	if (rc)
		goto out;
	new_owner(ovl, parent, ctx, &uid, &gid, &sgid);
	rc = up->ops->open(up, path, (flags & ~O_EXCL) | O_CREAT | O_EXCL, mode, uid, gid, f);
	if (rc)
		goto out;
	rc = finish_created(ovl, parent, name, path, out, st);
	if (rc)
		(*f)->ops->close(*f);
out:
	UNLOCK(ovl);
	return rc;
}

int lm_ovl_mknod(struct lm_ovl *ovl, struct lm_node *parent, const char *name, mode_t mode,
		 dev_t rdev, const struct lm_ctx *ctx, struct lm_node **out, struct stat *st)
{
	struct lm_layer *up = ovl_upper(ovl);
	char path[LM_PATH_MAX];
	bool wh, sgid;
	uid_t uid;
	gid_t gid;
	int rc;

	/* A 0/0 device would read back as a whiteout. */
	if (S_ISCHR(mode) && rdev == 0)
		return -EPERM;
	WRLOCK(ovl);
	rc = prepare_new(ovl, parent, name, path, &wh);
	if (rc == 0) {
		new_owner(ovl, parent, ctx, &uid, &gid, &sgid);
		rc = up->ops->mknod(up, path, mode, rdev, uid, gid);
	}
	if (rc == 0)
		rc = finish_created(ovl, parent, name, path, out, st);
	UNLOCK(ovl);
	return rc;
}

int lm_ovl_mkdir(struct lm_ovl *ovl, struct lm_node *parent, const char *name, mode_t mode,
		 const struct lm_ctx *ctx, struct lm_node **out, struct stat *st)
{
	struct lm_layer *up = ovl_upper(ovl);
	char path[LM_PATH_MAX];
	bool wh, sgid;
	uid_t uid;
	gid_t gid;
	int rc;

	WRLOCK(ovl);
	rc = prepare_new(ovl, parent, name, path, &wh);
	if (rc == 0) {
		new_owner(ovl, parent, ctx, &uid, &gid, &sgid);
		rc = up->ops->mkdir(up, path, mode | (sgid ? S_ISGID : 0), uid, gid);
	}
	/* A directory made where a lower one was deleted must not show the
	 * old entries: overlayfs makes it opaque. */
	if (rc == 0 && wh) {
		rc = up->ops->set_opaque(up, path);
		if (rc)
			up->ops->rmdir(up, path);
	}
	if (rc == 0)
		rc = finish_created(ovl, parent, name, path, out, st);
	UNLOCK(ovl);
	return rc;
}

int lm_ovl_symlink(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
		   const char *target, const struct lm_ctx *ctx, struct lm_node **out,
		   struct stat *st)
{
	struct lm_layer *up = ovl_upper(ovl);
	char path[LM_PATH_MAX];
	bool wh, sgid;
	uid_t uid;
	gid_t gid;
	int rc;

	WRLOCK(ovl);
	rc = prepare_new(ovl, parent, name, path, &wh);
	if (rc == 0) {
		new_owner(ovl, parent, ctx, &uid, &gid, &sgid);
		rc = up->ops->symlink(up, target, path, uid, gid);
	}
	if (rc == 0)
		rc = finish_created(ovl, parent, name, path, out, st);
	UNLOCK(ovl);
	return rc;
}

int lm_ovl_link(struct lm_ovl *ovl, struct lm_node *node, struct lm_node *parent,
		const char *name, struct lm_node **out, struct stat *st)
{
	struct lm_layer *up = ovl_upper(ovl);
	char path[LM_PATH_MAX], from[LM_PATH_MAX];
	bool wh;
	int rc;

	WRLOCK(ovl);
	rc = prepare_new(ovl, parent, name, path, &wh);
	if (rc == 0)
		rc = copy_up(ovl, node);
	if (rc == 0)
		rc = ovl_node_path(ovl, node, true, from, sizeof(from));
	if (rc == 0)
		rc = up->ops->link(up, from, path);
	if (rc == 0)
		rc = finish_new(ovl, parent, name, out, st);
	UNLOCK(ovl);
	return rc;
}

/* Removes PARENT/NAME (found as W) from the merged view. */
static int remove_name(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
		       const struct lm_walk *w)
{
	struct lm_layer *up = ovl_upper(ovl);
	struct lm_node *node = ovl_node_find(ovl, w);
	bool dir = S_ISDIR(w->st.st_mode), in_upper = is_upper(ovl, w->layer);
	char path[LM_PATH_MAX];
	int lower, rc;

	/* One name of a lower hard-link group: copy the group up first, as
	 * overlayfs with index=on does, so the other names' link count drops. */
	if (node && !dir && !in_upper &&
	    (w->st.st_nlink > 1 || is_upper(ovl, ovl_node_layer(ovl, node)))) {
		rc = copy_up(ovl, node);
		if (rc)
			return rc;
		in_upper = true;
	}
	lower = name_in_lower(ovl, parent, name);
	if (lower < 0)
		return lower;
	rc = ovl_child_path(ovl, parent, name, path, sizeof(path));
	if (rc)
		return rc;
	if (in_upper) {
		forget_upper_obj(ovl, path);
		if (dir)
			rc = up->ops->clear_whiteouts(up, path);
		if (rc == 0)
			rc = dir ? up->ops->rmdir(up, path) : up->ops->unlink(up, path);
		if (rc)
			return rc;
	}
	if (lower) {
		rc = copy_up_dir(ovl, parent);
		if (rc == 0)
			rc = up->ops->whiteout(up, path);
		if (rc)
			return rc;
	}
	if (node)
		ovl_alias_drop(ovl, node, parent, name);
	return 0;
}

int lm_ovl_unlink(struct lm_ovl *ovl, struct lm_node *parent, const char *name)
{
	struct lm_walk w;
	int rc;

	if (!ovl->has_upper)
		return -EROFS;
	WRLOCK(ovl);
	rc = ovl_walk(ovl, parent, name, &w);
	if (rc == 0 && S_ISDIR(w.st.st_mode))
		rc = -EISDIR;
	if (rc == 0)
		rc = remove_name(ovl, parent, name, &w);
	UNLOCK(ovl);
	return rc;
}

static int dir_empty(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
		     const struct lm_walk *w)
{
	char path[LM_PATH_MAX];
	size_t n;
	int rc = ovl_child_path(ovl, parent, name, path, sizeof(path));

	if (rc == 0)
		rc = ovl_dir_count(ovl, path, w->dl, w->ndl, &n);
	return rc ? rc : (n ? -ENOTEMPTY : 0);
}

int lm_ovl_rmdir(struct lm_ovl *ovl, struct lm_node *parent, const char *name)
{
	struct lm_walk w;
	int rc;

	if (!ovl->has_upper)
		return -EROFS;
	WRLOCK(ovl);
	rc = ovl_walk(ovl, parent, name, &w);
	if (rc == 0 && !S_ISDIR(w.st.st_mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = dir_empty(ovl, parent, name, &w);
	if (rc == 0)
		rc = remove_name(ovl, parent, name, &w);
	UNLOCK(ovl);
	return rc;
}

static bool has_lower_part(const struct lm_ovl *ovl, const struct lm_walk *w)
{
	if (!S_ISDIR(w->st.st_mode))
		return !is_upper(ovl, w->layer);
	for (int i = 0; i < w->ndl; i++)
		if (!is_upper(ovl, w->dl[i]))
			return true;
	return false;
}

/* Checks a rename as overlayfs without redirect_dir would, before anything
 * is changed. */
static int rename_check(struct lm_ovl *ovl, struct lm_node *p2, const char *n2,
			const struct lm_walk *w1, const struct lm_walk *w2, bool exists2,
			unsigned flags)
{
	bool d1 = S_ISDIR(w1->st.st_mode), d2 = exists2 && S_ISDIR(w2->st.st_mode);

	if ((flags & RENAME_NOREPLACE) && exists2)
		return -EEXIST;
	if ((flags & RENAME_EXCHANGE) && !exists2)
		return -ENOENT;
	if (d1 && has_lower_part(ovl, w1))
		return -EXDEV;
	if ((flags & RENAME_EXCHANGE) && d2 && has_lower_part(ovl, w2))
		return -EXDEV;
	if (exists2 && !(flags & RENAME_EXCHANGE)) {
		if (d1 && !d2)
			return -ENOTDIR;
		if (!d1 && d2)
			return -EISDIR;
		if (d2)
			return dir_empty(ovl, p2, n2, w2);
	}
	return 0;
}

static int rename_locked(struct lm_ovl *ovl, struct lm_node *p1, const char *n1,
			 struct lm_node *p2, const char *n2, unsigned flags)
{
	struct lm_layer *up = ovl_upper(ovl);
	struct lm_node *node1, *node2 = NULL;
	char path1[LM_PATH_MAX], path2[LM_PATH_MAX], dir2[LM_PATH_MAX];
	struct lm_walk w1, w2;
	struct lm_lentry e;
	bool exists2;
	int rc, lower1, lower2;

	rc = ovl_walk(ovl, p1, n1, &w1);
	if (rc)
		return rc;
	rc = ovl_walk(ovl, p2, n2, &w2);
	if (rc && rc != -ENOENT)
		return rc;
	exists2 = rc == 0;
	if (strncmp(n2, LM_WH_PREFIX, LM_WH_PREFIX_LEN) == 0)
		return -EINVAL;
	rc = rename_check(ovl, p2, n2, &w1, &w2, exists2, flags);
	if (rc)
		return rc;
	node1 = ovl_node_find(ovl, &w1);
	if (exists2)
		node2 = ovl_node_find(ovl, &w2);
	if (!node1)
		return -ENOENT; /* the kernel holds a reference to the source */
	if (node1 == node2)
		return 0; /* two names of one file: nothing to do (POSIX) */
	lower1 = name_in_lower(ovl, p1, n1);
	lower2 = name_in_lower(ovl, p2, n2);
	if (lower1 < 0 || lower2 < 0)
		return lower1 < 0 ? lower1 : lower2;
	rc = copy_up(ovl, node1);
	if (rc == 0 && (flags & RENAME_EXCHANGE))
		rc = node2 ? copy_up(ovl, node2) : -ENOENT;
	if (rc == 0)
		rc = copy_up_dir(ovl, p2);
	if (rc == 0)
		rc = ovl_child_path(ovl, p1, n1, path1, sizeof(path1));
	if (rc == 0)
		rc = ovl_node_path(ovl, p2, false, dir2, sizeof(dir2));
	if (rc == 0)
		rc = lm_path_join(path2, sizeof(path2), dir2, n2);
	if (rc)
		return rc;
	if (!(flags & RENAME_EXCHANGE)) {
		rc = up->ops->lookup(up, dir2, n2, false, &e);
		if (rc == 0 && e.kind == LM_ENT_WHITEOUT)
			rc = up->ops->unwhiteout(up, path2);
		else if (rc == 0 && e.kind == LM_ENT_OBJ)
			forget_upper_obj(ovl, path2);
		if (rc == 0 && e.kind == LM_ENT_OBJ && S_ISDIR(e.st.st_mode))
			rc = up->ops->clear_whiteouts(up, path2);
		if (rc)
			return rc;
		flags &= ~(unsigned)RENAME_NOREPLACE; /* checked above on the merged view */
	}
	rc = up->ops->rename(up, path1, path2,
			     flags | (lower1 && !(flags & RENAME_EXCHANGE) ? LM_RENAME_WHITEOUT : 0));
	if (rc)
		return rc;
	/* A directory moved over a name with lower entries must hide them. */
	if (S_ISDIR(w1.st.st_mode) && lower2)
		up->ops->set_opaque(up, path2);
	if ((flags & RENAME_EXCHANGE) && S_ISDIR(w2.st.st_mode) && lower1)
		up->ops->set_opaque(up, path1);
	if (node2 && !(flags & RENAME_EXCHANGE))
		ovl_alias_drop(ovl, node2, p2, n2);
	if (node2 && (flags & RENAME_EXCHANGE)) {
		/* Park node2's name while node1 takes it. */
		rc = ovl_alias_move(ovl, node2, p2, n2, p2, "/");
		if (rc == 0)
			rc = ovl_alias_move(ovl, node1, p1, n1, p2, n2);
		if (rc == 0)
			rc = ovl_alias_move(ovl, node2, p2, "/", p1, n1);
		return rc;
	}
	return ovl_alias_move(ovl, node1, p1, n1, p2, n2);
}

int lm_ovl_rename(struct lm_ovl *ovl, struct lm_node *p1, const char *n1,
		  struct lm_node *p2, const char *n2, unsigned flags)
{
	int rc;

	if (!ovl->has_upper)
		return -EROFS;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	WRLOCK(ovl);
	rc = rename_locked(ovl, p1, n1, p2, n2, flags);
	UNLOCK(ovl);
	return rc;
}

int lm_ovl_setattr(struct lm_ovl *ovl, struct lm_node *node, const struct lm_setattr *sa,
		   struct lm_file *f, struct stat *st)
{
	struct lm_layer *up = ovl_upper(ovl);
	char path[LM_PATH_MAX];
	int rc;

	if (!up)
		return -EROFS;
	WRLOCK(ovl);
	rc = copy_up_upto(ovl, node, (sa->valid & LM_SET_SIZE) ? sa->size : -1);
	if (rc == 0)
		rc = ovl_node_path(ovl, node, true, path, sizeof(path));
	if (rc == 0 && (sa->valid & LM_SET_MODE))
		rc = up->ops->chmod(up, path, sa->mode & 07777);
	if (rc == 0 && (sa->valid & (LM_SET_UID | LM_SET_GID)))
		rc = up->ops->chown(up, path,
				    (sa->valid & LM_SET_UID) ? ovl_uid_in(ovl, sa->uid) : (uid_t)-1,
				    (sa->valid & LM_SET_GID) ? ovl_gid_in(ovl, sa->gid) : (gid_t)-1);
	if (rc == 0 && (sa->valid & LM_SET_SIZE))
		rc = f ? f->ops->ftruncate(f, sa->size) : up->ops->truncate(up, path, sa->size);
	if (rc == 0 && (sa->valid & (LM_SET_ATIME | LM_SET_MTIME))) {
		struct timespec ts[2] = { sa->atime, sa->mtime };

		if (!(sa->valid & LM_SET_ATIME))
			ts[0].tv_nsec = UTIME_OMIT;
		if (!(sa->valid & LM_SET_MTIME))
			ts[1].tv_nsec = UTIME_OMIT;
		rc = up->ops->utimens(up, path, ts);
	}
	if (rc == 0)
		rc = ovl_node_stat(ovl, node, st);
	UNLOCK(ovl);
	return rc;
}

int lm_ovl_open(struct lm_ovl *ovl, struct lm_node *node, int flags, struct lm_file **out,
		bool *from_lower)
{
	char path[LM_PATH_MAX];
	struct lm_layer *l;
	bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	int rc;

	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY);
	if (write) {
		if (!ovl->has_upper)
			return -EROFS;
		WRLOCK(ovl);
		rc = copy_up_upto(ovl, node, (flags & O_TRUNC) ? 0 : -1);
	} else {
		pthread_rwlock_rdlock(&ovl->ns);
		rc = 0;
	}
	if (rc == 0) {
		int layer = ovl_node_layer(ovl, node);

		l = ovl->layers[layer];
		*from_lower = !is_upper(ovl, layer);
		rc = ovl_node_path(ovl, node, false, path, sizeof(path));
		if (rc == 0)
			rc = l->ops->open(l, path, flags, 0, (uid_t)-1, (gid_t)-1, out);
	}
	UNLOCK(ovl);
	return rc;
}

int lm_ovl_setxattr(struct lm_ovl *ovl, struct lm_node *node, const char *name,
		    const void *val, size_t size, int flags)
{
	struct lm_layer *up = ovl_upper(ovl);
	char path[LM_PATH_MAX];
	int rc;

	if (ovl->cfg.noxattrs)
		return -ENOTSUP;
	if (lm_xattr_is_private(name))
		return -EPERM;
	if (!up)
		return -EROFS;
	WRLOCK(ovl);
	rc = copy_up(ovl, node);
	if (rc == 0)
		rc = ovl_node_path(ovl, node, true, path, sizeof(path));
	if (rc == 0)
		rc = up->ops->setxattr(up, path, name, val, size, flags);
	UNLOCK(ovl);
	return rc;
}

int lm_ovl_removexattr(struct lm_ovl *ovl, struct lm_node *node, const char *name)
{
	struct lm_layer *up = ovl_upper(ovl);
	char path[LM_PATH_MAX];
	int rc;

	if (ovl->cfg.noxattrs)
		return -ENOTSUP;
	if (lm_xattr_is_private(name))
		return -ENODATA;
	if (!up)
		return -EROFS;
	WRLOCK(ovl);
	rc = copy_up(ovl, node);
	if (rc == 0)
		rc = ovl_node_path(ovl, node, true, path, sizeof(path));
	if (rc == 0)
		rc = up->ops->removexattr(up, path, name);
	UNLOCK(ovl);
	return rc;
}

int lm_ovl_fsync(struct lm_ovl *ovl, struct lm_file *f, bool datasync)
{
	if (!ovl->cfg.fsync)
		return 0;
	return f->ops->fsync(f, datasync);
}
