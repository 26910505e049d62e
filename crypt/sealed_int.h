/* What the sealed layer decoder (sealed.c, sealed_meta.c) and builder
 * (sealed_build.c) share; nothing outside crypt/ includes this. */
#ifndef LM_SEALED_INT_H
#define LM_SEALED_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sealed.h"

/* Superblock bytes under the metadata box's additional data (everything
 * before the hashes) and under the MAC (everything before the MAC). */
#define LM_SEALED_SB_AUTH 160u
#define LM_SEALED_SB_MACED 224u
#define LM_SEALED_LINK_MAX 4095u
#define LM_SEALED_NAME_MAX 255u

/* Labels are written with their NUL, as every label of crypt/. */
#define LM_SEALED_CHUNK_LABEL "lamina.chunk"
#define LM_SEALED_META_LABEL "lamina.meta"
#define LM_SEALED_CHUNK_AD (sizeof(LM_SEALED_CHUNK_LABEL) + LM_OBJECT_ID_BYTES + 4 + 1)
#define LM_SEALED_META_AD (sizeof(LM_SEALED_META_LABEL) + LM_SEALED_SB_AUTH)

/* The keys of an encrypted layer; the struct lives in secret memory, the
 * two sealing keys in aead.h's key pool (secret memory too). */
struct lm_sealed_keys {
	struct lm_aead_key *chunk;   /* lm_kdf_object(contents subkey, layer id) */
	struct lm_aead_key *meta;    /* the metadata subkey */
};

/* Fills @k's sealing keys for @cipher from @dek and @layer_id, and puts
 * the header subkey in @hsub (LM_KEY_BYTES, caller's secret memory).
 * Returns 0, -ENOTSUP (cipher not available here), -EINVAL or -ENOMEM;
 * on failure nothing is left allocated and @hsub is wiped. */
int lm_sealed_keys_derive(const unsigned char *dek, enum lm_cipher cipher,
			  const unsigned char *layer_id, struct lm_sealed_keys *k,
			  unsigned char *hsub);
/* Frees the sealing keys of @k (the struct itself stays). */
void lm_sealed_keys_release(struct lm_sealed_keys *k);

/* The MAC of superblock bytes @raw under header subkey @hsub into @mac. */
void lm_sealed_sb_mac(unsigned char *mac, const unsigned char *raw, const unsigned char *hsub);

/* Additional data of stored chunk @idx with @flags of layer @layer_id
 * into @ad (LM_SEALED_CHUNK_AD bytes); returns its length. */
size_t lm_sealed_chunk_ad(unsigned char *ad, const unsigned char *layer_id, uint32_t idx,
			  uint8_t flags);
/* Additional data of the metadata box of superblock @raw into @ad
 * (LM_SEALED_META_AD bytes); returns its length. */
size_t lm_sealed_meta_ad(unsigned char *ad, const unsigned char *raw);

/* Entry @i of index bytes @index, decoded (c->hash points into @index). */
void lm_sealed_index_entry(const unsigned char *index, uint32_t i, struct lm_sealed_chunk *c);

/* Bytewise order of two names, a shorter prefix first: <0, 0, >0. */
int lm_sealed_name_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* True when @mode has one of the seven file types and no other bits than
 * the type and 07777. */
bool lm_sealed_mode_valid(uint32_t mode);

#endif
