/* Deterministic name sealing (see name.h). */
#include <errno.h>
#include <string.h>
#include <sodium.h>

#include "crypt.h"
#include "name.h"

#define NAME_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define NAME_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define NAME_PADDED_MAX 256u
#define NAME_RAW_MAX (NAME_NONCE + NAME_PADDED_MAX + NAME_TAG)

struct lm_name_key {
	unsigned char siv[32]; /* keys the synthetic nonce */
	unsigned char enc[32]; /* the AEAD key */
};

static const char name_context[crypto_kdf_CONTEXTBYTES] = "lamina.n";

_Static_assert(NAME_NONCE == 24 && NAME_TAG == 16, "xchacha sizes");
_Static_assert(LM_NAME_SEALED_MAX == 395, "sealed name bound");
_Static_assert(LM_NAME_LONG_LEN == 55, "long name length");

int lm_name_key_new(const unsigned char *names_subkey, struct lm_name_key **out)
{
	struct lm_name_key *k = lm_secret_alloc(sizeof(*k));

	*out = NULL;
	if (!k)
		return -ENOMEM;
	crypto_kdf_derive_from_key(k->siv, sizeof(k->siv), 1, name_context,
				   names_subkey);
	crypto_kdf_derive_from_key(k->enc, sizeof(k->enc), 2, name_context,
				   names_subkey);
	*out = k;
	return 0;
}

void lm_name_key_free(struct lm_name_key *k)
{
	lm_secret_free(k);
}

static void name_siv(unsigned char *nonce, const struct lm_name_key *k,
		     const unsigned char *dirid, const unsigned char *padded,
		     size_t plen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, k->siv, sizeof(k->siv), NAME_NONCE);
	crypto_generichash_update(&st, dirid, LM_NAME_DIRID_BYTES);
	crypto_generichash_update(&st, padded, plen);
	crypto_generichash_final(&st, nonce, NAME_NONCE);
	sodium_memzero(&st, sizeof(st));
}

static bool name_valid(const char *name, size_t len)
{
	if (len == 0 || memchr(name, '/', len) || memchr(name, '\0', len))
		return false;
	return !(len == 1 && name[0] == '.') &&
	       !(len == 2 && name[0] == '.' && name[1] == '.');
}

ssize_t lm_name_seal(const struct lm_name_key *k, const unsigned char *dirid,
		     const char *name, size_t len, char *out, size_t outsize)
{
	unsigned char padded[NAME_PADDED_MAX], raw[NAME_RAW_MAX];
	size_t plen, rawlen;

	if (len > LM_NAME_MAX)
		return -ENAMETOOLONG;
	if (!name_valid(name, len))
		return -EINVAL;
	plen = (len + LM_NAME_PAD - 1) / LM_NAME_PAD * LM_NAME_PAD;
	rawlen = NAME_NONCE + plen + NAME_TAG;
	if (outsize < LM_NAME_B64(rawlen) + 1)
		return -ENOSPC;
	memset(padded, 0, plen);
	memcpy(padded, name, len);
	name_siv(raw, k, dirid, padded, plen);
	crypto_aead_xchacha20poly1305_ietf_encrypt(raw + NAME_NONCE, NULL,
						   padded, plen, dirid,
						   LM_NAME_DIRID_BYTES, NULL,
						   raw, k->enc);
	sodium_memzero(padded, sizeof(padded));
	return lm_b64url_encode(out, outsize, raw, rawlen);
}

/* Base64url-decodes @sealed into @raw; the length must be one that
 * lm_name_seal produces. Returns the raw length or -EINVAL. */
static ssize_t name_decode(unsigned char *raw, const char *sealed, size_t len)
{
	ssize_t n = len > LM_NAME_SEALED_MAX ? -EINVAL :
		    lm_b64url_decode(raw, NAME_RAW_MAX, sealed, len);
	size_t rawlen = (size_t)n;

	if (n < 0 || rawlen < NAME_NONCE + NAME_TAG + LM_NAME_PAD ||
	    (rawlen - NAME_NONCE - NAME_TAG) % LM_NAME_PAD)
		return -EINVAL;
	return (ssize_t)rawlen;
}

ssize_t lm_name_open(const struct lm_name_key *k, const unsigned char *dirid,
		     const char *sealed, size_t len, char *out, size_t outsize)
{
	unsigned char raw[NAME_RAW_MAX], padded[NAME_PADDED_MAX];
	unsigned char nonce[NAME_NONCE];
	ssize_t rawlen = name_decode(raw, sealed, len);
	size_t plen, n;
	int rc = -EBADMSG;

	if (rawlen < 0)
		return rawlen;
	plen = (size_t)rawlen - NAME_NONCE - NAME_TAG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(padded, NULL, NULL,
						       raw + NAME_NONCE,
						       plen + NAME_TAG, dirid,
						       LM_NAME_DIRID_BYTES,
						       raw, k->enc))
		goto out_wipe;
	name_siv(nonce, k, dirid, padded, plen);
	if (sodium_memcmp(nonce, raw, NAME_NONCE))
		goto out_wipe;
	/* Padding: the name, then NUL bytes only, and at most one block. */
	n = strnlen((const char *)padded, plen);
	if (n == 0 || plen - n >= LM_NAME_PAD ||
	    !sodium_is_zero(padded + n, plen - n) ||
	    !name_valid((const char *)padded, n))
		goto out_wipe;
	if (outsize < n + 1) {
		rc = -ENOSPC;
		goto out_wipe;
	}
	memcpy(out, padded, n);
	out[n] = '\0';
	rc = (int)n;
out_wipe:
	sodium_memzero(padded, sizeof(padded));
	return rc;
}

bool lm_name_is_long(size_t len)
{
	return len > LM_NAME_HOST_MAX;
}

void lm_name_long(const char *sealed, size_t len, char *out)
{
	unsigned char h[32];
	size_t p = sizeof(LM_NAME_LONG_PREFIX) - 1;

	crypto_generichash(h, sizeof(h), (const unsigned char *)sealed, len,
			   NULL, 0);
	memcpy(out, LM_NAME_LONG_PREFIX, p);
	sodium_bin2base64(out + p, LM_NAME_LONG_LEN + 1 - p, h, sizeof(h),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool lm_name_long_check(const char *host, const char *sealed, size_t len)
{
	char want[LM_NAME_LONG_LEN + 1];

	lm_name_long(sealed, len, want);
	return strlen(host) == LM_NAME_LONG_LEN &&
	       sodium_memcmp(want, host, LM_NAME_LONG_LEN) == 0;
}
