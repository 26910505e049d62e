/* The sealed layer (driver/layer/layer_sealed.c) without FUSE: layers made
 * with the builder, opened as layers, and read through the layer ops on
 * each io back end (the test runs itself once per LAMINA_IO value) and
 * with caches of every size, against the bytes that went in; and the
 * store's locks (crypt/sealed_store.h): a layer in use cannot be removed,
 * and only the temporary files of dead imports are cleaned.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "crypt.h"
#include "kdf.h"
#include "sealed.h"
#include "sealed_store.h"
#include "slotfile.h"

#include "cache/cache.h"
#include "io/io.h"
#include "layer/layer.h"

static char dir[] = "/var/tmp/lm-sealed-layer.XXXXXX";

struct blob {
	unsigned char *p;
	size_t len;
};

/* File contents of the test layer: sizes around the chunk size, random
 * and compressible, a repeated chunk, a sparse file. */
static struct blob files[8];
static const char *const fnames[8] = {
	"empty", "one", "below", "exact", "above", "big", "repeat", "sparse",
};

static void fill(struct blob *b, size_t len, int kind)
{
	b->len = len;
	b->p = malloc(len ? len : 1);
	if (!b->p)
		abort();
	for (size_t i = 0; i < len; i++)
		b->p[i] = kind == 0 ? (unsigned char)rand() : (unsigned char)("lamina "[i % 7]);
}

static void make_files(size_t chunk)
{
	fill(&files[0], 0, 0);
	fill(&files[1], 1, 0);
	fill(&files[2], chunk - 1, 1);
	fill(&files[3], chunk, 0);
	fill(&files[4], chunk + 1, 0);
	fill(&files[5], 12 * chunk + 123, 0);
	fill(&files[6], 6 * chunk, 0);
	for (size_t i = 1; i < 6; i++) /* every chunk the same */
		memcpy(files[6].p + i * chunk, files[6].p, chunk);
	fill(&files[7], 5 * chunk + 7, 0);
	memset(files[7].p, 0, 4 * chunk);
}

static void free_files(void)
{
	for (size_t i = 0; i < 8; i++)
		free(files[i].p);
}

/* Builds the test layer into @path; @dek NULL for a plain one. */
static void build(const char *path, unsigned shift, const unsigned char *dek)
{
	struct lm_sealed_build_opts o = { .chunk_shift = shift, .dek = dek,
					  .tenant = dek ? "acme" : NULL, .created = 1 };
	struct lm_sealed_attr d = { .mode = S_IFDIR | 0755, .mtime = 100 };
	struct lm_sealed_attr f = { .mode = S_IFREG | 0644, .uid = 7, .gid = 8, .mtime = 200,
				    .mtime_ns = 5 };
	struct lm_sealed_attr ln = { .mode = S_IFLNK | 0777, .mtime = 300, .link = "files/big" };
	struct lm_sealed_attr dev = { .mode = S_IFCHR | 0600, .rdev = makedev(1, 3) };
	struct lm_sealed_build *b = NULL;
	struct lm_err err = { "" };
	char hex[LM_SEALED_DIGEST_HEX + 1], p[64];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK_RC(lm_sealed_build_new(fd, &o, &b, &err), 0);
	if (!b)
		abort();
	CHECK_RC(lm_sealed_build_add(b, "files", &d, &err), 0);
	for (size_t i = 0; i < 8; i++) {
		snprintf(p, sizeof(p), "files/%s", fnames[i]);
		CHECK_RC(lm_sealed_build_add(b, p, &f, &err), 0);
		CHECK_RC(lm_sealed_build_data(b, files[i].p, files[i].len, &err), 0);
	}
	CHECK_RC(lm_sealed_build_link(b, "files/big-link", "files/big", &err), 0);
	CHECK_RC(lm_sealed_build_xattr(b, "files/one", "user.k", "v1", 2, &err), 0);
	CHECK_RC(lm_sealed_build_xattr(b, "files/one", "security.capability", "\1\2\3", 3, &err), 0);
	CHECK_RC(lm_sealed_build_add(b, "link", &ln, &err), 0);
	CHECK_RC(lm_sealed_build_add(b, "dev/null", &dev, &err), 0);
	CHECK_RC(lm_sealed_build_whiteout(b, "gone", &err), 0);
	CHECK_RC(lm_sealed_build_opaque(b, "opq", &err), 0);
	CHECK_RC(lm_sealed_build_finish(b, hex, &err), 0);
	if (err.msg[0])
		fprintf(stderr, "build: %s\n", err.msg);
	lm_sealed_build_free(b);
	close(fd);
}

struct names {
	char list[32][64];
	int n;
};

static int collect(void *ctx, const char *name, enum lm_ent_kind kind, unsigned dtype,
		   uint64_t ino)
{
	struct names *nm = ctx;

	(void)dtype, (void)ino;
	if (nm->n < 32)
		snprintf(nm->list[nm->n++], 64, "%s%s", kind == LM_ENT_WHITEOUT ? "-" : "", name);
	return 0;
}

static int reports;

static void on_report(void *ctx, const char *path, const char *what, int64_t block, int err)
{
	(void)ctx, (void)path, (void)what, (void)block, (void)err;
	__atomic_add_fetch(&reports, 1, __ATOMIC_RELAXED);
}

/* Opens the layer file as the mount does: the file (superblock checked),
 * its keys from @dek when given, then the layer. */
static struct lm_layer *open_layer(const char *path, const unsigned char *dek, struct lm_cache *c,
				   size_t cache_size, int want)
{
	struct lm_sealed_cfg cfg = { .path = path, .cache = c, .cache_size = cache_size,
				     .report = on_report };
	struct lm_err err = { "" };
	struct lm_layer *l = NULL;
	struct lm_sealed_file f;
	char msg[256] = "";
	int rc = lm_sealed_file_open_path(path, NULL, &f, &err);

	if (rc == 0 && dek)
		rc = lm_sealed_keys_new(&f.sb, dek, &cfg.keys);
	if (rc == 0) {
		cfg.file = &f;
		rc = lm_layer_sealed_open(&cfg, &l, msg, sizeof(msg));
		if (rc)
			CHECK(msg[0] != '\0');
	}
	if (rc != want) {
		fprintf(stderr, "open %s: %d (%s%s), want %d\n", path, rc, msg, err.msg, want);
		check_fails++;
	}
	lm_sealed_file_close(&f);
	return l;
}

/* Every file read whole, then in random pieces, against its bytes. */
static void check_reads(struct lm_layer *l, size_t chunk)
{
	unsigned char *buf = malloc(files[5].len + 2 * chunk);

	if (!buf)
		abort();
	for (size_t i = 0; i < 8; i++) {
		struct lm_file *f = NULL;
		char p[64];
		ssize_t n;

		snprintf(p, sizeof(p), "files/%s", fnames[i]);
		CHECK_RC(l->ops->open(l, p, O_RDONLY, 0, -1, -1, &f), 0);
		if (!f)
			continue;
		n = f->ops->pread(f, buf, files[i].len + chunk, 0);
		CHECK_RC(n, (ssize_t)files[i].len);
		CHECK(n < 0 || memcmp(buf, files[i].p, files[i].len) == 0);
		for (int k = 0; k < 100 && files[i].len; k++) {
			size_t off = (size_t)rand() % (files[i].len + 3);
			size_t len = (size_t)rand() % (3 * chunk) + 1;
			size_t want = off >= files[i].len ? 0 :
				len < files[i].len - off ? len : files[i].len - off;

			n = f->ops->pread(f, buf, len, (off_t)off);
			if (n != (ssize_t)want || (want && memcmp(buf, files[i].p + off, want))) {
				fprintf(stderr, "%s: read %zu at %zu: %zd, want %zu\n", p, len, off, n, want);
				check_fails++;
				break;
			}
		}
		/* Sequential reads, as the kernel sends them. */
		for (size_t off = 0; off < files[i].len; off += 131072) {
			n = f->ops->pread(f, buf, 131072, (off_t)off);
			CHECK(n > 0 && memcmp(buf, files[i].p + off, (size_t)n) == 0);
		}
		if (i == 7) {
			CHECK_RC(f->ops->lseek(f, 0, SEEK_DATA), (off_t)(4 * chunk));
			CHECK_RC(f->ops->lseek(f, 0, SEEK_HOLE), 0);
			CHECK_RC(f->ops->lseek(f, (off_t)(4 * chunk), SEEK_HOLE), (off_t)files[7].len);
		}
		CHECK_RC(f->ops->pwrite(f, buf, 1, 0), -EROFS);
		f->ops->close(f);
	}
	free(buf);
}

static void check_tree(struct lm_layer *l)
{
	struct lm_lentry e;
	struct names nm = { .n = 0 };
	struct stat st;
	char buf[256];
	bool opaque = false;

	CHECK_RC(l->ops->lookup(l, ".", "files", true, &e), 0);
	CHECK(e.kind == LM_ENT_OBJ && S_ISDIR(e.st.st_mode));
	CHECK_RC(l->ops->lookup(l, "files", "big", false, &e), 0);
	CHECK(e.kind == LM_ENT_OBJ && e.st.st_nlink == 2 && e.st.st_uid == 7 &&
	      e.st.st_mtim.tv_sec == 200 && e.st.st_mtim.tv_nsec == 5);
	CHECK_RC(l->ops->getattr(l, "files/big-link", &st), 0);
	CHECK_RC(st.st_ino, e.st.st_ino);
	CHECK_RC(st.st_dev, l->dev);
	CHECK_RC(l->ops->lookup(l, ".", "gone", false, &e), 0);
	CHECK(e.kind == LM_ENT_WHITEOUT);
	CHECK_RC(l->ops->lookup(l, ".", "absent", false, &e), 0);
	CHECK(e.kind == LM_ENT_NONE);
	CHECK_RC(l->ops->lookup(l, "files/one", "x", false, &e), 0);
	CHECK(e.kind == LM_ENT_NONE);
	CHECK_RC(l->ops->lookup(l, ".", "opq", true, &e), 0);
	CHECK(e.kind == LM_ENT_OBJ && e.opaque);
	CHECK_RC(l->ops->getattr(l, "dev/null", &st), 0);
	CHECK(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	CHECK_RC(l->ops->getattr(l, "nope/x", &st), -ENOENT);
	CHECK_RC(l->ops->readlink(l, "link", buf, sizeof(buf)), 9);
	CHECK(memcmp(buf, "files/big", 9) == 0);
	CHECK_RC(l->ops->readlink(l, "link", buf, 4), 4);
	CHECK_RC(l->ops->getxattr(l, "files/one", "user.k", buf, sizeof(buf)), 2);
	CHECK_RC(l->ops->getxattr(l, "files/one", "user.k", NULL, 0), 2);
	CHECK_RC(l->ops->getxattr(l, "files/one", "user.k", buf, 1), -ERANGE);
	CHECK_RC(l->ops->getxattr(l, "files/one", "user.none", buf, sizeof(buf)), -ENODATA);
	CHECK_RC(l->ops->listxattr(l, "files/one", NULL, 0),
		 (ssize_t)(sizeof("user.k") + sizeof("security.capability")));
	CHECK_RC(l->ops->iterate(l, ".", collect, &nm, &opaque), 0);
	CHECK_RC(nm.n, 5); /* dev files gone link opq */
	CHECK(!opaque);
	for (int i = 1; i < nm.n; i++) /* sorted */
		CHECK(strcmp(nm.list[i - 1] + (nm.list[i - 1][0] == '-'),
			     nm.list[i] + (nm.list[i][0] == '-')) < 0);
	nm.n = 0;
	CHECK_RC(l->ops->iterate(l, "opq", collect, &nm, &opaque), 0);
	CHECK(opaque);
	CHECK_RC(l->ops->iterate(l, "files/one", collect, &nm, NULL), -ENOTDIR);
	CHECK(l->ops->mkdir == NULL && l->ops->copy_in == NULL);
}

/* A chunk of "big" flipped on disk: its reads fail with EIO and are
 * reported; every other file still reads right. */
static void check_damage(const char *good, const unsigned char *dek)
{
	char bad[256];
	struct lm_layer *l;
	struct lm_file *f = NULL;
	unsigned char b[4096];
	int fd;

	snprintf(bad, sizeof(bad), "%s/bad", dir);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", good, bad);
		CHECK_RC(system(cmd), 0);
	}
	fd = open(bad, O_RDWR);
	CHECK(fd >= 0);
	/* Byte 256 is the first stored chunk's first byte. */
	CHECK_RC(pread(fd, b, 1, 256), 1);
	b[0] ^= 0x40;
	CHECK_RC(pwrite(fd, b, 1, 256), 1);
	close(fd);
	reports = 0;
	l = open_layer(bad, dek, NULL, 1 << 20, 0);
	if (!l)
		return;
	{
		int eio = 0, ok = 0;

		for (size_t i = 1; i < 8; i++) {
			char p[64];
			unsigned char *buf = malloc(files[i].len);
			ssize_t n;

			snprintf(p, sizeof(p), "files/%s", fnames[i]);
			if (!buf || l->ops->open(l, p, O_RDONLY, 0, -1, -1, &f))
				abort();
			n = f->ops->pread(f, buf, files[i].len, 0);
			if (n == -EIO)
				eio++;
			else if (n == (ssize_t)files[i].len && !memcmp(buf, files[i].p, files[i].len))
				ok++;
			else
				CHECK(!"a damaged layer returned wrong bytes");
			f->ops->close(f);
			free(buf);
		}
		CHECK_RC(eio, 1);
		CHECK_RC(ok, 6);
		CHECK(reports >= 1);
	}
	lm_layer_free(l);
}

/* A layer of a store served (as laminafs opens it) cannot be removed
 * until the layer is freed; readers are not held off; a removal holding
 * the file does not stop a mount. @path is a plain layer file. */
static void check_rm_lock(struct lm_store *st, const char *path, char *hex)
{
	struct lm_err err = { "" };
	struct lm_sealed_file f;
	struct lm_layer *a, *b;
	char lpath[512];
	int fd;

	CHECK_RC(lm_sealed_file_open_path(path, NULL, &f, &err), 0);
	CHECK_RC(f.lock_rc, 0);
	memcpy(hex, f.hex, LM_SEALED_DIGEST_HEX + 1);
	lm_sealed_file_close(&f);
	snprintf(lpath, sizeof(lpath), "%s/%s/%s", st->path, LM_SEALED_STORE_DIR, hex);
	CHECK_RC(link(path, lpath), 0);
	a = open_layer(lpath, NULL, NULL, 0, 0);
	b = open_layer(lpath, NULL, NULL, 0, 0);       /* two mounts share it */
	lm_err_clear(&err);
	CHECK_RC(lm_sealed_remove(st, hex, &err), -EBUSY);
	CHECK(strstr(err.msg, "in use by a laminafs mount") != NULL);
	CHECK_RC(access(lpath, F_OK), 0);
	CHECK_RC(lm_sealed_file_open(st, hex, false, &f, &err), 0);
	CHECK_RC(f.lock_rc, -ENOLCK);                  /* a reader takes none */
	lm_sealed_file_close(&f);
	lm_layer_free(a);
	CHECK_RC(lm_sealed_remove(st, hex, &err), -EBUSY);
	lm_layer_free(b);
	CHECK_RC(lm_sealed_remove(st, hex, &err), 0);
	CHECK(access(lpath, F_OK) < 0 && errno == ENOENT);
	CHECK_RC(lm_sealed_remove(st, hex, &err), -ENOENT);

	/* While a removal holds the file, a mount still opens it. */
	CHECK_RC(link(path, lpath), 0);
	fd = open(lpath, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
	CHECK_RC(lm_sealed_file_open_path(lpath, hex, &f, &err), 0);
	CHECK_RC(f.lock_rc, -EWOULDBLOCK);
	lm_sealed_file_close(&f);
	close(fd);
	CHECK_RC(unlink(lpath), 0);
}

static int removed_count;

static void on_removed(void *arg, const char *name)
{
	(void)arg, (void)name;
	removed_count++;
}

static bool present(int dfd, const char *name)
{
	return faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* An import's temporary file: kept while it is held, removed once its
 * import is dead (no lock), not removed while an import creates or
 * renames its own; the lock does not follow the file to its digest. */
static void check_tmp_lock(struct lm_store *st, const char *hex)
{
	static const char stale[] = LM_SEALED_TMP_PREFIX "00000000000000aa.lmtmp";
	char name[LM_SEALED_TMP_NAME_MAX];
	int dfd = lm_store_dir(st, LM_SEALED_STORE_DIR, true), fd, probe;

	CHECK(dfd >= 0);
	fd = lm_sealed_tmp_create(dfd, name, sizeof(name));
	CHECK(fd >= 0);
	probe = openat(dfd, stale, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(probe >= 0);
	close(probe);
	probe = openat(dfd, ".other", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	close(probe);
	/* An import between creating and locking its file. */
	probe = lm_store_dir(st, LM_SEALED_STORE_DIR, false);
	CHECK(probe >= 0 && flock(probe, LOCK_SH) == 0);
	CHECK_RC(lm_sealed_tmp_clean(st, on_removed, NULL), 0);
	CHECK(present(dfd, stale));
	close(probe);
	removed_count = 0;
	CHECK_RC(lm_sealed_tmp_clean(st, on_removed, NULL), 1);
	CHECK_RC(removed_count, 1);
	CHECK(!present(dfd, stale) && present(dfd, name) && present(dfd, ".other"));
	CHECK_RC(lm_sealed_tmp_commit(dfd, fd, name, hex), 0);
	CHECK(!present(dfd, name) && present(dfd, hex));
	probe = openat(dfd, hex, O_RDONLY | O_CLOEXEC);
	CHECK(probe >= 0 && flock(probe, LOCK_EX | LOCK_NB) == 0);
	close(probe);
	close(fd);
	/* A digest the store has: the file stays temporary, and held. */
	fd = lm_sealed_tmp_create(dfd, name, sizeof(name));
	CHECK(fd >= 0);
	CHECK_RC(lm_sealed_tmp_commit(dfd, fd, name, hex), 1);
	CHECK_RC(lm_sealed_tmp_clean(st, NULL, NULL), 0);
	CHECK(present(dfd, name));
	close(fd);
	CHECK_RC(lm_sealed_tmp_clean(st, NULL, NULL), 1);
	CHECK(!present(dfd, name) && present(dfd, hex) && present(dfd, ".other"));
	close(dfd);
}

/* An encrypted import killed between writing its slot file and the rename
 * leaves both: the cleaner removes both. A temporary copy of a layer the
 * store has leaves that layer's slot file alone. @path: an encrypted layer
 * file. */
static void check_tmp_slot(const char *path)
{
	static const char tmp[] = LM_SEALED_TMP_PREFIX "00000000000000bb.lmtmp";
	char store[300], slot[LM_SEALED_SLOT_NAME_MAX], sfile[600], tpath[600], lpath[600];
	char hex[LM_SEALED_DIGEST_HEX + 1];
	struct lm_err err = { "" };
	struct lm_sealed_file f;
	struct lm_store *st = NULL;
	int dfd, fd;

	snprintf(store, sizeof(store), "%s/store", dir);
	CHECK_RC(lm_store_open(store, true, &st, &err), 0);
	CHECK_RC(lm_sealed_file_open_path(path, NULL, &f, &err), 0);
	if (!st || f.fd < 0)
		return;
	lm_sealed_slot_name(f.sb.layer_id, slot);
	memcpy(hex, f.hex, sizeof(hex));
	lm_sealed_file_close(&f);
	dfd = lm_store_dir(st, LM_SLOTFILE_DIR, true);
	CHECK(dfd >= 0);
	close(dfd);
	dfd = lm_store_dir(st, LM_SEALED_STORE_DIR, true);
	CHECK(dfd >= 0);
	close(dfd);
	snprintf(sfile, sizeof(sfile), "%s/%s/%s%s", store, LM_SLOTFILE_DIR, slot,
		 LM_SLOTFILE_SUFFIX);
	snprintf(tpath, sizeof(tpath), "%s/%s/%s", store, LM_SEALED_STORE_DIR, tmp);
	snprintf(lpath, sizeof(lpath), "%s/%s/%s", store, LM_SEALED_STORE_DIR, hex);
	for (int committed = 0; committed < 2; committed++) {
		fd = open(sfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		CHECK(fd >= 0 && write(fd, "slots", 5) == 5);
		close(fd);
		CHECK_RC(link(path, tpath), 0);
		if (committed)
			CHECK_RC(link(path, lpath), 0);
		CHECK_RC(lm_sealed_tmp_clean(st, NULL, NULL), 1);
		CHECK(access(tpath, F_OK) < 0 && errno == ENOENT);
		if (committed) {
			CHECK_RC(access(sfile, F_OK), 0);
			CHECK_RC(unlink(lpath), 0);
			CHECK_RC(unlink(sfile), 0);
		} else {
			CHECK(access(sfile, F_OK) < 0 && errno == ENOENT);
		}
	}
	lm_store_free(st);
}

static void check_locks(const char *path)
{
	char store[300], hex[LM_SEALED_DIGEST_HEX + 1];
	struct lm_err err = { "" };
	struct lm_store *st = NULL;
	int dfd;

	snprintf(store, sizeof(store), "%s/store", dir);
	CHECK_RC(lm_store_open(store, true, &st, &err), 0);
	if (!st)
		return;
	dfd = lm_store_dir(st, LM_SEALED_STORE_DIR, true);
	CHECK(dfd >= 0);
	close(dfd);
	check_rm_lock(st, path, hex);
	check_tmp_lock(st, hex);
	lm_store_free(st);
}

static void run_backend(void)
{
	static const unsigned shifts[] = { 14, 16, 20 };
	unsigned char *dek = lm_secret_alloc(32);
	char path[256];

	lm_kdf_new_dek(dek);
	for (size_t s = 0; s < sizeof(shifts) / sizeof(shifts[0]); s++) {
		size_t chunk = (size_t)1 << shifts[s];

		make_files(chunk);
		for (int enc = 0; enc < 2; enc++) {
			static const size_t sizes[] = { 0, 3 << 20, 256 << 20 };
			const unsigned char *k = enc ? dek : NULL;
			struct lm_layer *l;

			snprintf(path, sizeof(path), "%s/layer-%u-%d", dir, shifts[s], enc);
			build(path, shifts[s], k);
			for (size_t c = 0; c < sizeof(sizes) / sizeof(sizes[0]); c++) {
				l = open_layer(path, k, NULL, sizes[c], 0);
				if (!l)
					continue;
				if (c == 0)
					check_tree(l);
				check_reads(l, chunk);
				lm_layer_free(l);
			}
			/* Two layers sharing one cache. */
			{
				struct lm_cache *cache = NULL;
				struct lm_layer *a, *b;

				CHECK_RC(lm_cache_new(8 << 20, &cache), 0);
				a = open_layer(path, k, cache, 0, 0);
				b = open_layer(path, k, cache, 0, 0);
				if (a && b) {
					check_reads(a, chunk);
					check_reads(b, chunk);
				}
				lm_layer_free(a);
				lm_layer_free(b);
				lm_cache_free(cache);
			}
			if (s == 1) {
				unsigned char other[32];

				if (!enc)
					check_locks(path);
				else
					check_tmp_slot(path);
				check_damage(path, k);
				if (enc) {
					lm_crypt_random(other, sizeof(other));
					open_layer(path, NULL, NULL, 0, -ENOKEY);
					open_layer(path, other, NULL, 0, -EKEYREJECTED);
				}
			}
		}
		free_files();
	}
	{
		static const char zeros[] =
			"0000000000000000000000000000000000000000000000000000000000000000";
		struct lm_err err = { "" };
		struct lm_sealed_file f;

		snprintf(path, sizeof(path), "%s/layer-16-0", dir);
		CHECK_RC(lm_sealed_file_open_path(path, zeros, &f, &err), -EBADMSG);
		CHECK(strstr(err.msg, path) != NULL);
		lm_err_clear(&err);
		snprintf(path, sizeof(path), "%s/nothing", dir);
		CHECK_RC(lm_sealed_file_open_path(path, NULL, &f, &err), -ENOENT);
		CHECK(strstr(err.msg, path) != NULL);
	}
	lm_secret_free(dek);
}

int main(int argc, char **argv)
{
	static const char *const backends[] = { "uring", "shared", "pread" };

	if (argc > 1) {
		/* A child: one back end, set by the parent in LAMINA_IO. */
		int rc = lm_io_init(LM_IO_AUTO);

		if (rc < 0) {
			fprintf(stderr, "test_sealed_layer: io back end %s unavailable: %s\n",
				getenv("LAMINA_IO"), strerror(-rc));
			return 77;
		}
		if (lm_crypt_init() || !mkdtemp(dir))
			return 1;
		srand(1);
		run_backend();
		{
			char cmd[300];

			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
			if (system(cmd))
				check_fails++;
		}
		if (check_fails) {
			fprintf(stderr, "test_sealed_layer (%s): %d check(s) failed\n",
				lm_io_backend_name(), check_fails);
			return 1;
		}
		printf("test_sealed_layer (%s): all checks passed\n", lm_io_backend_name());
		return 0;
	}
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			setenv("LAMINA_IO", backends[i], 1);
			execl("/proc/self/exe", argv[0], "child", (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
			check_fails++;
			continue;
		}
		if (WEXITSTATUS(status) == 77 && strcmp(backends[i], "pread") != 0)
			fprintf(stderr, "test_sealed_layer: %s skipped: io_uring unavailable here\n",
				backends[i]);
		else if (WEXITSTATUS(status) != 0)
			check_fails++;
	}
	return check_fails ? 1 : 0;
}
