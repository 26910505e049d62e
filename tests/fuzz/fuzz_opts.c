/* Fuzz target for the mount daemon's command line: lm_opts_parse (argv and
 * -o strings) and lm_idmap_parse (uidmapping=/gidmapping= specs).
 *
 * How the bytes become an argv, so the corpus stays readable:
 *   - no NUL byte: the whole input is one -o string, as containers-storage
 *     passes it: laminafs -o INPUT /mnt/merged
 *   - otherwise: the input split on NUL bytes is argv[1..], at most
 *     FUZZ_MAX_ARGS of them (the rest is dropped); "a\0" gives "a" and "".
 * Every argument is its own exact-size allocation, so AddressSanitizer
 * catches a read past the end of any of them. The input up to its first NUL
 * is also parsed as an id map and checked against a plain reference parser.
 *
 * The parsers' contracts are checked, not just their survival: return codes,
 * a message on every failure, the documented limits on every parsed field,
 * and lookups that agree with the table. A broken contract aborts, which
 * libFuzzer and the replay runner both report as a failure.
 */
#include "fuzz.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mount/opts.h"
#include "overlay/idmap.h"

#define FUZZ_MAX_ARGS 16
#define FUZZ_MAX_THREADS 1024u /* opts.c's LM_MAX_THREADS */

/* ---- id maps ---------------------------------------------------------- */

/* Reference for one field: 1+ decimal digits below 2^32, ending at ':' or
 * NUL, where *pp is left. Written apart from idmap.c on purpose: the end is
 * found first, then the digits are checked. */
static bool ref_field(const char **pp, uint32_t *out)
{
	const char *p = *pp, *end = p;
	uint64_t v = 0;

	while (*end && *end != ':')
		end++;
	if (end == p)
		return false;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	*pp = end;
	return true;
}

static bool ref_range_fits(uint32_t first, uint32_t len)
{
	return len > 0 && (uint64_t)first + len <= (uint64_t)UINT32_MAX + 1;
}

/* Reference parser for "[:]C:H:LEN[:C:H:LEN...]": the spec split on ':'
 * is a whole number of triples of valid fields. Fills @ents (room for
 * @max) and returns the count, or 0 when the spec must be rejected. */
static size_t ref_idmap(const char *s, struct lm_idmap_ent *ents, size_t max)
{
	uint32_t f[3];
	size_t nf = 0, n = 0;

	if (*s == ':')
		s++;
	if (*s == '\0')
		return 0;
	for (;;) {
		if (!ref_field(&s, &f[nf % 3]))
			return 0;
		if (++nf % 3 == 0) {
			if (n == max || !ref_range_fits(f[0], f[2]) ||
			    !ref_range_fits(f[1], f[2]))
				return 0;
			ents[n].cont = f[0];
			ents[n].host = f[1];
			ents[n].len = f[2];
			n++;
		}
		if (*s == '\0')
			break;
		s++; /* the ':' */
	}
	return nf % 3 == 0 ? n : 0;
}

static bool ent_has_cont(const struct lm_idmap_ent *e, uint32_t id)
{
	return id >= e->cont && id - e->cont < e->len;
}

static bool ent_has_host(const struct lm_idmap_ent *e, uint32_t id)
{
	return id >= e->host && id - e->host < e->len;
}

/* Lookups take the first range holding the id, so an id of range i maps
 * through range i unless an earlier range also holds it. This covers the
 * non-overlapping case (every first and last id round-trips) and still says
 * something when ranges overlap. */
static void check_idmap_lookups(const struct lm_idmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct lm_idmap_ent *e = &m->v[i];
		uint32_t ids[2] = { 0, e->len - 1 };

		for (size_t k = 0; k < 2; k++) {
			uint32_t c = e->cont + ids[k], h = e->host + ids[k];
			bool shadow_c = false, shadow_h = false;

			for (size_t j = 0; j < i; j++) {
				shadow_c |= ent_has_cont(&m->v[j], c);
				shadow_h |= ent_has_host(&m->v[j], h);
			}
			if (!shadow_c)
				FUZZ_CHECK(lm_idmap_to_host(m, c) == h);
			if (!shadow_h)
				FUZZ_CHECK(lm_idmap_to_cont(m, h) == c);
			if (!shadow_c && !shadow_h)
				FUZZ_CHECK(lm_idmap_to_cont(m, lm_idmap_to_host(m, c)) == c);
		}
	}
}

static bool map_has_cont(const struct lm_idmap *m, uint32_t id)
{
	for (size_t i = 0; i < m->n; i++)
		if (ent_has_cont(&m->v[i], id))
			return true;
	return false;
}

static bool map_has_host(const struct lm_idmap *m, uint32_t id)
{
	for (size_t i = 0; i < m->n; i++)
		if (ent_has_host(&m->v[i], id))
			return true;
	return false;
}

/* The ids just outside each range map to LM_IDMAP_OVERFLOW unless another
 * range holds them. */
static void check_idmap_outside(const struct lm_idmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct lm_idmap_ent *e = &m->v[i];
		uint64_t c[2] = { (uint64_t)e->cont - 1, (uint64_t)e->cont + e->len };
		uint64_t h[2] = { (uint64_t)e->host - 1, (uint64_t)e->host + e->len };

		for (size_t k = 0; k < 2; k++) {
			if (c[k] <= UINT32_MAX && !map_has_cont(m, (uint32_t)c[k]))
				FUZZ_CHECK(lm_idmap_to_host(m, (uint32_t)c[k]) ==
					   LM_IDMAP_OVERFLOW);
			if (h[k] <= UINT32_MAX && !map_has_host(m, (uint32_t)h[k]))
				FUZZ_CHECK(lm_idmap_to_cont(m, (uint32_t)h[k]) ==
					   LM_IDMAP_OVERFLOW);
		}
	}
}

static void check_idmap_table(const struct lm_idmap *m)
{
	FUZZ_CHECK(m->n > 0 && m->v != NULL);
	for (size_t i = 0; i < m->n; i++) {
		const struct lm_idmap_ent *e = &m->v[i];

		FUZZ_CHECK(e->len > 0);
		FUZZ_CHECK((uint64_t)e->cont + e->len <= (uint64_t)UINT32_MAX + 1);
		FUZZ_CHECK((uint64_t)e->host + e->len <= (uint64_t)UINT32_MAX + 1);
	}
	check_idmap_lookups(m);
	check_idmap_outside(m);
}

/* @spec is NUL-terminated; compares lm_idmap_parse with the reference. */
static void fuzz_idmap(const char *spec, size_t len)
{
	size_t max = len / 6 + 1; /* a triple takes at least 6 bytes: "0:0:1:" */
	struct lm_idmap_ent *want = calloc(max, sizeof(*want));
	struct lm_idmap m;
	size_t nwant;
	int rc;

	if (!want)
		return;
	nwant = ref_idmap(spec, want, max);
	rc = lm_idmap_parse(spec, &m);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == 0) {
		check_idmap_table(&m);
		FUZZ_CHECK(m.n == nwant);
		FUZZ_CHECK(memcmp(m.v, want, nwant * sizeof(*want)) == 0);
	} else {
		FUZZ_CHECK(m.v == NULL && m.n == 0); /* "*m is empty" */
		FUZZ_CHECK(rc == -ENOMEM || nwant == 0);
		/* An empty map is the identity. */
		FUZZ_CHECK(lm_idmap_to_host(&m, (uint32_t)len) == (uint32_t)len);
		FUZZ_CHECK(lm_idmap_to_cont(&m, (uint32_t)len) == (uint32_t)len);
	}
	lm_idmap_release(&m);
	lm_idmap_release(&m); /* documented safe twice */
	FUZZ_CHECK(m.v == NULL && m.n == 0);
	free(want);
}

/* ---- argv ------------------------------------------------------------- */

struct fuzz_argv {
	int argc;
	char *argv[FUZZ_MAX_ARGS + 2]; /* "laminafs", args, NULL */
};

static void fuzz_argv_free(struct fuzz_argv *a)
{
	for (int i = 1; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
}

static bool fuzz_argv_push(struct fuzz_argv *a, const uint8_t *p, size_t len)
{
	char *s = malloc(len + 1);

	if (!s)
		return false;
	memcpy(s, p, len);
	s[len] = '\0';
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
	return true;
}

static bool fuzz_argv_build(struct fuzz_argv *a, const uint8_t *data,
			    size_t size)
{
	static char prog[] = "laminafs";
	const uint8_t *nul = memchr(data, '\0', size);

	a->argc = 1;
	a->argv[0] = prog;
	a->argv[1] = NULL;
	if (!nul) {
		static const char o[] = "-o", mnt[] = "/mnt/merged";

		return fuzz_argv_push(a, (const uint8_t *)o, strlen(o)) &&
		       fuzz_argv_push(a, data, size) &&
		       fuzz_argv_push(a, (const uint8_t *)mnt, strlen(mnt));
	}
	for (size_t off = 0; a->argc <= FUZZ_MAX_ARGS;) {
		const uint8_t *end = memchr(data + off, '\0', size - off);
		size_t len = end ? (size_t)(end - (data + off)) : size - off;

		if (!fuzz_argv_push(a, data + off, len))
			return false;
		if (!end)
			break;
		off += len + 1;
	}
	return true;
}

/* ---- options ---------------------------------------------------------- */

static void check_opts_result(const struct lm_mount_opts *o)
{
	if (!o->help && !o->version) {
		FUZZ_CHECK(o->nlower > 0);
		FUZZ_CHECK(o->mountpoint && o->mountpoint[0] != '\0');
		FUZZ_CHECK(!o->upperdir == !o->workdir);
	}
	FUZZ_CHECK((o->nlower == 0) == (o->lowerdirs == NULL));
	for (size_t i = 0; i < o->nlower; i++)
		FUZZ_CHECK(o->lowerdirs[i] && o->lowerdirs[i][0] != '\0');
	FUZZ_CHECK(!o->upperdir || o->upperdir[0] != '\0');
	FUZZ_CHECK(!o->workdir || o->workdir[0] != '\0');
	FUZZ_CHECK(o->squash_uid >= -1 && o->squash_uid < (long)UINT32_MAX);
	FUZZ_CHECK(o->squash_gid >= -1 && o->squash_gid < (long)UINT32_MAX);
	FUZZ_CHECK(o->threads <= FUZZ_MAX_THREADS);
	FUZZ_CHECK(isfinite(o->timeout) && o->timeout >= 0);
	FUZZ_CHECK(!o->volatile_mnt || !o->fsync);
	FUZZ_CHECK(!o->debug || o->foreground);
	FUZZ_CHECK(!o->fuse_opts || (o->fuse_opts[0] != '\0' &&
				     o->fuse_opts[0] != ','));
	if (o->uidmap.n)
		check_idmap_table(&o->uidmap);
	if (o->gidmap.n)
		check_idmap_table(&o->gidmap);
}

static bool opts_zeroed(const struct lm_mount_opts *o)
{
	static const struct lm_mount_opts zero;

	return memcmp(o, &zero, sizeof(*o)) == 0;
}

/* Parses @a with its warnings captured, then again with no warn stream: the
 * two must agree, and a failure must have said why. */
static void fuzz_opts(struct fuzz_argv *a)
{
	struct lm_mount_opts o;
	char *msg = NULL;
	size_t msglen = 0;
	FILE *warn = open_memstream(&msg, &msglen);
	int rc, rc2;

	if (!warn)
		return;
	rc = lm_opts_parse(a->argc, a->argv, &o, warn);
	fclose(warn);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == 0)
		check_opts_result(&o);
	else
		FUZZ_CHECK(msglen > 0 && msg[msglen - 1] == '\n');
	FUZZ_CHECK(strlen(msg) == msglen);
	lm_opts_release(&o);
	FUZZ_CHECK(opts_zeroed(&o));
	lm_opts_release(&o); /* documented safe twice */
	free(msg);

	rc2 = lm_opts_parse(a->argc, a->argv, &o, NULL);
	FUZZ_CHECK(rc2 == rc || rc2 == -ENOMEM || rc == -ENOMEM);
	lm_opts_release(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_argv a;
	const uint8_t *nul = memchr(data, '\0', size);
	size_t speclen = nul ? (size_t)(nul - data) : size;
	char *spec = malloc(speclen + 1);

	if (spec) {
		memcpy(spec, data, speclen);
		spec[speclen] = '\0';
		fuzz_idmap(spec, speclen);
		free(spec);
	}
	if (fuzz_argv_build(&a, data, size))
		fuzz_opts(&a);
	fuzz_argv_free(&a);
	return 0;
}
