/* Tenants and their keys (formats in keystore_format.h).
 *
 *   tenant secret (passphrase -> Argon2id, or a 32-byte key file)
 *     -> root key -> record key (MACs of the keystore files)
 *                 -> wrap key   (seals each KEK version)
 *   KEK versions v1..vN (random; wrap the DEKs in key slots, slot.h)
 *
 * Every call that changes the keystore holds the store lock, writes files
 * atomically, and appends an audit record (audit.h) of what it did, as does
 * a failed attempt to open a tenant with a secret. The audit log is opened
 * before anything changes, so a store whose log cannot be written refuses
 * the change.
 */
#ifndef LM_KEYSTORE_H
#define LM_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypt.h"
#include "keystore_format.h"
#include "slot.h"
#include "store.h"

#define LM_KEYFILE_BYTES 32u
#define LM_PASSPHRASE_MAX 1024u

enum lm_kdf_cost { LM_KDF_INTERACTIVE, LM_KDF_MODERATE, LM_KDF_SENSITIVE };
#define LM_KDF_COST_DEFAULT LM_KDF_MODERATE

/* A tenant secret, borrowed (the bytes live in the caller's secret
 * memory). A key file is exactly LM_KEYFILE_BYTES; a passphrase 1 ..
 * LM_PASSPHRASE_MAX bytes. */
struct lm_tenant_secret {
	enum lm_secret_kind kind;
	const unsigned char *bytes;
	size_t len;
};

/* "interactive" / "moderate" / "sensitive" -> cost; -EINVAL otherwise. */
int lm_kdf_cost_parse(const char *s, enum lm_kdf_cost *out);

/* An opened tenant: its record and its active KEKs (secret memory). */
struct lm_tenant;

/* What can be known of a tenant without its secret. */
struct lm_kek_info {
	uint32_t version;
	bool active;
	uint64_t created, retired;
};

struct lm_tenant_info {
	char name[LM_TENANT_MAX + 1];
	bool shredded;
	uint64_t shredded_at;       /* when shredded */
	uint32_t versions_destroyed;
	struct lm_tenant_rec rec;   /* zeroed once shredded (but created and id kept) */
	size_t nversions;
	struct lm_kek_info *versions; /* ascending; owned, see _release */
	uint32_t current;           /* newest active version, 0 if none */
};

/* Creates tenant @name with @sec and its first KEK version. Returns 0,
 * -EINVAL (bad name or secret), -EEXIST (exists, or was shredded: a name
 * is never reused), or -errno, with @err set. */
int lm_tenant_create(struct lm_store *st, const char *name,
		     const struct lm_tenant_secret *sec, enum lm_kdf_cost cost,
		     struct lm_err *err);

/* Opens tenant @name with @sec: checks its records and unseals every
 * active KEK version. Free *out with lm_tenant_free. Returns 0, or -ENOENT
 * (no such tenant), -EKEYREVOKED (shredded: the message says when),
 * -EKEYREJECTED (wrong secret, or a key file where a passphrase is
 * expected and the other way round), -EUCLEAN / -EBADMSG (keystore
 * damaged or changed), -errno. */
int lm_tenant_open(struct lm_store *st, const char *name,
		   const struct lm_tenant_secret *sec, struct lm_tenant **out,
		   struct lm_err *err);
void lm_tenant_free(struct lm_tenant *t);

const char *lm_tenant_name(const struct lm_tenant *t);
/* The active KEKs, newest first (borrowed, valid until lm_tenant_free). */
const struct lm_kek *lm_tenant_keks(const struct lm_tenant *t, size_t *n);

/* Reads what a listing shows, without the secret. Returns 0, -ENOENT,
 * -EUCLEAN (a damaged file: the message names it). */
int lm_tenant_info(struct lm_store *st, const char *name,
		   struct lm_tenant_info *out, struct lm_err *err);
void lm_tenant_info_release(struct lm_tenant_info *info);

/* The tenant names in the store, sorted (caller frees each and the array
 * with free()). A store without keys/ has none. */
int lm_tenant_list(struct lm_store *st, char ***names, size_t *n,
		   struct lm_err *err);

struct lm_rotate_result {
	uint32_t new_version;
	size_t rewrapped;   /* containers rewritten */
	size_t skipped;     /* containers only under retired versions (already unreadable) */
	size_t retired;     /* versions retired by this rotation */
	size_t damaged;     /* containers that do not parse (unreadable with any key) */
};

/* Rotates tenant @name: a new KEK version, every key slot container of
 * the tenant rewrapped to it, every older version retired (its key
 * material destroyed; the record and its retirement time kept). A crash at
 * any point leaves every container openable, and running it again
 * finishes the job. Returns 0 or -errno as lm_tenant_open, or the error of
 * the first container that does not open (nothing is retired then). */
int lm_tenant_rotate(struct lm_store *st, const char *name,
		     const struct lm_tenant_secret *sec,
		     struct lm_rotate_result *res, struct lm_err *err);

/* Destroys every KEK version of tenant @name (no secret needed: losing the
 * secret must not stop a shred): writes the tombstone, then overwrites and
 * removes every key file. Running it again on a shredded tenant finishes an
 * interrupted shred and returns -EALREADY. */
int lm_tenant_shred(struct lm_store *st, const char *name,
		    uint32_t *versions_destroyed, struct lm_err *err);

/* Internal to crypt/ (rotate.c): re-reads the tenant's version records
 * and writes a new active version under the open tenant's keys. */
int lm_tenant_add_version(struct lm_store *st, struct lm_tenant *t,
			  struct lm_err *err);
int lm_tenant_retire_others(struct lm_store *st, struct lm_tenant *t,
			    size_t *retired, struct lm_err *err);

#endif
