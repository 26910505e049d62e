/* Writes the known-answer files of tests/kat/ (run once, by hand; the
 * outputs are committed and test_kat checks that the code still opens
 * them, so a change of any on-disk format or derivation is caught):
 *
 *   gen_kat OUTDIR
 *
 *   vectors.txt                  fixed inputs and what they derive to
 *   aead-xchacha20poly1305.box   a sealed box under key 00..1f
 *   aead-aes256gcm.box           the same with AES-256-GCM (where available)
 *   keyfile.key                  the key file of store-keyfile (a0..bf)
 *   store-keyfile/               tenant kat-keyfile (key file), rotated once,
 *                                objects kat-obj1 and kat-obj2, its audit log
 *   store-passphrase/            tenant kat-pass (passphrase, interactive
 *                                cost), object kat-obj3
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aead.h"
#include "crypt.h"
#include "kdf.h"
#include "keystore.h"
#include "name.h"
#include "slotfile.h"

#define KAT_PLAIN "lamina known-answer test: one block of plaintext, 64 bytes long."
#define KAT_AD "lamina-kat/object-1/block-0"
#define KAT_PASS "lamina known answer"

static void die(const char *what, int rc, const struct lm_err *err)
{
	fprintf(stderr, "gen_kat: %s: %s (%s)\n", what, strerror(-rc),
		err ? err->msg : "");
	exit(1);
}

static void put_hex(FILE *f, const char *name, const unsigned char *b, size_t n)
{
	char hex[2 * 64 + 1];

	lm_crypt_hex(hex, b, n);
	fprintf(f, "%s %s\n", name, hex);
}

static void write_file(const char *dir, const char *name, const void *b, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f))
		die(path, -EIO, NULL);
}

static void fill(unsigned char *b, size_t n, unsigned char start)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(start + i);
}

static void gen_boxes(const char *dir, FILE *v)
{
	static const enum lm_cipher ciphers[] = { LM_CIPHER_XCHACHA20POLY1305,
						  LM_CIPHER_AES256GCM };
	unsigned char key[32], box[sizeof(KAT_PLAIN) - 1 + LM_AEAD_OVERHEAD];
	struct lm_aead_key *k;

	fill(key, 32, 0);
	put_hex(v, "box-key", key, 32);
	fprintf(v, "box-ad %s\nbox-plain %s\n", KAT_AD, KAT_PLAIN);
	for (size_t i = 0; i < 2; i++) {
		char name[64];

		if (!lm_aead_available(ciphers[i]))
			continue;
		if (lm_aead_key_new(ciphers[i], key, &k))
			die("key", -EINVAL, NULL);
		lm_aead_seal(k, box, (const unsigned char *)KAT_PLAIN,
			     sizeof(KAT_PLAIN) - 1, (const unsigned char *)KAT_AD,
			     sizeof(KAT_AD) - 1);
		snprintf(name, sizeof(name), "aead-%s.box", i ? "aes256gcm" :
			 "xchacha20poly1305");
		write_file(dir, name, box, sizeof(box));
		lm_aead_key_free(k);
	}
}

static void gen_derivations(FILE *v)
{
	static const char *const purposes[] = { "", "subkey-contents", "subkey-names",
						"subkey-metadata", "subkey-header" };
	unsigned char dek[32], sub[32], id[16], obj[32];
	char sealed[LM_NAME_SEALED_MAX + 1];
	struct lm_name_key *nk;

	fill(dek, 32, 0x40);
	put_hex(v, "dek", dek, 32);
	for (int p = 1; p <= 4; p++) {
		lm_kdf_subkey(sub, dek, (enum lm_subkey)p);
		put_hex(v, purposes[p], sub, 32);
	}
	fill(id, 16, 0x70);
	put_hex(v, "object-id", id, 16);
	lm_kdf_subkey(sub, dek, LM_SUBKEY_CONTENTS);
	lm_kdf_object(obj, sub, id, 16);
	put_hex(v, "object-key", obj, 32);
	lm_kdf_subkey(sub, dek, LM_SUBKEY_NAMES);
	lm_name_key_new(sub, &nk);
	lm_name_seal(nk, id, "patient-0042.dcm", 16, sealed, sizeof(sealed));
	fprintf(v, "name-plain patient-0042.dcm\nname-sealed %s\n", sealed);
	lm_name_key_free(nk);
}

/* A store with tenant @tenant and objects kat-obj<first..first+n-1>. */
static void gen_store(const char *dir, const char *sub, const char *tenant,
		      const struct lm_tenant_secret *sec, int first, int n,
		      bool rotate, FILE *v)
{
	struct lm_err err = { "" };
	struct lm_rotate_result res;
	struct lm_store *st;
	struct lm_tenant *t;
	unsigned char dek[32];
	char path[512], name[32];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((rc = lm_store_open(path, true, &st, &err)) ||
	    (rc = lm_tenant_create(st, tenant, sec, LM_KDF_INTERACTIVE, &err)) ||
	    (rc = lm_tenant_open(st, tenant, sec, &t, &err)))
		die(path, rc, &err);
	for (int i = first; i < first + n; i++) {
		fill(dek, 32, (unsigned char)(0x10 * i));
		snprintf(name, sizeof(name), "kat-obj%d", i);
		if ((rc = lm_slotfile_create(st, name, t, dek, &err)))
			die(name, rc, &err);
		snprintf(name, sizeof(name), "dek-kat-obj%d", i);
		put_hex(v, name, dek, 32);
	}
	lm_tenant_free(t);
	if (rotate && (rc = lm_tenant_rotate(st, tenant, sec, &res, &err)))
		die("rotate", rc, &err);
	if ((rc = lm_tenant_open(st, tenant, sec, &t, &err)))
		die("reopen", rc, &err);
	for (size_t i = 0, nk; i < (lm_tenant_keks(t, &nk), nk); i++) {
		snprintf(name, sizeof(name), "kek-%s-v%u", tenant,
			 (unsigned)lm_tenant_keks(t, &nk)[i].version);
		put_hex(v, name, lm_tenant_keks(t, &nk)[i].key, 32);
	}
	lm_tenant_free(t);
	unlinkat(st->fd, ".lock", 0);
	lm_store_free(st);
}

int main(int argc, char **argv)
{
	unsigned char keyfile[32];
	struct lm_tenant_secret ks = { LM_SECRET_KEYFILE, keyfile, 32 };
	struct lm_tenant_secret ps = { LM_SECRET_PASSPHRASE,
				       (const unsigned char *)KAT_PASS,
				       sizeof(KAT_PASS) - 1 };
	char path[512];
	FILE *v;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_kat OUTDIR\n");
		return 2;
	}
	if (lm_crypt_init())
		return 1;
	snprintf(path, sizeof(path), "%s/vectors.txt", argv[1]);
	v = fopen(path, "w");
	if (!v)
		die(path, -errno, NULL);
	gen_boxes(argv[1], v);
	gen_derivations(v);
	fill(keyfile, 32, 0xa0);
	write_file(argv[1], "keyfile.key", keyfile, 32);
	fprintf(v, "passphrase %s\n", KAT_PASS);
	gen_store(argv[1], "store-keyfile", "kat-keyfile", &ks, 1, 2, true, v);
	gen_store(argv[1], "store-passphrase", "kat-pass", &ps, 3, 1, false, v);
	fclose(v);
	return 0;
}
