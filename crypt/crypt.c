#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "crypt.h"

int lm_crypt_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void *lm_secret_alloc(size_t size)
{
	if (lm_crypt_init())
		return NULL;
	return sodium_malloc(size);
}

void lm_secret_free(void *p)
{
	sodium_free(p);
}

/* Nonces come from a per-thread buffer of random bytes, refilled from
 * libsodium's CSPRNG 4 KiB at a time: randombytes_buf per seal costs a
 * system call (libsodium checks getpid() for forks) and ChaCha20 set-up,
 * which is 10-15% of sealing a 4 KiB block. Every nonce is still fresh
 * random bytes, used once. A forked child would inherit its parent's unused
 * bytes, so the fork handler throws them away. */
static _Thread_local struct {
	unsigned char buf[4096];
	size_t left;
} nonce_pool;
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;

static void nonce_pool_drop(void)
{
	sodium_memzero(nonce_pool.buf, sizeof(nonce_pool.buf));
	nonce_pool.left = 0;
}

static void nonce_pool_init(void)
{
	pthread_atfork(NULL, NULL, nonce_pool_drop);
}

void lm_crypt_nonce(void *out, size_t n)
{
	unsigned char *p;

	if (n > sizeof(nonce_pool.buf) / 16) {
		randombytes_buf(out, n);
		return;
	}
	pthread_once(&nonce_once, nonce_pool_init);
	if (nonce_pool.left < n) {
		randombytes_buf(nonce_pool.buf, sizeof(nonce_pool.buf));
		nonce_pool.left = sizeof(nonce_pool.buf);
	}
	p = nonce_pool.buf + sizeof(nonce_pool.buf) - nonce_pool.left;
	memcpy(out, p, n);
	memset(p, 0, n);
	nonce_pool.left -= n;
}

/* One per thread, made on first use, freed when the thread ends (the main
 * thread's stays until exit). */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_init(void)
{
	pthread_key_create(&scratch_key, lm_secret_free);
}

unsigned char *lm_secret_scratch(void)
{
	unsigned char *p;

	pthread_once(&scratch_once, scratch_init);
	p = pthread_getspecific(scratch_key);
	if (!p) {
		p = lm_secret_alloc(LM_SCRATCH_BYTES);
		if (p && pthread_setspecific(scratch_key, p)) {
			lm_secret_free(p);
			p = NULL;
		}
	}
	return p;
}

void lm_crypt_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

void lm_crypt_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}

bool lm_is_zero(const void *p, size_t len)
{
	const unsigned char *b = p;

	return len == 0 || (b[0] == 0 && memcmp(b, b + 1, len - 1) == 0);
}

bool lm_crypt_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

int lm_hash(unsigned char *out, size_t outlen, const void *in, size_t len,
	    const unsigned char *key, size_t keylen)
{
	if (outlen < crypto_generichash_BYTES_MIN || outlen > crypto_generichash_BYTES_MAX ||
	    keylen > crypto_generichash_KEYBYTES_MAX)
		return -EINVAL;
	return crypto_generichash(out, outlen, in, len, key, keylen) ? -EINVAL : 0;
}

ssize_t lm_b64url_encode(char *out, size_t outsize, const void *in, size_t len)
{
	if (outsize < LM_B64_LEN(len) + 1)
		return -ENOSPC;
	sodium_bin2base64(out, outsize, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return (ssize_t)LM_B64_LEN(len);
}

ssize_t lm_b64url_decode(void *out, size_t outsize, const char *in, size_t len)
{
	size_t n;

	/* libsodium rejects leftover bits, so the encoding is canonical. */
	if (sodium_base642bin(out, outsize, in, len, NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) || LM_B64_LEN(n) != len)
		return -EINVAL;
	return (ssize_t)n;
}

void lm_crypt_hex(char *out, const void *in, size_t len)
{
	sodium_bin2hex(out, 2 * len + 1, in, len);
}

int lm_errf(struct lm_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->msg[0])
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

void lm_err_clear(struct lm_err *err)
{
	if (err)
		err->msg[0] = '\0';
}
