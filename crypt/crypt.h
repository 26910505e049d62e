/* crypt/: the only module that includes sodium.h.
 *
 * This header holds what every part of crypt/ shares: library start-up,
 * secret memory, randomness and the one-line error messages that the key
 * management calls give back with their -errno.
 */
#ifndef LM_CRYPT_H
#define LM_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Initialises libsodium once; safe to call from any thread, any number of
 * times. Returns 0 or -EIO when libsodium cannot start. */
int lm_crypt_init(void);

/* Memory for secrets: guarded, locked (never swapped), wiped on free.
 * Returns NULL when out of memory; lm_secret_free(NULL) does nothing. */
void *lm_secret_alloc(size_t size);
void lm_secret_free(void *p);

/* Fills @buf with @len bytes from the system's CSPRNG. */
void lm_crypt_random(void *buf, size_t len);

/* Fresh random bytes for nonces (@n <= 64): drawn from a per-thread pool
 * refilled from the CSPRNG 4 KiB at a time, so a nonce costs a memcpy, not
 * a system call. The pool is dropped in a forked child. */
void lm_crypt_nonce(void *out, size_t n);

/* A per-thread LM_SCRATCH_BYTES buffer of secret memory for short-lived
 * derived keys (caller wipes what it put there before returning). NULL when
 * out of memory. */
#define LM_SCRATCH_BYTES 64u
unsigned char *lm_secret_scratch(void);

/* Wipes @len bytes at @p in a way the compiler cannot drop. */
void lm_crypt_wipe(void *p, size_t len);

/* True when all @len bytes at @p are zero (@len 0 too). Not constant-time:
 * for reserved fields and holes, never to compare secrets. */
bool lm_is_zero(const void *p, size_t len);

/* Constant-time comparison of two @len byte buffers. */
bool lm_crypt_equal(const void *a, const void *b, size_t len);

/* BLAKE2b: @outlen (16..64) bytes of hash of @in, keyed with @key
 * (@keylen 0..64; NULL for none). Returns 0 or -EINVAL. */
int lm_hash(unsigned char *out, size_t outlen, const void *in, size_t len,
	    const unsigned char *key, size_t keylen);

/* base64url without padding (RFC 4648 section 5): the encoding of @len
 * bytes into @out, NUL ended; returns the encoded length or -ENOSPC when
 * @outsize is less than LM_B64_LEN(len) + 1. */
#define LM_B64_LEN(n) (((n) * 4u + 2u) / 3u)
ssize_t lm_b64url_encode(char *out, size_t outsize, const void *in, size_t len);
/* Decodes @len characters of base64url at @in into @out (@outsize bytes).
 * Hostile input: returns the decoded length, or -EINVAL for anything that
 * is not exactly unpadded base64url or does not fit. */
ssize_t lm_b64url_decode(void *out, size_t outsize, const char *in, size_t len);

/* Lower-case hex of @len bytes into @out (2 * len + 1 bytes, NUL ended). */
void lm_crypt_hex(char *out, const void *in, size_t len);

/* One line saying what went wrong and, where there is one, what to do.
 * Calls that take a `struct lm_err *` fill it whenever they return a
 * negative errno; NULL means the caller does not want the text. */
#define LM_ERR_MAX 384
struct lm_err {
	char msg[LM_ERR_MAX];
};

/* Writes the message and returns @rc, so a failure reads
 *	return lm_errf(err, -ENOENT, "no tenant %s", name);
 * The first message set wins: an inner, more precise cause is kept. */
int lm_errf(struct lm_err *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Clears @err (so a later lm_errf sets it again). */
void lm_err_clear(struct lm_err *err);

#endif
