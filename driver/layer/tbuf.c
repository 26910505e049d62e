/* Per-thread buffers of the layers (see tbuf.h). */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "crypt.h"

#include "layer/tbuf.h"

struct tbuf {
	unsigned char *p[LM_TB_N];
	size_t n[LM_TB_N];
};

static pthread_key_t tbuf_key;
static pthread_once_t tbuf_once = PTHREAD_ONCE_INIT;

static void tbuf_drop(unsigned char *p, size_t n)
{
	if (p) {
		lm_crypt_wipe(p, n);
		munlock(p, n);
	}
	free(p);
}

static void tbuf_free(void *arg)
{
	struct tbuf *t = arg;

	for (int i = 0; i < LM_TB_N; i++)
		tbuf_drop(t->p[i], t->n[i]);
	free(t);
}

static void tbuf_init(void)
{
	pthread_key_create(&tbuf_key, tbuf_free);
}

unsigned char *lm_tbuf(enum lm_tbuf_slot slot, size_t size)
{
	struct tbuf *t;

	pthread_once(&tbuf_once, tbuf_init);
	t = pthread_getspecific(tbuf_key);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || pthread_setspecific(tbuf_key, t)) {
			free(t);
			return NULL;
		}
	}
	if (t->n[slot] < size) {
		size_t n = size < (64u << 10) ? (64u << 10) : size;
		unsigned char *p = malloc(n);

		if (!p)
			return NULL;
		tbuf_drop(t->p[slot], t->n[slot]);
		mlock(p, n); /* best effort */
		t->p[slot] = p;
		t->n[slot] = n;
	}
	return t->p[slot];
}
