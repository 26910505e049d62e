/* Fuzz target for the audit record decoder (audit.h), walked over the
 * input as lm_audit_walk walks a log: record after record until one does
 * not decode. Checked: every decoded record lies within the input, has the
 * length its fields add up to, a non-zero sequence number, and strings of
 * printable ASCII of the stated lengths; a failure is -EUCLEAN.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

static void check_str(const char *s, size_t max)
{
	size_t n = strlen(s);

	FUZZ_CHECK(n <= max);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(s[i] >= 0x20 && s[i] <= 0x7e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lm_audit_rec r;
	size_t o = 0;

	while (o < size) {
		ssize_t n = lm_audit_rec_decode(data + o, size - o, &r);

		FUZZ_CHECK(n == -EUCLEAN || n > 0);
		if (n < 0)
			break;
		FUZZ_CHECK((size_t)n <= size - o && (size_t)n == r.length);
		FUZZ_CHECK(r.length == LM_AUDIT_FIXED + strlen(r.op) + strlen(r.tenant) +
				       strlen(r.object) + strlen(r.detail) + LM_AUDIT_MAC);
		FUZZ_CHECK(r.seq != 0 && r.nsec < 1000000000u);
		check_str(r.op, LM_AUDIT_STR_MAX);
		check_str(r.tenant, LM_AUDIT_STR_MAX);
		check_str(r.object, LM_AUDIT_STR_MAX);
		check_str(r.detail, LM_AUDIT_DETAIL_MAX);
		o += (size_t)n;
	}
	return 0;
}
