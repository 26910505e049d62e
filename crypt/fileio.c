/* Store file helpers (see fileio.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypt.h"
#include "fileio.h"
#include "keystore.h"

int lm_fd_read(int fd, size_t max, unsigned char **buf, size_t *len)
{
	struct stat st;
	unsigned char *b;
	size_t got = 0;

	*buf = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	b = malloc((size_t)st.st_size + 1);
	if (!b)
		return -ENOMEM;
	/* A file that grows meanwhile is read up to the size seen. */
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = -errno;

			free(b);
			return rc;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*buf = b;
	*len = got;
	return 0;
}

int lm_file_read(int dirfd, const char *name, size_t max, unsigned char **buf,
		 size_t *len)
{
	int fd, rc;

	*buf = NULL;
	*len = 0;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	rc = lm_fd_read(fd, max, buf, len);
	close(fd);
	return rc;
}

int lm_file_tmpname(char *out, size_t size, const char *name)
{
	int n = snprintf(out, size, ".%s%s", name, LM_TMP_SUFFIX);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int lm_file_write_tmp(int dirfd, const char *name, const void *buf,
		      size_t len, bool sync)
{
	char tmp[300];
	int fd, rc = lm_file_tmpname(tmp, sizeof(tmp), name);
	const unsigned char *p = buf;
	size_t done = 0;

	if (rc)
		return rc;
	/* No O_TRUNC: an existing temporary file (a rotation's shadow, see
	 * lm_file_exchange) is overwritten in place, keeping its inode. */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (!rc && done < len) {
		ssize_t n = pwrite(fd, p + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = n < 0 ? -errno : -EIO;
		else
			done += (size_t)n;
	}
	if (!rc && ftruncate(fd, (off_t)len) < 0)
		rc = -errno;
	if (!rc && sync && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (rc)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

int lm_file_commit(int dirfd, const char *name)
{
	char tmp[300];
	int rc = lm_file_tmpname(tmp, sizeof(tmp), name);

	if (rc)
		return rc;
	return renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;
}

int lm_file_exchange(int dirfd, const char *name)
{
	char tmp[300];
	int rc = lm_file_tmpname(tmp, sizeof(tmp), name);

	if (rc)
		return rc;
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) == 0)
		return 0;
	if (errno == ENOENT) {
		/* The container went away meanwhile: do not bring it back. */
		unlinkat(dirfd, tmp, 0);
		return -ENOENT;
	}
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -errno;
	return renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;
}

int lm_fsync_dir(int dirfd)
{
	return fsync(dirfd) < 0 ? -errno : 0;
}

int lm_file_replace(int dirfd, const char *name, const void *buf, size_t len)
{
	int rc = lm_file_write_tmp(dirfd, name, buf, len, true);

	if (rc)
		return rc;
	rc = lm_file_commit(dirfd, name);
	if (rc) {
		char tmp[300];

		lm_file_tmpname(tmp, sizeof(tmp), name);
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	return lm_fsync_dir(dirfd);
}

int lm_file_scrub(int fd)
{
	unsigned char junk[4096];
	struct stat st;
	off_t off = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	while (off < st.st_size) {
		size_t n = sizeof(junk);
		ssize_t w;

		if ((off_t)n > st.st_size - off)
			n = (size_t)(st.st_size - off);
		lm_crypt_random(junk, n);
		w = pwrite(fd, junk, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += w;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

int lm_secret_file_read(const char *path, const char *what, unsigned char *buf,
			size_t cap, size_t *len, struct lm_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	*len = 0;
	if (fd < 0) {
		rc = -errno;
		return lm_errf(err, rc, "cannot read %s %s: %s", what, path,
			       strerror(-rc));
	}
	rc = lm_secret_fd_read(fd, what, path, buf, cap, len, err);
	close(fd);
	return rc;
}

int lm_secret_fd_read(int fd, const char *what, const char *path, unsigned char *buf,
		      size_t cap, size_t *len, struct lm_err *err)
{
	struct stat st;
	size_t got = 0;
	int rc = 0;

	*len = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		return lm_errf(err, rc, "cannot read %s %s: %s", what, path, strerror(-rc));
	}
	if (S_ISDIR(st.st_mode))
		return lm_errf(err, -EISDIR, "cannot read %s %s: it is a directory", what, path);
	if (S_ISREG(st.st_mode) && (st.st_mode & 077))
		return lm_errf(err, -EPERM,
			       "%s %s may be read by group or others (mode %04o): run chmod 600 %s",
			       what, path, (unsigned)(st.st_mode & 07777), path);
	for (;;) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			lm_errf(err, rc, "cannot read %s %s: %s", what, path,
				strerror(-rc));
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == cap) {
			char c;

			if (read(fd, &c, 1) > 0)
				rc = lm_errf(err, -EFBIG, "%s %s is too large", what, path);
			break;
		}
	}
	if (rc)
		lm_crypt_wipe(buf, cap);
	else
		*len = got;
	return rc;
}

int lm_secret_check(bool keyfile, const char *what, const unsigned char *buf, size_t *len,
		    struct lm_err *err)
{
	size_t n = *len;

	if (keyfile) {
		if (n == LM_KEYFILE_BYTES)
			return 0;
		return lm_errf(err, -EINVAL,
			       "%s holds %s%zu bytes, a key file holds exactly %u random bytes (make one: head -c 32 /dev/urandom > FILE; chmod 600 FILE)",
			       what, n > LM_KEYFILE_BYTES ? "more than " : "",
			       n > LM_KEYFILE_BYTES ? (size_t)LM_KEYFILE_BYTES : n, LM_KEYFILE_BYTES);
	}
	/* One trailing newline (echo, editors) is not part of it. */
	if (n && buf[n - 1] == '\n')
		n--;
	if (n && buf[n - 1] == '\r')
		n--;
	if (n == 0 || n > LM_PASSPHRASE_MAX)
		return lm_errf(err, -EINVAL, "%s: %s", what, n ?
			       "the passphrase is longer than 1024 bytes" : "the passphrase is empty");
	*len = n;
	return 0;
}
