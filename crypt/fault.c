/* Fault points of test builds (see fault.h). */
#ifdef LAMINA_FAULT_INJECTION
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fault.h"

void lm_fault_point(const char *where)
{
	static long count, target = -1;

	if (target < 0) {
		const char *s = getenv("LAMINA_FAULT");

		target = s ? strtol(s, NULL, 10) : 0;
	}
	if (++count == target) {
		fprintf(stderr, "lamina: fault %ld injected at %s\n", count, where);
		_exit(99);
	}
}
#else
/* ISO C wants something in a translation unit. */
typedef int lm_fault_unused;
#endif
