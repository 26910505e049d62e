/* Block sealing on libsodium's AEAD constructions (see aead.h). */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sodium.h>

#include "aead.h"
#include "crypt.h"

struct lm_aead_key {
	/* First: libsodium wants the GCM state 16-byte aligned, and
	 * sodium_malloc returns memory aligned for any type. */
	crypto_aead_aes256gcm_state gcm;
	enum lm_cipher cipher;
	unsigned char key[LM_AEAD_KEYBYTES];
};

_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == LM_AEAD_KEYBYTES, "key size");
_Static_assert(crypto_aead_aes256gcm_KEYBYTES == LM_AEAD_KEYBYTES, "key size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == LM_AEAD_NONCEBYTES, "nonce size");
_Static_assert(crypto_aead_aes256gcm_NPUBBYTES <= LM_AEAD_NONCEBYTES, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == LM_AEAD_ABYTES, "tag size");
_Static_assert(crypto_aead_aes256gcm_ABYTES == LM_AEAD_ABYTES, "tag size");

bool lm_aead_available(enum lm_cipher cipher)
{
	if (lm_crypt_init())
		return false;
	switch (cipher) {
	case LM_CIPHER_XCHACHA20POLY1305:
		return true;
	case LM_CIPHER_AES256GCM:
		return crypto_aead_aes256gcm_is_available() != 0;
	}
	return false;
}

enum lm_cipher lm_aead_default(void)
{
	return lm_aead_available(LM_CIPHER_AES256GCM) ? LM_CIPHER_AES256GCM
						      : LM_CIPHER_XCHACHA20POLY1305;
}

const char *lm_aead_name(enum lm_cipher cipher)
{
	switch (cipher) {
	case LM_CIPHER_XCHACHA20POLY1305:
		return "xchacha20-poly1305";
	case LM_CIPHER_AES256GCM:
		return "aes-256-gcm";
	}
	return NULL;
}

/* Keys come from a pool of slots carved from secret memory, not one
 * sodium_malloc each: that costs an mmap, an mprotect and an mlock per key,
 * and the vault makes a key for every file it opens. A freed slot is
 * wiped before it goes back on the free list; the memory is never given
 * back (the pool grows to the most keys alive at once). */
#define KEY_SLOT ((sizeof(struct lm_aead_key) + 63) / 64 * 64)
#define KEYS_PER_ARENA 64

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static void *key_free;          /* slots linked through their first pointer */

static struct lm_aead_key *key_slot_get(void)
{
	void *p;

	pthread_mutex_lock(&key_lock);
	if (!key_free) {
		/* A multiple of 64 bytes: sodium_malloc puts it against its
		 * guard page, so every slot is 64-byte aligned. */
		unsigned char *a = lm_secret_alloc(KEY_SLOT * KEYS_PER_ARENA);

		for (size_t i = 0; a && i < KEYS_PER_ARENA; i++) {
			*(void **)(a + i * KEY_SLOT) = key_free;
			key_free = a + i * KEY_SLOT;
		}
	}
	p = key_free;
	if (p)
		key_free = *(void **)p;
	pthread_mutex_unlock(&key_lock);
	return p;
}

int lm_aead_key_new(enum lm_cipher cipher, const unsigned char *key,
		    struct lm_aead_key **out)
{
	struct lm_aead_key *k;

	*out = NULL;
	if (!lm_aead_name(cipher))
		return -EINVAL;
	if (!lm_aead_available(cipher))
		return -ENOTSUP;
	k = key_slot_get();
	if (!k)
		return -ENOMEM;
	memset(k, 0, sizeof(*k));
	k->cipher = cipher;
	memcpy(k->key, key, LM_AEAD_KEYBYTES);
	if (cipher == LM_CIPHER_AES256GCM)
		crypto_aead_aes256gcm_beforenm(&k->gcm, k->key);
	*out = k;
	return 0;
}

void lm_aead_key_free(struct lm_aead_key *k)
{
	if (!k)
		return;
	sodium_memzero(k, sizeof(*k));
	pthread_mutex_lock(&key_lock);
	*(void **)k = key_free;
	key_free = k;
	pthread_mutex_unlock(&key_lock);
}

enum lm_cipher lm_aead_key_cipher(const struct lm_aead_key *k)
{
	return k->cipher;
}

int lm_aead_encrypt_nonce(const struct lm_aead_key *k, unsigned char *out,
			  const unsigned char *plain, size_t len,
			  const unsigned char *ad, size_t adlen,
			  const unsigned char *nonce)
{
	if (k->cipher == LM_CIPHER_AES256GCM)
		crypto_aead_aes256gcm_encrypt_afternm(out, NULL, plain, len, ad,
						      adlen, NULL, nonce, &k->gcm);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, plain, len,
							   ad, adlen, NULL,
							   nonce, k->key);
	return 0;
}

int lm_aead_decrypt_nonce(const struct lm_aead_key *k, unsigned char *plain,
			  const unsigned char *in, size_t inlen,
			  const unsigned char *ad, size_t adlen,
			  const unsigned char *nonce)
{
	int rc;

	if (inlen < LM_AEAD_ABYTES)
		return -EINVAL;
	if (k->cipher == LM_CIPHER_AES256GCM)
		rc = crypto_aead_aes256gcm_decrypt_afternm(plain, NULL, NULL, in,
							   inlen, ad, adlen,
							   nonce, &k->gcm);
	else
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL,
								in, inlen, ad,
								adlen, nonce,
								k->key);
	if (rc) {
		if (inlen > LM_AEAD_ABYTES)
			sodium_memzero(plain, inlen - LM_AEAD_ABYTES);
		return -EBADMSG;
	}
	return 0;
}

/* The authenticated data of a box: its cipher byte, then the caller's. */
static int aead_ad(unsigned char *buf, enum lm_cipher cipher,
		   const unsigned char *ad, size_t adlen)
{
	if (adlen > LM_AEAD_MAX_AD || (adlen && !ad))
		return -EINVAL;
	buf[0] = (unsigned char)cipher;
	if (adlen)
		memcpy(buf + 1, ad, adlen);
	return 0;
}

int lm_aead_seal(const struct lm_aead_key *k, unsigned char *box,
		 const unsigned char *plain, size_t len,
		 const unsigned char *ad, size_t adlen)
{
	unsigned char full[1 + LM_AEAD_MAX_AD];
	unsigned char *nonce = box + 1, *ct = box + 1 + LM_AEAD_NONCEBYTES;

	if (len > SIZE_MAX - LM_AEAD_OVERHEAD || aead_ad(full, k->cipher, ad, adlen))
		return -EINVAL;
	box[0] = (unsigned char)k->cipher;
	memset(nonce, 0, LM_AEAD_NONCEBYTES);
	lm_crypt_nonce(nonce, k->cipher == LM_CIPHER_AES256GCM ?
		       crypto_aead_aes256gcm_NPUBBYTES : LM_AEAD_NONCEBYTES);
	return lm_aead_encrypt_nonce(k, ct, plain, len, full, adlen + 1, nonce);
}

int lm_aead_open(const struct lm_aead_key *k, unsigned char *plain,
		 const unsigned char *box, size_t boxlen,
		 const unsigned char *ad, size_t adlen)
{
	unsigned char full[1 + LM_AEAD_MAX_AD];
	const unsigned char *nonce = box + 1, *ct = box + 1 + LM_AEAD_NONCEBYTES;
	size_t ctlen, len;
	int rc;

	if (boxlen < LM_AEAD_OVERHEAD || aead_ad(full, k->cipher, ad, adlen))
		return -EINVAL;
	len = boxlen - LM_AEAD_OVERHEAD;
	ctlen = len + LM_AEAD_ABYTES;
	if (box[0] != (unsigned char)k->cipher)
		goto out_bad;
	if (k->cipher == LM_CIPHER_AES256GCM) {
		static const unsigned char zero[LM_AEAD_NONCEBYTES];
		size_t n = crypto_aead_aes256gcm_NPUBBYTES;

		/* The unused half of the nonce field must be zero: every
		 * bit of a box is either authenticated or checked. */
		if (memcmp(nonce + n, zero, LM_AEAD_NONCEBYTES - n))
			goto out_bad;
	}
	rc = lm_aead_decrypt_nonce(k, plain, ct, ctlen, full, adlen + 1, nonce);
	if (rc == 0)
		return 0;
out_bad:
	if (len)
		sodium_memzero(plain, len);
	return -EBADMSG;
}
