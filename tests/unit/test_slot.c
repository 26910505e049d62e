/* Unit test for crypt/slot and crypt/slotfile: key blocks, slot files,
 * tampering with any byte, slots moved between objects and tenants. */
#include <errno.h>

#include "check.h"
#include "crypt.h"
#include "slot.h"
#include "slotfile.h"

static void kek_init(struct lm_kek *k, uint32_t v, unsigned char fill)
{
	k->version = v;
	memset(k->key, fill, sizeof(k->key));
}

static void test_tenant_names(void)
{
	char big[80];

	CHECK(lm_tenant_name_valid("acme"));
	CHECK(lm_tenant_name_valid("A.b_c-9"));
	CHECK(lm_tenant_name_valid("0"));
	CHECK(!lm_tenant_name_valid(""));
	CHECK(!lm_tenant_name_valid("."));
	CHECK(!lm_tenant_name_valid(".."));
	CHECK(!lm_tenant_name_valid(".hidden"));
	CHECK(!lm_tenant_name_valid("-opt"));
	CHECK(!lm_tenant_name_valid("a/b"));
	CHECK(!lm_tenant_name_valid("a b"));
	CHECK(!lm_tenant_name_valid("caf\xc3\xa9"));
	memset(big, 'a', sizeof(big));
	big[63] = '\0';
	CHECK(lm_tenant_name_valid(big));
	big[63] = 'a';
	big[64] = '\0';
	CHECK(!lm_tenant_name_valid(big));
}

/* A block with slots for v1 and v2; returns its encoding in @buf. */
static ssize_t make_block(struct lm_keyblock *kb, const unsigned char *id,
			  const char *tenant, const struct lm_kek *keks,
			  const unsigned char *dek, unsigned char *buf)
{
	CHECK_RC(lm_keyblock_init(kb, id, tenant), 0);
	CHECK_RC(lm_slot_add(kb, &keks[0], dek), 0);
	CHECK_RC(lm_slot_add(kb, &keks[1], dek), 0);
	return lm_keyblock_encode(kb, dek, buf, LM_KEYBLOCK_MAX);
}

static void test_keyblock(void)
{
	unsigned char id[16] = { 1 }, dek[32], got[32], buf[LM_KEYBLOCK_MAX];
	struct lm_kek keks[3];
	struct lm_keyblock kb, back;
	struct lm_err err = { "" };
	ssize_t n;

	lm_crypt_random(dek, sizeof(dek));
	kek_init(&keks[0], 1, 0x11);
	kek_init(&keks[1], 2, 0x22);
	kek_init(&keks[2], 3, 0x33);
	n = make_block(&kb, id, "acme", keks, dek, buf);
	CHECK(n == (ssize_t)LM_KEYBLOCK_SIZE(2));
	CHECK_RC(lm_keyblock_decode(buf, (size_t)n, &back), n);
	CHECK_RC(lm_keyblock_open(&back, "acme", &keks[1], 1, got, "obj", &err), 0);
	CHECK(!memcmp(got, dek, 32));
	CHECK_RC(lm_keyblock_open(&back, "acme", &keks[0], 1, got, "obj", &err), 0);
	/* Another tenant's name: refused, the message names the owner. */
	lm_err_clear(&err);
	CHECK_RC(lm_keyblock_open(&back, "beta", keks, 2, got, "obj", &err), -EKEYREJECTED);
	CHECK(strstr(err.msg, "belongs to tenant acme") != NULL);
	/* Only an unknown version: no key. */
	lm_err_clear(&err);
	CHECK_RC(lm_keyblock_open(&back, "acme", &keks[2], 1, got, "obj", &err), -ENOKEY);
	CHECK(strstr(err.msg, "v1, v2") != NULL);
	/* A wrong KEK of the right version. */
	keks[2].version = 1;
	CHECK_RC(lm_keyblock_open(&back, "acme", &keks[2], 1, got, "obj", &err), -EBADMSG);
	for (int i = 0; i < 32; i++)
		CHECK(got[i] == 0);
	keks[2].version = 3;
	/* Drop and add. */
	CHECK_RC(lm_slot_drop(&kb, 1), 0);
	CHECK_RC(lm_slot_drop(&kb, 1), -ENOENT);
	CHECK_RC(lm_slot_drop(&kb, 2), -EBUSY);
	CHECK_RC(lm_slot_add(&kb, &keks[2], dek), 0);
	CHECK(kb.nslots == 2 && kb.slots[1].version == 3);
	n = lm_keyblock_encode(&kb, dek, buf, sizeof(buf));
	CHECK_RC(lm_keyblock_decode(buf, (size_t)n, &back), n);
	CHECK_RC(lm_keyblock_open(&back, "acme", &keks[2], 1, got, "obj", &err), 0);
	CHECK_RC(lm_keyblock_open(&back, "acme", &keks[0], 1, got, "obj", &err), -ENOKEY);
	/* Full. */
	for (uint32_t v = 10; v < 10 + LM_SLOTS_MAX; v++) {
		struct lm_kek k;

		kek_init(&k, v, (unsigned char)v);
		lm_slot_add(&kb, &k, dek);
	}
	CHECK(kb.nslots == LM_SLOTS_MAX);
	{
		struct lm_kek k;

		kek_init(&k, 99, 9);
		CHECK_RC(lm_slot_add(&kb, &k, dek), -ENOSPC);
	}
	n = lm_keyblock_encode(&kb, dek, buf, sizeof(buf));
	CHECK(n == (ssize_t)LM_KEYBLOCK_MAX);
	CHECK_RC(lm_keyblock_encode(&kb, dek, buf, 100), -ENOSPC);
}

/* A slot copied from object A's block into object B's, or B's block
 * relabelled with A's id or another tenant: never opens. */
static void test_moved(void)
{
	unsigned char ida[16] = { 0xa }, idb[16] = { 0xb }, deka[32], dekb[32], got[32];
	unsigned char bufa[LM_KEYBLOCK_MAX], bufb[LM_KEYBLOCK_MAX];
	struct lm_kek keks[2];
	struct lm_keyblock a, b, x;
	struct lm_err err = { "" };

	lm_crypt_random(deka, 32);
	lm_crypt_random(dekb, 32);
	kek_init(&keks[0], 1, 0x44);
	kek_init(&keks[1], 2, 0x55);
	make_block(&a, ida, "acme", keks, deka, bufa);
	make_block(&b, idb, "acme", keks, dekb, bufb);
	/* A's slot in B's block. */
	x = b;
	x.slots[0] = a.slots[0];
	CHECK_RC(lm_keyblock_open(&x, "acme", keks, 1, got, "obj", &err), -EBADMSG);
	/* A's whole block with B's object id. */
	x = a;
	memcpy(x.object_id, idb, 16);
	CHECK_RC(lm_keyblock_open(&x, "acme", keks, 2, got, "obj", &err), -EBADMSG);
	/* A's block claimed for tenant beta, opened by beta with the same KEK
	 * bytes (as if beta's KEK were acme's). */
	x = a;
	strcpy(x.tenant, "beta");
	CHECK_RC(lm_keyblock_open(&x, "beta", keks, 2, got, "obj", &err), -EBADMSG);
	/* A slot relabelled with another version. */
	x = a;
	x.slots[0].version = 2;
	x.slots[1].version = 1;
	CHECK_RC(lm_keyblock_open(&x, "acme", keks, 1, got, "obj", &err), -EBADMSG);
	/* A slot dropped by someone without the DEK: the MAC catches it. */
	x = a;
	x.nslots = 1;
	CHECK_RC(lm_keyblock_open(&x, "acme", keks, 1, got, "obj", &err), -EBADMSG);
}

/* Every byte of a slot file, changed to any of a spread of values: decode
 * refuses it or open fails; never the DEK. */
static void test_slotfile_tamper(void)
{
	unsigned char id[16] = { 7 }, dek[32], got[32], buf[LM_SLOTFILE_MAX];
	struct lm_kek keks[2];
	struct lm_keyblock kb;
	struct lm_err err = { "" };
	ssize_t n;

	lm_crypt_random(dek, 32);
	kek_init(&keks[0], 1, 0x66);
	kek_init(&keks[1], 2, 0x77);
	CHECK_RC(lm_keyblock_init(&kb, id, "acme"), 0);
	lm_slot_add(&kb, &keks[0], dek);
	lm_slot_add(&kb, &keks[1], dek);
	n = lm_slotfile_encode(&kb, dek, buf, sizeof(buf));
	CHECK(n == (ssize_t)(LM_SLOTFILE_HEAD + LM_KEYBLOCK_SIZE(2)));
	CHECK_RC(lm_slotfile_decode(buf, (size_t)n, &kb), 0);
	CHECK_RC(lm_keyblock_open(&kb, "acme", keks, 2, got, "obj", &err), 0);
	for (ssize_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			buf[i] ^= (unsigned char)(1u << bit);
			rc = lm_slotfile_decode(buf, (size_t)n, &kb);
			if (!rc)
				rc = lm_keyblock_open(&kb, "acme", keks, 2, got, "obj", &err);
			if (rc == 0) {
				fprintf(stderr, "slot file byte %zd bit %d: change not detected\n",
					i, bit);
				check_fails++;
			}
			buf[i] ^= (unsigned char)(1u << bit);
		}
	}
	CHECK_RC(lm_slotfile_decode(buf, (size_t)n - 1, &kb), -EUCLEAN);
	CHECK_RC(lm_slotfile_decode(buf, 3, &kb), -EUCLEAN);
	buf[8] = 2; /* format */
	CHECK_RC(lm_slotfile_decode(buf, (size_t)n, &kb), -EPROTONOSUPPORT);
}

int main(void)
{
	if (lm_crypt_init())
		return 1;
	test_tenant_names();
	test_keyblock();
	test_moved();
	test_slotfile_tamper();
	return check_done("test_slot");
}
