/* Opening a mount's vault upper (see vault_mount.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "crypt.h"
#include "fileio.h"
#include "keystore.h"
#include "store.h"
#include "vault.h"

#include "mount/vault_mount.h"

struct lm_vault_mount {
	struct lm_store *st;              /* owned: the audit log lives there;
					   * NULL when a mount needs no store */
	struct lm_tenant *t;              /* owned until lm_mount_keys_forget */
	char tenant[LM_TENANT_MAX + 1];
	char object[PATH_MAX + 64];       /* "vault <uuid> at <dir>" */
	pthread_mutex_t lock;             /* one audit append at a time */
};

void lm_vault_mount_free(struct lm_vault_mount *vm)
{
	if (!vm)
		return;
	lm_tenant_free(vm->t);
	lm_store_free(vm->st);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

void lm_mount_keys_forget(struct lm_vault_mount *vm)
{
	if (vm) {
		lm_tenant_free(vm->t);
		vm->t = NULL;
	}
}

void lm_mount_audit(struct lm_vault_mount *vm, const char *op, const char *object, int err,
		    const char *detail)
{
	if (!vm || !vm->st)
		return;
	pthread_mutex_lock(&vm->lock);
	lm_audit_log(vm->st, op, vm->tenant[0] ? vm->tenant : NULL, object, err, detail);
	pthread_mutex_unlock(&vm->lock);
}

/* Every integrity failure of the vault becomes an audit record. */
static void vm_report(void *ctx, const char *path, const char *what, int64_t block, int err)
{
	struct lm_vault_mount *vm = ctx;
	char detail[PATH_MAX + 128];

	if (block >= 0)
		snprintf(detail, sizeof(detail), "%s: %s (block %lld)", path, what, (long long)block);
	else
		snprintf(detail, sizeof(detail), "%s: %s", path, what);
	lm_mount_audit(vm, "vault.integrity", vm->object, err, detail);
}

/* Reads the tenant secret the options name into @buf (secret memory of
 * LM_PASSPHRASE_MAX + 2 bytes). */
static int read_secret(const struct lm_mount_opts *o, unsigned char *buf,
		       struct lm_tenant_secret *sec, struct lm_err *err)
{
	bool key = o->keyfile || o->keyfd >= 0;
	const char *kind = key ? "key file" : "passphrase file";
	size_t cap = key ? LM_KEYFILE_BYTES + 1 : LM_PASSPHRASE_MAX + 2, len;
	char name[32] = "", what[PATH_MAX + 48];
	int rc;

	if (o->keyfile || o->passfile) {
		rc = lm_secret_file_read(key ? o->keyfile : o->passfile, kind, buf, cap, &len, err);
	} else {
		int fd = key ? o->keyfd : o->passfd;

		snprintf(name, sizeof(name), "on descriptor %d", fd);
		rc = lm_secret_fd_read(fd, key ? "key" : "passphrase", name, buf, cap, &len, err);
		close(fd);
	}
	if (rc == -EFBIG && key) {
		lm_err_clear(err);
		len = cap;
	} else if (rc) {
		return rc;
	}
	if (o->keyfile || o->passfile)
		snprintf(what, sizeof(what), "%s %s", kind, key ? o->keyfile : o->passfile);
	else
		snprintf(what, sizeof(what), "the %s %s", key ? "key" : "passphrase", name);
	rc = lm_secret_check(key, what, buf, &len, err);
	if (rc)
		return rc;
	sec->kind = key ? LM_SECRET_KEYFILE : LM_SECRET_PASSPHRASE;
	sec->bytes = buf;
	sec->len = len;
	return 0;
}

/* True when directory @fd holds nothing (a new container upper). */
static bool dir_is_empty(int fd)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	bool empty = true;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return false;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

/* Vaults outside the store's volumes/ are registered so that rotation
 * finds them. */
static int maybe_register(struct lm_store *st, const char *upper, const unsigned char *uuid,
			  struct lm_err *err)
{
	char abs[PATH_MAX], store[PATH_MAX], vols[PATH_MAX + 16];

	if (!realpath(upper, abs) || !realpath(st->path, store))
		return lm_errf(err, -errno, "cannot resolve %s: %s", upper, strerror(errno));
	snprintf(vols, sizeof(vols), "%s/volumes/", store);
	if (strncmp(abs, vols, strlen(vols)) == 0 && !strchr(abs + strlen(vols), '/'))
		return 0;
	return lm_vault_register(st, abs, uuid, err);
}

int lm_mount_keys_open(const struct lm_mount_opts *o, bool need_store,
		       struct lm_vault_mount **vmp, char *msg, size_t msgsize)
{
	struct lm_err err = { "" };
	struct lm_vault_mount *vm = calloc(1, sizeof(*vm));
	unsigned char *buf = NULL;
	struct lm_tenant_secret sec;
	char store[PATH_MAX];
	int rc = 0;

	*vmp = NULL;
	if (!vm) {
		snprintf(msg, msgsize, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&vm->lock, NULL);
	if (!o->tenant && !need_store) {
		*vmp = vm;
		return 0;
	}
	rc = lm_crypt_init();
	if (rc == 0 && o->tenant) {
		snprintf(vm->tenant, sizeof(vm->tenant), "%s", o->tenant);
		buf = lm_secret_alloc(LM_PASSPHRASE_MAX + 2);
		rc = buf ? read_secret(o, buf, &sec, &err) :
			lm_errf(&err, -ENOMEM, "out of memory (or locked memory) for the keys");
	}
	if (rc == 0) {
		if (o->store)
			snprintf(store, sizeof(store), "%s", o->store);
		else
			rc = lm_store_default_path(store, sizeof(store));
	}
	if (rc == 0)
		rc = lm_store_open(store, false, &vm->st, &err);
	if (rc == 0 && o->tenant)
		rc = lm_tenant_open(vm->st, o->tenant, &sec, &vm->t, &err);
	if (buf)
		lm_crypt_wipe(buf, LM_PASSPHRASE_MAX + 2);
	lm_secret_free(buf);
	if (rc) {
		snprintf(msg, msgsize, "%s", err.msg[0] ? err.msg : strerror(-rc));
		lm_vault_mount_free(vm);
		return rc;
	}
	*vmp = vm;
	return 0;
}

struct lm_store *lm_mount_keys_store(struct lm_vault_mount *vm)
{
	return vm ? vm->st : NULL;
}

const struct lm_tenant *lm_mount_keys_tenant(struct lm_vault_mount *vm)
{
	return vm ? vm->t : NULL;
}

int lm_vault_mount_open(const struct lm_mount_opts *o, struct lm_vault_mount *vm,
			struct lm_layer **layer, char *msg, size_t msgsize)
{
	struct lm_err err = { "" };
	struct lm_vault_keys *keys = lm_secret_alloc(sizeof(*keys));
	struct lm_tenant *t = vm->t;
	struct lm_vault_info info;
	char uuid[33];
	int dfd = -1, rc = 0;

	*layer = NULL;
	if (!keys) {
		rc = lm_errf(&err, -ENOMEM, "out of memory (or locked memory) for the keys");
		goto out;
	}
	dfd = open(o->upperdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = lm_errf(&err, -errno, "cannot open upperdir %s: %s", o->upperdir,
			     strerror(errno));
		goto out;
	}
	rc = lm_vault_read(dfd, o->upperdir, &info, &err);
	if (rc == -ENOENT) {
		if (!dir_is_empty(dfd)) {
			lm_err_clear(&err);
			rc = lm_errf(&err, -ENOTEMPTY,
				     "upperdir %s holds files but is not a vault: an encrypted upper starts empty",
				     o->upperdir);
			goto out;
		}
		lm_err_clear(&err);
		rc = lm_vault_create(vm->st, dfd, t, o->cipher ? (enum lm_cipher)o->cipher :
				     lm_aead_default(), o->upperdir, &info, &err);
	}
	if (rc == 0)
		rc = lm_vault_open(vm->st, dfd, t, o->upperdir, &info, keys, &err);
	/* Until a rekey is done, a hard-linked file's names may be two files
	 * (each made anew one by one): a write through one would be lost when
	 * the rekey joins them again. */
	if (rc == 0 && keys->rekey && !o->ro)
		rc = lm_errf(&err, -EBUSY,
			     "%s has an unfinished rekey: finish it (lamina volume rekey) or mount it read-only (-o ro)",
			     o->upperdir);
	if (rc == 0)
		rc = maybe_register(vm->st, o->upperdir, info.uuid, &err);
	if (rc)
		goto out;
	lm_crypt_hex(uuid, info.uuid, 16);
	snprintf(vm->object, sizeof(vm->object), "vault %s at %s", uuid, o->upperdir);
	{
		struct lm_vault_cfg cfg = {
			.root = o->upperdir, .workdir = o->workdir, .durable = !o->volatile_mnt,
			.info = &info, .keys = keys, .report = vm_report, .report_ctx = vm,
		};

		rc = lm_layer_vault_open(&cfg, layer);
		if (rc)
			lm_errf(&err, rc, "cannot open the vault in %s: %s", o->upperdir,
				strerror(-rc));
	}
	if (rc == 0)
		lm_mount_audit(vm, "vault.mount", vm->object, 0, o->mountpoint);
out:
	if (dfd >= 0)
		close(dfd);
	lm_secret_free(keys);
	if (rc)
		snprintf(msg, msgsize, "%s", err.msg[0] ? err.msg : strerror(-rc));
	return rc;
}
