/* Key slots: a data key (DEK) wrapped under one version of its tenant's
 * key (KEK), and the key block that holds an object's slots.
 *
 * A key block is meant to be embedded in other headers (a volume's
 * lamina.vault, a sealed layer's superblock) or stored alone in a slot file
 * (slotfile.h). All integers little-endian.
 *
 * Key block (88 + 80 * nslots + 32 bytes):
 *
 *   0                16                          80     81         88
 *   +----------------+---------------------------+------+----------+
 *   | object id (16) | tenant name (64, NUL pad) |nslots| zero (7) |
 *   +----------------+---------------------------+------+----------+
 *   | slot 0 (80) | slot 1 (80) | ... | slot nslots-1 (80)          |
 *   +-----------------------------------------------------------+---+
 *   | MAC (32): BLAKE2b-256 keyed with the DEK's header subkey  |
 *   |           (LM_SUBKEY_HEADER) over every byte before it    |
 *   +-----------------------------------------------------------+
 *
 * Slot (80 bytes):
 *
 *   0               4        5         8                32               80
 *   +---------------+--------+---------+----------------+----------------+
 *   | KEK version   | cipher | zero(3) | nonce (24)     | wrapped DEK    |
 *   | (u32, >= 1)   | (1)    |         |                | (32 + tag 16)  |
 *   +---------------+--------+---------+----------------+----------------+
 *
 * The wrap is XChaCha20-Poly1305 (cipher 1) under the KEK, with additional
 * data "lamina.slot" || object id || tenant name (64) || KEK version (u32)
 * || cipher, so a slot copied into another object's block, another
 * tenant's, or relabelled with another version does not open. The MAC
 * binds the whole block once a DEK is open: a slot added, dropped or
 * swapped by someone without the DEK is detected.
 */
#ifndef LM_SLOT_H
#define LM_SLOT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypt.h"

#define LM_OBJECT_ID_BYTES 16u
#define LM_TENANT_MAX 63u       /* longest tenant name */
#define LM_TENANT_FIELD 64u     /* its on-disk field, NUL padded */
#define LM_SLOTS_MAX 8u
#define LM_SLOT_BYTES 80u
#define LM_KEYBLOCK_HEAD 88u
#define LM_KEYBLOCK_MAC 32u
#define LM_KEYBLOCK_SIZE(n) (LM_KEYBLOCK_HEAD + (n) * LM_SLOT_BYTES + LM_KEYBLOCK_MAC)
#define LM_KEYBLOCK_MAX LM_KEYBLOCK_SIZE(LM_SLOTS_MAX)
#define LM_SLOT_CIPHER_XCHACHA 1u

struct lm_slot_disk {
	uint8_t version[4];
	uint8_t cipher;
	uint8_t zero[3];
	uint8_t nonce[24];
	uint8_t wrapped[48];
};
_Static_assert(sizeof(struct lm_slot_disk) == LM_SLOT_BYTES, "slot size");

struct lm_keyblock_head_disk {
	uint8_t object_id[LM_OBJECT_ID_BYTES];
	char tenant[LM_TENANT_FIELD];
	uint8_t nslots;
	uint8_t zero[7];
};
_Static_assert(sizeof(struct lm_keyblock_head_disk) == LM_KEYBLOCK_HEAD, "key block head size");

/* One version of a tenant's key, unsealed; lives in secret memory. */
struct lm_kek {
	uint32_t version;
	unsigned char key[32];
};

struct lm_slot {
	uint32_t version;
	uint8_t cipher;
	unsigned char nonce[24];
	unsigned char wrapped[48];
};

/* An object's key block in memory: no secret in it. */
struct lm_keyblock {
	unsigned char object_id[LM_OBJECT_ID_BYTES];
	char tenant[LM_TENANT_MAX + 1];
	size_t nslots;
	struct lm_slot slots[LM_SLOTS_MAX];
	unsigned char mac[LM_KEYBLOCK_MAC];
};

/* True when @name is a valid tenant name: 1..LM_TENANT_MAX bytes of
 * [A-Za-z0-9._-], starting with a letter or digit (so never "." or "..",
 * never a hidden file, never a path). */
bool lm_tenant_name_valid(const char *name);

/* Decodes an on-disk tenant field (LM_TENANT_FIELD bytes, outside data): a
 * valid name, then NUL bytes only. Copies the name into @name
 * (LM_TENANT_FIELD + 1 bytes). False for anything else. */
bool lm_tenant_field_get(char *name, const char *field);

/* An empty block for @object_id (LM_OBJECT_ID_BYTES) of @tenant. Returns
 * 0 or -EINVAL for an invalid tenant name. */
int lm_keyblock_init(struct lm_keyblock *kb, const unsigned char *object_id,
		     const char *tenant);

/* Encoded size of @kb: LM_KEYBLOCK_SIZE(kb->nslots). */
size_t lm_keyblock_size(const struct lm_keyblock *kb);

/* Wraps @dek (32 bytes, borrowed) under @kek into a slot of @kb, replacing
 * a slot of the same KEK version. Returns 0, or -ENOSPC when the block
 * already has LM_SLOTS_MAX slots of other versions. The MAC is computed by
 * lm_keyblock_encode, so encode after the last change. */
int lm_slot_add(struct lm_keyblock *kb, const struct lm_kek *kek,
		const unsigned char *dek);

/* Drops the slot of KEK @version. Returns 0, -ENOENT when there is none,
 * -EBUSY when it is the last slot (an object always keeps one). */
int lm_slot_drop(struct lm_keyblock *kb, uint32_t version);

/* Encodes @kb into @out (@outsize >= lm_keyblock_size) and computes its MAC
 * under @dek's header subkey (kb->mac is updated). Returns the encoded size,
 * -EINVAL for a block without slots, or -ENOSPC. */
ssize_t lm_keyblock_encode(struct lm_keyblock *kb, const unsigned char *dek,
			   unsigned char *out, size_t outsize);

/* Decodes the key block at the start of @buf (@len bytes) into @kb and
 * returns its size. Hostile input: any bytes are safe; a short buffer,
 * nslots of 0 or above LM_SLOTS_MAX, non-zero reserved bytes, an invalid
 * or unpadded tenant name, a version 0, two slots of one version or an
 * unknown cipher are -EUCLEAN. Nothing is trusted until lm_keyblock_open
 * has checked the tags and the MAC. */
ssize_t lm_keyblock_decode(const unsigned char *buf, size_t len,
			   struct lm_keyblock *kb);

/* Opens the DEK of @kb as tenant @tenant holding @keks (@nkeks unsealed
 * versions): the first slot whose version is among them unwraps it, then
 * the block's MAC is checked. @dek (32 bytes, caller's secret memory) is
 * zeroed on failure. @what names the object in messages. Returns 0, or
 *   -EKEYREJECTED  the block belongs to another tenant (the message names it)
 *   -ENOKEY        no slot for any of @keks' versions
 *   -EBADMSG       a slot or the MAC does not verify (damaged or tampered,
 *                  or moved from another object)
 * with a one-line message in @err. */
int lm_keyblock_open(const struct lm_keyblock *kb, const char *tenant,
		     const struct lm_kek *keks, size_t nkeks,
		     unsigned char *dek, const char *what, struct lm_err *err);

#endif
