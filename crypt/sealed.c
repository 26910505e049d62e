/* Sealed layers, reading: the superblock, the keys, the chunk index and
 * the chunks (formats in sealed.h). The metadata is sealed_meta.c.
 *
 * Every function here reads outside bytes: lengths are checked before any
 * read or allocation, with 64-bit arithmetic that cannot wrap, and nothing
 * derived from a chunk or the metadata is released before its hash or its
 * box verifies.
 */
#include <errno.h>
#include <lz4.h>
#include <string.h>
#include <sys/stat.h>

#include "kdf.h"
#include "le.h"
#include "sealed_int.h"

/* ---- Shared with the builder ---- */

int lm_sealed_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return (alen > blen) - (alen < blen);
}

bool lm_sealed_mode_valid(uint32_t mode)
{
	if (mode & ~(uint32_t)(S_IFMT | 07777))
		return false;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return true;
	}
	return false;
}

size_t lm_sealed_chunk_ad(unsigned char *ad, const unsigned char *layer_id, uint32_t idx,
			  uint8_t flags)
{
	size_t o = sizeof(LM_SEALED_CHUNK_LABEL);

	memcpy(ad, LM_SEALED_CHUNK_LABEL, o);
	memcpy(ad + o, layer_id, LM_OBJECT_ID_BYTES);
	o += LM_OBJECT_ID_BYTES;
	lm_put32(ad + o, idx);
	o += 4;
	ad[o++] = flags;
	return o;
}

size_t lm_sealed_meta_ad(unsigned char *ad, const unsigned char *raw)
{
	size_t o = sizeof(LM_SEALED_META_LABEL);

	memcpy(ad, LM_SEALED_META_LABEL, o);
	memcpy(ad + o, raw, LM_SEALED_SB_AUTH);
	return o + LM_SEALED_SB_AUTH;
}

void lm_sealed_sb_mac(unsigned char *mac, const unsigned char *raw, const unsigned char *hsub)
{
	lm_hash(mac, LM_SEALED_HASH, raw, LM_SEALED_SB_MACED, hsub, LM_KEY_BYTES);
}

/* ---- Superblock ---- */

static size_t stored_min(const struct lm_sealed_sb *sb)
{
	return 1 + (lm_sealed_encrypted(sb) ? LM_AEAD_OVERHEAD : 0);
}

size_t lm_sealed_stored_max(const struct lm_sealed_sb *sb)
{
	return ((size_t)1 << sb->chunk_shift) + (lm_sealed_encrypted(sb) ? LM_AEAD_OVERHEAD : 0);
}

size_t lm_sealed_scratch_size(const struct lm_sealed_sb *sb)
{
	return lm_sealed_encrypted(sb) ? (size_t)1 << sb->chunk_shift : 0;
}

/* The fields that say what the layer is: flags, shift, cipher, tenant,
 * reserved bytes. */
static int sb_check_kind(struct lm_sealed_sb *sb, const struct lm_sealed_sb_disk *d)
{
	if (sb->flags & ~LM_SEALED_F_ENCRYPTED || d->zero[0] || d->zero[1])
		return -EUCLEAN;
	if (sb->chunk_shift < LM_SEALED_SHIFT_MIN || sb->chunk_shift > LM_SEALED_SHIFT_MAX)
		return -EUCLEAN;
	if (!lm_sealed_encrypted(sb)) {
		/* Plain: no cipher, no tenant, no MAC. */
		if (sb->cipher || !lm_is_zero(d->tenant, sizeof(d->tenant)) ||
		    !lm_is_zero(d->mac, sizeof(d->mac)))
			return -EUCLEAN;
		return 0;
	}
	if (!lm_aead_name(sb->cipher) || !lm_tenant_field_get(sb->tenant, d->tenant))
		return -EUCLEAN;
	return 0;
}

/* The sections tile the file, and the counts agree with the lengths. */
static int sb_check_sections(const struct lm_sealed_sb *sb, uint64_t file_size)
{
	uint64_t n = sb->chunk_count, data, payload;
	uint64_t overhead = lm_sealed_encrypted(sb) ? LM_AEAD_OVERHEAD : 0;

	if (sb->file_size != file_size || sb->chunk_count >= LM_SEALED_HOLE)
		return -EUCLEAN;
	if (sb->index_off < LM_SEALED_SB || sb->index_off > file_size ||
	    sb->index_len != n * LM_SEALED_INDEX_ENT ||
	    sb->index_len > file_size - sb->index_off ||
	    sb->meta_off != sb->index_off + sb->index_len ||
	    sb->meta_len != file_size - sb->meta_off)
		return -EUCLEAN;
	data = sb->index_off - LM_SEALED_SB;
	if (data < n * stored_min(sb) || data > n * lm_sealed_stored_max(sb))
		return -EUCLEAN;
	if (sb->inode_count == 0 || sb->inode_count > LM_SEALED_INODES_MAX ||
	    sb->meta_plain_len > LM_SEALED_META_MAX ||
	    sb->meta_plain_len < LM_SEALED_META_HEAD + (uint64_t)sb->inode_count * LM_SEALED_INODE)
		return -EUCLEAN;
	/* The stored metadata is an lz4 block (boxed when encrypted): no
	 * longer than lz4's bound, and lz4 expands a byte to at most 255, so
	 * a claimed plain length never allocates beyond 255 times the file. */
	if (sb->meta_len <= overhead)
		return -EUCLEAN;
	payload = sb->meta_len - overhead;
	if (payload > (uint64_t)LZ4_COMPRESSBOUND(sb->meta_plain_len) ||
	    sb->meta_plain_len > payload * 255)
		return -EUCLEAN;
	return 0;
}

static void sb_fields(struct lm_sealed_sb *sb, const struct lm_sealed_sb_disk *d)
{
	sb->flags = lm_get16(d->flags);
	sb->chunk_shift = d->chunk_shift;
	sb->cipher = (enum lm_cipher)d->cipher;
	memcpy(sb->layer_id, d->layer_id, LM_OBJECT_ID_BYTES);
	sb->created = lm_get64(d->created);
	sb->file_size = lm_get64(d->file_size);
	sb->chunk_count = lm_get32(d->chunk_count);
	sb->inode_count = lm_get32(d->inode_count);
	sb->index_off = lm_get64(d->index_off);
	sb->index_len = lm_get64(d->index_len);
	sb->meta_off = lm_get64(d->meta_off);
	sb->meta_len = lm_get64(d->meta_len);
	sb->meta_plain_len = lm_get64(d->meta_plain_len);
	memcpy(sb->meta_hash, d->meta_hash, LM_SEALED_HASH);
	memcpy(sb->index_hash, d->index_hash, LM_SEALED_HASH);
	memcpy(sb->mac, d->mac, LM_SEALED_HASH);
}

int lm_sealed_sb_decode(const unsigned char *buf, size_t len, uint64_t file_size,
			struct lm_sealed_sb *sb)
{
	const struct lm_sealed_sb_disk *d = (const void *)buf;
	int rc;

	memset(sb, 0, sizeof(*sb));
	if (len < LM_SEALED_SB || memcmp(d->magic, LM_SEALED_MAGIC, sizeof(d->magic)))
		return -EUCLEAN;
	if (lm_get16(d->format) != LM_SEALED_FORMAT)
		return -EPROTONOSUPPORT;
	sb_fields(sb, d);
	rc = sb_check_kind(sb, d);
	if (!rc)
		rc = sb_check_sections(sb, file_size);
	if (rc) {
		memset(sb, 0, sizeof(*sb));
		return rc;
	}
	memcpy(sb->raw, buf, LM_SEALED_SB);
	lm_hash(sb->digest, LM_SEALED_HASH, buf, LM_SEALED_SB, NULL, 0);
	return 0;
}

void lm_sealed_digest_hex(const struct lm_sealed_sb *sb, char *hex)
{
	lm_crypt_hex(hex, sb->digest, LM_SEALED_HASH);
}

bool lm_sealed_digest_valid(const char *s)
{
	for (size_t i = 0; i < LM_SEALED_DIGEST_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[LM_SEALED_DIGEST_HEX] == '\0';
}

/* ---- Keys ---- */

void lm_sealed_keys_release(struct lm_sealed_keys *k)
{
	lm_aead_key_free(k->chunk);
	lm_aead_key_free(k->meta);
	k->chunk = k->meta = NULL;
}

int lm_sealed_keys_derive(const unsigned char *dek, enum lm_cipher cipher,
			  const unsigned char *layer_id, struct lm_sealed_keys *k,
			  unsigned char *hsub)
{
	unsigned char *sub = lm_secret_alloc(2 * LM_KEY_BYTES);
	unsigned char *obj = sub + LM_KEY_BYTES;
	int rc;

	k->chunk = k->meta = NULL;
	if (!sub)
		return -ENOMEM;
	if (!lm_aead_available(cipher)) {
		rc = lm_aead_name(cipher) ? -ENOTSUP : -EINVAL;
		goto out;
	}
	rc = lm_kdf_subkey(hsub, dek, LM_SUBKEY_HEADER);
	if (!rc)
		rc = lm_kdf_subkey(sub, dek, LM_SUBKEY_CONTENTS);
	if (!rc)
		rc = lm_kdf_object(obj, sub, layer_id, LM_OBJECT_ID_BYTES);
	if (!rc)
		rc = lm_aead_key_new(cipher, obj, &k->chunk);
	if (!rc)
		rc = lm_kdf_subkey(sub, dek, LM_SUBKEY_METADATA);
	if (!rc)
		rc = lm_aead_key_new(cipher, sub, &k->meta);
out:
	if (rc) {
		lm_sealed_keys_release(k);
		lm_crypt_wipe(hsub, LM_KEY_BYTES);
	}
	lm_secret_free(sub);
	return rc;
}

int lm_sealed_keys_new(const struct lm_sealed_sb *sb, const unsigned char *dek,
		       struct lm_sealed_keys **out)
{
	struct lm_sealed_keys *k;
	unsigned char *hsub, *mac;
	int rc;

	*out = NULL;
	if (!lm_sealed_encrypted(sb))
		return -EINVAL;
	k = lm_secret_alloc(sizeof(*k) + LM_KEY_BYTES + LM_SEALED_HASH);
	if (!k)
		return -ENOMEM;
	hsub = (unsigned char *)(k + 1);
	mac = hsub + LM_KEY_BYTES;
	rc = lm_sealed_keys_derive(dek, sb->cipher, sb->layer_id, k, hsub);
	if (rc)
		goto out_free;
	lm_sealed_sb_mac(mac, sb->raw, hsub);
	if (!lm_crypt_equal(mac, sb->mac, LM_SEALED_HASH)) {
		rc = -EKEYREJECTED;
		lm_sealed_keys_release(k);
		goto out_free;
	}
	lm_crypt_wipe(hsub, LM_KEY_BYTES + LM_SEALED_HASH);
	*out = k;
	return 0;
out_free:
	lm_secret_free(k);
	return rc;
}

void lm_sealed_keys_free(struct lm_sealed_keys *k)
{
	if (!k)
		return;
	lm_sealed_keys_release(k);
	lm_secret_free(k);
}

/* ---- Chunk index ---- */

static void index_entry(const unsigned char *index, uint32_t i, struct lm_sealed_chunk *c)
{
	const struct lm_sealed_index_disk *e =
		(const void *)(index + (size_t)i * LM_SEALED_INDEX_ENT);

	c->offset = lm_get64(e->offset);
	c->stored_len = lm_get32(e->stored_len);
	c->plain_len = (uint32_t)e->plain_len[0] | (uint32_t)e->plain_len[1] << 8 |
		       (uint32_t)e->plain_len[2] << 16;
	c->flags = e->flags;
	c->hash = e->hash;
}

/* One entry's lengths and flags, where it lies aside. A raw payload is the
 * plaintext itself, so its length is the plain length. */
static bool chunk_shape_ok(const struct lm_sealed_sb *sb, const struct lm_sealed_chunk *c)
{
	size_t overhead = lm_sealed_encrypted(sb) ? LM_AEAD_OVERHEAD : 0;

	if (c->flags & ~LM_SEALED_CF_LZ4 || c->plain_len == 0 ||
	    c->plain_len > (1u << sb->chunk_shift))
		return false;
	if (c->stored_len < stored_min(sb) || c->stored_len > lm_sealed_stored_max(sb))
		return false;
	return (c->flags & LM_SEALED_CF_LZ4) || c->stored_len - overhead == c->plain_len;
}

int lm_sealed_index_check(const struct lm_sealed_sb *sb, const unsigned char *index)
{
	unsigned char h[LM_SEALED_HASH];
	struct lm_sealed_chunk c;
	uint64_t off = LM_SEALED_SB;

	lm_hash(h, sizeof(h), index, sb->index_len, NULL, 0);
	if (!lm_crypt_equal(h, sb->index_hash, sizeof(h)))
		return -EBADMSG;
	for (uint32_t i = 0; i < sb->chunk_count; i++) {
		index_entry(index, i, &c);
		if (c.offset != off || !chunk_shape_ok(sb, &c))
			return -EUCLEAN;
		off += c.stored_len;
	}
	return off == sb->index_off ? 0 : -EUCLEAN;
}

void lm_sealed_index_entry(const unsigned char *index, uint32_t i, struct lm_sealed_chunk *c)
{
	index_entry(index, i, c);
}

/* ---- Chunks ---- */

int lm_sealed_chunk_hash_check(const struct lm_sealed_chunk *c, const unsigned char *stored)
{
	unsigned char h[LM_SEALED_HASH];

	lm_hash(h, sizeof(h), stored, c->stored_len, NULL, 0);
	return lm_crypt_equal(h, c->hash, sizeof(h)) ? 0 : -EBADMSG;
}

/* Opens the box of an encrypted chunk into @dst (the payload). */
static int chunk_unbox(const struct lm_sealed_sb *sb, const struct lm_sealed_keys *keys,
		       const struct lm_sealed_chunk *c, uint32_t idx,
		       const unsigned char *stored, unsigned char *dst)
{
	unsigned char ad[LM_SEALED_CHUNK_AD];
	size_t adlen = lm_sealed_chunk_ad(ad, sb->layer_id, idx, c->flags);
	int rc = lm_aead_open(keys->chunk, dst, stored, c->stored_len, ad, adlen);

	return rc == 0 || rc == -ENOMEM ? rc : -EBADMSG;
}

int lm_sealed_chunk_open(const struct lm_sealed_sb *sb, const struct lm_sealed_keys *keys,
			 const struct lm_sealed_chunk *c, uint32_t idx,
			 const unsigned char *stored, unsigned char *plain,
			 unsigned char *scratch)
{
	const unsigned char *payload = stored;
	size_t plen = c->stored_len;
	int rc, n;

	if (!chunk_shape_ok(sb, c))
		return -EUCLEAN;
	if (lm_sealed_encrypted(sb)) {
		if (!keys || ((c->flags & LM_SEALED_CF_LZ4) && !scratch)) {
			rc = -EINVAL;
			goto out_fail;
		}
		plen -= LM_AEAD_OVERHEAD;
		payload = (c->flags & LM_SEALED_CF_LZ4) ? scratch : plain;
		rc = chunk_unbox(sb, keys, c, idx, stored, (unsigned char *)payload);
	} else {
		rc = lm_sealed_chunk_hash_check(c, stored);
	}
	if (rc)
		goto out_fail;
	if (!(c->flags & LM_SEALED_CF_LZ4)) {
		if (payload != plain)
			memcpy(plain, payload, c->plain_len);
		return 0;
	}
	n = LZ4_decompress_safe((const char *)payload, (char *)plain, (int)plen,
				(int)c->plain_len);
	if (n == (int)c->plain_len)
		return 0;
	rc = -EUCLEAN;
out_fail:
	memset(plain, 0, c->plain_len);
	return rc;
}
