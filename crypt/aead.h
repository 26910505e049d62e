/* Block sealing: authenticated encryption of one buffer under a 256-bit
 * key, with a fresh random nonce per seal and caller-chosen additional data
 * (what binds the block to its place: object id, block index, ...).
 *
 * A sealed box records its cipher, so a reader never guesses:
 *
 *   0        1                        25                 25+n     41+n
 *   +--------+------------------------+------------------+--------+
 *   | cipher | nonce (24 bytes)       | ciphertext (n)   | tag 16 |
 *   +--------+------------------------+------------------+--------+
 *
 * cipher 1 = XChaCha20-Poly1305-IETF (24-byte nonce), 2 = AES-256-GCM
 * (12-byte nonce in the first half of the field, the rest zero). The cipher
 * byte is authenticated with the additional data, so a box cannot be
 * relabelled. AES-256-GCM exists only where the CPU accelerates it
 * (lm_aead_available); its random 96-bit nonces limit one key to about
 * 2^32 seals, so callers derive a key per file or object (lm_kdf_object).
 */
#ifndef LM_AEAD_H
#define LM_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lm_cipher {
	LM_CIPHER_XCHACHA20POLY1305 = 1,
	LM_CIPHER_AES256GCM = 2,
};

#define LM_AEAD_KEYBYTES 32u
#define LM_AEAD_NONCEBYTES 24u   /* the nonce field; GCM uses 12 of it */
#define LM_AEAD_ABYTES 16u
#define LM_AEAD_OVERHEAD (1u + LM_AEAD_NONCEBYTES + LM_AEAD_ABYTES)
#define LM_AEAD_MAX_AD 256u      /* additional data bytes per seal */

/* A sealing key: the raw key, in secret memory (an expanded AES key
 * schedule exists only inside one seal or open, see aead.c). Opaque; one
 * key may be used by many threads at once (sealing does not change it). */
struct lm_aead_key;

/* True when @cipher can be used on this machine. */
bool lm_aead_available(enum lm_cipher cipher);

/* AES-256-GCM where the CPU accelerates it, else XChaCha20-Poly1305. */
enum lm_cipher lm_aead_default(void);

/* "xchacha20-poly1305", "aes-256-gcm", or NULL for an unknown id. */
const char *lm_aead_name(enum lm_cipher cipher);

/* Makes a key for @cipher from @key (LM_AEAD_KEYBYTES, copied; the caller
 * keeps and wipes its own copy). *out is freed with lm_aead_key_free.
 * Returns 0, -ENOTSUP when the cipher is not available here, -EINVAL for
 * an unknown cipher, -ENOMEM. */
int lm_aead_key_new(enum lm_cipher cipher, const unsigned char *key,
		    struct lm_aead_key **out);
void lm_aead_key_free(struct lm_aead_key *k);
enum lm_cipher lm_aead_key_cipher(const struct lm_aead_key *k);

/* Seals @len bytes of @plain into @box (len + LM_AEAD_OVERHEAD bytes; may
 * not overlap @plain). @ad (@adlen <= LM_AEAD_MAX_AD) is authenticated, not
 * stored. Returns 0, -EINVAL (ad too long, len too large) or -ENOMEM (the
 * AES-GCM library could not allocate its context). */
int lm_aead_seal(const struct lm_aead_key *k, unsigned char *box,
		 const unsigned char *plain, size_t len,
		 const unsigned char *ad, size_t adlen);

/* Opens the @boxlen byte box at @box into @plain (boxlen -
 * LM_AEAD_OVERHEAD bytes; may not overlap). Nothing is released before the
 * tag verifies: on any failure @plain is zeroed. Hostile input: any bytes
 * are safe; a short box is -EINVAL, a box of another cipher or a bad tag
 * (wrong key, wrong additional data, any changed bit) is -EBADMSG; -ENOMEM
 * when the AES-GCM library could not allocate (nothing was checked). */
int lm_aead_open(const struct lm_aead_key *k, unsigned char *plain,
		 const unsigned char *box, size_t boxlen,
		 const unsigned char *ad, size_t adlen);

/* The bare construction under a box: @nonce given (24 bytes for XChaCha,
 * 12 for GCM), @ad passed as it is (no cipher byte), @out = ciphertext ||
 * tag (len + LM_AEAD_ABYTES). For known-answer tests against published
 * vectors; everything else uses lm_aead_seal, whose nonces are random. */
int lm_aead_encrypt_nonce(const struct lm_aead_key *k, unsigned char *out,
			  const unsigned char *plain, size_t len,
			  const unsigned char *ad, size_t adlen,
			  const unsigned char *nonce);
/* Returns 0, -EBADMSG or -ENOMEM (then @plain is zeroed). @inlen includes
 * the tag. */
int lm_aead_decrypt_nonce(const struct lm_aead_key *k, unsigned char *plain,
			  const unsigned char *in, size_t inlen,
			  const unsigned char *ad, size_t adlen,
			  const unsigned char *nonce);

#endif
