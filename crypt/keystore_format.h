/* On-disk formats of the keystore: keys/<tenant>/ in the store holds
 *
 *   tenant     the tenant record: how its secret becomes a key
 *   v1 .. vN   one file per KEK version, the KEK sealed by the tenant secret
 *   shredded   a tombstone, once the tenant's keys are destroyed
 *
 * All integers little-endian; every file ends with a BLAKE2b-256 checksum
 * ("sum") over the bytes before it, so damage is told apart from a wrong
 * secret without the secret. The tenant and version records also carry a
 * MAC keyed with the tenant's record key (derived from its secret), so a
 * change by someone without the secret is detected once it is opened.
 *
 * Tenant record (200 bytes):
 *   0   magic "LMTENANT"          8
 *   8   format (1)                2
 *   10  secret: 1 passphrase, 2 key file   1
 *   11  kdf: 0 none (key file), 1 Argon2id (libsodium argon2id13)   1
 *   12  zero                      4
 *   16  opslimit                  8   (0 for a key file)
 *   24  memlimit (bytes)          8   (0 for a key file)
 *   32  salt                      16
 *   48  tenant id (random)        16
 *   64  created (unix seconds)    8
 *   72  tenant name, NUL padded   64
 *   136 MAC over [0, 136)         32
 *   168 sum over [0, 168)         32
 *
 * KEK version record (184 bytes):
 *   0   magic "LMKEKVER"          8
 *   8   format (1)                2
 *   10  state: 1 active, 2 retired   1
 *   11  cipher: 1 XChaCha20-Poly1305 1
 *   12  version (>= 1)            4
 *   16  created                   8
 *   24  retired (0 while active)  8
 *   32  tenant id                 16
 *   48  nonce (zero once retired) 24
 *   72  sealed KEK, 32 + tag 16 (zero once retired)   48
 *   120 MAC over [0, 120)         32
 *   152 sum over [0, 152)         32
 *   The KEK is sealed under the tenant's wrap key with additional data
 *   "lamina.kek" || tenant id || version || tenant name (64).
 *
 * Tombstone (144 bytes):
 *   0   magic "LMSHRED\0"         8
 *   8   format (1)                2
 *   10  zero                      2
 *   12  number of versions destroyed   4
 *   16  shredded (unix seconds)   8
 *   24  tenant created            8
 *   32  tenant id                 16
 *   48  tenant name, NUL padded   64
 *   112 sum over [0, 112)         32
 */
#ifndef LM_KEYSTORE_FORMAT_H
#define LM_KEYSTORE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slot.h"

#define LM_KS_FORMAT 1u
#define LM_KS_SUM 32u
#define LM_KS_MAC 32u
#define LM_TENANT_ID_BYTES 16u
#define LM_SALT_BYTES 16u

enum lm_secret_kind { LM_SECRET_PASSPHRASE = 1, LM_SECRET_KEYFILE = 2 };
enum lm_kdf_alg { LM_KDF_NONE = 0, LM_KDF_ARGON2ID = 1 };
enum lm_kek_state { LM_KEK_ACTIVE = 1, LM_KEK_RETIRED = 2 };

/* Bounds on stored Argon2id parameters: a hostile record must not make an
 * open take hours or all memory. The upper bounds are above libsodium's
 * "sensitive" preset (4 passes, 1 GiB). */
#define LM_KDF_OPS_MIN 1u
#define LM_KDF_OPS_MAX 16u
#define LM_KDF_MEM_MIN (8u * 1024u)
#define LM_KDF_MEM_MAX (4ull * 1024 * 1024 * 1024)

struct lm_tenant_disk {
	char magic[8];
	uint8_t format[2];
	uint8_t secret;
	uint8_t kdf;
	uint8_t zero[4];
	uint8_t opslimit[8];
	uint8_t memlimit[8];
	uint8_t salt[LM_SALT_BYTES];
	uint8_t tenant_id[LM_TENANT_ID_BYTES];
	uint8_t created[8];
	char name[LM_TENANT_FIELD];
	uint8_t mac[LM_KS_MAC];
	uint8_t sum[LM_KS_SUM];
};
_Static_assert(sizeof(struct lm_tenant_disk) == 200, "tenant record size");

struct lm_kekver_disk {
	char magic[8];
	uint8_t format[2];
	uint8_t state;
	uint8_t cipher;
	uint8_t version[4];
	uint8_t created[8];
	uint8_t retired[8];
	uint8_t tenant_id[LM_TENANT_ID_BYTES];
	uint8_t nonce[24];
	uint8_t sealed[48];
	uint8_t mac[LM_KS_MAC];
	uint8_t sum[LM_KS_SUM];
};
_Static_assert(sizeof(struct lm_kekver_disk) == 184, "KEK version record size");

struct lm_tombstone_disk {
	char magic[8];
	uint8_t format[2];
	uint8_t zero[2];
	uint8_t versions[4];
	uint8_t shredded[8];
	uint8_t created[8];
	uint8_t tenant_id[LM_TENANT_ID_BYTES];
	char name[LM_TENANT_FIELD];
	uint8_t sum[LM_KS_SUM];
};
_Static_assert(sizeof(struct lm_tombstone_disk) == 144, "tombstone size");

/* The records in memory. */
struct lm_tenant_rec {
	char name[LM_TENANT_MAX + 1];
	uint8_t secret;  /* enum lm_secret_kind */
	uint8_t kdf;     /* enum lm_kdf_alg */
	uint64_t opslimit, memlimit;
	unsigned char salt[LM_SALT_BYTES];
	unsigned char id[LM_TENANT_ID_BYTES];
	uint64_t created;
	unsigned char mac[LM_KS_MAC];
};

struct lm_kekver_rec {
	uint32_t version;
	uint8_t state;   /* enum lm_kek_state */
	uint8_t cipher;
	uint64_t created, retired;
	unsigned char tenant_id[LM_TENANT_ID_BYTES];
	unsigned char nonce[24];
	unsigned char sealed[48];
	unsigned char mac[LM_KS_MAC];
};

struct lm_tombstone_rec {
	char name[LM_TENANT_MAX + 1];
	uint32_t versions;
	uint64_t shredded, created;
	unsigned char id[LM_TENANT_ID_BYTES];
};

/* Encoders: write the whole record into @out (its disk size). With a
 * @mackey (32 bytes) the MAC is computed (and stored in r->mac); without
 * one r->mac is written as it is. The checksum is always computed. */
void lm_tenant_rec_encode(struct lm_tenant_rec *r, const unsigned char *mackey,
			  unsigned char *out);
void lm_kekver_rec_encode(struct lm_kekver_rec *r, const unsigned char *mackey,
			  unsigned char *out);
void lm_tombstone_rec_encode(const struct lm_tombstone_rec *r, unsigned char *out);

/* Decoders. Hostile input: any bytes are safe. A size other than the
 * record's, a wrong magic or a bad checksum is -EUCLEAN; another format
 * number is -EPROTONOSUPPORT; once the checksum holds, any field out of its
 * range (reserved bytes not zero, invalid or unpadded name, unknown kind,
 * Argon2id limits outside the bounds above, a retired version still holding
 * key material) is -EUCLEAN as well. The MAC is not checked here: that
 * needs the tenant's secret (lm_*_rec_mac_ok). */
int lm_tenant_rec_decode(const unsigned char *buf, size_t len,
			 struct lm_tenant_rec *r);
int lm_kekver_rec_decode(const unsigned char *buf, size_t len,
			 struct lm_kekver_rec *r);
int lm_tombstone_rec_decode(const unsigned char *buf, size_t len,
			    struct lm_tombstone_rec *r);

/* True when the record's MAC verifies under @mackey (constant time). */
bool lm_tenant_rec_mac_ok(const struct lm_tenant_rec *r, const unsigned char *mackey);
bool lm_kekver_rec_mac_ok(const struct lm_kekver_rec *r, const unsigned char *mackey);

#endif
