/* Union semantics over a stack of layers, as kernel overlayfs has them
 * (index=off, redirect_dir=off): merged lookup and readdir, whiteouts,
 * opaque directories, copy-up, rename, hard links. No FUSE in here: the
 * adapter in driver/fuse translates requests into these calls.
 *
 * Objects are identified by lm_node, which holds no descriptor: a node
 * knows its names (parent node + name) and the layer its object lives in,
 * and every operation resolves a path relative to that layer's root. The
 * only descriptors held are those of open files and directory snapshots.
 *
 * Every function returns 0 (or a count) or -errno.
 */
#ifndef LM_OVERLAY_H
#define LM_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "layer/layer.h"
#include "overlay/idmap.h"

struct lm_ovl;
struct lm_node;

struct lm_ovl_config {
	struct lm_layer *upper;       /* NULL: read-only merge; consumed */
	struct lm_layer **lowers;     /* top first; the layers are consumed */
	size_t nlower;
	const struct lm_idmap *uidmap; /* borrowed for the life of the ovl */
	const struct lm_idmap *gidmap;
	long squash_uid;               /* -1: off */
	long squash_gid;               /* -1: off */
	bool static_nlink;
	bool noxattrs;
	bool fsync;                    /* false: fsync requests are no-ops */
};

/* The caller's identity, in the container's ids. */
struct lm_ctx {
	uid_t uid;
	gid_t gid;
};

#define LM_SET_MODE  (1u << 0)
#define LM_SET_UID   (1u << 1)
#define LM_SET_GID   (1u << 2)
#define LM_SET_SIZE  (1u << 3)
#define LM_SET_ATIME (1u << 4)
#define LM_SET_MTIME (1u << 5)

struct lm_setattr {
	unsigned valid;      /* LM_SET_* */
	mode_t mode;
	uid_t uid;           /* container ids */
	gid_t gid;
	off_t size;
	struct timespec atime; /* tv_nsec may be UTIME_NOW */
	struct timespec mtime;
};

struct lm_dirent {
	char *name;
	uint64_t ino;
	unsigned dtype;
};

/* A directory listing taken at opendir: offsets are indexes into it, so a
 * directory read in several calls neither repeats nor skips. */
struct lm_dirsnap {
	struct lm_dirent *v;   /* owned, v[0] is ".", v[1] is ".." */
	size_t n;
};

int lm_ovl_new(const struct lm_ovl_config *cfg, struct lm_ovl **out);
void lm_ovl_free(struct lm_ovl *ovl);
struct lm_node *lm_ovl_root(struct lm_ovl *ovl);
bool lm_ovl_writable(const struct lm_ovl *ovl);

/* Functions returning a node add one lookup reference to it, which the
 * caller drops with lm_ovl_forget(). */
int lm_ovl_lookup(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
		  struct lm_node **out, struct stat *st);
void lm_ovl_forget(struct lm_ovl *ovl, struct lm_node *node, uint64_t n);
int lm_ovl_getattr(struct lm_ovl *ovl, struct lm_node *node, struct stat *st);
/* f: the open file the change comes through, or NULL. */
int lm_ovl_setattr(struct lm_ovl *ovl, struct lm_node *node, const struct lm_setattr *sa,
		   struct lm_file *f, struct stat *st);
/* Fixes up a stat of the node's object for the container's view. */
void lm_ovl_fix_stat(struct lm_ovl *ovl, struct lm_node *node, struct stat *st);

/* Opens the node; copies it up first when the open may change it.
 * *from_lower tells that the data comes from an immutable lower layer. */
int lm_ovl_open(struct lm_ovl *ovl, struct lm_node *node, int flags, struct lm_file **out,
		bool *from_lower);
int lm_ovl_create(struct lm_ovl *ovl, struct lm_node *parent, const char *name, mode_t mode,
		  int flags, const struct lm_ctx *ctx, struct lm_node **out, struct stat *st,
		  struct lm_file **f);
int lm_ovl_mknod(struct lm_ovl *ovl, struct lm_node *parent, const char *name, mode_t mode,
		 dev_t rdev, const struct lm_ctx *ctx, struct lm_node **out, struct stat *st);
int lm_ovl_mkdir(struct lm_ovl *ovl, struct lm_node *parent, const char *name, mode_t mode,
		 const struct lm_ctx *ctx, struct lm_node **out, struct stat *st);
int lm_ovl_symlink(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
		   const char *target, const struct lm_ctx *ctx, struct lm_node **out,
		   struct stat *st);
int lm_ovl_link(struct lm_ovl *ovl, struct lm_node *node, struct lm_node *parent,
		const char *name, struct lm_node **out, struct stat *st);
int lm_ovl_unlink(struct lm_ovl *ovl, struct lm_node *parent, const char *name);
int lm_ovl_rmdir(struct lm_ovl *ovl, struct lm_node *parent, const char *name);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
int lm_ovl_rename(struct lm_ovl *ovl, struct lm_node *p1, const char *n1,
		  struct lm_node *p2, const char *n2, unsigned flags);
ssize_t lm_ovl_readlink(struct lm_ovl *ovl, struct lm_node *node, char *buf, size_t size);

ssize_t lm_ovl_getxattr(struct lm_ovl *ovl, struct lm_node *node, const char *name,
			void *buf, size_t size);
ssize_t lm_ovl_listxattr(struct lm_ovl *ovl, struct lm_node *node, char *buf, size_t size);
int lm_ovl_setxattr(struct lm_ovl *ovl, struct lm_node *node, const char *name,
		    const void *val, size_t size, int flags);
int lm_ovl_removexattr(struct lm_ovl *ovl, struct lm_node *node, const char *name);
int lm_ovl_statfs(struct lm_ovl *ovl, struct statvfs *sv);
/* fsync of an open file, honouring fsync=0. */
int lm_ovl_fsync(struct lm_ovl *ovl, struct lm_file *f, bool datasync);

/* Tells the node about a file opened on it (after lm_ovl_open/create) and
 * that it is about to be closed: an open object whose last name was
 * removed still answers getattr through it, as fstat(2) requires. */
int lm_ovl_file_attach(struct lm_ovl *ovl, struct lm_node *node, struct lm_file *f);
void lm_ovl_file_detach(struct lm_ovl *ovl, struct lm_node *node, struct lm_file *f);

/* *out is owned by the caller, freed with lm_ovl_dirsnap_free(). */
int lm_ovl_opendir(struct lm_ovl *ovl, struct lm_node *node, struct lm_dirsnap **out);
void lm_ovl_dirsnap_free(struct lm_dirsnap *ds);

#endif
