/* Subkey derivation (see kdf.h). */
#include <errno.h>
#include <string.h>
#include <sodium.h>

#include "kdf.h"

/* crypto_kdf's 8-byte context: fixed, part of the format. */
static const char kdf_context[crypto_kdf_CONTEXTBYTES] = "lamina.d";

_Static_assert(crypto_kdf_KEYBYTES == LM_KEY_BYTES, "kdf key size");
_Static_assert(crypto_kdf_BYTES_MIN <= LM_KEY_BYTES &&
	       LM_KEY_BYTES <= crypto_kdf_BYTES_MAX, "subkey size");

int lm_kdf_subkey(unsigned char *out, const unsigned char *dek,
		  enum lm_subkey purpose)
{
	switch (purpose) {
	case LM_SUBKEY_CONTENTS:
	case LM_SUBKEY_NAMES:
	case LM_SUBKEY_METADATA:
	case LM_SUBKEY_HEADER:
		break;
	default:
		return -EINVAL;
	}
	if (crypto_kdf_derive_from_key(out, LM_KEY_BYTES, (uint64_t)purpose,
				       kdf_context, dek))
		return -EINVAL;
	return 0;
}

int lm_kdf_object(unsigned char *out, const unsigned char *subkey,
		  const unsigned char *id, size_t idlen)
{
	static const char label[] = "lamina.object";
	crypto_generichash_state st;

	if (idlen == 0 || idlen > 64)
		return -EINVAL;
	crypto_generichash_init(&st, subkey, LM_KEY_BYTES, LM_KEY_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)label, sizeof(label));
	crypto_generichash_update(&st, id, idlen);
	crypto_generichash_final(&st, out, LM_KEY_BYTES);
	sodium_memzero(&st, sizeof(st));
	return 0;
}

void lm_kdf_new_dek(unsigned char *out)
{
	crypto_kdf_keygen(out);
}
