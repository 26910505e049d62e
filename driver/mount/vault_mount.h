/* The encrypted upper of a mount (tenant=): the tenant secret named by the
 * mount options, the store, the tenant's keys, the vault (made on the first
 * mount of an empty upper), and a vault layer that records every integrity
 * failure in the store's audit log. */
#ifndef LM_VAULT_MOUNT_H
#define LM_VAULT_MOUNT_H

#include <stddef.h>

#include "layer/layer.h"
#include "mount/opts.h"

struct lm_vault_mount;

/* Opens the upper of @o as a vault into *layer (owned by the caller,
 * lm_layer_free). *vm keeps what the layer's reports need (the store) and
 * must outlive the layer: free it after the layer with
 * lm_vault_mount_free. No key material is left anywhere but in the layer.
 * Returns 0 or -errno with one line in @msg. */
int lm_vault_mount_open(const struct lm_mount_opts *o, struct lm_layer **layer,
			struct lm_vault_mount **vm, char *msg, size_t msgsize);
void lm_vault_mount_free(struct lm_vault_mount *vm);

#endif
