/* Slot files (see slotfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "fileio.h"
#include "le.h"
#include "slotfile.h"

static const char slotfile_magic[8] = "LMSLOTS";

static int slotfile_parse(const unsigned char *buf, size_t len,
			  struct lm_keyblock *kb, size_t *kboff, size_t *kblen)
{
	struct lm_slotfile_head_disk h;
	ssize_t n;
	uint32_t want;

	memset(kb, 0, sizeof(*kb));
	if (len < sizeof(h))
		return -EUCLEAN;
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, slotfile_magic, 8) || h.zero[0] || h.zero[1])
		return -EUCLEAN;
	if (lm_get16(h.format) != LM_SLOTFILE_FORMAT)
		return -EPROTONOSUPPORT;
	want = lm_get32(h.kblen);
	if (want > LM_KEYBLOCK_MAX || len != sizeof(h) + want)
		return -EUCLEAN;
	n = lm_keyblock_decode(buf + sizeof(h), want, kb);
	if (n < 0 || (size_t)n != want) {
		memset(kb, 0, sizeof(*kb));
		return -EUCLEAN;
	}
	*kboff = sizeof(h);
	*kblen = want;
	return 0;
}

int lm_slotfile_decode(const unsigned char *buf, size_t len, struct lm_keyblock *kb)
{
	size_t off, kblen;

	return slotfile_parse(buf, len, kb, &off, &kblen);
}

ssize_t lm_slotfile_encode(struct lm_keyblock *kb, const unsigned char *dek,
			   unsigned char *out, size_t outsize)
{
	struct lm_slotfile_head_disk h;
	ssize_t n;

	if (outsize < LM_SLOTFILE_HEAD)
		return -ENOSPC;
	n = lm_keyblock_encode(kb, dek, out + LM_SLOTFILE_HEAD,
			       outsize - LM_SLOTFILE_HEAD);
	if (n < 0)
		return n;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, slotfile_magic, 8);
	lm_put16(h.format, LM_SLOTFILE_FORMAT);
	lm_put32(h.kblen, (uint32_t)n);
	memcpy(out, &h, sizeof(h));
	return (ssize_t)LM_SLOTFILE_HEAD + n;
}

static int slotfile_rebuild(const unsigned char *old, size_t oldlen, size_t kboff,
			    size_t kblen, struct lm_keyblock *kb,
			    const unsigned char *dek, unsigned char **out,
			    size_t *outlen)
{
	unsigned char *buf = malloc(LM_SLOTFILE_MAX);
	ssize_t n;

	(void)old, (void)oldlen, (void)kboff, (void)kblen;
	*out = NULL;
	if (!buf)
		return -ENOMEM;
	n = lm_slotfile_encode(kb, dek, buf, LM_SLOTFILE_MAX);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	*out = buf;
	*outlen = (size_t)n;
	return 0;
}

static int slotfile_scan(struct lm_store *st, lm_container_fn fn, void *arg)
{
	return lm_store_scan_dir(st, &lm_slotfile_ops, LM_SLOTFILE_DIR,
				 LM_SLOTFILE_SUFFIX, fn, arg);
}

const struct lm_container_ops lm_slotfile_ops = {
	.kind = "slot file",
	.scan = slotfile_scan,
	.parse = slotfile_parse,
	.rebuild = slotfile_rebuild,
};

static int slotfile_name(char *out, size_t size, const char *name)
{
	int n;

	if (!lm_tenant_name_valid(name))
		return -EINVAL;
	n = snprintf(out, size, "%s%s", name, LM_SLOTFILE_SUFFIX);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int lm_slotfile_create(struct lm_store *st, const char *name,
		       const struct lm_tenant *t, const unsigned char *dek,
		       struct lm_err *err)
{
	unsigned char id[LM_OBJECT_ID_BYTES], buf[LM_SLOTFILE_MAX];
	struct lm_keyblock kb;
	const struct lm_kek *keks;
	char file[128];
	size_t nkeks;
	ssize_t n;
	int dfd, rc;

	if (slotfile_name(file, sizeof(file), name))
		return lm_errf(err, -EINVAL, "invalid object name '%s'", name);
	keks = lm_tenant_keks(t, &nkeks);
	if (!nkeks)
		return lm_errf(err, -ENOKEY, "tenant %s has no active key version",
			       lm_tenant_name(t));
	lm_crypt_random(id, sizeof(id));
	lm_keyblock_init(&kb, id, lm_tenant_name(t));
	rc = lm_slot_add(&kb, &keks[0], dek);
	if (rc)
		return lm_errf(err, rc, "cannot add a key slot: %s", strerror(-rc));
	n = lm_slotfile_encode(&kb, dek, buf, sizeof(buf));
	if (n < 0)
		return lm_errf(err, (int)n, "cannot encode slot file");
	rc = lm_store_lock(st, err);
	if (rc)
		return rc;
	dfd = lm_store_dir(st, LM_SLOTFILE_DIR, true);
	if (dfd < 0) {
		rc = lm_errf(err, dfd, "cannot open %s/%s: %s", st->path,
			     LM_SLOTFILE_DIR, strerror(-dfd));
		goto out_unlock;
	}
	if (faccessat(dfd, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = lm_errf(err, -EEXIST, "object %s already exists", name);
		goto out_close;
	}
	rc = lm_file_replace(dfd, file, buf, (size_t)n);
	if (rc)
		lm_errf(err, rc, "cannot write %s/%s/%s: %s", st->path,
			LM_SLOTFILE_DIR, file, strerror(-rc));
out_close:
	close(dfd);
out_unlock:
	lm_store_unlock(st);
	return rc;
}

int lm_slotfile_remove(struct lm_store *st, const char *name, struct lm_err *err)
{
	char file[128];
	int dfd, fd, rc = 0;

	if (slotfile_name(file, sizeof(file), name))
		return lm_errf(err, -EINVAL, "invalid object name '%s'", name);
	dfd = lm_store_dir(st, LM_SLOTFILE_DIR, false);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return lm_errf(err, dfd, "cannot open %s/%s: %s", st->path,
			       LM_SLOTFILE_DIR, strerror(-dfd));
	fd = openat(dfd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		lm_file_scrub(fd);
		close(fd);
	}
	if (unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
		rc = lm_errf(err, -errno, "cannot remove %s/%s/%s: %s", st->path,
			     LM_SLOTFILE_DIR, file, strerror(errno));
	else
		lm_fsync_dir(dfd);
	close(dfd);
	return rc;
}

int lm_slotfile_read(struct lm_store *st, const char *name,
		     struct lm_keyblock *kb, struct lm_err *err)
{
	unsigned char *buf;
	char file[128];
	size_t len;
	int dfd, rc;

	if (slotfile_name(file, sizeof(file), name))
		return lm_errf(err, -EINVAL, "invalid object name '%s'", name);
	dfd = lm_store_dir(st, LM_SLOTFILE_DIR, false);
	if (dfd < 0)
		return lm_errf(err, dfd, "no object %s: %s", name, strerror(-dfd));
	rc = lm_file_read(dfd, file, LM_SLOTFILE_MAX, &buf, &len);
	close(dfd);
	if (rc == -EFBIG)
		rc = -EUCLEAN;
	if (rc)
		return lm_errf(err, rc, "cannot read object %s: %s", name,
			       strerror(-rc));
	rc = lm_slotfile_decode(buf, len, kb);
	free(buf);
	if (rc)
		return lm_errf(err, rc, "object %s: slot file %s/%s/%s is damaged",
			       name, st->path, LM_SLOTFILE_DIR, file);
	return 0;
}

int lm_slotfile_open(struct lm_store *st, const char *name,
		     const struct lm_tenant *t, unsigned char *dek,
		     struct lm_err *err)
{
	struct lm_keyblock kb;
	const struct lm_kek *keks;
	char what[160];
	size_t nkeks;
	int rc;

	lm_crypt_wipe(dek, 32);
	rc = lm_slotfile_read(st, name, &kb, err);
	if (!rc) {
		keks = lm_tenant_keks(t, &nkeks);
		snprintf(what, sizeof(what), "object %s", name);
		rc = lm_keyblock_open(&kb, lm_tenant_name(t), keks, nkeks, dek,
				      what, err);
	}
	if (rc)
		lm_audit_log(st, "object.open", lm_tenant_name(t), name, rc,
			     err ? err->msg : "");
	return rc;
}
