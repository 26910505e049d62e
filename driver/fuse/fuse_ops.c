/* The libfuse low-level operations: a thin adapter from FUSE requests to
 * the overlay. Node ids are lm_node pointers (the root is FUSE_ROOT_ID);
 * file handles are lm_file pointers; directory handles are snapshots.
 * Errors arrive as -errno and are negated here, once. */
#define FUSE_USE_VERSION 314
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fuse/fuse_ops.h"
#include "fuse/fuse_uring.h"

#define MAX_WRITE LM_FUSE_MAX_WRITE

static struct lm_fs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct lm_node *N(struct lm_fs *fs, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? lm_ovl_root(fs->ovl) : (struct lm_node *)(uintptr_t)ino;
}

static fuse_ino_t I(struct lm_fs *fs, struct lm_node *n)
{
	return n == lm_ovl_root(fs->ovl) ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

static struct lm_file *F(struct fuse_file_info *fi)
{
	return (struct lm_file *)(uintptr_t)fi->fh;
}

static void fill_entry(struct lm_fs *fs, struct fuse_entry_param *e, struct lm_node *n,
		       const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->ino = I(fs, n);
	e->attr = *st;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
}

static void reply_entry(fuse_req_t req, struct lm_node *n, const struct stat *st, int rc)
{
	struct lm_fs *fs = FS(req);
	struct fuse_entry_param e;

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fill_entry(fs, &e, n, st);
	if (fuse_reply_entry(req, &e))
		lm_ovl_forget(fs->ovl, n, 1);
}

static void lm_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct lm_fs *fs = userdata;

	conn->max_write = MAX_WRITE;
	conn->max_readahead = MAX_WRITE;
	/* The kernel keeps the smaller of this and the device's read-ahead,
	 * which laminafs set before INIT (laminafs.c). */
	if (fs->readahead_kb > MAX_WRITE / 1024)
		conn->max_readahead = fs->readahead_kb * 1024u;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (fs->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (fs->uring)
		lm_fuse_uring_on_init(fs->uring);
}

/* How many directories to answer in full once the caller showed it stats
 * files (tar, ls -l, du); one in this many is probed again. */
#define RDP_FULL_RUN 64

static bool rdp_is_probe(struct lm_fs *fs, fuse_ino_t dir)
{
	for (size_t i = 0; i < sizeof(fs->rdp_probe) / sizeof(fs->rdp_probe[0]); i++)
		if (atomic_load(&fs->rdp_probe[i]) == dir)
			return true;
	return false;
}

static void rdp_add_probe(struct lm_fs *fs, fuse_ino_t dir)
{
	unsigned i = atomic_fetch_add(&fs->rdp_probe_next, 1);

	atomic_store(&fs->rdp_probe[i % (sizeof(fs->rdp_probe) / sizeof(fs->rdp_probe[0]))], dir);
}

static void lm_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lm_fs *fs = FS(req);
	struct lm_node *n;
	struct stat st;
	int rc = lm_ovl_lookup(fs->ovl, N(fs, parent), name, &n, &st);

	/* A file of a directory just listed without file attributes: the
	 * caller stats files, so list the next directories in full. */
	if (rc == 0 && !S_ISDIR(st.st_mode) && atomic_load(&fs->rdp_full_left) == 0 &&
	    rdp_is_probe(fs, parent))
		atomic_store(&fs->rdp_full_left, RDP_FULL_RUN);

	if (rc == -ENOENT) {
		/* Cache the miss: nothing changes below the mount. */
		struct fuse_entry_param e = { .entry_timeout = fs->timeout };

		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, n, &st, rc);
}

static void lm_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct lm_fs *fs = FS(req);

	lm_ovl_forget(fs->ovl, N(fs, ino), nlookup);
	fuse_reply_none(req);
}

static void lm_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fv)
{
	struct lm_fs *fs = FS(req);

	for (size_t i = 0; i < count; i++)
		lm_ovl_forget(fs->ovl, N(fs, fv[i].ino), fv[i].nlookup);
	fuse_reply_none(req);
}

static void lm_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lm_fs *fs = FS(req);
	struct lm_node *n = N(fs, ino);
	struct stat st;
	int rc;

	if (fi && fi->fh) {
		rc = F(fi)->ops->fstat(F(fi), &st);
		if (rc == 0)
			lm_ovl_fix_stat(fs->ovl, n, &st);
	} else {
		rc = lm_ovl_getattr(fs->ovl, n, &st);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

static void lm_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	struct lm_fs *fs = FS(req);
	struct lm_setattr sa = { 0 };
	struct stat st;
	int rc;

	if (to_set & FUSE_SET_ATTR_MODE) {
		sa.valid |= LM_SET_MODE;
		sa.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa.valid |= LM_SET_UID;
		sa.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa.valid |= LM_SET_GID;
		sa.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		sa.valid |= LM_SET_SIZE;
		sa.size = attr->st_size;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		sa.valid |= LM_SET_ATIME;
		sa.atime = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			sa.atime.tv_nsec = UTIME_NOW;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		sa.valid |= LM_SET_MTIME;
		sa.mtime = attr->st_mtim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			sa.mtime.tv_nsec = UTIME_NOW;
	}
	rc = lm_ovl_setattr(fs->ovl, N(fs, ino), &sa, fi && fi->fh ? F(fi) : NULL, &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

static void lm_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct lm_fs *fs = FS(req);
	char buf[PATH_MAX + 1];
	ssize_t n = lm_ovl_readlink(fs->ovl, N(fs, ino), buf, sizeof(buf) - 1);

	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

static struct lm_ctx req_ctx(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct lm_ctx ctx = { .uid = c->uid, .gid = c->gid };

	return ctx;
}

static void lm_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			dev_t rdev)
{
	struct lm_fs *fs = FS(req);
	struct lm_ctx ctx = req_ctx(req);
	struct lm_node *n = NULL;
	struct stat st;
	int rc = lm_ovl_mknod(fs->ovl, N(fs, parent), name, mode, rdev, &ctx, &n, &st);

	reply_entry(req, n, &st, rc);
}

static void lm_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct lm_fs *fs = FS(req);
	struct lm_ctx ctx = req_ctx(req);
	struct lm_node *n = NULL;
	struct stat st;
	int rc = lm_ovl_mkdir(fs->ovl, N(fs, parent), name, mode, &ctx, &n, &st);

	reply_entry(req, n, &st, rc);
}

static void lm_op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
			  const char *name)
{
	struct lm_fs *fs = FS(req);
	struct lm_ctx ctx = req_ctx(req);
	struct lm_node *n = NULL;
	struct stat st;
	int rc = lm_ovl_symlink(fs->ovl, N(fs, parent), name, target, &ctx, &n, &st);

	reply_entry(req, n, &st, rc);
}

static void lm_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	struct lm_fs *fs = FS(req);
	struct lm_node *n = NULL;
	struct stat st;
	int rc = lm_ovl_link(fs->ovl, N(fs, ino), N(fs, parent), name, &n, &st);

	reply_entry(req, n, &st, rc);
}

static void lm_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lm_fs *fs = FS(req);

	fuse_reply_err(req, -lm_ovl_unlink(fs->ovl, N(fs, parent), name));
}

static void lm_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lm_fs *fs = FS(req);

	fuse_reply_err(req, -lm_ovl_rmdir(fs->ovl, N(fs, parent), name));
}

static void lm_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct lm_fs *fs = FS(req);

	fuse_reply_err(req, -lm_ovl_rename(fs->ovl, N(fs, parent), name, N(fs, newparent),
					   newname, flags));
}

/* Flags for the host open: the kernel does O_DIRECT and, with a writeback
 * cache, O_APPEND itself, and may then read through a write-only handle. */
static int host_flags(struct lm_fs *fs, int flags)
{
	flags &= ~O_DIRECT;
	if (fs->writeback) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags;
}

static void lm_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct lm_fs *fs = FS(req);
	struct lm_ctx ctx = req_ctx(req);
	struct fuse_entry_param e;
	struct lm_file *f = NULL;
	struct lm_node *n = NULL;
	struct stat st;
	int rc = lm_ovl_create(fs->ovl, N(fs, parent), name, mode, host_flags(fs, fi->flags),
			       &ctx, &n, &st, &f);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 1;
	fi->noflush = 1;
	fill_entry(fs, &e, n, &st);
	lm_ovl_file_attach(fs->ovl, n, f); /* best effort: only fstat after unlink needs it */
	if (fuse_reply_create(req, &e, fi)) {
		lm_ovl_file_detach(fs->ovl, n, f);
		f->ops->close(f);
		lm_ovl_forget(fs->ovl, n, 1);
	}
}

static void lm_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lm_fs *fs = FS(req);
	struct lm_file *f;
	bool from_lower;
	int rc = lm_ovl_open(fs->ovl, N(fs, ino), host_flags(fs, fi->flags), &f, &from_lower);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)f;
	/* Layers never change under the mount and the upper changes only
	 * through it, so the page cache stays valid across opens. */
	fi->keep_cache = 1;
	fi->noflush = 1; /* flush has nothing to do: close needs no round trip */
	lm_ovl_file_attach(fs->ovl, N(fs, ino), f);
	if (fuse_reply_open(req, fi)) {
		lm_ovl_file_detach(fs->ovl, N(fs, ino), f);
		f->ops->close(f);
	}
}

static void lm_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct lm_file *f = F(fi);
	ssize_t n;
	char *buf;

	(void)ino;
	/* Served from an io_uring queue: read straight into the reply. */
	buf = lm_fuse_uring_reply_buf(size);
	if (buf) {
		n = f->ops->pread(f, buf, size, off);
		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			fuse_reply_buf(req, buf, (size_t)n);
		return;
	}
	if (f->fd >= 0) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = f->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = f->ops->pread(f, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void lm_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			    struct fuse_file_info *fi)
{
	struct lm_file *f = F(fi);
	size_t size = fuse_buf_size(in);
	ssize_t n;

	(void)ino;
	if (f->fd >= 0) {
		struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);

		out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		out.buf[0].fd = f->fd;
		out.buf[0].pos = off;
		n = fuse_buf_copy(&out, in, 0);
	} else {
		char *buf = malloc(size);
		struct fuse_bufvec mem = FUSE_BUFVEC_INIT(size);

		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		mem.buf[0].mem = buf;
		n = fuse_buf_copy(&mem, in, 0);
		if (n >= 0)
			n = f->ops->pwrite(f, buf, (size_t)n, off);
		free(buf);
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void lm_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void lm_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lm_fs *fs = FS(req);

	lm_ovl_file_detach(fs->ovl, N(fs, ino), F(fi));
	F(fi)->ops->close(F(fi));
	fuse_reply_err(req, 0);
}

static void lm_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, -lm_ovl_fsync(FS(req)->ovl, F(fi), datasync != 0));
}

static void lm_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			    struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, -F(fi)->ops->fallocate(F(fi), mode, off, len));
}

static void lm_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	off_t r = F(fi)->ops->lseek(F(fi), off, whence);

	(void)ino;
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_lseek(req, r);
}

static void lm_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lm_fs *fs = FS(req);
	struct lm_dirsnap *ds;
	int rc = lm_ovl_opendir(fs->ovl, N(fs, ino), &ds);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)ds;
	fi->keep_cache = 1;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi))
		lm_ovl_dirsnap_free(ds);
}

/* Whether this readdirplus should carry the attributes of files too.
 * Each one costs a stat of a cold inode in the daemon and a new inode in
 * the kernel, which a walk like find never uses; tar or ls -l would
 * otherwise look every file up, one round trip each. So: answer with
 * subdirectories' attributes only and watch for lookups of the files. */
static bool rdp_files_wanted(struct lm_fs *fs, fuse_ino_t ino, off_t off)
{
	int left;

	if (off != 0) /* the rest of a listing answers as its start did */
		return !rdp_is_probe(fs, ino);
	left = atomic_load(&fs->rdp_full_left);
	while (left > 0 && !atomic_compare_exchange_weak(&fs->rdp_full_left, &left, left - 1))
		;
	if (left > 0)
		return true;
	rdp_add_probe(fs, ino);
	return false;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct lm_fs *fs = FS(req);
	struct lm_dirsnap *ds = (struct lm_dirsnap *)(uintptr_t)fi->fh;
	struct lm_node *dir = N(fs, ino);
	char *buf = malloc(size), *p = buf;
	size_t rem = size;
	bool files = plus && rdp_files_wanted(fs, ino, off);

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < ds->n; i++) {
		struct lm_dirent *de = &ds->v[i];
		struct fuse_entry_param e;
		struct lm_node *n = NULL;
		size_t len;

		memset(&e, 0, sizeof(e));
		e.attr.st_ino = de->ino;
		e.attr.st_mode = de->dtype << 12;
		if (!plus) {
			len = fuse_add_direntry(req, p, rem, de->name, &e.attr, (off_t)i + 1);
		} else {
			/* An entry without a node id only gives the name. */
			if (i >= 2 && (files || de->dtype == DT_DIR || de->dtype == DT_UNKNOWN)) {
				struct stat st;

				if (lm_ovl_lookup(fs->ovl, dir, de->name, &n, &st))
					continue; /* gone since opendir */
				fill_entry(fs, &e, n, &st);
			}
			len = fuse_add_direntry_plus(req, p, rem, de->name, &e, (off_t)i + 1);
		}
		if (len > rem) {
			if (n)
				lm_ovl_forget(fs->ovl, n, 1);
			break;
		}
		p += len;
		rem -= len;
	}
	fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void lm_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void lm_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void lm_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	lm_ovl_dirsnap_free((struct lm_dirsnap *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void lm_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			   struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void lm_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int rc = lm_ovl_statfs(FS(req)->ovl, &sv);

	(void)ino;
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_statfs(req, &sv);
}

static void lm_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			   size_t size, int flags)
{
	struct lm_fs *fs = FS(req);

	fuse_reply_err(req, -lm_ovl_setxattr(fs->ovl, N(fs, ino), name, value, size, flags));
}

/* getxattr and listxattr share the size-probe protocol. */
static void reply_xattr(fuse_req_t req, ssize_t n, const char *buf, size_t size)
{
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void lm_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct lm_fs *fs = FS(req);
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = lm_ovl_getxattr(fs->ovl, N(fs, ino), name, buf, size);
	reply_xattr(req, n, buf, size);
	free(buf);
}

static void lm_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct lm_fs *fs = FS(req);
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = lm_ovl_listxattr(fs->ovl, N(fs, ino), buf, size);
	reply_xattr(req, n, buf, size);
	free(buf);
}

static void lm_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct lm_fs *fs = FS(req);

	fuse_reply_err(req, -lm_ovl_removexattr(fs->ovl, N(fs, ino), name));
}

static const struct fuse_lowlevel_ops lm_ops = {
	.init = lm_op_init,
	.lookup = lm_op_lookup,
	.forget = lm_op_forget,
	.forget_multi = lm_op_forget_multi,
	.getattr = lm_op_getattr,
	.setattr = lm_op_setattr,
	.readlink = lm_op_readlink,
	.mknod = lm_op_mknod,
	.mkdir = lm_op_mkdir,
	.symlink = lm_op_symlink,
	.link = lm_op_link,
	.unlink = lm_op_unlink,
	.rmdir = lm_op_rmdir,
	.rename = lm_op_rename,
	.create = lm_op_create,
	.open = lm_op_open,
	.read = lm_op_read,
	.write_buf = lm_op_write_buf,
	.flush = lm_op_flush,
	.release = lm_op_release,
	.fsync = lm_op_fsync,
	.fallocate = lm_op_fallocate,
	.lseek = lm_op_lseek,
	.opendir = lm_op_opendir,
	.readdir = lm_op_readdir,
	.readdirplus = lm_op_readdirplus,
	.releasedir = lm_op_releasedir,
	.fsyncdir = lm_op_fsyncdir,
	.statfs = lm_op_statfs,
	.setxattr = lm_op_setxattr,
	.getxattr = lm_op_getxattr,
	.listxattr = lm_op_listxattr,
	.removexattr = lm_op_removexattr,
};

const struct fuse_lowlevel_ops *lm_fuse_ops(void)
{
	return &lm_ops;
}
