/* Unit test for driver/cache: hits and misses, insert races, the capacity
 * bound (exceeded only by held entries), held entries surviving eviction,
 * dropping an owner, capacity 0, size parsing, and 8 threads getting,
 * inserting and putting over a key space larger than the cache while
 * checking every entry holds the bytes of its key. Exit 0 pass, 1 fail. */
#include "cache/cache.h"
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define KiB ((size_t)1024)
#define THREADS 8
#define MAX_LEN (8 * KiB)   /* entries are 1..MAX_LEN bytes */

/* The bytes every entry of (owner, idx) holds, and their number. */
static size_t key_len(uint64_t owner, uint32_t idx)
{
	return 1 + (size_t)((owner * 7919 + idx * 104729) % (MAX_LEN));
}

static unsigned char key_byte(uint64_t owner, uint32_t idx, size_t i)
{
	return (unsigned char)(owner * 31 + idx * 131 + i * 7 + (i >> 8));
}

static void key_fill(void *buf, uint64_t owner, uint32_t idx, size_t len)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = key_byte(owner, idx, i);
}

static bool key_ok(const struct lm_cache_ent *e, uint64_t owner, uint32_t idx)
{
	const unsigned char *p = lm_cache_data(e);
	size_t len = lm_cache_len(e);

	if (len != key_len(owner, idx) || (uintptr_t)p % 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] != key_byte(owner, idx, i))
			return false;
	return true;
}

/* Inserts a fresh entry of (owner, idx) and returns it held. */
static const struct lm_cache_ent *add(struct lm_cache *c, uint64_t owner, uint32_t idx)
{
	size_t len = key_len(owner, idx);
	struct lm_cache_ent *e = lm_cache_alloc(c, len);

	if (!e) {
		fprintf(stderr, "lm_cache_alloc(%zu) failed\n", len);
		exit(1);
	}
	key_fill(lm_cache_buf(e), owner, idx, len);
	return lm_cache_insert(c, owner, idx, e);
}

static struct lm_cache_stats stats(struct lm_cache *c)
{
	struct lm_cache_stats s;

	lm_cache_stats(c, &s);
	return s;
}

static void test_basic(void)
{
	struct lm_cache *c;
	const struct lm_cache_ent *e, *g;
	struct lm_cache_ent *loser;
	uint64_t o = lm_cache_owner_new();
	struct lm_cache_stats s;

	CHECK(lm_cache_owner_new() != o);
	CHECK_RC(lm_cache_new(4 << 20, &c), 0);
	CHECK(lm_cache_get(c, o, 1) == NULL);
	e = add(c, o, 1);
	CHECK(key_ok(e, o, 1));
	g = lm_cache_get(c, o, 1);
	CHECK(g == e);
	CHECK(lm_cache_get(c, o, 2) == NULL);
	CHECK(lm_cache_get(c, o + 1, 1) == NULL);
	/* Another thread's entry of the same key wins; ours is dropped. */
	loser = lm_cache_alloc(c, key_len(o, 1));
	memset(lm_cache_buf(loser), 0xee, key_len(o, 1));
	g = lm_cache_insert(c, o, 1, loser);
	CHECK(g == e);
	CHECK(key_ok(g, o, 1));
	s = stats(c);
	CHECK(s.hits == 1 && s.misses == 3 && s.inserts == 1);
	CHECK(s.entries == 1 && s.bytes == key_len(o, 1) && s.capacity == 4 << 20);
	lm_cache_put(c, e);
	lm_cache_put(c, e);
	lm_cache_put(c, g);
	lm_cache_put(c, NULL);
	/* Unheld now, and far below capacity: still there. */
	g = lm_cache_get(c, o, 1);
	CHECK(g == e && key_ok(g, o, 1));
	lm_cache_put(c, g);
	/* An entry allocated and never inserted. */
	lm_cache_put(c, lm_cache_alloc(c, 100));
	lm_cache_free(c);
}

/* bytes <= capacity + @held at every step, and == only what fits once
 * nothing is held. */
static void test_capacity(size_t cap, uint32_t inserts)
{
	const struct lm_cache_ent *held[40];
	struct lm_cache *c;
	uint64_t o = lm_cache_owner_new();
	size_t held_bytes = 0;
	struct lm_cache_stats s;
	uint32_t idx = 0;

	CHECK_RC(lm_cache_new(cap, &c), 0);
	for (; idx < inserts; idx++) {
		lm_cache_put(c, add(c, o, idx));
		s = stats(c);
		if (s.bytes > cap) {
			fprintf(stderr, "cap %zu: %llu bytes after %u inserts\n", cap,
				(unsigned long long)s.bytes, idx);
			check_fails++;
			break;
		}
	}
	CHECK(stats(c).evictions > 0);
	/* Held entries survive any number of inserts, bytes intact. */
	for (int i = 0; i < 40; i++, idx++) {
		held[i] = add(c, o, idx);
		held_bytes += lm_cache_len(held[i]);
	}
	for (uint32_t k = 0; k < inserts; k++)
		lm_cache_put(c, add(c, o, idx + k));
	CHECK(stats(c).bytes <= cap + held_bytes);
	for (int i = 0; i < 40; i++) {
		CHECK(key_ok(held[i], o, idx - 40 + (uint32_t)i));
		const struct lm_cache_ent *g = lm_cache_get(c, o, idx - 40 + (uint32_t)i);

		CHECK(g == held[i]);
		lm_cache_put(c, g);
	}
	/* Released, they go as soon as the cache is over its capacity. */
	for (int i = 0; i < 40; i++)
		lm_cache_put(c, held[i]);
	s = stats(c);
	CHECK(s.bytes <= cap);
	CHECK(s.entries > 0);
	lm_cache_free(c);
}

/* More held than the capacity: all kept; once put, the excess goes. */
static void test_overheld(void)
{
	const struct lm_cache_ent *held[100];
	struct lm_cache *c;
	uint64_t o = lm_cache_owner_new();
	size_t total = 0;

	CHECK_RC(lm_cache_new(256 * KiB, &c), 0);
	for (uint32_t i = 0; i < 100; i++) {
		held[i] = add(c, o, i);
		total += lm_cache_len(held[i]);
	}
	CHECK(total > 256 * KiB);
	CHECK(stats(c).bytes == total);
	CHECK(stats(c).entries == 100);
	for (uint32_t i = 0; i < 100; i++) {
		CHECK(key_ok(held[i], o, i));
		lm_cache_put(c, held[i]);
	}
	CHECK(stats(c).bytes <= 256 * KiB);
	lm_cache_free(c);
}

static void test_drop_owner(void)
{
	struct lm_cache *c;
	uint64_t a = lm_cache_owner_new(), b = lm_cache_owner_new();
	const struct lm_cache_ent *keep, *g;

	CHECK_RC(lm_cache_new(64 << 20, &c), 0);
	for (uint32_t i = 0; i < 50; i++) {
		lm_cache_put(c, add(c, a, i));
		lm_cache_put(c, add(c, b, i));
	}
	keep = lm_cache_get(c, a, 7);
	CHECK(stats(c).entries == 100);
	lm_cache_drop_owner(c, a);
	CHECK(stats(c).entries == 51);
	for (uint32_t i = 0; i < 50; i++) {
		g = lm_cache_get(c, a, i);
		CHECK(i == 7 ? g == keep : g == NULL);
		lm_cache_put(c, g);
		g = lm_cache_get(c, b, i);
		CHECK(g && key_ok(g, b, i));
		lm_cache_put(c, g);
	}
	CHECK(key_ok(keep, a, 7));
	lm_cache_put(c, keep);
	lm_cache_drop_owner(c, a);
	CHECK(stats(c).entries == 50);
	lm_cache_drop_owner(c, lm_cache_owner_new());
	CHECK(stats(c).entries == 50);
	lm_cache_free(c);
}

static void test_capacity_zero(void)
{
	struct lm_cache *c;
	uint64_t o = lm_cache_owner_new();
	const struct lm_cache_ent *e, *f;

	CHECK_RC(lm_cache_new(0, &c), 0);
	e = add(c, o, 3);
	CHECK(key_ok(e, o, 3));
	CHECK(lm_cache_get(c, o, 3) == NULL);
	f = add(c, o, 3);   /* not a race: nothing is in the cache */
	CHECK(f != e && key_ok(f, o, 3));
	CHECK(stats(c).entries == 0 && stats(c).bytes == 0);
	lm_cache_put(c, e);
	lm_cache_put(c, f);
	lm_cache_free(c);
}

static void test_size_parse(void)
{
	static const char *const bad[] = {
		"", "M", "-1", "+1", " 1", "1 ", "1MB", "1.5M", "0x10", "1KK", "1T",
		"18446744073709551616", "17179869184G", "99999999999999999999999",
	};
	size_t v = 1;

	CHECK_RC(lm_cache_size_parse("4096", &v), 0);
	CHECK(v == 4096);
	CHECK_RC(lm_cache_size_parse("0", &v), 0);
	CHECK(v == 0);
	CHECK_RC(lm_cache_size_parse("64K", &v), 0);
	CHECK(v == 64 * KiB);
	CHECK_RC(lm_cache_size_parse("64M", &v), 0);
	CHECK(v == (size_t)64 << 20);
	CHECK_RC(lm_cache_size_parse("1G", &v), 0);
	CHECK(v == (size_t)1 << 30);
	CHECK_RC(lm_cache_size_parse("2g", &v), 0);
	CHECK(v == (size_t)2 << 30);
	CHECK_RC(lm_cache_size_parse("18446744073709551615", &v), 0);
	CHECK(v == SIZE_MAX);
	v = 5;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (lm_cache_size_parse(bad[i], &v) != -EINVAL) {
			fprintf(stderr, "lm_cache_size_parse(\"%s\") accepted\n", bad[i]);
			check_fails++;
		}
	}
	CHECK(v == 5);
	CHECK_RC(lm_cache_size_parse(NULL, &v), -EINVAL);
}

/* ---- many threads ---- */

#define STRESS_CAP ((size_t)1 << 20)
#define STRESS_STEPS 15000
#define STRESS_OWNERS 3
#define STRESS_KEYS 1000u
#define STRESS_HOLD 4

static struct lm_cache *sc;
static uint64_t sowners[STRESS_OWNERS];
static atomic_int sbad;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct held {
	const struct lm_cache_ent *e;
	uint64_t owner;
	uint32_t idx;
};

/* Releases @h after checking its bytes did not change while held. */
static void release(struct held *h)
{
	if (!h->e)
		return;
	if (!key_ok(h->e, h->owner, h->idx))
		atomic_fetch_add(&sbad, 1);
	lm_cache_put(sc, h->e);
	h->e = NULL;
}

/* One step: a get of a random key, on a miss an insert, each result
 * checked and held a while among the thread's last STRESS_HOLD. */
static void stress_step(struct held *held, uint64_t *seed)
{
	uint64_t o = sowners[rnd(seed) % STRESS_OWNERS];
	/* Half the steps on a few hot keys, so threads race on them. */
	uint32_t idx = (uint32_t)(rnd(seed) % (rnd(seed) % 2 ? 40 : STRESS_KEYS));
	const struct lm_cache_ent *e = lm_cache_get(sc, o, idx);
	struct held *h = &held[rnd(seed) % STRESS_HOLD];

	if (!e)
		e = add(sc, o, idx);
	if (!key_ok(e, o, idx))
		atomic_fetch_add(&sbad, 1);
	release(h);
	*h = (struct held){ .e = e, .owner = o, .idx = idx };
	if (rnd(seed) % 4000 == 0)
		lm_cache_drop_owner(sc, o);
}

static void *stress(void *arg)
{
	struct held held[STRESS_HOLD] = { { NULL, 0, 0 } };
	uint64_t seed = (uint64_t)(uintptr_t)arg * 2654435761u + 1;
	struct lm_cache_stats s;

	for (int i = 0; i < STRESS_STEPS; i++) {
		stress_step(held, &seed);
		if (i % 1000 == 0) {
			lm_cache_stats(sc, &s);
			/* Every thread holds at most STRESS_HOLD entries. */
			if (s.bytes > STRESS_CAP + THREADS * STRESS_HOLD * MAX_LEN)
				atomic_fetch_add(&sbad, 1);
		}
	}
	for (unsigned i = 0; i < STRESS_HOLD; i++)
		release(&held[i]);
	return NULL;
}

static void test_stress(void)
{
	pthread_t tid[THREADS];
	struct lm_cache_stats s;

	CHECK_RC(lm_cache_new(STRESS_CAP, &sc), 0);
	for (int i = 0; i < STRESS_OWNERS; i++)
		sowners[i] = lm_cache_owner_new();
	for (uintptr_t i = 0; i < THREADS; i++)
		if (pthread_create(&tid[i], NULL, stress, (void *)i)) {
			perror("pthread_create");
			exit(1);
		}
	for (int i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	CHECK(atomic_load(&sbad) == 0);
	s = stats(sc);
	CHECK(s.bytes <= STRESS_CAP);
	CHECK(s.hits > 0 && s.misses > 0 && s.evictions > 0);
	CHECK(s.hits + s.misses == THREADS * STRESS_STEPS);
	printf("test_cache: stress: %llu hits, %llu misses, %llu inserts, %llu evictions, "
	       "%llu entries, %llu bytes\n", (unsigned long long)s.hits,
	       (unsigned long long)s.misses, (unsigned long long)s.inserts,
	       (unsigned long long)s.evictions, (unsigned long long)s.entries,
	       (unsigned long long)s.bytes);
	lm_cache_free(sc);
}

int main(void)
{
	test_basic();
	test_capacity(256 * KiB, 3000);        /* one shard */
	test_capacity(8 << 20, 6000);          /* eight shards */
	test_capacity(64 << 20, 24000);        /* all 64 shards */
	test_overheld();
	test_drop_owner();
	test_capacity_zero();
	test_size_parse();
	test_stress();
	return check_done("test_cache");
}
