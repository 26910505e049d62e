#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
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

void lm_crypt_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

void lm_crypt_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
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
