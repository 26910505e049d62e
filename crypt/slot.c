/* Key slots and key blocks (see slot.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "kdf.h"
#include "le.h"
#include "slot.h"

#define SLOT_AD_BYTES (sizeof(slot_label) + LM_OBJECT_ID_BYTES + LM_TENANT_FIELD + 4 + 1)

static const char slot_label[] = "lamina.slot";

_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "nonce");
_Static_assert(32 + crypto_aead_xchacha20poly1305_ietf_ABYTES == 48, "wrap");

bool lm_tenant_name_valid(const char *name)
{
	size_t len = strnlen(name, LM_TENANT_MAX + 1);

	if (len == 0 || len > LM_TENANT_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

int lm_keyblock_init(struct lm_keyblock *kb, const unsigned char *object_id,
		     const char *tenant)
{
	memset(kb, 0, sizeof(*kb));
	if (!lm_tenant_name_valid(tenant))
		return -EINVAL;
	memcpy(kb->object_id, object_id, LM_OBJECT_ID_BYTES);
	strcpy(kb->tenant, tenant);
	return 0;
}

size_t lm_keyblock_size(const struct lm_keyblock *kb)
{
	return LM_KEYBLOCK_SIZE(kb->nslots);
}

static void slot_ad(unsigned char *ad, const struct lm_keyblock *kb,
		    uint32_t version, uint8_t cipher)
{
	size_t o = 0;

	memcpy(ad, slot_label, sizeof(slot_label));
	o += sizeof(slot_label);
	memcpy(ad + o, kb->object_id, LM_OBJECT_ID_BYTES);
	o += LM_OBJECT_ID_BYTES;
	memset(ad + o, 0, LM_TENANT_FIELD);
	memcpy(ad + o, kb->tenant, strlen(kb->tenant));
	o += LM_TENANT_FIELD;
	lm_put32(ad + o, version);
	ad[o + 4] = cipher;
}

static struct lm_slot *slot_find(struct lm_keyblock *kb, uint32_t version)
{
	for (size_t i = 0; i < kb->nslots; i++)
		if (kb->slots[i].version == version)
			return &kb->slots[i];
	return NULL;
}

int lm_slot_add(struct lm_keyblock *kb, const struct lm_kek *kek,
		const unsigned char *dek)
{
	unsigned char ad[SLOT_AD_BYTES];
	struct lm_slot *s = slot_find(kb, kek->version);

	if (kek->version == 0)
		return -EINVAL;
	if (!s) {
		if (kb->nslots == LM_SLOTS_MAX)
			return -ENOSPC;
		s = &kb->slots[kb->nslots++];
	}
	s->version = kek->version;
	s->cipher = LM_SLOT_CIPHER_XCHACHA;
	lm_crypt_nonce(s->nonce, sizeof(s->nonce));
	slot_ad(ad, kb, s->version, s->cipher);
	crypto_aead_xchacha20poly1305_ietf_encrypt(s->wrapped, NULL, dek, 32,
						   ad, sizeof(ad), NULL,
						   s->nonce, kek->key);
	return 0;
}

int lm_slot_drop(struct lm_keyblock *kb, uint32_t version)
{
	struct lm_slot *s = slot_find(kb, version);

	if (!s)
		return -ENOENT;
	if (kb->nslots == 1)
		return -EBUSY;
	memmove(s, s + 1, (size_t)(&kb->slots[kb->nslots] - (s + 1)) * sizeof(*s));
	kb->nslots--;
	memset(&kb->slots[kb->nslots], 0, sizeof(kb->slots[0]));
	return 0;
}

/* Writes every byte of @kb but the MAC; returns the MAC's offset. */
static size_t keyblock_body(const struct lm_keyblock *kb, unsigned char *out)
{
	struct lm_keyblock_head_disk h;
	size_t o = sizeof(h);

	memset(&h, 0, sizeof(h));
	memcpy(h.object_id, kb->object_id, LM_OBJECT_ID_BYTES);
	memcpy(h.tenant, kb->tenant, strlen(kb->tenant));
	h.nslots = (uint8_t)kb->nslots;
	memcpy(out, &h, sizeof(h));
	for (size_t i = 0; i < kb->nslots; i++, o += LM_SLOT_BYTES) {
		struct lm_slot_disk d;

		memset(&d, 0, sizeof(d));
		lm_put32(d.version, kb->slots[i].version);
		d.cipher = kb->slots[i].cipher;
		memcpy(d.nonce, kb->slots[i].nonce, sizeof(d.nonce));
		memcpy(d.wrapped, kb->slots[i].wrapped, sizeof(d.wrapped));
		memcpy(out + o, &d, sizeof(d));
	}
	return o;
}

/* The MAC of an encoded body of @len bytes under @dek's header subkey. */
static int keyblock_mac(unsigned char *mac, const unsigned char *body,
			size_t len, const unsigned char *dek)
{
	unsigned char *key = lm_secret_scratch();

	if (!key)
		return -ENOMEM;
	lm_kdf_subkey(key, dek, LM_SUBKEY_HEADER);
	crypto_generichash(mac, LM_KEYBLOCK_MAC, body, len, key, LM_KEY_BYTES);
	sodium_memzero(key, LM_KEY_BYTES);
	return 0;
}

ssize_t lm_keyblock_encode(struct lm_keyblock *kb, const unsigned char *dek,
			   unsigned char *out, size_t outsize)
{
	size_t size = lm_keyblock_size(kb), o;

	if (kb->nslots == 0 || kb->nslots > LM_SLOTS_MAX)
		return -EINVAL;
	if (outsize < size)
		return -ENOSPC;
	o = keyblock_body(kb, out);
	if (keyblock_mac(kb->mac, out, o, dek))
		return -ENOMEM;
	memcpy(out + o, kb->mac, LM_KEYBLOCK_MAC);
	return (ssize_t)size;
}

bool lm_tenant_field_get(char *name, const char *field)
{
	size_t n = strnlen(field, LM_TENANT_FIELD);

	if (n > LM_TENANT_MAX)
		return false;
	for (size_t i = n; i < LM_TENANT_FIELD; i++)
		if (field[i])
			return false;
	memcpy(name, field, n);
	name[n] = '\0';
	return lm_tenant_name_valid(name);
}

static bool tenant_field_ok(const char *field)
{
	char name[LM_TENANT_FIELD + 1];

	return lm_tenant_field_get(name, field);
}

ssize_t lm_keyblock_decode(const unsigned char *buf, size_t len,
			   struct lm_keyblock *kb)
{
	struct lm_keyblock_head_disk h;
	size_t size, o = sizeof(h);

	memset(kb, 0, sizeof(*kb));
	if (len < sizeof(h))
		return -EUCLEAN;
	memcpy(&h, buf, sizeof(h));
	if (h.nslots == 0 || h.nslots > LM_SLOTS_MAX ||
	    !sodium_is_zero(h.zero, sizeof(h.zero)) || !tenant_field_ok(h.tenant))
		return -EUCLEAN;
	size = LM_KEYBLOCK_SIZE((size_t)h.nslots);
	if (len < size)
		return -EUCLEAN;
	memcpy(kb->object_id, h.object_id, LM_OBJECT_ID_BYTES);
	memcpy(kb->tenant, h.tenant, strnlen(h.tenant, LM_TENANT_FIELD));
	for (size_t i = 0; i < h.nslots; i++, o += LM_SLOT_BYTES) {
		struct lm_slot_disk d;
		struct lm_slot *s = &kb->slots[i];

		memcpy(&d, buf + o, sizeof(d));
		s->version = lm_get32(d.version);
		s->cipher = d.cipher;
		if (s->version == 0 || s->cipher != LM_SLOT_CIPHER_XCHACHA ||
		    !sodium_is_zero(d.zero, sizeof(d.zero)) ||
		    slot_find(kb, s->version))
			goto out_bad;
		memcpy(s->nonce, d.nonce, sizeof(s->nonce));
		memcpy(s->wrapped, d.wrapped, sizeof(s->wrapped));
		kb->nslots = i + 1;
	}
	memcpy(kb->mac, buf + o, LM_KEYBLOCK_MAC);
	return (ssize_t)size;
out_bad:
	memset(kb, 0, sizeof(*kb));
	return -EUCLEAN;
}

static const struct lm_kek *kek_find(const struct lm_kek *keks, size_t n,
				     uint32_t version)
{
	for (size_t i = 0; i < n; i++)
		if (keks[i].version == version)
			return &keks[i];
	return NULL;
}

/* "v1, v3" into @buf: the versions of @kb's slots, for messages. */
static void slot_versions(const struct lm_keyblock *kb, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < kb->nslots && o < size; i++) {
		int n = snprintf(buf + o, size - o, "%sv%u", i ? ", " : "",
				 (unsigned)kb->slots[i].version);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

int lm_keyblock_open(const struct lm_keyblock *kb, const char *tenant,
		     const struct lm_kek *keks, size_t nkeks,
		     unsigned char *dek, const char *what, struct lm_err *err)
{
	unsigned char ad[SLOT_AD_BYTES], body[LM_KEYBLOCK_MAX];
	unsigned char mac[LM_KEYBLOCK_MAC];
	const struct lm_slot *s = NULL;
	const struct lm_kek *kek = NULL;
	char list[96];

	sodium_memzero(dek, 32);
	if (strcmp(kb->tenant, tenant))
		return lm_errf(err, -EKEYREJECTED,
			       "%s belongs to tenant %s, not %s", what,
			       kb->tenant, tenant);
	for (size_t i = 0; i < kb->nslots && !kek; i++) {
		s = &kb->slots[i];
		kek = kek_find(keks, nkeks, s->version);
	}
	if (!kek) {
		slot_versions(kb, list, sizeof(list));
		return lm_errf(err, -ENOKEY,
			       "%s has key slots only for retired or unknown key versions of tenant %s (%s)",
			       what, tenant, list);
	}
	slot_ad(ad, kb, s->version, s->cipher);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dek, NULL, NULL,
						       s->wrapped,
						       sizeof(s->wrapped), ad,
						       sizeof(ad), s->nonce,
						       kek->key))
		return lm_errf(err, -EBADMSG,
			       "%s: key slot v%u does not open: it was damaged, or copied from another object",
			       what, (unsigned)s->version);
	if (keyblock_mac(mac, body, keyblock_body(kb, body), dek)) {
		sodium_memzero(dek, 32);
		return lm_errf(err, -ENOMEM, "out of memory");
	}
	if (sodium_memcmp(mac, kb->mac, sizeof(mac))) {
		sodium_memzero(dek, 32);
		return lm_errf(err, -EBADMSG,
			       "%s: its key slots were changed without the data key (MAC mismatch)",
			       what);
	}
	return 0;
}
