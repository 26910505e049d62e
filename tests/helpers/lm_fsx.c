/* lm_fsx: a randomized file-operation tester.  It applies the same random
 * operation to a file on the filesystem under test and to a reference file
 * on a trusted host filesystem, and compares every result.
 *
 *   lm_fsx [-n OPS] [-s SEED] [-l MAXLEN] [-m|-M] [-v] TESTFILE REFFILE
 *
 *   -n OPS     operations to run (default 10000)
 *   -s SEED    seed of the run (default: from the clock; always printed)
 *   -l MAXLEN  bound of the file: no operation reaches past MAXLEN, so the
 *              file stays at most MAXLEN long (default 256k; k/m suffixes)
 *   -m         use shared mmap reads and writes (the default)
 *   -M         no mmap operations (for mounts that cannot map files)
 *   -v         print every operation
 *
 * Both files are opened read-write and created when missing, never
 * truncated: a TESTFILE that starts in an overlay's lower layer is copied
 * up by the open, and must then read the same as a REFFILE made as a copy
 * of it.  The two must match before the first operation.
 *
 * Operations, at offsets biased to block boundaries (4096 +-1), to EOF and
 * past EOF: pwrite of random bytes, pread (return value and bytes), ftruncate
 * up and down, write through a second O_APPEND descriptor, write through a
 * shared mapping + msync, read through a mapping (and the zeroes past EOF in
 * the last page), fsync/fdatasync, fallocate (mode 0 or KEEP_SIZE), punch
 * hole (PUNCH_HOLE|KEEP_SIZE), close and reopen of TESTFILE.  After every
 * operation both sizes are compared; the whole contents after a reopen,
 * every CHECK_EVERY operations and at the end.  A fallocate mode the test
 * file answers EOPNOTSUPP is dropped for the rest of the run.
 *
 * A run is a function of the seed (and of which fallocate modes the test
 * file supports): the same seed replays the same operations with the same
 * bytes, and -n N stops right after operation N.
 *
 * Exit status: 0 all matched, 1 a mismatch (seed, operation number, the
 * last LOG_LEN operations and the first differing byte are printed),
 * 2 usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLK 4096
#define LOG_LEN 20
#define CHECK_EVERY 1024
#define DEFAULT_OPS 10000
#define DEFAULT_MAXLEN (256 * 1024)

enum op_kind {
	OP_WRITE,
	OP_READ,
	OP_TRUNC,
	OP_APPEND,
	OP_MAPWRITE,
	OP_MAPREAD,
	OP_FSYNC,
	OP_FALLOC,
	OP_PUNCH,
	OP_REOPEN,
	OP_NKINDS
};

/* One logged operation.  off/len is the byte range it touched (for an
 * append, off is the EOF it appended at; for a truncate, off is the new
 * size); arg is the fallocate mode or whether fsync was fdatasync. */
struct op_rec {
	uint64_t n;
	enum op_kind kind;
	off_t off;
	size_t len;
	int arg;
	ssize_t trc, rrc; /* results on test and reference, -errno on error */
};

/* A file and its second, O_APPEND descriptor. */
struct fsx_file {
	const char *path; /* borrowed from argv */
	int fd;
	int afd;
};

struct fsx {
	struct fsx_file t, r;
	uint64_t seed;
	uint64_t rng;
	uint64_t nops;
	uint64_t opno;
	off_t maxlen;
	off_t size; /* of the reference, after the last operation */
	size_t pagesz;
	bool use_mmap;
	bool verbose;
	bool disabled[OP_NKINDS];
	unsigned long count[OP_NKINDS];
	struct op_rec log[LOG_LEN]; /* ring; log[opno % LOG_LEN] is the current */
	unsigned char *wbuf, *tbuf, *rbuf; /* maxlen bytes each, owned */
};

typedef int (*op_fn)(struct fsx *x, struct op_rec *r);

/* ---- deterministic randomness (splitmix64) ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n); 0 when n is 0. */
static uint64_t rng_below(struct fsx *x, uint64_t n)
{
	return n ? rng_next(&x->rng) % n : 0;
}

static void rng_fill(struct fsx *x, unsigned char *buf, size_t len)
{
	while (len) {
		uint64_t v = rng_next(&x->rng);
		size_t k = len < sizeof(v) ? len : sizeof(v);

		memcpy(buf, &v, k);
		buf += k;
		len -= k;
	}
}

/* ---- reporting ---- */

static const char *const kind_name[OP_NKINDS] = {
	[OP_WRITE] = "write",	   [OP_READ] = "read",	     [OP_TRUNC] = "truncate",
	[OP_APPEND] = "append",	   [OP_MAPWRITE] = "mapwrite", [OP_MAPREAD] = "mapread",
	[OP_FSYNC] = "fsync",	   [OP_FALLOC] = "fallocate", [OP_PUNCH] = "punch",
	[OP_REOPEN] = "reopen",
};

/* Relative frequency of each operation. */
static const unsigned kind_weight[OP_NKINDS] = {
	[OP_WRITE] = 20,   [OP_READ] = 18,    [OP_TRUNC] = 6, [OP_APPEND] = 8,
	[OP_MAPWRITE] = 10, [OP_MAPREAD] = 10, [OP_FSYNC] = 1, [OP_FALLOC] = 5,
	[OP_PUNCH] = 5,	   [OP_REOPEN] = 1,
};

static ssize_t rc_of(ssize_t n)
{
	return n < 0 ? -errno : n;
}

static void print_rc(FILE *out, ssize_t rc)
{
	if (rc < 0)
		fprintf(out, "%s", strerror((int)-rc));
	else
		fprintf(out, "%zd", rc);
}

static void print_op(FILE *out, const struct op_rec *r)
{
	fprintf(out, "  op %6" PRIu64 " %-9s ", r->n, kind_name[r->kind]);
	switch (r->kind) {
	case OP_TRUNC:
		fprintf(out, "to 0x%jx", (intmax_t)r->off);
		break;
	case OP_FSYNC:
		fprintf(out, "%s", r->arg ? "fdatasync" : "fsync");
		break;
	case OP_REOPEN:
		break;
	default:
		fprintf(out, "0x%jx+0x%zx (end 0x%jx)", (intmax_t)r->off, r->len,
			(intmax_t)(r->off + (off_t)r->len));
		if (r->kind == OP_FALLOC || r->kind == OP_PUNCH)
			fprintf(out, " mode 0x%x", r->arg);
	}
	fprintf(out, " -> test ");
	print_rc(out, r->trc);
	fprintf(out, ", ref ");
	print_rc(out, r->rrc);
	fputc('\n', out);
}

/* Start a failure report: the headline.  Returns -EIO for the caller to
 * pass up; main prints the log after it. */
static int report(struct fsx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int report(struct fsx *x, const char *fmt, ...)
{
	va_list ap;

	printf("lm_fsx: FAIL at op %" PRIu64 " (seed %" PRIu64 "): ", x->opno, x->seed);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return -EIO;
}

static void dump_log(const struct fsx *x)
{
	uint64_t first = x->opno >= LOG_LEN ? x->opno - LOG_LEN + 1 : 1;

	printf("last %" PRIu64 " operations (oldest first):\n", x->opno - first + 1);
	for (uint64_t n = first; n <= x->opno; n++)
		print_op(stdout, &x->log[n % LOG_LEN]);
}

static bool op_writes_at(const struct op_rec *r, off_t pos)
{
	switch (r->kind) {
	case OP_WRITE:
	case OP_APPEND:
	case OP_MAPWRITE:
	case OP_FALLOC:
	case OP_PUNCH:
		return pos >= r->off && pos < r->off + (off_t)r->len;
	case OP_TRUNC:
		return true; /* may have cut or extended over pos */
	default:
		return false;
	}
}

/* Which logged operations could have changed the byte at pos. */
static void print_writers(const struct fsx *x, off_t pos)
{
	uint64_t first = x->opno >= LOG_LEN ? x->opno - LOG_LEN + 1 : 1;
	bool any = false;

	printf("logged operations that changed 0x%jx or the size:\n", (intmax_t)pos);
	for (uint64_t n = first; n <= x->opno; n++) {
		if (op_writes_at(&x->log[n % LOG_LEN], pos)) {
			print_op(stdout, &x->log[n % LOG_LEN]);
			any = true;
		}
	}
	if (!any)
		printf("  (none in the log)\n");
}

static void print_row(const char *label, const unsigned char *b, off_t base, size_t from,
		      size_t to)
{
	printf("  %-9s 0x%08jx:", label, (intmax_t)(base + (off_t)from));
	for (size_t i = from; i < to; i++)
		printf(" %02x", b[i]);
	putchar('\n');
}

/* Compare len bytes read at file offset off; on a difference report the
 * first differing byte with 16 bytes around it, and how many differ. */
static int compare_bytes(struct fsx *x, const char *what, off_t off, const unsigned char *t,
			 const unsigned char *r, size_t len)
{
	size_t i, last, ndiff = 0, from, to;

	if (!memcmp(t, r, len))
		return 0;
	for (i = 0; t[i] == r[i]; i++)
		;
	for (last = i; last < len; last++)
		ndiff += t[last] != r[last];
	for (last = len - 1; t[last] == r[last]; last--)
		;
	report(x, "%s at 0x%jx+0x%zx: first differing byte at 0x%jx: test 0x%02x, reference 0x%02x",
	       what, (intmax_t)off, len, (intmax_t)(off + (off_t)i), t[i], r[i]);
	printf("%zu bytes differ, the last at 0x%jx; file size 0x%jx\n", ndiff,
	       (intmax_t)(off + (off_t)last), (intmax_t)x->size);
	from = i & ~(size_t)15;
	to = from + 16 < len ? from + 16 : len;
	print_row("test", t, off, from, to);
	print_row("reference", r, off, from, to);
	print_writers(x, off + (off_t)i);
	return -EIO;
}

/* ---- opening and checking ---- */

static int open_file(struct fsx_file *f)
{
	f->fd = open(f->path, O_RDWR | O_CREAT, 0644);
	if (f->fd < 0)
		return -errno;
	f->afd = open(f->path, O_WRONLY | O_APPEND);
	if (f->afd < 0) {
		int rc = -errno;

		close(f->fd);
		f->fd = -1;
		return rc;
	}
	return 0;
}

static void close_file(struct fsx_file *f)
{
	if (f->afd >= 0)
		close(f->afd);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = f->afd = -1;
}

/* The two results of one call must be the same value or the same errno. */
static int check_rc(struct fsx *x, const char *what, ssize_t trc, ssize_t rrc)
{
	if (trc == rrc)
		return 0;
	report(x, "%s returned %zd (%s) on the test file, %zd (%s) on the reference", what, trc,
	       trc < 0 ? strerror((int)-trc) : "ok", rrc, rrc < 0 ? strerror((int)-rrc) : "ok");
	return -EIO;
}

static int check_size(struct fsx *x)
{
	struct stat ts, rs;

	if (fstat(x->t.fd, &ts))
		return report(x, "fstat(%s): %s", x->t.path, strerror(errno));
	if (fstat(x->r.fd, &rs))
		return report(x, "fstat(%s): %s", x->r.path, strerror(errno));
	if (ts.st_size != rs.st_size)
		return report(x, "size: test 0x%jx, reference 0x%jx", (intmax_t)ts.st_size,
			      (intmax_t)rs.st_size);
	x->size = rs.st_size;
	return 0;
}

/* Read the whole of both files and compare, maxlen bytes at a time. */
static int check_all(struct fsx *x, const char *why)
{
	for (off_t off = 0; off < x->size; off += x->maxlen) {
		size_t len = (size_t)(x->size - off < x->maxlen ? x->size - off : x->maxlen);
		ssize_t tn = rc_of(pread(x->t.fd, x->tbuf, len, off));
		ssize_t rn = rc_of(pread(x->r.fd, x->rbuf, len, off));
		int rc = check_rc(x, why, tn, rn);

		if (rc)
			return rc;
		if (tn != (ssize_t)len)
			return report(x, "%s: short read of 0x%zx at 0x%jx: %zd", why, len,
				      (intmax_t)off, tn);
		rc = compare_bytes(x, why, off, x->tbuf, x->rbuf, len);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- choosing offsets and lengths ---- */

static off_t clamp_off(off_t v, off_t lo, off_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* An offset in [0, limit): uniform, or at a block boundary +-1, at or just
 * before EOF, or past EOF (leaving a hole). */
static off_t pick_off(struct fsx *x, off_t limit)
{
	off_t off;

	if (limit <= 0)
		return 0;
	switch (rng_below(x, 8)) {
	case 0:
	case 1:
		off = (off_t)rng_below(x, (uint64_t)limit / BLK + 1) * BLK +
		      (off_t)rng_below(x, 3) - 1;
		break;
	case 2:
		off = x->size - (off_t)rng_below(x, 3);
		break;
	case 3:
		off = x->size + 1 + (off_t)rng_below(x, 3 * BLK);
		break;
	default:
		off = (off_t)rng_below(x, (uint64_t)limit);
	}
	return clamp_off(off, 0, limit - 1);
}

/* A length for an operation at off that stays within limit: often tiny or
 * about one block, sometimes up to maxlen. */
static size_t pick_len(struct fsx *x, off_t off, off_t limit)
{
	uint64_t room = limit > off ? (uint64_t)(limit - off) : 0, len;

	switch (rng_below(x, 4)) {
	case 0:
		len = 1 + rng_below(x, 16);
		break;
	case 1:
		len = BLK - 1 + rng_below(x, 3);
		break;
	case 2:
		len = 1 + rng_below(x, (uint64_t)x->maxlen);
		break;
	default:
		len = 1 + rng_below(x, (uint64_t)(x->maxlen < 16 * BLK ? x->maxlen : 16 * BLK));
	}
	return (size_t)(len < room ? len : room);
}

/* ---- the operations: each fills in r (off, len, results) and compares ---- */

static int op_write(struct fsx *x, struct op_rec *r)
{
	r->off = pick_off(x, x->maxlen);
	r->len = pick_len(x, r->off, x->maxlen);
	rng_fill(x, x->wbuf, r->len);
	r->trc = rc_of(pwrite(x->t.fd, x->wbuf, r->len, r->off));
	r->rrc = rc_of(pwrite(x->r.fd, x->wbuf, r->len, r->off));
	return check_rc(x, "pwrite", r->trc, r->rrc);
}

static int op_read(struct fsx *x, struct op_rec *r)
{
	int rc;

	r->off = pick_off(x, x->maxlen);
	r->len = pick_len(x, r->off, x->maxlen);
	r->trc = rc_of(pread(x->t.fd, x->tbuf, r->len, r->off));
	r->rrc = rc_of(pread(x->r.fd, x->rbuf, r->len, r->off));
	rc = check_rc(x, "pread", r->trc, r->rrc);
	if (rc || r->rrc <= 0)
		return rc;
	return compare_bytes(x, "pread", r->off, x->tbuf, x->rbuf, (size_t)r->rrc);
}

static int op_trunc(struct fsx *x, struct op_rec *r)
{
	off_t ns;

	switch (rng_below(x, 4)) {
	case 0: /* a little shorter */
		ns = x->size - 1 - (off_t)rng_below(x, 3 * BLK);
		break;
	case 1: /* a little longer */
		ns = x->size + 1 + (off_t)rng_below(x, 3 * BLK);
		break;
	case 2:
		ns = (off_t)rng_below(x, (uint64_t)x->maxlen / BLK + 1) * BLK +
		     (off_t)rng_below(x, 3) - 1;
		break;
	default:
		ns = (off_t)rng_below(x, (uint64_t)x->maxlen + 1);
	}
	r->off = clamp_off(ns, 0, x->maxlen);
	r->trc = rc_of(ftruncate(x->t.fd, r->off));
	r->rrc = rc_of(ftruncate(x->r.fd, r->off));
	return check_rc(x, "ftruncate", r->trc, r->rrc);
}

static int op_append(struct fsx *x, struct op_rec *r)
{
	r->off = x->size;
	r->len = pick_len(x, x->size, x->maxlen);
	rng_fill(x, x->wbuf, r->len);
	r->trc = rc_of(write(x->t.afd, x->wbuf, r->len));
	r->rrc = rc_of(write(x->r.afd, x->wbuf, r->len));
	return check_rc(x, "O_APPEND write", r->trc, r->rrc);
}

/* A range within the file (which is not empty) for the mapping ops. */
static void pick_mapped(struct fsx *x, struct op_rec *r)
{
	r->off = pick_off(x, x->size);
	r->len = pick_len(x, r->off, x->size);
}

static int op_mapwrite(struct fsx *x, struct op_rec *r)
{
	off_t moff;
	size_t mlen;
	unsigned char *p;

	pick_mapped(x, r);
	moff = r->off & ~(off_t)(x->pagesz - 1);
	mlen = (size_t)(r->off - moff) + r->len;
	rng_fill(x, x->wbuf, r->len);
	p = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, x->t.fd, moff);
	if (p == MAP_FAILED)
		return report(x, "mmap(0x%jx+0x%zx, shared, rw): %s", (intmax_t)moff, mlen,
			      strerror(errno));
	memcpy(p + (r->off - moff), x->wbuf, r->len);
	r->trc = msync(p, mlen, MS_SYNC) ? -errno : (ssize_t)r->len;
	if (munmap(p, mlen))
		return report(x, "munmap: %s", strerror(errno));
	r->rrc = rc_of(pwrite(x->r.fd, x->wbuf, r->len, r->off));
	return check_rc(x, "mapped write + msync", r->trc, r->rrc);
}

/* Reads through a mapping of whole pages; the bytes of the last page past
 * EOF must read as zeroes. */
static int op_mapread(struct fsx *x, struct op_rec *r)
{
	off_t moff, end;
	size_t mlen, ps = x->pagesz;
	unsigned char *p;
	int rc;

	pick_mapped(x, r);
	moff = r->off & ~(off_t)(ps - 1);
	mlen = ((size_t)(r->off - moff) + r->len + ps - 1) & ~(ps - 1);
	p = mmap(NULL, mlen, PROT_READ, MAP_SHARED, x->t.fd, moff);
	if (p == MAP_FAILED)
		return report(x, "mmap(0x%jx+0x%zx, shared, ro): %s", (intmax_t)moff, mlen,
			      strerror(errno));
	r->trc = (ssize_t)r->len;
	r->rrc = rc_of(pread(x->r.fd, x->rbuf, r->len, r->off));
	rc = check_rc(x, "mapped read (reference pread)", r->trc, r->rrc);
	if (!rc)
		rc = compare_bytes(x, "mapped read", r->off, p + (r->off - moff), x->rbuf, r->len);
	end = moff + (off_t)mlen;
	if (!rc && end > x->size) {
		size_t tail = (size_t)(end - x->size);

		memset(x->rbuf, 0, tail);
		rc = compare_bytes(x, "mapped page past EOF (must be zeroes)", x->size,
				   p + (x->size - moff), x->rbuf, tail);
	}
	if (munmap(p, mlen) && !rc)
		rc = report(x, "munmap: %s", strerror(errno));
	return rc;
}

static int op_fsync(struct fsx *x, struct op_rec *r)
{
	r->arg = (int)rng_below(x, 2);
	r->trc = rc_of(r->arg ? fdatasync(x->t.fd) : fsync(x->t.fd));
	r->rrc = 0; /* the reference needs no trip to the disk */
	return check_rc(x, r->arg ? "fdatasync" : "fsync", r->trc, r->rrc);
}

/* fallocate with mode on both files; the first EOPNOTSUPP from the test
 * file drops the operation (kind) for the rest of the run. */
static int do_fallocate(struct fsx *x, struct op_rec *r, enum op_kind kind, int mode)
{
	r->arg = mode;
	r->off = pick_off(x, x->maxlen);
	r->len = pick_len(x, r->off, x->maxlen);
	r->trc = rc_of(fallocate(x->t.fd, mode, r->off, (off_t)r->len));
	if (r->trc == -EOPNOTSUPP) {
		x->disabled[kind] = true;
		r->rrc = r->trc;
		printf("lm_fsx: op %" PRIu64 ": the test file does not support fallocate mode "
		       "0x%x (%s); not used from now on\n", x->opno, mode, kind_name[kind]);
		return 0;
	}
	r->rrc = rc_of(fallocate(x->r.fd, mode, r->off, (off_t)r->len));
	return check_rc(x, kind_name[kind], r->trc, r->rrc);
}

static int op_falloc(struct fsx *x, struct op_rec *r)
{
	return do_fallocate(x, r, OP_FALLOC, rng_below(x, 2) ? FALLOC_FL_KEEP_SIZE : 0);
}

static int op_punch(struct fsx *x, struct op_rec *r)
{
	return do_fallocate(x, r, OP_PUNCH, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

static int op_reopen(struct fsx *x, struct op_rec *r)
{
	close_file(&x->t);
	r->trc = open_file(&x->t);
	r->rrc = 0;
	if (r->trc)
		return report(x, "reopen %s: %s", x->t.path, strerror((int)-r->trc));
	return check_all(x, "contents after reopen");
}

static const op_fn op_table[OP_NKINDS] = {
	[OP_WRITE] = op_write,	     [OP_READ] = op_read,	[OP_TRUNC] = op_trunc,
	[OP_APPEND] = op_append,     [OP_MAPWRITE] = op_mapwrite, [OP_MAPREAD] = op_mapread,
	[OP_FSYNC] = op_fsync,	     [OP_FALLOC] = op_falloc,	[OP_PUNCH] = op_punch,
	[OP_REOPEN] = op_reopen,
};

/* ---- the run ---- */

static bool kind_usable(const struct fsx *x, enum op_kind k)
{
	if (x->disabled[k])
		return false;
	if (k == OP_MAPWRITE || k == OP_MAPREAD)
		return x->use_mmap && x->size > 0;
	if (k == OP_APPEND)
		return x->size < x->maxlen;
	return true;
}

static enum op_kind pick_kind(struct fsx *x)
{
	unsigned total = 0;
	uint64_t v;
	int k;

	for (k = 0; k < OP_NKINDS; k++)
		total += kind_usable(x, (enum op_kind)k) ? kind_weight[k] : 0;
	v = rng_below(x, total);
	for (k = 0; k < OP_NKINDS; k++) {
		if (!kind_usable(x, (enum op_kind)k))
			continue;
		if (v < kind_weight[k])
			break;
		v -= kind_weight[k];
	}
	return (enum op_kind)k;
}

static int run_one(struct fsx *x)
{
	struct op_rec *r = &x->log[x->opno % LOG_LEN];
	int rc;

	memset(r, 0, sizeof(*r));
	r->n = x->opno;
	r->kind = pick_kind(x);
	x->count[r->kind]++;
	rc = op_table[r->kind](x, r);
	if (x->verbose)
		print_op(stdout, r);
	if (!rc)
		rc = check_size(x);
	if (!rc && x->opno % CHECK_EVERY == 0)
		rc = check_all(x, "contents (periodic check)");
	return rc;
}

static void print_summary(const struct fsx *x, double secs)
{
	printf("lm_fsx: seed %" PRIu64 ": %" PRIu64 " ops ok in %.1f s (", x->seed, x->nops, secs);
	for (int k = 0; k < OP_NKINDS; k++)
		printf("%s%s %lu%s", k ? ", " : "", kind_name[k], x->count[k],
		       x->disabled[k] ? " [unsupported]" : "");
	printf(")\n");
}

static int run(struct fsx *x)
{
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	x->opno = 0;
	rc = check_size(x);
	if (!rc)
		rc = check_all(x, "contents before the first operation");
	while (!rc && x->opno < x->nops) {
		x->opno++;
		rc = run_one(x);
	}
	if (rc) {
		dump_log(x);
		printf("replay: lm_fsx -s %" PRIu64 " -n %" PRIu64 " -l %jd%s TESTFILE REFFILE "
		       "(from the same starting files)\n",
		       x->seed, x->opno, (intmax_t)x->maxlen, x->use_mmap ? "" : " -M");
		return rc;
	}
	rc = check_all(x, "contents at the end");
	if (rc) {
		dump_log(x);
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_summary(x, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

/* ---- command line ---- */

static int parse_u64(const char *s, uint64_t *out, bool suffix)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	if (suffix && (*end == 'k' || *end == 'K')) {
		v <<= 10;
		end++;
	} else if (suffix && (*end == 'm' || *end == 'M')) {
		v <<= 20;
		end++;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: lm_fsx [-n OPS] [-s SEED] [-l MAXLEN] [-m|-M] [-v] TESTFILE REFFILE\n");
}

static int parse_args(struct fsx *x, int argc, char **argv)
{
	uint64_t v;
	int c;

	while ((c = getopt(argc, argv, "n:s:l:mMv")) != -1) {
		switch (c) {
		case 'n':
			if (parse_u64(optarg, &x->nops, false))
				return -EINVAL;
			break;
		case 's':
			if (parse_u64(optarg, &x->seed, false))
				return -EINVAL;
			break;
		case 'l':
			if (parse_u64(optarg, &v, true) || v < 1 || v > (1u << 30))
				return -EINVAL;
			x->maxlen = (off_t)v;
			break;
		case 'm':
			x->use_mmap = true;
			break;
		case 'M':
			x->use_mmap = false;
			break;
		case 'v':
			x->verbose = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (argc - optind != 2)
		return -EINVAL;
	x->t.path = argv[optind];
	x->r.path = argv[optind + 1];
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec now;
	struct fsx x = {
		.t = { .fd = -1, .afd = -1 },
		.r = { .fd = -1, .afd = -1 },
		.nops = DEFAULT_OPS,
		.maxlen = DEFAULT_MAXLEN,
		.use_mmap = true,
	};
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	x.seed = (uint64_t)now.tv_sec * 1000003u + (uint64_t)now.tv_nsec;
	if (parse_args(&x, argc, argv)) {
		usage();
		return 2;
	}
	x.rng = x.seed;
	x.pagesz = (size_t)sysconf(_SC_PAGESIZE);
	x.wbuf = malloc((size_t)x.maxlen);
	x.tbuf = malloc((size_t)x.maxlen);
	x.rbuf = malloc((size_t)x.maxlen + x.pagesz);
	if (!x.wbuf || !x.tbuf || !x.rbuf) {
		fprintf(stderr, "lm_fsx: out of memory\n");
		rc = 2;
		goto out_free;
	}
	if ((rc = open_file(&x.t)) || (rc = open_file(&x.r))) {
		fprintf(stderr, "lm_fsx: open %s: %s\n", x.t.fd < 0 ? x.t.path : x.r.path,
			strerror(-rc));
		rc = 2;
		goto out_close;
	}
	printf("lm_fsx: seed %" PRIu64 ", %" PRIu64 " ops, maxlen %jd%s: %s vs %s\n", x.seed,
	       x.nops, (intmax_t)x.maxlen, x.use_mmap ? "" : ", no mmap", x.t.path, x.r.path);
	fflush(stdout);
	rc = run(&x) ? 1 : 0;
out_close:
	close_file(&x.t);
	close_file(&x.r);
out_free:
	free(x.wbuf);
	free(x.tbuf);
	free(x.rbuf);
	return rc;
}
