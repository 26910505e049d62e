/* crypt/: the only module that includes sodium.h. */
#ifndef LM_CRYPT_H
#define LM_CRYPT_H

#include <stddef.h>

/* Initialises libsodium once; safe to call from any thread, any number of
 * times. Returns 0 or -EIO when libsodium cannot start. */
int lm_crypt_init(void);

/* Memory for secrets: guarded, locked (never swapped), wiped on free.
 * Returns NULL when out of memory; lm_secret_free(NULL) does nothing. */
void *lm_secret_alloc(size_t size);
void lm_secret_free(void *p);

#endif
