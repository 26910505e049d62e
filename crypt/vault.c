/* The vault's volume header, lamina.vault: decode, create, open, rekey
 * (formats in vault.h). The registry of outside vaults and the container
 * kind for rotation are in vault_scan.c.
 *
 * Every writer of lamina.vault (create, rekey, and rotation through the
 * container kind) holds the store lock, and re-reads the header under it:
 * a rotation that rewrote the key block meanwhile is never undone, and a
 * rekey box is never lost to a rotation that read the header before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fileio.h"
#include "kdf.h"
#include "le.h"
#include "vault_int.h"

static const char vault_magic[8] = "LMVAULT";
/* Labels are written with their NUL, as every label of crypt/. */
static const char rekey_label[] = "lamina.rekey";

#define REKEY_SEALED (LM_KEY_BYTES + LM_AEAD_OVERHEAD)
#define REKEY_AD_BYTES (sizeof(rekey_label) + 16 + 4)
#define KBLEN_OFF offsetof(struct lm_vault_head_disk, kblen)

_Static_assert(REKEY_SEALED <= LM_VAULT_REKEY_BOX, "rekey box");

/* The rekey box field: all zero without the flag; with it a box of the
 * one cipher it may have, then zero padding. */
static bool rekey_field_ok(const uint8_t *box, bool rekey)
{
	const uint8_t *p = box;
	size_t from = 0;

	if (rekey) {
		if (box[0] != LM_CIPHER_XCHACHA20POLY1305)
			return false;
		from = REKEY_SEALED;
	}
	for (size_t i = from; i < LM_VAULT_REKEY_BOX; i++)
		if (p[i])
			return false;
	return true;
}

int lm_vault_decode(const unsigned char *buf, size_t len, struct lm_vault_info *info,
		    size_t *kboff, size_t *kblen)
{
	struct lm_vault_head_disk h;
	uint32_t flags, want;
	ssize_t n;

	memset(info, 0, sizeof(*info));
	if (len < sizeof(h))
		return -EUCLEAN;
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, vault_magic, sizeof(h.magic)))
		return -EUCLEAN;
	if (lm_get16(h.format) != LM_VAULT_FORMAT)
		return -EPROTONOSUPPORT;
	flags = lm_get32(h.flags);
	want = lm_get32(h.kblen);
	if (!lm_aead_name((enum lm_cipher)h.cipher) ||
	    h.block_shift != LM_VAULT_BLOCK_SHIFT ||
	    (flags & ~(uint32_t)LM_VAULT_F_REKEY) || lm_get32(h.generation) == 0 ||
	    want > LM_KEYBLOCK_MAX || len != LM_VAULT_HEAD + (size_t)want + LM_VAULT_MAC ||
	    !rekey_field_ok(h.rekey, flags & LM_VAULT_F_REKEY))
		return -EUCLEAN;
	n = lm_keyblock_decode(buf + LM_VAULT_HEAD, want, &info->kb);
	if (n < 0 || (size_t)n != want ||
	    memcmp(info->kb.object_id, h.uuid, sizeof(h.uuid))) {
		memset(info, 0, sizeof(*info));
		return -EUCLEAN;
	}
	memcpy(info->uuid, h.uuid, sizeof(info->uuid));
	info->cipher = (enum lm_cipher)h.cipher;
	info->block_shift = h.block_shift;
	info->flags = flags;
	info->created = lm_get64(h.created);
	info->generation = lm_get32(h.generation);
	if (kboff)
		*kboff = LM_VAULT_HEAD;
	if (kblen)
		*kblen = want;
	return 0;
}

/* The header MAC of @len bytes at @buf under @dek's header subkey. */
static int vault_mac(unsigned char *mac, const unsigned char *buf, size_t len,
		     const unsigned char *dek)
{
	unsigned char *key = lm_secret_scratch();
	int rc;

	if (!key)
		return -ENOMEM;
	rc = lm_kdf_subkey(key, dek, LM_SUBKEY_HEADER);
	if (!rc)
		rc = lm_hash(mac, LM_VAULT_MAC, buf, len, key, LM_KEY_BYTES);
	lm_crypt_wipe(key, LM_KEY_BYTES);
	return rc;
}

int vault_mac_check(const unsigned char *buf, size_t len, size_t kblen,
		    const unsigned char *dek)
{
	unsigned char mac[LM_VAULT_MAC];
	size_t body = LM_VAULT_HEAD + kblen;
	int rc;

	if (len != body + LM_VAULT_MAC)
		return -EBADMSG;
	rc = vault_mac(mac, buf, body, dek);
	if (rc)
		return rc;
	return lm_crypt_equal(mac, buf + body, LM_VAULT_MAC) ? 0 : -EBADMSG;
}

ssize_t vault_assemble(const unsigned char *head, struct lm_keyblock *kb,
		       const unsigned char *dek, unsigned char *out, size_t outsize)
{
	ssize_t n;
	int rc;

	if (outsize < LM_VAULT_HEAD + LM_VAULT_MAC)
		return -ENOSPC;
	n = lm_keyblock_encode(kb, dek, out + LM_VAULT_HEAD,
			       outsize - LM_VAULT_HEAD - LM_VAULT_MAC);
	if (n < 0)
		return n;
	memcpy(out, head, LM_VAULT_HEAD);
	lm_put32(out + KBLEN_OFF, (uint32_t)n);
	rc = vault_mac(out + LM_VAULT_HEAD + n, out, LM_VAULT_HEAD + (size_t)n, dek);
	return rc ? rc : (ssize_t)(LM_VAULT_HEAD + (size_t)n + LM_VAULT_MAC);
}

/* Reads and decodes @dirfd's lamina.vault: *buf (caller frees) holds its
 * bytes. Messages name the vault by @what. */
static int vault_load(int dirfd, const char *what, unsigned char **buf, size_t *len,
		      struct lm_vault_info *info, size_t *kblen, struct lm_err *err)
{
	int rc = lm_file_read(dirfd, LM_VAULT_HEADER_NAME, LM_VAULT_MAX, buf, len);

	memset(info, 0, sizeof(*info));
	if (rc == -ENOENT)
		return lm_errf(err, rc, "%s is not a vault (it has no %s)", what,
			       LM_VAULT_HEADER_NAME);
	if (rc == -EFBIG)
		rc = -EUCLEAN;
	if (rc == -EUCLEAN)
		return lm_errf(err, rc, "%s: %s is damaged (too large)", what,
			       LM_VAULT_HEADER_NAME);
	if (rc)
		return lm_errf(err, rc, "cannot read %s/%s: %s", what,
			       LM_VAULT_HEADER_NAME, strerror(-rc));
	rc = lm_vault_decode(*buf, *len, info, NULL, kblen);
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	if (rc == -EPROTONOSUPPORT)
		return lm_errf(err, rc, "%s: %s has a format this lamina does not know (newer version?)",
			       what, LM_VAULT_HEADER_NAME);
	if (rc)
		return lm_errf(err, rc, "%s: %s is damaged", what, LM_VAULT_HEADER_NAME);
	return 0;
}

int lm_vault_read(int dirfd, const char *what, struct lm_vault_info *info,
		  struct lm_err *err)
{
	unsigned char *buf = NULL;
	size_t len, kblen;
	int rc = vault_load(dirfd, what, &buf, &len, info, &kblen, err);

	free(buf);
	return rc;
}

/* Takes the store lock unless the caller holds it; *took says whether to
 * release it. */
static int vault_lock(struct lm_store *st, bool *took, struct lm_err *err)
{
	*took = st->lockfd < 0;
	return lm_store_lock(st, err);
}

static void vault_unlock(struct lm_store *st, bool took)
{
	if (took)
		lm_store_unlock(st);
}

/* The start of a change that wraps a data key, store lock held: the audit
 * log must verify (the change is recorded there), and @t's newest KEK is
 * returned (borrowed from @t). Refuses to wrap under it when the tenant
 * has been rotated since @t was opened: that version is retired (or about
 * to be), and a key block under it alone would be unreadable. NULL with
 * *rc (and @err) set on any refusal. */
static const struct lm_kek *vault_current_kek(struct lm_store *st,
					      const struct lm_tenant *t, int *rc,
					      struct lm_err *err)
{
	struct lm_tenant_info in;
	const struct lm_kek *keks;
	size_t n;

	*rc = lm_audit_check(st, err);
	if (*rc)
		return NULL;
	keks = lm_tenant_keks(t, &n);
	if (!n) {
		*rc = lm_errf(err, -ENOKEY, "tenant %s has no active key version",
			      lm_tenant_name(t));
		return NULL;
	}
	*rc = lm_tenant_info(st, lm_tenant_name(t), &in, err);
	if (*rc)
		return NULL;
	if (in.shredded)
		*rc = lm_errf(err, -EKEYREVOKED,
			      "tenant %s was shredded: its keys are destroyed",
			      lm_tenant_name(t));
	else if (in.current != keks[0].version)
		*rc = lm_errf(err, -ESTALE,
			      "tenant %s was rotated since it was opened: run the command again",
			      lm_tenant_name(t));
	lm_tenant_info_release(&in);
	return *rc ? NULL : &keks[0];
}

/* The 128 header bytes of a new vault (key block length set later). */
static void vault_head_new(unsigned char *head, const unsigned char *uuid,
			   enum lm_cipher cipher)
{
	struct lm_vault_head_disk h;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, vault_magic, sizeof(h.magic));
	lm_put16(h.format, LM_VAULT_FORMAT);
	h.cipher = (uint8_t)cipher;
	h.block_shift = LM_VAULT_BLOCK_SHIFT;
	memcpy(h.uuid, uuid, sizeof(h.uuid));
	lm_put64(h.created, (uint64_t)time(NULL));
	lm_put32(h.generation, 1);
	memcpy(head, &h, sizeof(h));
}

static int vault_cipher_check(enum lm_cipher cipher, struct lm_err *err)
{
	if (!lm_aead_name(cipher))
		return lm_errf(err, -EINVAL, "unknown cipher %d", (int)cipher);
	if (!lm_aead_available(cipher))
		return lm_errf(err, -ENOTSUP,
			       "cipher %s is not available on this machine (no CPU support): use %s",
			       lm_aead_name(cipher),
			       lm_aead_name(LM_CIPHER_XCHACHA20POLY1305));
	return 0;
}

/* Writes the root's dirid, then the header: a crash between leaves a
 * directory without a vault, which create accepts again. */
static int vault_write_new(int dirfd, const unsigned char *hdr, size_t len,
			   const char *what, struct lm_err *err)
{
	unsigned char dirid[16];
	int rc;

	lm_crypt_random(dirid, sizeof(dirid));
	rc = lm_file_replace(dirfd, LM_VAULT_DIRID_NAME, dirid, sizeof(dirid));
	if (!rc)
		rc = lm_file_replace(dirfd, LM_VAULT_HEADER_NAME, hdr, len);
	if (rc)
		return lm_errf(err, rc, "cannot write the vault header of %s: %s",
			       what, strerror(-rc));
	return 0;
}

static int vault_create_locked(struct lm_store *st, int dirfd,
			       const struct lm_tenant *t, enum lm_cipher cipher,
			       const char *what, unsigned char *dek,
			       struct lm_vault_info *out, struct lm_err *err)
{
	unsigned char uuid[16], head[LM_VAULT_HEAD], buf[LM_VAULT_MAX];
	char hex[33], detail[128];
	const struct lm_kek *kek;
	struct lm_keyblock kb;
	ssize_t n;
	int rc;

	kek = vault_current_kek(st, t, &rc, err);
	if (!kek)
		return rc;
	if (faccessat(dirfd, LM_VAULT_HEADER_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return lm_errf(err, -EEXIST, "%s is already a vault", what);
	lm_crypt_random(uuid, sizeof(uuid));
	lm_kdf_new_dek(dek);
	rc = lm_keyblock_init(&kb, uuid, lm_tenant_name(t));
	if (!rc)
		rc = lm_slot_add(&kb, kek, dek);
	if (rc)
		return lm_errf(err, rc, "cannot add a key slot: %s", strerror(-rc));
	vault_head_new(head, uuid, cipher);
	n = vault_assemble(head, &kb, dek, buf, sizeof(buf));
	if (n < 0)
		return lm_errf(err, (int)n, "cannot encode the vault header");
	rc = vault_write_new(dirfd, buf, (size_t)n, what, err);
	if (rc)
		return rc;
	lm_crypt_hex(hex, uuid, sizeof(uuid));
	snprintf(detail, sizeof(detail), "uuid %s, cipher %s, key version v%u", hex,
		 lm_aead_name(cipher), (unsigned)kek->version);
	rc = lm_audit_append(st, "vault.create", lm_tenant_name(t), what, 0, detail, err);
	if (!rc && out)
		rc = lm_vault_decode(buf, (size_t)n, out, NULL, NULL);
	return rc;
}

int lm_vault_create(struct lm_store *st, int dirfd, const struct lm_tenant *t,
		    enum lm_cipher cipher, const char *what,
		    struct lm_vault_info *info, struct lm_err *err)
{
	unsigned char *dek;
	bool took;
	int rc = vault_cipher_check(cipher, err);

	if (info)
		memset(info, 0, sizeof(*info));
	if (rc)
		return rc;
	dek = lm_secret_alloc(LM_KEY_BYTES);
	if (!dek)
		return lm_errf(err, -ENOMEM, "out of memory");
	rc = vault_lock(st, &took, err);
	if (!rc) {
		rc = vault_create_locked(st, dirfd, t, cipher, what, dek, info, err);
		vault_unlock(st, took);
	}
	lm_secret_free(dek);
	return rc;
}

/* The additional data of the rekey box of @uuid for generation @next. */
static void rekey_ad(unsigned char *ad, const unsigned char *uuid, uint32_t next)
{
	memcpy(ad, rekey_label, sizeof(rekey_label));
	memcpy(ad + sizeof(rekey_label), uuid, 16);
	lm_put32(ad + sizeof(rekey_label) + 16, next);
}

/* An XChaCha20-Poly1305 key of @dek's header subkey (caller frees). */
static int rekey_key(const unsigned char *dek, struct lm_aead_key **k)
{
	unsigned char *sub = lm_secret_scratch();
	int rc;

	*k = NULL;
	if (!sub)
		return -ENOMEM;
	rc = lm_kdf_subkey(sub, dek, LM_SUBKEY_HEADER);
	if (!rc)
		rc = lm_aead_key_new(LM_CIPHER_XCHACHA20POLY1305, sub, k);
	lm_crypt_wipe(sub, LM_KEY_BYTES);
	return rc;
}

/* Opens the rekey box of header @buf into @next (secret memory). */
static int rekey_open(const unsigned char *buf, const struct lm_vault_info *info,
		      const unsigned char *dek, unsigned char *next)
{
	const struct lm_vault_head_disk *h = (const void *)buf;
	unsigned char ad[REKEY_AD_BYTES];
	struct lm_aead_key *k;
	int rc = rekey_key(dek, &k);

	if (rc)
		return rc;
	rekey_ad(ad, info->uuid, info->generation + 1);
	rc = lm_aead_open(k, next, h->rekey, REKEY_SEALED, ad, sizeof(ad));
	lm_aead_key_free(k);
	return rc ? -EBADMSG : 0;
}

static int rekey_seal(unsigned char *box, const struct lm_vault_info *info,
		      const unsigned char *dek, const unsigned char *next)
{
	unsigned char ad[REKEY_AD_BYTES];
	struct lm_aead_key *k;
	int rc = rekey_key(dek, &k);

	if (rc)
		return rc;
	memset(box, 0, LM_VAULT_REKEY_BOX);
	rekey_ad(ad, info->uuid, info->generation + 1);
	rc = lm_aead_seal(k, box, next, LM_KEY_BYTES, ad, sizeof(ad));
	lm_aead_key_free(k);
	return rc;
}

/* Checks the header MAC with the opened DEK and opens the rekey box. */
static int vault_unlock_header(const unsigned char *buf, size_t len, size_t kblen,
			       const struct lm_vault_info *info,
			       struct lm_vault_keys *keys, const char *what,
			       struct lm_err *err)
{
	int rc = vault_mac_check(buf, len, kblen, keys->dek);

	if (rc == -EBADMSG)
		return lm_errf(err, rc,
			       "%s: %s was changed without the data key (header MAC mismatch)",
			       what, LM_VAULT_HEADER_NAME);
	if (rc)
		return lm_errf(err, rc, "%s: %s", what, strerror(-rc));
	keys->generation = info->generation;
	if (!(info->flags & LM_VAULT_F_REKEY))
		return 0;
	rc = rekey_open(buf, info, keys->dek, keys->next_dek);
	if (rc)
		return lm_errf(err, rc, "%s: the next data key of its rekey does not open",
			       what);
	keys->rekey = true;
	keys->next_generation = info->generation + 1;
	return 0;
}

/* -EKEYREVOKED when the vault's owner has been shredded: whoever still
 * holds one of its keys in memory must not open anything new with it. */
static int vault_owner_check(struct lm_store *st, const struct lm_vault_info *info,
			     const char *what, struct lm_err *err)
{
	struct lm_tenant_info in;
	char when[32];

	if (lm_tenant_info(st, info->kb.tenant, &in, NULL))
		return 0; /* unknown here, or damaged: the key block decides */
	if (in.shredded) {
		time_t tt = (time_t)in.shredded_at;
		struct tm tm;

		if (!gmtime_r(&tt, &tm) ||
		    !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
			snprintf(when, sizeof(when), "@%llu",
				 (unsigned long long)in.shredded_at);
		lm_tenant_info_release(&in);
		return lm_errf(err, -EKEYREVOKED,
			       "%s belongs to tenant %s, which was shredded on %s: its keys are destroyed and its data cannot be read",
			       what, info->kb.tenant, when);
	}
	lm_tenant_info_release(&in);
	return 0;
}

int lm_vault_unlock(const unsigned char *buf, size_t len, const char *tenant,
		    const struct lm_kek *keks, size_t nkeks, const char *what,
		    struct lm_vault_info *info, struct lm_vault_keys *keys,
		    struct lm_err *err)
{
	size_t kblen;
	int rc;

	lm_crypt_wipe(keys, sizeof(*keys));
	rc = lm_vault_decode(buf, len, info, NULL, &kblen);
	if (rc == -EPROTONOSUPPORT)
		return lm_errf(err, rc, "%s: %s has a format this lamina does not know (newer version?)",
			       what, LM_VAULT_HEADER_NAME);
	if (rc)
		return lm_errf(err, rc, "%s: %s is damaged", what, LM_VAULT_HEADER_NAME);
	rc = lm_keyblock_open(&info->kb, tenant, keks, nkeks, keys->dek, what, err);
	if (!rc)
		rc = vault_unlock_header(buf, len, kblen, info, keys, what, err);
	if (rc)
		lm_crypt_wipe(keys, sizeof(*keys));
	return rc;
}

int lm_vault_open(struct lm_store *st, int dirfd, const struct lm_tenant *t,
		  const char *what, struct lm_vault_info *info,
		  struct lm_vault_keys *keys, struct lm_err *err)
{
	struct lm_err e = { "" };
	const struct lm_kek *keks;
	unsigned char *buf = NULL;
	size_t len, kblen, nkeks;
	int rc;

	lm_crypt_wipe(keys, sizeof(*keys));
	rc = vault_load(dirfd, what, &buf, &len, info, &kblen, &e);
	if (!rc)
		rc = vault_owner_check(st, info, what, &e);
	if (!rc) {
		keks = lm_tenant_keks(t, &nkeks);
		rc = lm_vault_unlock(buf, len, lm_tenant_name(t), keks, nkeks, what,
				     info, keys, &e);
	}
	free(buf);
	if (rc) {
		lm_crypt_wipe(keys, sizeof(*keys));
		lm_audit_log(st, "vault.open", lm_tenant_name(t), what, rc, e.msg);
		lm_errf(err, rc, "%s", e.msg);
	}
	return rc;
}

/* Re-reads the header under the store lock for a rekey step: it must be
 * the vault @keys opened, at the same generation, with a MAC that the
 * DEK verifies (a rotation meanwhile rewrote the key block, not that). */
static int rekey_reload(int dirfd, const struct lm_vault_info *info,
			const struct lm_vault_keys *keys, unsigned char **buf,
			size_t *len, struct lm_vault_info *cur, size_t *kblen,
			struct lm_err *err)
{
	char hex[33], what[64];
	int rc;

	lm_crypt_hex(hex, info->uuid, sizeof(info->uuid));
	snprintf(what, sizeof(what), "vault %s", hex);
	rc = vault_load(dirfd, what, buf, len, cur, kblen, err);
	if (rc)
		return rc;
	if (memcmp(cur->uuid, info->uuid, sizeof(cur->uuid)) ||
	    cur->generation != keys->generation)
		rc = lm_errf(err, -ESTALE,
			     "%s changed since it was opened (another rekey?): open it again",
			     what);
	else if (vault_mac_check(*buf, *len, *kblen, keys->dek))
		rc = lm_errf(err, -EBADMSG,
			     "%s: %s was changed without the data key (header MAC mismatch)",
			     what, LM_VAULT_HEADER_NAME);
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

/* Writes @buf (a header whose key block is unchanged) with a new MAC. */
static int vault_rewrite_mac(int dirfd, unsigned char *buf, size_t len,
			     size_t kblen, const unsigned char *dek)
{
	int rc = vault_mac(buf + LM_VAULT_HEAD + kblen, buf, LM_VAULT_HEAD + kblen, dek);

	return rc ? rc : lm_file_replace(dirfd, LM_VAULT_HEADER_NAME, buf, len);
}

/* Records a step of the rekey of vault @uuid (16 bytes), @detail saying
 * which, in the audit log. Returns 0 or -errno (message in @err). */
static int rekey_audit(struct lm_store *st, const struct lm_tenant *t,
		       const unsigned char *uuid, const char *detail,
		       struct lm_err *err)
{
	char hex[33];

	lm_crypt_hex(hex, uuid, 16);
	return lm_audit_append(st, "vault.rekey", lm_tenant_name(t), hex, 0, detail, err);
}

/* A step of a rekey, run with the store lock held. */
typedef int (*rekey_step_fn)(struct lm_store *st, int dirfd, const struct lm_tenant *t,
			     struct lm_vault_info *info, struct lm_vault_keys *keys,
			     struct lm_err *err);

/* Runs @step under the store lock (taken here unless the caller already
 * holds it, and then left held). Returns what @step returns, or the
 * error of taking the lock. */
static int rekey_locked(rekey_step_fn step, struct lm_store *st, int dirfd,
			const struct lm_tenant *t, struct lm_vault_info *info,
			struct lm_vault_keys *keys, struct lm_err *err)
{
	bool took;
	int rc = vault_lock(st, &took, err);

	if (rc)
		return rc;
	rc = step(st, dirfd, t, info, keys, err);
	vault_unlock(st, took);
	return rc;
}

static int rekey_begin_locked(struct lm_store *st, int dirfd,
			      const struct lm_tenant *t, struct lm_vault_info *info,
			      struct lm_vault_keys *keys, struct lm_err *err)
{
	struct lm_vault_head_disk *h;
	struct lm_vault_info cur;
	unsigned char *buf;
	size_t len, kblen;
	char detail[96];
	int rc = lm_audit_check(st, err);

	if (!rc)
		rc = rekey_reload(dirfd, info, keys, &buf, &len, &cur, &kblen, err);
	if (rc)
		return rc;
	if (cur.flags & LM_VAULT_F_REKEY) {
		rc = lm_errf(err, -EBUSY,
			     "a rekey of this vault was started meanwhile: open it again to resume it");
		goto out_free;
	}
	if (cur.generation == UINT32_MAX) {
		rc = lm_errf(err, -EOVERFLOW, "the vault's data key generation is at its maximum");
		goto out_free;
	}
	h = (struct lm_vault_head_disk *)buf;
	lm_kdf_new_dek(keys->next_dek);
	rc = rekey_seal(h->rekey, &cur, keys->dek, keys->next_dek);
	if (!rc) {
		lm_put32(h->flags, cur.flags | LM_VAULT_F_REKEY);
		rc = vault_rewrite_mac(dirfd, buf, len, kblen, keys->dek);
	}
	if (rc) {
		lm_crypt_wipe(keys->next_dek, sizeof(keys->next_dek));
		lm_errf(err, rc, "cannot start the rekey: %s", strerror(-rc));
		goto out_free;
	}
	keys->rekey = true;
	keys->next_generation = cur.generation + 1;
	lm_vault_decode(buf, len, info, NULL, NULL);
	snprintf(detail, sizeof(detail), "rekey begun: generation %u to %u",
		 (unsigned)cur.generation, (unsigned)keys->next_generation);
	rc = rekey_audit(st, t, info->uuid, detail, err);
out_free:
	free(buf);
	return rc;
}

int lm_vault_rekey_begin(struct lm_store *st, int dirfd, const struct lm_tenant *t,
			 struct lm_vault_info *info, struct lm_vault_keys *keys,
			 struct lm_err *err)
{
	if (keys->rekey)
		return 0; /* resumed: lm_vault_open opened the box */
	return rekey_locked(rekey_begin_locked, st, dirfd, t, info, keys, err);
}

static int rekey_finish_locked(struct lm_store *st, int dirfd,
			       const struct lm_tenant *t, struct lm_vault_info *info,
			       struct lm_vault_keys *keys, struct lm_err *err)
{
	unsigned char *buf, *next = NULL, head[LM_VAULT_HEAD], out[LM_VAULT_MAX];
	struct lm_vault_head_disk *h = (struct lm_vault_head_disk *)head;
	const struct lm_kek *kek;
	struct lm_vault_info cur;
	struct lm_keyblock kb;
	char detail[96];
	size_t len, kblen;
	ssize_t n;
	int rc;

	kek = vault_current_kek(st, t, &rc, err);
	if (!kek)
		return rc;
	rc = rekey_reload(dirfd, info, keys, &buf, &len, &cur, &kblen, err);
	if (rc)
		return rc;
	/* The box must still hold the key the files were re-encrypted with. */
	next = lm_secret_alloc(LM_KEY_BYTES);
	if (!next)
		rc = lm_errf(err, -ENOMEM, "out of memory");
	else if (!(cur.flags & LM_VAULT_F_REKEY) || rekey_open(buf, &cur, keys->dek, next) ||
		 !lm_crypt_equal(next, keys->next_dek, LM_KEY_BYTES))
		rc = lm_errf(err, -ESTALE,
			     "the vault's rekey state changed since it was opened: open it again");
	lm_secret_free(next);
	if (rc)
		goto out_free;
	memcpy(head, buf, sizeof(head));
	lm_put32(h->flags, cur.flags & ~(uint32_t)LM_VAULT_F_REKEY);
	lm_put32(h->generation, keys->next_generation);
	memset(h->rekey, 0, sizeof(h->rekey));
	rc = lm_keyblock_init(&kb, cur.uuid, cur.kb.tenant);
	if (!rc)
		rc = lm_slot_add(&kb, kek, keys->next_dek);
	n = rc ? rc : vault_assemble(head, &kb, keys->next_dek, out, sizeof(out));
	rc = n < 0 ? (int)n : lm_file_replace(dirfd, LM_VAULT_HEADER_NAME, out, (size_t)n);
	if (rc) {
		lm_errf(err, rc, "cannot finish the rekey: %s", strerror(-rc));
		goto out_free;
	}
	keys->generation = keys->next_generation;
	memcpy(keys->dek, keys->next_dek, LM_KEY_BYTES);
	lm_crypt_wipe(keys->next_dek, LM_KEY_BYTES);
	keys->next_generation = 0;
	keys->rekey = false;
	lm_vault_decode(out, (size_t)n, info, NULL, NULL);
	snprintf(detail, sizeof(detail), "rekey finished: generation %u, key version v%u",
		 (unsigned)keys->generation, (unsigned)kek->version);
	rc = rekey_audit(st, t, cur.uuid, detail, err);
out_free:
	free(buf);
	return rc;
}

int lm_vault_rekey_finish(struct lm_store *st, int dirfd, const struct lm_tenant *t,
			  struct lm_vault_info *info, struct lm_vault_keys *keys,
			  struct lm_err *err)
{
	if (!keys->rekey)
		return lm_errf(err, -EINVAL, "no rekey is in progress on this vault");
	return rekey_locked(rekey_finish_locked, st, dirfd, t, info, keys, err);
}
