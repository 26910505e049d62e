/* The import of a directory (layer_import.h): podman's layer directories
 * and overlay uppers. Walked with openat/fstatat from the root's
 * descriptor, never following a symlink (every open is O_NOFOLLOW, every
 * stat AT_SYMLINK_NOFOLLOW), each directory's names in sorted order so
 * that the same tree is added the same way every time. Besides the OCI
 * markers by name, the overlay spellings count: a character device 0/0 is
 * a whiteout, trusted.overlay.opaque=y or user.overlay.opaque=y makes a
 * directory opaque. Every other xattr is kept; hard links are found by
 * (device, inode).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer_import_int.h"

/* The path of @name in directory @dfd for the l*xattr calls, which take
 * paths only: through /proc/self/fd, so that no path of the source is
 * resolved again from its root (and nothing but @name is not followed). */
static void xattr_path(char *out, size_t size, int dfd, const char *name)
{
	if (name)
		snprintf(out, size, "/proc/self/fd/%d/%s", dfd, name);
	else
		snprintf(out, size, "/proc/self/fd/%d", dfd);
}

static int xattr_one(struct imp *im, const char *p, const char *path, const char *name,
		     bool *opaque)
{
	char q[IMP_QUOTE + 4];
	ssize_t n = lgetxattr(p, name, im->buf, IMP_BUF);

	if (n < 0 && errno == ENODATA)
		return 0;   /* removed meanwhile */
	if (n < 0)
		return lm_errf(im->err, -errno, "%s: cannot read xattr %s: %s",
			       imp_quote(*path ? path : ".", q), name, strerror(errno));
	if (imp_xattr_private(name)) {
		if ((!strcmp(name, "trusted.overlay.opaque") ||
		     !strcmp(name, "user.overlay.opaque")) && n == 1 && im->buf[0] == 'y')
			*opaque = true;
		return 0;
	}
	return imp_xattr(im, path, name, im->buf, (size_t)n);
}

/* Copies the xattrs of @name in @dfd (of the root: @name NULL) to @path;
 * *opaque set when the overlay marks it opaque. */
static int dir_xattrs(struct imp *im, int dfd, const char *name, const char *path,
		      bool *opaque)
{
	char p[64 + NAME_MAX], q[IMP_QUOTE + 4], *list = NULL;
	ssize_t len;
	int rc = 0;

	*opaque = false;
	xattr_path(p, sizeof(p), dfd, name);
	len = llistxattr(p, NULL, 0);
	if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
		return 0;
	if (len > 0 && (list = malloc((size_t)len)))
		len = llistxattr(p, list, (size_t)len);
	if (len < 0 || (len > 0 && !list)) {
		rc = len < 0 ? -errno : -ENOMEM;
		free(list);
		return lm_errf(im->err, rc, "%s: cannot list xattrs: %s",
			       imp_quote(*path ? path : ".", q), strerror(-rc));
	}
	for (ssize_t off = 0; off < len && !rc; off += (ssize_t)strlen(list + off) + 1)
		rc = xattr_one(im, p, path, list + off, opaque);
	free(list);
	return rc;
}

static void dir_attr(const struct stat *st, struct lm_sealed_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->mode = st->st_mode;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		a->rdev = st->st_rdev;
	a->mtime = st->st_mtim.tv_sec;
	a->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The names of directory @dfd but "." and "..", sorted bytewise. *names
 * and each name are the caller's (names_free). */
static int dir_names(int dfd, char ***names, size_t *n)
{
	int fd = dup(dfd), rc = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **v = NULL, **tmp;
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			rc = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 32;
			tmp = realloc(v, cap * sizeof(*v));
			if (!tmp) {
				rc = -ENOMEM;
				break;
			}
			v = tmp;
		}
		if (!(v[*n] = strdup(de->d_name))) {
			rc = -ENOMEM;
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (rc) {
		names_free(v, *n);
		*n = 0;
		return rc;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), name_cmp);
	*names = v;
	return 0;
}

/* Copies the data of the regular file @name in @dfd (stat @st). */
static int dir_file_data(struct imp *im, int dfd, const char *name, const char *path,
			 const struct stat *st)
{
	char q[IMP_QUOTE + 4];
	struct stat now;
	ssize_t n;
	int fd, rc = 0;

	/* O_NONBLOCK: a file swapped for a fifo meanwhile does not hang. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return lm_errf(im->err, -errno, "%s: cannot open: %s", imp_quote(path, q),
			       strerror(errno));
	if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || now.st_ino != st->st_ino) {
		close(fd);
		return lm_errf(im->err, -EAGAIN, "%s: changed while being imported: try again",
			       imp_quote(path, q));
	}
	while (!rc) {
		n = read(fd, im->buf, IMP_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = lm_errf(im->err, -errno, "%s: cannot read: %s", imp_quote(path, q),
				     strerror(errno));
		if (n <= 0)
			break;
		rc = imp_data(im, path, im->buf, (size_t)n);
		im->prog.read += (uint64_t)n;
		imp_tick(im);
	}
	close(fd);
	return rc;
}

/* A regular file; the second and later names of an inode become links. */
static int dir_file(struct imp *im, int dfd, const char *name, const char *path,
		    const struct stat *st)
{
	struct lm_sealed_attr a;
	char key[48];
	const char *first;
	bool opaque;
	int found = 0, rc;

	if (st->st_nlink > 1) {
		snprintf(key, sizeof(key), "%llx:%llx", (unsigned long long)st->st_dev,
			 (unsigned long long)st->st_ino);
		first = lm_strmap_get(&im->links, key, &found);
		if (found)
			return imp_link(im, path, first);
		if (lm_strmap_put(&im->links, key, path) < 0)
			return lm_errf(im->err, -ENOMEM, "out of memory");
	}
	dir_attr(st, &a);
	rc = imp_add(im, path, &a);
	if (rc == 0)
		rc = dir_xattrs(im, dfd, name, path, &opaque);
	return rc ? rc : dir_file_data(im, dfd, name, path, st);
}

static int walk(struct imp *im, int dfd, char *path, size_t plen);

static int dir_subdir(struct imp *im, int dfd, const char *name, char *path, size_t plen,
		      const struct stat *st)
{
	struct lm_sealed_attr a;
	char q[IMP_QUOTE + 4];
	bool opaque;
	int fd, rc;

	dir_attr(st, &a);
	rc = imp_add(im, path, &a);
	if (rc == 0)
		rc = dir_xattrs(im, dfd, name, path, &opaque);
	if (rc == 0 && opaque)
		rc = imp_opaque(im, path);
	if (rc)
		return rc;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return lm_errf(im->err, -errno, "%s: cannot open: %s", imp_quote(path, q),
			       strerror(errno));
	rc = walk(im, fd, path, plen);
	close(fd);
	return rc;
}

static int dir_entry(struct imp *im, int dfd, const char *name, char *path, size_t plen)
{
	char q[IMP_QUOTE + 4], target[LM_IMPORT_PATH_MAX + 1];
	size_t len = strlen(name), at = plen ? plen + 1 : 0;
	struct lm_sealed_attr a;
	struct stat st;
	bool opaque;
	ssize_t n;
	int rc;

	if (at + len > LM_IMPORT_PATH_MAX)
		return lm_errf(im->err, -EINVAL, "%s/%s: refused: a path longer than %u bytes",
			       imp_quote(path, q), name, LM_IMPORT_PATH_MAX);
	if (plen)
		path[plen] = '/';
	memcpy(path + at, name, len + 1);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return lm_errf(im->err, -errno, "%s: cannot stat: %s", imp_quote(path, q),
			       strerror(errno));
	rc = imp_marker(im, path);
	if (rc)
		return rc < 0 ? rc : 0;
	if (S_ISCHR(st.st_mode) && st.st_rdev == 0)
		return imp_whiteout(im, path);
	if (S_ISDIR(st.st_mode))
		return dir_subdir(im, dfd, name, path, at + len, &st);
	if (S_ISREG(st.st_mode))
		return dir_file(im, dfd, name, path, &st);
	dir_attr(&st, &a);
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(dfd, name, target, sizeof(target));
		if (n <= 0 || (size_t)n >= sizeof(target))
			return lm_errf(im->err, n < 0 ? -errno : -EINVAL,
				       "%s: cannot read the symlink", imp_quote(path, q));
		target[n] = '\0';
		a.link = target;
	}
	rc = imp_add(im, path, &a);
	return rc ? rc : dir_xattrs(im, dfd, name, path, &opaque);
}

/* Adds every entry of directory @dfd, whose path in the layer is @path
 * (@plen bytes; the buffer is LM_IMPORT_PATH_MAX + 1 bytes and is put
 * back as it was). */
static int walk(struct imp *im, int dfd, char *path, size_t plen)
{
	char q[IMP_QUOTE + 4], **names;
	size_t n;
	int rc = dir_names(dfd, &names, &n);

	if (rc)
		return lm_errf(im->err, rc, "%s: cannot read the directory: %s",
			       imp_quote(plen ? path : ".", q), strerror(-rc));
	for (size_t i = 0; i < n && !rc; i++) {
		rc = dir_entry(im, dfd, names[i], path, plen);
		path[plen] = '\0';
	}
	names_free(names, n);
	return rc;
}

int imp_dir(struct imp *im, int rootfd)
{
	char path[LM_IMPORT_PATH_MAX + 1] = "";
	struct lm_sealed_attr a;
	struct stat st;
	bool opaque;
	int rc;

	if (fstat(rootfd, &st) < 0)
		return lm_errf(im->err, -errno, "cannot stat the source: %s", strerror(errno));
	dir_attr(&st, &a);
	rc = imp_add(im, "", &a);
	if (rc == 0)
		rc = dir_xattrs(im, rootfd, NULL, "", &opaque);
	return rc ? rc : walk(im, rootfd, path, 0);
}
