/* The libFuzzer entry point, shared by each fuzz target and replay.c. A
 * target is built either with -fsanitize=fuzzer (libFuzzer supplies main)
 * or with replay.c (runs a committed corpus, so CI needs no libFuzzer). */
#ifndef LM_FUZZ_H
#define LM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* @data is borrowed for the call. Returns 0; a failed invariant aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
