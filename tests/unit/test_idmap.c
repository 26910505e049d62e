/* Unit test for overlay/idmap: parsing, lookups both ways, range
 * boundaries and rejected specs. Exit 0 pass, 1 fail. */
#include "check.h"
#include "overlay/idmap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		unsigned long long a_ = (a), b_ = (b);                     \
		if (a_ != b_) {                                            \
			fprintf(stderr, "%s:%d: check failed: %s == %s "   \
				"(%llu != %llu)\n", __FILE__, __LINE__,    \
				#a, #b, a_, b_);                           \
			check_fails++;                                        \
		}                                                          \
	} while (0)

static void test_single(void)
{
	struct lm_idmap m;

	CHECK_EQ(lm_idmap_parse("0:1000:1", &m), 0);
	CHECK_EQ(m.n, 1);
	if (m.n == 1) {
		CHECK_EQ(m.v[0].cont, 0);
		CHECK_EQ(m.v[0].host, 1000);
		CHECK_EQ(m.v[0].len, 1);
	}
	CHECK_EQ(lm_idmap_to_host(&m, 0), 1000);
	CHECK_EQ(lm_idmap_to_host(&m, 1), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_cont(&m, 1000), 0);
	CHECK_EQ(lm_idmap_to_cont(&m, 999), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_cont(&m, 1001), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_cont(&m, 0), LM_IDMAP_OVERFLOW);
	lm_idmap_release(&m);
	CHECK(m.v == NULL);
	CHECK_EQ(m.n, 0);
}

/* The usual rootless podman map: root to the user, the rest to subuids. */
static void test_rootless(void)
{
	struct lm_idmap m;

	CHECK_EQ(lm_idmap_parse("0:1000:1:1:100000:65536", &m), 0);
	CHECK_EQ(m.n, 2);
	if (m.n == 2) {
		CHECK_EQ(m.v[1].cont, 1);
		CHECK_EQ(m.v[1].host, 100000);
		CHECK_EQ(m.v[1].len, 65536);
	}
	CHECK_EQ(lm_idmap_to_host(&m, 0), 1000);
	CHECK_EQ(lm_idmap_to_host(&m, 1), 100000);
	CHECK_EQ(lm_idmap_to_host(&m, 33), 100032);
	CHECK_EQ(lm_idmap_to_host(&m, 65536), 165535);
	CHECK_EQ(lm_idmap_to_host(&m, 65537), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_host(&m, UINT32_MAX), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_cont(&m, 1000), 0);
	CHECK_EQ(lm_idmap_to_cont(&m, 100000), 1);
	CHECK_EQ(lm_idmap_to_cont(&m, 165535), 65536);
	CHECK_EQ(lm_idmap_to_cont(&m, 165536), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_cont(&m, 99999), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_cont(&m, 0), LM_IDMAP_OVERFLOW);

	/* Every mapped id survives the round trip both ways. */
	for (uint32_t id = 0; id <= 65536; id++) {
		uint32_t h = lm_idmap_to_host(&m, id);

		if (lm_idmap_to_cont(&m, h) != id) {
			CHECK_EQ(lm_idmap_to_cont(&m, h), id);
			break;
		}
	}
	lm_idmap_release(&m);
	lm_idmap_release(&m); /* twice is harmless */
	CHECK_EQ(m.n, 0);
}

/* containers-storage writes "uidmapping=:0:1000:1" (a leading ':'). */
static void test_leading_colon(void)
{
	struct lm_idmap m;

	CHECK_EQ(lm_idmap_parse(":0:1000:1:1:100000:65536", &m), 0);
	CHECK_EQ(m.n, 2);
	CHECK_EQ(lm_idmap_to_host(&m, 2), 100001);
	lm_idmap_release(&m);

	/* Only one leading ':' is tolerated. */
	CHECK_EQ(lm_idmap_parse("::0:1000:1", &m), -EINVAL);
	CHECK_EQ(m.n, 0);
}

static void test_identity(void)
{
	struct lm_idmap m = { NULL, 0 };

	CHECK_EQ(lm_idmap_to_host(&m, 0), 0);
	CHECK_EQ(lm_idmap_to_host(&m, 1234), 1234);
	CHECK_EQ(lm_idmap_to_host(&m, LM_IDMAP_OVERFLOW), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_host(&m, UINT32_MAX), UINT32_MAX);
	CHECK_EQ(lm_idmap_to_cont(&m, 0), 0);
	CHECK_EQ(lm_idmap_to_cont(&m, 987654), 987654);
	CHECK_EQ(lm_idmap_to_cont(&m, UINT32_MAX), UINT32_MAX);
	lm_idmap_release(&m);
	CHECK_EQ(m.n, 0);
}

static void test_boundaries(void)
{
	struct lm_idmap m;

	/* The whole 32-bit space: C+LEN == 2^32 exactly is allowed. */
	CHECK_EQ(lm_idmap_parse("0:0:4294967295", &m), 0);
	CHECK_EQ(lm_idmap_to_host(&m, 4294967294u), 4294967294u);
	CHECK_EQ(lm_idmap_to_host(&m, UINT32_MAX), LM_IDMAP_OVERFLOW);
	lm_idmap_release(&m);

	CHECK_EQ(lm_idmap_parse("1:0:4294967295", &m), 0);
	CHECK_EQ(lm_idmap_to_host(&m, UINT32_MAX), 4294967294u);
	CHECK_EQ(lm_idmap_to_host(&m, 1), 0);
	CHECK_EQ(lm_idmap_to_host(&m, 0), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_cont(&m, 4294967294u), UINT32_MAX);
	CHECK_EQ(lm_idmap_to_cont(&m, UINT32_MAX), LM_IDMAP_OVERFLOW);
	lm_idmap_release(&m);

	CHECK_EQ(lm_idmap_parse("4294967295:4294967295:1", &m), 0);
	CHECK_EQ(lm_idmap_to_host(&m, UINT32_MAX), UINT32_MAX);
	CHECK_EQ(lm_idmap_to_cont(&m, UINT32_MAX), UINT32_MAX);
	CHECK_EQ(lm_idmap_to_host(&m, 4294967294u), LM_IDMAP_OVERFLOW);
	lm_idmap_release(&m);

	CHECK_EQ(lm_idmap_parse("4294967295:0:1", &m), 0);
	CHECK_EQ(lm_idmap_to_host(&m, UINT32_MAX), 0);
	CHECK_EQ(lm_idmap_to_cont(&m, 0), UINT32_MAX);
	lm_idmap_release(&m);

	/* Leading zeros are still decimal, not octal. */
	CHECK_EQ(lm_idmap_parse("010:0100:010", &m), 0);
	CHECK_EQ(lm_idmap_to_host(&m, 10), 100);
	CHECK_EQ(lm_idmap_to_host(&m, 19), 109);
	CHECK_EQ(lm_idmap_to_host(&m, 20), LM_IDMAP_OVERFLOW);
	lm_idmap_release(&m);

	/* Overlapping ranges: the first one given wins. */
	CHECK_EQ(lm_idmap_parse("0:100:10:5:500:10", &m), 0);
	CHECK_EQ(lm_idmap_to_host(&m, 7), 107);
	CHECK_EQ(lm_idmap_to_host(&m, 12), 507);
	lm_idmap_release(&m);
}

static void test_errors(void)
{
	static const char *const bad[] = {
		"",                       /* empty */
		":",                      /* only the tolerated colon */
		"0",                      /* short triple */
		"0:0",
		"0:0:1:",                 /* trailing colon */
		"0:0:1:2",                /* leftover field */
		"0:0:1:2:2",
		"0:0:1:1:1:1:",
		"0::1",                   /* empty field */
		":0:0:1:",
		"0:0:0",                  /* zero length */
		"0:1000:1:1:2000:0",      /* zero length in second range */
		"2:0:4294967295",         /* C+LEN past 2^32 */
		"0:2:4294967295",         /* H+LEN past 2^32 */
		"4294967295:0:2",
		"0:4294967295:2",
		"4294967296:0:1",         /* number past 32 bits */
		"0:0:4294967296",
		"99999999999999999999:0:1",
		"a:0:1",                  /* not numbers */
		"0:0:1x",
		"0x10:0:1",
		"-1:0:1",
		"+1:0:1",
		" 1:0:1",
		"1 :0:1",
		"1:0:1 ",
		"1.0:0:1",
		"0,1000,1",               /* wrong separator */
		"1:2:3\n",
	};
	struct lm_idmap m;

	CHECK_EQ(lm_idmap_parse(NULL, &m), -EINVAL);
	CHECK(m.v == NULL);
	CHECK_EQ(m.n, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Garbage in *m beforehand must not leak through. */
		m.v = (struct lm_idmap_ent *)&m;
		m.n = 99;
		int rc = lm_idmap_parse(bad[i], &m);

		if (rc != -EINVAL || m.v != NULL || m.n != 0) {
			fprintf(stderr, "%s:%d: spec \"%s\" gave rc %d, n %zu "
				"(want -EINVAL, empty map)\n", __FILE__,
				__LINE__, bad[i], rc, m.n);
			check_fails++;
			if (rc == 0)
				lm_idmap_release(&m);
		}
	}
}

/* Many ranges parse and each one is found. */
static void test_many(void)
{
	char spec[4096];
	size_t len = 0;
	struct lm_idmap m;

	for (unsigned i = 0; i < 100; i++)
		len += (size_t)snprintf(spec + len, sizeof(spec) - len, "%s%u:%u:10",
					i ? ":" : "", i * 10, 1000000 + i * 100);
	CHECK(len < sizeof(spec));
	CHECK_EQ(lm_idmap_parse(spec, &m), 0);
	CHECK_EQ(m.n, 100);
	CHECK_EQ(lm_idmap_to_host(&m, 0), 1000000);
	CHECK_EQ(lm_idmap_to_host(&m, 995), 1000000 + 99 * 100 + 5);
	CHECK_EQ(lm_idmap_to_host(&m, 1000), LM_IDMAP_OVERFLOW);
	CHECK_EQ(lm_idmap_to_cont(&m, 1000000 + 50 * 100 + 9), 509);
	CHECK_EQ(lm_idmap_to_cont(&m, 1000000 + 50 * 100 + 10), LM_IDMAP_OVERFLOW);
	lm_idmap_release(&m);
}

int main(void)
{
	test_single();
	test_rootless();
	test_leading_colon();
	test_identity();
	test_boundaries();
	test_errors();
	test_many();
	if (check_fails) {
		fprintf(stderr, "test_idmap: %d check(s) failed\n", check_fails);
		return 1;
	}
	printf("test_idmap: all checks passed\n");
	return 0;
}
