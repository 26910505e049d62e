/* Writes the hand-made seeds of tests/fuzz/corpus/vault (run by hand,
 * never by CTest; the outputs are committed):
 *
 *   cp -r tests/kat/store-keyfile /tmp/kat-store && chmod -R go-rwx /tmp/kat-store
 *   install -m 600 tests/kat/keyfile.key /tmp/kat.key
 *   build/tests/fuzz/gen_corpus_vault /tmp/kat-store /tmp/kat.key \
 *       tests/fuzz/corpus/vault
 *
 * Valid headers are made in a copy of the known-answer store (tenant
 * kat-keyfile, whose active key version v2 fuzz_vault.c holds), one per
 * cipher and one under rekey; each is also written damaged the ways a disk
 * or an attacker would: cut short, grown, each fixed field set to a value
 * it may not have, the key block's and the header's lengths disagreeing,
 * a flipped bit under the MAC. Seeds are named seed-*.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypt.h"
#include "fileio.h"
#include "keystore.h"
#include "le.h"
#include "vault.h"

static const char *outdir;

static _Noreturn void die(const char *what, const struct lm_err *err)
{
	fprintf(stderr, "gen_corpus_vault: %s: %s\n", what, err ? err->msg : "");
	exit(1);
}

static void put(const char *name, const unsigned char *b, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", outdir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f))
		die(path, NULL);
}

/* A vault made in store directory @rel; its header into @buf. */
static size_t make(struct lm_store *st, const struct lm_tenant *t, const char *rel,
		   enum lm_cipher cipher, bool rekey, unsigned char *buf)
{
	struct lm_vault_keys *k = lm_secret_alloc(sizeof(*k));
	struct lm_err err = { "" };
	struct lm_vault_info info;
	unsigned char *b;
	size_t len;
	int fd = lm_store_dir(st, rel, true);

	if (!k || fd < 0 ||
	    lm_vault_create(st, fd, t, cipher, rel, &info, &err) ||
	    lm_vault_open(st, fd, t, rel, &info, k, &err) ||
	    (rekey && lm_vault_rekey_begin(st, fd, t, &info, k, &err)) ||
	    lm_file_read(fd, LM_VAULT_HEADER_NAME, LM_VAULT_MAX, &b, &len))
		die(rel, &err);
	memcpy(buf, b, len);
	free(b);
	close(fd);
	lm_secret_free(k);
	return len;
}

/* @v with byte @off set to @val (or xor'ed with @x). */
static void variant(const char *name, const unsigned char *v, size_t n, size_t off,
		    int val, unsigned char x)
{
	unsigned char b[LM_VAULT_MAX + 1];

	memcpy(b, v, n);
	if (val >= 0)
		b[off] = (unsigned char)val;
	b[off] ^= x;
	put(name, b, n);
}

int main(int argc, char **argv)
{
	unsigned char key[32], v[LM_VAULT_MAX + 1], r[LM_VAULT_MAX + 1], b[LM_VAULT_MAX + 1];
	struct lm_tenant_secret sec = { LM_SECRET_KEYFILE, key, 32 };
	struct lm_err err = { "" };
	struct lm_tenant *t;
	struct lm_store *st;
	size_t n, nr, klen;

	if (argc != 4) {
		fprintf(stderr, "usage: gen_corpus_vault KAT_STORE_COPY KEYFILE OUTDIR\n");
		return 2;
	}
	outdir = argv[3];
	if (lm_crypt_init() || lm_secret_file_read(argv[2], "key file", key, 32, &klen, &err) ||
	    klen != 32)
		die(argv[2], &err);
	if (lm_store_open(argv[1], false, &st, &err) ||
	    lm_tenant_open(st, "kat-keyfile", &sec, &t, &err))
		die(argv[1], &err);
	n = make(st, t, "volumes/xchacha", LM_CIPHER_XCHACHA20POLY1305, false, v);
	put("xchacha", v, n);
	if (lm_aead_available(LM_CIPHER_AES256GCM)) {
		size_t na = make(st, t, "volumes/aes", LM_CIPHER_AES256GCM, false, b);

		put("aes", b, na);
	}
	nr = make(st, t, "volumes/rekey", LM_CIPHER_XCHACHA20POLY1305, true, r);
	put("rekey", r, nr);

	put("empty", v, 0);
	put("head-only", v, LM_VAULT_HEAD);
	put("short", v, n - 1);
	memcpy(b, v, n);
	b[n] = 0;
	put("long", b, n + 1);
	variant("magic", v, n, 0, -1, 1);
	variant("magic-nul", v, n, 7, 'X', 0);
	variant("format2", v, n, 8, 2, 0);
	variant("format-high", v, n, 9, 1, 0);
	variant("cipher-0", v, n, 10, 0, 0);
	variant("cipher-other", v, n, 10, v[10] == 1 ? 2 : 1, 0);
	variant("cipher-3", v, n, 10, 3, 0);
	variant("shift-13", v, n, 11, 13, 0);
	variant("flags-2", v, n, 12, 2, 0);
	variant("flags-high", v, n, 15, 0x80, 0);
	variant("flags-rekey-no-box", v, n, 12, 1, 0);
	variant("uuid", v, n, 16, -1, 0x40);
	variant("created", v, n, 32, -1, 1);
	variant("generation-0", v, n, 40, 0, 0);
	variant("generation-2", v, n, 40, 2, 0);
	variant("kblen-huge", v, n, 47, 0xff, 0);
	variant("kblen-minus-80", v, n, 44, v[44] - 80, 0);
	variant("box-without-flag", v, n, 48, 1, 0);
	variant("box-pad", r, nr, 48 + 73, 1, 0);
	variant("box-flip", r, nr, 48 + 30, -1, 4);
	variant("box-cipher-2", r, nr, 48, 2, 0);
	variant("rekey-flag-cleared", r, nr, 12, 0, 0);
	variant("kb-tenant", v, n, 128 + 16, 'K', 0);
	variant("kb-nslots-2", v, n, 128 + 80, 2, 0);
	variant("kb-slot-version", v, n, 128 + 88, 1, 0);
	variant("kb-wrapped", v, n, 128 + 88 + 40, -1, 1);
	variant("kb-mac", v, n, n - 33, -1, 1);
	variant("mac", v, n, n - 1, -1, 0x80);
	/* Two key blocks' worth: a slot appended, both lengths agreeing. */
	memcpy(b, v, 128 + 88 + 80);
	memcpy(b + 128 + 88 + 80, v + 128 + 88, 80);
	memcpy(b + 128 + 88 + 160, v + 128 + 88 + 80, n - (128 + 88 + 80));
	b[128 + 80] = 2;
	lm_put32(b + 44, (uint32_t)(LM_KEYBLOCK_SIZE(2)));
	put("kb-slot-duplicated", b, n + 80);
	b[128 + 88] ^= 3; /* another version */
	put("kb-slot-added", b, n + 80);
	lm_tenant_free(t);
	lm_store_free(st);
	return 0;
}
