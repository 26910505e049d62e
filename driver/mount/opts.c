/* Command line and -o option parsing for laminafs.
 *
 * argv comes from containers-storage, mount.fuse3 or a person, so it is
 * treated as untrusted text: every value is checked before it is stored,
 * numbers are plain decimal, and nothing is looked up on disk here (paths
 * are kept exactly as given; the daemon resolves them). An unknown -o word
 * is a warning, not a failure, because mount(8) and container engines pass
 * words meant for other filesystems; a known word with a bad value is an
 * error, because guessing would mount something other than what was asked.
 *
 * Escaping: inside an -o argument a backslash makes the next character
 * literal, so "\," is a comma inside a value and "\:" a colon inside one
 * lowerdir path. Items are first split on unescaped commas with their
 * escapes kept, then each value is unescaped (lowerdir= after splitting on
 * unescaped colons). A comma between double quotes does not split either
 * (see opts_find_sep). Values handed on to libfuse are re-escaped the way
 * libfuse's own option splitter expects.
 */
#include "mount/opts.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LM_PROG "laminafs"
/* Layers never change under a mount, so the kernel may cache entries and
 * attributes for a long time. */
#define LM_DEFAULT_TIMEOUT 86400.0
#define LM_MAX_THREADS 1024u

__attribute__((format(printf, 2, 3)))
static void opts_say(FILE *warn, const char *fmt, ...)
{
	va_list ap;

	if (!warn)
		return;
	fputs(LM_PROG ": ", warn);
	va_start(ap, fmt);
	vfprintf(warn, fmt, ap);
	va_end(ap);
	fputc('\n', warn);
}

/* Unknown words are dropped with a warning, never a failure. */
static void opts_warn_unknown(FILE *warn, const char *what)
{
	if (warn)
		fprintf(warn, LM_PROG ": warning: unknown option '%s' ignored\n",
			what);
}

static int opts_nomem(FILE *warn)
{
	opts_say(warn, "out of memory");
	return -ENOMEM;
}

/* ---- escapes ---------------------------------------------------------- */

/* First unescaped @sep in @s, or its terminating NUL. With @quotes, a
 * separator between double quotes does not count either: containers-storage
 * writes SELinux labels as context="u:r:t:s0:c1,c2", as mount(8) does. The
 * quotes stay in the text; an unbalanced quote runs to the end of @s. */
static const char *opts_find_sep(const char *s, char sep, bool quotes)
{
	bool quoted = false;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] != '\0')
			s++;
		else if (quotes && *s == '"')
			quoted = !quoted;
		else if (*s == sep && !quoted)
			break;
	}
	return s;
}

/* Copy @len bytes of @s with backslash escapes removed; a lone trailing
 * backslash is kept. Returns a new string (caller frees) or NULL. */
static char *opts_unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t j = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		out[j++] = s[i];
	}
	out[j] = '\0';
	return out;
}

/* Append ",key[=val]" to o->fuse_opts with ',' and '\' in @val escaped for
 * libfuse's option splitter. */
static int opts_add_fuse(struct lm_mount_opts *o, const char *key,
			 const char *val)
{
	size_t old = o->fuse_opts ? strlen(o->fuse_opts) : 0;
	size_t need = old + 1 + strlen(key) + 1;
	char *buf, *p;

	if (val)
		need += 1 + 2 * strlen(val);
	buf = realloc(o->fuse_opts, need);
	if (!buf)
		return -ENOMEM;
	o->fuse_opts = buf;
	p = buf + old;
	if (old)
		*p++ = ',';
	p = stpcpy(p, key);
	if (val) {
		*p++ = '=';
		for (; *val; val++) {
			if (*val == ',' || *val == '\\')
				*p++ = '\\';
			*p++ = *val;
		}
	}
	*p = '\0';
	return 0;
}

/* ---- value checks ----------------------------------------------------- */

/* Plain decimal, no sign or spaces, at most @max. */
static int opts_parse_ulong(const char *s, unsigned long max,
			    unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (unsigned long)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*out = v;
	return 0;
}

/* DIGITS[.DIGITS] or .DIGITS, parsed without strtod so the daemon's locale
 * cannot change what "1.5" means. */
static int opts_parse_seconds(const char *s, double *out)
{
	double v = 0, scale = 1;
	bool dot = false, digit = false;

	for (; *s; s++) {
		if (*s == '.' && !dot) {
			dot = true;
		} else if (*s >= '0' && *s <= '9') {
			digit = true;
			if (dot) {
				scale /= 10;
				v += (*s - '0') * scale;
			} else {
				v = v * 10 + (*s - '0');
			}
		} else {
			return -EINVAL;
		}
	}
	if (!digit || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static int opts_parse_bool(const char *key, const char *val, bool *out,
			   FILE *warn)
{
	if (strcmp(val, "0") == 0 || strcmp(val, "1") == 0) {
		*out = val[0] == '1';
		return 0;
	}
	opts_say(warn, "invalid %s='%s' (expected 0 or 1)", key, val);
	return -EINVAL;
}

/* ---- -o handlers -------------------------------------------------------
 * Each gets the key and its value (NULL when the item had no '='; already
 * unescaped unless the table marks it raw). Returns 0 or -errno after one
 * line on @warn. */

typedef int (*lm_opt_set_fn)(struct lm_mount_opts *o, const char *key,
			     const char *val, FILE *warn);

static void opts_free_lowerdirs(struct lm_mount_opts *o)
{
	for (size_t i = 0; i < o->nlower; i++)
		free(o->lowerdirs[i]);
	free(o->lowerdirs);
	o->lowerdirs = NULL;
	o->nlower = 0;
}

/* "sealed:PATH" was split in two at its ':': joins every item "sealed"
 * with the one after it, in place. Returns the new count, 0 when the list
 * ends in "sealed" (then every string is still in @dirs, NULL ended). */
static size_t join_sealed(char **dirs, size_t n)
{
	size_t i, j = 0;

	for (i = 0; i < n; i++, j++) {
		if (strcmp(dirs[i], "sealed") == 0) {
			char *s;

			if (i + 1 == n || asprintf(&s, "sealed:%s", dirs[i + 1]) < 0)
				return 0;
			free(dirs[i]);
			free(dirs[i + 1]);
			dirs[i + 1] = NULL;
			dirs[j] = s;
			i++;
		} else {
			dirs[j] = dirs[i];
			if (i != j)
				dirs[i] = NULL;
		}
	}
	for (i = j; i < n; i++)
		dirs[i] = NULL;
	return j;
}

/* @val is raw: split on unescaped ':' first, then unescape each path. A
 * later lowerdir= replaces an earlier one. */
static int set_lowerdir(struct lm_mount_opts *o, const char *key,
			const char *val, FILE *warn)
{
	size_t n = 1, i = 0;
	const char *p, *end;
	char **dirs;
	int rc;

	(void)key;
	for (p = val; *(p = opts_find_sep(p, ':', false)); p++)
		n++;
	dirs = calloc(n + 1, sizeof(*dirs));
	if (!dirs)
		return opts_nomem(warn);
	for (p = val; i < n; p = end + 1, i++) {
		end = opts_find_sep(p, ':', false);
		if (end == p) {
			opts_say(warn, "empty path in lowerdir=");
			rc = -EINVAL;
			goto out_free;
		}
		dirs[i] = opts_unescape(p, (size_t)(end - p));
		if (!dirs[i]) {
			rc = opts_nomem(warn);
			goto out_free;
		}
	}
	i = n;
	n = join_sealed(dirs, n);
	if (!n) {
		n = i;
		opts_say(warn, "lowerdir= ends in 'sealed' without the layer after it");
		rc = -EINVAL;
		goto out_free;
	}
	opts_free_lowerdirs(o);
	o->lowerdirs = dirs;
	o->nlower = n;
	return 0;

out_free:
	for (i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	return rc;
}

static int opts_set_path(char **field, const char *key, const char *val,
			 FILE *warn)
{
	char *copy;

	if (*val == '\0') {
		opts_say(warn, "%s= needs a path", key);
		return -EINVAL;
	}
	copy = strdup(val);
	if (!copy)
		return opts_nomem(warn);
	free(*field);
	*field = copy;
	return 0;
}

static int set_upperdir(struct lm_mount_opts *o, const char *key,
			const char *val, FILE *warn)
{
	return opts_set_path(&o->upperdir, key, val, warn);
}

static int set_workdir(struct lm_mount_opts *o, const char *key,
		       const char *val, FILE *warn)
{
	return opts_set_path(&o->workdir, key, val, warn);
}

/* A later mapping replaces an earlier one; a bad one leaves it in place. */
static int opts_set_idmap(struct lm_idmap *m, const char *key,
			  const char *val, FILE *warn)
{
	struct lm_idmap tmp;
	int rc = lm_idmap_parse(val, &tmp);

	if (rc == -ENOMEM)
		return opts_nomem(warn);
	if (rc < 0) {
		opts_say(warn, "invalid %s='%s' (expected C:H:LEN[:C:H:LEN...])",
			 key, val);
		return rc;
	}
	lm_idmap_release(m);
	*m = tmp;
	return 0;
}

static int set_uidmapping(struct lm_mount_opts *o, const char *key,
			  const char *val, FILE *warn)
{
	return opts_set_idmap(&o->uidmap, key, val, warn);
}

static int set_gidmapping(struct lm_mount_opts *o, const char *key,
			  const char *val, FILE *warn)
{
	return opts_set_idmap(&o->gidmap, key, val, warn);
}

/* An id is 0 .. 2^32-2: (uid_t)-1 means "no change" to chown. */
static int opts_set_id(long *field, const char *key, const char *val,
		       FILE *warn)
{
	unsigned long v;

	if (opts_parse_ulong(val, UINT32_MAX - 1ul, &v) < 0) {
		opts_say(warn, "invalid %s='%s' (expected a uid/gid)", key, val);
		return -EINVAL;
	}
	*field = (long)v;
	return 0;
}

static int set_squash_uid(struct lm_mount_opts *o, const char *key,
			  const char *val, FILE *warn)
{
	return opts_set_id(&o->squash_uid, key, val, warn);
}

static int set_squash_gid(struct lm_mount_opts *o, const char *key,
			  const char *val, FILE *warn)
{
	return opts_set_id(&o->squash_gid, key, val, warn);
}

static int set_squash_root(struct lm_mount_opts *o, const char *key,
			   const char *val, FILE *warn)
{
	(void)key, (void)val, (void)warn;
	o->squash_to_root = true;
	return 0;
}

static int set_static_nlink(struct lm_mount_opts *o, const char *key,
			    const char *val, FILE *warn)
{
	(void)key, (void)val, (void)warn;
	o->static_nlink = true;
	return 0;
}

static int set_noxattrs(struct lm_mount_opts *o, const char *key,
			const char *val, FILE *warn)
{
	if (!val) {
		o->noxattrs = true;
		return 0;
	}
	return opts_parse_bool(key, val, &o->noxattrs, warn);
}

static int set_fsync(struct lm_mount_opts *o, const char *key,
		     const char *val, FILE *warn)
{
	return opts_parse_bool(key, val, &o->fsync, warn);
}

static int set_writeback(struct lm_mount_opts *o, const char *key,
			 const char *val, FILE *warn)
{
	return opts_parse_bool(key, val, &o->writeback, warn);
}

static int set_uring(struct lm_mount_opts *o, const char *key,
		     const char *val, FILE *warn)
{
	o->uring_set = true;
	return opts_parse_bool(key, val, &o->uring, warn);
}

static int set_volatile(struct lm_mount_opts *o, const char *key,
			const char *val, FILE *warn)
{
	(void)key, (void)val, (void)warn;
	o->volatile_mnt = true;
	return 0;
}

static int set_timeout(struct lm_mount_opts *o, const char *key,
		       const char *val, FILE *warn)
{
	if (opts_parse_seconds(val, &o->timeout) < 0) {
		opts_say(warn, "invalid %s='%s' (expected seconds)", key, val);
		return -EINVAL;
	}
	return 0;
}

static int set_tenant(struct lm_mount_opts *o, const char *key,
		      const char *val, FILE *warn)
{
	return opts_set_path(&o->tenant, key, val, warn);
}

static int set_store(struct lm_mount_opts *o, const char *key,
		     const char *val, FILE *warn)
{
	return opts_set_path(&o->store, key, val, warn);
}

static int set_keyfile(struct lm_mount_opts *o, const char *key,
		       const char *val, FILE *warn)
{
	return opts_set_path(strcmp(key, "keyfile") ? &o->passfile : &o->keyfile, key, val, warn);
}

static int set_secretfd(struct lm_mount_opts *o, const char *key,
			const char *val, FILE *warn)
{
	unsigned long v;

	if (opts_parse_ulong(val, 1u << 20, &v) < 0 || v < 3) {
		opts_say(warn, "invalid %s='%s' (expected an open descriptor >= 3)", key, val);
		return -EINVAL;
	}
	*(strcmp(key, "keyfd") ? &o->passfd : &o->keyfd) = (int)v;
	return 0;
}

static int set_cipher(struct lm_mount_opts *o, const char *key,
		      const char *val, FILE *warn)
{
	if (!strcmp(val, "xchacha20poly1305") || !strcmp(val, "xchacha20-poly1305"))
		o->cipher = 1;
	else if (!strcmp(val, "aes256gcm") || !strcmp(val, "aes-256-gcm"))
		o->cipher = 2;
	else {
		opts_say(warn, "invalid %s='%s' (expected xchacha20poly1305 or aes256gcm)", key, val);
		return -EINVAL;
	}
	return 0;
}

static int set_threads(struct lm_mount_opts *o, const char *key,
		       const char *val, FILE *warn)
{
	unsigned long v;

	if (opts_parse_ulong(val, LM_MAX_THREADS, &v) < 0) {
		opts_say(warn, "invalid %s='%s' (expected 0..%u)", key, val,
			 LM_MAX_THREADS);
		return -EINVAL;
	}
	o->threads = (unsigned)v;
	return 0;
}

/* cache_size=N[K|M|G] */
static int set_cache_size(struct lm_mount_opts *o, const char *key,
			  const char *val, FILE *warn)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	errno = 0;
	v = strtoull(val, &end, 10);
	if (*end == 'K' || *end == 'k')
		shift = 10, end++;
	else if (*end == 'M' || *end == 'm')
		shift = 20, end++;
	else if (*end == 'G' || *end == 'g')
		shift = 30, end++;
	if (errno || end == val || *end || !isdigit((unsigned char)val[0]) ||
	    v > (SIZE_MAX >> shift) || v > (1ull << 48) >> shift) {
		opts_say(warn, "invalid %s='%s' (expected bytes, with K, M or G)", key, val);
		return -EINVAL;
	}
	o->cache_size = (size_t)(v << shift);
	return 0;
}

static int set_io(struct lm_mount_opts *o, const char *key,
		  const char *val, FILE *warn)
{
	static const char *const ok[] = { "auto", "uring", "shared", "pread" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(val, ok[i]) == 0) {
			free(o->io);
			o->io = strdup(val);
			return o->io ? 0 : opts_nomem(warn);
		}
	opts_say(warn, "invalid %s='%s' (expected auto, uring, shared or pread)", key, val);
	return -EINVAL;
}

/* readahead=KIB */
static int set_readahead(struct lm_mount_opts *o, const char *key,
			 const char *val, FILE *warn)
{
	unsigned long v;

	if (opts_parse_ulong(val, 1u << 20, &v) < 0) {
		opts_say(warn, "invalid %s='%s' (expected KiB, 0..1048576)", key, val);
		return -EINVAL;
	}
	o->readahead_kb = (long)v;
	return 0;
}

static int set_odirect(struct lm_mount_opts *o, const char *key,
		       const char *val, FILE *warn)
{
	if (!val) {
		o->odirect = true;
		return 0;
	}
	return opts_parse_bool(key, val, &o->odirect, warn);
}

static int set_debug(struct lm_mount_opts *o, const char *key,
		     const char *val, FILE *warn)
{
	(void)key, (void)val, (void)warn;
	o->debug = true;
	o->foreground = true;
	return 0;
}

/* Words for the kernel or libfuse: collected for fuse_session_new. */
static int set_fuse(struct lm_mount_opts *o, const char *key,
		    const char *val, FILE *warn)
{
	if (opts_add_fuse(o, key, val) < 0)
		return opts_nomem(warn);
	return 0;
}

static int set_ro(struct lm_mount_opts *o, const char *key, const char *val,
		  FILE *warn)
{
	o->ro = strcmp(key, "ro") == 0;
	return set_fuse(o, key, val, warn);
}

/* fstab and mount(8) words that mount.fuse3 may hand on, and atime words
 * libfuse 3.14's fuse_session_new rejects ("unknown option"); FUSE mounts
 * get relatime semantics from the kernel anyway. Accepted and dropped. */
static int set_ignore(struct lm_mount_opts *o, const char *key,
		      const char *val, FILE *warn)
{
	(void)o, (void)key, (void)val, (void)warn;
	return 0;
}

enum lm_optarg {
	LM_ARG_NONE, /* "word" only */
	LM_ARG_REQ,  /* "word=value" only */
	LM_ARG_OPT,  /* either */
};

struct lm_optdef {
	const char *name;
	enum lm_optarg arg;
	bool raw; /* the handler gets the value with its escapes */
	lm_opt_set_fn set;
};

static const struct lm_optdef lm_optdefs[] = {
	{ "lowerdir", LM_ARG_REQ, true, set_lowerdir },
	{ "upperdir", LM_ARG_REQ, false, set_upperdir },
	{ "workdir", LM_ARG_REQ, false, set_workdir },
	{ "uidmapping", LM_ARG_REQ, false, set_uidmapping },
	{ "gidmapping", LM_ARG_REQ, false, set_gidmapping },
	{ "squash_to_root", LM_ARG_NONE, false, set_squash_root },
	{ "squash_to_uid", LM_ARG_REQ, false, set_squash_uid },
	{ "squash_to_gid", LM_ARG_REQ, false, set_squash_gid },
	{ "static_nlink", LM_ARG_NONE, false, set_static_nlink },
	{ "noxattrs", LM_ARG_OPT, false, set_noxattrs },
	{ "fsync", LM_ARG_REQ, false, set_fsync },
	{ "volatile", LM_ARG_NONE, false, set_volatile },
	{ "writeback", LM_ARG_REQ, false, set_writeback },
	{ "uring", LM_ARG_REQ, false, set_uring },
	{ "timeout", LM_ARG_REQ, false, set_timeout },
	{ "tenant", LM_ARG_REQ, false, set_tenant },
	{ "store", LM_ARG_REQ, false, set_store },
	{ "keyfile", LM_ARG_REQ, false, set_keyfile },
	{ "passfile", LM_ARG_REQ, false, set_keyfile },
	{ "keyfd", LM_ARG_REQ, false, set_secretfd },
	{ "passfd", LM_ARG_REQ, false, set_secretfd },
	{ "cipher", LM_ARG_REQ, false, set_cipher },
	{ "threads", LM_ARG_REQ, false, set_threads },
	{ "cache_size", LM_ARG_REQ, false, set_cache_size },
	{ "io", LM_ARG_REQ, false, set_io },
	{ "odirect", LM_ARG_OPT, false, set_odirect },
	{ "readahead", LM_ARG_REQ, false, set_readahead },
	{ "debug", LM_ARG_NONE, false, set_debug },
	{ "ro", LM_ARG_NONE, false, set_ro },
	{ "rw", LM_ARG_NONE, false, set_ro },
	{ "allow_other", LM_ARG_NONE, false, set_fuse },
	{ "allow_root", LM_ARG_NONE, false, set_fuse },
	{ "default_permissions", LM_ARG_NONE, false, set_fuse },
	{ "auto_unmount", LM_ARG_NONE, false, set_fuse },
	{ "fsname", LM_ARG_REQ, false, set_fuse },
	{ "subtype", LM_ARG_REQ, false, set_fuse },
	{ "max_read", LM_ARG_REQ, false, set_fuse },
	{ "suid", LM_ARG_NONE, false, set_fuse },
	{ "nosuid", LM_ARG_NONE, false, set_fuse },
	{ "dev", LM_ARG_NONE, false, set_fuse },
	{ "nodev", LM_ARG_NONE, false, set_fuse },
	{ "exec", LM_ARG_NONE, false, set_fuse },
	{ "noexec", LM_ARG_NONE, false, set_fuse },
	{ "async", LM_ARG_NONE, false, set_fuse },
	{ "sync", LM_ARG_NONE, false, set_fuse },
	{ "dirsync", LM_ARG_NONE, false, set_fuse },
	{ "atime", LM_ARG_NONE, false, set_fuse },
	{ "noatime", LM_ARG_NONE, false, set_fuse },
	{ "context", LM_ARG_REQ, false, set_fuse },
	{ "fscontext", LM_ARG_REQ, false, set_fuse },
	{ "defcontext", LM_ARG_REQ, false, set_fuse },
	{ "rootcontext", LM_ARG_REQ, false, set_fuse },
	{ "nodiratime", LM_ARG_NONE, false, set_ignore },
	{ "relatime", LM_ARG_NONE, false, set_ignore },
	{ "strictatime", LM_ARG_NONE, false, set_ignore },
	{ "lazytime", LM_ARG_NONE, false, set_ignore },
	{ "defaults", LM_ARG_NONE, false, set_ignore },
	{ "user", LM_ARG_NONE, false, set_ignore },
	{ "nouser", LM_ARG_NONE, false, set_ignore },
	{ "users", LM_ARG_NONE, false, set_ignore },
	{ "auto", LM_ARG_NONE, false, set_ignore },
	{ "noauto", LM_ARG_NONE, false, set_ignore },
	{ "_netdev", LM_ARG_NONE, false, set_ignore },
	{ "nofail", LM_ARG_NONE, false, set_ignore },
};

static const struct lm_optdef *opts_lookup(const char *key)
{
	for (size_t i = 0; i < sizeof(lm_optdefs) / sizeof(lm_optdefs[0]); i++)
		if (strcmp(lm_optdefs[i].name, key) == 0)
			return &lm_optdefs[i];
	return NULL;
}

/* ---- items and -o arguments ------------------------------------------- */

/* Check the item's shape against @d and call its handler. @item is the raw
 * item (for messages), @val points into it (NULL: no '='). */
static int opts_apply(struct lm_mount_opts *o, const struct lm_optdef *d,
		      const char *item, const char *val, FILE *warn)
{
	char *plain;
	int rc;

	if (d->arg == LM_ARG_NONE && val) {
		opts_say(warn, "option '%s' takes no value", item);
		return -EINVAL;
	}
	if (d->arg == LM_ARG_REQ && !val) {
		opts_say(warn, "option '%s' needs a value (%s=...)", item, item);
		return -EINVAL;
	}
	if (!val || d->raw)
		return d->set(o, d->name, val, warn);
	plain = opts_unescape(val, strlen(val));
	if (!plain)
		return opts_nomem(warn);
	rc = d->set(o, d->name, plain, warn);
	free(plain);
	return rc;
}

/* One comma-free item, escapes still in. Takes a private copy because the
 * key is cut off at the first '='. */
static int opts_item(struct lm_mount_opts *o, const char *raw, size_t len,
		     FILE *warn)
{
	const struct lm_optdef *d;
	char *item, *eq, *val = NULL;
	int rc = 0;

	item = strndup(raw, len);
	if (!item)
		return opts_nomem(warn);
	if (strncmp(item, "x-", 2) == 0)
		goto out; /* fstab-only (x-systemd.*, x-gvfs-*, ...) */
	eq = strchr(item, '=');
	if (eq) {
		*eq = '\0';
		val = eq + 1;
	}
	d = opts_lookup(item);
	if (!d) {
		if (eq)
			*eq = '=';
		opts_warn_unknown(warn, item);
		goto out;
	}
	rc = opts_apply(o, d, item, val, warn);
out:
	free(item);
	return rc;
}

/* One -o argument: items split on unescaped commas; empty items skipped. */
static int opts_optstr(struct lm_mount_opts *o, const char *s, FILE *warn)
{
	const char *end;
	int rc;

	for (;; s = end + 1) {
		end = opts_find_sep(s, ',', true);
		if (end != s) {
			rc = opts_item(o, s, (size_t)(end - s), warn);
			if (rc < 0)
				return rc;
		}
		if (*end == '\0')
			return 0;
	}
}

/* ---- argv ------------------------------------------------------------- */

/* A dash argument other than -o and --. */
static int opts_flag(struct lm_mount_opts *o, const char *a, FILE *warn)
{
	if (strcmp(a, "-f") == 0) {
		o->foreground = true;
	} else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0) {
		o->debug = true;
		o->foreground = true;
	} else if (strcmp(a, "-s") == 0) {
		o->threads = 1; /* libfuse's single-threaded flag */
	} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		o->help = true;
	} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
		o->version = true;
	} else {
		opts_warn_unknown(warn, a);
	}
	return 0;
}

static void opts_defaults(struct lm_mount_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->squash_uid = -1;
	o->squash_gid = -1;
	o->fsync = true;
	o->uring = true;
	o->timeout = LM_DEFAULT_TIMEOUT;
	o->keyfd = -1;
	o->cache_size = LM_CACHE_DEFAULT;
	o->readahead_kb = -1;
	o->passfd = -1;
}

/* One positional goes to the mountpoint, two are SOURCE MOUNTPOINT. */
static int opts_positionals(struct lm_mount_opts *o, const char *const *pos,
			    size_t npos, FILE *warn)
{
	const char *mnt = npos ? pos[npos - 1] : NULL;

	if (npos == 2) {
		o->source = strdup(pos[0]);
		if (!o->source)
			return opts_nomem(warn);
	}
	if (mnt) {
		o->mountpoint = strdup(mnt);
		if (!o->mountpoint)
			return opts_nomem(warn);
	}
	return 0;
}

bool lm_opts_has_sealed(const struct lm_mount_opts *o)
{
	for (size_t i = 0; i < o->nlower; i++)
		if (lm_opts_is_sealed(o->lowerdirs[i]))
			return true;
	return false;
}

static int opts_validate(const struct lm_mount_opts *o, FILE *warn)
{
	if (o->help || o->version)
		return 0;
	/* A vault alone (a data volume) needs no lower and keeps its own
	 * work directory. */
	bool volume = o->tenant && o->upperdir && o->nlower == 0;

	if (o->nlower == 0 && !volume) {
		opts_say(warn, o->upperdir ? "lowerdir= is required (or tenant= for a volume)" :
			 "lowerdir= is required");
		return -EINVAL;
	}
	if (!o->upperdir != !o->workdir && !(volume && !o->workdir)) {
		opts_say(warn, "upperdir= and workdir= must be given together");
		return -EINVAL;
	}
	if (o->tenant && !o->upperdir && !lm_opts_has_sealed(o)) {
		opts_say(warn, "tenant= encrypts the upper layer: upperdir= is missing");
		return -EINVAL;
	}
	if (!o->tenant && (o->keyfile || o->passfile || o->keyfd >= 0 || o->passfd >= 0)) {
		opts_say(warn, "a key or passphrase was given without tenant=");
		return -EINVAL;
	}
	if (o->tenant && !!o->keyfile + !!o->passfile + (o->keyfd >= 0) + (o->passfd >= 0) != 1) {
		opts_say(warn, "tenant= needs exactly one of keyfile=, passfile=, keyfd=, passfd=");
		return -EINVAL;
	}
	if (!o->mountpoint || o->mountpoint[0] == '\0') {
		opts_say(warn, "mountpoint is missing");
		return -EINVAL;
	}
	return 0;
}

/* Strings in *o are copies; argv is only borrowed for the call. "--" ends
 * the options; a lone "-" is a positional. */
int lm_opts_parse(int argc, char **argv, struct lm_mount_opts *o, FILE *warn)
{
	const char *pos[2];
	size_t npos = 0;
	bool only_pos = false;
	int rc;

	opts_defaults(o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		rc = 0;
		if (only_pos || a[0] != '-' || a[1] == '\0') {
			if (npos == 2) {
				opts_say(warn, "too many arguments: '%s'", a);
				return -EINVAL;
			}
			pos[npos++] = a;
		} else if (strcmp(a, "--") == 0) {
			only_pos = true;
		} else if (strncmp(a, "-o", 2) == 0) {
			if (a[2] == '\0' && i + 1 >= argc) {
				opts_say(warn, "option '-o' needs an argument");
				return -EINVAL;
			}
			rc = opts_optstr(o, a[2] ? a + 2 : argv[++i], warn);
		} else {
			rc = opts_flag(o, a, warn);
		}
		if (rc < 0)
			return rc;
	}
	if (o->volatile_mnt)
		o->fsync = false; /* volatile wins over any fsync=1 */
	rc = opts_positionals(o, pos, npos, warn);
	if (rc < 0)
		return rc;
	return opts_validate(o, warn);
}

/* Frees everything *o owns and zeroes it; safe to call twice. */
void lm_opts_release(struct lm_mount_opts *o)
{
	opts_free_lowerdirs(o);
	free(o->io);
	free(o->upperdir);
	free(o->workdir);
	free(o->mountpoint);
	free(o->source);
	free(o->tenant);
	free(o->store);
	free(o->keyfile);
	free(o->passfile);
	free(o->fuse_opts);
	lm_idmap_release(&o->uidmap);
	lm_idmap_release(&o->gidmap);
	memset(o, 0, sizeof(*o));
}

static const char lm_usage_text[] =
"Mounts LOWERDIR layers (and an optional writable UPPERDIR) as one tree.\n"
"\n"
"General options:\n"
"  -o OPTS[,OPTS...]        mount options (repeatable; '\\' escapes ',' ':')\n"
"  -f                       stay in the foreground\n"
"  -d, -o debug             print FUSE requests; implies -f\n"
"  -s                       single-threaded (same as -o threads=1)\n"
"  -h, --help               print this help and exit\n"
"  -V, --version            print the version and exit\n"
"\n"
"Overlay options:\n"
"  lowerdir=L1[:L2...]      read-only layers, leftmost on top (required); a\n"
"                           layer is a directory, or sealed:FILE or\n"
"                           sealed:DIGEST (a sealed layer of the store)\n"
"  upperdir=DIR             writable layer; needs workdir=\n"
"  workdir=DIR              scratch directory on the upperdir's filesystem\n"
"  tenant=NAME              encrypt the upper layer with NAME's keys (a vault;\n"
"                           made on first mount); without lowerdir= the upper\n"
"                           alone is mounted (a data volume); also opens\n"
"                           NAME's encrypted sealed layers\n"
"  store=DIR                lamina store holding the tenant's keys\n"
"                           (default: $LAMINA_STORE or /var/lib/lamina)\n"
"  keyfile=FILE|passfile=FILE  the tenant secret: a 32-byte key file or a\n"
"                           passphrase file (mode 0600 or stricter)\n"
"  keyfd=N|passfd=N         the same, read from inherited descriptor N\n"
"  cipher=xchacha20poly1305|aes256gcm  cipher of a new vault\n"
"  uidmapping=C:H:LEN[:...] map container uids to host uids\n"
"  gidmapping=C:H:LEN[:...] map container gids to host gids\n"
"  squash_to_root           show every file as owned by root\n"
"  squash_to_uid=N          show every file as owned by uid N\n"
"  squash_to_gid=N          show every file as owned by gid N\n"
"  static_nlink             report st_nlink 1 for directories\n"
"  noxattrs[=0|1]           do not expose extended attributes\n"
"  fsync=0|1                0: fsync requests become no-ops (default 1)\n"
"  volatile                 never fsync, not even during copy-up\n"
"  writeback=0|1            use the kernel writeback cache (default 0)\n"
"  timeout=SECONDS          entry/attribute cache timeout (default 86400)\n"
"  threads=N                worker threads, 0 = default (two per CPU;\n"
"                           four per CPU without an upperdir; at most 16)\n"
"  uring=0|1                serve requests from per-CPU io_uring queues, eight\n"
"                           threads a CPU, when the kernel offers them\n"
"                           (fuse.enable_uring=Y); default 1, or 0 on a\n"
"                           mount with sealed layers\n"
"  ro, rw                   mount read-only / read-write\n"
"\n"
"Sealed layer options:\n"
"  cache_size=N[K|M|G]      opened chunks kept in memory (default 64M)\n"
"  io=auto|uring|shared|pread  how layer files are read: io_uring with a\n"
"                           ring per thread, one shared ring, or pread\n"
"                           (default auto: io_uring where allowed;\n"
"                           LAMINA_IO sets the same)\n"
"  odirect[=0|1]            read layer files with O_DIRECT so the host does\n"
"                           not cache them beside the daemon's cache\n"
"  readahead=KIB            the kernel's read-ahead on the mount (root only;\n"
"                           default 4096 with sealed layers, else the kernel's)\n"
"\n"
"Passed to FUSE and the kernel:\n"
"  allow_other              let other users access the mount\n"
"  allow_root               let root access the mount\n"
"  default_permissions      let the kernel check permissions\n"
"  auto_unmount             unmount when the daemon exits\n"
"  fsname=NAME              source name shown in /proc/mounts\n"
"  subtype=NAME             filesystem subtype shown in /proc/mounts\n"
"  max_read=N               largest read request in bytes\n"
"  suid, nosuid, dev, nodev, exec, noexec, async, sync, dirsync,\n"
"  atime, noatime           the usual mount flags\n"
"  context=, fscontext=, defcontext=, rootcontext=   SELinux labels\n"
"\n"
"Accepted and ignored (fstab words): nodiratime, relatime, strictatime,\n"
"  lazytime, defaults, user, nouser, users, auto, noauto, _netdev, nofail,\n"
"  x-*. Any other option prints a warning and is ignored.\n";

void lm_opts_usage(FILE *out, const char *prog)
{
	fprintf(out, "usage: %s [SOURCE] MOUNTPOINT -o lowerdir=DIRS[,OPTS] "
		"[-f] [-d]\n\n", prog ? prog : LM_PROG);
	fputs(lm_usage_text, out);
}
