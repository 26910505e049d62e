/* The steps every imported entry goes through, whichever the source: the
 * builder's calls with one-line messages naming the entry, duplicates,
 * OCI whiteouts and opaque markers, progress and Ctrl-C. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "layer_import_int.h"

const char *imp_quote(const char *s, char *out)
{
	size_t n = 0;

	for (; *s && n < IMP_QUOTE; s++)
		out[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	if (*s) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

int imp_stopped(struct imp *im)
{
	if (!im->o->stop || !*im->o->stop)
		return 0;
	return lm_errf(im->err, -EINTR, "import interrupted: nothing was added to the store");
}

void imp_tick(struct imp *im)
{
	if (im->o->progress)
		im->o->progress(im->o->progress_arg, &im->prog);
}

/* The builder's message for @path, or what @rc means for an entry. */
static int entry_fail(struct imp *im, int rc, const char *path, const struct lm_err *inner)
{
	char q[IMP_QUOTE + 4];
	const char *why = inner->msg[0] ? inner->msg : strerror(-rc);

	imp_quote(*path ? path : ".", q);
	if (rc == -ENOTDIR)
		return lm_errf(im->err, -EINVAL,
			       "entry '%s': refused: a parent is a symlink or not a directory (an archive may not write through a link)",
			       q);
	if (rc == -EINVAL)
		return lm_errf(im->err, rc, "entry '%s': refused: %s", q, why);
	return lm_errf(im->err, rc, "entry '%s': %s", q, why);
}

/* Counts @path as added; 1 when it was there already. */
static int seen(struct imp *im, const char *path)
{
	int rc;

	if (!*path)
		return 0;
	rc = lm_strmap_put(&im->seen, path, NULL);
	if (rc < 0)
		return lm_errf(im->err, rc, "out of memory");
	im->r->duplicates += (unsigned)rc;
	return 0;
}

int imp_add(struct imp *im, const char *path, const struct lm_sealed_attr *a)
{
	struct lm_err inner = { "" };
	int rc = imp_stopped(im);

	if (rc)
		return rc;
	rc = lm_sealed_build_add(im->b, path, a, &inner);
	if (rc)
		return entry_fail(im, rc, path, &inner);
	im->prog.entries++;
	imp_tick(im);
	return seen(im, path);
}

int imp_link(struct imp *im, const char *path, const char *target)
{
	struct lm_err inner = { "" };
	char q[IMP_QUOTE + 4], qt[IMP_QUOTE + 4];
	int rc = imp_stopped(im);

	if (rc)
		return rc;
	if (!strcmp(path, target))
		return lm_errf(im->err, -EINVAL, "entry '%s': refused: a hard link to itself",
			       imp_quote(path, q));
	rc = lm_sealed_build_link(im->b, path, target, &inner);
	if (rc == -ENOENT || rc == -EPERM)
		return lm_errf(im->err, -EINVAL,
			       rc == -ENOENT ?
			       "entry '%s': refused: a hard link to '%s', which is not an earlier entry of the archive" :
			       "entry '%s': refused: a hard link to '%s', which is a directory",
			       imp_quote(path, q), imp_quote(target, qt));
	if (rc)
		return entry_fail(im, rc, path, &inner);
	im->prog.entries++;
	imp_tick(im);
	return seen(im, path);
}

int imp_xattr(struct imp *im, const char *path, const char *name, const void *val,
	      size_t len)
{
	struct lm_err inner = { "" };
	int rc = lm_sealed_build_xattr(im->b, path, name, val, len, &inner);

	return rc ? entry_fail(im, rc, path, &inner) : 0;
}

int imp_data(struct imp *im, const char *path, const void *buf, size_t len)
{
	struct lm_err inner = { "" };
	int rc = imp_stopped(im);

	if (rc)
		return rc;
	rc = lm_sealed_build_data(im->b, buf, len, &inner);
	return rc ? entry_fail(im, rc, path, &inner) : 0;
}

int imp_zeros(struct imp *im, const char *path, uint64_t n)
{
	int rc = 0;

	/* The buffer holds zeros only while zeros are fed from it. */
	memset(im->buf, 0, IMP_BUF);
	while (n && !rc) {
		size_t k = n < IMP_BUF ? (size_t)n : IMP_BUF;

		rc = imp_data(im, path, im->buf, k);
		n -= k;
	}
	return rc;
}

int imp_opaque(struct imp *im, const char *path)
{
	struct lm_err inner = { "" };
	int rc = lm_sealed_build_opaque(im->b, path, &inner);

	return rc ? entry_fail(im, rc, path, &inner) : 0;
}

int imp_whiteout(struct imp *im, const char *path)
{
	struct lm_err inner = { "" };
	int rc = lm_sealed_build_whiteout(im->b, path, &inner);

	if (rc)
		return entry_fail(im, rc, path, &inner);
	im->prog.entries++;
	return 0;
}

int imp_marker(struct imp *im, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dirlen = slash ? (size_t)(slash - path) : 0;
	char target[LM_IMPORT_PATH_MAX + 1], q[IMP_QUOTE + 4];
	int rc;

	if (strncmp(base, ".wh.", 4))
		return 0;
	memcpy(target, path, dirlen);
	target[dirlen] = '\0';
	if (!strcmp(base, ".wh..wh..opq")) {
		rc = imp_opaque(im, target);
		return rc ? rc : 1;
	}
	if (!strncmp(base, ".wh..wh.", 8)) {
		im->r->skipped++;
		return 1;
	}
	if (!base[4] || !strcmp(base + 4, ".") || !strcmp(base + 4, ".."))
		return lm_errf(im->err, -EINVAL, "entry '%s': refused: a whiteout of no name",
			       imp_quote(path, q));
	/* The whiteout's path is its marker's without ".wh.": shorter. */
	snprintf(target + dirlen, sizeof(target) - dirlen, "%s%s", dirlen ? "/" : "",
		 base + 4);
	rc = imp_whiteout(im, target);
	return rc ? rc : 1;
}

bool imp_xattr_private(const char *name)
{
	return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13);
}
