/* File helpers of the store: whole-file reads with a size cap, atomic
 * replacement, and the reading of secret files given on the command line.
 * Paths are relative to a directory descriptor, so the store is resolved
 * once. Temporary files are named ".<name>.lmtmp" beside their target.
 */
#ifndef LM_FILEIO_H
#define LM_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "crypt.h"

#define LM_TMP_SUFFIX ".lmtmp"

/* Reads all of @name under @dirfd into a new buffer (*buf, caller frees
 * with free()). A file larger than @max is -EFBIG. Returns 0 or -errno. */
int lm_file_read(int dirfd, const char *name, size_t max, unsigned char **buf,
		 size_t *len);

/* Reads all of the open regular file @fd from offset 0, as lm_file_read. */
int lm_fd_read(int fd, size_t max, unsigned char **buf, size_t *len);

/* The temporary name of @name into @out (@size bytes). Returns 0 or
 * -ENAMETOOLONG. */
int lm_file_tmpname(char *out, size_t size, const char *name);

/* Writes @len bytes to the temporary file of @name (created 0600, or an
 * existing one overwritten in place and cut to @len). With @sync the data
 * is fsync'ed before returning. */
int lm_file_write_tmp(int dirfd, const char *name, const void *buf,
		      size_t len, bool sync);

/* Renames the temporary file of @name over @name. */
int lm_file_commit(int dirfd, const char *name);

/* Swaps the temporary file of @name with @name (renameat2
 * RENAME_EXCHANGE): @name gets the new content atomically and the
 * temporary name keeps the old inode, which the next lm_file_write_tmp
 * overwrites. No inode is freed or allocated, which matters on ext4, where
 * allocating thousands of inodes right after freeing thousands scans the
 * recently deleted ones on every allocation (seconds for 10,000). Falls
 * back to a rename where the file system has no exchange. -ENOENT (and the
 * temporary file removed) when @name no longer exists. */
int lm_file_exchange(int dirfd, const char *name);

/* Atomic replacement: temporary file, fsync, rename, fsync of @dirfd. A
 * crash leaves the old or the new content, never a mix. */
int lm_file_replace(int dirfd, const char *name, const void *buf, size_t len);

int lm_fsync_dir(int dirfd);

/* Overwrites the whole of the open file @fd with random bytes and fsyncs
 * it (so its key material is gone from the file, as far as the file
 * system overwrites in place). */
int lm_file_scrub(int fd);

/* Reads a secret file named on the command line into @buf (@cap bytes,
 * caller's secret memory), setting *len. Refused: a regular file that group
 * or others may access (-EPERM), a file larger than @cap (-EFBIG).
 * @what ("key file", "passphrase file") names it in the message. */
int lm_secret_file_read(const char *path, const char *what, unsigned char *buf,
			size_t cap, size_t *len, struct lm_err *err);

/* Checks a tenant secret read from @what (named in messages, e.g. "key
 * file /etc/k") and sets *len to the secret's length: a key file holds
 * exactly LM_KEYFILE_BYTES (a *len above that means "more than"); a
 * passphrase loses one trailing newline (and a CR before it) and must be 1
 * .. LM_PASSPHRASE_MAX bytes. Returns 0 or -EINVAL with @err set. */
int lm_secret_check(bool keyfile, const char *what, const unsigned char *buf, size_t *len,
		    struct lm_err *err);

/* lm_secret_file_read on an open descriptor (a pipe, an inherited file);
 * @path names it in messages. The descriptor is not closed. */
int lm_secret_fd_read(int fd, const char *what, const char *path, unsigned char *buf,
		      size_t cap, size_t *len, struct lm_err *err);

#endif
