/* The libFuzzer entry point, shared by each fuzz target and replay.c. A
 * target is built either with -fsanitize=fuzzer (libFuzzer supplies main)
 * or with replay.c (runs a committed corpus, so CI needs no libFuzzer). */
#ifndef LM_FUZZ_H
#define LM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A broken invariant stops the run where it was found, fuzzer or replay. */
#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",   \
				__FILE__, __LINE__, #cond);                \
			abort();                                           \
		}                                                          \
	} while (0)

/* @data is borrowed for the call. Returns 0; a failed invariant aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
