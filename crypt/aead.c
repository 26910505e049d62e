/* Block sealing (see aead.h): XChaCha20-Poly1305 from libsodium,
 * AES-256-GCM from OpenSSL's libcrypto.
 *
 * Why two libraries: both build the same standard constructions, and a box
 * does not say which library sealed it. libsodium 1.0.18's AES-256-GCM
 * opens about 1.3 GB/s a core on our machines; OpenSSL's, with its
 * stitched AES-NI/VAES and carry-less multiply code, about 3.4 GB/s for
 * a 32 KiB chunk and 2.4 GB/s for a 4 KiB vault block (benchmarks/
 * crypt_bench.c). The sealed layer's cold reads and the vault's writes are
 * bound by it. libsodium still decides whether GCM is offered at all: only
 * where the CPU has AES-NI and PCLMUL, so the AES in use is never OpenSSL's
 * table-driven fallback.
 *
 * Keys: the raw key stays in secret memory (locked, wiped on free). An
 * OpenSSL context holds the expanded key for one call only: it is made,
 * used and freed inside lm_aead_encrypt_nonce/lm_aead_decrypt_nonce, and
 * EVP_CIPHER_CTX_free wipes it (OPENSSL_clear_free). Making a context per
 * call costs nothing measurable next to the sealing itself. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sodium.h>
#include <openssl/evp.h>

#include "aead.h"
#include "crypt.h"

struct lm_aead_key {
	enum lm_cipher cipher;
	unsigned char key[LM_AEAD_KEYBYTES];
};

#define GCM_NONCEBYTES 12u

/* OpenSSL's AES-256-GCM, fetched once; shared by every thread (a fetched
 * EVP_CIPHER is immutable). NULL when OpenSSL cannot provide it. */
static EVP_CIPHER *gcm_cipher;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

static void gcm_fetch(void)
{
	gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static bool gcm_usable(void)
{
	pthread_once(&gcm_once, gcm_fetch);
	return gcm_cipher && crypto_aead_aes256gcm_is_available();
}

/* One AES-256-GCM operation: @enc 1 seals @len bytes of @in into @out and
 * the tag into @tag; @enc 0 opens them, checking @tag. Returns 0, -EBADMSG
 * (tag mismatch), -ENOMEM (OpenSSL could not make its context) or -EINVAL
 * (a length OpenSSL's int-based interface cannot take). */
static int gcm_run(const struct lm_aead_key *k, int enc, unsigned char *out,
		   const unsigned char *in, size_t len, unsigned char *tag,
		   const unsigned char *ad, size_t adlen,
		   const unsigned char *nonce)
{
	EVP_CIPHER_CTX *c;
	int n, rc = -ENOMEM;

	if (len > INT_MAX || adlen > INT_MAX)
		return -EINVAL;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -ENOMEM;
	/* The default GCM IV length is the 12 bytes we use. */
	if (!EVP_CipherInit_ex2(c, gcm_cipher, k->key, nonce, enc, NULL))
		goto out;
	if (adlen && !EVP_CipherUpdate(c, NULL, &n, ad, (int)adlen))
		goto out;
	if (len && !EVP_CipherUpdate(c, out, &n, in, (int)len))
		goto out;
	if (enc) {
		if (EVP_CipherFinal_ex(c, out + len, &n) &&
		    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, LM_AEAD_ABYTES, tag))
			rc = 0;
	} else {
		if (!EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, LM_AEAD_ABYTES, tag))
			goto out;
		rc = EVP_CipherFinal_ex(c, out + len, &n) > 0 ? 0 : -EBADMSG;
	}
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == LM_AEAD_KEYBYTES, "key size");
_Static_assert(crypto_aead_aes256gcm_KEYBYTES == LM_AEAD_KEYBYTES, "key size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == LM_AEAD_NONCEBYTES, "nonce size");
_Static_assert(crypto_aead_aes256gcm_NPUBBYTES == GCM_NONCEBYTES, "nonce size");
_Static_assert(GCM_NONCEBYTES <= LM_AEAD_NONCEBYTES, "nonce size");
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
		return gcm_usable();
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
		return gcm_run(k, 1, out, plain, len, out + len, ad, adlen, nonce);
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
	if (k->cipher == LM_CIPHER_AES256GCM) {
		size_t len = inlen - LM_AEAD_ABYTES;
		unsigned char tag[LM_AEAD_ABYTES];

		/* OpenSSL takes the tag as a writable buffer. */
		memcpy(tag, in + len, sizeof(tag));
		rc = gcm_run(k, 0, plain, in, len, tag, ad, adlen, nonce);
	} else
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL,
								in, inlen, ad,
								adlen, nonce,
								k->key);
	if (rc) {
		if (inlen > LM_AEAD_ABYTES)
			sodium_memzero(plain, inlen - LM_AEAD_ABYTES);
		return rc == -ENOMEM ? -ENOMEM : -EBADMSG;
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
		       GCM_NONCEBYTES : LM_AEAD_NONCEBYTES);
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
		size_t n = GCM_NONCEBYTES;

		/* The unused half of the nonce field must be zero: every
		 * bit of a box is either authenticated or checked. */
		if (memcmp(nonce + n, zero, LM_AEAD_NONCEBYTES - n))
			goto out_bad;
	}
	rc = lm_aead_decrypt_nonce(k, plain, ct, ctlen, full, adlen + 1, nonce);
	if (rc == 0 || rc == -ENOMEM)
		return rc;      /* on failure @plain is zeroed already */
out_bad:
	if (len)
		sodium_memzero(plain, len);
	return -EBADMSG;
}
