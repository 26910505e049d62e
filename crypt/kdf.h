/* Subkeys: one data key (DEK) per volume or layer, never used directly;
 * each purpose gets its own key derived from it with libsodium's crypto_kdf
 * (BLAKE2b keyed with the DEK, personalised with a fixed context; libsodium
 * 1.0.18 has no HKDF). Per-object keys (one per file id, so GCM's nonce
 * limit applies per file) are a keyed BLAKE2b of the object id under a
 * purpose subkey.
 *
 * Every key buffer here is LM_KEY_BYTES long and should live in secret
 * memory (lm_secret_alloc); these functions never keep a copy.
 */
#ifndef LM_KDF_H
#define LM_KDF_H

#include <stddef.h>
#include <stdint.h>

#define LM_KEY_BYTES 32u

/* Purposes. The numbers are the crypto_kdf subkey ids and part of the
 * on-disk format: never renumber. */
enum lm_subkey {
	LM_SUBKEY_CONTENTS = 1, /* file and block contents */
	LM_SUBKEY_NAMES = 2,    /* directory entry names (name.h) */
	LM_SUBKEY_METADATA = 3, /* xattrs and other metadata */
	LM_SUBKEY_HEADER = 4,   /* MACs over headers holding key slots */
};

/* Derives the @purpose subkey of @dek into @out. Returns 0 or -EINVAL for
 * an unknown purpose. */
int lm_kdf_subkey(unsigned char *out, const unsigned char *dek,
		  enum lm_subkey purpose);

/* Derives the key of one object (a file id, a chunk group...) from a
 * purpose subkey: BLAKE2b-256 keyed with @subkey over "lamina.object" and
 * @id. @idlen is 1..64. Returns 0 or -EINVAL. */
int lm_kdf_object(unsigned char *out, const unsigned char *subkey,
		  const unsigned char *id, size_t idlen);

/* A fresh random data key into @out (LM_KEY_BYTES). */
void lm_kdf_new_dek(unsigned char *out);

#endif
