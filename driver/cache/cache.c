/* The chunk cache; see cache.h.
 *
 * References: an entry in the table holds one reference for the table and
 * one per holder, so an unheld entry in the table has exactly one. Gets
 * take their reference under the shard's lock, and eviction (also under
 * that lock) takes only entries with one reference: nobody can start
 * holding an entry while it is being evicted, and an entry somebody holds
 * is never evicted. An entry outside the table (just allocated, beaten in
 * an insert race, or handed back by a cache of capacity 0) has its one
 * holder alone and is freed by that holder's put.
 *
 * Each shard runs CLOCK over its own entries against its share of the
 * capacity. The capacity is split over as many shards as leave each at
 * least SHARD_MIN_BYTES (up to SHARDS_MAX), so the shares never add up to
 * more than the capacity.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"

#define SHARDS_MAX 64u
#define SHARD_MIN_BYTES ((size_t)1 << 20)
#define BUCKETS_MIN 64u
#define ENT_ALIGN 64

struct lm_cache_ent {
	struct lm_cache_ent *hnext;          /* hash chain; shard lock */
	struct lm_cache_ent *cnext, *cprev;  /* CLOCK ring; shard lock */
	uint64_t owner;                      /* set by insert, then constant */
	uint32_t idx;                        /* set by insert, then constant */
	bool referenced;                     /* CLOCK bit; shard lock */
	atomic_uint refs;
	size_t len;
	_Alignas(ENT_ALIGN) unsigned char data[];
};

struct shard {
	_Alignas(64) pthread_mutex_t lock;
	struct lm_cache_ent **buckets;   /* lock */
	size_t nbuckets;                 /* a power of two; lock */
	size_t count;                    /* entries; lock */
	struct lm_cache_ent *hand;       /* CLOCK hand, NULL when empty; lock */
	atomic_size_t bytes;             /* written under lock, read by puts without */
	size_t budget;                   /* constant */
	uint64_t hits, misses, inserts, evictions;  /* lock */
};

struct lm_cache {
	size_t capacity;
	unsigned nshards;                /* a power of two */
	struct shard *shards;
};

static atomic_uint_fast64_t owner_seq;

static uint64_t key_hash(uint64_t owner, uint32_t idx)
{
	uint64_t h = owner * 0x9e3779b97f4a7c15ull ^ idx;

	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

/* The shard takes the hash's high bits, the bucket its low bits. */
static struct shard *shard_of(struct lm_cache *c, uint64_t h)
{
	return &c->shards[(h >> 40) & (c->nshards - 1)];
}

static struct lm_cache_ent **bucket_of(struct shard *s, uint64_t h)
{
	return &s->buckets[h & (s->nbuckets - 1)];
}

static struct lm_cache_ent *shard_find(struct shard *s, uint64_t h, uint64_t owner, uint32_t idx)
{
	struct lm_cache_ent *e = *bucket_of(s, h);

	while (e && (e->owner != owner || e->idx != idx))
		e = e->hnext;
	return e;
}

/* Doubles the bucket array; keeps the old one when out of memory (the
 * chains just grow longer). */
static void shard_grow(struct shard *s)
{
	size_t n = s->nbuckets * 2;
	struct lm_cache_ent **b = calloc(n, sizeof(*b));
	struct lm_cache_ent *e, *next;

	if (!b)
		return;
	for (size_t i = 0; i < s->nbuckets; i++) {
		for (e = s->buckets[i]; e; e = next) {
			size_t j = key_hash(e->owner, e->idx) & (n - 1);

			next = e->hnext;
			e->hnext = b[j];
			b[j] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* Adds @e to the table and to the CLOCK ring just behind the hand, so it
 * is the last the hand reaches. */
static void shard_link(struct shard *s, struct lm_cache_ent *e, uint64_t h)
{
	struct lm_cache_ent **b = bucket_of(s, h);

	e->hnext = *b;
	*b = e;
	if (s->hand) {
		e->cnext = s->hand;
		e->cprev = s->hand->cprev;
		e->cprev->cnext = e;
		s->hand->cprev = e;
	} else {
		e->cnext = e->cprev = e;
		s->hand = e;
	}
	s->count++;
	atomic_store_explicit(&s->bytes, atomic_load_explicit(&s->bytes, memory_order_relaxed) +
				  e->len, memory_order_relaxed);
	if (s->count > s->nbuckets)
		shard_grow(s);
}

static void shard_unlink(struct shard *s, struct lm_cache_ent *e)
{
	struct lm_cache_ent **p = bucket_of(s, key_hash(e->owner, e->idx));

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	if (e->cnext == e) {
		s->hand = NULL;
	} else {
		if (s->hand == e)
			s->hand = e->cnext;
		e->cprev->cnext = e->cnext;
		e->cnext->cprev = e->cprev;
	}
	s->count--;
	atomic_store_explicit(&s->bytes, atomic_load_explicit(&s->bytes, memory_order_relaxed) -
				  e->len, memory_order_relaxed);
}

/* True when only the table holds @e. The acquire pairs with the release
 * of the last holder's put, so its reads of the data come before a free. */
static bool unheld(struct lm_cache_ent *e)
{
	return atomic_load_explicit(&e->refs, memory_order_acquire) == 1;
}

/* Runs the CLOCK hand until the shard fits its budget or two turns found
 * nothing more to evict (everything left is held). Evicted entries are
 * chained on *freed (through hnext) for the caller to free after
 * unlocking. */
static void shard_evict(struct shard *s, struct lm_cache_ent **freed)
{
	size_t turns = 2 * s->count;

	while (s->hand && turns-- &&
	       atomic_load_explicit(&s->bytes, memory_order_relaxed) > s->budget) {
		struct lm_cache_ent *e = s->hand;

		s->hand = e->cnext;
		if (!unheld(e))
			continue;
		if (e->referenced) {
			e->referenced = false;
			continue;
		}
		shard_unlink(s, e);
		s->evictions++;
		e->hnext = *freed;
		*freed = e;
	}
}

static void free_chain(struct lm_cache_ent *e)
{
	struct lm_cache_ent *next;

	for (; e; e = next) {
		next = e->hnext;
		free(e);
	}
}

/* How many shards @capacity is split in: each at least SHARD_MIN_BYTES. */
static unsigned shards_for(size_t capacity)
{
	unsigned n = SHARDS_MAX;

	while (n > 1 && capacity / n < SHARD_MIN_BYTES)
		n /= 2;
	return n;
}

int lm_cache_new(size_t capacity, struct lm_cache **out)
{
	struct lm_cache *c = calloc(1, sizeof(*c));
	unsigned n = shards_for(capacity);

	if (!c)
		return -ENOMEM;
	c->capacity = capacity;
	c->shards = aligned_alloc(_Alignof(struct shard), n * sizeof(struct shard));
	if (!c->shards) {
		free(c);
		return -ENOMEM;
	}
	memset(c->shards, 0, n * sizeof(struct shard));
	for (c->nshards = 0; c->nshards < n; c->nshards++) {
		struct shard *s = &c->shards[c->nshards];

		s->buckets = calloc(BUCKETS_MIN, sizeof(*s->buckets));
		if (!s->buckets) {
			lm_cache_free(c);
			return -ENOMEM;
		}
		s->nbuckets = BUCKETS_MIN;
		s->budget = capacity / n;
		atomic_init(&s->bytes, 0);
		pthread_mutex_init(&s->lock, NULL);
	}
	*out = c;
	return 0;
}

/* Frees @c and every entry in it; no entry may be held. */
void lm_cache_free(struct lm_cache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nshards; i++) {
		struct shard *s = &c->shards[i];

		for (size_t b = 0; b < s->nbuckets; b++)
			free_chain(s->buckets[b]);
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	free(c->shards);
	free(c);
}

uint64_t lm_cache_owner_new(void)
{
	return atomic_fetch_add_explicit(&owner_seq, 1, memory_order_relaxed) + 1;
}

const struct lm_cache_ent *lm_cache_get(struct lm_cache *c, uint64_t owner, uint32_t idx)
{
	uint64_t h = key_hash(owner, idx);
	struct shard *s = shard_of(c, h);
	struct lm_cache_ent *e;

	pthread_mutex_lock(&s->lock);
	e = shard_find(s, h, owner, idx);
	if (e) {
		atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
		e->referenced = true;
		s->hits++;
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

struct lm_cache_ent *lm_cache_alloc(struct lm_cache *c, size_t len)
{
	size_t hdr = offsetof(struct lm_cache_ent, data);
	struct lm_cache_ent *e;

	(void)c;
	if (len > SIZE_MAX - hdr - ENT_ALIGN)
		return NULL;
	e = aligned_alloc(ENT_ALIGN, (hdr + len + ENT_ALIGN - 1) & ~(size_t)(ENT_ALIGN - 1));
	if (!e)
		return NULL;
	memset(e, 0, hdr);
	atomic_init(&e->refs, 1);
	e->len = len;
	return e;
}

void *lm_cache_buf(struct lm_cache_ent *e)
{
	return e->data;
}

const struct lm_cache_ent *lm_cache_insert(struct lm_cache *c, uint64_t owner, uint32_t idx,
					   struct lm_cache_ent *e)
{
	uint64_t h = key_hash(owner, idx);
	struct shard *s = shard_of(c, h);
	struct lm_cache_ent *old, *freed = NULL;

	e->owner = owner;
	e->idx = idx;
	if (c->capacity == 0)
		return e;
	pthread_mutex_lock(&s->lock);
	old = shard_find(s, h, owner, idx);
	if (old) {
		atomic_fetch_add_explicit(&old->refs, 1, memory_order_relaxed);
		old->referenced = true;
		pthread_mutex_unlock(&s->lock);
		free(e);   /* never in the table: its caller was its only holder */
		return old;
	}
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);  /* the table's */
	shard_link(s, e, h);
	s->inserts++;
	shard_evict(s, &freed);
	pthread_mutex_unlock(&s->lock);
	free_chain(freed);
	return e;
}

void lm_cache_put(struct lm_cache *c, const struct lm_cache_ent *ce)
{
	struct lm_cache_ent *e = (struct lm_cache_ent *)ce, *freed = NULL;
	struct shard *s;
	unsigned old;

	if (!e)
		return;
	/* Found before the release: from then on another thread may evict
	 * and free the entry. */
	s = shard_of(c, key_hash(e->owner, e->idx));
	old = atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel);
	if (old == 1) {
		free(e);   /* not in the table */
		return;
	}
	/* The entry may now be evicted: keep the shard within its budget
	 * with no held entry to excuse the excess. */
	if (old == 2 && atomic_load_explicit(&s->bytes, memory_order_relaxed) > s->budget) {
		pthread_mutex_lock(&s->lock);
		shard_evict(s, &freed);
		pthread_mutex_unlock(&s->lock);
		free_chain(freed);
	}
}

const void *lm_cache_data(const struct lm_cache_ent *e)
{
	return e->data;
}

size_t lm_cache_len(const struct lm_cache_ent *e)
{
	return e->len;
}

void lm_cache_drop_owner(struct lm_cache *c, uint64_t owner)
{
	for (unsigned i = 0; i < c->nshards; i++) {
		struct shard *s = &c->shards[i];
		struct lm_cache_ent *e, *next, *freed = NULL;
		size_t n;

		pthread_mutex_lock(&s->lock);
		e = s->hand;
		for (n = s->count; n; n--, e = next) {
			next = e->cnext;
			if (e->owner != owner || !unheld(e))
				continue;
			shard_unlink(s, e);
			e->hnext = freed;
			freed = e;
		}
		pthread_mutex_unlock(&s->lock);
		free_chain(freed);
	}
}

void lm_cache_stats(struct lm_cache *c, struct lm_cache_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->capacity = c->capacity;
	for (unsigned i = 0; i < c->nshards; i++) {
		struct shard *s = &c->shards[i];

		pthread_mutex_lock(&s->lock);
		st->hits += s->hits;
		st->misses += s->misses;
		st->inserts += s->inserts;
		st->evictions += s->evictions;
		st->bytes += atomic_load_explicit(&s->bytes, memory_order_relaxed);
		st->entries += s->count;
		pthread_mutex_unlock(&s->lock);
	}
}

/* Digits, then at most one of K, M, G (either case), then the end: no
 * sign, space or other suffix, and nothing that overflows a size_t. */
int lm_cache_size_parse(const char *s, size_t *out)
{
	unsigned shift = 0;
	size_t v = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		size_t d = (size_t)(*s - '0');

		if (v > (SIZE_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	switch (*s) {
	case 'K': case 'k':
		shift = 10;
		break;
	case 'M': case 'm':
		shift = 20;
		break;
	case 'G': case 'g':
		shift = 30;
		break;
	}
	if (shift)
		s++;
	if (*s || v > (SIZE_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}
