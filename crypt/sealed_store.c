/* Sealed layers in a store (see sealed_store.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "kdf.h"
#include "sealed_store.h"
#include "slotfile.h"

static int no_layer(struct lm_err *err, const struct lm_store *st, const char *hex)
{
	return lm_errf(err, -ENOENT, "no layer %s in store %s (see lamina layer ls)", hex,
		       st->path);
}

/* ---- names ------------------------------------------------------------ */

struct resolve_ctx {
	char prefix[LM_SEALED_DIGEST_HEX + 1];
	size_t len;
	size_t found;
	char first[LM_SEALED_DIGEST_HEX + 1];
	char second[LM_SEALED_DIGEST_HEX + 1];
};

static int resolve_one(int dirfd, const struct dirent *de, void *arg)
{
	struct resolve_ctx *r = arg;

	(void)dirfd;
	if (!lm_sealed_digest_valid(de->d_name) || strncmp(de->d_name, r->prefix, r->len))
		return 0;
	/* A valid digest is exactly LM_SEALED_DIGEST_HEX digits. */
	if (r->found++ == 0)
		memcpy(r->first, de->d_name, sizeof(r->first));
	else if (r->found == 2)
		memcpy(r->second, de->d_name, sizeof(r->second));
	return 0;
}

int lm_sealed_resolve(struct lm_store *st, const char *prefix, char *hex,
		      struct lm_err *err)
{
	struct resolve_ctx r = { .len = strlen(prefix) };
	int rc;

	if (r.len < LM_SEALED_PREFIX_MIN || r.len > LM_SEALED_DIGEST_HEX)
		return lm_errf(err, -EINVAL,
			       "'%.80s' is not a layer digest: give %u to %u hex digits (see lamina layer ls)",
			       prefix, LM_SEALED_PREFIX_MIN, LM_SEALED_DIGEST_HEX);
	for (size_t i = 0; i < r.len; i++) {
		if (!isxdigit((unsigned char)prefix[i]))
			return lm_errf(err, -EINVAL,
				       "'%.80s' is not a layer digest: only hex digits (see lamina layer ls)",
				       prefix);
		r.prefix[i] = (char)tolower((unsigned char)prefix[i]);
	}
	rc = lm_store_foreach_entry(st, LM_SEALED_STORE_DIR, resolve_one, &r);
	if (rc)
		return lm_errf(err, rc, "cannot read %s/%s: %s", st->path,
			       LM_SEALED_STORE_DIR, strerror(-rc));
	if (r.found == 0)
		return no_layer(err, st, r.prefix);
	if (r.found > 1)
		return lm_errf(err, -EINVAL,
			       "layer prefix %s is ambiguous: %zu layers match (%.12s..., %.12s...): give more digits",
			       r.prefix, r.found, r.first, r.second);
	memcpy(hex, r.first, LM_SEALED_DIGEST_HEX + 1);
	return 0;
}

int lm_sealed_path(struct lm_store *st, const char *hex, char *path, size_t size)
{
	int n;

	if (!lm_sealed_digest_valid(hex))
		return -EINVAL;
	n = snprintf(path, size, "%s/%s/%s", st->path, LM_SEALED_STORE_DIR, hex);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* ---- opening ---------------------------------------------------------- */

int lm_sealed_file_pread(const struct lm_sealed_file *f, void *buf, size_t len,
			 uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(f->fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EUCLEAN;
		done += (size_t)n;
	}
	return 0;
}

/* Decodes the superblock of f->fd (opened by the caller; @what names the
 * layer in messages) and compares its digest with @expect, when given. */
static int file_decode(struct lm_sealed_file *f, const char *what, const char *expect,
		       bool any_name, struct lm_err *err)
{
	unsigned char buf[LM_SEALED_SB];
	char got[LM_SEALED_DIGEST_HEX + 1];
	struct stat sb;
	int rc;

	if (fstat(f->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = lm_errf(err, -EUCLEAN, "layer %s is not a regular file", what);
		goto out_close;
	}
	f->size = (uint64_t)sb.st_size;
	rc = f->size < LM_SEALED_SB ? -EUCLEAN : lm_sealed_file_pread(f, buf, sizeof(buf), 0);
	if (rc == 0)
		rc = lm_sealed_sb_decode(buf, sizeof(buf), f->size, &f->sb);
	if (rc) {
		if (rc == -EPROTONOSUPPORT)
			lm_errf(err, rc, "layer %s has a format this lamina does not read: upgrade lamina",
				what);
		else
			lm_errf(err, rc, "layer %s is not a sealed layer or its superblock is damaged (%s): remove it and import it again",
				what, strerror(-rc));
		goto out_close;
	}
	lm_sealed_digest_hex(&f->sb, got);
	f->name_ok = !expect || !strcmp(got, expect);
	if (!expect)
		memcpy(f->hex, got, sizeof(f->hex));
	if (!f->name_ok && !any_name) {
		if (what == expect) /* a layer of the store, named by its digest */
			rc = lm_errf(err, -EBADMSG,
				     "layer %s: its superblock's digest is %s, not its name: the file was changed or renamed (run lamina layer verify)",
				     what, got);
		else
			rc = lm_errf(err, -EBADMSG,
				     "sealed layer %s: its digest is %s, not %s: the file was changed",
				     what, got, expect);
		goto out_close;
	}
	return 0;
out_close:
	lm_sealed_file_close(f);
	return rc;
}

/* Decodes the superblock of the layer file the caller has open as @fd
 * into @f, through a duplicate of it (@fd and its lock stay the caller's;
 * @f is closed with lm_sealed_file_close). Returns 0 or -errno. */
static int fd_decode(int fd, const char *what, struct lm_sealed_file *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (f->fd < 0)
		return -errno;
	return file_decode(f, what, NULL, true, NULL);
}

int lm_sealed_file_open(struct lm_store *st, const char *hex, bool any_name,
			struct lm_sealed_file *f, struct lm_err *err)
{
	int dfd, rc;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->lock_rc = -ENOLCK;
	if (!lm_sealed_digest_valid(hex))
		return lm_errf(err, -EINVAL, "'%.80s' is not a layer digest", hex);
	memcpy(f->hex, hex, sizeof(f->hex));
	dfd = lm_store_dir(st, LM_SEALED_STORE_DIR, false);
	if (dfd < 0)
		return lm_errf(err, dfd == -ENOTDIR ? -ENOENT : dfd,
			       "no layer %s in store %s (see lamina layer ls)", hex, st->path);
	f->fd = openat(dfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	rc = f->fd < 0 ? -errno : 0;
	close(dfd);
	if (rc == -ENOENT || rc == -ELOOP)
		return no_layer(err, st, hex);
	if (rc)
		return lm_errf(err, rc, "cannot open layer %s: %s", hex, strerror(-rc));
	return file_decode(f, hex, hex, any_name, err);
}

/* The shared lock of a layer in use only keeps `lamina layer rm` away
 * (lm_sealed_remove); reading never depends on it: a layer file never
 * changes, and an open descriptor keeps its inode readable even after its
 * name is removed. So no failure to lock stops the open:
 *   - -EWOULDBLOCK: a removal holds the exclusive lock right now. The
 *     layer opens as it was; if the removal goes on, the mount serves the
 *     file it opened until it ends, just no longer protected (an encrypted
 *     layer whose slot file is already gone fails for want of its key).
 *     Waiting instead would hang the mount on whoever holds the lock.
 *   - anything else (-ENOLCK, -EOPNOTSUPP: a file system without flock,
 *     for a layer given by path): the layer is served unprotected, as it
 *     was before there were locks; lm_sealed_remove needs flock anyway.
 * Non-blocking, and the caller hears of it through f->lock_rc. */
static int file_share(int fd)
{
	return flock(fd, LOCK_SH | LOCK_NB) < 0 ? -errno : 0;
}

int lm_sealed_file_open_path(const char *path, const char *expect, struct lm_sealed_file *f,
			     struct lm_err *err)
{
	memset(f, 0, sizeof(*f));
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return lm_errf(err, -errno, "cannot open sealed layer %s: %s", path,
			       strerror(errno));
	f->lock_rc = file_share(f->fd);
	if (expect)
		snprintf(f->hex, sizeof(f->hex), "%s", expect);
	return file_decode(f, path, expect, false, err);
}

void lm_sealed_file_close(struct lm_sealed_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

int lm_sealed_file_sections(const struct lm_sealed_file *f, unsigned char **index,
			    unsigned char **meta, struct lm_err *err)
{
	const struct lm_sealed_sb *sb = &f->sb;
	int rc;

	*index = NULL;
	*meta = NULL;
	/* The decoder checked that both sections lie inside the file. */
	if (sb->meta_len > LM_SEALED_META_MAX)
		return lm_errf(err, -EUCLEAN, "layer %s: metadata too large", f->hex);
	*index = malloc(sb->index_len ? sb->index_len : 1);
	*meta = malloc(sb->meta_len ? sb->meta_len : 1);
	if (!*index || !*meta) {
		rc = lm_errf(err, -ENOMEM, "layer %s: out of memory", f->hex);
		goto out_free;
	}
	rc = lm_sealed_file_pread(f, *index, sb->index_len, sb->index_off);
	if (rc == 0)
		rc = lm_sealed_file_pread(f, *meta, sb->meta_len, sb->meta_off);
	if (rc == 0)
		return 0;
	lm_errf(err, rc, "layer %s: cannot read: %s", f->hex, strerror(-rc));
out_free:
	free(*index);
	free(*meta);
	*index = NULL;
	*meta = NULL;
	return rc;
}

int lm_sealed_file_meta(const struct lm_sealed_file *f, const struct lm_sealed_keys *keys,
			struct lm_sealed_meta **out, struct lm_err *err)
{
	unsigned char *index, *meta;
	int rc;

	*out = NULL;
	if (lm_sealed_encrypted(&f->sb) && !keys)
		return lm_errf(err, -ENOKEY, "layer %s is encrypted for tenant %s: its key is needed",
			       f->hex, f->sb.tenant);
	rc = lm_sealed_file_sections(f, &index, &meta, err);
	if (rc)
		return rc;
	rc = lm_sealed_meta_open(&f->sb, keys, meta, index, out);
	if (rc)
		lm_errf(err, rc, "layer %s: its %s does not verify (%s): the file is damaged or was changed",
			f->hex, rc == -EBADMSG ? "metadata or index" : "metadata",
			strerror(-rc));
	free(index);
	free(meta);
	return rc;
}

int lm_sealed_file_keys(struct lm_store *st, const struct lm_sealed_file *f,
			const struct lm_tenant *t, struct lm_sealed_keys **out,
			struct lm_err *err)
{
	char name[LM_SEALED_SLOT_NAME_MAX];
	unsigned char *dek;
	int rc;

	*out = NULL;
	if (!lm_sealed_encrypted(&f->sb))
		return lm_errf(err, -EINVAL, "layer %s is not encrypted", f->hex);
	if (strcmp(f->sb.tenant, lm_tenant_name(t)))
		return lm_errf(err, -EKEYREJECTED,
			       "layer %s belongs to tenant %s, not %s: use that tenant's secret",
			       f->hex, f->sb.tenant, lm_tenant_name(t));
	dek = lm_secret_alloc(LM_KEY_BYTES);
	if (!dek)
		return lm_errf(err, -ENOMEM, "cannot allocate secret memory");
	lm_sealed_slot_name(f->sb.layer_id, name);
	rc = lm_slotfile_open(st, name, t, dek, err);
	if (rc == -ENOENT)
		lm_errf(err, rc, "layer %s: its key slot file %s/%s/%s%s is missing: the layer cannot be read",
			f->hex, st->path, LM_SLOTFILE_DIR, name, LM_SLOTFILE_SUFFIX);
	if (rc == 0) {
		rc = lm_sealed_keys_new(&f->sb, dek, out);
		if (rc == -EKEYREJECTED)
			lm_errf(err, rc, "layer %s: its superblock's MAC does not verify with its key: the file was changed",
				f->hex);
		else if (rc)
			lm_errf(err, rc, "layer %s: cannot load its key: %s", f->hex,
				strerror(-rc));
	}
	lm_secret_free(dek);
	return rc;
}

/* ---- removal ---------------------------------------------------------- */

/* Opens layers/@hex (in @dfd) for its removal and takes its exclusive
 * flock, without waiting: a mount holds the shared one while it serves
 * the layer. A file system without flock is refused too (the store lock
 * needs flock as well). Returns the descriptor (its close releases the
 * lock), or -ENOENT, -EBUSY or -errno with @err set. */
static int remove_lock(struct lm_store *st, int dfd, const char *hex, struct lm_err *err)
{
	int fd = openat(dfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc;

	if (fd < 0) {
		rc = errno == ELOOP ? -ENOENT : -errno;
		if (rc == -ENOENT)
			return no_layer(err, st, hex);
		return lm_errf(err, rc, "cannot open layer %s: %s", hex, strerror(-rc));
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
	close(fd);
	if (rc == -EBUSY)
		return lm_errf(err, rc, "layer %.12s is in use by a laminafs mount: unmount it first",
			       hex);
	return lm_errf(err, rc, "cannot lock layer %s: %s", hex, strerror(-rc));
}

int lm_sealed_remove(struct lm_store *st, const char *hex, struct lm_err *err)
{
	struct lm_sealed_file f;
	char name[LM_SEALED_SLOT_NAME_MAX];
	bool encrypted;
	int dfd, fd, rc;

	if (!lm_sealed_digest_valid(hex))
		return lm_errf(err, -EINVAL, "'%.80s' is not a layer digest", hex);
	/* The store lock first: a second removal waits here, then finds the
	 * layer gone, rather than taking the first one's lock for a mount's. */
	rc = lm_store_lock(st, err);
	if (rc)
		return rc;
	dfd = lm_store_dir(st, LM_SEALED_STORE_DIR, false);
	if (dfd < 0) {
		rc = dfd == -ENOENT ? no_layer(err, st, hex) :
			lm_errf(err, dfd, "cannot open %s/%s: %s", st->path, LM_SEALED_STORE_DIR,
				strerror(-dfd));
		goto out_unlock;
	}
	fd = remove_lock(st, dfd, hex, err);
	if (fd < 0) {
		rc = fd;
		goto out_dir;
	}
	/* A damaged superblock does not stop a removal; its slot file, if
	 * any, can no longer be named and stays for lamina tenant show. */
	encrypted = fd_decode(fd, hex, &f) == 0 && lm_sealed_encrypted(&f.sb);
	if (encrypted)
		lm_sealed_slot_name(f.sb.layer_id, name);
	lm_sealed_file_close(&f);
	rc = encrypted ? lm_slotfile_remove(st, name, err) : 0;
	if (rc)
		goto out_close;
	if (unlinkat(dfd, hex, 0) < 0)
		rc = lm_errf(err, -errno, "cannot remove layer %s: %s", hex, strerror(errno));
	else
		lm_fsync_dir(dfd);
out_close:
	close(fd); /* the layer's lock, once its name is gone */
out_dir:
	close(dfd);
out_unlock:
	lm_store_unlock(st);
	return rc;
}

/* ---- temporary files of imports ---------------------------------------- */

/* Takes the flock @op of @fd, waiting through signals (an import's
 * Ctrl-C is seen once it has the lock: the holders keep it for a rename
 * or a directory listing). Returns 0 or -errno. */
static int lock_wait(int fd, int op)
{
	while (flock(fd, op) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int lm_sealed_tmp_create(int dfd, char *name, size_t size)
{
	unsigned char rnd[8];
	char hex[2 * sizeof(rnd) + 1];
	int fd, n, lk;

	lm_crypt_random(rnd, sizeof(rnd));
	lm_crypt_hex(hex, rnd, sizeof(rnd));
	n = snprintf(name, size, LM_SEALED_TMP_PREFIX "%s" LM_TMP_SUFFIX, hex);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	/* Created and locked with no cleaner looking, which would otherwise
	 * find it unlocked in between and take it for a dead import's. A
	 * directory that cannot be locked cannot be cleaned either. */
	lk = lock_wait(dfd, LOCK_SH);
	fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		fd = -errno;
	else /* a new file: only a process outside the protocol may hold it */
		lock_wait(fd, LOCK_EX);
	if (lk == 0)
		flock(dfd, LOCK_UN);
	return fd;
}

/* Moves @tmp to @digest unless it exists: 0, 1 when it did (@tmp
 * stays), or -errno (@tmp stays). */
static int tmp_rename(int dfd, const char *tmp, const char *digest)
{
	if (renameat2(dfd, tmp, dfd, digest, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A file system without RENAME_NOREPLACE: a link fails the same. */
	if (linkat(dfd, tmp, dfd, digest, 0) < 0)
		return errno == EEXIST ? 1 : -errno;
	unlinkat(dfd, tmp, 0);
	return 0;
}

int lm_sealed_tmp_commit(int dfd, int fd, const char *name, const char *digest)
{
	int lk = lock_wait(dfd, LOCK_SH), rc;

	/* Unlocked before the rename, under the directory's lock, so that no
	 * cleaner sees the temporary file unlocked and the layer never
	 * carries the import's lock; locked again if it stays temporary. */
	flock(fd, LOCK_UN);
	rc = tmp_rename(dfd, name, digest);
	if (rc)
		flock(fd, LOCK_EX | LOCK_NB);
	if (lk == 0)
		flock(dfd, LOCK_UN);
	if (rc == 0 && lm_fsync_dir(dfd) < 0)
		rc = -EIO;
	return rc;
}

static bool tmp_name(const char *s)
{
	size_t n = strlen(s), p = sizeof(LM_SEALED_TMP_PREFIX) - 1,
	       x = sizeof(LM_TMP_SUFFIX) - 1;

	return n > p + x && !strncmp(s, LM_SEALED_TMP_PREFIX, p) &&
	       !strcmp(s + n - x, LM_TMP_SUFFIX);
}

struct clean_ctx {
	struct lm_store *st;
	void (*removed)(void *arg, const char *name);
	void *arg;
	int count;
};

/* The slot file name of the encrypted layer whose complete superblock
 * opens the temporary file @tmp (open as @fd), into @name: an import
 * writes its slot file once the layer file is complete, just before the
 * rename. False for a plain layer or a file cut short (no slot file was
 * written then), and for a copy of a layer the store has (not something
 * an import makes), which shares that layer's slot file. */
static bool tmp_slot(int dirfd, int fd, const char *tmp, char *name)
{
	struct lm_sealed_file f;
	bool slot = fd_decode(fd, tmp, &f) == 0 && lm_sealed_encrypted(&f.sb) &&
		    faccessat(dirfd, f.hex, F_OK, AT_SYMLINK_NOFOLLOW) != 0;

	if (slot)
		lm_sealed_slot_name(f.sb.layer_id, name);
	lm_sealed_file_close(&f);
	return slot;
}

/* Removes the temporary file @de if no import holds it, and the slot file
 * its import may have written for it (killed between the slot file and
 * the rename). The name cannot change meanwhile: the caller holds the
 * directory's exclusive lock, and only imports create, rename or remove
 * such names, under its shared one. */
static int clean_one(int dirfd, const struct dirent *de, void *arg)
{
	struct clean_ctx *c = arg;
	char slot[LM_SEALED_SLOT_NAME_MAX];
	struct lm_err err = { "" };
	struct stat sb;
	bool has_slot;
	int fd;

	if (!tmp_name(de->d_name))
		return 0;
	fd = openat(dirfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0) {
		has_slot = tmp_slot(dirfd, fd, de->d_name, slot);
		if (unlinkat(dirfd, de->d_name, 0) == 0) {
			c->count++;
			if (c->removed)
				c->removed(c->arg, de->d_name);
			/* Its layer id is the import's own (random): no other
			 * layer has this slot file. */
			if (has_slot)
				(void)lm_slotfile_remove(c->st, slot, &err);
		}
	}
	close(fd);
	return 0;
}

int lm_sealed_tmp_clean(struct lm_store *st, void (*removed)(void *arg, const char *name),
			void *arg)
{
	struct clean_ctx c = { st, removed, arg, 0 };
	int dfd = lm_store_dir(st, LM_SEALED_STORE_DIR, false), rc;

	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	/* Without waiting: an import holds the shared lock only while it
	 * creates or renames its file, and what is left now is left next
	 * time too. */
	if (flock(dfd, LOCK_EX | LOCK_NB) < 0) {
		close(dfd);
		return 0;
	}
	rc = lm_store_foreach_entry(st, LM_SEALED_STORE_DIR, clean_one, &c);
	if (c.count)
		lm_fsync_dir(dfd);
	close(dfd); /* and its lock */
	return rc ? rc : c.count;
}
