/* Unit test for crypt/name: deterministic name sealing. */
#include <errno.h>

#include "check.h"
#include "crypt.h"
#include "name.h"

static struct lm_name_key *key_new(unsigned char fill)
{
	unsigned char sub[32];
	struct lm_name_key *k;

	memset(sub, fill, sizeof(sub));
	if (lm_name_key_new(sub, &k))
		abort();
	return k;
}

static void test_roundtrip(struct lm_name_key *k)
{
	unsigned char dir[16] = { 1 }, dir2[16] = { 2 };
	char sealed[LM_NAME_SEALED_MAX + 1], again[LM_NAME_SEALED_MAX + 1];
	char other[LM_NAME_SEALED_MAX + 1], plain[LM_NAME_MAX + 1], name[LM_NAME_MAX + 1];

	for (size_t len = 1; len <= LM_NAME_MAX; len++) {
		ssize_t n, m;

		for (size_t i = 0; i < len; i++)
			name[i] = (char)('a' + (i * 7 + len) % 26);
		name[len] = '\0';
		n = lm_name_seal(k, dir, name, len, sealed, sizeof(sealed));
		CHECK(n > 0 && (size_t)n == strlen(sealed));
		/* Length leaks only to LM_NAME_PAD bytes. */
		CHECK((size_t)n == LM_NAME_B64(24 + (len + 15) / 16 * 16 + 16));
		CHECK(strspn(sealed, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
		      (size_t)n);
		m = lm_name_seal(k, dir, name, len, again, sizeof(again));
		CHECK(m == n && !strcmp(sealed, again));
		lm_name_seal(k, dir2, name, len, other, sizeof(other));
		CHECK(strcmp(sealed, other) != 0);
		CHECK_RC(lm_name_open(k, dir, sealed, (size_t)n, plain, sizeof(plain)), (long)len);
		CHECK(!strcmp(plain, name));
		/* Found in another directory: refused. */
		CHECK_RC(lm_name_open(k, dir2, sealed, (size_t)n, plain, sizeof(plain)), -EBADMSG);
		CHECK(lm_name_is_long((size_t)n) == ((size_t)n > 255));
	}
}

/* Every character of a sealed name changed to every other alphabet
 * character: never opens. */
static void test_tamper(struct lm_name_key *k)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char dir[16] = { 3 };
	char sealed[LM_NAME_SEALED_MAX + 1], plain[LM_NAME_MAX + 1];
	ssize_t n = lm_name_seal(k, dir, "patient-0042.dcm", 16, sealed, sizeof(sealed));

	for (ssize_t i = 0; i < n; i++) {
		char orig = sealed[i];

		for (const char *a = alpha; *a; a++) {
			if (*a == orig)
				continue;
			sealed[i] = *a;
			if (lm_name_open(k, dir, sealed, (size_t)n, plain, sizeof(plain)) >= 0) {
				fprintf(stderr, "char %zd -> %c opened\n", i, *a);
				check_fails++;
			}
		}
		sealed[i] = orig;
	}
	CHECK(lm_name_open(k, dir, sealed, (size_t)n - 1, plain, sizeof(plain)) < 0);
	CHECK_RC(lm_name_open(k, dir, "a.b", 3, plain, sizeof(plain)), -EINVAL);
	CHECK_RC(lm_name_open(k, dir, "", 0, plain, sizeof(plain)), -EINVAL);
}

static void test_bad_names(struct lm_name_key *k)
{
	unsigned char dir[16] = { 0 };
	char out[LM_NAME_SEALED_MAX + 1], big[300];

	memset(big, 'x', sizeof(big));
	CHECK_RC(lm_name_seal(k, dir, "", 0, out, sizeof(out)), -EINVAL);
	CHECK_RC(lm_name_seal(k, dir, ".", 1, out, sizeof(out)), -EINVAL);
	CHECK_RC(lm_name_seal(k, dir, "..", 2, out, sizeof(out)), -EINVAL);
	CHECK_RC(lm_name_seal(k, dir, "a/b", 3, out, sizeof(out)), -EINVAL);
	CHECK_RC(lm_name_seal(k, dir, "a\0b", 3, out, sizeof(out)), -EINVAL);
	CHECK_RC(lm_name_seal(k, dir, big, 256, out, sizeof(out)), -ENAMETOOLONG);
	CHECK_RC(lm_name_seal(k, dir, "abc", 3, out, 10), -ENOSPC);
	CHECK(lm_name_seal(k, dir, "...", 3, out, sizeof(out)) > 0);
}

static void test_keys_differ(void)
{
	struct lm_name_key *a = key_new(1), *b = key_new(2);
	unsigned char dir[16] = { 0 };
	char sa[LM_NAME_SEALED_MAX + 1], sb[LM_NAME_SEALED_MAX + 1], p[LM_NAME_MAX + 1];
	ssize_t n = lm_name_seal(a, dir, "x", 1, sa, sizeof(sa));

	lm_name_seal(b, dir, "x", 1, sb, sizeof(sb));
	CHECK(strcmp(sa, sb) != 0);
	CHECK_RC(lm_name_open(b, dir, sa, (size_t)n, p, sizeof(p)), -EBADMSG);
	lm_name_key_free(a);
	lm_name_key_free(b);
}

static void test_long(struct lm_name_key *k)
{
	unsigned char dir[16] = { 4 };
	char name[LM_NAME_MAX + 1], sealed[LM_NAME_SEALED_MAX + 1], s[LM_NAME_LONG_LEN + 1];
	char s2[LM_NAME_LONG_LEN + 1];
	ssize_t n;

	memset(name, 'q', LM_NAME_MAX);
	n = lm_name_seal(k, dir, name, LM_NAME_MAX, sealed, sizeof(sealed));
	CHECK(n == LM_NAME_SEALED_MAX);
	CHECK(lm_name_is_long((size_t)n));
	lm_name_long(sealed, (size_t)n, s);
	CHECK(strlen(s) == LM_NAME_LONG_LEN && strlen(s) <= LM_NAME_HOST_MAX);
	CHECK(!strncmp(s, LM_NAME_LONG_PREFIX, strlen(LM_NAME_LONG_PREFIX)));
	CHECK(lm_name_long_check(s, sealed, (size_t)n));
	sealed[5] ^= 1;
	CHECK(!lm_name_long_check(s, sealed, (size_t)n));
	lm_name_long(sealed, (size_t)n, s2);
	CHECK(strcmp(s, s2) != 0);
	CHECK(!lm_name_long_check("lamina.long.x", sealed, (size_t)n));
}

int main(void)
{
	struct lm_name_key *k;

	if (lm_crypt_init())
		return 1;
	k = key_new(7);
	test_roundtrip(k);
	test_tamper(k);
	test_bad_names(k);
	test_long(k);
	test_keys_differ();
	lm_name_key_free(k);
	return check_done("test_name");
}
