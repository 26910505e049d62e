/* Internal to crypt/'s vault files (vault.c, vault_scan.c). */
#ifndef LM_VAULT_INT_H
#define LM_VAULT_INT_H

#include <stddef.h>

#include "vault.h"

#define VAULT_REG_DIR "vaults"
#define VAULT_REG_SUFFIX ".path"

/* Builds a whole lamina.vault into @out (LM_VAULT_MAX bytes): the 128
 * header bytes of @head (borrowed; its key block length field is set
 * here), @kb encoded with its MAC under @dek, and the header MAC under
 * @dek's header subkey. Returns the size or -errno. */
ssize_t vault_assemble(const unsigned char *head, struct lm_keyblock *kb,
		       const unsigned char *dek, unsigned char *out, size_t outsize);

/* Checks the header MAC of a decoded lamina.vault (@len bytes, key block
 * of @kblen bytes at LM_VAULT_HEAD) under @dek. Returns 0, -EBADMSG or
 * -ENOMEM. */
int vault_mac_check(const unsigned char *buf, size_t len, size_t kblen,
		    const unsigned char *dek);

#endif
