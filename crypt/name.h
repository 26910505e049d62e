/* Deterministic name sealing: how a directory entry name is stored on the
 * host by an encrypted layer.
 *
 *   nonce = BLAKE2b-192(key = siv key, dir id || padded name)   (synthetic)
 *   host  = base64url-nopad( nonce || XChaCha20-Poly1305(enc key, nonce,
 *                                       padded name, ad = dir id) )
 *
 * The same name in the same directory always gives the same host name, so
 * a lookup is one seal and one host lookup; the same name in two
 * directories (two dir ids) gives unrelated host names. Names are padded
 * with NUL bytes to a multiple of LM_NAME_PAD, so the host learns a name's
 * length only to that granularity. Opening checks the tag and then that the
 * nonce is the one the name gives, so a host name is accepted only in the
 * form lm_name_seal produces.
 *
 * A sealed name longer than the host allows (lm_name_is_long: above
 * LM_NAME_HOST_MAX bytes) is stored as the short host name lm_name_long
 * gives ("lamina.long." and the base64url BLAKE2b-256 of the sealed name),
 * and the caller keeps the full sealed name in a side record (e.g. a file
 * "<short>.name" beside it); lm_name_long_check tells whether a side record
 * belongs to a short name. Short names never collide with sealed names: a
 * sealed name has no '.'.
 */
#ifndef LM_NAME_H
#define LM_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define LM_NAME_DIRID_BYTES 16u
#define LM_NAME_MAX 255u        /* longest plaintext name */
#define LM_NAME_PAD 16u
#define LM_NAME_HOST_MAX 255u   /* longest host name (NAME_MAX) */
#define LM_NAME_B64(n) (((n) * 4u + 2u) / 3u)
/* Longest sealed name: nonce + padded LM_NAME_MAX + tag, in base64url. */
#define LM_NAME_SEALED_MAX LM_NAME_B64(24u + 256u + 16u)
#define LM_NAME_LONG_PREFIX "lamina.long."
#define LM_NAME_LONG_LEN (sizeof(LM_NAME_LONG_PREFIX) - 1 + LM_NAME_B64(32u))

/* Keys for one volume's names, in secret memory. */
struct lm_name_key;

/* Makes the name keys from the volume's LM_SUBKEY_NAMES subkey (32 bytes,
 * borrowed). Free with lm_name_key_free. Returns 0 or -ENOMEM. */
int lm_name_key_new(const unsigned char *names_subkey, struct lm_name_key **out);
void lm_name_key_free(struct lm_name_key *k);

/* Seals @name (@len bytes, 1..LM_NAME_MAX, no '/' or NUL, not "." or "..")
 * in directory @dirid into @out (@outsize >= LM_NAME_SEALED_MAX + 1),
 * NUL-terminated. Returns the sealed length, or -EINVAL (bad name),
 * -ENAMETOOLONG (len > LM_NAME_MAX), -ENOSPC (@out too small). */
ssize_t lm_name_seal(const struct lm_name_key *k, const unsigned char *dirid,
		     const char *name, size_t len, char *out, size_t outsize);

/* Opens the sealed name @sealed (@len bytes) found in directory @dirid into
 * @out (@outsize >= LM_NAME_MAX + 1), NUL-terminated. Hostile input: any
 * bytes are safe; not base64url, too short or too long is -EINVAL, a bad
 * tag or a nonce that is not the synthetic one is -EBADMSG; @out holds no
 * plaintext on failure. Returns the name's length. */
ssize_t lm_name_open(const struct lm_name_key *k, const unsigned char *dirid,
		     const char *sealed, size_t len, char *out, size_t outsize);

/* True when a sealed name of @len bytes must be stored as a long name. */
bool lm_name_is_long(size_t len);

/* The short host name for the sealed name @sealed (@len bytes) into @out
 * (LM_NAME_LONG_LEN + 1 bytes), NUL-terminated. */
void lm_name_long(const char *sealed, size_t len, char *out);

/* True when @host is the short name of @sealed (a side record's content). */
bool lm_name_long_check(const char *host, const char *sealed, size_t len);

#endif
