/* Unit test for crypt/: libsodium starts and secret memory is usable. */
#include <stdio.h>
#include <string.h>

#include "crypt.h"

int main(void)
{
	unsigned char *k;

	if (lm_crypt_init() || lm_crypt_init()) {
		fprintf(stderr, "lm_crypt_init failed\n");
		return 1;
	}
	k = lm_secret_alloc(32);
	if (!k) {
		fprintf(stderr, "lm_secret_alloc failed\n");
		return 1;
	}
	memset(k, 0xa5, 32);
	if (k[31] != 0xa5)
		return 1;
	lm_secret_free(k);
	lm_secret_free(NULL);
	return 0;
}
