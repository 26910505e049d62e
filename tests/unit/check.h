/* Helpers of the unit tests: a failed CHECK is reported and counted,
 * and the test goes on, so one run shows every failure. */
#ifndef LM_TEST_CHECK_H
#define LM_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_fails;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
			check_fails++;                                     \
		}                                                          \
	} while (0)

#define CHECK_RC(expr, want)                                               \
	do {                                                               \
		long _rc = (long)(expr);                                   \
		if (_rc != (long)(want)) {                                 \
			fprintf(stderr, "%s:%d: %s returned %ld, want %ld\n", \
				__FILE__, __LINE__, #expr, _rc, (long)(want)); \
			check_fails++;                                     \
		}                                                          \
	} while (0)

/* Hex string -> bytes; returns the byte count. */
static inline size_t unhex(unsigned char *out, const char *hex)
{
	size_t n = 0;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;

		if (sscanf(hex, "%2x", &v) != 1)
			break;
		out[n++] = (unsigned char)v;
	}
	return n;
}

static inline int check_done(const char *name)
{
	if (check_fails) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, check_fails);
		return 1;
	}
	printf("%s: all checks passed\n", name);
	return 0;
}

#endif
