/* Opening a mount's sealed lowers (see vault_mount.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypt.h"
#include "kdf.h"
#include "keystore.h"
#include "sealed.h"
#include "sealed_store.h"
#include "slotfile.h"
#include "store.h"

#include "mount/vault_mount.h"

/* Every chunk that does not verify becomes an audit record. */
static void sealed_report(void *ctx, const char *path, const char *what, int64_t block, int err)
{
	struct lm_vault_mount *vm = ctx;

	(void)path, (void)block;
	lm_mount_audit(vm, "layer.integrity", "sealed layer", err, what);
}

/* Reads and decodes the superblock of @path (to learn whether it needs a
 * key, and which). */
static int peek(const char *path, struct lm_sealed_sb *sb)
{
	unsigned char head[LM_SEALED_SB];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	n = pread(fd, head, sizeof(head), 0);
	rc = n < 0 ? -errno : (size_t)n < sizeof(head) ? -EUCLEAN : 0;
	close(fd);
	return rc ? rc : lm_sealed_sb_decode(head, sizeof(head), (uint64_t)st.st_size, sb);
}

/* Where item @spec is and which digest it must have. */
static int locate(struct lm_vault_mount *vm, const char *spec, char *path, size_t size,
		  char *hex, bool *expect, char *msg, size_t msgsize)
{
	struct lm_store *st = lm_mount_keys_store(vm);
	struct lm_err err = { "" };
	const char *base;
	int rc;

	*expect = false;
	if (strchr(spec, '/') || spec[0] == '.') {
		if ((size_t)snprintf(path, size, "%s", spec) >= size)
			return -ENAMETOOLONG;
		/* A file named by its digest must have that digest. */
		base = strrchr(spec, '/');
		base = base ? base + 1 : spec;
		if (lm_sealed_digest_valid(base)) {
			snprintf(hex, LM_SEALED_DIGEST_HEX + 1, "%s", base);
			*expect = true;
		}
		return 0;
	}
	if (!st) {
		snprintf(msg, msgsize, "sealed:%s names a layer of the store, but no store is open",
			 spec);
		return -ENOENT;
	}
	rc = lm_sealed_resolve(st, spec, hex, &err);
	if (rc == 0)
		rc = lm_sealed_path(st, hex, path, size);
	if (rc) {
		snprintf(msg, msgsize, "sealed layer %s: %s", spec,
			 err.msg[0] ? err.msg : strerror(-rc));
		return rc;
	}
	*expect = true;
	return 0;
}

/* The DEK of encrypted layer @sb from its slot file, as the mount's tenant. */
static int layer_dek(struct lm_vault_mount *vm, const struct lm_sealed_sb *sb, const char *path,
		     unsigned char *dek, char *msg, size_t msgsize)
{
	const struct lm_tenant *t = lm_mount_keys_tenant(vm);
	struct lm_store *st = lm_mount_keys_store(vm);
	char name[LM_SEALED_SLOT_NAME_MAX];
	struct lm_err err = { "" };
	int rc;

	if (!t || !st) {
		snprintf(msg, msgsize,
			 "sealed layer %s is encrypted for tenant %s: mount with tenant=%s and its secret",
			 path, sb->tenant, sb->tenant);
		return -ENOKEY;
	}
	lm_sealed_slot_name(sb->layer_id, name);
	rc = lm_slotfile_open(st, name, t, dek, &err);
	if (rc)
		snprintf(msg, msgsize, "cannot open the key of sealed layer %s: %s", path,
			 err.msg[0] ? err.msg : strerror(-rc));
	return rc;
}

int lm_sealed_mount_open(const struct lm_mount_opts *o, struct lm_vault_mount *vm,
			 const char *item, struct lm_cache *cache, struct lm_layer **layer,
			 char *msg, size_t msgsize)
{
	const char *spec = item + sizeof(LM_SEALED_PREFIX) - 1;
	char path[PATH_MAX], hex[LM_SEALED_DIGEST_HEX + 1];
	struct lm_sealed_cfg cfg = { 0 };
	unsigned char *dek = NULL;
	struct lm_sealed_sb sb;
	bool expect;
	int rc;

	*layer = NULL;
	rc = locate(vm, spec, path, sizeof(path), hex, &expect, msg, msgsize);
	if (rc) {
		if (!msg[0])
			snprintf(msg, msgsize, "sealed layer %s: %s", spec, strerror(-rc));
		return rc;
	}
	rc = peek(path, &sb);
	if (rc) {
		snprintf(msg, msgsize, rc == -EUCLEAN || rc == -EPROTONOSUPPORT ?
			 "%s is not a sealed layer, or it is damaged" : "cannot read sealed layer %s: %s",
			 path, strerror(-rc));
		return rc;
	}
	if (lm_sealed_encrypted(&sb)) {
		dek = lm_secret_alloc(LM_KEY_BYTES);
		if (!dek) {
			snprintf(msg, msgsize, "out of memory (or locked memory) for the keys");
			return -ENOMEM;
		}
		rc = layer_dek(vm, &sb, path, dek, msg, msgsize);
		if (rc) {
			lm_secret_free(dek);
			return rc;
		}
	}
	cfg.path = path;
	cfg.expect_digest = expect ? hex : NULL;
	cfg.dek = dek;
	cfg.cache = cache;
	cfg.cache_size = o->cache_size;
	cfg.direct = o->odirect;
	cfg.report = sealed_report;
	cfg.report_ctx = vm;
	rc = lm_layer_sealed_open(&cfg, layer, msg, msgsize);
	lm_secret_free(dek);
	if (rc == 0 && lm_sealed_encrypted(&sb))
		lm_mount_audit(vm, "layer.mount", lm_layer_sealed_digest(*layer), 0, o->mountpoint);
	return rc;
}
