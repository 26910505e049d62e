/* driver/cache: a bounded cache of opened chunks (decrypted, decompressed
 * plaintext of sealed layers), shared by every thread of the daemon.
 *
 * Keyed by (owner, index): the owner is a number the caller gives each
 * layer (lm_cache_owner_new), the index its chunk number. Entries are
 * reference counted: an entry a reader holds is never freed under it, and
 * eviction (CLOCK, per shard) only drops entries nobody holds. The table
 * is split in shards by key hash, each with its own lock held only for
 * the few instructions of a lookup or an insert: a hit takes no global
 * lock and copies nothing. The capacity counts plaintext bytes; it may be
 * exceeded only by entries held at the moment.
 *
 * Every function may be called from any thread.
 */
#ifndef LM_CACHE_H
#define LM_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct lm_cache;
struct lm_cache_ent;

/* A cache of at most @capacity bytes of plaintext (0 disables caching:
 * every get misses, every insert hands the entry straight back to its
 * only holder). *out is the caller's, freed with lm_cache_free once no
 * entry is held. Returns 0 or -ENOMEM. */
int lm_cache_new(size_t capacity, struct lm_cache **out);
void lm_cache_free(struct lm_cache *c);

/* A fresh owner number, unique for the life of the process. */
uint64_t lm_cache_owner_new(void);

/* The entry of (@owner, @idx), held for the caller, or NULL on a miss.
 * Release with lm_cache_put. */
const struct lm_cache_ent *lm_cache_get(struct lm_cache *c, uint64_t owner, uint32_t idx);

/* A new entry of @len bytes for the caller to fill (lm_cache_buf), not yet
 * in the cache. NULL when out of memory. */
struct lm_cache_ent *lm_cache_alloc(struct lm_cache *c, size_t len);
void *lm_cache_buf(struct lm_cache_ent *e);

/* Puts @e (from lm_cache_alloc, filled) in the cache under (@owner, @idx)
 * and returns it held for the caller. When another thread inserted the
 * same key meanwhile, @e is dropped and that entry is returned instead. */
const struct lm_cache_ent *lm_cache_insert(struct lm_cache *c, uint64_t owner, uint32_t idx,
					   struct lm_cache_ent *e);

/* Releases a held entry (or drops one from lm_cache_alloc never inserted). */
void lm_cache_put(struct lm_cache *c, const struct lm_cache_ent *e);

const void *lm_cache_data(const struct lm_cache_ent *e);
size_t lm_cache_len(const struct lm_cache_ent *e);

/* Drops every unheld entry of @owner (a layer being closed). */
void lm_cache_drop_owner(struct lm_cache *c, uint64_t owner);

struct lm_cache_stats {
	uint64_t hits, misses, inserts, evictions;
	uint64_t bytes, entries;   /* now */
	uint64_t capacity;
};
void lm_cache_stats(struct lm_cache *c, struct lm_cache_stats *s);

/* Parses a size for cache_size=: bytes with an optional K, M or G suffix
 * (powers of 1024). -EINVAL for anything else. */
int lm_cache_size_parse(const char *s, size_t *out);

#endif
