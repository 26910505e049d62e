/* lamina layer export: a layer written back as an OCI layer tarball (pax
 * format, through libarchive). Every entry keeps its mode, owner, mtime
 * with nanoseconds, xattrs (pax SCHILY.xattr and LIBARCHIVE.xattr),
 * symlink target and device numbers; the second and later names of an
 * inode are hard-link entries; whiteouts are empty ".wh.NAME" files and an
 * opaque directory is followed by its ".wh..wh..opq". The layer file is
 * read with pread and every chunk checked as it is opened (the hash, or
 * the box of an encrypted layer), so a damaged layer stops the export. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fileio.h"
#include "layer.h"
#include "progress.h"

static const char export_usage[] =
	"Usage: lamina layer export DIGEST [-o FILE] [OPTIONS]\n"
	"\n"
	"Writes the layer as an OCI layer tarball (pax) to standard output, which must\n"
	"not be a terminal, or to FILE (written whole, then renamed into place). Modes,\n"
	"owners, times, xattrs, hard links, devices, whiteouts (.wh.NAME) and opaque\n"
	"directories (.wh..wh..opq) are kept; sockets, which a tarball cannot hold, are\n"
	"left out with a warning. An encrypted layer needs its tenant's secret.\n"
	"\n"
	"  -o, --output FILE       the tarball to write\n"
	"  --tenant T              the layer's tenant (default: the one it names)\n"
	LAYER_SECRET_HELP;

/* Paths in the tarball: a layer's are at most this long. */
#define EXPORT_PATH_MAX 4096u

struct exporter {
	const struct lm_sealed_file *f;
	const struct lm_sealed_keys *keys;
	const struct lm_sealed_meta *m;
	struct archive *a;
	char **first;                 /* per inode: its first path (owned) */
	unsigned char *stored, *plain, *scratch;
	uint64_t skipped, done, total;
	struct lm_progress pr;
	char path[EXPORT_PATH_MAX + 32];
};

static int arc_fail(struct exporter *x, const char *what)
{
	const char *s = archive_error_string(x->a);

	lm_progress_end(&x->pr);
	lm_cli_error("export of layer %.12s: %s: %s", x->f->hex, what, s ? s : "write error");
	return LM_EXIT_FAIL;
}

static void entry_attrs(struct archive_entry *e, const struct lm_sealed_ino *ino)
{
	archive_entry_set_mode(e, (mode_t)ino->mode);
	archive_entry_set_uid(e, ino->uid);
	archive_entry_set_gid(e, ino->gid);
	archive_entry_set_mtime(e, (time_t)ino->mtime, (long)ino->mtime_ns);
	if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) {
		archive_entry_set_rdevmajor(e, major(ino->rdev));
		archive_entry_set_rdevminor(e, minor(ino->rdev));
	}
}

static void entry_xattrs(struct exporter *x, struct archive_entry *e, uint32_t i,
			 const struct lm_sealed_ino *ino)
{
	char name[256];
	const char *n;
	const void *val;
	size_t nlen, vlen;

	for (uint32_t k = 0; k < ino->xattr_count; k++) {
		lm_sealed_meta_xattr(x->m, i, k, &n, &nlen, &val, &vlen);
		/* The decoder checked 1..255 bytes. */
		nlen = nlen < sizeof(name) ? nlen : sizeof(name) - 1;
		memcpy(name, n, nlen);
		name[nlen] = '\0';
		archive_entry_xattr_add_entry(e, name, val, vlen);
	}
}

/* Writes the data of regular file @i (@ino), chunk by chunk. */
static int file_data(struct exporter *x, uint32_t i, const struct lm_sealed_ino *ino)
{
	const struct lm_sealed_sb *sb = &x->f->sb;
	size_t csize = (size_t)1 << sb->chunk_shift;
	uint64_t left = ino->size;
	int rc;

	for (uint32_t n = 0; n < ino->count && left; n++) {
		uint32_t ref = lm_sealed_meta_ref(x->m, i, n);
		size_t len = left < csize ? (size_t)left : csize;
		struct lm_sealed_chunk c;

		if (ref == LM_SEALED_HOLE) {
			memset(x->plain, 0, len);
		} else {
			lm_sealed_meta_chunk(x->m, ref, &c);
			rc = lm_sealed_file_pread(x->f, x->stored, c.stored_len, c.offset);
			if (!rc)
				rc = lm_sealed_chunk_open(sb, x->keys, &c, ref, x->stored, x->plain,
							  x->scratch);
			if (!rc && c.plain_len != len)
				rc = -EUCLEAN;
			if (rc) {
				lm_progress_end(&x->pr);
				lm_cli_error("layer %.12s: chunk %u of %s does not verify (%s): run lamina layer verify",
					     x->f->hex, (unsigned)ref, x->path, strerror(-rc));
				return LM_EXIT_INTEGRITY;
			}
		}
		if (archive_write_data(x->a, x->plain, len) != (la_ssize_t)len)
			return arc_fail(x, x->path);
		left -= len;
		x->done += len;
		lm_progress_show(&x->pr, x->done, x->total, 0, NULL);
	}
	return 0;
}

/* One empty marker file: a whiteout or an opaque directory's marker. */
static int marker(struct exporter *x, size_t plen, const char *prefix, const char *name,
		  size_t nlen)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	if (!e)
		return lm_cli_fail(-ENOMEM, NULL);
	snprintf(x->path + plen, sizeof(x->path) - plen, "%s%s%.*s", plen ? "/" : "", prefix,
		 (int)nlen, name);
	archive_entry_set_pathname(e, x->path);
	archive_entry_set_mode(e, S_IFREG | 0644);
	archive_entry_set_size(e, 0);
	if (archive_write_header(x->a, e) != ARCHIVE_OK)
		rc = arc_fail(x, x->path);
	archive_entry_free(e);
	x->path[plen] = '\0';
	return rc;
}

static int walk(struct exporter *x, uint32_t dir, size_t plen);

/* Writes inode @i at x->path (@plen bytes); a directory's tree follows. */
static int entry(struct exporter *x, uint32_t i, size_t plen)
{
	struct archive_entry *e;
	struct lm_sealed_ino ino;
	size_t tlen;
	const char *target;
	char link[EXPORT_PATH_MAX];
	int rc = 0;

	lm_sealed_meta_ino(x->m, i, &ino);
	if (S_ISSOCK(ino.mode)) {
		x->skipped++;
		return 0;
	}
	e = archive_entry_new();
	if (!e)
		return lm_cli_fail(-ENOMEM, NULL);
	archive_entry_set_pathname(e, plen ? x->path : ".");
	entry_attrs(e, &ino);
	if (!S_ISDIR(ino.mode) && ino.nlink > 1 && x->first[i]) {
		archive_entry_set_hardlink(e, x->first[i]);
		archive_entry_set_size(e, 0);
	} else {
		if (!S_ISDIR(ino.mode) && ino.nlink > 1 && !(x->first[i] = strdup(x->path)))
			rc = lm_cli_fail(-ENOMEM, NULL);
		if (S_ISLNK(ino.mode) && (target = lm_sealed_meta_link(x->m, i, &tlen))) {
			snprintf(link, sizeof(link), "%.*s", (int)tlen, target);
			archive_entry_set_symlink(e, link);
		}
		archive_entry_set_size(e, S_ISREG(ino.mode) ? (la_int64_t)ino.size : 0);
		entry_xattrs(x, e, i, &ino);
	}
	if (!rc && archive_write_header(x->a, e) < ARCHIVE_WARN)
		rc = arc_fail(x, plen ? x->path : ".");
	if (!rc && S_ISREG(ino.mode) && !archive_entry_hardlink(e))
		rc = file_data(x, i, &ino);
	archive_entry_free(e);
	if (!rc && S_ISDIR(ino.mode) && (ino.flags & LM_SEALED_IF_OPAQUE))
		rc = marker(x, plen, ".wh..wh..opq", "", 0);
	if (!rc && S_ISDIR(ino.mode))
		rc = walk(x, i, plen);
	return rc;
}

/* Every entry of directory @dir, whose path is x->path (@plen bytes). */
static int walk(struct exporter *x, uint32_t dir, size_t plen)
{
	struct lm_sealed_ino ino;
	int rc = 0;

	lm_sealed_meta_ino(x->m, dir, &ino);
	for (uint32_t k = 0; k < ino.count && !rc; k++) {
		struct lm_sealed_ent d;
		size_t at = plen ? plen + 1 : 0;

		lm_sealed_meta_dirent(x->m, dir, k, &d);
		if (at + d.name_len > EXPORT_PATH_MAX) {
			lm_cli_error("layer %.12s: a path under %s is longer than %u bytes: a tarball cannot hold it",
				     x->f->hex, plen ? x->path : ".", EXPORT_PATH_MAX);
			return LM_EXIT_FAIL;
		}
		if (d.kind == LM_SEALED_DK_WHITEOUT) {
			rc = marker(x, plen, ".wh.", d.name, d.name_len);
			continue;
		}
		if (plen)
			x->path[plen] = '/';
		memcpy(x->path + at, d.name, d.name_len);
		x->path[at + d.name_len] = '\0';
		rc = entry(x, d.ino, at + d.name_len);
		x->path[plen] = '\0';
	}
	return rc;
}

static uint64_t file_bytes(const struct lm_sealed_meta *m)
{
	struct lm_sealed_ino ino;
	uint64_t total = 0;

	for (uint32_t i = 0; i < lm_sealed_meta_inodes(m); i++) {
		lm_sealed_meta_ino(m, i, &ino);
		if (S_ISREG(ino.mode))
			total += ino.size;
	}
	return total;
}

/* The tarball into @fd: buffers, the archive, the walk from the root. */
static int export_to(struct exporter *x, int fd)
{
	const struct lm_sealed_sb *sb = &x->f->sb;
	uint32_t n = lm_sealed_meta_inodes(x->m);
	int rc;

	x->first = calloc(n, sizeof(*x->first));
	x->stored = malloc(lm_sealed_stored_max(sb));
	x->plain = malloc((size_t)1 << sb->chunk_shift);
	x->scratch = lm_sealed_encrypted(sb) ? malloc(lm_sealed_scratch_size(sb)) : NULL;
	x->a = archive_write_new();
	if (!x->first || !x->stored || !x->plain || !x->a ||
	    (lm_sealed_encrypted(sb) && !x->scratch)) {
		rc = lm_cli_fail(-ENOMEM, NULL);
		goto out;
	}
	x->total = file_bytes(x->m);
	lm_progress_init(&x->pr, "export");
	if (archive_write_set_format_pax(x->a) != ARCHIVE_OK ||
	    archive_write_open_fd(x->a, fd) != ARCHIVE_OK) {
		rc = arc_fail(x, "cannot start the tarball");
		goto out;
	}
	x->path[0] = '\0';
	rc = entry(x, LM_SEALED_ROOT, 0);
	if (!rc && archive_write_close(x->a) != ARCHIVE_OK)
		rc = arc_fail(x, "cannot finish the tarball");
	lm_progress_end(&x->pr);
out:
	if (x->a)
		archive_write_free(x->a);
	for (uint32_t i = 0; x->first && i < n; i++)
		free(x->first[i]);
	free(x->first);
	free(x->stored);
	free(x->plain);
	free(x->scratch);
	return rc;
}

/* -o FILE: a temporary file beside it, renamed over it once complete. */
static int export_file(struct exporter *x, const char *out)
{
	char tmp[PATH_MAX];
	int fd, rc, n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", out);

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		lm_cli_error("output path too long: %s", out);
		return LM_EXIT_USAGE;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		lm_cli_error("cannot create a file beside %s: %s", out, strerror(errno));
		return LM_EXIT_FAIL;
	}
	fchmod(fd, 0644);
	rc = export_to(x, fd);
	if (!rc && fsync(fd) < 0) {
		lm_cli_error("cannot write %s: %s", out, strerror(errno));
		rc = LM_EXIT_FAIL;
	}
	close(fd);
	if (!rc && rename(tmp, out) < 0) {
		lm_cli_error("cannot put the tarball at %s: %s", out, strerror(errno));
		rc = LM_EXIT_FAIL;
	}
	if (rc)
		unlink(tmp);
	return rc;
}

static int export_run(struct lm_store *st, const struct lm_sealed_file *f,
		      const struct layer_opts *o)
{
	struct exporter x = { .f = f };
	struct lm_sealed_keys *keys = NULL;
	struct lm_sealed_meta *m;
	struct lm_err err = { "" };
	int rc = 0;

	if (lm_sealed_encrypted(&f->sb))
		rc = layer_keys(st, f, o, &keys);
	if (rc)
		return rc;
	rc = lm_sealed_file_meta(f, keys, &m, &err);
	if (rc) {
		rc = lm_cli_fail(rc, &err);
		goto out;
	}
	x.keys = keys;
	x.m = m;
	rc = o->output ? export_file(&x, o->output) : export_to(&x, STDOUT_FILENO);
	if (!rc && x.skipped)
		lm_cli_error("warning: %llu sockets left out: a tarball cannot hold them",
			     (unsigned long long)x.skipped);
	lm_sealed_meta_free(m);
out:
	if (keys)
		lm_sealed_keys_free(keys);
	return rc;
}

int layer_cmd_export(struct lm_cli *c, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "tenant", required_argument, NULL, LAYER_OPT_TENANT },
		LM_CLI_SECRET_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct lm_sealed_file f;
	struct layer_opts o;
	struct lm_store *st;
	int rc = layer_parse(c, argc, argv, export_usage, extra, &o, 1,
			     "exactly one layer DIGEST");

	if (rc)
		return rc < 0 ? 0 : rc;
	if (!o.output && isatty(STDOUT_FILENO)) {
		lm_cli_error("standard output is a terminal: redirect it to a file, or pass -o FILE");
		return LM_EXIT_USAGE;
	}
	rc = layer_open(c, o.arg, false, &st, &f);
	if (rc)
		return rc;
	rc = export_run(st, &f, &o);
	lm_sealed_file_close(&f);
	lm_store_free(st);
	return rc;
}
