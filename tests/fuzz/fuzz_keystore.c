/* Fuzz target for the keystore record decoders (keystore_format.h): the
 * tenant record, the KEK version record and the tombstone. Every input is
 * given to all three. Checked, beyond survival: a record that decodes
 * encodes back to exactly the input (the decoders accept one spelling of
 * each record, so nothing in a file escapes the checksum and the MAC), and
 * decoded fields are within their documented ranges.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keystore_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char out[256];
	struct lm_tenant_rec t;
	struct lm_kekver_rec v;
	struct lm_tombstone_rec s;
	int rc;

	rc = lm_tenant_rec_decode(data, size, &t);
	FUZZ_CHECK(rc == 0 || rc == -EUCLEAN || rc == -EPROTONOSUPPORT);
	if (rc == 0) {
		FUZZ_CHECK(size == sizeof(struct lm_tenant_disk));
		FUZZ_CHECK(lm_tenant_name_valid(t.name));
		FUZZ_CHECK(t.secret == LM_SECRET_KEYFILE || t.memlimit <= LM_KDF_MEM_MAX);
		lm_tenant_rec_encode(&t, NULL, out);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
	}
	rc = lm_kekver_rec_decode(data, size, &v);
	FUZZ_CHECK(rc == 0 || rc == -EUCLEAN || rc == -EPROTONOSUPPORT);
	if (rc == 0) {
		FUZZ_CHECK(size == sizeof(struct lm_kekver_disk));
		FUZZ_CHECK(v.version != 0);
		FUZZ_CHECK(v.state == LM_KEK_ACTIVE || v.state == LM_KEK_RETIRED);
		lm_kekver_rec_encode(&v, NULL, out);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
	}
	rc = lm_tombstone_rec_decode(data, size, &s);
	FUZZ_CHECK(rc == 0 || rc == -EUCLEAN || rc == -EPROTONOSUPPORT);
	if (rc == 0) {
		FUZZ_CHECK(size == sizeof(struct lm_tombstone_disk));
		FUZZ_CHECK(lm_tenant_name_valid(s.name) && s.shredded != 0);
		lm_tombstone_rec_encode(&s, out);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
	}
	return 0;
}
