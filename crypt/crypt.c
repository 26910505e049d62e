#include <errno.h>
#include <sodium.h>

#include "crypt.h"

int lm_crypt_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void *lm_secret_alloc(size_t size)
{
	if (lm_crypt_init())
		return NULL;
	return sodium_malloc(size);
}

void lm_secret_free(void *p)
{
	sodium_free(p);
}
