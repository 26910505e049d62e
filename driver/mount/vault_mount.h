/* The keys of a mount and its encrypted layers.
 *
 * lm_mount_keys_open reads the tenant secret the mount options name (once),
 * opens the store and the tenant's keys; the vault upper (tenant=) and the
 * sealed lowers (sealed:) are then opened with them, and the tenant's keys
 * are forgotten (wiped) before the mount serves anything. The same object
 * keeps the store for the audit records of the layers' integrity failures,
 * so it must outlive the layers.
 */
#ifndef LM_VAULT_MOUNT_H
#define LM_VAULT_MOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "layer/layer.h"
#include "mount/opts.h"

struct lm_vault_mount;
struct lm_store;
struct lm_tenant;
struct lm_cache;

/* Opens the store (when o->tenant is set or @need_store) and the tenant
 * (o->tenant, with the secret of o->keyfile/passfile/keyfd/passfd). *vm is
 * the caller's, freed with lm_vault_mount_free after every layer opened
 * with it. Returns 0 or -errno with one line in @msg. */
int lm_mount_keys_open(const struct lm_mount_opts *o, bool need_store,
		       struct lm_vault_mount **vm, char *msg, size_t msgsize);
/* The store (NULL when none was needed) and the tenant (NULL without
 * tenant=, or once forgotten); borrowed. */
struct lm_store *lm_mount_keys_store(struct lm_vault_mount *vm);
const struct lm_tenant *lm_mount_keys_tenant(struct lm_vault_mount *vm);
/* Wipes the tenant's keys: every layer that needs them is open. */
void lm_mount_keys_forget(struct lm_vault_mount *vm);
void lm_vault_mount_free(struct lm_vault_mount *vm);
/* Appends an audit record (thread-safe); nothing without a store. */
void lm_mount_audit(struct lm_vault_mount *vm, const char *op, const char *object, int err,
		    const char *detail);

/* Opens the upper of @o as a vault (made on the first mount of an empty
 * upper) into *layer, owned by the caller (lm_layer_free). Needs the
 * tenant. Returns 0 or -errno with one line in @msg. */
int lm_vault_mount_open(const struct lm_mount_opts *o, struct lm_vault_mount *vm,
			struct lm_layer **layer, char *msg, size_t msgsize);

/* Opens lowerdir item @item ("sealed:PATH" or "sealed:DIGEST", a digest
 * or a unique prefix of one in the store) into *layer, owned by the
 * caller; an encrypted layer takes its key from the store with the
 * tenant's keys. @cache is the mount's chunk cache (borrowed). Returns 0
 * or -errno with one line naming the layer in @msg. */
int lm_sealed_mount_open(const struct lm_mount_opts *o, struct lm_vault_mount *vm,
			 const char *item, struct lm_cache *cache, struct lm_layer **layer,
			 char *msg, size_t msgsize);

#endif
