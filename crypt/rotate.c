/* Tenant key rotation (see lm_tenant_rotate in keystore.h).
 *
 * Order of work, and why a crash anywhere leaves every object openable:
 *  1. a new KEK version is written (atomically, synced) next to the old
 *     ones, which stay active;
 *  2. every slot container of the tenant is rebuilt with a slot for the
 *     new version only, into a temporary file beside it (not synced one by
 *     one: that is what makes 10,000 objects take seconds, not minutes);
 *  3. one syncfs makes every temporary file durable;
 *  4. each temporary file is exchanged with its container (renameat2
 *     RENAME_EXCHANGE, a rename where that is missing): every exchange
 *     swaps a complete, durable old file for a complete, durable new one.
 *     The old content stays under the temporary name as the container's
 *     "shadow", whose inode the next rotation overwrites (lm_file_exchange
 *     says why); it holds only slots of versions about to be retired;
 *  5. the directories are fsync'ed, so the renames are durable;
 *  6. only then are the older versions retired: each record is replaced by
 *     one without key material, and the old file's blocks overwritten.
 * Until 6 every object opens with the old or the new version, both active.
 * A crash leaves at most an extra active version and some temporary files;
 * the next rotation rewraps everything to a newer version, overwrites the
 * temporary files and retires every older version, finishing the job.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "fault.h"
#include "fileio.h"
#include "keystore_int.h"

struct rot_item {
	/* Store-relative directory, or absolute (a registered vault); owned
	 * by the first item of its run of equal directories. */
	char *dir;
	char name[256];   /* file name in it */
};

struct rot_ctx {
	struct lm_store *st;
	struct lm_tenant *t;
	struct rot_item *items;
	size_t n, cap;
	size_t skipped, damaged;
	char dir[PATH_MAX]; /* directory of dirfd */
	int dirfd;
	unsigned char *dek; /* secret, 32 bytes */
	struct lm_err *err;
};

/* A descriptor for store directory @dir, cached for runs of one dir. */
static int rot_dirfd(struct rot_ctx *c, const char *dir)
{
	if (c->dirfd >= 0 && !strcmp(c->dir, dir))
		return c->dirfd;
	if (c->dirfd >= 0)
		close(c->dirfd);
	c->dirfd = -1;
	if (snprintf(c->dir, sizeof(c->dir), "%s", dir) >= (int)sizeof(c->dir))
		return -ENAMETOOLONG;
	c->dirfd = lm_store_dir(c->st, dir, false);
	return c->dirfd;
}

/* "<store>/<dir>/<name>", or "<dir>/<name>" for an absolute @dir, into
 * @out, for messages. */
static const char *rot_where(char *out, size_t size, const struct rot_ctx *c,
			     const char *dir, const char *name)
{
	if (dir[0] == '/')
		snprintf(out, size, "%s/%s", dir, name);
	else
		snprintf(out, size, "%s/%s/%s", c->st->path, dir, name);
	return out;
}

static int rot_push(struct rot_ctx *c, const char *dir, const char *name)
{
	char *d;

	/* Scan order puts a directory's containers in one run: one copy. */
	if (c->n && !strcmp(c->items[c->n - 1].dir, dir))
		d = c->items[c->n - 1].dir;
	else if (!(d = strdup(dir)))
		return -ENOMEM;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		struct rot_item *v = realloc(c->items, cap * sizeof(*v));

		if (!v) {
			if (!c->n || d != c->items[c->n - 1].dir)
				free(d);
			return -ENOMEM;
		}
		c->items = v;
		c->cap = cap;
	}
	c->items[c->n].dir = d;
	snprintf(c->items[c->n].name, sizeof(c->items[0].name), "%s", name);
	c->n++;
	return 0;
}

static void rot_items_free(struct rot_ctx *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (!i || c->items[i].dir != c->items[i - 1].dir)
			free(c->items[i].dir);
	free(c->items);
}

/* Rewraps one container if it is the tenant's: writes its temporary file. */
static int rot_one(const struct lm_container_ops *ops, const char *dir,
		   const char *name, void *arg)
{
	struct rot_ctx *c = arg;
	struct lm_keyblock kb, nkb;
	unsigned char *buf, *out = NULL;
	size_t len, outlen, kboff, kblen;
	char what[400], where[320];
	int dfd = rot_dirfd(c, dir), rc;

	rot_where(where, sizeof(where), c, dir, name);
	if (dfd < 0)
		return lm_errf(c->err, dfd, "cannot open the directory of %s: %s",
			       where, strerror(-dfd));
	rc = lm_file_read(dfd, name, 1u << 20, &buf, &len);
	if (rc)
		return lm_errf(c->err, rc, "cannot read %s: %s", where, strerror(-rc));
	rc = ops->parse(buf, len, &kb, &kboff, &kblen);
	if (rc) {
		/* Nobody can open it with any key: rotation changes nothing. */
		c->damaged++;
		rc = 0;
		goto out_free;
	}
	if (strcmp(kb.tenant, c->t->rec.name))
		goto out_free;
	snprintf(what, sizeof(what), "%s %s", ops->kind, where);
	rc = lm_keyblock_open(&kb, c->t->rec.name, c->t->keks, c->t->nkeks,
			      c->dek, what, c->err);
	if (rc == -ENOKEY) {
		c->skipped++;
		lm_err_clear(c->err);
		rc = 0;
		goto out_free;
	}
	if (rc)
		goto out_free;
	lm_keyblock_init(&nkb, kb.object_id, kb.tenant);
	rc = lm_slot_add(&nkb, &c->t->keks[0], c->dek);
	if (!rc)
		rc = ops->rebuild(buf, len, kboff, kblen, &nkb, c->dek, &out, &outlen);
	if (!rc)
		rc = lm_file_write_tmp(dfd, name, out, outlen, false);
	if (!rc)
		rc = rot_push(c, dir, name);
	if (rc == -EBADMSG)
		lm_errf(c->err, rc,
			"cannot rewrap %s: it was changed without its data key (MAC mismatch); nothing was rotated",
			what);
	else if (rc)
		lm_errf(c->err, rc, "cannot rewrap %s: %s", what, strerror(-rc));
	else
		lm_fault_point("rotate: temporary container written");
out_free:
	lm_crypt_wipe(c->dek, 32);
	free(out);
	free(buf);
	return rc;
}

/* Removes the temporary files of a rotation that stopped. */
static void rot_abort(struct rot_ctx *c)
{
	char tmp[300];

	for (size_t i = 0; i < c->n; i++) {
		int dfd = rot_dirfd(c, c->items[i].dir);

		if (dfd >= 0 && !lm_file_tmpname(tmp, sizeof(tmp), c->items[i].name))
			unlinkat(dfd, tmp, 0);
	}
}

/* Step 3 for containers outside the store's file system (registered
 * vaults): one syncfs per other file system. */
static int rot_sync_others(struct rot_ctx *c)
{
	dev_t devs[16];
	size_t ndevs = 0;
	struct stat sb;
	char where[320];
	int rc;

	if (fstat(c->st->fd, &sb) < 0)
		return -errno;
	devs[ndevs++] = sb.st_dev;
	for (size_t i = 0; i < c->n; i++) {
		bool seen = false;
		int dfd;

		if (c->items[i].dir[0] != '/' ||
		    (i && c->items[i].dir == c->items[i - 1].dir))
			continue;
		dfd = rot_dirfd(c, c->items[i].dir);
		if (dfd < 0 || fstat(dfd, &sb) < 0) {
			rc = dfd < 0 ? dfd : -errno;
			return lm_errf(c->err, rc, "cannot sync %s: %s",
				       rot_where(where, sizeof(where), c,
						 c->items[i].dir, c->items[i].name),
				       strerror(-rc));
		}
		for (size_t j = 0; j < ndevs && !seen; j++)
			seen = devs[j] == sb.st_dev;
		if (seen)
			continue;
		if (syncfs(dfd) < 0) {
			rc = -errno;
			return lm_errf(c->err, rc, "cannot sync the file system of %s: %s",
				       c->items[i].dir, strerror(-rc));
		}
		/* Past the table's end, every further one is synced anew. */
		if (ndevs < sizeof(devs) / sizeof(devs[0]))
			devs[ndevs++] = sb.st_dev;
	}
	return 0;
}

/* Steps 3 to 5: sync, rename, sync the directories. */
static int rot_commit(struct rot_ctx *c)
{
	char where[320];
	int rc;

	if (syncfs(c->st->fd) < 0) {
		rc = -errno;
		return lm_errf(c->err, rc, "cannot sync the store: %s", strerror(-rc));
	}
	rc = rot_sync_others(c);
	if (rc)
		return rc;
	lm_fault_point("rotate: temporary containers synced");
	for (size_t i = 0; i < c->n; i++) {
		int dfd = rot_dirfd(c, c->items[i].dir);

		rc = dfd < 0 ? dfd : lm_file_exchange(dfd, c->items[i].name);
		if (rc == -ENOENT)
			continue; /* removed meanwhile: nothing to rewrap */
		if (rc)
			return lm_errf(c->err, rc, "cannot replace %s: %s",
				       rot_where(where, sizeof(where), c,
						 c->items[i].dir, c->items[i].name),
				       strerror(-rc));
		lm_fault_point("rotate: container replaced");
	}
	/* Items are in scan order, so each directory is one run. */
	for (size_t i = 0; i < c->n; i++) {
		if (i && c->items[i].dir == c->items[i - 1].dir)
			continue;
		rc = rot_dirfd(c, c->items[i].dir);
		if (rc >= 0)
			rc = lm_fsync_dir(rc);
		if (rc)
			return lm_errf(c->err, rc, "cannot sync the directory of %s: %s",
				       rot_where(where, sizeof(where), c,
						 c->items[i].dir, c->items[i].name),
				       strerror(-rc));
	}
	lm_fault_point("rotate: directories synced");
	return 0;
}

int lm_tenant_retire_others(struct lm_store *st, struct lm_tenant *t,
			    size_t *retired, struct lm_err *err)
{
	unsigned char buf[sizeof(struct lm_kekver_disk)];
	uint32_t keep = t->nkeks ? t->keks[0].version : 0;
	int dfd = ks_open_dir(st, t->rec.name, err), rc = 0;

	*retired = 0;
	if (dfd < 0)
		return dfd;
	for (size_t i = 0; i < t->nvers && !rc; i++) {
		struct lm_kekver_rec r = t->vers[i];
		char file[16];
		int old;

		if (r.state != LM_KEK_ACTIVE || r.version == keep)
			continue;
		snprintf(file, sizeof(file), "v%u", (unsigned)r.version);
		old = openat(dfd, file, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		r.state = LM_KEK_RETIRED;
		r.retired = (uint64_t)time(NULL);
		memset(r.nonce, 0, sizeof(r.nonce));
		memset(r.sealed, 0, sizeof(r.sealed));
		lm_kekver_rec_encode(&r, KS_RECORD_KEY(t), buf);
		rc = lm_file_replace(dfd, file, buf, sizeof(buf));
		if (rc) {
			lm_errf(err, rc, "cannot retire %s/%s: %s", t->where, file,
				strerror(-rc));
		} else {
			lm_fault_point("rotate: version record retired");
			/* The old inode still holds the sealed KEK: overwrite it. */
			if (old >= 0)
				lm_file_scrub(old);
			lm_fault_point("rotate: old version scrubbed");
			t->vers[i] = r;
			(*retired)++;
		}
		if (old >= 0)
			close(old);
	}
	close(dfd);
	return rc;
}

static int rotate_locked(struct rot_ctx *c, struct lm_rotate_result *res)
{
	int rc = lm_tenant_add_version(c->st, c->t, c->err);

	if (rc)
		return rc;
	res->new_version = c->t->keks[0].version;
	lm_fault_point("rotate: new version written");
	rc = lm_store_foreach_container(c->st, rot_one, c);
	if (rc) {
		lm_errf(c->err, rc, "cannot list the store's key slot containers: %s",
			strerror(-rc));
		rot_abort(c);
		return rc;
	}
	rc = rot_commit(c);
	if (rc)
		return rc;
	res->rewrapped = c->n;
	res->skipped = c->skipped;
	res->damaged = c->damaged;
	return lm_tenant_retire_others(c->st, c->t, &res->retired, c->err);
}

int lm_tenant_rotate(struct lm_store *st, const char *name,
		     const struct lm_tenant_secret *sec,
		     struct lm_rotate_result *res, struct lm_err *err)
{
	struct rot_ctx c = { .st = st, .dirfd = -1, .err = err };
	char detail[256];
	int rc;

	memset(res, 0, sizeof(*res));
	rc = lm_store_lock(st, err);
	if (rc)
		return rc;
	rc = lm_audit_check(st, err);
	if (rc)
		goto out_unlock;
	rc = lm_tenant_open(st, name, sec, &c.t, err);
	if (rc)
		goto out_unlock;
	c.dek = lm_secret_alloc(32);
	rc = c.dek ? rotate_locked(&c, res) : lm_errf(err, -ENOMEM, "out of memory");
	if (rc) {
		lm_audit_log(st, "tenant.rotate", name, NULL, rc, err ? err->msg : "");
	} else {
		snprintf(detail, sizeof(detail),
			 "new version v%u; %zu containers rewrapped, %zu retired versions, %zu skipped (no active slot), %zu damaged",
			 (unsigned)res->new_version, res->rewrapped, res->retired,
			 res->skipped, c.damaged);
		rc = lm_audit_append(st, "tenant.rotate", name, NULL, 0, detail, err);
	}
	lm_fault_point("rotate: done");
	if (c.dirfd >= 0)
		close(c.dirfd);
	rot_items_free(&c);
	lm_secret_free(c.dek);
	lm_tenant_free(c.t);
out_unlock:
	lm_store_unlock(st);
	return rc;
}
