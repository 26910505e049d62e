/* Fuzz target for the vault's volume header (vault.h): lm_vault_decode,
 * the container kind's parse, and lm_vault_unlock as tenant "kat-keyfile"
 * holding its key version v2 (the KEK of tests/kat/store-keyfile, which
 * the committed valid seeds are wrapped under, so the MAC and rekey box
 * checks are reached). Checked: the documented return codes only; a
 * decoded header has every field at a valid value and exactly the size
 * its key block says; a failed unlock leaves no key bytes; an unlocked
 * header, rebuilt by the rotation path with the same DEK, decodes and
 * unlocks to the same keys.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault.h"

static const unsigned char kat_kek_v2[32] = {
	0xea, 0x84, 0xa5, 0x35, 0x45, 0xa2, 0x99, 0xd3, 0x27, 0x81, 0x2e, 0x41,
	0xa2, 0xa3, 0x4c, 0xc5, 0x41, 0xf8, 0xd1, 0x83, 0xd6, 0xc6, 0xf7, 0x6c,
	0x70, 0x0e, 0x44, 0xe9, 0x13, 0x53, 0x24, 0x23,
};

static void check_info(const struct lm_vault_info *in, size_t size, size_t kboff,
		       size_t kblen)
{
	FUZZ_CHECK(kboff == LM_VAULT_HEAD);
	FUZZ_CHECK(in->kb.nslots >= 1 && in->kb.nslots <= LM_SLOTS_MAX);
	FUZZ_CHECK(kblen == LM_KEYBLOCK_SIZE(in->kb.nslots));
	FUZZ_CHECK(size == LM_VAULT_HEAD + kblen + LM_VAULT_MAC);
	FUZZ_CHECK(lm_aead_name(in->cipher) != NULL);
	FUZZ_CHECK(in->block_shift == LM_VAULT_BLOCK_SHIFT);
	FUZZ_CHECK((in->flags & ~(uint32_t)LM_VAULT_F_REKEY) == 0);
	FUZZ_CHECK(in->generation >= 1);
	FUZZ_CHECK(!memcmp(in->uuid, in->kb.object_id, 16));
	FUZZ_CHECK(lm_tenant_name_valid(in->kb.tenant));
}

/* The rotation path: a new key block for the same DEK, rebuilt. */
static void check_rebuild(const uint8_t *data, size_t size, size_t kboff,
			  size_t kblen, const struct lm_vault_info *in,
			  const struct lm_vault_keys *keys, const struct lm_kek *kek)
{
	const struct lm_container_ops *ops = &lm_vault_container_ops;
	struct lm_vault_keys again;
	struct lm_vault_info in2;
	struct lm_keyblock kb;
	unsigned char *out = NULL;
	size_t outlen;

	FUZZ_CHECK(lm_keyblock_init(&kb, in->uuid, in->kb.tenant) == 0);
	FUZZ_CHECK(lm_slot_add(&kb, kek, keys->dek) == 0);
	FUZZ_CHECK(ops->rebuild(data, size, kboff, kblen, &kb, keys->dek, &out,
				&outlen) == 0);
	FUZZ_CHECK(lm_vault_unlock(out, outlen, in->kb.tenant, kek, 1, "fuzz", &in2,
				   &again, NULL) == 0);
	FUZZ_CHECK(!memcmp(again.dek, keys->dek, 32));
	FUZZ_CHECK(again.rekey == keys->rekey && again.generation == keys->generation);
	FUZZ_CHECK(!keys->rekey || !memcmp(again.next_dek, keys->next_dek, 32));
	FUZZ_CHECK(in2.flags == in->flags && in2.created == in->created);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_kek kek = { 2, { 0 } };
	struct lm_vault_info info;
	struct lm_vault_keys keys;
	struct lm_keyblock kb;
	size_t kboff = 0, kblen = 0, off2, len2;
	int rc, prc;

	if (lm_crypt_init())
		abort();
	memcpy(kek.key, kat_kek_v2, sizeof(kek.key));
	rc = lm_vault_decode(data, size, &info, &kboff, &kblen);
	FUZZ_CHECK(rc == 0 || rc == -EUCLEAN || rc == -EPROTONOSUPPORT);
	prc = lm_vault_container_ops.parse(data, size, &kb, &off2, &len2);
	FUZZ_CHECK(prc == (rc == -EPROTONOSUPPORT ? -EUCLEAN : rc));
	if (rc)
		FUZZ_CHECK(lm_is_zero(&info, sizeof(info)));
	else
		check_info(&info, size, kboff, kblen);
	memset(&keys, 0x5a, sizeof(keys));
	rc = lm_vault_unlock(data, size, "kat-keyfile", &kek, 1, "fuzz", &info, &keys,
			     NULL);
	FUZZ_CHECK(rc == 0 || rc == -EUCLEAN || rc == -EPROTONOSUPPORT ||
		   rc == -EKEYREJECTED || rc == -ENOKEY || rc == -EBADMSG);
	if (rc) {
		FUZZ_CHECK(lm_is_zero(&keys, sizeof(keys)));
		return 0;
	}
	FUZZ_CHECK(keys.generation == info.generation);
	FUZZ_CHECK(keys.rekey == !!(info.flags & LM_VAULT_F_REKEY));
	FUZZ_CHECK(!keys.rekey || keys.next_generation == info.generation + 1);
	check_rebuild(data, size, kboff, kblen, &info, &keys, &kek);
	return 0;
}
