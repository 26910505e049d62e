/* The plain directory layer: what containers-storage hands fuse-overlayfs.
 *
 * Whiteouts are read as character devices 0/0 or ".wh.NAME" files and
 * written as 0/0 devices, falling back to ".wh.NAME" files where mknod is
 * refused. Opaque directories are read from trusted.overlay.opaque,
 * user.overlay.opaque or a ".wh..wh..opq" file, and written in the first
 * spelling the host accepts.
 *
 * Every path is resolved relative to the root descriptor opened at mount
 * time, never through the original path (podman detaches the lower mounts
 * once the mount program has returned). xattr calls have no *at form, so
 * they go through /proc/self/fd/ROOT/PATH.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <linux/fs.h>
#include <unistd.h>

#include "layer.h"

struct lm_dirlayer {
	struct lm_layer base;
	int rootfd;
	int workfd;              /* -1 for read-only layers */
	bool durable;
	atomic_bool no_mknod;    /* mknod refused once: write .wh. files */
	atomic_int opaque_how;   /* 0 trusted xattr, 1 user xattr, 2 .wh..wh..opq */
	atomic_ulong tmpseq;
};

#define DL(l) ((struct lm_dirlayer *)(l))
#define PROC_PATH_MAX (PATH_MAX + 64)

static const char *const private_xattr_prefixes[] = {
	"trusted.overlay.", "user.overlay.", "trusted.lamina.", "user.lamina.",
};

bool lm_xattr_is_private(const char *name)
{
	for (size_t i = 0; i < sizeof(private_xattr_prefixes) / sizeof(*private_xattr_prefixes); i++)
		if (strncmp(name, private_xattr_prefixes[i], strlen(private_xattr_prefixes[i])) == 0)
			return true;
	return false;
}

static int proc_path(int fd, const char *path, char *buf)
{
	int n = snprintf(buf, PROC_PATH_MAX, "/proc/self/fd/%d/%s", fd, path);

	return (n < 0 || n >= PROC_PATH_MAX) ? -ENAMETOOLONG : 0;
}

/* ---- long paths ----
 * A path inside a layer may be longer than PATH_MAX (a deep tree), which no
 * system call takes. lm_at resolves it into a directory descriptor and a
 * remainder short enough for any *at call and for a /proc/self/fd path. */
#define AT_LIMIT (PATH_MAX - 64)

struct lm_at {
	struct lm_dirlayer *d;
	int fd;            /* the root descriptor, or one owned here */
	const char *rel;   /* borrowed from the path */
};

static void at_release(struct lm_at *a)
{
	if (a->fd >= 0 && a->fd != a->d->rootfd)
		close(a->fd);
}

static int at_resolve(struct lm_dirlayer *d, const char *path, struct lm_at *a)
{
	char chunk[AT_LIMIT];

	a->d = d;
	a->fd = d->rootfd;
	a->rel = path;
	while (strlen(a->rel) >= AT_LIMIT) {
		const char *cut = memrchr(a->rel, '/', AT_LIMIT - 1);
		int nfd;

		if (!cut || cut == a->rel)
			return -ENAMETOOLONG;
		memcpy(chunk, a->rel, (size_t)(cut - a->rel));
		chunk[cut - a->rel] = '\0';
		nfd = openat(a->fd, chunk, O_PATH | O_DIRECTORY | O_CLOEXEC);
		at_release(a);
		if (nfd < 0) {
			a->fd = -1;
			return -errno;
		}
		a->fd = nfd;
		a->rel = cut + 1;
	}
	return 0;
}

/* Declares A resolved from PATH, released at the end of the scope; returns
 * the error from the enclosing function when PATH cannot be resolved. */
#define AT(a, d, path)                                                        \
	struct lm_at a __attribute__((cleanup(at_release))) = { (d), -1, NULL }; \
	do {                                                                  \
		int at_rc_ = at_resolve((d), (path), &a);                     \
		if (at_rc_)                                                   \
			return at_rc_;                                        \
	} while (0)

int lm_layer_dir_at(struct lm_layer *l, const char *path, int *fd, const char **rel)
{
	struct lm_at a;
	int rc = at_resolve(DL(l), path, &a);

	*fd = a.fd;
	*rel = a.rel;
	return rc;
}

void lm_layer_dir_at_release(struct lm_layer *l, int fd)
{
	struct lm_at a = { DL(l), fd, NULL };

	at_release(&a);
}

static bool is_whiteout_stat(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static int wh_path(char *buf, size_t size, const char *path)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (slash)
		n = snprintf(buf, size, "%.*s/" LM_WH_PREFIX "%s", (int)(slash - path), path, slash + 1);
	else
		n = snprintf(buf, size, LM_WH_PREFIX "%s", path);
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

static bool xattr_is_y(const char *ppath, const char *name)
{
	char v[2];

	return lgetxattr(ppath, name, v, sizeof(v)) == 1 && v[0] == 'y';
}

static bool dir_is_opaque(int fd, const char *rel)
{
	char pp[PROC_PATH_MAX], sub[PATH_MAX];
	struct stat st;

	if (proc_path(fd, rel, pp) == 0 &&
	    (xattr_is_y(pp, "trusted.overlay.opaque") || xattr_is_y(pp, "user.overlay.opaque")))
		return true;
	return lm_path_join(sub, sizeof(sub), rel, LM_WH_OPAQUE) == 0 &&
	       fstatat(fd, sub, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int dir_lookup(struct lm_layer *l, const char *dir, const char *name,
		      bool want_opaque, struct lm_lentry *out)
{
	struct lm_dirlayer *d = DL(l);
	char path[LM_PATH_MAX], wh[PATH_MAX];
	struct stat st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = lm_path_join(path, sizeof(path), dir, name);
	if (rc)
		return rc;
	AT(a, d, path);
	if (fstatat(a.fd, a.rel, &out->st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (is_whiteout_stat(&out->st)) {
			out->kind = LM_ENT_WHITEOUT;
			return 0;
		}
		out->kind = LM_ENT_OBJ;
		if (want_opaque && S_ISDIR(out->st.st_mode))
			out->opaque = dir_is_opaque(a.fd, a.rel);
		return 0;
	}
	if (errno != ENOENT && errno != ENOTDIR)
		return -errno;
	/* A ".wh.NAME" whose name would be too long cannot exist. */
	if (wh_path(wh, sizeof(wh), a.rel) == 0 && strlen(name) + LM_WH_PREFIX_LEN <= NAME_MAX &&
	    fstatat(a.fd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0)
		out->kind = LM_ENT_WHITEOUT;
	return 0;
}

static int dir_getattr(struct lm_layer *l, const char *path, struct stat *st)
{
	AT(a, DL(l), path);
	return fstatat(a.fd, a.rel, st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int dir_iterate(struct lm_layer *l, const char *dir, lm_iter_fn fn, void *ctx, bool *opaque)
{
	struct lm_dirlayer *d = DL(l);
	struct dirent *de;
	struct stat st;
	DIR *dp;
	int fd, rc = 0;

	AT(a, d, dir);
	fd = openat(a.fd, a.rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (opaque) {
		char v[2];

		*opaque = (fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y') ||
			  (fgetxattr(fd, "user.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y');
	}
	dp = fdopendir(fd);
	if (!dp) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((errno = 0, de = readdir(dp)) != NULL) {
		const char *n = de->d_name;
		enum lm_ent_kind kind = LM_ENT_OBJ;

		if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
			continue;
		if (strcmp(n, LM_WH_OPAQUE) == 0) {
			if (opaque)
				*opaque = true;
			continue;
		}
		if (strncmp(n, LM_WH_PREFIX, LM_WH_PREFIX_LEN) == 0) {
			n += LM_WH_PREFIX_LEN;
			kind = LM_ENT_WHITEOUT;
		} else if (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN) {
			if (fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && is_whiteout_stat(&st))
				kind = LM_ENT_WHITEOUT;
		}
		rc = fn(ctx, n, kind, de->d_type, de->d_ino);
		if (rc)
			break;
	}
	if (!de && errno)
		rc = -errno;
	closedir(dp);
	return rc;
}

/* ---- open files ---- */

static ssize_t fd_pread(struct lm_file *f, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(f->fd, buf, len, off);

	return n < 0 ? -errno : n;
}

static ssize_t fd_pwrite(struct lm_file *f, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(f->fd, buf, len, off);

	return n < 0 ? -errno : n;
}

static int fd_fsync(struct lm_file *f, bool datasync)
{
	return (datasync ? fdatasync(f->fd) : fsync(f->fd)) ? -errno : 0;
}

static int fd_fallocate(struct lm_file *f, int mode, off_t off, off_t len)
{
	return fallocate(f->fd, mode, off, len) ? -errno : 0;
}

static off_t fd_lseek(struct lm_file *f, off_t off, int whence)
{
	off_t r = lseek(f->fd, off, whence);

	return r < 0 ? -errno : r;
}

static int fd_fstat(struct lm_file *f, struct stat *st)
{
	return fstat(f->fd, st) ? -errno : 0;
}

static int fd_ftruncate(struct lm_file *f, off_t size)
{
	return ftruncate(f->fd, size) ? -errno : 0;
}

static void fd_close(struct lm_file *f)
{
	close(f->fd);
	free(f);
}

static const struct lm_file_ops fd_file_ops = {
	.pread = fd_pread,
	.pwrite = fd_pwrite,
	.fsync = fd_fsync,
	.fallocate = fd_fallocate,
	.lseek = fd_lseek,
	.fstat = fd_fstat,
	.ftruncate = fd_ftruncate,
	.close = fd_close,
};

static int dir_open(struct lm_layer *l, const char *path, int flags, mode_t mode,
		    uid_t uid, gid_t gid, struct lm_file **out)
{
	struct lm_file *f;
	int fd, rc;

	AT(a, DL(l), path);
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	fd = openat(a.fd, a.rel, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		free(f);
		return rc;
	}
	if ((flags & O_CREAT) && (uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid)) {
		rc = -errno;
		close(fd);
		unlinkat(a.fd, a.rel, 0);
		free(f);
		return rc;
	}
	f->ops = &fd_file_ops;
	f->fd = fd;
	*out = f;
	return 0;
}

static ssize_t dir_readlink(struct lm_layer *l, const char *path, char *buf, size_t size)
{
	ssize_t n;

	AT(a, DL(l), path);
	n = readlinkat(a.fd, a.rel, buf, size);

	return n < 0 ? -errno : n;
}

static ssize_t dir_getxattr(struct lm_layer *l, const char *path, const char *name,
			    void *buf, size_t size)
{
	char pp[PROC_PATH_MAX];
	ssize_t n;
	int rc;

	AT(a, DL(l), path);
	rc = proc_path(a.fd, a.rel, pp);

	if (rc)
		return rc;
	n = lgetxattr(pp, name, buf, size);
	return n < 0 ? -errno : n;
}

static ssize_t dir_listxattr(struct lm_layer *l, const char *path, char *buf, size_t size)
{
	char pp[PROC_PATH_MAX];
	ssize_t n;
	int rc;

	AT(a, DL(l), path);
	rc = proc_path(a.fd, a.rel, pp);

	if (rc)
		return rc;
	n = llistxattr(pp, buf, size);
	return n < 0 ? -errno : n;
}

static int dir_statfs(struct lm_layer *l, struct statvfs *sv)
{
	return fstatvfs(DL(l)->rootfd, sv) ? -errno : 0;
}

/* ---- writable layer operations ---- */

static int chown_new(int dirfd, const char *path, uid_t uid, gid_t gid)
{
	if (uid == (uid_t)-1 && gid == (gid_t)-1)
		return 0;
	return fchownat(dirfd, path, uid, gid, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int dir_mknod(struct lm_layer *l, const char *path, mode_t mode, dev_t rdev,
		     uid_t uid, gid_t gid)
{
	AT(a, DL(l), path);
	int fd = a.fd, rc;

	if (mknodat(fd, a.rel, mode, rdev))
		return -errno;
	rc = chown_new(fd, a.rel, uid, gid);
	if (rc)
		unlinkat(fd, a.rel, 0);
	return rc;
}

static int dir_mkdir(struct lm_layer *l, const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	AT(a, DL(l), path);
	int fd = a.fd, rc;

	if (mkdirat(fd, a.rel, mode))
		return -errno;
	rc = chown_new(fd, a.rel, uid, gid);
	if (rc)
		unlinkat(fd, a.rel, AT_REMOVEDIR);
	return rc;
}

static int dir_symlink(struct lm_layer *l, const char *target, const char *path,
		       uid_t uid, gid_t gid)
{
	AT(a, DL(l), path);
	int fd = a.fd, rc;

	if (symlinkat(target, fd, a.rel))
		return -errno;
	rc = chown_new(fd, a.rel, uid, gid);
	if (rc)
		unlinkat(fd, a.rel, 0);
	return rc;
}

static int dir_link(struct lm_layer *l, const char *from, const char *to)
{
	AT(a, DL(l), from);
	AT(b, DL(l), to);
	return linkat(a.fd, a.rel, b.fd, b.rel, 0) ? -errno : 0;
}

static int dir_unlink(struct lm_layer *l, const char *path)
{
	AT(a, DL(l), path);
	return unlinkat(a.fd, a.rel, 0) ? -errno : 0;
}

static int dir_rmdir(struct lm_layer *l, const char *path)
{
	AT(a, DL(l), path);
	return unlinkat(a.fd, a.rel, AT_REMOVEDIR) ? -errno : 0;
}

static int dir_whiteout(struct lm_layer *l, const char *path)
{
	struct lm_dirlayer *d = DL(l);
	char wh[PATH_MAX];
	int fd, rc;

	AT(a, d, path);
	if (!atomic_load(&d->no_mknod)) {
		if (mknodat(a.fd, a.rel, S_IFCHR | 0000, makedev(0, 0)) == 0)
			return 0;
		if (errno == EEXIST) {
			struct stat st;

			if (fstatat(a.fd, a.rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && is_whiteout_stat(&st))
				return 0;
			return -EEXIST;
		}
		if (errno != EPERM && errno != EOPNOTSUPP)
			return -errno;
		atomic_store(&d->no_mknod, true);
	}
	rc = wh_path(wh, sizeof(wh), a.rel);
	if (rc)
		return rc;
	fd = openat(a.fd, wh, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0000);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int dir_unwhiteout(struct lm_layer *l, const char *path)
{
	struct lm_dirlayer *d = DL(l);
	char wh[PATH_MAX];
	struct stat st;

	AT(a, d, path);
	if (fstatat(a.fd, a.rel, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!is_whiteout_stat(&st))
			return -EEXIST;
		return unlinkat(a.fd, a.rel, 0) ? -errno : 0;
	}
	if (wh_path(wh, sizeof(wh), a.rel) == 0 && unlinkat(a.fd, wh, 0) == 0)
		return 0;
	return errno == ENOENT ? 0 : -errno;
}

static int dir_rename(struct lm_layer *l, const char *from, const char *to, unsigned flags)
{
	struct lm_dirlayer *d = DL(l);

	AT(a, d, from);
	AT(b, d, to);
	if (renameat2(a.fd, a.rel, b.fd, b.rel, flags) == 0)
		return 0;
	if (!(flags & LM_RENAME_WHITEOUT) || (errno != EINVAL && errno != EPERM))
		return -errno;
	/* No RENAME_WHITEOUT here (unprivileged, or the host fs lacks it). */
	if (renameat2(a.fd, a.rel, b.fd, b.rel, flags & ~LM_RENAME_WHITEOUT))
		return -errno;
	return dir_whiteout(l, from);
}

static int dir_chmod(struct lm_layer *l, const char *path, mode_t mode)
{
	AT(a, DL(l), path);
	return fchmodat(a.fd, a.rel, mode, 0) ? -errno : 0;
}

static int dir_chown(struct lm_layer *l, const char *path, uid_t uid, gid_t gid)
{
	AT(a, DL(l), path);
	return fchownat(a.fd, a.rel, uid, gid, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int dir_utimens(struct lm_layer *l, const char *path, const struct timespec ts[2])
{
	AT(a, DL(l), path);
	return utimensat(a.fd, a.rel, ts, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int dir_truncate(struct lm_layer *l, const char *path, off_t size)
{
	int fd, rc = 0;

	AT(a, DL(l), path);
	fd = openat(a.fd, a.rel, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size))
		rc = -errno;
	close(fd);
	return rc;
}

static int dir_setxattr(struct lm_layer *l, const char *path, const char *name,
			const void *val, size_t size, int flags)
{
	char pp[PROC_PATH_MAX];
	int rc;

	AT(a, DL(l), path);
	rc = proc_path(a.fd, a.rel, pp);

	if (rc)
		return rc;
	return lsetxattr(pp, name, val, size, flags) ? -errno : 0;
}

static int dir_removexattr(struct lm_layer *l, const char *path, const char *name)
{
	char pp[PROC_PATH_MAX];
	int rc;

	AT(a, DL(l), path);
	rc = proc_path(a.fd, a.rel, pp);

	if (rc)
		return rc;
	return lremovexattr(pp, name) ? -errno : 0;
}

static int dir_set_opaque(struct lm_layer *l, const char *path)
{
	static const char *const names[] = { "trusted.overlay.opaque", "user.overlay.opaque" };
	struct lm_dirlayer *d = DL(l);
	char sub[PATH_MAX];
	int how, fd, rc;

	for (how = atomic_load(&d->opaque_how); how < 2; how++) {
		rc = dir_setxattr(l, path, names[how], "y", 1, 0);
		if (rc == 0)
			return 0;
		if (rc != -EPERM && rc != -ENOTSUP)
			return rc;
		atomic_store(&d->opaque_how, how + 1);
	}
	AT(a, d, path);
	rc = lm_path_join(sub, sizeof(sub), a.rel, LM_WH_OPAQUE);
	if (rc)
		return rc;
	fd = openat(a.fd, sub, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0000);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int dir_clear_whiteouts(struct lm_layer *l, const char *path)
{
	struct lm_dirlayer *d = DL(l);
	struct dirent *de;
	struct stat st;
	DIR *dp;
	int fd, rc = 0;

	AT(a, d, path);
	fd = openat(a.fd, a.rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dp = fdopendir(fd);
	if (!dp) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(dp)) != NULL) {
		const char *n = de->d_name;
		bool wh = strncmp(n, LM_WH_PREFIX, LM_WH_PREFIX_LEN) == 0;

		if (!wh && (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN))
			wh = fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && is_whiteout_stat(&st);
		if (wh && unlinkat(fd, n, 0) && errno != ENOENT) {
			rc = -errno;
			break;
		}
	}
	closedir(dp);
	return rc;
}

/* ---- copy-up ---- */

/* Copies the data of SRC into FD keeping holes: clone when the host can,
 * else copy_file_range over each data extent, else read/write. */
static int copy_data(struct lm_file *src, int fd, off_t size)
{
	off_t pos = 0, data, hole;
	char *buf = NULL;
	int rc = 0;

	if (src->fd >= 0 && ioctl(fd, FICLONE, src->fd) == 0)
		return 0;
	while (pos < size) {
		data = src->ops->lseek(src, pos, SEEK_DATA);
		if (data == -ENXIO)
			break;
		if (data < 0) {
			data = pos; /* no SEEK_DATA: copy everything */
			hole = size;
		} else {
			hole = src->ops->lseek(src, data, SEEK_HOLE);
			if (hole < 0)
				hole = size;
		}
		for (pos = data; pos < hole;) {
			ssize_t n = -EXDEV;

			if (src->fd >= 0) {
				loff_t in = pos, out = pos;

				n = copy_file_range(src->fd, &in, fd, &out, (size_t)(hole - pos), 0);
				if (n < 0)
					n = -errno;
			}
			if (n == -EXDEV || n == -EOPNOTSUPP || n == -ENOSYS || n == -EINVAL) {
				if (!buf && !(buf = malloc(1 << 20))) {
					rc = -ENOMEM;
					goto out;
				}
				n = src->ops->pread(src, buf, (size_t)(hole - pos) < (1u << 20) ?
						    (size_t)(hole - pos) : (1u << 20), pos);
				if (n > 0 && pwrite(fd, buf, (size_t)n, pos) != n)
					n = -errno ? -errno : -EIO;
			}
			if (n < 0) {
				rc = (int)n;
				goto out;
			}
			if (n == 0)
				break;
			pos += n;
		}
		pos = hole;
	}
	if (ftruncate(fd, size))
		rc = -errno;
out:
	free(buf);
	return rc;
}

int lm_layer_xattr_foreach(struct lm_layer *src, const char *path,
			   int (*fn)(void *ctx, const char *name, const void *val, size_t len),
			   void *ctx)
{
	char *list = NULL, *val = NULL;
	ssize_t len, vlen;
	int rc = 0;

	len = src->ops->listxattr(src, path, NULL, 0);
	if (len <= 0)
		return 0;
	list = malloc((size_t)len);
	val = malloc(XATTR_SIZE_MAX);
	if (!list || !val) {
		rc = -ENOMEM;
		goto out;
	}
	len = src->ops->listxattr(src, path, list, (size_t)len);
	for (ssize_t i = 0; rc == 0 && i < len; i += (ssize_t)strlen(list + i) + 1) {
		const char *name = list + i;

		if (lm_xattr_is_private(name))
			continue;
		vlen = src->ops->getxattr(src, path, name, val, XATTR_SIZE_MAX);
		if (vlen >= 0)
			rc = fn(ctx, name, val, (size_t)vlen);
	}
out:
	free(list);
	free(val);
	return rc;
}

/* Sets one xattr on the object at the /proc path CTX. Attributes the host
 * refuses (security.*, trusted.* when unprivileged) are skipped: the
 * copy-up must not fail for them. */
static int set_copied_xattr(void *ctx, const char *name, const void *val, size_t len)
{
	if (lsetxattr(ctx, name, val, len, 0) && errno != EPERM && errno != ENOTSUP &&
	    strncmp(name, "user.", 5) == 0)
		return -errno;
	return 0;
}

static int make_tmp_obj(struct lm_dirlayer *d, const char *tmp, struct lm_layer *src,
			const char *src_path, const struct stat *st)
{
	struct lm_file *sf;
	char target[PATH_MAX];
	ssize_t n;
	int fd, rc;

	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		return mkdirat(d->workfd, tmp, 0700) ? -errno : 0;
	case S_IFLNK:
		n = src->ops->readlink(src, src_path, target, sizeof(target) - 1);
		if (n < 0)
			return (int)n;
		target[n] = '\0';
		return symlinkat(target, d->workfd, tmp) ? -errno : 0;
	case S_IFREG:
		rc = src->ops->open(src, src_path, O_RDONLY, 0, (uid_t)-1, (gid_t)-1, &sf);
		if (rc)
			return rc;
		fd = openat(d->workfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = -errno;
			sf->ops->close(sf);
			return rc;
		}
		rc = copy_data(sf, fd, st->st_size);
		sf->ops->close(sf);
		if (rc == 0 && d->durable && fsync(fd))
			rc = -errno;
		close(fd);
		return rc;
	default:
		return mknodat(d->workfd, tmp, st->st_mode & S_IFMT, st->st_rdev) ? -errno : 0;
	}
}

static int dir_copy_in(struct lm_layer *l, const char *path, struct lm_layer *src,
		       const char *src_path, const struct stat *st)
{
	struct lm_dirlayer *d = DL(l);
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	char tmp[64], pp[PROC_PATH_MAX];
	int rc;

	if (d->workfd < 0)
		return -EROFS;
	snprintf(tmp, sizeof(tmp), "#lm.%d.%lu", (int)getpid(), atomic_fetch_add(&d->tmpseq, 1));
	rc = make_tmp_obj(d, tmp, src, src_path, st);
	if (rc)
		return rc;
	rc = proc_path(d->workfd, tmp, pp);
	if (rc == 0)
		rc = lm_layer_xattr_foreach(src, src_path, set_copied_xattr, pp);
	if (rc == 0 && fchownat(d->workfd, tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW))
		rc = -errno;
	/* chmod after chown: chown clears the set-id bits. */
	if (rc == 0 && !S_ISLNK(st->st_mode) && fchmodat(d->workfd, tmp, st->st_mode & 07777, 0))
		rc = -errno;
	if (rc == 0 && utimensat(d->workfd, tmp, ts, AT_SYMLINK_NOFOLLOW))
		rc = -errno;
	AT(a, d, path);
	if (rc == 0 && renameat2(d->workfd, tmp, a.fd, a.rel, RENAME_NOREPLACE)) {
		rc = -errno;
		if (rc == -EINVAL && renameat(d->workfd, tmp, a.fd, a.rel) == 0)
			rc = 0;
	}
	if (rc)
		unlinkat(d->workfd, tmp, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0);
	return rc;
}

static void dir_free(struct lm_layer *l)
{
	struct lm_dirlayer *d = DL(l);

	close(d->rootfd);
	if (d->workfd >= 0)
		close(d->workfd);
	free(d);
}

static const struct lm_layer_ops dir_ro_ops = {
	.kind = "dir",
	.lookup = dir_lookup,
	.getattr = dir_getattr,
	.iterate = dir_iterate,
	.open = dir_open,
	.readlink = dir_readlink,
	.getxattr = dir_getxattr,
	.listxattr = dir_listxattr,
	.statfs = dir_statfs,
	.free = dir_free,
};

static const struct lm_layer_ops dir_rw_ops = {
	.kind = "dir",
	.lookup = dir_lookup,
	.getattr = dir_getattr,
	.iterate = dir_iterate,
	.open = dir_open,
	.readlink = dir_readlink,
	.getxattr = dir_getxattr,
	.listxattr = dir_listxattr,
	.statfs = dir_statfs,
	.mknod = dir_mknod,
	.mkdir = dir_mkdir,
	.symlink = dir_symlink,
	.link = dir_link,
	.unlink = dir_unlink,
	.rmdir = dir_rmdir,
	.rename = dir_rename,
	.chmod = dir_chmod,
	.chown = dir_chown,
	.utimens = dir_utimens,
	.truncate = dir_truncate,
	.setxattr = dir_setxattr,
	.removexattr = dir_removexattr,
	.whiteout = dir_whiteout,
	.unwhiteout = dir_unwhiteout,
	.set_opaque = dir_set_opaque,
	.clear_whiteouts = dir_clear_whiteouts,
	.copy_in = dir_copy_in,
	.free = dir_free,
};

int lm_layer_dir_open(const char *root, const char *workdir, bool durable, struct lm_layer **out)
{
	struct lm_dirlayer *d = calloc(1, sizeof(*d));
	struct stat st;
	int rc;

	if (!d)
		return -ENOMEM;
	d->workfd = -1;
	d->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->rootfd < 0)
		goto fail;
	if (fstat(d->rootfd, &st))
		goto fail;
	if (workdir) {
		d->workfd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d->workfd < 0)
			goto fail;
	}
	d->base.ops = workdir ? &dir_rw_ops : &dir_ro_ops;
	d->base.dev = st.st_dev;
	d->base.writable = workdir != NULL;
	d->durable = durable;
	*out = &d->base;
	return 0;
fail:
	rc = -errno;
	if (d->rootfd >= 0)
		close(d->rootfd);
	free(d);
	return rc;
}
