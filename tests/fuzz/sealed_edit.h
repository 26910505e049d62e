/* Test-only edits of whole sealed layer files in memory, for the unit
 * test, the fuzz target and its corpus generator: take the plain
 * metadata out, put (edited) metadata back with every length, hash and
 * MAC made right again, and recompute the hashes of a damaged file so a
 * reader gets past them to the rules behind. With the DEK of an encrypted
 * layer, the metadata is boxed and the MAC made as the builder does.
 * Static functions only (each includer compiles its own copy, and may use
 * a few of them). */
#ifndef LM_SEALED_EDIT_H
#define LM_SEALED_EDIT_H

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"
#include "crypt.h"
#include "kdf.h"
#include "le.h"
#include "sealed.h"

#define EDIT_SB_AUTH 160u
#define EDIT_SB_MACED 224u

__attribute__((unused)) static int edit_keys(const unsigned char *dek, enum lm_cipher cipher, unsigned char *hsub,
		     struct lm_aead_key **meta)
{
	unsigned char sub[32];
	int rc;

	lm_kdf_subkey(hsub, dek, LM_SUBKEY_HEADER);
	lm_kdf_subkey(sub, dek, LM_SUBKEY_METADATA);
	rc = lm_aead_key_new(cipher, sub, meta);
	lm_crypt_wipe(sub, sizeof(sub));
	return rc;
}

/* Recomputes the MAC of superblock @sb under @dek (encrypted layers). */
__attribute__((unused)) static void edit_mac(unsigned char *sb, const unsigned char *dek)
{
	unsigned char hsub[32];

	if (!(lm_get16(sb + 10) & LM_SEALED_F_ENCRYPTED) || !dek)
		return;
	lm_kdf_subkey(hsub, dek, LM_SUBKEY_HEADER);
	lm_hash(sb + EDIT_SB_MACED, LM_SEALED_HASH, sb, EDIT_SB_MACED, hsub, sizeof(hsub));
	lm_crypt_wipe(hsub, sizeof(hsub));
}

/* The plain metadata of layer @buf (@len bytes) into *out (caller
 * frees). Returns 0 or -errno. */
__attribute__((unused)) static int edit_meta_get(const unsigned char *buf, size_t len, const unsigned char *dek,
			 unsigned char **out, size_t *outlen)
{
	struct lm_sealed_sb sb;
	struct lm_aead_key *mk = NULL;
	unsigned char hsub[32], ad[12 + EDIT_SB_AUTH], *z;
	const unsigned char *src;
	size_t zlen;
	int n, rc = lm_sealed_sb_decode(buf, len, len, &sb);

	if (rc)
		return rc;
	src = buf + sb.meta_off;
	zlen = sb.meta_len;
	z = malloc(zlen + 1);
	*out = malloc(sb.meta_plain_len);
	if (!z || !*out)
		return -ENOMEM;
	if (lm_sealed_encrypted(&sb)) {
		if (!dek || edit_keys(dek, sb.cipher, hsub, &mk))
			return -EINVAL;
		memcpy(ad, "lamina.meta", 12);
		memcpy(ad + 12, buf, EDIT_SB_AUTH);
		zlen -= LM_AEAD_OVERHEAD;
		rc = lm_aead_open(mk, z, src, sb.meta_len, ad, sizeof(ad));
		lm_aead_key_free(mk);
		if (rc)
			return rc;
		src = z;
	}
	n = LZ4_decompress_safe((const char *)src, (char *)*out, (int)zlen,
				(int)sb.meta_plain_len);
	free(z);
	if (n != (int)sb.meta_plain_len)
		return -EUCLEAN;
	*outlen = (size_t)n;
	return 0;
}

/* A new file *out (caller frees) of layer @buf with plain metadata
 * @plain (@plen bytes) in place of its own, every length, hash and the
 * MAC (with @dek) made to fit; the inode count is taken from @plain. */
__attribute__((unused)) static int edit_meta_put(const unsigned char *buf, size_t len, const unsigned char *dek,
			 const unsigned char *plain, size_t plen, unsigned char **out,
			 size_t *outlen)
{
	struct lm_sealed_sb sb;
	struct lm_aead_key *mk = NULL;
	unsigned char hsub[32], ad[12 + EDIT_SB_AUTH], *o, *z;
	size_t bound = (size_t)LZ4_compressBound((int)plen), mlen;
	int n, rc = lm_sealed_sb_decode(buf, len, len, &sb);
	bool enc = lm_sealed_encrypted(&sb);

	if (rc)
		return rc;
	z = malloc(bound);
	o = malloc(sb.meta_off + bound + LM_AEAD_OVERHEAD);
	if (!z || !o)
		return -ENOMEM;
	n = LZ4_compress_default((const char *)plain, (char *)z, (int)plen, (int)bound);
	mlen = (size_t)n + (enc ? LM_AEAD_OVERHEAD : 0);
	memcpy(o, buf, sb.meta_off);
	lm_put32(o + 116, plen >= 12 ? lm_get32(plain + 8) : 0);
	lm_put64(o + 40 + 64, sb.meta_off + mlen);       /* file size */
	lm_put64(o + 144, mlen);
	lm_put64(o + 152, plen);
	if (enc) {
		if (!dek || edit_keys(dek, sb.cipher, hsub, &mk))
			return -EINVAL;
		memcpy(ad, "lamina.meta", 12);
		memcpy(ad + 12, o, EDIT_SB_AUTH);
		lm_aead_seal(mk, o + sb.meta_off, z, (size_t)n, ad, sizeof(ad));
		lm_aead_key_free(mk);
	} else {
		memcpy(o + sb.meta_off, z, (size_t)n);
	}
	free(z);
	lm_hash(o + 160, LM_SEALED_HASH, o + sb.meta_off, mlen, NULL, 0);
	edit_mac(o, dek);
	*out = o;
	*outlen = sb.meta_off + mlen;
	return 0;
}

/* Makes the hashes of @buf (@len bytes, changed in place) match what it
 * holds: each in-bounds chunk's index hash, the index hash, the metadata
 * hash, and the MAC under @dek (when given). Reads the layout fields
 * without trusting them; does nothing to what does not fit. */
__attribute__((unused)) static void edit_rehash(unsigned char *buf, size_t len, const unsigned char *dek)
{
	uint64_t ioff, ilen, moff, mlen, n;

	if (len < LM_SEALED_SB)
		return;
	n = lm_get32(buf + 112);
	ioff = lm_get64(buf + 120);
	ilen = lm_get64(buf + 128);
	moff = lm_get64(buf + 136);
	mlen = lm_get64(buf + 144);
	if (ioff <= len && ilen <= len - ioff && ilen == n * LM_SEALED_INDEX_ENT) {
		for (uint64_t i = 0; i < n; i++) {
			unsigned char *e = buf + ioff + i * LM_SEALED_INDEX_ENT;
			uint64_t off = lm_get64(e);
			uint32_t sl = lm_get32(e + 8);

			if (off <= len && sl <= len - off)
				lm_hash(e + 16, LM_SEALED_HASH, buf + off, sl, NULL, 0);
		}
		lm_hash(buf + 192, LM_SEALED_HASH, buf + ioff, ilen, NULL, 0);
	}
	if (moff <= len && mlen <= len - moff)
		lm_hash(buf + 160, LM_SEALED_HASH, buf + moff, mlen, NULL, 0);
	edit_mac(buf, dek);
}

#endif
