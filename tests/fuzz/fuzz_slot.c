/* Fuzz target for key slots: the slot file decoder (and through it the key
 * block decoder, slot.h), then an attempt to open the block with a fixed
 * KEK of versions 1 and 2 of tenant "kat-keyfile". Checked: decoders
 * return their documented codes; a decoded block has 1..LM_SLOTS_MAX slots
 * of distinct non-zero versions and a valid tenant name and is exactly as
 * long as the input says; an open of a hostile block fails cleanly with the
 * DEK zeroed (a forged block cannot open without the KEK); the key block
 * decoder also runs on the input at offset 0.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slot.h"
#include "slotfile.h"

static void check_block(const struct lm_keyblock *kb)
{
	FUZZ_CHECK(kb->nslots >= 1 && kb->nslots <= LM_SLOTS_MAX);
	FUZZ_CHECK(lm_tenant_name_valid(kb->tenant));
	for (size_t i = 0; i < kb->nslots; i++) {
		FUZZ_CHECK(kb->slots[i].version != 0);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(kb->slots[i].version != kb->slots[j].version);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lm_kek keks[2] = { { 1, { 0x11 } }, { 2, { 0x22 } } };
	struct lm_keyblock kb;
	unsigned char dek[32];
	ssize_t n;
	int rc;

	n = lm_keyblock_decode(data, size, &kb);
	FUZZ_CHECK(n == -EUCLEAN || (n > 0 && (size_t)n <= size));
	if (n > 0) {
		check_block(&kb);
		FUZZ_CHECK((size_t)n == LM_KEYBLOCK_SIZE(kb.nslots));
	}
	rc = lm_slotfile_decode(data, size, &kb);
	FUZZ_CHECK(rc == 0 || rc == -EUCLEAN || rc == -EPROTONOSUPPORT);
	if (rc)
		return 0;
	check_block(&kb);
	FUZZ_CHECK(size == LM_SLOTFILE_HEAD + LM_KEYBLOCK_SIZE(kb.nslots));
	memset(dek, 0x5a, sizeof(dek));
	rc = lm_keyblock_open(&kb, "kat-keyfile", keks, 2, dek, "fuzz", NULL);
	FUZZ_CHECK(rc == -EKEYREJECTED || rc == -ENOKEY || rc == -EBADMSG);
	for (size_t i = 0; i < sizeof(dek); i++)
		FUZZ_CHECK(dek[i] == 0);
	return 0;
}
