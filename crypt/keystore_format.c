/* Keystore record encoding and decoding (see keystore_format.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sodium.h>

#include "keystore_format.h"
#include "le.h"

static const char tenant_magic[8] = "LMTENANT";
static const char kekver_magic[8] = "LMKEKVER";
static const char tomb_magic[8] = "LMSHRED";

static void ks_sum(uint8_t *sum, const void *body, size_t len)
{
	crypto_generichash(sum, LM_KS_SUM, body, len, NULL, 0);
}

static void ks_mac(uint8_t *mac, const void *body, size_t len,
		   const unsigned char *key)
{
	crypto_generichash(mac, LM_KS_MAC, body, len, key, 32);
}

static void name_put(char *field, const char *name)
{
	memset(field, 0, LM_TENANT_FIELD);
	memcpy(field, name, strnlen(name, LM_TENANT_MAX));
}

/* Magic, size, format and checksum, common to the three records. */
static int ks_check(const unsigned char *buf, size_t len, size_t size,
		    const char *magic)
{
	uint8_t sum[LM_KS_SUM];

	if (len != size || memcmp(buf, magic, 8))
		return -EUCLEAN;
	ks_sum(sum, buf, size - LM_KS_SUM);
	if (memcmp(sum, buf + size - LM_KS_SUM, LM_KS_SUM))
		return -EUCLEAN;
	if (lm_get16(buf + 8) != LM_KS_FORMAT)
		return -EPROTONOSUPPORT;
	return 0;
}

/* Finishes the disk image @d of a record (@size bytes, MAC at @mac_off,
 * checksum at @sum_off): computes the record's MAC into @mac when @mackey
 * is given (else @mac is the one it carries), stores it and the checksum,
 * and copies the image to @out. */
static void ks_finish(void *d, size_t size, size_t mac_off, size_t sum_off, uint8_t *mac,
		      const unsigned char *mackey, unsigned char *out)
{
	unsigned char *b = d;

	if (mackey)
		ks_mac(mac, b, mac_off, mackey);
	memcpy(b + mac_off, mac, LM_KS_MAC);
	ks_sum(b + sum_off, b, sum_off);
	memcpy(out, b, size);
}

/* Whether @mac is the MAC under @mackey of the first @mac_off bytes of @d. */
static bool ks_mac_matches(const void *d, size_t mac_off, const uint8_t *mac,
			   const unsigned char *mackey)
{
	uint8_t want[LM_KS_MAC];

	ks_mac(want, d, mac_off, mackey);
	return sodium_memcmp(want, mac, LM_KS_MAC) == 0;
}

static void tenant_body(const struct lm_tenant_rec *r, struct lm_tenant_disk *d)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->magic, tenant_magic, 8);
	lm_put16(d->format, LM_KS_FORMAT);
	d->secret = r->secret;
	d->kdf = r->kdf;
	lm_put64(d->opslimit, r->opslimit);
	lm_put64(d->memlimit, r->memlimit);
	memcpy(d->salt, r->salt, LM_SALT_BYTES);
	memcpy(d->tenant_id, r->id, LM_TENANT_ID_BYTES);
	lm_put64(d->created, r->created);
	name_put(d->name, r->name);
}

void lm_tenant_rec_encode(struct lm_tenant_rec *r, const unsigned char *mackey,
			  unsigned char *out)
{
	struct lm_tenant_disk d;

	tenant_body(r, &d);
	ks_finish(&d, sizeof(d), offsetof(struct lm_tenant_disk, mac),
		  offsetof(struct lm_tenant_disk, sum), r->mac, mackey, out);
}

bool lm_tenant_rec_mac_ok(const struct lm_tenant_rec *r, const unsigned char *mackey)
{
	struct lm_tenant_disk d;

	tenant_body(r, &d);
	return ks_mac_matches(&d, offsetof(struct lm_tenant_disk, mac), r->mac, mackey);
}

int lm_tenant_rec_decode(const unsigned char *buf, size_t len,
			 struct lm_tenant_rec *r)
{
	struct lm_tenant_disk d;
	int rc = ks_check(buf, len, sizeof(d), tenant_magic);

	memset(r, 0, sizeof(*r));
	if (rc)
		return rc;
	memcpy(&d, buf, sizeof(d));
	r->secret = d.secret;
	r->kdf = d.kdf;
	r->opslimit = lm_get64(d.opslimit);
	r->memlimit = lm_get64(d.memlimit);
	memcpy(r->salt, d.salt, LM_SALT_BYTES);
	memcpy(r->id, d.tenant_id, LM_TENANT_ID_BYTES);
	r->created = lm_get64(d.created);
	memcpy(r->mac, d.mac, LM_KS_MAC);
	if (!sodium_is_zero(d.zero, sizeof(d.zero)) || !lm_tenant_field_get(r->name, d.name))
		goto out_bad;
	if (r->secret == LM_SECRET_PASSPHRASE && r->kdf == LM_KDF_ARGON2ID) {
		if (r->opslimit < LM_KDF_OPS_MIN || r->opslimit > LM_KDF_OPS_MAX ||
		    r->memlimit < LM_KDF_MEM_MIN || r->memlimit > LM_KDF_MEM_MAX)
			goto out_bad;
	} else if (r->secret == LM_SECRET_KEYFILE && r->kdf == LM_KDF_NONE) {
		if (r->opslimit || r->memlimit)
			goto out_bad;
	} else {
		goto out_bad;
	}
	return 0;
out_bad:
	memset(r, 0, sizeof(*r));
	return -EUCLEAN;
}

static void kekver_body(const struct lm_kekver_rec *r, struct lm_kekver_disk *d)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->magic, kekver_magic, 8);
	lm_put16(d->format, LM_KS_FORMAT);
	d->state = r->state;
	d->cipher = r->cipher;
	lm_put32(d->version, r->version);
	lm_put64(d->created, r->created);
	lm_put64(d->retired, r->retired);
	memcpy(d->tenant_id, r->tenant_id, LM_TENANT_ID_BYTES);
	memcpy(d->nonce, r->nonce, sizeof(d->nonce));
	memcpy(d->sealed, r->sealed, sizeof(d->sealed));
}

void lm_kekver_rec_encode(struct lm_kekver_rec *r, const unsigned char *mackey,
			  unsigned char *out)
{
	struct lm_kekver_disk d;

	kekver_body(r, &d);
	ks_finish(&d, sizeof(d), offsetof(struct lm_kekver_disk, mac),
		  offsetof(struct lm_kekver_disk, sum), r->mac, mackey, out);
}

bool lm_kekver_rec_mac_ok(const struct lm_kekver_rec *r, const unsigned char *mackey)
{
	struct lm_kekver_disk d;

	kekver_body(r, &d);
	return ks_mac_matches(&d, offsetof(struct lm_kekver_disk, mac), r->mac, mackey);
}

int lm_kekver_rec_decode(const unsigned char *buf, size_t len,
			 struct lm_kekver_rec *r)
{
	struct lm_kekver_disk d;
	int rc = ks_check(buf, len, sizeof(d), kekver_magic);
	bool empty;

	memset(r, 0, sizeof(*r));
	if (rc)
		return rc;
	memcpy(&d, buf, sizeof(d));
	r->state = d.state;
	r->cipher = d.cipher;
	r->version = lm_get32(d.version);
	r->created = lm_get64(d.created);
	r->retired = lm_get64(d.retired);
	memcpy(r->tenant_id, d.tenant_id, LM_TENANT_ID_BYTES);
	memcpy(r->nonce, d.nonce, sizeof(r->nonce));
	memcpy(r->sealed, d.sealed, sizeof(r->sealed));
	memcpy(r->mac, d.mac, LM_KS_MAC);
	empty = sodium_is_zero(d.nonce, sizeof(d.nonce)) &&
		sodium_is_zero(d.sealed, sizeof(d.sealed));
	if (r->version == 0 || r->cipher != LM_SLOT_CIPHER_XCHACHA)
		goto out_bad;
	if (r->state == LM_KEK_ACTIVE && (r->retired || empty))
		goto out_bad;
	if (r->state == LM_KEK_RETIRED && (!r->retired || !empty))
		goto out_bad;
	if (r->state != LM_KEK_ACTIVE && r->state != LM_KEK_RETIRED)
		goto out_bad;
	return 0;
out_bad:
	memset(r, 0, sizeof(*r));
	return -EUCLEAN;
}

void lm_tombstone_rec_encode(const struct lm_tombstone_rec *r, unsigned char *out)
{
	struct lm_tombstone_disk d;

	memset(&d, 0, sizeof(d));
	memcpy(d.magic, tomb_magic, 8);
	lm_put16(d.format, LM_KS_FORMAT);
	lm_put32(d.versions, r->versions);
	lm_put64(d.shredded, r->shredded);
	lm_put64(d.created, r->created);
	memcpy(d.tenant_id, r->id, LM_TENANT_ID_BYTES);
	name_put(d.name, r->name);
	ks_sum(d.sum, &d, offsetof(struct lm_tombstone_disk, sum));
	memcpy(out, &d, sizeof(d));
}

int lm_tombstone_rec_decode(const unsigned char *buf, size_t len,
			    struct lm_tombstone_rec *r)
{
	struct lm_tombstone_disk d;
	int rc = ks_check(buf, len, sizeof(d), tomb_magic);

	memset(r, 0, sizeof(*r));
	if (rc)
		return rc;
	memcpy(&d, buf, sizeof(d));
	r->versions = lm_get32(d.versions);
	r->shredded = lm_get64(d.shredded);
	r->created = lm_get64(d.created);
	memcpy(r->id, d.tenant_id, LM_TENANT_ID_BYTES);
	if (!sodium_is_zero(d.zero, sizeof(d.zero)) || !lm_tenant_field_get(r->name, d.name) ||
	    r->shredded == 0) {
		memset(r, 0, sizeof(*r));
		return -EUCLEAN;
	}
	return 0;
}
