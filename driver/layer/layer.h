/* One interface for every kind of layer in a stack.
 *
 * A layer is addressed by paths relative to its root ("." is the root;
 * never absolute, never containing ".."). The overlay only walks into a
 * path whose every component it has seen as a directory of that layer, so
 * implementations may resolve paths component by component as they like.
 *
 * Whiteouts and opaque markers are the layer's own business: lookups and
 * directory iteration report them as LM_ENT_WHITEOUT / opaque flags, in
 * whatever spelling the layer stores them.
 *
 * All functions return 0 (or a count) on success and -errno on failure.
 */
#ifndef LM_LAYER_H
#define LM_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

struct lm_layer;
struct lm_file;

enum lm_ent_kind {
	LM_ENT_NONE = 0,   /* the name is absent in this layer */
	LM_ENT_OBJ,        /* a real object; st is filled */
	LM_ENT_WHITEOUT,   /* the name is deleted here and in every layer below */
};

struct lm_lentry {
	enum lm_ent_kind kind;
	bool opaque;       /* directory hides everything below it */
	struct stat st;
};

/* Called once per visible name by iterate(); return non-zero to stop. */
typedef int (*lm_iter_fn)(void *ctx, const char *name, enum lm_ent_kind kind,
			  unsigned dtype, uint64_t ino);

struct lm_file_ops {
	ssize_t (*pread)(struct lm_file *f, void *buf, size_t len, off_t off);
	ssize_t (*pwrite)(struct lm_file *f, const void *buf, size_t len, off_t off);
	int (*fsync)(struct lm_file *f, bool datasync);
	int (*fallocate)(struct lm_file *f, int mode, off_t off, off_t len);
	off_t (*lseek)(struct lm_file *f, off_t off, int whence);
	int (*fstat)(struct lm_file *f, struct stat *st);
	int (*ftruncate)(struct lm_file *f, off_t size);
	void (*close)(struct lm_file *f);   /* frees f */
};

/* An open file of a layer. fd >= 0 when the bytes on the host are the
 * file's bytes (plain layers), so the FUSE adapter may splice from it. */
struct lm_file {
	const struct lm_file_ops *ops;
	int fd;
};

struct lm_layer_ops {
	const char *kind;
	/* Look NAME up in directory DIR; want_opaque asks for the opaque flag
	 * of a directory (it costs extra system calls). */
	int (*lookup)(struct lm_layer *l, const char *dir, const char *name,
		      bool want_opaque, struct lm_lentry *out);
	int (*getattr)(struct lm_layer *l, const char *path, struct stat *st);
	/* Calls fn for every name of DIR except "." and "..", whiteouts as
	 * LM_ENT_WHITEOUT; *opaque is set when DIR itself is opaque. */
	int (*iterate)(struct lm_layer *l, const char *dir, lm_iter_fn fn, void *ctx,
		       bool *opaque);
	/* Opens PATH; with O_CREAT creates it with MODE owned by uid:gid.
	 * *out is owned by the caller, released with (*out)->ops->close. */
	int (*open)(struct lm_layer *l, const char *path, int flags, mode_t mode,
		    uid_t uid, gid_t gid, struct lm_file **out);
	ssize_t (*readlink)(struct lm_layer *l, const char *path, char *buf, size_t size);
	ssize_t (*getxattr)(struct lm_layer *l, const char *path, const char *name,
			    void *buf, size_t size);
	ssize_t (*listxattr)(struct lm_layer *l, const char *path, char *buf, size_t size);
	int (*statfs)(struct lm_layer *l, struct statvfs *sv);

	/* Writable layers only (NULL in read-only ones). */
	int (*mknod)(struct lm_layer *l, const char *path, mode_t mode, dev_t rdev,
		     uid_t uid, gid_t gid);
	int (*mkdir)(struct lm_layer *l, const char *path, mode_t mode, uid_t uid, gid_t gid);
	int (*symlink)(struct lm_layer *l, const char *target, const char *path,
		       uid_t uid, gid_t gid);
	int (*link)(struct lm_layer *l, const char *from, const char *to);
	int (*unlink)(struct lm_layer *l, const char *path);
	int (*rmdir)(struct lm_layer *l, const char *path);
	/* renameat2() semantics; LM_RENAME_WHITEOUT leaves a whiteout at FROM. */
	int (*rename)(struct lm_layer *l, const char *from, const char *to, unsigned flags);
	int (*chmod)(struct lm_layer *l, const char *path, mode_t mode);
	int (*chown)(struct lm_layer *l, const char *path, uid_t uid, gid_t gid);
	int (*utimens)(struct lm_layer *l, const char *path, const struct timespec ts[2]);
	int (*truncate)(struct lm_layer *l, const char *path, off_t size);
	int (*setxattr)(struct lm_layer *l, const char *path, const char *name,
			const void *val, size_t size, int flags);
	int (*removexattr)(struct lm_layer *l, const char *path, const char *name);
	/* Replace whatever is at PATH (absent or a whiteout) with a whiteout. */
	int (*whiteout)(struct lm_layer *l, const char *path);
	/* Remove the whiteout at PATH, whatever its spelling. */
	int (*unwhiteout)(struct lm_layer *l, const char *path);
	/* Mark directory PATH opaque. */
	int (*set_opaque)(struct lm_layer *l, const char *path);
	/* Remove every whiteout inside directory PATH (before rmdir/rename over it). */
	int (*clear_whiteouts)(struct lm_layer *l, const char *path);
	/* Copy object SRC_PATH of layer SRC (stat *st) into this layer at PATH,
	 * atomically: data, mode, owner, times and xattrs. A directory is
	 * created empty. Fails with -EEXIST when PATH exists. */
	int (*copy_in)(struct lm_layer *l, const char *path, struct lm_layer *src,
		       const char *src_path, const struct stat *st);
	void (*free)(struct lm_layer *l);
};

#define LM_RENAME_WHITEOUT (1u << 2) /* same value as RENAME_WHITEOUT */

struct lm_layer {
	const struct lm_layer_ops *ops;
	dev_t dev;          /* st_dev of the layer root */
	bool writable;
};

/* Plain directory layer (fuse-overlayfs compatible). Opens ROOT now and
 * works from that descriptor afterwards; WORKDIR (writable layers only) is
 * where objects are prepared before being renamed into place.
 * durable=false skips fsync on copy-up (volatile mounts).
 * *out is owned by the caller, released with lm_layer_free(). */
int lm_layer_dir_open(const char *root, const char *workdir, bool durable,
		      struct lm_layer **out);

/* Calls @fn for every xattr of PATH in SRC but the overlay-private ones,
 * with its value (@val borrowed for the call); stops at the first non-zero
 * return of @fn and returns it. Returns 0 or -errno. */
int lm_layer_xattr_foreach(struct lm_layer *src, const char *path,
			   int (*fn)(void *ctx, const char *name, const void *val, size_t len),
			   void *ctx);

/* The encrypted writable layer (formats in crypt/vault.h). */
struct lm_vault_info;
struct lm_vault_keys;

/* Told of every integrity failure the vault meets: PATH is the plaintext
 * path in the vault ("." for the root), WHAT says what failed, BLOCK is
 * the file block or -1, ERR the error the caller got. Called from any
 * thread, so it must be thread-safe. */
typedef void (*lm_vault_report_fn)(void *ctx, const char *path, const char *what,
				   int64_t block, int err);

struct lm_vault_cfg {
	const char *root;                 /* the vault's directory */
	const char *workdir;              /* same filesystem; NULL: <root>/lamina.work */
	bool durable;                     /* fsync copy-ups */
	const struct lm_vault_info *info; /* borrowed for the call */
	const struct lm_vault_keys *keys; /* borrowed for the call: copied (derived) */
	lm_vault_report_fn report;        /* may be NULL */
	void *report_ctx;
	bool exclusive;                   /* for a rekey: -EBUSY while mounted */
};

/* Opens the vault at cfg->root with keys opened by lm_vault_open (crypt).
 * *out is owned by the caller, released with lm_layer_free(), which wipes
 * every key. A vault open for a rekey (cfg->exclusive) is open nowhere
 * else: -EBUSY when it is mounted, and mounts get -EBUSY meanwhile. */
int lm_layer_vault_open(const struct lm_vault_cfg *cfg, struct lm_layer **out);

/* Rekey of a vault opened with keys in the rekey state (lm_vault_keys
 * with rekey set): every name, file, symlink and xattr sealed with the old
 * DEK is sealed anew with the next one, object by object, each new object
 * complete before the old one goes, so an interrupted run leaves every
 * object readable and a new run resumes where it stopped. @fn (may be
 * NULL) is told of the progress after each object. The vault must not be
 * mounted meanwhile. Returns 0 or -errno. */
struct lm_rekey_progress {
	uint64_t objects;   /* objects converted */
	uint64_t bytes;     /* plaintext bytes of converted files */
};
/* Returns non-zero to stop the run (lm_layer_vault_rekey then returns
 * -ECANCELED; a later run resumes). */
typedef int (*lm_rekey_fn)(void *ctx, const struct lm_rekey_progress *p);
int lm_layer_vault_rekey(struct lm_layer *l, lm_rekey_fn fn, void *ctx);

/* A sealed layer (format in crypt/sealed.h): read-only, its metadata in
 * memory, its contents read through driver/io and kept in driver/cache. */
struct lm_cache;
struct lm_sealed_file;
struct lm_sealed_keys;
struct lm_sealed_cfg {
	const char *path;            /* the layer file, for messages */
	/* The file opened and its superblock checked (crypt/sealed_store.h:
	 * lm_sealed_file_open, lm_sealed_file_open_path); borrowed for the
	 * call: the layer reads its own descriptor of the same file, and
	 * keeps a duplicate of file->fd while it lives when that holds the
	 * shared lock of a layer in use (file->lock_rc 0), so that
	 * `lamina layer rm` refuses the layer until it is freed. */
	const struct lm_sealed_file *file;
	/* Encrypted layers: the keys (lm_sealed_file_keys), taken over by the
	 * layer, also on failure; NULL for a plain layer. */
	struct lm_sealed_keys *keys;
	struct lm_cache *cache;      /* shared chunk cache (borrowed, must outlive
				      * the layer); NULL: one of its own */
	size_t cache_size;           /* bytes, for a cache of its own */
	bool direct;                 /* read the file with O_DIRECT */
	lm_vault_report_fn report;   /* integrity failures; may be NULL */
	void *report_ctx;
};

/* Opens the sealed layer cfg->file: reads and checks its chunk index and
 * metadata (with cfg->keys when encrypted). *out is owned by the caller,
 * released with lm_layer_free(). Returns 0 or -errno with one line naming
 * the layer in @msg: -EUCLEAN (damaged), -EBADMSG (changed), -ENOKEY
 * (encrypted, no keys given). */
int lm_layer_sealed_open(const struct lm_sealed_cfg *cfg, struct lm_layer **out,
			 char *msg, size_t msgsize);
/* The digest of a sealed layer (64 hex digits), NULL for other layers. */
const char *lm_layer_sealed_digest(const struct lm_layer *l);

/* For layers built over a dir layer (the vault): resolves PATH of dir layer
 * L into a directory descriptor *fd and a remainder *rel short enough for
 * any *at call (a path may be longer than PATH_MAX). *fd is released with
 * lm_layer_dir_at_release, also on failure. Returns 0 or -errno. */
int lm_layer_dir_at(struct lm_layer *l, const char *path, int *fd, const char **rel);
void lm_layer_dir_at_release(struct lm_layer *l, int fd);

static inline void lm_layer_free(struct lm_layer *l)
{
	if (l)
		l->ops->free(l);
}

/* The spellings overlayfs and containers use for whiteouts/opaque dirs. */
#define LM_WH_PREFIX ".wh."
#define LM_WH_PREFIX_LEN 4
#define LM_WH_OPAQUE ".wh..wh..opq"

/* Longest path inside a layer the overlay handles. Longer than PATH_MAX:
 * a tree may be deeper than any one system call's path (pjdfstest and
 * container builds make such trees); layers resolve them piecewise. */
#define LM_PATH_MAX 16384

/* Join DIR and NAME into BUF ("." + "a" is "a"). Returns 0 or -ENAMETOOLONG. */
static inline int lm_path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n;

	if (dir[0] == '.' && dir[1] == '\0')
		n = snprintf(buf, size, "%s", name);
	else
		n = snprintf(buf, size, "%s/%s", dir, name);
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

/* True for names no layer may show: overlay-private xattrs. */
bool lm_xattr_is_private(const char *name);

#endif
