/* Unit test for crypt/vault: the volume header on a real store. Create,
 * read and open; another tenant and a shredded tenant refused by name;
 * every single-bit change of the header caught; rotation of vaults in
 * volumes/ and registered outside the store (mounted or not: only the
 * header changes), opened afterwards with the new key version alone; a
 * rekey begun, resumed and finished. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "check.h"
#include "crypt.h"
#include "fileio.h"
#include "keystore.h"
#include "vault.h"
#include "tmpstore.h"

static unsigned char key_a[32], key_b[32], key_g[32];

static struct lm_tenant_secret secret(const unsigned char *k)
{
	struct lm_tenant_secret s = { LM_SECRET_KEYFILE, k, 32 };

	return s;
}

static struct lm_tenant *tenant(struct lm_store *st, const char *name,
				const unsigned char *k)
{
	struct lm_tenant_secret s = secret(k);
	struct lm_err err = { "" };
	struct lm_tenant *t = NULL;

	CHECK_RC(lm_tenant_open(st, name, &s, &t, &err), 0);
	if (!t) {
		fprintf(stderr, "cannot open tenant %s: %s\n", name, err.msg);
		exit(1);
	}
	return t;
}

/* A new directory @rel of the store (volumes/NAME), opened. */
static int volume_dir(struct lm_store *st, const char *rel)
{
	int fd = lm_store_dir(st, rel, true);

	CHECK(fd >= 0);
	return fd;
}

static struct lm_vault_keys *keys_new(void)
{
	struct lm_vault_keys *k = lm_secret_alloc(sizeof(*k));

	if (!k)
		exit(1);
	return k;
}

static int count_op;
static const char *count_what;

static int count_rec(const struct lm_audit_rec *r, enum lm_audit_status s,
		     off_t off, void *arg)
{
	(void)s, (void)off, (void)arg;
	if (!strcmp(r->op, count_what))
		count_op++;
	return 0;
}

/* Audit records of operation @op in the store. */
static int audit_count(struct lm_store *st, const char *op)
{
	struct lm_audit_walk w;

	count_op = 0;
	count_what = op;
	lm_audit_walk(st, count_rec, NULL, &w, NULL);
	return count_op;
}

static void test_roundtrip(struct lm_store *st)
{
	struct lm_tenant *a = tenant(st, "acme", key_a);
	struct lm_vault_info info, got;
	struct lm_vault_keys *k = keys_new();
	struct lm_err err = { "" };
	unsigned char *buf;
	size_t len;
	int fd = volume_dir(st, "volumes/v1"), empty = volume_dir(st, "volumes/empty");

	CHECK_RC(lm_vault_create(st, fd, a, LM_CIPHER_XCHACHA20POLY1305, "volume v1",
				 &info, &err), 0);
	CHECK(info.generation == 1 && info.flags == 0 && info.block_shift == 12);
	CHECK(info.cipher == LM_CIPHER_XCHACHA20POLY1305);
	CHECK(!strcmp(info.kb.tenant, "acme") && info.kb.nslots == 1);
	CHECK(!memcmp(info.kb.object_id, info.uuid, 16));
	CHECK(audit_count(st, "vault.create") == 1);
	CHECK_RC(lm_vault_read(fd, "volume v1", &got, &err), 0);
	CHECK(!memcmp(got.uuid, info.uuid, 16) && got.created == info.created);
	CHECK_RC(lm_file_read(fd, LM_VAULT_DIRID_NAME, 64, &buf, &len), 0);
	CHECK(len == 16);
	free(buf);
	CHECK_RC(lm_vault_open(st, fd, a, "volume v1", &got, k, &err), 0);
	CHECK(k->generation == 1 && !k->rekey);
	/* Again: refused, nothing changed. */
	lm_err_clear(&err);
	CHECK_RC(lm_vault_create(st, fd, a, LM_CIPHER_XCHACHA20POLY1305, "volume v1",
				 NULL, &err), -EEXIST);
	CHECK_RC(lm_vault_read(fd, "volume v1", &got, &err), 0);
	CHECK(!memcmp(got.uuid, info.uuid, 16));
	/* Not a vault. */
	lm_err_clear(&err);
	CHECK_RC(lm_vault_read(empty, "volume empty", &got, &err), -ENOENT);
	CHECK(strstr(err.msg, "not a vault") != NULL);
	CHECK_RC(lm_vault_create(st, empty, a, (enum lm_cipher)7, "x", NULL, NULL), -EINVAL);
	if (lm_aead_available(LM_CIPHER_AES256GCM)) {
		CHECK_RC(lm_vault_create(st, empty, a, LM_CIPHER_AES256GCM, "volume empty",
					 &info, &err), 0);
		CHECK(info.cipher == LM_CIPHER_AES256GCM);
		CHECK_RC(lm_vault_open(st, empty, a, "volume empty", &got, k, &err), 0);
	}
	close(empty);
	close(fd);
	lm_secret_free(k);
	lm_tenant_free(a);
}

static void test_isolation(struct lm_store *st)
{
	struct lm_tenant *b = tenant(st, "beta", key_b), *g = tenant(st, "gamma", key_g);
	struct lm_vault_keys *k = keys_new();
	struct lm_vault_info info;
	struct lm_err err = { "" };
	int fd = lm_store_dir(st, "volumes/v1", false), gfd = volume_dir(st, "volumes/g1");
	int before = audit_count(st, "vault.open");
	uint32_t n;

	k->dek[0] = 1;
	CHECK_RC(lm_vault_open(st, fd, b, "volume v1", &info, k, &err), -EKEYREJECTED);
	CHECK(strstr(err.msg, "belongs to tenant acme") != NULL);
	CHECK(k->dek[0] == 0);
	CHECK(audit_count(st, "vault.open") == before + 1);
	/* Shredded after its handle was opened: the handle opens nothing new. */
	CHECK_RC(lm_vault_create(st, gfd, g, LM_CIPHER_XCHACHA20POLY1305, "volume g1",
				 NULL, &err), 0);
	CHECK_RC(lm_tenant_shred(st, "gamma", &n, &err), 0);
	lm_err_clear(&err);
	CHECK_RC(lm_vault_open(st, gfd, g, "volume g1", &info, k, &err), -EKEYREVOKED);
	CHECK(strstr(err.msg, "tenant gamma, which was shredded on") != NULL);
	lm_err_clear(&err);
	CHECK_RC(lm_vault_open(st, gfd, b, "volume g1", &info, k, &err), -EKEYREVOKED);
	CHECK(strstr(err.msg, "shredded") != NULL);
	/* A vault cannot be made for it any more either. */
	close(gfd);
	gfd = volume_dir(st, "volumes/g2");
	lm_err_clear(&err);
	CHECK_RC(lm_vault_create(st, gfd, g, LM_CIPHER_XCHACHA20POLY1305, "volume g2",
				 NULL, &err), -EKEYREVOKED);
	close(gfd);
	close(fd);
	lm_secret_free(k);
	lm_tenant_free(g);
	lm_tenant_free(b);
}

/* Every bit of @hdr flipped: decode or unlock refuses it. */
static void flip_all(unsigned char *hdr, size_t len, const struct lm_tenant *t,
		     const char *tag)
{
	struct lm_vault_keys *k = keys_new();
	struct lm_vault_info info;
	const struct lm_kek *keks;
	size_t nkeks;

	keks = lm_tenant_keks(t, &nkeks);
	CHECK_RC(lm_vault_unlock(hdr, len, "acme", keks, nkeks, "x", &info, k, NULL), 0);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			hdr[i] ^= (unsigned char)(1u << bit);
			rc = lm_vault_unlock(hdr, len, "acme", keks, nkeks, "x", &info, k, NULL);
			if (rc == 0) {
				fprintf(stderr, "%s: byte %zu bit %d: change not detected\n",
					tag, i, bit);
				check_fails++;
			}
			for (size_t j = 0; j < sizeof(*k); j++)
				if (((unsigned char *)k)[j])
					check_fails++;
			hdr[i] ^= (unsigned char)(1u << bit);
		}
	}
	CHECK_RC(lm_vault_unlock(hdr, len - 1, "acme", keks, nkeks, "x", &info, k, NULL), -EUCLEAN);
	CHECK_RC(lm_vault_decode(hdr, 100, &info, NULL, NULL), -EUCLEAN);
	lm_secret_free(k);
}

static void test_tamper(struct lm_store *st)
{
	struct lm_tenant *a = tenant(st, "acme", key_a);
	struct lm_vault_keys *k = keys_new();
	struct lm_vault_info info;
	struct lm_err err = { "" };
	unsigned char *hdr;
	size_t len;
	int fd = volume_dir(st, "volumes/t1"), rc;

	CHECK_RC(lm_vault_create(st, fd, a, LM_CIPHER_XCHACHA20POLY1305, "volume t1",
				 NULL, &err), 0);
	CHECK_RC(lm_file_read(fd, LM_VAULT_HEADER_NAME, LM_VAULT_MAX, &hdr, &len), 0);
	CHECK(len == LM_VAULT_HEAD + LM_KEYBLOCK_SIZE(1) + LM_VAULT_MAC);
	flip_all(hdr, len, a, "plain header");
	/* Through the file: a changed cipher byte is caught by the MAC. */
	hdr[10] = hdr[10] == 1 ? 2 : 1;
	CHECK_RC(lm_file_replace(fd, LM_VAULT_HEADER_NAME, hdr, len), 0);
	lm_err_clear(&err);
	CHECK_RC(lm_vault_open(st, fd, a, "volume t1", &info, k, &err), -EBADMSG);
	CHECK(strstr(err.msg, "header MAC mismatch") != NULL);
	hdr[10] = hdr[10] == 1 ? 2 : 1;
	CHECK_RC(lm_file_replace(fd, LM_VAULT_HEADER_NAME, hdr, len), 0);
	free(hdr);
	/* With a rekey box. */
	CHECK_RC(lm_vault_open(st, fd, a, "volume t1", &info, k, &err), 0);
	CHECK_RC(lm_vault_rekey_begin(st, fd, a, &info, k, &err), 0);
	CHECK_RC(lm_file_read(fd, LM_VAULT_HEADER_NAME, LM_VAULT_MAX, &hdr, &len), 0);
	flip_all(hdr, len, a, "header under rekey");
	/* The format field: another format, said so. */
	hdr[8] = 2;
	rc = lm_vault_decode(hdr, len, &info, NULL, NULL);
	CHECK_RC(rc, -EPROTONOSUPPORT);
	free(hdr);
	close(fd);
	lm_secret_free(k);
	lm_tenant_free(a);
}

/* Opens the vault at @dfd as @t and copies its DEK to @dek. */
static int open_dek(struct lm_store *st, int dfd, const struct lm_tenant *t,
		    unsigned char *dek, struct lm_vault_info *info)
{
	struct lm_vault_keys *k = keys_new();
	struct lm_err err = { "" };
	int rc = lm_vault_open(st, dfd, t, "vault", info, k, &err);

	if (rc)
		fprintf(stderr, "open: %s\n", err.msg);
	memcpy(dek, k->dek, 32);
	if (k->rekey)
		memcpy(dek + 32, k->next_dek, 32);
	else
		memset(dek + 32, 0, 32);
	lm_secret_free(k);
	return rc;
}

static void test_rotate(struct lm_store *st, const char *outside)
{
	struct lm_tenant_secret s = secret(key_a);
	struct lm_tenant *a = tenant(st, "acme", key_a);
	struct lm_rotate_result res;
	struct lm_vault_keys *k = keys_new();
	struct lm_vault_info info;
	struct lm_err err = { "" };
	unsigned char d1[64], d2[64], d3[64], x[64], stale[16] = { 9 };
	char vpath[PATH_MAX];
	int v1 = lm_store_dir(st, "volumes/v1", false), ext, t1;

	ext = open(outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(ext >= 0);
	CHECK_RC(lm_vault_create(st, ext, a, LM_CIPHER_XCHACHA20POLY1305, outside,
				 &info, &err), 0);
	CHECK_RC(lm_vault_register(st, outside, info.uuid, &err), 0);
	/* volumes/v1 registered too (seen once), and a stale record. */
	CHECK_RC(lm_vault_read(v1, "v1", &info, &err), 0);
	snprintf(vpath, sizeof(vpath), "%s/volumes/v1", st->path);
	CHECK_RC(lm_vault_register(st, vpath, info.uuid, &err), 0);
	CHECK_RC(lm_vault_register(st, "/nonexistent/vault", stale, &err), 0);
	/* The outside vault is "mounted": its keys are held open, mid-rekey. */
	CHECK_RC(lm_vault_open(st, ext, a, outside, &info, k, &err), 0);
	CHECK_RC(lm_vault_rekey_begin(st, ext, a, &info, k, &err), 0);
	t1 = lm_store_dir(st, "volumes/t1", false);
	CHECK_RC(open_dek(st, v1, a, d1, &info), 0);
	CHECK_RC(open_dek(st, ext, a, d2, &info), 0);
	CHECK_RC(open_dek(st, t1, a, d3, &info), 0);
	CHECK(!memcmp(d2, k->dek, 32) && !memcmp(d2 + 32, k->next_dek, 32));
	lm_tenant_free(a);

	CHECK_RC(lm_tenant_rotate(st, "acme", &s, &res, &err), 0);
	if (err.msg[0])
		fprintf(stderr, "rotate: %s\n", err.msg);
	/* v1, t1, empty (where GCM exists) and the outside vault. */
	CHECK(res.rewrapped == (lm_aead_available(LM_CIPHER_AES256GCM) ? 4u : 3u));
	CHECK(res.retired == 1 && res.new_version == 2);

	a = tenant(st, "acme", key_a);
	{
		size_t n;
		const struct lm_kek *keks = lm_tenant_keks(a, &n);

		CHECK(n == 1 && keks[0].version == 2);
	}
	CHECK_RC(open_dek(st, v1, a, x, &info), 0);
	CHECK(!memcmp(x, d1, 64));
	CHECK(info.kb.nslots == 1 && info.kb.slots[0].version == 2);
	CHECK_RC(open_dek(st, t1, a, x, &info), 0);
	CHECK(!memcmp(x, d3, 64));
	CHECK_RC(open_dek(st, ext, a, x, &info), 0);
	CHECK(!memcmp(x, d2, 64));
	CHECK(info.flags & LM_VAULT_F_REKEY);
	CHECK(info.kb.slots[0].version == 2);
	/* The held keys still finish the rekey: the box survived. */
	CHECK_RC(lm_vault_rekey_finish(st, ext, a, &info, k, &err), 0);
	CHECK(info.generation == 2 && !(info.flags & LM_VAULT_F_REKEY));
	CHECK_RC(open_dek(st, ext, a, x, &info), 0);
	CHECK(!memcmp(x, d2 + 32, 32));
	/* Unregistered, a rotation no longer sees it. */
	CHECK_RC(lm_vault_unregister(st, info.uuid), 0);
	CHECK_RC(lm_vault_unregister(st, info.uuid), -ENOENT);
	lm_tenant_free(a);
	CHECK_RC(lm_tenant_rotate(st, "acme", &s, &res, &err), 0);
	a = tenant(st, "acme", key_a);
	lm_err_clear(&err);
	CHECK_RC(lm_vault_open(st, ext, a, outside, &info, k, &err), -ENOKEY);
	CHECK_RC(open_dek(st, v1, a, x, &info), 0);
	CHECK(!memcmp(x, d1, 64));
	close(t1);
	close(ext);
	close(v1);
	lm_secret_free(k);
	lm_tenant_free(a);
}

/* A rotation refuses to validate a header changed without the DEK. */
static void test_rotate_tampered(struct lm_store *st)
{
	struct lm_tenant_secret s = secret(key_b);
	struct lm_tenant *b = tenant(st, "beta", key_b);
	struct lm_rotate_result res;
	struct lm_err err = { "" };
	unsigned char *hdr;
	size_t len;
	int fd = volume_dir(st, "volumes/b1");

	CHECK_RC(lm_vault_create(st, fd, b, LM_CIPHER_XCHACHA20POLY1305, "volume b1",
				 NULL, &err), 0);
	CHECK_RC(lm_file_read(fd, LM_VAULT_HEADER_NAME, LM_VAULT_MAX, &hdr, &len), 0);
	hdr[32] ^= 1; /* created */
	CHECK_RC(lm_file_replace(fd, LM_VAULT_HEADER_NAME, hdr, len), 0);
	lm_tenant_free(b);
	CHECK_RC(lm_tenant_rotate(st, "beta", &s, &res, &err), -EBADMSG);
	CHECK(strstr(err.msg, "volumes/b1") != NULL);
	hdr[32] ^= 1;
	CHECK_RC(lm_file_replace(fd, LM_VAULT_HEADER_NAME, hdr, len), 0);
	lm_err_clear(&err);
	CHECK_RC(lm_tenant_rotate(st, "beta", &s, &res, &err), 0);
	free(hdr);
	close(fd);
}

static void test_rekey(struct lm_store *st)
{
	struct lm_tenant *a = tenant(st, "acme", key_a);
	struct lm_vault_keys *k = keys_new(), *k2 = keys_new();
	struct lm_vault_info info;
	struct lm_err err = { "" };
	unsigned char old[32], next[32];
	int fd = volume_dir(st, "volumes/r1"), rekeys = audit_count(st, "vault.rekey");

	CHECK_RC(lm_vault_create(st, fd, a, LM_CIPHER_XCHACHA20POLY1305, "volume r1",
				 NULL, &err), 0);
	CHECK_RC(lm_vault_open(st, fd, a, "r1", &info, k, &err), 0);
	CHECK_RC(lm_vault_open(st, fd, a, "r1", &info, k2, &err), 0);
	CHECK_RC(lm_vault_rekey_finish(st, fd, a, &info, k, &err), -EINVAL);
	memcpy(old, k->dek, 32);
	CHECK_RC(lm_vault_rekey_begin(st, fd, a, &info, k, &err), 0);
	CHECK(k->rekey && k->next_generation == 2 && k->generation == 1);
	CHECK(info.flags & LM_VAULT_F_REKEY);
	CHECK(memcmp(k->next_dek, old, 32) != 0);
	memcpy(next, k->next_dek, 32);
	CHECK(audit_count(st, "vault.rekey") == rekeys + 1);
	/* A second opener that did not see the begin: refused. */
	lm_err_clear(&err);
	CHECK_RC(lm_vault_rekey_begin(st, fd, a, &info, k2, &err), -EBUSY);
	/* Resume: open again, the box gives the same next key. */
	CHECK_RC(lm_vault_open(st, fd, a, "r1", &info, k2, &err), 0);
	CHECK(k2->rekey && k2->next_generation == 2);
	CHECK(!memcmp(k2->dek, old, 32) && !memcmp(k2->next_dek, next, 32));
	CHECK_RC(lm_vault_rekey_begin(st, fd, a, &info, k2, &err), 0);
	CHECK_RC(lm_vault_open(st, fd, a, "r1", &info, k2, &err), 0);
	CHECK(!memcmp(k2->next_dek, next, 32));
	/* Finish. */
	CHECK_RC(lm_vault_rekey_finish(st, fd, a, &info, k2, &err), 0);
	CHECK(k2->generation == 2 && !k2->rekey && !memcmp(k2->dek, next, 32));
	CHECK(info.generation == 2 && info.flags == 0);
	/* The other holder's state is stale now. */
	lm_err_clear(&err);
	CHECK_RC(lm_vault_rekey_finish(st, fd, a, &info, k, &err), -ESTALE);
	CHECK_RC(lm_vault_open(st, fd, a, "r1", &info, k, &err), 0);
	CHECK(k->generation == 2 && !k->rekey && !memcmp(k->dek, next, 32));
	close(fd);
	lm_secret_free(k2);
	lm_secret_free(k);
	lm_tenant_free(a);
}

int main(void)
{
	struct lm_err err = { "" };
	struct lm_tenant_secret s;
	struct lm_store *st;
	char dir[256], outside[256], path[300];

	if (lm_crypt_init())
		return 1;
	tmp_dir(dir, "vault");
	tmp_dir(outside, "vault-outside");
	snprintf(path, sizeof(path), "%s/store", dir);
	CHECK_RC(lm_store_open(path, true, &st, &err), 0);
	if (!st)
		return 1;
	lm_crypt_random(key_a, 32);
	lm_crypt_random(key_b, 32);
	lm_crypt_random(key_g, 32);
	s = secret(key_a);
	CHECK_RC(lm_tenant_create(st, "acme", &s, LM_KDF_INTERACTIVE, &err), 0);
	s = secret(key_b);
	CHECK_RC(lm_tenant_create(st, "beta", &s, LM_KDF_INTERACTIVE, &err), 0);
	s = secret(key_g);
	CHECK_RC(lm_tenant_create(st, "gamma", &s, LM_KDF_INTERACTIVE, &err), 0);
	test_roundtrip(st);
	test_isolation(st);
	test_tamper(st);
	test_rotate(st, outside);
	test_rotate_tampered(st);
	test_rekey(st);
	lm_store_free(st);
	tmp_rm(dir);
	tmp_rm(outside);
	return check_done("test_vault");
}
