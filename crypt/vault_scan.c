/* Where the vaults are, for rotation: the registry of vaults outside the
 * store (vaults/<uuid hex>.path) and the "vault" key slot container kind
 * (see vault.h).
 *
 * A registry record is the vault directory's absolute path and a newline.
 * It is read as hostile input: anything but one absolute path of printable
 * bytes and its newline is skipped, as is a record whose directory no
 * longer holds a lamina.vault with the record's uuid (the vault was
 * removed, or another took its place).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "vault_int.h"

#define VOLUMES_DIR "volumes"
#define UUID_HEX 32u

/* Lamina.vault files yielded from volumes/, so that a volume that is also
 * registered is not rewrapped twice (two exchanges would undo each
 * other). */
struct vault_seen {
	struct { dev_t dev; ino_t ino; } *v;
	size_t n, cap;
};

static int seen_add(struct vault_seen *s, const struct stat *st)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		void *v = realloc(s->v, cap * sizeof(*s->v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n].dev = st->st_dev;
	s->v[s->n].ino = st->st_ino;
	s->n++;
	return 0;
}

static bool seen_has(const struct vault_seen *s, const struct stat *st)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].dev == st->st_dev && s->v[i].ino == st->st_ino)
			return true;
	return false;
}

static int vault_parse(const unsigned char *buf, size_t len, struct lm_keyblock *kb,
		       size_t *kboff, size_t *kblen)
{
	struct lm_vault_info info;
	int rc = lm_vault_decode(buf, len, &info, kboff, kblen);

	*kb = info.kb;
	return rc == -EPROTONOSUPPORT ? -EUCLEAN : rc;
}

/* Keeps every header field (the rekey box too) and recomputes the MAC.
 * The old MAC must verify under @dek first: a header changed by someone
 * without the data key is never made valid by a rotation. */
static int vault_rebuild(const unsigned char *old, size_t oldlen, size_t kboff,
			 size_t kblen, struct lm_keyblock *kb,
			 const unsigned char *dek, unsigned char **out,
			 size_t *outlen)
{
	struct lm_vault_info info;
	size_t off, len;
	unsigned char *buf;
	ssize_t n;
	int rc;

	*out = NULL;
	rc = lm_vault_decode(old, oldlen, &info, &off, &len);
	if (rc || off != kboff || len != kblen)
		return -EUCLEAN;
	rc = vault_mac_check(old, oldlen, kblen, dek);
	if (rc)
		return rc;
	if (memcmp(kb->object_id, info.uuid, sizeof(info.uuid)))
		return -EINVAL;
	buf = malloc(LM_VAULT_MAX);
	if (!buf)
		return -ENOMEM;
	n = vault_assemble(old, kb, dek, buf, LM_VAULT_MAX);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	*out = buf;
	*outlen = (size_t)n;
	return 0;
}

/* What the scans pass on to each directory entry. */
struct vault_scan_ctx {
	lm_container_fn fn;
	void *arg;
	struct vault_seen *seen;
};

/* volumes/<name>/lamina.vault, for entry @de of volumes/. */
static int scan_one_volume(int dirfd, const struct dirent *de, void *arg)
{
	char rel[sizeof(VOLUMES_DIR) + NAME_MAX + sizeof(LM_VAULT_HEADER_NAME) + 2];
	struct vault_scan_ctx *sc = arg;
	struct stat sb;
	int rc;

	if (de->d_name[0] == '.' ||
	    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
		return 0;
	/* Never a symlink: rotation opens it without following. */
	if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(sb.st_mode))
		return 0;
	snprintf(rel, sizeof(rel), "%s/" LM_VAULT_HEADER_NAME, de->d_name);
	if (fstatat(dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(sb.st_mode))
		return 0;
	rc = seen_add(sc->seen, &sb);
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), VOLUMES_DIR "/%s", de->d_name);
	return sc->fn(&lm_vault_container_ops, rel, LM_VAULT_HEADER_NAME, sc->arg);
}

/* "<32 hex>.path" -> uuid; false for any other name. */
static bool reg_name_uuid(const char *name, unsigned char *uuid)
{
	if (strlen(name) != UUID_HEX + sizeof(VAULT_REG_SUFFIX) - 1 ||
	    strcmp(name + UUID_HEX, VAULT_REG_SUFFIX))
		return false;
	for (size_t i = 0; i < UUID_HEX; i++) {
		char c = name[i];
		unsigned v = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
			     c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16u;

		if (v == 16u)
			return false;
		uuid[i / 2] = (unsigned char)(i % 2 ? (uuid[i / 2] << 4) | v : v);
	}
	return true;
}

/* A record's content -> the path in @path (PATH_MAX bytes); false when it
 * is not exactly one absolute path of printable bytes and a newline. */
static bool reg_path(const unsigned char *buf, size_t len, char *path)
{
	if (len < 3 || len > PATH_MAX || buf[0] != '/' || buf[len - 1] != '\n')
		return false;
	for (size_t i = 0; i + 1 < len; i++)
		if (buf[i] < 0x20 || buf[i] == 0x7f)
			return false;
	memcpy(path, buf, len - 1);
	path[len - 1] = '\0';
	return true;
}

/* Calls @fn for the registered vault of registry entry @de, if it is still
 * there with the record's uuid and was not yielded from volumes/. */
static int scan_one_registered(int regfd, const struct dirent *de, void *arg)
{
	const struct vault_scan_ctx *sc = arg;
	const char *name = de->d_name;
	unsigned char uuid[16], *buf;
	char path[PATH_MAX];
	struct lm_vault_info info;
	struct stat sb;
	size_t len;
	int vfd, rc;

	if ((de->d_type != DT_REG && de->d_type != DT_UNKNOWN) ||
	    !reg_name_uuid(name, uuid) ||
	    lm_file_read(regfd, name, PATH_MAX, &buf, &len))
		return 0;
	rc = reg_path(buf, len, path);
	free(buf);
	if (!rc)
		return 0;
	vfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (vfd < 0)
		return 0;
	rc = fstatat(vfd, LM_VAULT_HEADER_NAME, &sb, AT_SYMLINK_NOFOLLOW);
	if (rc == 0 && S_ISREG(sb.st_mode) && !seen_has(sc->seen, &sb) &&
	    lm_vault_read(vfd, path, &info, NULL) == 0 &&
	    !memcmp(info.uuid, uuid, sizeof(uuid))) {
		close(vfd);
		return sc->fn(&lm_vault_container_ops, path, LM_VAULT_HEADER_NAME, sc->arg);
	}
	close(vfd);
	return 0;
}

static int vault_scan(struct lm_store *st, lm_container_fn fn, void *arg)
{
	struct vault_seen seen = { 0 };
	struct vault_scan_ctx sc = { fn, arg, &seen };
	int rc = lm_store_foreach_entry(st, VOLUMES_DIR, scan_one_volume, &sc);

	/* Volumes first: seen holds them when the registry is read. */
	if (!rc)
		rc = lm_store_foreach_entry(st, VAULT_REG_DIR, scan_one_registered, &sc);
	free(seen.v);
	return rc;
}

const struct lm_container_ops lm_vault_container_ops = {
	.kind = "vault",
	.scan = vault_scan,
	.parse = vault_parse,
	.rebuild = vault_rebuild,
};

static void reg_file(char *out, const unsigned char *uuid)
{
	lm_crypt_hex(out, uuid, 16);
	strcpy(out + UUID_HEX, VAULT_REG_SUFFIX);
}

int lm_vault_register(struct lm_store *st, const char *abs_dir,
		      const unsigned char *uuid, struct lm_err *err)
{
	char file[UUID_HEX + sizeof(VAULT_REG_SUFFIX)], *real, rec[PATH_MAX + 1];
	const char *path = abs_dir;
	size_t len;
	int dfd, rc;

	if (abs_dir[0] != '/')
		return lm_errf(err, -EINVAL, "vault path %s is not absolute", abs_dir);
	/* Rotation opens the directory without following a last symlink. */
	real = realpath(abs_dir, NULL);
	if (real)
		path = real;
	len = strlen(path);
	if (len + 1 >= sizeof(rec) || strchr(path, '\n')) {
		rc = lm_errf(err, -EINVAL, "vault path %s cannot be registered", abs_dir);
		goto out;
	}
	memcpy(rec, path, len);
	rec[len++] = '\n';
	reg_file(file, uuid);
	dfd = lm_store_dir(st, VAULT_REG_DIR, true);
	if (dfd < 0) {
		rc = lm_errf(err, dfd, "cannot open %s/%s: %s", st->path, VAULT_REG_DIR,
			     strerror(-dfd));
		goto out;
	}
	rc = lm_file_replace(dfd, file, rec, len);
	close(dfd);
	if (rc)
		lm_errf(err, rc, "cannot write %s/%s/%s: %s", st->path, VAULT_REG_DIR,
			file, strerror(-rc));
out:
	free(real);
	return rc;
}

int lm_vault_unregister(struct lm_store *st, const unsigned char *uuid)
{
	char file[UUID_HEX + sizeof(VAULT_REG_SUFFIX)];
	int dfd = lm_store_dir(st, VAULT_REG_DIR, false), rc = 0;

	if (dfd < 0)
		return dfd;
	reg_file(file, uuid);
	if (unlinkat(dfd, file, 0) < 0)
		rc = -errno;
	else
		rc = lm_fsync_dir(dfd);
	close(dfd);
	return rc;
}
