/* Opening a mount's sealed lowers (see vault_mount.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "crypt.h"
#include "keystore.h"
#include "sealed.h"
#include "sealed_store.h"
#include "store.h"

#include "mount/vault_mount.h"

/* Every chunk that does not verify becomes an audit record. */
static void sealed_report(void *ctx, const char *path, const char *what, int64_t block, int err)
{
	struct lm_vault_mount *vm = ctx;

	(void)path, (void)block;
	lm_mount_audit(vm, "layer.integrity", "sealed layer", err, what);
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

int lm_sealed_mount_open(const struct lm_mount_opts *o, struct lm_vault_mount *vm,
			 const char *item, struct lm_cache *cache, struct lm_layer **layer,
			 char *msg, size_t msgsize)
{
	const char *spec = item + sizeof(LM_SEALED_PREFIX) - 1;
	const struct lm_tenant *t = lm_mount_keys_tenant(vm);
	struct lm_store *st = lm_mount_keys_store(vm);
	char path[PATH_MAX], hex[LM_SEALED_DIGEST_HEX + 1];
	struct lm_sealed_cfg cfg = { 0 };
	struct lm_err err = { "" };
	struct lm_sealed_file f;
	bool expect;
	int rc;

	*layer = NULL;
	rc = locate(vm, spec, path, sizeof(path), hex, &expect, msg, msgsize);
	if (rc) {
		if (!msg[0])
			snprintf(msg, msgsize, "sealed layer %s: %s", spec, strerror(-rc));
		return rc;
	}
	rc = lm_sealed_file_open_path(path, expect ? hex : NULL, &f, &err);
	if (rc) {
		snprintf(msg, msgsize, "%s", err.msg);
		return rc;
	}
	/* Served all the same (sealed_store.c says why), but said. */
	if (f.lock_rc == -EWOULDBLOCK)
		fprintf(stderr, "laminafs: warning: sealed layer %s is being removed (lamina layer rm holds its lock)\n",
			path);
	else if (f.lock_rc)
		fprintf(stderr, "laminafs: warning: sealed layer %s cannot be locked (%s): lamina layer rm will not see that this mount uses it\n",
			path, strerror(-f.lock_rc));
	if (lm_sealed_encrypted(&f.sb)) {
		if (!t || !st)
			rc = lm_errf(&err, -ENOKEY,
				     "sealed layer %s is encrypted for tenant %s: mount with tenant=%s and its secret",
				     path, f.sb.tenant, f.sb.tenant);
		else
			rc = lm_sealed_file_keys(st, &f, t, &cfg.keys, &err);
	}
	if (rc) {
		snprintf(msg, msgsize, "%s", err.msg);
		lm_sealed_file_close(&f);
		return rc;
	}
	cfg.path = path;
	cfg.file = &f;
	cfg.cache = cache;
	cfg.cache_size = o->cache_size;
	cfg.direct = o->odirect;
	cfg.report = sealed_report;
	cfg.report_ctx = vm;
	rc = lm_layer_sealed_open(&cfg, layer, msg, msgsize);
	if (rc == 0 && lm_sealed_encrypted(&f.sb))
		lm_mount_audit(vm, "layer.mount", lm_layer_sealed_digest(*layer), 0, o->mountpoint);
	lm_sealed_file_close(&f);
	return rc;
}
