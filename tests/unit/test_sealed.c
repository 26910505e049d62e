/* Unit test for crypt/sealed: layers made by the builder (plain and
 * encrypted, each cipher this machine has, chunk shifts 14 and 20, each
 * compression) read back through the decoder and compared with what went
 * in; every kind of damage refused with its documented error and never
 * with wrong bytes; metadata that breaks a rule, re-encoded by hand,
 * refused; and the time to open the metadata of a 100k-entry layer. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "crypt.h"
#include "kdf.h"
#include "le.h"
#include "sealed.h"
#include "../fuzz/sealed_edit.h"

static const unsigned char test_dek[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const unsigned char other_dek[32] = { 9, 9, 9 };
static const unsigned char test_id[16] = { 0x1a, 0x2b, 0x3c };

/* ---- Making and reading layers ---- */

struct layer {
	unsigned char *buf;
	size_t len;
	char hex[LM_SEALED_DIGEST_HEX + 1];
	struct lm_sealed_build_stats st;
};

/* Deterministic bytes: xorshift, with runs of text every other 4 KiB so
 * some chunks compress and some do not. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		if ((i >> 12) & 1) {
			p[i] = (unsigned char)("lamina sealed layer "[i % 20]);
			continue;
		}
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

/* Threads of the builders made (0: one a CPU). */
static unsigned test_threads;

static struct lm_sealed_build *new_builder(int *fd, char *path, const unsigned char *dek,
					   enum lm_cipher cipher, unsigned shift,
					   enum lm_sealed_compress comp, const unsigned char *id)
{
	struct lm_sealed_build_opts o = {
		.chunk_shift = shift, .compress = comp, .dek = dek, .cipher = cipher,
		.tenant = dek ? "acme" : NULL, .layer_id = id ? id : test_id,
		.created = 1700000000, .threads = test_threads,
	};
	struct lm_sealed_build *b = NULL;
	struct lm_err err = { "" };
	const char *t = getenv("TMPDIR");

	snprintf(path, 256, "%s/lamina-sealed.XXXXXX", t ? t : "/tmp");
	*fd = mkstemp(path);
	if (*fd < 0) {
		perror("mkstemp");
		exit(1);
	}
	CHECK_RC(lm_sealed_build_new(*fd, &o, &b, &err), 0);
	if (!b) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	return b;
}

/* Finishes @b into @l (the file read back into memory, then removed). */
static void finish(struct lm_sealed_build *b, int fd, const char *path, struct layer *l)
{
	struct lm_err err = { "" };
	struct stat st;

	CHECK_RC(lm_sealed_build_finish(b, l->hex, &err), 0);
	lm_sealed_build_stats(b, &l->st);
	lm_sealed_build_free(b);
	if (fstat(fd, &st) < 0)
		exit(1);
	l->len = (size_t)st.st_size;
	l->buf = malloc(l->len);
	if (!l->buf || pread(fd, l->buf, l->len, 0) != (ssize_t)l->len)
		exit(1);
	close(fd);
	unlink(path);
}

/* An opened layer, as a reader holds it. */
struct opened {
	struct lm_sealed_sb sb;
	struct lm_sealed_keys *keys;
	struct lm_sealed_meta *m;
	const unsigned char *buf;
	unsigned char *scratch;
};

static void close_layer(struct opened *o)
{
	lm_sealed_meta_free(o->m);
	lm_sealed_keys_free(o->keys);
	free(o->scratch);
	memset(o, 0, sizeof(*o));
}

/* Opens @len bytes at @buf as a reader would that expects digest @hex
 * (NULL: any); returns 0 or the first error. */
static int open_layer(const unsigned char *buf, size_t len, const unsigned char *dek,
		      const char *hex, struct opened *o)
{
	char got[LM_SEALED_DIGEST_HEX + 1];
	int rc;

	memset(o, 0, sizeof(*o));
	o->buf = buf;
	rc = lm_sealed_sb_decode(buf, len, len, &o->sb);
	if (rc)
		return rc;
	lm_sealed_digest_hex(&o->sb, got);
	if (hex && strcmp(got, hex))
		return -ESTALE;
	if (lm_sealed_encrypted(&o->sb)) {
		rc = lm_sealed_keys_new(&o->sb, dek, &o->keys);
		if (rc)
			return rc;
		o->scratch = malloc(lm_sealed_scratch_size(&o->sb));
	}
	rc = lm_sealed_meta_open(&o->sb, o->keys, buf + o->sb.meta_off, buf + o->sb.index_off,
				 &o->m);
	if (rc)
		close_layer(o);
	return rc;
}

/* Reads all of regular file @ino into *out (caller frees). */
static int read_file(struct opened *o, uint32_t ino, unsigned char **out, size_t *outlen)
{
	size_t chunk = (size_t)1 << o->sb.chunk_shift;
	struct lm_sealed_ino in;
	unsigned char *p;
	int rc = 0;

	lm_sealed_meta_ino(o->m, ino, &in);
	p = calloc(1, in.size + 1);
	for (uint32_t n = 0; n < in.count && !rc; n++) {
		uint32_t r = lm_sealed_meta_ref(o->m, ino, n);
		struct lm_sealed_chunk c;

		if (r == LM_SEALED_HOLE)
			continue;
		lm_sealed_meta_chunk(o->m, r, &c);
		rc = lm_sealed_chunk_open(&o->sb, o->keys, &c, r, o->buf + c.offset,
					  p + (size_t)n * chunk, o->scratch);
	}
	*out = p;
	*outlen = in.size;
	return rc;
}

/* The inode at @path, or -ENOENT (a whiteout included). */
static int walk(struct opened *o, const char *path, uint32_t *ino)
{
	struct lm_sealed_ent e;
	const char *s = path;
	uint32_t at = LM_SEALED_ROOT;

	while (*s) {
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		int rc = lm_sealed_meta_lookup(o->m, at, s, n, &e);

		if (rc)
			return rc;
		if (e.kind != LM_SEALED_DK_OBJ)
			return -ENOENT;
		at = e.ino;
		s = slash ? slash + 1 : s + n;
	}
	*ino = at;
	return 0;
}

/* ---- The test tree ---- */

#define BIG (3u * 1024 * 1024 + 12345)
#define XVAL_BIG 65536u

static void add(struct lm_sealed_build *b, const char *path, uint32_t mode, const char *link)
{
	struct lm_sealed_attr a = { .mode = mode, .uid = 1000, .gid = 100, .mtime = 1600000000,
				    .mtime_ns = 123, .link = link };
	struct lm_err err = { "" };

	if (S_ISCHR(mode))
		a.rdev = makedev(1, 3);
	if (S_ISBLK(mode))
		a.rdev = makedev(8, 1);
	CHECK_RC(lm_sealed_build_add(b, path, &a, &err), 0);
}

static void data(struct lm_sealed_build *b, const void *p, size_t n)
{
	struct lm_err err = { "" };

	CHECK_RC(lm_sealed_build_data(b, p, n, &err), 0);
}

/* The content of file @name of the tree: deterministic, by name. */
static size_t content(const char *name, size_t chunk, unsigned char *p)
{
	size_t n = 0;

	if (!strcmp(name, "one"))
		n = 1;
	else if (!strcmp(name, "cm1"))
		n = chunk - 1;
	else if (!strcmp(name, "c"))
		n = chunk;
	else if (!strcmp(name, "cp1") || !strcmp(name, "dup"))
		n = chunk + 1;
	else if (!strcmp(name, "big"))
		n = BIG;
	if (p && n)
		fill(p, n, strcmp(name, "dup") ? (uint64_t)name[0] * 31 + strlen(name) : 'c' * 31 + 3);
	return n;
}

static void add_file(struct lm_sealed_build *b, const char *path, const char *name, size_t chunk)
{
	size_t n = content(name, chunk, NULL);
	unsigned char *p = malloc(n + 1);

	content(name, chunk, p);
	add(b, path, S_IFREG | 0644, NULL);
	/* In uneven pieces, so chunks fill across calls. */
	for (size_t at = 0; at < n;) {
		size_t k = n - at < 7777 ? n - at : 7777;

		data(b, p + at, k);
		at += k;
	}
	free(p);
}

/* A sparse file: a zero chunk, a data chunk, two zero chunks, a tail. */
static void add_sparse(struct lm_sealed_build *b, size_t chunk, unsigned char *out)
{
	size_t n = 4 * chunk + 100;

	memset(out, 0, n);
	fill(out + chunk, chunk, 77);
	fill(out + 4 * chunk, 100, 78);
	add(b, "sparse", S_IFREG | 0600, NULL);
	data(b, out, n);
}

static char long_target[4097];
static char long_name[256];
static unsigned char cap_val[20] = { 1, 0, 0, 2, 0x20 };

static void build_tree(struct lm_sealed_build *b, size_t chunk, unsigned char *sparse)
{
	struct lm_err err = { "" };
	unsigned char *xbig = calloc(1, XVAL_BIG);
	char p[300];

	memset(long_target, 'x', 4095);
	memset(long_name, 'n', 255);
	add(b, "", S_IFDIR | 0711, NULL);
	add_file(b, "empty", "empty", chunk);
	add_file(b, "one", "one", chunk);
	add_file(b, "cm1", "cm1", chunk);
	add_file(b, "c", "c", chunk);
	add_file(b, "cp1", "cp1", chunk);
	add_file(b, "d/dup", "dup", chunk);           /* d/ made on the way */
	add_file(b, "big", "big", chunk);
	add_sparse(b, chunk, sparse);
	add(b, "sl", S_IFLNK | 0777, "one");
	add(b, "longlink", S_IFLNK | 0777, long_target);
	add(b, "dev/null", S_IFCHR | 0666, NULL);
	add(b, "dev/sda", S_IFBLK | 0660, NULL);
	add(b, "fifo", S_IFIFO | 0644, NULL);
	add(b, "sock", S_IFSOCK | 0755, NULL);
	CHECK_RC(lm_sealed_build_link(b, "hl", "one", &err), 0);
	CHECK_RC(lm_sealed_build_link(b, "d/hl2", "one", &err), 0);
	CHECK_RC(lm_sealed_build_xattr(b, "one", "user.z", "zz", 2, &err), 0);
	CHECK_RC(lm_sealed_build_xattr(b, "one", "security.capability", cap_val,
					 sizeof(cap_val), &err), 0);
	CHECK_RC(lm_sealed_build_xattr(b, "one", "user.z", "z", 1, &err), 0);
	CHECK_RC(lm_sealed_build_xattr(b, "d", "trusted.empty", "", 0, &err), 0);
	CHECK_RC(lm_sealed_build_xattr(b, "c", "user.big", xbig, XVAL_BIG, &err), 0);
	CHECK_RC(lm_sealed_build_whiteout(b, "d/gone", &err), 0);
	CHECK_RC(lm_sealed_build_opaque(b, "opq", &err), 0);
	add(b, "opq", S_IFDIR | 0700, NULL);          /* keeps the flag */
	snprintf(p, sizeof(p), "d/%s", long_name);
	add(b, p, S_IFREG | 0644, NULL);
	add_file(b, "rep", "one", chunk);
	add_file(b, "rep", "cm1", chunk);             /* a later entry wins */
	add(b, "rd/x", S_IFREG | 0644, NULL);
	add(b, "rd", S_IFREG | 0644, NULL);           /* loses rd/x */
	add(b, "kd/child", S_IFREG | 0644, NULL);
	add(b, "kd", S_IFDIR | 0700, NULL);           /* keeps kd/child */
	add(b, "a/b/c/deep", S_IFREG | 0644, NULL);
	free(xbig);
}

static void check_attr(struct opened *o, const char *path, uint32_t mode, uint32_t nlink,
		       uint64_t size)
{
	struct lm_sealed_ino in;
	uint32_t ino = 0;
	int rc = walk(o, path, &ino);

	CHECK_RC(rc, 0);
	if (rc) {
		fprintf(stderr, "  path %s\n", path);
		return;
	}
	lm_sealed_meta_ino(o->m, ino, &in);
	CHECK(in.mode == mode);
	CHECK(in.nlink == nlink);
	CHECK(in.size == size);
	if (in.mode != mode || in.nlink != nlink || in.size != size)
		fprintf(stderr, "  %s: mode 0%o nlink %u size %llu\n", path, in.mode, in.nlink,
			(unsigned long long)in.size);
}

static void check_data(struct opened *o, const char *path, const unsigned char *want,
		       size_t n)
{
	unsigned char *got = NULL;
	size_t len = 0;
	uint32_t ino = 0;

	CHECK_RC(walk(o, path, &ino), 0);
	CHECK_RC(read_file(o, ino, &got, &len), 0);
	CHECK(len == n && (n == 0 || !memcmp(got, want, n)));
	free(got);
}

static void check_file(struct opened *o, const char *path, const char *name)
{
	size_t chunk = (size_t)1 << o->sb.chunk_shift, n = content(name, chunk, NULL);
	unsigned char *want = malloc(n + 1);

	content(name, chunk, want);
	check_data(o, path, want, n);
	free(want);
}

static void check_xattrs(struct opened *o)
{
	const char *name;
	const void *val;
	size_t nlen, vlen;
	uint32_t ino = 0;
	struct lm_sealed_ino in;

	walk(o, "one", &ino);
	lm_sealed_meta_ino(o->m, ino, &in);
	CHECK(in.xattr_count == 2);
	lm_sealed_meta_xattr(o->m, ino, 0, &name, &nlen, &val, &vlen);
	CHECK(nlen == 19 && !memcmp(name, "security.capability", 19));
	CHECK(vlen == sizeof(cap_val) && !memcmp(val, cap_val, vlen));
	lm_sealed_meta_xattr(o->m, ino, 1, &name, &nlen, &val, &vlen);
	CHECK(nlen == 6 && !memcmp(name, "user.z", 6) && vlen == 1 && !memcmp(val, "z", 1));
	walk(o, "d", &ino);
	lm_sealed_meta_ino(o->m, ino, &in);
	CHECK(in.xattr_count == 1);
	lm_sealed_meta_xattr(o->m, ino, 0, &name, &nlen, &val, &vlen);
	CHECK(nlen == 13 && vlen == 0);
	walk(o, "c", &ino);
	lm_sealed_meta_xattr(o->m, ino, 0, &name, &nlen, &val, &vlen);
	CHECK(vlen == XVAL_BIG);
}

static void check_dirs(struct opened *o)
{
	struct lm_sealed_ent e, prev = { 0 };
	struct lm_sealed_ino in;
	uint32_t ino = 0;
	char p[300];

	lm_sealed_meta_ino(o->m, LM_SEALED_ROOT, &in);
	CHECK(in.mode == (S_IFDIR | 0711) && in.flags == 0);
	for (uint32_t i = 0; i < in.count; i++) {
		lm_sealed_meta_dirent(o->m, LM_SEALED_ROOT, i, &e);
		if (i)
			CHECK(memcmp(prev.name, e.name, prev.name_len < e.name_len ?
				     prev.name_len : e.name_len) <= 0);
		prev = e;
	}
	CHECK_RC(lm_sealed_meta_lookup(o->m, LM_SEALED_ROOT, "nope", 4, &e), -ENOENT);
	walk(o, "one", &ino);
	CHECK_RC(lm_sealed_meta_lookup(o->m, ino, "x", 1, &e), -ENOTDIR);
	walk(o, "d", &ino);
	CHECK_RC(lm_sealed_meta_lookup(o->m, ino, "gone", 4, &e), 0);
	CHECK(e.kind == LM_SEALED_DK_WHITEOUT && e.ino == 0);
	walk(o, "opq", &ino);
	lm_sealed_meta_ino(o->m, ino, &in);
	CHECK(in.flags == LM_SEALED_IF_OPAQUE && in.mode == (S_IFDIR | 0700));
	snprintf(p, sizeof(p), "d/%s", long_name);
	check_attr(o, p, S_IFREG | 0644, 1, 0);
	check_attr(o, "rd", S_IFREG | 0644, 1, 0);
	check_attr(o, "kd", S_IFDIR | 0700, 2, 0);
	check_attr(o, "kd/child", S_IFREG | 0644, 1, 0);
	check_attr(o, "a/b", S_IFDIR | 0755, 3, 0);
	check_attr(o, "a/b/c/deep", S_IFREG | 0644, 1, 0);
	check_attr(o, "d", S_IFDIR | 0755, 2, 0);
	check_attr(o, "", S_IFDIR | 0711, 2 + 5, 0);  /* d dev opq kd a */
	CHECK_RC(walk(o, "rd/x", &ino), -ENOTDIR);
}

static void check_special(struct opened *o)
{
	struct lm_sealed_ino in;
	uint32_t ino = 0, one = 0;
	const char *t;
	size_t n;

	walk(o, "sl", &ino);
	t = lm_sealed_meta_link(o->m, ino, &n);
	CHECK(t && n == 3 && !memcmp(t, "one", 3));
	walk(o, "longlink", &ino);
	t = lm_sealed_meta_link(o->m, ino, &n);
	CHECK(t && n == 4095 && !memcmp(t, long_target, n));
	check_attr(o, "longlink", S_IFLNK | 0777, 1, 4095);
	walk(o, "dev/null", &ino);
	lm_sealed_meta_ino(o->m, ino, &in);
	CHECK(in.mode == (S_IFCHR | 0666) && in.rdev == makedev(1, 3));
	walk(o, "dev/sda", &ino);
	lm_sealed_meta_ino(o->m, ino, &in);
	CHECK(in.mode == (S_IFBLK | 0660) && in.rdev == makedev(8, 1));
	check_attr(o, "fifo", S_IFIFO | 0644, 1, 0);
	check_attr(o, "sock", S_IFSOCK | 0755, 1, 0);
	check_attr(o, "one", S_IFREG | 0644, 3, 1);
	walk(o, "one", &one);
	walk(o, "hl", &ino);
	CHECK(ino == one);
	walk(o, "d/hl2", &ino);
	CHECK(ino == one);
	lm_sealed_meta_ino(o->m, one, &in);
	CHECK(in.uid == 1000 && in.gid == 100 && in.mtime == 1600000000 && in.mtime_ns == 123);
	CHECK(lm_sealed_meta_link(o->m, one, &n) == NULL);
}

/* Every file of the tree, every chunk of the layer. */
static void check_contents(struct opened *o, const unsigned char *sparse)
{
	size_t chunk = (size_t)1 << o->sb.chunk_shift;
	unsigned char *buf = malloc(chunk);
	struct lm_sealed_chunk c;
	uint32_t ino = 0;

	check_file(o, "empty", "empty");
	check_file(o, "one", "one");
	check_file(o, "cm1", "cm1");
	check_file(o, "c", "c");
	check_file(o, "cp1", "cp1");
	check_file(o, "d/dup", "dup");
	check_file(o, "big", "big");
	check_file(o, "rep", "cm1");
	check_data(o, "sparse", sparse, 4 * chunk + 100);
	walk(o, "sparse", &ino);
	CHECK(lm_sealed_meta_ref(o->m, ino, 0) == LM_SEALED_HOLE);
	CHECK(lm_sealed_meta_ref(o->m, ino, 1) != LM_SEALED_HOLE);
	CHECK(lm_sealed_meta_ref(o->m, ino, 2) == LM_SEALED_HOLE);
	CHECK(lm_sealed_meta_ref(o->m, ino, 3) == LM_SEALED_HOLE);
	for (uint32_t i = 0; i < o->sb.chunk_count; i++) {
		lm_sealed_meta_chunk(o->m, i, &c);
		CHECK_RC(lm_sealed_chunk_hash_check(&c, o->buf + c.offset), 0);
		CHECK_RC(lm_sealed_chunk_open(&o->sb, o->keys, &c, i, o->buf + c.offset, buf,
					      o->scratch), 0);
	}
	free(buf);
}

static void check_layer(struct layer *l, const unsigned char *dek, const unsigned char *sparse)
{
	char hex[LM_SEALED_DIGEST_HEX + 1];
	struct opened o;

	CHECK(lm_sealed_digest_valid(l->hex));
	CHECK_RC(open_layer(l->buf, l->len, dek, l->hex, &o), 0);
	if (!o.m)
		return;
	lm_sealed_digest_hex(&o.sb, hex);
	CHECK(!strcmp(hex, l->hex));
	CHECK(o.sb.created == 1700000000 && !memcmp(o.sb.layer_id, test_id, 16));
	CHECK(!strcmp(o.sb.tenant, dek ? "acme" : ""));
	CHECK(lm_sealed_meta_inodes(o.m) == o.sb.inode_count);
	check_dirs(&o);
	check_special(&o);
	check_xattrs(&o);
	check_contents(&o, sparse);
	close_layer(&o);
}

static void make_layer(struct layer *l, const unsigned char *dek, enum lm_cipher cipher,
		       unsigned shift, enum lm_sealed_compress comp, unsigned char *sparse)
{
	char path[256];
	int fd;
	struct lm_sealed_build *b = new_builder(&fd, path, dek, cipher, shift, comp, NULL);

	build_tree(b, (size_t)1 << shift, sparse);
	finish(b, fd, path, l);
}

/* Each option the builder has, read back. */
static void test_roundtrip(void)
{
	static const enum lm_cipher ciphers[] = { 0, LM_CIPHER_XCHACHA20POLY1305,
						  LM_CIPHER_AES256GCM };
	static const unsigned shifts[] = { 14, 20 };
	unsigned char *sparse = malloc(5u << 20);

	for (size_t c = 0; c < 3; c++) {
		if (ciphers[c] && !lm_aead_available(ciphers[c])) {
			printf("  %s not available here: skipped\n", lm_aead_name(ciphers[c]));
			continue;
		}
		for (size_t s = 0; s < 2; s++) {
			for (int comp = LM_SEALED_LZ4; comp <= LM_SEALED_NONE; comp++) {
				struct layer l = { 0 };

				make_layer(&l, ciphers[c] ? test_dek : NULL, ciphers[c], shifts[s],
					   (enum lm_sealed_compress)comp, sparse);
				CHECK(l.st.chunks_dedup >= 1);
				CHECK(l.st.files >= 10 && l.st.bytes_in > BIG);
				printf("  cipher %d shift %u compress %d: %zu bytes, %llu chunks, "
				       "%llu dedup\n", (int)ciphers[c], shifts[s], comp, l.len,
				       (unsigned long long)l.st.chunks,
				       (unsigned long long)l.st.chunks_dedup);
				check_layer(&l, ciphers[c] ? test_dek : NULL, sparse);
				free(l.buf);
			}
		}
	}
	free(sparse);
}

/* ---- Damage ---- */

/* A small layer for the damage tests: four files over five chunks of
 * 16 KiB, a symlink, an xattr, a directory. */
static void make_small(struct layer *l, const unsigned char *dek, const unsigned char *id,
		       enum lm_sealed_compress comp, bool extra)
{
	struct lm_err err = { "" };
	char path[256];
	int fd;
	struct lm_sealed_build *b = new_builder(&fd, path, dek, 0, 14, comp, id);

	add_file(b, "one", "one", 1u << 14);
	add_file(b, "dir/cm1", "cm1", 1u << 14);
	add_file(b, "c", "c", 1u << 14);
	add_file(b, "cp1", "cp1", 1u << 14);
	add(b, "sl", S_IFLNK | 0777, "one");
	CHECK_RC(lm_sealed_build_xattr(b, "one", "user.a", "b", 1, &err), 0);
	if (extra)
		add(b, "extra", S_IFIFO | 0644, NULL);
	finish(b, fd, path, l);
}

static const char *const small_files[][2] = {
	{ "one", "one" }, { "dir/cm1", "cm1" }, { "c", "c" }, { "cp1", "cp1" },
};

/* Opens and reads all of a small layer: 0 when every byte is right, the
 * first error, or 1 for wrong bytes (never allowed). */
static int full_read(const unsigned char *buf, size_t len, const unsigned char *dek,
		     const char *hex)
{
	struct opened o;
	int rc = open_layer(buf, len, dek, hex, &o);

	for (size_t i = 0; !rc && i < 4; i++) {
		size_t n = content(small_files[i][1], 1u << 14, NULL), got = 0;
		unsigned char *want = malloc(n + 1), *p = NULL;
		uint32_t ino = 0;

		content(small_files[i][1], 1u << 14, want);
		if (walk(&o, small_files[i][0], &ino))
			rc = 1;
		else
			rc = read_file(&o, ino, &p, &got);
		if (!rc && (got != n || memcmp(p, want, n)))
			rc = 1;
		free(want);
		free(p);
	}
	if (o.m)
		close_layer(&o);
	return rc;
}

static bool damage_code(int rc)
{
	return rc == -EUCLEAN || rc == -EBADMSG || rc == -EKEYREJECTED ||
	       rc == -EPROTONOSUPPORT || rc == -ESTALE;
}

/* @buf damaged: refused with a documented error when the digest is
 * known; without it, refused or read back right. */
static void expect_refused(const unsigned char *buf, size_t len, const unsigned char *dek,
			   const char *hex, const char *what, size_t at)
{
	int rc = full_read(buf, len, dek, hex), rc2 = full_read(buf, len, dek, NULL);

	if (!damage_code(rc) || rc2 == 1 || (rc2 && !damage_code(rc2))) {
		fprintf(stderr, "  %s at %zu: %d / %d\n", what, at, rc, rc2);
		check_fails++;
	}
}

static void flip_at(const struct layer *l, const unsigned char *dek, size_t at, const char *what)
{
	unsigned char *b = malloc(l->len);

	memcpy(b, l->buf, l->len);
	b[at] ^= 0x21;
	expect_refused(b, l->len, dek, l->hex, what, at);
	free(b);
}

/* full_read of @l with byte @at flipped, without a digest. */
static int flip_rc(const struct layer *l, const unsigned char *dek, size_t at)
{
	unsigned char *b = malloc(l->len);
	int rc;

	memcpy(b, l->buf, l->len);
	b[at] ^= 0x21;
	rc = full_read(b, l->len, dek, NULL);
	free(b);
	return rc;
}

/* The error each section gives. */
static void test_flip_codes(const struct layer *l, const unsigned char *dek,
			    const struct lm_sealed_sb *sb)
{
	CHECK_RC(flip_rc(l, dek, 0), -EUCLEAN);                        /* magic */
	CHECK_RC(flip_rc(l, dek, 8), -EPROTONOSUPPORT);                /* format */
	CHECK_RC(flip_rc(l, dek, 12), -EUCLEAN);                       /* shift */
	CHECK_RC(flip_rc(l, dek, 104), -EUCLEAN);                      /* file size */
	CHECK_RC(flip_rc(l, dek, 100), dek ? -EKEYREJECTED : 0);       /* created */
	CHECK_RC(flip_rc(l, dek, 20), dek ? -EKEYREJECTED : 0);        /* layer id */
	CHECK_RC(flip_rc(l, dek, 170), dek ? -EKEYREJECTED : -EBADMSG); /* meta hash */
	CHECK_RC(flip_rc(l, dek, 200), dek ? -EKEYREJECTED : -EBADMSG); /* index hash */
	CHECK_RC(flip_rc(l, dek, 230), dek ? -EKEYREJECTED : -EUCLEAN); /* MAC */
	CHECK_RC(flip_rc(l, dek, LM_SEALED_SB + 10), -EBADMSG);        /* a chunk */
	CHECK_RC(flip_rc(l, dek, sb->index_off + 3), -EBADMSG);
	CHECK_RC(flip_rc(l, dek, sb->meta_off + 3), -EBADMSG);
}

static void test_flips(const struct layer *l, const unsigned char *dek)
{
	struct lm_sealed_sb sb;

	lm_sealed_sb_decode(l->buf, l->len, l->len, &sb);
	test_flip_codes(l, dek, &sb);
	for (size_t i = 0; i < LM_SEALED_SB; i++)
		flip_at(l, dek, i, "superblock");
	for (uint64_t c = 0; c < sb.chunk_count; c++) {
		const unsigned char *e = l->buf + sb.index_off + c * LM_SEALED_INDEX_ENT;
		uint64_t off = lm_get64(e);
		uint32_t n = lm_get32(e + 8);

		flip_at(l, dek, off, "chunk start");
		flip_at(l, dek, off + n / 2, "chunk middle");
		flip_at(l, dek, off + n - 1, "chunk end");
		for (size_t f = 0; f < LM_SEALED_INDEX_ENT; f += 5)
			flip_at(l, dek, sb.index_off + c * LM_SEALED_INDEX_ENT + f, "index");
	}
	for (uint64_t i = 0; i < sb.meta_len; i += 1 + sb.meta_len / 40)
		flip_at(l, dek, sb.meta_off + i, "metadata");
	flip_at(l, dek, l->len - 1, "metadata end");
}

static void test_truncations(const struct layer *l, const unsigned char *dek)
{
	struct lm_sealed_sb sb;
	size_t cuts[32], n = 0;
	unsigned char *b = malloc(l->len + 1);

	lm_sealed_sb_decode(l->buf, l->len, l->len, &sb);
	cuts[n++] = 0;
	cuts[n++] = 100;
	cuts[n++] = LM_SEALED_SB - 1;
	cuts[n++] = LM_SEALED_SB;
	cuts[n++] = LM_SEALED_SB + 1;
	for (uint64_t c = 1; c < sb.chunk_count && n < 20; c++)
		cuts[n++] = lm_get64(l->buf + sb.index_off + c * LM_SEALED_INDEX_ENT);
	cuts[n++] = (LM_SEALED_SB + sb.index_off) / 2;
	cuts[n++] = sb.index_off;
	cuts[n++] = sb.index_off + 1;
	cuts[n++] = sb.index_off + sb.index_len / 2;
	cuts[n++] = sb.meta_off;
	cuts[n++] = sb.meta_off + 1;
	cuts[n++] = sb.meta_off + sb.meta_len / 2;
	cuts[n++] = l->len - 1;
	for (size_t i = 0; i < n; i++) {
		expect_refused(l->buf, cuts[i], dek, l->hex, "cut", cuts[i]);
		CHECK_RC(full_read(l->buf, cuts[i], dek, NULL), -EUCLEAN);
	}
	memcpy(b, l->buf, l->len);
	b[l->len] = 0;
	expect_refused(b, l->len + 1, dek, l->hex, "grown", l->len);
	free(b);
}

/* Two stored chunks of one length swapped: the bytes alone, then with
 * their index entries (and every hash made right again, the MAC too for
 * an insider holding the DEK). The box's additional data or the digest
 * refuses each. */
static void test_swap(const unsigned char *dek)
{
	struct layer l = { 0 };
	struct lm_sealed_sb sb;
	unsigned char *b, tmp[LM_SEALED_INDEX_ENT];
	uint64_t o1, o2, i1, i2;
	uint32_t len;

	make_small(&l, dek, NULL, LM_SEALED_NONE, false);
	lm_sealed_sb_decode(l.buf, l.len, l.len, &sb);
	b = malloc(l.len);
	memcpy(b, l.buf, l.len);
	/* Chunks 2 and 3 are "c" and the first of "cp1": full, raw. */
	i1 = sb.index_off + 2 * LM_SEALED_INDEX_ENT;
	i2 = sb.index_off + 3 * LM_SEALED_INDEX_ENT;
	o1 = lm_get64(b + i1);
	o2 = lm_get64(b + i2);
	len = lm_get32(b + i1 + 8);
	CHECK(len == lm_get32(b + i2 + 8) && o1 + len == o2);
	memcpy(b + o1, l.buf + o2, len);
	memcpy(b + o2, l.buf + o1, len);
	expect_refused(b, l.len, dek, l.hex, "swapped chunks", 0);
	memcpy(tmp, b + i1 + 16, 32);
	memcpy(b + i1 + 16, b + i2 + 16, 32);
	memcpy(b + i2 + 16, tmp, 32);
	expect_refused(b, l.len, dek, l.hex, "swapped chunks and hashes", 0);
	edit_rehash(b, l.len, NULL);
	/* A plain layer rehashed is another layer: only its digest tells. */
	if (dek)
		expect_refused(b, l.len, dek, l.hex, "swapped, rehashed", 0);
	else
		CHECK_RC(full_read(b, l.len, NULL, l.hex), -ESTALE);
	if (dek) {
		edit_rehash(b, l.len, dek);
		CHECK_RC(full_read(b, l.len, dek, NULL), -EBADMSG);
	}
	free(b);
	free(l.buf);
}

/* The superblock of another layer on this one's body, and a wrong DEK. */
static void test_foreign(const unsigned char *dek)
{
	static const unsigned char id2[16] = { 0x77 };
	struct layer a = { 0 }, b = { 0 }, c = { 0 };
	unsigned char *x;

	make_small(&a, dek, NULL, LM_SEALED_LZ4, false);
	make_small(&b, dek, id2, LM_SEALED_LZ4, false);
	make_small(&c, dek, NULL, LM_SEALED_LZ4, true);
	CHECK_RC(full_read(a.buf, a.len, dek, a.hex), 0);
	x = malloc(a.len);
	memcpy(x, a.buf, a.len);
	if (a.len == b.len) {
		memcpy(x, b.buf, LM_SEALED_SB);
		expect_refused(x, a.len, dek, a.hex, "superblock of another id", 0);
	}
	memcpy(x, c.buf, LM_SEALED_SB);
	expect_refused(x, a.len, dek, a.hex, "superblock of another layer", 0);
	if (dek) {
		struct opened o;

		CHECK_RC(open_layer(a.buf, a.len, other_dek, a.hex, &o), -EKEYREJECTED);
		CHECK_RC(full_read(b.buf, b.len, dek, b.hex), 0);
	}
	free(x);
	free(a.buf);
	free(b.buf);
	free(c.buf);
}

static void test_damage(void)
{
	const unsigned char *deks[] = { NULL, test_dek };

	for (size_t d = 0; d < 2; d++) {
		struct layer l = { 0 };

		make_small(&l, deks[d], NULL, LM_SEALED_LZ4, false);
		CHECK_RC(full_read(l.buf, l.len, deks[d], l.hex), 0);
		test_flips(&l, deks[d]);
		test_truncations(&l, deks[d]);
		free(l.buf);
		test_swap(deks[d]);
		test_foreign(deks[d]);
	}
}

/* ---- Rules of the metadata, broken by hand ---- */

struct rules {
	struct layer l;
	unsigned char *plain;
	size_t plen;
	uint32_t ni, nd;
	struct opened o;
};

static unsigned char *r_ino(struct rules *r, unsigned char *p, const char *path)
{
	uint32_t ino = 0;

	CHECK_RC(walk(&r->o, path, &ino), 0);
	return p + LM_SEALED_META_HEAD + (size_t)ino * LM_SEALED_INODE;
}

/* The dirent of @name in directory @dir. */
static unsigned char *r_dent(struct rules *r, unsigned char *p, const char *dir,
			     const char *name)
{
	struct lm_sealed_ino in;
	struct lm_sealed_ent e;
	uint32_t ino = 0;

	walk(&r->o, dir, &ino);
	lm_sealed_meta_ino(r->o.m, ino, &in);
	for (uint32_t i = 0; i < in.count; i++) {
		lm_sealed_meta_dirent(r->o.m, ino, i, &e);
		if (e.name_len == strlen(name) && !memcmp(e.name, name, e.name_len))
			return p + LM_SEALED_META_HEAD + (size_t)r->ni * LM_SEALED_INODE +
			       ((size_t)in.first + i) * LM_SEALED_DIRENT;
	}
	CHECK(!"dirent");
	return p;
}

static char *r_strs(struct rules *r, unsigned char *p)
{
	return (char *)p + r->plen - lm_get32(r->plain + 24);
}

/* Re-encodes @p (a changed copy of the plain metadata) and opens it. */
static void r_expect(struct rules *r, unsigned char *p, int want, const char *what)
{
	unsigned char *f = NULL;
	size_t flen = 0;
	struct opened o;
	int rc;

	CHECK_RC(edit_meta_put(r->l.buf, r->l.len, NULL, p, r->plen, &f, &flen), 0);
	rc = open_layer(f, flen, NULL, NULL, &o);
	if (rc != want) {
		fprintf(stderr, "  rule %s: %d, want %d\n", what, rc, want);
		check_fails++;
	}
	if (!rc)
		close_layer(&o);
	free(f);
	memcpy(p, r->plain, r->plen);
}

static void rules_make(struct rules *r)
{
	struct lm_err err = { "" };
	char path[256];
	int fd;
	struct lm_sealed_build *b = new_builder(&fd, path, NULL, 0, 14, LM_SEALED_LZ4, NULL);

	add(b, "p/q/s", S_IFDIR | 0755, NULL);
	add_file(b, "ab", "one", 1u << 14);
	add_file(b, "cp1", "cp1", 1u << 14);
	add(b, "ln", S_IFLNK | 0777, "ab");
	CHECK_RC(lm_sealed_build_whiteout(b, "wh", &err), 0);
	add(b, "x", S_IFREG | 0644, NULL);
	CHECK_RC(lm_sealed_build_xattr(b, "x", "user.a", "v", 1, &err), 0);
	finish(b, fd, path, &r->l);
	CHECK_RC(edit_meta_get(r->l.buf, r->l.len, NULL, &r->plain, &r->plen), 0);
	CHECK_RC(open_layer(r->l.buf, r->l.len, NULL, NULL, &r->o), 0);
	r->ni = lm_get32(r->plain + 8);
	r->nd = lm_get32(r->plain + 12);
}

static void rules_names(struct rules *r, unsigned char *p)
{
	unsigned char *d = r_dent(r, p, "", "ab"), t[LM_SEALED_DIRENT];
	char *name = r_strs(r, p) + lm_get32(d);

	memcpy(t, d, sizeof(t));                       /* "ab" before "cp1" */
	memcpy(d, d + LM_SEALED_DIRENT, sizeof(t));
	memcpy(d + LM_SEALED_DIRENT, t, sizeof(t));
	r_expect(r, p, -EUCLEAN, "unsorted");
	memcpy(r_dent(r, p, "", "ab") + LM_SEALED_DIRENT, r_dent(r, p, "", "ab"), sizeof(t));
	r_expect(r, p, -EUCLEAN, "twice the same name");
	name = r_strs(r, p) + lm_get32(r_dent(r, p, "", "ab"));
	memcpy(name, "..", 2);
	r_expect(r, p, -EUCLEAN, "..");
	name[0] = '.';
	lm_put16(r_dent(r, p, "", "ab") + 4, 1);
	r_expect(r, p, -EUCLEAN, ".");
	memcpy(name, "a/", 2);
	r_expect(r, p, -EUCLEAN, "slash");
	memcpy(name, "a\0", 2);
	r_expect(r, p, -EUCLEAN, "NUL");
	lm_put16(r_dent(r, p, "", "ab") + 4, 0);
	r_expect(r, p, -EUCLEAN, "empty name");
	lm_put32(r_dent(r, p, "", "ab"), 0xffffff00u);
	r_expect(r, p, -EUCLEAN, "name out of bounds");
}

static void rules_tree(struct rules *r, unsigned char *p)
{
	uint32_t ino_p = 0, ino_s = 0;

	walk(&r->o, "p", &ino_p);
	walk(&r->o, "p/q/s", &ino_s);
	/* p -> q -> p, away from the root, which now reaches s. */
	lm_put32(r_dent(r, p, "", "p") + 8, ino_s);
	lm_put32(r_dent(r, p, "p/q", "s") + 8, ino_p);
	r_expect(r, p, -EUCLEAN, "cycle");
	lm_put32(r_dent(r, p, "p/q", "s") + 8, ino_p);
	r_expect(r, p, -EUCLEAN, "directory reached twice");
	lm_put32(r_dent(r, p, "", "ab") + 8, 0);
	r_expect(r, p, -EUCLEAN, "entry of the root");
	lm_put32(r_dent(r, p, "", "ab") + 8, r->ni);
	r_expect(r, p, -EUCLEAN, "inode out of range");
	lm_put32(r_dent(r, p, "", "wh") + 8, 1);
	r_expect(r, p, -EUCLEAN, "whiteout with an inode");
	r_dent(r, p, "", "wh")[6] = 3;
	r_expect(r, p, -EUCLEAN, "unknown kind");
	r_dent(r, p, "", "wh")[7] = 1;
	r_expect(r, p, -EUCLEAN, "reserved byte");
	lm_put32(r_ino(r, p, "ab") + 12, 2);
	r_expect(r, p, -EUCLEAN, "nlink too high");
	lm_put32(r_ino(r, p, "ab") + 12, 0);
	r_expect(r, p, -EUCLEAN, "nlink 0");
	lm_put32(r_ino(r, p, "p") + 12, 2);
	r_expect(r, p, -EUCLEAN, "directory nlink");
	lm_put32(r_ino(r, p, "p") + 48, 0);
	r_expect(r, p, -EUCLEAN, "dirents not tiled");
	lm_put32(r_ino(r, p, "p") + 52, 0xffffffffu);
	r_expect(r, p, -EUCLEAN, "dirent count");
	lm_put32(r_ino(r, p, "") + 0, S_IFREG | 0755);
	r_expect(r, p, -EUCLEAN, "root not a directory");
}

static void rules_inodes(struct rules *r, unsigned char *p)
{
	lm_put32(r_ino(r, p, "x"), 0644);
	r_expect(r, p, -EUCLEAN, "no type");
	lm_put32(r_ino(r, p, "x"), S_IFREG | 0644 | 010000000);
	r_expect(r, p, -EUCLEAN, "mode bits");
	lm_put32(r_ino(r, p, "x") + 40, 1000000000u);
	r_expect(r, p, -EUCLEAN, "nanoseconds");
	lm_put32(r_ino(r, p, "x") + 44, LM_SEALED_IF_OPAQUE);
	r_expect(r, p, -EUCLEAN, "opaque file");
	lm_put32(r_ino(r, p, "p") + 44, 2);
	r_expect(r, p, -EUCLEAN, "unknown flag");
	lm_put64(r_ino(r, p, "x") + 24, 5);
	r_expect(r, p, -EUCLEAN, "rdev of a file");
	lm_put64(r_ino(r, p, "ab") + 16, 2);
	r_expect(r, p, -EUCLEAN, "size beyond its chunk");
	lm_put64(r_ino(r, p, "cp1") + 16, (1u << 14) + 2);
	r_expect(r, p, -EUCLEAN, "last chunk too short");
	lm_put64(r_ino(r, p, "cp1") + 16, 3u << 14);
	r_expect(r, p, -EUCLEAN, "refs do not cover the size");
	lm_put64(r_ino(r, p, "ln") + 16, 3);
	r_expect(r, p, -EUCLEAN, "symlink size");
	lm_put32(r_ino(r, p, "ln") + 52, 0);
	lm_put64(r_ino(r, p, "ln") + 16, 0);
	r_expect(r, p, -EUCLEAN, "empty symlink");
	lm_put64(r_ino(r, p, "p") + 16, 4096);
	r_expect(r, p, -EUCLEAN, "directory size");
}

static void rules_refs_xattrs(struct rules *r, unsigned char *p)
{
	size_t refs = r->plen - lm_get32(r->plain + 24) - 4 * lm_get32(r->plain + 16);
	size_t xat = refs - LM_SEALED_XATTR * lm_get32(r->plain + 20);
	uint32_t nchunks = r->o.sb.chunk_count;

	lm_put32(p + refs, nchunks);
	r_expect(r, p, -EUCLEAN, "ref out of range");
	lm_put32(p + refs, LM_SEALED_HOLE);
	r_expect(r, p, 0, "a hole");
	lm_put32(p + refs + 4, lm_get32(r->plain + refs + 8));
	r_expect(r, p, -EUCLEAN, "chunk of another length");
	lm_put32(p + xat + 4, 0);
	r_expect(r, p, -EUCLEAN, "empty xattr name");
	lm_put32(p + xat + 12, LM_SEALED_XATTR_VALUE_MAX + 1);
	r_expect(r, p, -EUCLEAN, "xattr value too long");
	lm_put32(p + xat + 8, 0xfffffff0u);
	r_expect(r, p, -EUCLEAN, "xattr value out of bounds");
	lm_put32(r_ino(r, p, "x") + 60, 2);
	r_expect(r, p, -EUCLEAN, "xattr count");
	p[40] = 1;
	r_expect(r, p, -EUCLEAN, "header reserved byte");
	lm_put32(p + 24, lm_get32(p + 24) + 1);
	r_expect(r, p, -EUCLEAN, "lengths do not add up");
	memcpy(p, "LMSMETX", 8);
	r_expect(r, p, -EUCLEAN, "magic");
}

static void test_rules(void)
{
	struct rules r = { 0 };
	unsigned char *p;

	rules_make(&r);
	if (!r.plain || !r.o.m)
		return;
	p = malloc(r.plen);
	memcpy(p, r.plain, r.plen);
	r_expect(&r, p, 0, "unchanged");
	rules_names(&r, p);
	rules_tree(&r, p);
	rules_inodes(&r, p);
	rules_refs_xattrs(&r, p);
	free(p);
	close_layer(&r.o);
	free(r.plain);
	free(r.l.buf);
}

/* ---- Scale, determinism, misuse ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* 100 directories of 1000 files, every tenth with a little data. */
static void test_100k(void)
{
	struct layer l = { 0 };
	struct lm_sealed_sb sb;
	struct lm_sealed_meta *m = NULL;
	unsigned char small[64];
	char path[256], name[64];
	double t0, t1, t2;
	int fd;
	struct lm_sealed_build *b;

	t0 = now_ms();
	b = new_builder(&fd, path, NULL, 0, 16, LM_SEALED_LZ4, NULL);
	for (int d = 0; d < 100; d++) {
		for (int f = 0; f < 1000; f++) {
			snprintf(name, sizeof(name), "dir%02d/file-%04d", d, f);
			add(b, name, S_IFREG | 0644, NULL);
			if (f % 10 == 0) {
				fill(small, sizeof(small), (uint64_t)(d * 1000 + f));
				data(b, small, sizeof(small));
			}
		}
	}
	finish(b, fd, path, &l);
	t1 = now_ms();
	CHECK_RC(lm_sealed_sb_decode(l.buf, l.len, l.len, &sb), 0);
	CHECK(sb.inode_count == 100101);
	t2 = now_ms();
	CHECK_RC(lm_sealed_meta_open(&sb, NULL, l.buf + sb.meta_off, l.buf + sb.index_off, &m), 0);
	t2 = now_ms() - t2;
	printf("  100k entries: built in %.0f ms (%zu bytes, metadata %llu plain, %llu "
	       "stored); lm_sealed_meta_open %.1f ms\n", t1 - t0, l.len,
	       (unsigned long long)sb.meta_plain_len, (unsigned long long)sb.meta_len, t2);
	if (m) {
		struct lm_sealed_ent e;
		uint32_t ino = 0;

		CHECK_RC(lm_sealed_meta_lookup(m, LM_SEALED_ROOT, "dir57", 5, &e), 0);
		CHECK_RC(lm_sealed_meta_lookup(m, e.ino, "file-0420", 9, &e), 0);
		ino = e.ino;
		CHECK(lm_sealed_meta_ref(m, ino, 0) != LM_SEALED_HOLE);
	}
	lm_sealed_meta_free(m);
	free(l.buf);
}

/* One input, one output: plain layers are equal to the byte, encrypted
 * ones differ by their nonces only. */
static void test_determinism(void)
{
	struct layer a = { 0 }, b = { 0 };

	make_small(&a, NULL, NULL, LM_SEALED_LZ4HC, false);
	make_small(&b, NULL, NULL, LM_SEALED_LZ4HC, false);
	CHECK(a.len == b.len && !memcmp(a.buf, b.buf, a.len) && !strcmp(a.hex, b.hex));
	free(a.buf);
	free(b.buf);
	make_small(&a, test_dek, NULL, LM_SEALED_LZ4, false);
	make_small(&b, test_dek, NULL, LM_SEALED_LZ4, false);
	CHECK(a.len == b.len && strcmp(a.hex, b.hex));
	free(a.buf);
	free(b.buf);
}

static void test_misuse(void)
{
	struct lm_sealed_attr reg = { .mode = S_IFREG | 0644 }, lnk = { .mode = S_IFLNK | 0777 };
	struct lm_sealed_build_opts o = { .chunk_shift = 13 };
	struct lm_sealed_build *b = NULL;
	struct lm_err err = { "" };
	struct lm_sealed_sb sb;
	struct lm_sealed_keys *k = NULL;
	struct layer l = { 0 };
	char path[256], name[300];
	int fd;

	CHECK_RC(lm_sealed_build_new(-1, &o, &b, &err), -EINVAL);
	o.chunk_shift = 0;
	o.dek = test_dek;
	CHECK_RC(lm_sealed_build_new(-1, &o, &b, &err), -EINVAL);          /* no tenant */
	o.tenant = "../x";
	CHECK_RC(lm_sealed_build_new(-1, &o, &b, &err), -EINVAL);
	o.dek = NULL;
	o.tenant = "acme";
	CHECK_RC(lm_sealed_build_new(-1, &o, &b, &err), -EINVAL);          /* tenant, no DEK */
	b = new_builder(&fd, path, NULL, 0, 14, LM_SEALED_LZ4, NULL);
	CHECK_RC(lm_sealed_build_data(b, "x", 1, &err), -EINVAL);
	CHECK_RC(lm_sealed_build_add(b, "/a", &reg, &err), -EINVAL);
	CHECK_RC(lm_sealed_build_add(b, "a//b", &reg, &err), -EINVAL);
	CHECK_RC(lm_sealed_build_add(b, "a/", &reg, &err), -EINVAL);
	CHECK_RC(lm_sealed_build_add(b, "a/../b", &reg, &err), -EINVAL);
	CHECK_RC(lm_sealed_build_add(b, "", &reg, &err), -EINVAL);
	memset(name, 'n', 256);
	name[256] = '\0';
	CHECK_RC(lm_sealed_build_add(b, name, &reg, &err), -EINVAL);
	CHECK_RC(lm_sealed_build_add(b, "l", &lnk, &err), -EINVAL);        /* no target */
	lnk.link = long_target;
	long_target[4095] = 'y';
	CHECK_RC(lm_sealed_build_add(b, "l", &lnk, &err), -EINVAL);        /* 4096 bytes */
	long_target[4095] = '\0';
	reg.mode = 0644;
	CHECK_RC(lm_sealed_build_add(b, "t", &reg, &err), -EINVAL);
	reg.mode = S_IFREG | 0644;
	reg.mtime_ns = 1000000000u;
	CHECK_RC(lm_sealed_build_add(b, "t", &reg, &err), -EINVAL);
	reg.mtime_ns = 0;
	CHECK_RC(lm_sealed_build_add(b, "f", &reg, &err), 0);
	CHECK_RC(lm_sealed_build_add(b, "f/g", &reg, &err), -ENOTDIR);
	CHECK_RC(lm_sealed_build_opaque(b, "f", &err), -ENOTDIR);
	CHECK_RC(lm_sealed_build_link(b, "h", "missing", &err), -ENOENT);
	CHECK_RC(lm_sealed_build_link(b, "h", "", &err), -EPERM);
	CHECK_RC(lm_sealed_build_xattr(b, "missing", "user.a", "", 0, &err), -ENOENT);
	CHECK_RC(lm_sealed_build_xattr(b, "f", "", "", 0, &err), -EINVAL);
	CHECK_RC(lm_sealed_build_xattr(b, "f", "user.a", name, LM_SEALED_XATTR_VALUE_MAX + 1,
				       &err), -EINVAL);
	CHECK_RC(lm_sealed_build_whiteout(b, "", &err), -EINVAL);
	CHECK(err.msg[0] != '\0');
	finish(b, fd, path, &l);
	CHECK_RC(lm_sealed_sb_decode(l.buf, l.len, l.len, &sb), 0);
	CHECK_RC(lm_sealed_keys_new(&sb, test_dek, &k), -EINVAL);          /* plain */
	CHECK_RC(lm_sealed_sb_decode(l.buf, LM_SEALED_SB - 1, l.len, &sb), -EUCLEAN);
	CHECK(!lm_sealed_digest_valid("abc"));
	CHECK(!lm_sealed_digest_valid(
		"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
	CHECK(lm_sealed_digest_valid(l.hex));
	free(l.buf);
}

/* ---- Many batches ---- */

/* Size and seed of file @i of the batch test: sizes from 0 to 40 KB, and
 * a seed shared by one file in 50 of a size, so some files repeat. */
static size_t many_size(unsigned i)
{
	return (size_t)(i * 7919u) % 40000u;
}

/* The big file's chunk @k (of @chunk bytes): zeros every fifth chunk, a
 * repeat of chunk 1 every seventh, else its own bytes. */
static void many_big_chunk(unsigned k, size_t chunk, unsigned char *p)
{
	if (k % 5 == 0)
		memset(p, 0, chunk);
	else
		fill(p, chunk, k % 7 == 0 ? 1 : 1000 + k);
}

#define MANY_FILES 3000u
#define MANY_BIG_CHUNKS 1200u

/* A layer of @MANY_FILES small files and a big file of @MANY_BIG_CHUNKS
 * chunks of 16 KiB: dozens of batches, with holes and repeats in and
 * across them. */
static void make_many(struct layer *l, const unsigned char *dek)
{
	size_t chunk = 16384;
	unsigned char *p = malloc(chunk * 3);
	struct lm_sealed_build *b;
	char path[256], name[64];
	int fd;

	b = new_builder(&fd, path, dek, dek ? LM_CIPHER_XCHACHA20POLY1305 : 0, 14,
			LM_SEALED_LZ4, NULL);
	for (unsigned i = 0; i < MANY_FILES; i++) {
		size_t n = many_size(i);

		snprintf(name, sizeof(name), "m/%u/f%u", i % 37, i);
		add(b, name, S_IFREG | 0644, NULL);
		fill(p, n, i % 50);
		data(b, p, n);
	}
	add(b, "big", S_IFREG | 0644, NULL);
	for (unsigned k = 0; k < MANY_BIG_CHUNKS; k++) {
		many_big_chunk(k, chunk, p);
		/* Across chunk boundaries. */
		data(b, p, 5000);
		data(b, p + 5000, chunk - 5000);
	}
	finish(b, fd, path, l);
	free(p);
}

static void check_many(const struct layer *l, const unsigned char *dek)
{
	size_t chunk = 16384;
	unsigned char *want = malloc(MANY_BIG_CHUNKS * chunk), *got;
	struct opened o;
	char name[64];
	uint32_t ino;
	size_t len;

	CHECK_RC(open_layer(l->buf, l->len, dek, l->hex, &o), 0);
	for (unsigned i = 0; i < MANY_FILES; i += 7) {
		size_t n = many_size(i);

		snprintf(name, sizeof(name), "m/%u/f%u", i % 37, i);
		CHECK_RC(walk(&o, name, &ino), 0);
		fill(want, n, i % 50);
		CHECK_RC(read_file(&o, ino, &got, &len), 0);
		CHECK(len == n && !memcmp(got, want, n));
		free(got);
	}
	for (unsigned k = 0; k < MANY_BIG_CHUNKS; k++)
		many_big_chunk(k, chunk, want + (size_t)k * chunk);
	CHECK_RC(walk(&o, "big", &ino), 0);
	CHECK_RC(read_file(&o, ino, &got, &len), 0);
	CHECK(len == MANY_BIG_CHUNKS * chunk && !memcmp(got, want, len));
	free(got);
	close_layer(&o);
	free(want);
}

/* Chunks are prepared by several threads and stored in batches: the
 * layer is still the one a builder storing each chunk as it came makes
 * (its digest, computed with such a builder, is pinned here), whatever the
 * number of threads, and reads back right. */
static void test_batches(void)
{
	static const char pinned[] =
		"a072ec08a0dc9b6868666c4511571ac48d718dc8afabe03282a6b730c4023a72";
	static const unsigned threads[] = { 0, 1, 3, 0 };
	struct layer a = { 0 };

	for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
		test_threads = threads[i];
		make_many(&a, NULL);
		printf("  many, %u threads: %zu bytes, %llu chunks, %llu dedup, digest %s\n",
		       threads[i], a.len, (unsigned long long)a.st.chunks,
		       (unsigned long long)a.st.chunks_dedup, a.hex);
		CHECK(a.st.chunks_dedup > MANY_BIG_CHUNKS / 7);
		CHECK(!strcmp(a.hex, pinned));
		if (i == 0)
			check_many(&a, NULL);
		free(a.buf);
	}
	test_threads = 0;
	make_many(&a, test_dek);
	check_many(&a, test_dek);
	free(a.buf);
}

int main(void)
{
	if (lm_crypt_init())
		return 77;
	test_roundtrip();
	test_damage();
	test_rules();
	test_determinism();
	test_misuse();
	test_100k();
	test_batches();
	return check_done("test_sealed");
}
