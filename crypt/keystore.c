/* Tenants: create, open, describe, list, shred (see keystore.h). Rotation
 * is in rotate.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "audit.h"
#include "fault.h"
#include "fileio.h"
#include "keystore.h"
#include "keystore_int.h"
#include "le.h"

static const char tenant_context[crypto_kdf_CONTEXTBYTES] = "lamina.t";
static const char kek_label[] = "lamina.kek";
static const char keyfile_label[] = "lamina.keyfile";

int lm_kdf_cost_parse(const char *s, enum lm_kdf_cost *out)
{
	if (!strcmp(s, "interactive"))
		*out = LM_KDF_INTERACTIVE;
	else if (!strcmp(s, "moderate"))
		*out = LM_KDF_MODERATE;
	else if (!strcmp(s, "sensitive"))
		*out = LM_KDF_SENSITIVE;
	else
		return -EINVAL;
	return 0;
}

const char *lm_tenant_name(const struct lm_tenant *t)
{
	return t->rec.name;
}

const struct lm_kek *lm_tenant_keks(const struct lm_tenant *t, size_t *n)
{
	*n = t->nkeks;
	return t->keks;
}

void lm_tenant_free(struct lm_tenant *t)
{
	if (!t)
		return;
	lm_secret_free(t->keys);
	lm_secret_free(t->keks);
	free(t->vers);
	free(t);
}

int ks_tenant_dir(char *out, size_t size, const char *name)
{
	int n = snprintf(out, size, "keys/%s", name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static const char *secret_word(uint8_t kind)
{
	return kind == LM_SECRET_KEYFILE ? "key file" : "passphrase";
}

static int secret_check(const struct lm_tenant_secret *sec, struct lm_err *err)
{
	if (sec->kind == LM_SECRET_KEYFILE && sec->len != LM_KEYFILE_BYTES)
		return lm_errf(err, -EINVAL,
			       "a key file holds exactly %u bytes, this one %zu (make one with: head -c 32 /dev/urandom > FILE)",
			       LM_KEYFILE_BYTES, sec->len);
	if (sec->kind == LM_SECRET_PASSPHRASE &&
	    (sec->len == 0 || sec->len > LM_PASSPHRASE_MAX))
		return lm_errf(err, -EINVAL, "a passphrase has 1 to %u bytes",
			       LM_PASSPHRASE_MAX);
	if (sec->kind != LM_SECRET_KEYFILE && sec->kind != LM_SECRET_PASSPHRASE)
		return lm_errf(err, -EINVAL, "unknown kind of tenant secret");
	return 0;
}

/* Derives the tenant's record and wrap keys into t->keys from @sec. */
static int tenant_derive(struct lm_tenant *t, const struct lm_tenant_secret *sec,
			 struct lm_err *err)
{
	unsigned char *root = t->keys + 64;
	const struct lm_tenant_rec *r = &t->rec;
	int rc = secret_check(sec, err);

	if (rc)
		return rc;
	if (sec->kind != r->secret)
		return lm_errf(err, -EKEYREJECTED,
			       "tenant %s is protected by a %s, not a %s",
			       r->name, secret_word(r->secret), secret_word(sec->kind));
	if (r->secret == LM_SECRET_PASSPHRASE) {
		if (crypto_pwhash(root, 32, (const char *)sec->bytes, sec->len,
				  r->salt, r->opslimit, (size_t)r->memlimit,
				  crypto_pwhash_ALG_ARGON2ID13))
			return lm_errf(err, -ENOMEM,
				       "not enough memory for the passphrase's key derivation (%llu MiB)",
				       (unsigned long long)(r->memlimit >> 20));
	} else {
		crypto_generichash_state st;

		crypto_generichash_init(&st, sec->bytes, sec->len, 32);
		crypto_generichash_update(&st, (const unsigned char *)keyfile_label,
					  sizeof(keyfile_label));
		crypto_generichash_update(&st, r->salt, sizeof(r->salt));
		crypto_generichash_final(&st, root, 32);
		sodium_memzero(&st, sizeof(st));
	}
	crypto_kdf_derive_from_key(t->keys, 32, 1, tenant_context, root);
	crypto_kdf_derive_from_key(t->keys + 32, 32, 2, tenant_context, root);
	sodium_memzero(root, 32);
	return 0;
}

static void kek_ad(unsigned char *ad, const struct lm_tenant_rec *r, uint32_t v)
{
	memcpy(ad, kek_label, sizeof(kek_label));
	memcpy(ad + sizeof(kek_label), r->id, LM_TENANT_ID_BYTES);
	lm_put32(ad + sizeof(kek_label) + LM_TENANT_ID_BYTES, v);
	memset(ad + sizeof(kek_label) + LM_TENANT_ID_BYTES + 4, 0, LM_TENANT_FIELD);
	memcpy(ad + sizeof(kek_label) + LM_TENANT_ID_BYTES + 4, r->name,
	       strlen(r->name));
}
#define KEK_AD_BYTES (sizeof(kek_label) + LM_TENANT_ID_BYTES + 4 + LM_TENANT_FIELD)

void ks_kek_seal(const struct lm_tenant *t, struct lm_kekver_rec *v,
		 const unsigned char *kek)
{
	unsigned char ad[KEK_AD_BYTES];

	kek_ad(ad, &t->rec, v->version);
	randombytes_buf(v->nonce, sizeof(v->nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(v->sealed, NULL, kek, 32, ad,
						   sizeof(ad), NULL, v->nonce,
						   t->keys + 32);
}

static int kek_unseal(const struct lm_tenant *t, const struct lm_kekver_rec *v,
		      unsigned char *kek)
{
	unsigned char ad[KEK_AD_BYTES];

	kek_ad(ad, &t->rec, v->version);
	return crypto_aead_xchacha20poly1305_ietf_decrypt(kek, NULL, NULL,
							  v->sealed,
							  sizeof(v->sealed), ad,
							  sizeof(ad), v->nonce,
							  t->keys + 32) ? -EBADMSG : 0;
}

/* "v12" -> 12; 0 for any other name (no sign, no leading zero). */
static uint32_t version_of(const char *name)
{
	unsigned long long v = 0;

	if (name[0] != 'v' || name[1] < '1' || name[1] > '9' || strlen(name) > 11)
		return 0;
	for (const char *p = name + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (unsigned)(*p - '0');
	}
	return v <= UINT32_MAX ? (uint32_t)v : 0;
}

static int cmp_ver(const void *a, const void *b)
{
	const struct lm_kekver_rec *x = a, *y = b;

	return x->version < y->version ? -1 : x->version > y->version;
}

/* Reads every version record in the tenant directory @dfd into *out
 * (ascending; caller frees). Each must be intact and belong to @r. */
int ks_read_versions(int dfd, const struct lm_tenant_rec *r, const char *where,
		     struct lm_kekver_rec **out, size_t *n, struct lm_err *err)
{
	struct lm_kekver_rec *vs = NULL, *tmp;
	struct dirent *de;
	size_t cnt = 0, cap = 0;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	*out = NULL;
	*n = 0;
	if (!d) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return lm_errf(err, rc, "cannot read %s: %s", where, strerror(-rc));
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		uint32_t v = version_of(de->d_name);
		unsigned char *buf;
		size_t len;

		if (!v)
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 8;
			tmp = realloc(vs, cap * sizeof(*vs));
			if (!tmp) {
				rc = lm_errf(err, -ENOMEM, "out of memory");
				break;
			}
			vs = tmp;
		}
		rc = lm_file_read(dfd, de->d_name, 4096, &buf, &len);
		if (rc) {
			lm_errf(err, rc, "cannot read %s/%s: %s", where, de->d_name,
				strerror(-rc));
			break;
		}
		rc = lm_kekver_rec_decode(buf, len, &vs[cnt]);
		free(buf);
		if (!rc && (vs[cnt].version != v ||
			    memcmp(vs[cnt].tenant_id, r->id, LM_TENANT_ID_BYTES)))
			rc = -EUCLEAN;
		if (rc) {
			lm_errf(err, rc, "key version file %s/%s is damaged or does not belong to tenant %s",
				where, de->d_name, r->name);
			break;
		}
		cnt++;
	}
	closedir(d);
	if (rc) {
		free(vs);
		return rc;
	}
	qsort(vs, cnt, sizeof(*vs), cmp_ver);
	*out = vs;
	*n = cnt;
	return 0;
}

/* Reads the tombstone of @dfd, if any: 1 when there is one, 0 when not. */
int ks_read_tombstone(int dfd, struct lm_tombstone_rec *tr)
{
	unsigned char *buf;
	size_t len;
	int rc = lm_file_read(dfd, "shredded", 4096, &buf, &len);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	rc = lm_tombstone_rec_decode(buf, len, tr);
	free(buf);
	return rc ? rc : 1;
}

void ks_time(char *out, size_t size, uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, size, "@%llu", (unsigned long long)t);
}

int ks_shredded_error(const struct lm_tombstone_rec *tr, struct lm_err *err)
{
	char when[64];

	ks_time(when, sizeof(when), tr->shredded);
	return lm_errf(err, -EKEYREVOKED,
		       "tenant %s was shredded on %s: its keys are destroyed and its data cannot be read",
		       tr->name, when);
}

/* Opens keys/<name> of @st; messages name the tenant. */
int ks_open_dir(struct lm_store *st, const char *name, struct lm_err *err)
{
	char rel[128];
	int dfd;

	if (!lm_tenant_name_valid(name))
		return lm_errf(err, -EINVAL,
			       "invalid tenant name '%s': use 1 to %u letters, digits, '.', '_' or '-', starting with a letter or digit",
			       name, LM_TENANT_MAX);
	ks_tenant_dir(rel, sizeof(rel), name);
	dfd = lm_store_dir(st, rel, false);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return lm_errf(err, -ENOENT, "no tenant %s in store %s", name,
			       st->path);
	if (dfd < 0)
		return lm_errf(err, dfd, "cannot open %s/%s: %s", st->path, rel,
			       strerror(-dfd));
	return dfd;
}

/* Reads the tenant record of @dfd into @r. */
static int read_tenant_rec(int dfd, const char *where, struct lm_tenant_rec *r,
			   struct lm_err *err)
{
	unsigned char *buf;
	size_t len;
	int rc = lm_file_read(dfd, "tenant", 4096, &buf, &len);

	if (rc)
		return lm_errf(err, rc == -ENOENT ? -EUCLEAN : rc,
			       "cannot read %s/tenant: %s", where, strerror(-rc));
	rc = lm_tenant_rec_decode(buf, len, r);
	free(buf);
	if (rc == -EPROTONOSUPPORT)
		return lm_errf(err, rc, "%s/tenant has a format this lamina does not know (newer version?)",
			       where);
	if (rc)
		return lm_errf(err, rc, "%s/tenant is damaged (checksum or fields)",
			       where);
	return 0;
}

/* Checks every version record's MAC and unseals the active ones. */
static int tenant_unseal(struct lm_tenant *t, struct lm_err *err)
{
	t->keks = lm_secret_alloc((t->nvers ? t->nvers : 1) * sizeof(*t->keks));
	if (!t->keks)
		return lm_errf(err, -ENOMEM, "out of memory");
	t->nkeks = 0;
	for (size_t i = t->nvers; i-- > 0;) {
		const struct lm_kekver_rec *v = &t->vers[i];
		struct lm_kek *k = &t->keks[t->nkeks];

		if (!lm_kekver_rec_mac_ok(v, KS_RECORD_KEY(t)))
			return lm_errf(err, -EBADMSG,
				       "%s/v%u was changed by someone without the tenant's secret (MAC mismatch)",
				       t->where, (unsigned)v->version);
		if (v->state != LM_KEK_ACTIVE)
			continue;
		k->version = v->version;
		if (kek_unseal(t, v, k->key))
			return lm_errf(err, -EBADMSG, "%s/v%u does not open: it is damaged",
				       t->where, (unsigned)v->version);
		t->nkeks++;
	}
	return 0;
}

int ks_tenant_open(struct lm_store *st, const char *name,
		   const struct lm_tenant_secret *sec, struct lm_tenant **out,
		   struct lm_err *err)
{
	struct lm_tombstone_rec tr;
	struct lm_tenant *t;
	int dfd, rc;

	*out = NULL;
	dfd = ks_open_dir(st, name, err);
	if (dfd < 0)
		return dfd;
	rc = ks_read_tombstone(dfd, &tr);
	if (rc != 0) {
		close(dfd);
		if (rc == 1)
			return ks_shredded_error(&tr, err);
		if (rc == -EUCLEAN || rc == -EPROTONOSUPPORT)
			return lm_errf(err, -EUCLEAN, "%s/keys/%s/shredded is damaged",
				       st->path, name);
		return lm_errf(err, rc, "cannot read %s/keys/%s/shredded: %s",
			       st->path, name, strerror(-rc));
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->keys = lm_secret_alloc(96))) {
		free(t);
		close(dfd);
		return lm_errf(err, -ENOMEM, "out of memory");
	}
	snprintf(t->where, sizeof(t->where), "%s/keys/%s", st->path, name);
	rc = read_tenant_rec(dfd, t->where, &t->rec, err);
	if (!rc)
		rc = tenant_derive(t, sec, err);
	if (!rc && !lm_tenant_rec_mac_ok(&t->rec, KS_RECORD_KEY(t)))
		rc = lm_errf(err, -EKEYREJECTED, "wrong %s for tenant %s",
			     secret_word(t->rec.secret), name);
	if (!rc)
		rc = ks_read_versions(dfd, &t->rec, t->where, &t->vers, &t->nvers, err);
	if (!rc)
		rc = tenant_unseal(t, err);
	close(dfd);
	if (rc) {
		lm_tenant_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int lm_tenant_open(struct lm_store *st, const char *name,
		   const struct lm_tenant_secret *sec, struct lm_tenant **out,
		   struct lm_err *err)
{
	struct lm_err e = { "" };
	int rc = ks_tenant_open(st, name, sec, out, &e);

	if (rc) {
		if (rc != -ENOENT && rc != -EINVAL)
			lm_audit_log(st, "tenant.open", name, NULL, rc, e.msg);
		lm_errf(err, rc, "%s", e.msg);
	}
	return rc;
}

static void cost_params(enum lm_kdf_cost cost, uint64_t *ops, uint64_t *mem)
{
	switch (cost) {
	case LM_KDF_INTERACTIVE:
		*ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		*mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
		break;
	case LM_KDF_SENSITIVE:
		*ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
		*mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
		break;
	default:
		*ops = crypto_pwhash_OPSLIMIT_MODERATE;
		*mem = crypto_pwhash_MEMLIMIT_MODERATE;
		break;
	}
}

/* Writes a new active version @v of @t into directory @dfd (atomically),
 * with a fresh random KEK; the version record is added to t->vers. */
static int write_new_version(int dfd, struct lm_tenant *t, uint32_t v,
			     struct lm_err *err)
{
	unsigned char buf[sizeof(struct lm_kekver_disk)], *kek = t->keys + 64;
	struct lm_kekver_rec rec, *tmp;
	char file[16];
	int rc;

	memset(&rec, 0, sizeof(rec));
	rec.version = v;
	rec.state = LM_KEK_ACTIVE;
	rec.cipher = LM_SLOT_CIPHER_XCHACHA;
	rec.created = (uint64_t)time(NULL);
	memcpy(rec.tenant_id, t->rec.id, LM_TENANT_ID_BYTES);
	randombytes_buf(kek, 32);
	ks_kek_seal(t, &rec, kek);
	lm_kekver_rec_encode(&rec, KS_RECORD_KEY(t), buf);
	snprintf(file, sizeof(file), "v%u", (unsigned)v);
	rc = lm_file_replace(dfd, file, buf, sizeof(buf));
	if (rc) {
		sodium_memzero(kek, 32);
		return lm_errf(err, rc, "cannot write %s/%s: %s", t->where, file,
			       strerror(-rc));
	}
	tmp = realloc(t->vers, (t->nvers + 1) * sizeof(*tmp));
	if (!tmp) {
		sodium_memzero(kek, 32);
		return lm_errf(err, -ENOMEM, "out of memory");
	}
	t->vers = tmp;
	t->vers[t->nvers++] = rec;
	return 0;
}

/* The keks array anew, with @kek (in t->keys scratch) of version @v first. */
static int keks_push_front(struct lm_tenant *t, uint32_t v)
{
	struct lm_kek *k = lm_secret_alloc((t->nkeks + 1) * sizeof(*k));

	if (!k)
		return -ENOMEM;
	k[0].version = v;
	memcpy(k[0].key, t->keys + 64, 32);
	sodium_memzero(t->keys + 64, 32);
	if (t->nkeks)
		memcpy(k + 1, t->keks, t->nkeks * sizeof(*k));
	lm_secret_free(t->keks);
	t->keks = k;
	t->nkeks++;
	return 0;
}

int lm_tenant_add_version(struct lm_store *st, struct lm_tenant *t,
			  struct lm_err *err)
{
	uint32_t v = t->nvers ? t->vers[t->nvers - 1].version + 1 : 1;
	int dfd, rc;

	if (v == 0)
		return lm_errf(err, -EOVERFLOW, "tenant %s has no key version numbers left",
			       t->rec.name);
	dfd = ks_open_dir(st, t->rec.name, err);
	if (dfd < 0)
		return dfd;
	rc = write_new_version(dfd, t, v, err);
	close(dfd);
	if (!rc && keks_push_front(t, v))
		rc = lm_errf(err, -ENOMEM, "out of memory");
	return rc;
}

/* Removes a directory left by an interrupted create (files only inside). */
static void remove_stale_dir(int keysfd, const char *name)
{
	int fd = openat(keysfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(fd, de->d_name, 0);
	closedir(d);
	unlinkat(keysfd, name, AT_REMOVEDIR);
}

/* Refuses a name in use, or once used by a shredded tenant. */
static int name_free(int keysfd, const char *name, struct lm_err *err)
{
	struct lm_tombstone_rec tr;
	int dfd = openat(keysfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc;
	char when[64];

	if (dfd < 0 && errno == ENOENT)
		return 0;
	if (dfd < 0)
		return lm_errf(err, -EEXIST, "tenant %s already exists", name);
	rc = ks_read_tombstone(dfd, &tr);
	close(dfd);
	if (rc == 1) {
		ks_time(when, sizeof(when), tr.shredded);
		return lm_errf(err, -EEXIST,
			       "tenant %s was shredded on %s; a tenant name is never reused, choose another",
			       name, when);
	}
	return lm_errf(err, -EEXIST, "tenant %s already exists", name);
}

/* Writes the tenant record and v1 of @t into the new directory @dfd. */
static int create_files(int dfd, struct lm_tenant *t, struct lm_err *err)
{
	unsigned char buf[sizeof(struct lm_tenant_disk)];
	int rc;

	lm_tenant_rec_encode(&t->rec, KS_RECORD_KEY(t), buf);
	rc = lm_file_replace(dfd, "tenant", buf, sizeof(buf));
	if (rc)
		return lm_errf(err, rc, "cannot write %s/tenant: %s", t->where,
			       strerror(-rc));
	lm_fault_point("create: tenant record written");
	rc = write_new_version(dfd, t, 1, err);
	sodium_memzero(t->keys + 64, 32);
	return rc;
}

static int tenant_create_locked(struct lm_store *st, int keysfd, struct lm_tenant *t,
				const struct lm_tenant_secret *sec,
				enum lm_kdf_cost cost, struct lm_err *err)
{
	char tmp[128];
	int dfd, rc;

	rc = name_free(keysfd, t->rec.name, err);
	if (rc)
		return rc;
	t->rec.secret = (uint8_t)sec->kind;
	if (sec->kind == LM_SECRET_PASSPHRASE) {
		t->rec.kdf = LM_KDF_ARGON2ID;
		cost_params(cost, &t->rec.opslimit, &t->rec.memlimit);
	}
	randombytes_buf(t->rec.salt, sizeof(t->rec.salt));
	randombytes_buf(t->rec.id, sizeof(t->rec.id));
	t->rec.created = (uint64_t)time(NULL);
	rc = tenant_derive(t, sec, err);
	if (rc)
		return rc;
	lm_file_tmpname(tmp, sizeof(tmp), t->rec.name);
	remove_stale_dir(keysfd, tmp);
	if (mkdirat(keysfd, tmp, 0700) < 0 ||
	    (dfd = openat(keysfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		return lm_errf(err, rc, "cannot create %s/keys/%s: %s", st->path,
			       tmp, strerror(-rc));
	}
	rc = create_files(dfd, t, err);
	close(dfd);
	if (!rc && renameat(keysfd, tmp, keysfd, t->rec.name) < 0)
		rc = lm_errf(err, -errno, "cannot create %s: %s", t->where,
			     strerror(errno));
	if (rc) {
		remove_stale_dir(keysfd, tmp);
		return rc;
	}
	lm_fault_point("create: tenant directory in place");
	return lm_fsync_dir(keysfd);
}

int lm_tenant_create(struct lm_store *st, const char *name,
		     const struct lm_tenant_secret *sec, enum lm_kdf_cost cost,
		     struct lm_err *err)
{
	struct lm_tenant *t;
	char detail[128];
	int keysfd, rc;

	if (!lm_tenant_name_valid(name))
		return lm_errf(err, -EINVAL,
			       "invalid tenant name '%s': use 1 to %u letters, digits, '.', '_' or '-', starting with a letter or digit",
			       name, LM_TENANT_MAX);
	rc = secret_check(sec, err);
	if (rc)
		return rc;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->keys = lm_secret_alloc(96))) {
		free(t);
		return lm_errf(err, -ENOMEM, "out of memory");
	}
	strcpy(t->rec.name, name);
	snprintf(t->where, sizeof(t->where), "%s/keys/%s", st->path, name);
	rc = lm_store_lock(st, err);
	if (rc)
		goto out_free;
	rc = lm_audit_check(st, err);
	if (rc)
		goto out_unlock;
	keysfd = lm_store_dir(st, "keys", true);
	if (keysfd < 0) {
		rc = lm_errf(err, keysfd, "cannot create %s/keys: %s", st->path,
			     strerror(-keysfd));
		goto out_unlock;
	}
	rc = tenant_create_locked(st, keysfd, t, sec, cost, err);
	close(keysfd);
	if (sec->kind == LM_SECRET_PASSPHRASE)
		snprintf(detail, sizeof(detail), "passphrase, argon2id opslimit %llu memlimit %llu MiB",
			 (unsigned long long)t->rec.opslimit,
			 (unsigned long long)(t->rec.memlimit >> 20));
	else
		snprintf(detail, sizeof(detail), "key file");
	if (!rc)
		rc = lm_audit_append(st, "tenant.create", name, NULL, 0, detail, err);
	else if (rc != -EEXIST)
		lm_audit_log(st, "tenant.create", name, NULL, rc, err ? err->msg : "");
out_unlock:
	lm_store_unlock(st);
out_free:
	lm_tenant_free(t);
	return rc;
}

int lm_tenant_info(struct lm_store *st, const char *name,
		   struct lm_tenant_info *out, struct lm_err *err)
{
	struct lm_tombstone_rec tr;
	struct lm_kekver_rec *vs = NULL;
	char where[512];
	size_t n = 0;
	int dfd, rc;

	memset(out, 0, sizeof(*out));
	dfd = ks_open_dir(st, name, err);
	if (dfd < 0)
		return dfd;
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(where, sizeof(where), "%s/keys/%s", st->path, name);
	rc = ks_read_tombstone(dfd, &tr);
	if (rc == 1) {
		out->shredded = true;
		out->shredded_at = tr.shredded;
		out->versions_destroyed = tr.versions;
		out->rec.created = tr.created;
		memcpy(out->rec.id, tr.id, LM_TENANT_ID_BYTES);
		close(dfd);
		return 0;
	}
	if (rc < 0) {
		close(dfd);
		if (rc == -EUCLEAN || rc == -EPROTONOSUPPORT)
			return lm_errf(err, -EUCLEAN, "%s/shredded is damaged", where);
		return lm_errf(err, rc, "cannot read %s/shredded: %s", where,
			       strerror(-rc));
	}
	rc = read_tenant_rec(dfd, where, &out->rec, err);
	if (!rc)
		rc = ks_read_versions(dfd, &out->rec, where, &vs, &n, err);
	close(dfd);
	if (rc)
		return rc;
	out->versions = calloc(n ? n : 1, sizeof(*out->versions));
	if (!out->versions) {
		free(vs);
		return lm_errf(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		out->versions[i].version = vs[i].version;
		out->versions[i].active = vs[i].state == LM_KEK_ACTIVE;
		out->versions[i].created = vs[i].created;
		out->versions[i].retired = vs[i].retired;
		if (vs[i].state == LM_KEK_ACTIVE)
			out->current = vs[i].version;
	}
	out->nversions = n;
	free(vs);
	return 0;
}

void lm_tenant_info_release(struct lm_tenant_info *info)
{
	free(info->versions);
	info->versions = NULL;
	info->nversions = 0;
}

int lm_tenant_list(struct lm_store *st, char ***names, size_t *n,
		   struct lm_err *err)
{
	int rc = lm_store_names(st, "keys", true, names, n);

	if (rc == -ENOMEM)
		return lm_errf(err, rc, "out of memory");
	if (rc)
		return lm_errf(err, rc, "cannot read %s/keys: %s", st->path,
			       strerror(-rc));
	return 0;
}
