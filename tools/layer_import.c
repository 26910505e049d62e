/* The import core (see layer_import.h): tarballs through libarchive, the
 * store's temporary file and rename, the key of an encrypted layer.
 *
 * How a tar's hostile entries are treated (libarchive parses the bytes;
 * every name, size and link it hands back is checked here before the
 * builder sees it):
 *   - a ".." component anywhere, in a name or a hard link's target:
 *     refused; "." and empty components are dropped; a leading '/' is
 *     dropped and counted (the caller says so once);
 *   - a component over 255 bytes, a path over 4096: refused;
 *   - a size below zero or over LM_IMPORT_FILE_MAX, data past the size,
 *     a truncated or damaged archive (libarchive's error): refused;
 *   - a hard link to an entry not seen before, to a directory or to
 *     itself: refused; a path under a symlink or a file: refused (the
 *     builder's -ENOTDIR);
 *   - a uid or gid that does not fit 32 bits: refused;
 *   - a name seen before: the later entry wins, counted;
 *   - symlink targets, devices, setuid bits: kept as data.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "kdf.h"
#include "layer_import_int.h"
#include "sealed_store.h"
#include "slotfile.h"

/* ---- names ------------------------------------------------------------ */

/* Why @in (the name of an entry, or with @link the hard-link target of
 * entry @link) is refused: one line naming the entry. */
static int name_refused(struct imp *im, const char *in, const char *link, const char *why)
{
	char q[IMP_QUOTE + 4], qt[IMP_QUOTE + 4];

	if (link)
		return lm_errf(im->err, -EINVAL, "entry '%s': refused: its hard link target '%s' has %s",
			       imp_quote(link, q), imp_quote(in, qt), why);
	return lm_errf(im->err, -EINVAL, "entry '%s': refused: %s", imp_quote(in, q), why);
}

/* Cleans the archive name @in into @out (LM_IMPORT_PATH_MAX + 1 bytes):
 * components joined by one '/', without "." or empty ones, "" for the
 * root. @link: @in is the hard-link target of that entry (for messages).
 * Returns 0 (*abs set when a leading '/' was dropped) or -EINVAL with
 * the message naming the entry. */
static int clean_path(struct imp *im, const char *in, const char *link, char *out,
		      bool *abs)
{
	const char *p = in;
	size_t n = 0;

	*abs = *p == '/';
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return name_refused(im, in, link,
					    "a '..' component, which would leave the layer");
		if (len > LM_IMPORT_NAME_MAX)
			return name_refused(im, in, link, "a name longer than 255 bytes");
		if (len && !(len == 1 && p[0] == '.')) {
			if (n + !!n + len > LM_IMPORT_PATH_MAX)
				return name_refused(im, in, link, "a path longer than 4096 bytes");
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	out[n] = '\0';
	return 0;
}

/* ---- one tar entry ---------------------------------------------------- */

static int tar_attr(struct imp *im, struct archive_entry *e, const char *name,
		    struct lm_sealed_attr *a)
{
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	char q[IMP_QUOTE + 4];

	memset(a, 0, sizeof(*a));
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return lm_errf(im->err, -EINVAL, "entry '%s': refused: owner %lld:%lld out of range",
			       imp_quote(name, q), (long long)uid, (long long)gid);
	a->mode = (uint32_t)(archive_entry_filetype(e) | (archive_entry_perm(e) & 07777));
	a->uid = (uint32_t)uid;
	a->gid = (uint32_t)gid;
	if (archive_entry_mtime_is_set(e)) {
		a->mtime = archive_entry_mtime(e);
		a->mtime_ns = (uint32_t)archive_entry_mtime_nsec(e);
		if (a->mtime_ns >= 1000000000u)
			a->mtime_ns = 0;
	}
	if (S_ISCHR(a->mode) || S_ISBLK(a->mode))
		a->rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	if (S_ISLNK(a->mode)) {
		a->link = archive_entry_symlink(e);
		if (!a->link || !*a->link)
			return lm_errf(im->err, -EINVAL, "entry '%s': refused: a symlink without a target",
				       imp_quote(name, q));
	}
	return 0;
}

static int tar_xattrs(struct imp *im, struct archive_entry *e, const char *path)
{
	const char *name;
	const void *val;
	size_t len;
	int rc;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK) {
		if (!name || imp_xattr_private(name))
			continue;
		rc = imp_xattr(im, path, name, val ? val : "", val ? len : 0);
		if (rc)
			return rc;
	}
	return 0;
}

/* The error libarchive gave, on one line. */
static const char *arc_error(struct archive *a, char *out)
{
	const char *s = archive_error_string(a);

	return imp_quote(s ? s : "unreadable archive", out);
}

/* Copies the data of the regular file entry @path, of declared size
 * @size, sparse holes as zeros. */
static int tar_data(struct imp *im, struct archive *a, const char *path, uint64_t size)
{
	char q[IMP_QUOTE + 4], why[IMP_QUOTE + 4];
	uint64_t at = 0;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r, rc;

	for (;;) {
		r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			/* A signal breaks libarchive's read: say why it stopped. */
			rc = imp_stopped(im);
			return rc ? rc : lm_errf(im->err, -EINVAL, "entry '%s': refused: %s",
						 imp_quote(path, q), arc_error(a, why));
		}
		if (off < 0 || (uint64_t)off < at || (uint64_t)off > size ||
		    len > size - (uint64_t)off)
			return lm_errf(im->err, -EINVAL,
				       "entry '%s': refused: data beyond its size of %llu bytes",
				       imp_quote(path, q), (unsigned long long)size);
		rc = imp_zeros(im, path, (uint64_t)off - at);
		if (!rc && len)
			rc = imp_data(im, path, buf, len);
		if (rc)
			return rc;
		at = (uint64_t)off + len;
		im->prog.read = (uint64_t)archive_filter_bytes(a, -1);
		imp_tick(im);
	}
	return imp_zeros(im, path, size - at);
}

static int tar_entry(struct imp *im, struct archive *a, struct archive_entry *e,
		     const char *raw)
{
	char path[LM_IMPORT_PATH_MAX + 1], target[LM_IMPORT_PATH_MAX + 1], q[IMP_QUOTE + 4];
	const char *hl = archive_entry_hardlink(e);
	struct lm_sealed_attr at;
	la_int64_t size = archive_entry_size(e);
	bool abs;
	int rc = clean_path(im, raw, NULL, path, &abs);

	if (rc)
		return rc;
	im->r->stripped += abs;
	rc = imp_marker(im, path);
	if (rc)
		return rc < 0 ? rc : 0;
	if (hl) {
		rc = clean_path(im, hl, raw, target, &abs);
		if (rc == 0 && !*target)
			rc = lm_errf(im->err, -EINVAL, "entry '%s': refused: a hard link to the root",
				     imp_quote(raw, q));
		return rc ? rc : imp_link(im, path, target);
	}
	rc = tar_attr(im, e, raw, &at);
	if (rc)
		return rc;
	if (!*path && !S_ISDIR(at.mode))
		return lm_errf(im->err, -EINVAL, "entry '%s': refused: the root is not a directory",
			       imp_quote(raw, q));
	switch (at.mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK: case S_IFIFO:
		break;
	default:
		return lm_errf(im->err, -EINVAL, "entry '%s': refused: an unknown file type",
			       imp_quote(raw, q));
	}
	if (S_ISREG(at.mode) && (size < 0 || (uint64_t)size > LM_IMPORT_FILE_MAX))
		return lm_errf(im->err, -EINVAL,
			       "entry '%s': refused: a size of %lld bytes (at most %llu)",
			       imp_quote(raw, q), (long long)size,
			       (unsigned long long)LM_IMPORT_FILE_MAX);
	rc = imp_add(im, path, &at);
	if (rc == 0)
		rc = tar_xattrs(im, e, path);
	if (rc == 0 && S_ISREG(at.mode))
		rc = tar_data(im, a, path, (uint64_t)size);
	return rc;
}

/* ---- the archive ------------------------------------------------------ */

static int tar_walk(struct imp *im, struct archive *a, const char *what)
{
	char last[IMP_QUOTE + 4] = "", why[IMP_QUOTE + 4];
	struct archive_entry *e;
	int r, rc = 0;

	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = imp_stopped(im);
			if (rc)
				return rc;
			if (last[0])
				return lm_errf(im->err, -EINVAL,
					       "%s: refused: the archive is damaged or truncated after entry '%s': %s",
					       what, last, arc_error(a, why));
			return lm_errf(im->err, -EINVAL,
				       "%s: refused: not a readable layer tarball: %s", what,
				       arc_error(a, why));
		}
		if (!archive_entry_pathname(e))
			return lm_errf(im->err, -EINVAL,
				       "%s: refused: an entry without a name after '%s'", what, last);
		if (archive_entry_filetype(e) == AE_IFSOCK) {
			im->r->skipped++;
			continue;
		}
		imp_quote(archive_entry_pathname(e), last);
		rc = tar_entry(im, a, e, archive_entry_pathname(e));
		if (rc)
			return rc;
		im->prog.read = (uint64_t)archive_filter_bytes(a, -1);
	}
	return 0;
}

/* Reads the archive from @fd (or @src's memory when @fd < 0). */
static int import_archive(struct imp *im, const struct lm_import_src *src, int fd,
			  const char *what)
{
	struct archive *a = archive_read_new();
	char why[IMP_QUOTE + 4];
	int rc;

	if (!a)
		return lm_errf(im->err, -ENOMEM, "out of memory");
	/* The compressions OCI layers use, each decoded by a library linked
	 * into libarchive: never "all", which may run an outside program
	 * (lrzip, lzop, grzip) on hostile input. */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_lz4(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_format_empty(a);
	if (fd >= 0)
		rc = archive_read_open_fd(a, fd, 256 * 1024);
	else
		rc = archive_read_open_memory(a, src->mem, src->mem_len);
	if (rc != ARCHIVE_OK)
		rc = lm_errf(im->err, -EINVAL, "%s: refused: not a readable layer tarball: %s",
			     what, arc_error(a, why));
	else
		rc = tar_walk(im, a, what);
	archive_read_free(a);
	return rc;
}

/* Opens the source; *fd is -1 for memory, 0 for stdin. *st is its stat. */
static int source_open(struct imp *im, const struct lm_import_src *src, int *fd,
		       struct stat *st)
{
	char q[IMP_QUOTE + 4];

	memset(st, 0, sizeof(*st));
	*fd = -1;
	if (!src->path)
		return 0;
	if (!strcmp(src->path, "-")) {
		*fd = STDIN_FILENO;
		if (fstat(*fd, st) == 0 && S_ISREG(st->st_mode))
			im->prog.total = (uint64_t)st->st_size;
		st->st_mtime = 0;   /* a pipe's mtime says nothing of its data */
		return 0;
	}
	*fd = open(src->path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, st) < 0) {
		int rc = -errno;

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return lm_errf(im->err, rc == -ENOENT ? -ENOENT : rc, "cannot open %s: %s",
			       imp_quote(src->path, q), strerror(-rc));
	}
	if (S_ISREG(st->st_mode))
		im->prog.total = (uint64_t)st->st_size;
	return 0;
}

/* A plain layer's id and time when the caller gave none: derived from
 * the source, so that one tarball makes one digest. */
static void plain_defaults(struct lm_sealed_build_opts *b, const struct stat *st,
			   unsigned char *id)
{
	unsigned char in[24] = "lamina.plain-layer";

	if (b->dek)
		return;
	if (!b->created)
		b->created = st->st_mtime > 0 ? (uint64_t)st->st_mtime : (uint64_t)time(NULL);
	if (!b->layer_id) {
		for (int i = 0; i < 8; i++)
			in[16 + i] = (unsigned char)(b->created >> (8 * i));
		lm_hash(id, LM_OBJECT_ID_BYTES, in, sizeof(in), NULL, 0);
		b->layer_id = id;
	}
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int import_source(struct imp *im, int outfd, const struct lm_import_src *src)
{
	struct lm_sealed_build_opts bo = im->o->build;
	unsigned char id[LM_OBJECT_ID_BYTES];
	char what[IMP_QUOTE + 4];
	struct stat st;
	int fd, rc = source_open(im, src, &fd, &st);

	if (rc)
		return rc;
	imp_quote(src->path ? src->path : "archive", what);
	plain_defaults(&bo, &st, id);
	rc = lm_sealed_build_new(outfd, &bo, &im->b, im->err);
	if (rc == 0 && fd >= 0 && S_ISDIR(st.st_mode))
		rc = imp_dir(im, fd);
	else if (rc == 0)
		rc = import_archive(im, src, fd, what);
	if (rc == 0)
		rc = imp_stopped(im);
	if (rc == 0)
		rc = lm_sealed_build_finish(im->b, im->r->digest, im->err);
	if (rc == 0)
		lm_sealed_build_stats(im->b, &im->r->stats);
	if (fd > STDIN_FILENO)
		close(fd);
	return rc;
}

int lm_layer_import_fd(int fd, const struct lm_import_src *src,
		       const struct lm_import_opts *o, struct lm_import_result *r,
		       struct lm_err *err)
{
	struct imp im = { .o = o, .r = r, .err = err };
	double t0 = now_seconds();
	struct stat st;
	int rc;

	memset(r, 0, sizeof(*r));
	im.buf = malloc(IMP_BUF);
	if (!im.buf)
		return lm_errf(err, -ENOMEM, "out of memory");
	rc = import_source(&im, fd, src);
	/* Messages quote archive names and libarchive's words: one line. */
	for (char *p = err ? err->msg : NULL; rc && p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (rc == 0 && fstat(fd, &st) == 0)
		r->size = (uint64_t)st.st_size;
	r->seconds = now_seconds() - t0;
	lm_sealed_build_free(im.b);
	lm_strmap_release(&im.seen);
	lm_strmap_release(&im.links);
	free(im.buf);
	return rc;
}

/* ---- into the store --------------------------------------------------- */

/* The builder's run and the slot file of an encrypted layer, into the
 * temporary file @fd; then the rename. */
static int import_commit(struct lm_store *st, const struct lm_tenant *t, int dfd,
			 int fd, const char *tmp, const struct lm_import_src *src,
			 struct lm_import_opts *o, struct lm_import_result *r,
			 struct lm_err *err)
{
	char slot[LM_SEALED_SLOT_NAME_MAX];
	int rc = lm_layer_import_fd(fd, src, o, r, err);

	if (rc)
		return rc;
	if (t) {
		lm_sealed_slot_name(o->build.layer_id, slot);
		rc = lm_slotfile_create(st, slot, t, o->build.dek, err);
		if (rc)
			return rc;
	}
	rc = lm_sealed_tmp_commit(dfd, fd, tmp, r->digest);
	if (rc < 0)
		lm_errf(err, rc, "cannot put layer %s in %s/%s: %s", r->digest, st->path,
			LM_SEALED_STORE_DIR, strerror(-rc));
	r->existed = rc == 1;
	if (t && rc)
		(void)lm_slotfile_remove(st, slot, NULL);
	return rc < 0 ? rc : 0;
}

static void audit(struct lm_store *st, const struct lm_tenant *t,
		  const struct lm_import_src *src, const struct lm_import_result *r, int rc,
		  const struct lm_err *err)
{
	char detail[LM_AUDIT_DETAIL_MAX], q[IMP_QUOTE + 4], what[96];

	if (rc)
		snprintf(detail, sizeof(detail), "%s", err->msg);
	else
		snprintf(detail, sizeof(detail), "from %s: %llu entries, %llu bytes%s",
			 imp_quote(src->path ? src->path : "memory", q),
			 (unsigned long long)r->stats.entries,
			 (unsigned long long)r->stats.bytes_in,
			 r->existed ? ", already in the store" : "");
	snprintf(what, sizeof(what), "layer %s", rc ? "-" : r->digest);
	lm_audit_log(st, "layer.import", t ? lm_tenant_name(t) : NULL, what, rc, detail);
}

int lm_layer_import(struct lm_store *st, const struct lm_tenant *t,
		    const struct lm_import_src *src, const struct lm_import_opts *o,
		    struct lm_import_result *r, struct lm_err *err)
{
	struct lm_import_opts own = *o;
	unsigned char id[LM_OBJECT_ID_BYTES], *dek = NULL;
	char tmp[LM_SEALED_TMP_NAME_MAX];
	int dfd, fd, rc;

	memset(r, 0, sizeof(*r));
	if (t) {
		dek = lm_secret_alloc(LM_KEY_BYTES);
		if (!dek)
			return lm_errf(err, -ENOMEM, "cannot allocate secret memory");
		lm_kdf_new_dek(dek);
		lm_crypt_random(id, sizeof(id));
		own.build.dek = dek;
		own.build.tenant = lm_tenant_name(t);
		own.build.layer_id = id;
	}
	dfd = lm_store_dir(st, LM_SEALED_STORE_DIR, true);
	if (dfd < 0) {
		rc = lm_errf(err, dfd, "cannot open %s/%s: %s", st->path,
			     LM_SEALED_STORE_DIR, strerror(-dfd));
		goto out_dek;
	}
	fd = lm_sealed_tmp_create(dfd, tmp, sizeof(tmp));
	if (fd < 0) {
		rc = lm_errf(err, fd, "cannot create a file in %s/%s: %s", st->path,
			     LM_SEALED_STORE_DIR, strerror(-fd));
		goto out_dir;
	}
	rc = import_commit(st, t, dfd, fd, tmp, src, &own, r, err);
	/* On success the name is gone (renamed) or a duplicate's. Removed
	 * before the close ends its lock, so no cleaner races us to it. */
	unlinkat(dfd, tmp, 0);
	close(fd);
	audit(st, t, src, r, rc, err);
out_dir:
	close(dfd);
out_dek:
	lm_secret_free(dek);
	return rc;
}
