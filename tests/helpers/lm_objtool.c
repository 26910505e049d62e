/* lm_objtool: makes and opens objects with key slots through the crypt
 * library, for the CLI integration and crash tests (objects are made by
 * the vault and layer code in the product; this stands in for them).
 *
 *   lm_objtool create STORE TENANT KEYFILE COUNT [PREFIX]
 *       COUNT slot files PREFIX0..PREFIX<COUNT-1> (default prefix "obj"),
 *       each with a fresh random data key
 *   lm_objtool open STORE TENANT KEYFILE
 *       opens every slot file of TENANT in the store; prints
 *       "opened N objects, keys <hash>" where hash covers every (name, data
 *       key), so a rotation can be shown to keep every data key
 *   lm_objtool open-one STORE TENANT KEYFILE NAME
 *       opens one object; on failure prints the library's message
 *
 * Exit status as lamina's (0 ok, 3 not found, 4 key rejected, 5 shredded,
 * 6 integrity, 1 other, 2 usage).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypt.h"
#include "fileio.h"
#include "keystore.h"
#include "slotfile.h"

struct open_ctx {
	struct lm_store *st;
	struct lm_tenant *t;
	size_t opened;
	int rc;
	unsigned char hash[32];
};

static int exit_code(int rc)
{
	switch (-rc) {
	case 0: return 0;
	case ENOENT: return 3;
	case EKEYREJECTED: case ENOKEY: return 4;
	case EKEYREVOKED: return 5;
	case EBADMSG: case EUCLEAN: return 6;
	case EINVAL: return 2;
	default: return 1;
	}
}

static int fail(int rc, const struct lm_err *err)
{
	fprintf(stderr, "lm_objtool: %s\n", err->msg[0] ? err->msg : strerror(-rc));
	return exit_code(rc);
}

/* Chains (name, dek) into the running hash. */
static void fold(struct open_ctx *c, const char *name, const unsigned char *dek)
{
	unsigned char in[32 + 32 + 256];
	size_t n = strlen(name);

	memcpy(in, c->hash, 32);
	memcpy(in + 32, dek, 32);
	memcpy(in + 64, name, n);
	lm_hash(c->hash, 32, in, 64 + n, NULL, 0);
}

static int open_one(const struct lm_container_ops *ops, const char *dir,
		    const char *file, void *arg)
{
	struct open_ctx *c = arg;
	struct lm_err err = { "" };
	struct lm_keyblock kb;
	unsigned char dek[32];
	char name[256];
	size_t n = strlen(file) - strlen(LM_SLOTFILE_SUFFIX);
	int rc;

	(void)ops, (void)dir;
	snprintf(name, sizeof(name), "%.*s", (int)n, file);
	if (lm_slotfile_read(c->st, name, &kb, &err) ||
	    strcmp(kb.tenant, lm_tenant_name(c->t)))
		return 0;
	rc = lm_slotfile_open(c->st, name, c->t, dek, &err);
	if (rc) {
		fprintf(stderr, "lm_objtool: %s\n", err.msg);
		c->rc = rc;
		return 0;
	}
	c->opened++;
	/* Sorted fold: scan order is not stable, so xor per-object hashes. */
	{
		struct open_ctx one = { 0 };

		fold(&one, name, dek);
		for (int i = 0; i < 32; i++)
			c->hash[i] ^= one.hash[i];
	}
	lm_crypt_wipe(dek, 32);
	return 0;
}

int main(int argc, char **argv)
{
	struct lm_err err = { "" };
	struct lm_tenant_secret sec = { LM_SECRET_KEYFILE, NULL, 0 };
	unsigned char *key;
	struct lm_store *st = NULL;
	struct lm_tenant *t = NULL;
	size_t len;
	int rc, code;

	if (argc < 5 || lm_crypt_init()) {
		fprintf(stderr, "usage: lm_objtool create|open|open-one STORE TENANT KEYFILE ...\n");
		return 2;
	}
	key = lm_secret_alloc(33);
	rc = lm_secret_file_read(argv[4], "key file", key, 33, &len, &err);
	sec.bytes = key;
	sec.len = len;
	if (!rc)
		rc = lm_store_open(argv[2], false, &st, &err);
	if (!rc)
		rc = lm_tenant_open(st, argv[3], &sec, &t, &err);
	if (rc)
		goto out;
	if (!strcmp(argv[1], "create") && argc >= 6) {
		const char *prefix = argc > 6 ? argv[6] : "obj";
		unsigned char dek[32];
		char name[128];

		for (long i = 0; i < atol(argv[5]) && !rc; i++) {
			lm_crypt_random(dek, 32);
			snprintf(name, sizeof(name), "%s%ld", prefix, i);
			rc = lm_slotfile_create(st, name, t, dek, &err);
		}
	} else if (!strcmp(argv[1], "open")) {
		struct open_ctx c = { .st = st, .t = t };
		char hex[65];

		rc = lm_store_foreach_container(st, open_one, &c);
		lm_crypt_hex(hex, c.hash, 32);
		printf("opened %zu objects, keys %s\n", c.opened, hex);
		if (!rc && c.rc) {
			code = exit_code(c.rc); /* the message is out */
			goto out_code;
		}
	} else if (!strcmp(argv[1], "open-one") && argc >= 6) {
		unsigned char dek[32];

		rc = lm_slotfile_open(st, argv[5], t, dek, &err);
	} else {
		fprintf(stderr, "lm_objtool: unknown command %s\n", argv[1]);
		code = 2;
		goto out_code;
	}
out:
	code = rc ? fail(rc, &err) : 0;
out_code:
	lm_tenant_free(t);
	lm_store_free(st);
	lm_secret_free(key);
	return code;
}
