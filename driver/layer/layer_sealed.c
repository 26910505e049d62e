/* The sealed layer: a read-only layer served from one sealed layer file
 * (format in crypt/sealed.h). The metadata is decoded once at open and
 * kept in memory, so lookups, listings and attributes cost no system call;
 * file contents are read chunk by chunk through driver/io and kept opened
 * in driver/cache. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sealed.h"
#include "sealed_store.h"

#include "cache/cache.h"
#include "io/io.h"
#include "layer/layer.h"
#include "layer/tbuf.h"

/* Sequential reads are read ahead by the kernel (laminafs raises its
 * read-ahead on mounts with sealed layers), in requests of up to 1 MiB whose
 * chunks are read in one batch. A read-ahead of the following chunks in the
 * same batch was measured here and dropped: the threads serving the
 * kernel's own read-ahead fetched those chunks again, and a cold sequential
 * read went from 645 to 418 MB/s. */

struct sealed_layer {
	struct lm_layer base;
	struct lm_sealed_sb sb;
	struct lm_sealed_keys *keys;     /* owned; NULL for a plain layer */
	struct lm_sealed_meta *meta;     /* owned */
	struct lm_io_file *io;           /* owned */
	int lockfd;                      /* owned, or -1: a duplicate of the
					  * opened file's descriptor, which
					  * keeps its shared flock (a layer in
					  * use) as long as the layer lives.
					  * Not the reader's: a ring that has
					  * registered the reader's file holds
					  * it open after lm_io_close, and the
					  * lock with it */
	struct lm_cache *cache;          /* borrowed (cfg->cache) or owned */
	bool own_cache;
	uint64_t owner;                  /* our key space in the cache */
	unsigned shift;
	lm_vault_report_fn report;
	void *report_ctx;
	char hex[LM_SEALED_DIGEST_HEX + 1];
};

#define SL(l) ((struct sealed_layer *)(l))

struct sealed_file {
	struct lm_file base;
	struct sealed_layer *sl;
	uint32_t ino;
	struct lm_sealed_ino in;
};

/* ---- the tree ---- */

/* Resolves PATH to an inode: -ENOENT when a component is absent or a
 * whiteout, -ENOTDIR when one is not a directory. */
static int resolve(const struct sealed_layer *sl, const char *path, uint32_t *ino)
{
	uint32_t cur = LM_SEALED_ROOT;
	const char *p = path;

	if (p[0] == '.' && p[1] == '\0')
		p++;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		struct lm_sealed_ent e;
		int rc;

		if (len == 0) {
			p++;
			continue;
		}
		rc = lm_sealed_meta_lookup(sl->meta, cur, p, len, &e);
		if (rc)
			return rc;
		if (e.kind != LM_SEALED_DK_OBJ)
			return -ENOENT;
		cur = e.ino;
		p += len;
		if (*p == '/')
			p++;
	}
	*ino = cur;
	return 0;
}

/* resolve() and the inode it reaches, decoded. */
static int resolve_ino(const struct sealed_layer *sl, const char *path, uint32_t *ino,
		       struct lm_sealed_ino *in)
{
	int rc = resolve(sl, path, ino);

	if (rc == 0)
		lm_sealed_meta_ino(sl->meta, *ino, in);
	return rc;
}

static void fill_stat(const struct sealed_layer *sl, uint32_t ino,
		      const struct lm_sealed_ino *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = sl->base.dev;
	st->st_ino = (ino_t)ino + 1;
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_rdev = (dev_t)in->rdev;
	st->st_size = (off_t)in->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((in->size + 511) / 512);
	st->st_mtim.tv_sec = in->mtime;
	st->st_mtim.tv_nsec = in->mtime_ns;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static int sealed_lookup(struct lm_layer *l, const char *dir, const char *name,
			 bool want_opaque, struct lm_lentry *out)
{
	struct sealed_layer *sl = SL(l);
	struct lm_sealed_ent e;
	struct lm_sealed_ino in;
	uint32_t d;
	int rc;

	(void)want_opaque;
	memset(out, 0, sizeof(*out));
	rc = resolve(sl, dir, &d);
	if (rc == 0)
		rc = lm_sealed_meta_lookup(sl->meta, d, name, strlen(name), &e);
	if (rc == -ENOENT || rc == -ENOTDIR)
		return 0;
	if (rc)
		return rc;
	if (e.kind == LM_SEALED_DK_WHITEOUT) {
		out->kind = LM_ENT_WHITEOUT;
		return 0;
	}
	lm_sealed_meta_ino(sl->meta, e.ino, &in);
	out->kind = LM_ENT_OBJ;
	out->opaque = S_ISDIR(in.mode) && (in.flags & LM_SEALED_IF_OPAQUE);
	fill_stat(sl, e.ino, &in, &out->st);
	return 0;
}

static int sealed_getattr(struct lm_layer *l, const char *path, struct stat *st)
{
	struct sealed_layer *sl = SL(l);
	struct lm_sealed_ino in;
	uint32_t ino;
	int rc = resolve_ino(sl, path, &ino, &in);

	if (rc)
		return rc;
	fill_stat(sl, ino, &in, st);
	return 0;
}

static unsigned mode_dtype(uint32_t mode)
{
	return (mode & S_IFMT) >> 12; /* DT_* are the S_IF* type bits shifted */
}

static int sealed_iterate(struct lm_layer *l, const char *dir, lm_iter_fn fn, void *ctx,
			  bool *opaque)
{
	struct sealed_layer *sl = SL(l);
	struct lm_sealed_ino in;
	char name[NAME_MAX + 1];
	uint32_t d;
	int rc = resolve_ino(sl, dir, &d, &in);

	if (rc)
		return rc;
	if (!S_ISDIR(in.mode))
		return -ENOTDIR;
	if (opaque)
		*opaque = in.flags & LM_SEALED_IF_OPAQUE;
	for (uint32_t i = 0; i < in.count; i++) {
		struct lm_sealed_ent e;
		struct lm_sealed_ino ci;

		lm_sealed_meta_dirent(sl->meta, d, i, &e);
		memcpy(name, e.name, e.name_len);
		name[e.name_len] = '\0';
		if (e.kind == LM_SEALED_DK_WHITEOUT) {
			rc = fn(ctx, name, LM_ENT_WHITEOUT, DT_CHR, 0);
		} else {
			lm_sealed_meta_ino(sl->meta, e.ino, &ci);
			rc = fn(ctx, name, LM_ENT_OBJ, mode_dtype(ci.mode), (uint64_t)e.ino + 1);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static ssize_t sealed_readlink(struct lm_layer *l, const char *path, char *buf, size_t size)
{
	struct sealed_layer *sl = SL(l);
	const char *t;
	uint32_t ino;
	size_t len;
	int rc = resolve(sl, path, &ino);

	if (rc)
		return rc;
	t = lm_sealed_meta_link(sl->meta, ino, &len);
	if (!t)
		return -EINVAL;
	if (len > size)
		len = size;
	memcpy(buf, t, len);
	return (ssize_t)len;
}

static ssize_t sealed_getxattr(struct lm_layer *l, const char *path, const char *name,
			       void *buf, size_t size)
{
	struct sealed_layer *sl = SL(l);
	struct lm_sealed_ino in;
	size_t nlen = strlen(name);
	uint32_t ino;
	int rc = resolve_ino(sl, path, &ino, &in);

	if (rc)
		return rc;
	for (uint32_t i = 0; i < in.xattr_count; i++) {
		const char *xn;
		const void *v;
		size_t xl, vl;

		lm_sealed_meta_xattr(sl->meta, ino, i, &xn, &xl, &v, &vl);
		if (xl != nlen || memcmp(xn, name, nlen))
			continue;
		if (size == 0)
			return (ssize_t)vl;
		if (vl > size)
			return -ERANGE;
		memcpy(buf, v, vl);
		return (ssize_t)vl;
	}
	return -ENODATA;
}

static ssize_t sealed_listxattr(struct lm_layer *l, const char *path, char *buf, size_t size)
{
	struct sealed_layer *sl = SL(l);
	struct lm_sealed_ino in;
	size_t total = 0;
	uint32_t ino;
	int rc = resolve_ino(sl, path, &ino, &in);

	if (rc)
		return rc;
	for (uint32_t i = 0; i < in.xattr_count; i++) {
		const char *xn;
		const void *v;
		size_t xl, vl;

		lm_sealed_meta_xattr(sl->meta, ino, i, &xn, &xl, &v, &vl);
		if (size) {
			if (total + xl + 1 > size)
				return -ERANGE;
			memcpy(buf + total, xn, xl);
			buf[total + xl] = '\0';
		}
		total += xl + 1;
	}
	return (ssize_t)total;
}

static int sealed_statfs(struct lm_layer *l, struct statvfs *sv)
{
	struct sealed_layer *sl = SL(l);

	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = sv->f_frsize = 4096;
	sv->f_blocks = (sl->sb.file_size + 4095) / 4096;
	sv->f_files = sl->sb.inode_count;
	sv->f_namemax = NAME_MAX;
	sv->f_flag = ST_RDONLY;
	return 0;
}

/* ---- file contents ---- */

/* One chunk of a read: where its plaintext comes from. */
struct want {
	uint32_t n;                      /* chunk number in the file */
	uint32_t ref;                    /* stored chunk, or LM_SEALED_HOLE */
	const struct lm_cache_ent *ent;  /* held, or NULL */
	int miss;                        /* index in the io batch, or -1 */
	int leader;                      /* the earlier want of the same chunk, or -1 */
};

static void report(struct sealed_layer *sl, uint32_t ref, int err)
{
	char what[96];

	if (!sl->report)
		return;
	snprintf(what, sizeof(what), "chunk %u of sealed layer %.12s does not verify", ref,
		 sl->hex);
	sl->report(sl->report_ctx, ".", what, (int64_t)ref, err);
}

/* Reads the @nmiss stored chunks of @w marked missing in one batch, opens
 * them and puts them in the cache. Returns 0, or the error of the first
 * chunk that failed (-EIO when it does not verify). */
static int fetch(struct sealed_layer *sl, struct want *w, unsigned nw, unsigned nmiss)
{
	struct lm_io_req reqs[LM_IO_BATCH_MAX];
	size_t smax = lm_sealed_stored_max(&sl->sb), scr = lm_sealed_scratch_size(&sl->sb);
	unsigned char *buf, *scratch;
	int rc = 0;

	buf = lm_tbuf(LM_TB_SEALED, smax * nmiss + scr);
	if (!buf)
		return -ENOMEM;
	scratch = scr ? buf + smax * nmiss : NULL;
	for (unsigned i = 0; i < nw; i++) {
		struct lm_sealed_chunk c;

		if (w[i].miss < 0)
			continue;
		lm_sealed_meta_chunk(sl->meta, w[i].ref, &c);
		reqs[w[i].miss] = (struct lm_io_req){ .off = c.offset, .len = c.stored_len,
						      .buf = buf + smax * (size_t)w[i].miss };
	}
	lm_io_read(sl->io, reqs, nmiss); /* each request's res says how it went */
	for (unsigned i = 0; i < nw; i++) {
		struct lm_io_req *r;
		struct lm_sealed_chunk c;
		struct lm_cache_ent *e;
		int crc;

		if (w[i].miss < 0)
			continue;
		r = &reqs[w[i].miss];
		crc = r->res;
		if (crc == 0) {
			lm_sealed_meta_chunk(sl->meta, w[i].ref, &c);
			e = lm_cache_alloc(sl->cache, c.plain_len);
			crc = e ? lm_sealed_chunk_open(&sl->sb, sl->keys, &c, w[i].ref, r->buf,
						       lm_cache_buf(e), scratch) : -ENOMEM;
			if (crc == 0) {
				w[i].ent = lm_cache_insert(sl->cache, sl->owner, w[i].ref, e);
			} else if (e) {
				lm_cache_put(sl->cache, e);
				report(sl, w[i].ref, crc);
				crc = -EIO;
			}
		} else if (crc != -ENOMEM) {
			crc = -EIO;
		}
		if (crc && rc == 0)
			rc = crc;
	}
	return rc;
}

/* Reads [off, off + len) of the file: len > 0, within the size, spanning
 * at most LM_IO_BATCH_MAX chunks. */
static ssize_t read_span(struct sealed_file *sf, char *out, size_t len, uint64_t off)
{
	struct sealed_layer *sl = sf->sl;
	uint64_t csize = 1ull << sl->shift;
	uint32_t first = (uint32_t)(off >> sl->shift);
	uint32_t last = (uint32_t)((off + len - 1) >> sl->shift);
	struct want w[LM_IO_BATCH_MAX];
	unsigned nw = 0, nmiss = 0;
	size_t done = 0;
	int rc = 0;

	for (uint32_t n = first; n <= last; n++) {
		struct want x = { .n = n, .ref = lm_sealed_meta_ref(sl->meta, sf->ino, n),
				  .miss = -1, .leader = -1 };

		if (x.ref != LM_SEALED_HOLE) {
			/* A chunk met earlier in this read (a file repeating
			 * itself) is fetched once. */
			for (unsigned j = 0; j < nw && x.leader < 0; j++)
				if (w[j].ref == x.ref)
					x.leader = (int)j;
			if (x.leader < 0) {
				x.ent = lm_cache_get(sl->cache, sl->owner, x.ref);
				if (!x.ent)
					x.miss = (int)nmiss++;
			}
		}
		w[nw++] = x;
	}
	if (nmiss)
		rc = fetch(sl, w, nw, nmiss);
	for (unsigned i = 0; rc == 0 && i < nw && done < len; i++) {
		uint64_t cstart = (uint64_t)w[i].n * csize;
		size_t from = off + done > cstart ? (size_t)(off + done - cstart) : 0;
		size_t take = (size_t)csize - from;
		const struct lm_cache_ent *e = w[i].leader >= 0 ? w[w[i].leader].ent : w[i].ent;

		if (take > len - done)
			take = len - done;
		if (w[i].ref == LM_SEALED_HOLE)
			memset(out + done, 0, take);
		else
			memcpy(out + done, (const char *)lm_cache_data(e) + from, take);
		done += take;
	}
	for (unsigned i = 0; i < nw; i++)
		if (w[i].ent)
			lm_cache_put(sl->cache, w[i].ent);
	return rc ? rc : (ssize_t)len;
}

static ssize_t sealed_pread(struct lm_file *f, void *buf, size_t len, off_t off)
{
	struct sealed_file *sf = (struct sealed_file *)f;
	struct sealed_layer *sl = sf->sl;
	uint64_t size = sf->in.size, pos = (uint64_t)off;
	size_t done = 0;

	if (off < 0)
		return -EINVAL;
	if (pos >= size || len == 0)
		return 0;
	if (len > size - pos)
		len = (size_t)(size - pos);
	while (done < len) {
		/* At most a batch of chunks at once, ending on a chunk
		 * boundary (a request spans 16 chunks of 64 KiB at most). */
		uint64_t at = pos + done;
		uint64_t lim = (((at >> sl->shift) + LM_IO_BATCH_MAX) << sl->shift) - at;
		size_t n = len - done < lim ? len - done : (size_t)lim;
		ssize_t r = read_span(sf, (char *)buf + done, n, at);

		if (r < 0)
			return r;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static ssize_t sealed_pwrite(struct lm_file *f, const void *buf, size_t len, off_t off)
{
	(void)f, (void)buf, (void)len, (void)off;
	return -EROFS;
}

static int sealed_fsync(struct lm_file *f, bool datasync)
{
	(void)f, (void)datasync;
	return 0;
}

static int sealed_fallocate(struct lm_file *f, int mode, off_t off, off_t len)
{
	(void)f, (void)mode, (void)off, (void)len;
	return -EROFS;
}

static int sealed_ftruncate(struct lm_file *f, off_t size)
{
	(void)f, (void)size;
	return -EROFS;
}

/* SEEK_DATA and SEEK_HOLE from the refs: a hole is a chunk of zeros. */
static off_t sealed_lseek(struct lm_file *f, off_t off, int whence)
{
	struct sealed_file *sf = (struct sealed_file *)f;
	struct sealed_layer *sl = sf->sl;
	uint64_t size = sf->in.size, pos = (uint64_t)off;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0 || pos >= size)
		return -ENXIO;
	for (uint32_t n = (uint32_t)(pos >> sl->shift); n < sf->in.count; n++) {
		bool hole = lm_sealed_meta_ref(sl->meta, sf->ino, n) == LM_SEALED_HOLE;
		uint64_t start = (uint64_t)n << sl->shift;

		if (hole == (whence == SEEK_HOLE))
			return (off_t)(start > pos ? start : pos);
	}
	return whence == SEEK_HOLE ? (off_t)size : -ENXIO;
}

static int sealed_fstat(struct lm_file *f, struct stat *st)
{
	struct sealed_file *sf = (struct sealed_file *)f;

	fill_stat(sf->sl, sf->ino, &sf->in, st);
	return 0;
}

static void sealed_close(struct lm_file *f)
{
	free(f);
}

static const struct lm_file_ops sealed_file_ops = {
	.pread = sealed_pread,
	.pwrite = sealed_pwrite,
	.fsync = sealed_fsync,
	.fallocate = sealed_fallocate,
	.lseek = sealed_lseek,
	.fstat = sealed_fstat,
	.ftruncate = sealed_ftruncate,
	.close = sealed_close,
};

static int sealed_open(struct lm_layer *l, const char *path, int flags, mode_t mode,
		       uid_t uid, gid_t gid, struct lm_file **out)
{
	struct sealed_layer *sl = SL(l);
	struct sealed_file *sf;
	struct lm_sealed_ino in;
	uint32_t ino;
	int rc;

	(void)mode, (void)uid, (void)gid;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)))
		return -EROFS;
	rc = resolve_ino(sl, path, &ino, &in);
	if (rc)
		return rc;
	if (S_ISDIR(in.mode))
		return -EISDIR;
	if (!S_ISREG(in.mode))
		return -EINVAL;
	sf = calloc(1, sizeof(*sf));
	if (!sf)
		return -ENOMEM;
	sf->base.ops = &sealed_file_ops;
	sf->base.fd = -1;
	sf->sl = sl;
	sf->ino = ino;
	sf->in = in;
	*out = &sf->base;
	return 0;
}

static void sealed_free(struct lm_layer *l)
{
	struct sealed_layer *sl = SL(l);

	if (sl->cache) {
		if (sl->own_cache)
			lm_cache_free(sl->cache);
		else
			lm_cache_drop_owner(sl->cache, sl->owner);
	}
	lm_sealed_meta_free(sl->meta);
	lm_sealed_keys_free(sl->keys);
	lm_io_close(sl->io);
	if (sl->lockfd >= 0)
		close(sl->lockfd);
	free(sl);
}

static const struct lm_layer_ops sealed_ops = {
	.kind = "sealed",
	.lookup = sealed_lookup,
	.getattr = sealed_getattr,
	.iterate = sealed_iterate,
	.open = sealed_open,
	.readlink = sealed_readlink,
	.getxattr = sealed_getxattr,
	.listxattr = sealed_listxattr,
	.statfs = sealed_statfs,
	.free = sealed_free,
};

/* ---- opening ---- */

int lm_layer_sealed_open(const struct lm_sealed_cfg *cfg, struct lm_layer **out,
			 char *msg, size_t msgsize)
{
	struct sealed_layer *sl = calloc(1, sizeof(*sl));
	const struct lm_sealed_file *f = cfg->file;
	struct lm_err err = { "" };
	char fdpath[64];
	int rc;

	*out = NULL;
	if (!sl) {
		lm_sealed_keys_free(cfg->keys);
		snprintf(msg, msgsize, "%s: out of memory", cfg->path);
		return -ENOMEM;
	}
	sl->lockfd = -1;
	sl->sb = f->sb;
	sl->keys = cfg->keys;
	lm_sealed_digest_hex(&sl->sb, sl->hex);
	rc = lm_sealed_file_meta(f, sl->keys, &sl->meta, &err);
	if (rc) {
		snprintf(msg, msgsize, "sealed layer %s: %s", cfg->path, err.msg);
		goto fail;
	}
	rc = lm_io_init(LM_IO_AUTO);
	if (rc < 0) {
		snprintf(msg, msgsize, "%s: cannot start the layer reader (LAMINA_IO=%s)", cfg->path,
			 getenv("LAMINA_IO") ? getenv("LAMINA_IO") : "");
		goto fail;
	}
	/* The very file checked, not whatever the path names now. */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", f->fd);
	rc = lm_io_open(AT_FDCWD, fdpath, cfg->direct, &sl->io);
	if (rc) {
		snprintf(msg, msgsize, "cannot open sealed layer %s: %s", cfg->path, strerror(-rc));
		goto fail;
	}
	/* The reader's descriptor is a new open of the file, without the
	 * lock; the lock lives on in a duplicate of the checked one. */
	if (f->lock_rc == 0) {
		sl->lockfd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
		if (sl->lockfd < 0) {
			rc = -errno;
			snprintf(msg, msgsize, "cannot open sealed layer %s: %s", cfg->path,
				 strerror(-rc));
			goto fail;
		}
	}
	if (cfg->cache) {
		sl->cache = cfg->cache;
	} else {
		rc = lm_cache_new(cfg->cache_size, &sl->cache);
		if (rc) {
			snprintf(msg, msgsize, "%s: out of memory for the chunk cache", cfg->path);
			goto fail;
		}
		sl->own_cache = true;
	}
	sl->owner = lm_cache_owner_new();
	sl->shift = sl->sb.chunk_shift;
	sl->report = cfg->report;
	sl->report_ctx = cfg->report_ctx;
	sl->base.ops = &sealed_ops;
	sl->base.writable = false;
	/* A device number of its own, the same on every mount of the layer,
	 * so copied-up objects keep their origin across mounts. */
	sl->base.dev = makedev(0x4c4d, (unsigned)sl->sb.digest[0] | (unsigned)sl->sb.digest[1] << 8 |
			       (unsigned)sl->sb.digest[2] << 16 | (unsigned)(sl->sb.digest[3] & 0x0f) << 24);
	*out = &sl->base;
	return 0;
fail:
	sealed_free(&sl->base);
	return rc;
}

const char *lm_layer_sealed_digest(const struct lm_layer *l)
{
	return l->ops == &sealed_ops ? SL(l)->hex : NULL;
}
