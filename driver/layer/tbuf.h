/* Per-thread buffers of the layers' read and write paths, kept for the
 * thread's life: a FUSE request of 1 MiB needs megabytes of buffers, and
 * fresh ones cost page faults on every request. They hold plaintext, so
 * they are locked in memory where the limit allows and wiped when replaced
 * or freed (at thread exit). Internal to driver/layer. */
#ifndef LM_LAYER_TBUF_H
#define LM_LAYER_TBUF_H

#include <stddef.h>

enum lm_tbuf_slot {
	LM_TB_VAULT_READBOX,   /* layer_vault.c: boxes read from the host */
	LM_TB_VAULT_PLAIN,     /* layer_vault.c: opened blocks */
	LM_TB_VAULT_WRITEBOX,  /* layer_vault.c: boxes to write */
	LM_TB_SEALED,          /* layer_sealed.c: stored chunks and scratch */
	LM_TB_N,
};

/* Buffer @slot of the calling thread, at least @size bytes; NULL when out
 * of memory. Valid until the thread's next call for the same @slot. */
unsigned char *lm_tbuf(enum lm_tbuf_slot slot, size_t size);

#endif
