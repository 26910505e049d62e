/* The store: the directory that holds keys/, objects/, volumes/, layers/,
 * audit.log. Opened once; everything else is resolved relative to its
 * descriptor. Directories are created 0700, files 0600.
 *
 * Writers of key material (tenant create, rotate, shred, slot containers)
 * hold the store lock, an exclusive flock on <store>/.lock, for the whole
 * change; readers take no lock, since every file is replaced atomically.
 *
 * Key slot containers: every file of the store that holds key slots is
 * found through lm_store_foreach_container, which walks the container kinds
 * of container_kinds[] in store.c. Each kind is a const ops table: slot
 * files in objects/ (slotfile.h) and vaults (vault.h: volumes/<name>/
 * lamina.vault and the registered vaults outside the store). A sealed
 * layer's key is in a slot file of its own (objects/layer-<id>.slots, see
 * sealed_store.h), not in the layer file, so it needs no kind of its own.
 * Rotation sees exactly what that function yields.
 */
#ifndef LM_STORE_H
#define LM_STORE_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>

#include "crypt.h"
#include "slot.h"

struct lm_store {
	int fd;        /* the store directory */
	int lockfd;    /* -1 unless lm_store_lock holds the lock */
	char *path;    /* as opened, for messages; owned */
};

/* The default store path into @out: $LAMINA_STORE if set, else
 * /var/lib/lamina for root, else $XDG_DATA_HOME/lamina or
 * ~/.local/share/lamina. Returns 0 or -ENAMETOOLONG / -ENOENT (no HOME). */
int lm_store_default_path(char *out, size_t size);

/* Opens the store at @path; with @create makes it (and missing parents,
 * 0700) when it does not exist. *out is freed with lm_store_free. Returns
 * 0, -ENOENT (no store there: the message says so), or -errno. */
int lm_store_open(const char *path, bool create, struct lm_store **out,
		  struct lm_err *err);
void lm_store_free(struct lm_store *st);

/* Takes the store lock (blocking). Released by lm_store_unlock or
 * lm_store_free. */
int lm_store_lock(struct lm_store *st, struct lm_err *err);
void lm_store_unlock(struct lm_store *st);

/* Opens the store subdirectory @rel ("keys/acme"), creating it (and its
 * parents inside the store, 0700) with @create. An absolute @rel (up to
 * PATH_MAX bytes; a registered vault outside the store) is opened as it
 * is and never created. The last component is never a symlink. Returns a
 * descriptor (caller closes) or -errno. */
int lm_store_dir(struct lm_store *st, const char *rel, bool create);

/* Calls @fn for every entry of store directory @rel (or an absolute
 * path, as lm_store_dir; never created): @dirfd is the directory, @de the
 * entry, both borrowed for the call. Every entry is passed, "." and ".."
 * too: @fn filters. Stops at the first non-zero return of @fn and returns
 * it. A missing @rel has no entries. Returns 0, @fn's return, or -errno
 * when @rel cannot be read. */
typedef int (*lm_dirent_fn)(int dirfd, const struct dirent *de, void *arg);
int lm_store_foreach_entry(struct lm_store *st, const char *rel, lm_dirent_fn fn,
			   void *arg);

/* The names in store directory @rel that are valid names by
 * lm_tenant_name_valid (so never "." or a hidden leftover), only the
 * subdirectories with @dirs_only, sorted by strcmp. *names (each name and
 * the array) is the caller's: lm_store_names_free frees both. A missing
 * @rel lists nothing. Returns 0, or -errno and no names. */
int lm_store_names(struct lm_store *st, const char *rel, bool dirs_only,
		   char ***names, size_t *n);
void lm_store_names_free(char **names, size_t n);

/* One kind of file that holds a key block. */
struct lm_container_ops {
	const char *kind;  /* "slot file", for messages */
	/* Calls @fn for every container of this kind in @st: @dir is its
	 * directory relative to the store, or an absolute path (at most
	 * PATH_MAX bytes) for one outside it, @name its file name. Stops at
	 * the first non-zero return of @fn and returns it. */
	int (*scan)(struct lm_store *st,
		    int (*fn)(const struct lm_container_ops *ops, const char *dir,
			      const char *name, void *arg),
		    void *arg);
	/* Finds and decodes the key block in the container's bytes:
	 * kboff and kblen say where it is. Hostile input as in
	 * lm_keyblock_decode; -EUCLEAN for a damaged container. */
	int (*parse)(const unsigned char *buf, size_t len, struct lm_keyblock *kb,
		     size_t *kboff, size_t *kblen);
	/* Builds the container anew with @kb in place of the old key block
	 * (@dek, borrowed, for the key block's MAC and any header MAC).
	 * *out is malloc'ed (caller frees). */
	int (*rebuild)(const unsigned char *old, size_t oldlen, size_t kboff,
		       size_t kblen, struct lm_keyblock *kb,
		       const unsigned char *dek, unsigned char **out,
		       size_t *outlen);
};

typedef int (*lm_container_fn)(const struct lm_container_ops *ops,
			       const char *dir, const char *name, void *arg);

/* THE enumeration of key slot containers: calls @fn for every container
 * of every kind in the store, in no particular order. Returns 0, the first
 * non-zero return of @fn, or -errno when a directory cannot be read. */
int lm_store_foreach_container(struct lm_store *st, lm_container_fn fn, void *arg);

/* For the kinds' scan functions: calls @fn for every regular file directly
 * in store directory @dir whose name ends in @suffix (and does not start
 * with '.'). A missing @dir has no containers. */
int lm_store_scan_dir(struct lm_store *st, const struct lm_container_ops *ops,
		      const char *dir, const char *suffix, lm_container_fn fn,
		      void *arg);

#endif
