/* Unit test for the vault layer (driver/layer/layer_vault.c), through its
 * layer ops, without FUSE: a vault is made by hand in a temporary
 * directory (root dirid, random uuid and DEK), then
 *  - random writes, truncates, hole punches and reads of one file against a
 *    model in memory (several seeds), also across a close and reopen;
 *  - names, long names, directories, symlinks and xattrs read back, and no
 *    plaintext name or content on the host;
 *  - tampering on the host: a flipped bit, swapped blocks, a block from
 *    another file, a file copied over another, a cut at a block boundary
 *    and mid-block, a name moved to another directory: each caught (EIO or
 *    the entry hidden) and reported, the rest still readable;
 *  - a rekey in progress: objects of both generations read, new ones get
 *    the new one.
 * Exit 0 pass, 1 fail. */
#include "layer/layer.h"
#include "vault.h"
#include "crypt.h"
#include "kdf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define BOX (4096 + LM_AEAD_OVERHEAD)
#define FHEAD LM_VAULT_FILE_HEAD

static char base[64], root[96];
static int reports;
static char last_report[256];

static void on_report(void *ctx, const char *path, const char *what, int64_t block, int err)
{
	(void)ctx, (void)err;
	reports++;
	snprintf(last_report, sizeof(last_report), "%s: %s (block %lld)", path, what,
		 (long long)block);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static struct lm_vault_info info;
static struct lm_vault_keys *keys;

static struct lm_layer *vault_mount(void)
{
	struct lm_vault_cfg cfg = { .root = root, .info = &info, .keys = keys, .report = on_report };
	struct lm_layer *l = NULL;
	int rc = lm_layer_vault_open(&cfg, &l);

	CHECK_RC(rc, 0);
	return l;
}

static void vault_make(void)
{
	unsigned char id[16];
	char p[160];
	FILE *f;

	snprintf(base, sizeof(base), "/tmp/lm-vault-XXXXXX");
	if (!mkdtemp(base))
		exit(1);
	snprintf(root, sizeof(root), "%s/v", base);
	mkdir(root, 0700);
	lm_crypt_random(id, sizeof(id));
	snprintf(p, sizeof(p), "%s/%s", root, LM_VAULT_DIRID_NAME);
	f = fopen(p, "w");
	fwrite(id, 1, sizeof(id), f);
	fclose(f);
	memset(&info, 0, sizeof(info));
	lm_crypt_random(info.uuid, 16);
	info.cipher = lm_aead_default();
	info.generation = 1;
	lm_secret_free(keys);
	keys = lm_secret_alloc(sizeof(*keys));
	memset(keys, 0, sizeof(*keys));
	keys->generation = 1;
	lm_kdf_new_dek(keys->dek);
}

/* ---- random operations against a model ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define MAXSZ (300 * 1024)

static uint64_t pick_off(uint64_t size)
{
	switch (rnd() % 6) {
	case 0: return (rnd() % 70) * 4096 + (rnd() % 3) - 1 + 1;
	case 1: return size;
	case 2: return size + rnd() % 10000;
	default: return rnd() % (MAXSZ - 1);
	}
}

static void fuzz_file(struct lm_layer *l, uint64_t seed, int nops)
{
	static unsigned char model[MAXSZ + 8192], buf[MAXSZ + 8192], got[MAXSZ + 8192];
	uint64_t size = 0;
	struct lm_file *f;
	struct stat st;
	char name[32];

	rng = seed;
	snprintf(name, sizeof(name), "fuzz%llu", (unsigned long long)seed);
	CHECK_RC(l->ops->open(l, name, O_CREAT | O_EXCL | O_RDWR, 0644, -1, -1, &f), 0);
	memset(model, 0, sizeof(model));
	for (int i = 0; i < nops && check_fails == 0; i++) {
		uint64_t off = pick_off(size) % MAXSZ, len = rnd() % (rnd() % 4 ? 9000 : 70000);
		int op = (int)(rnd() % 10);

		if (off + len > MAXSZ)
			len = MAXSZ - off;
		switch (op) {
		case 0: case 1: case 2: case 3: /* write */
			for (uint64_t j = 0; j < len; j++)
				buf[j] = (unsigned char)rnd();
			CHECK_RC(f->ops->pwrite(f, buf, len, (off_t)off), (long)len);
			memcpy(model + off, buf, len);
			if (off + len > size)
				size = off + len;
			break;
		case 4: /* truncate */
			CHECK_RC(f->ops->ftruncate(f, (off_t)off), 0);
			if (off < size)
				memset(model + off, 0, size - off);
			size = off;
			break;
		case 5: /* punch a hole */
			if (len == 0)
				break;
			CHECK_RC(f->ops->fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						   (off_t)off, (off_t)len), 0);
			if (off < size)
				memset(model + off, 0, (off + len < size ? off + len : size) - off);
			break;
		case 6: /* reopen */
			f->ops->close(f);
			CHECK_RC(l->ops->open(l, name, O_RDWR, 0, -1, -1, &f), 0);
			break;
		default: { /* read */
			ssize_t want = off >= size ? 0 : (ssize_t)((off + len < size ? off + len : size) - off);
			ssize_t n = f->ops->pread(f, got, len, (off_t)off);

			CHECK_RC(n, want);
			if (n > 0 && memcmp(got, model + off, (size_t)n)) {
				fprintf(stderr, "seed %llu op %d: read at %llu+%zd differs\n",
					(unsigned long long)seed, i, (unsigned long long)off, n);
				check_fails++;
			}
		}
		}
		CHECK_RC(f->ops->fstat(f, &st), 0);
		CHECK_RC(st.st_size, (long)size);
	}
	/* Everything once more, after a fresh open. */
	f->ops->close(f);
	CHECK_RC(l->ops->open(l, name, O_RDONLY, 0, -1, -1, &f), 0);
	CHECK_RC(f->ops->pread(f, got, MAXSZ + 100, 0), (long)size);
	CHECK(memcmp(got, model, size) == 0);
	f->ops->close(f);
	CHECK_RC(l->ops->getattr(l, name, &st), 0);
	CHECK_RC(st.st_size, (long)size);
}

/* ---- host access ---- */

/* The host path of the only regular file in host directory DIR (relative
 * to the vault root) whose size is SIZE bytes on the host. */
static int host_file_of_size(const char *dir, off_t size, char *out, size_t outsz)
{
	char d[2048];
	struct dirent *de;
	struct stat st;
	DIR *dp;
	int found = 0;

	snprintf(d, sizeof(d), "%s/%s", root, dir);
	dp = opendir(d);
	if (!dp)
		return 0;
	while ((de = readdir(dp))) {
		char p[4096];

		snprintf(p, sizeof(p), "%s/%s", d, de->d_name);
		if (strchr(de->d_name, '.') || lstat(p, &st) || !S_ISREG(st.st_mode) ||
		    st.st_size != size)
			continue;
		snprintf(out, outsz, "%s", p);
		found++;
	}
	closedir(dp);
	return found;
}

static void write_file(struct lm_layer *l, const char *name, int fill, size_t len)
{
	unsigned char *b = malloc(len);
	struct lm_file *f;

	memset(b, fill, len);
	CHECK_RC(l->ops->open(l, name, O_CREAT | O_EXCL | O_WRONLY, 0600, -1, -1, &f), 0);
	CHECK_RC(f->ops->pwrite(f, b, len, 0), (long)len);
	f->ops->close(f);
	free(b);
}

/* Reads block BLOCK of NAME: 0 when it reads back as FILL, else -errno. */
static int read_block(struct lm_layer *l, const char *name, int block, int fill)
{
	unsigned char b[4096];
	struct lm_file *f;
	ssize_t n;
	int rc = l->ops->open(l, name, O_RDONLY, 0, -1, -1, &f);

	if (rc)
		return rc;
	n = f->ops->pread(f, b, sizeof(b), (off_t)block * 4096);
	f->ops->close(f);
	if (n < 0)
		return (int)n;
	for (ssize_t i = 0; i < n; i++)
		if (b[i] != fill)
			return -EILSEQ;
	return n > 0 ? 0 : -ENODATA;
}

static void copy_range(const char *from, off_t foff, const char *to, off_t toff, size_t len)
{
	unsigned char b[BOX];
	int a = open(from, O_RDONLY), c = open(to, O_WRONLY);

	CHECK(pread(a, b, len, foff) == (ssize_t)len);
	CHECK(pwrite(c, b, len, toff) == (ssize_t)len);
	close(a);
	close(c);
}

static void test_tamper(struct lm_layer *l)
{
	char a[4096], b[4096];
	off_t hsize = FHEAD + 4 * BOX;
	int fd;

	CHECK_RC(l->ops->mkdir(l, "t", 0700, -1, -1), 0);
	write_file(l, "t/a", 'a', 4 * 4096);
	CHECK(host_file_of_size(".", hsize, a, sizeof(a)) == 0);
	/* Only "t/a" has that size in its host directory. */
	char hd[512];
	{
		DIR *dp = opendir(root);
		struct dirent *de;

		hd[0] = 0;
		while ((de = readdir(dp)))
			if (!strchr(de->d_name, '.') && de->d_type == DT_DIR)
				snprintf(hd, sizeof(hd), "%s", de->d_name);
		closedir(dp);
	}
	CHECK(host_file_of_size(hd, hsize, a, sizeof(a)) == 1);
	for (int i = 0; i < 4; i++)
		CHECK_RC(read_block(l, "t/a", i, 'a'), 0);

	/* A flipped bit in block 1: only block 1 fails. */
	reports = 0;
	fd = open(a, O_RDWR);
	unsigned char c;
	CHECK(pread(fd, &c, 1, FHEAD + BOX + 100) == 1);
	c ^= 4;
	CHECK(pwrite(fd, &c, 1, FHEAD + BOX + 100) == 1);
	CHECK_RC(read_block(l, "t/a", 1, 'a'), -EIO);
	CHECK_RC(read_block(l, "t/a", 0, 'a'), 0);
	CHECK_RC(read_block(l, "t/a", 2, 'a'), 0);
	CHECK(reports > 0);
	c ^= 4;
	CHECK(pwrite(fd, &c, 1, FHEAD + BOX + 100) == 1);
	close(fd);
	CHECK_RC(read_block(l, "t/a", 1, 'a'), 0);

	/* Blocks 0 and 2 swapped. */
	char save0[BOX], save2[BOX];
	fd = open(a, O_RDWR);
	CHECK(pread(fd, save0, BOX, FHEAD) == BOX);
	CHECK(pread(fd, save2, BOX, FHEAD + 2 * BOX) == BOX);
	CHECK(pwrite(fd, save2, BOX, FHEAD) == BOX);
	CHECK(pwrite(fd, save0, BOX, FHEAD + 2 * BOX) == BOX);
	CHECK_RC(read_block(l, "t/a", 0, 'a'), -EIO);
	CHECK_RC(read_block(l, "t/a", 2, 'a'), -EIO);
	CHECK_RC(read_block(l, "t/a", 1, 'a'), 0);
	CHECK(pwrite(fd, save0, BOX, FHEAD) == BOX);
	CHECK(pwrite(fd, save2, BOX, FHEAD + 2 * BOX) == BOX);
	close(fd);

	/* A block of another file. */
	write_file(l, "t/b", 'b', 4 * 4096);
	{
		char tmp[4096];
		int n = host_file_of_size(hd, hsize, tmp, sizeof(tmp));

		CHECK(n == 2);
		/* b is whichever is not a */
		DIR *dp;
		struct dirent *de;
		char d[2048];

		snprintf(d, sizeof(d), "%s/%s", root, hd);
		dp = opendir(d);
		while ((de = readdir(dp))) {
			char p[4096];
			struct stat st;

			snprintf(p, sizeof(p), "%s/%s", d, de->d_name);
			if (!strchr(de->d_name, '.') && lstat(p, &st) == 0 && st.st_size == hsize &&
			    strcmp(p, a))
				snprintf(b, sizeof(b), "%s", p);
		}
		closedir(dp);
	}
	copy_range(b, FHEAD + BOX, a, FHEAD + BOX, BOX);
	CHECK_RC(read_block(l, "t/a", 1, 'a'), -EIO);
	CHECK_RC(read_block(l, "t/a", 3, 'a'), 0);
	copy_range(b, FHEAD, a, FHEAD, BOX); /* and block 0 too */
	CHECK_RC(read_block(l, "t/a", 0, 'a'), -EIO);

	/* A whole file copied over another: b's bytes under a's name. */
	reports = 0;
	copy_range(b, 0, a, 0, FHEAD);
	for (int i = 0; i < 4; i++)
		copy_range(b, FHEAD + i * BOX, a, FHEAD + i * BOX, BOX);
	CHECK_RC(read_block(l, "t/a", 0, 'b'), -EIO);
	CHECK(reports > 0);
	CHECK_RC(read_block(l, "t/b", 0, 'b'), 0);

	/* Cut at a block boundary and mid-block: the new last block fails. */
	CHECK(truncate(b, FHEAD + 3 * BOX) == 0);
	CHECK_RC(read_block(l, "t/b", 2, 'b'), -EIO);
	CHECK_RC(read_block(l, "t/b", 1, 'b'), 0);
	CHECK(truncate(b, FHEAD + BOX + 1000) == 0);
	CHECK_RC(read_block(l, "t/b", 1, 'b'), -EIO);
	CHECK_RC(read_block(l, "t/b", 0, 'b'), 0);

	/* A name moved into another directory is no entry there. */
	struct lm_lentry e;
	char from[4096], to[8192];

	write_file(l, "moved", 'm', 100);
	CHECK_RC(l->ops->lookup(l, ".", "moved", false, &e), 0);
	CHECK(host_file_of_size(".", FHEAD + 100 + LM_AEAD_OVERHEAD, from, sizeof(from)) == 1);
	snprintf(to, sizeof(to), "%s/%s/%s", root, hd, strrchr(from, '/') + 1);
	CHECK(rename(from, to) == 0);
	CHECK_RC(l->ops->lookup(l, ".", "moved", false, &e), 0);
	CHECK(e.kind == LM_ENT_NONE);
	CHECK_RC(l->ops->lookup(l, "t", "moved", false, &e), 0);
	CHECK(e.kind == LM_ENT_NONE);
}

/* ---- names, directories, symlinks, xattrs ---- */

struct names {
	char n[16][300];
	int count;
};

static int collect(void *ctx, const char *name, enum lm_ent_kind kind, unsigned dtype, uint64_t ino)
{
	struct names *ns = ctx;

	(void)kind, (void)dtype, (void)ino;
	if (ns->count < 16)
		snprintf(ns->n[ns->count++], 300, "%s", name);
	return 0;
}

static bool has(const struct names *ns, const char *name)
{
	for (int i = 0; i < ns->count; i++)
		if (!strcmp(ns->n[i], name))
			return true;
	return false;
}

static int host_has_plain;

static int scan_host(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag;
	if (strstr(p + f->base, "secretname") || strstr(p + f->base, "marker"))
		host_has_plain++;
	return 0;
}

static void test_names(struct lm_layer *l)
{
	char longname[256], target[64], val[64];
	struct names ns = { 0 };
	struct lm_lentry e;
	struct stat st;
	bool opaque;

	memset(longname, 'L', 255);
	longname[255] = 0;
	CHECK_RC(l->ops->mkdir(l, "secretname-dir", 0755, -1, -1), 0);
	CHECK_RC(l->ops->mkdir(l, "secretname-dir", 0755, -1, -1), -EEXIST);
	write_file(l, "secretname-dir/file", 'x', 10);
	write_file(l, longname, 'y', 10);
	CHECK_RC(l->ops->symlink(l, "marker-target/x", "secretname-link", -1, -1), 0);
	CHECK_RC(l->ops->iterate(l, ".", collect, &ns, &opaque), 0);
	CHECK(has(&ns, "secretname-dir"));
	CHECK(has(&ns, longname));
	CHECK(has(&ns, "secretname-link"));
	CHECK_RC(l->ops->lookup(l, ".", longname, false, &e), 0);
	CHECK(e.kind == LM_ENT_OBJ && e.st.st_size == 10);
	CHECK_RC(read_block(l, longname, 0, 'y'), 0);
	CHECK_RC(l->ops->readlink(l, "secretname-link", target, sizeof(target)), 15);
	CHECK(memcmp(target, "marker-target/x", 15) == 0);
	CHECK_RC(l->ops->getattr(l, "secretname-link", &st), 0);
	CHECK_RC(st.st_size, 15);
	{
		/* A target too long for a host symlink once sealed: kept in
		 * a record of lamina.links/, which goes with the symlink. */
		char big[4096], got[4096];
		struct stat rs;
		char recdir[160];

		memset(big, 'T', 4095);
		big[4095] = 0;
		CHECK_RC(l->ops->symlink(l, big, "biglink", -1, -1), 0);
		CHECK_RC(l->ops->readlink(l, "biglink", got, sizeof(got)), 4095);
		CHECK(memcmp(got, big, 4095) == 0);
		CHECK_RC(l->ops->getattr(l, "biglink", &st), 0);
		CHECK_RC(st.st_size, 4095);
		CHECK_RC(l->ops->rename(l, "biglink", "biglink2", 0), 0);
		CHECK_RC(l->ops->readlink(l, "biglink2", got, sizeof(got)), 4095);
		snprintf(recdir, sizeof(recdir), "%s/lamina.links", root);
		CHECK(stat(recdir, &rs) == 0 && rs.st_nlink == 2);
		CHECK_RC(l->ops->unlink(l, "biglink2"), 0);
		{
			DIR *d = opendir(recdir);
			struct dirent *de;
			int n = 0;

			while (d && (de = readdir(d)))
				n += de->d_name[0] != '.';
			if (d)
				closedir(d);
			CHECK(n == 0); /* the record went with the symlink */
		}
		/* And one just above what a host symlink holds. */
		big[3300] = 0;
		CHECK_RC(l->ops->symlink(l, big, "biglink", -1, -1), 0);
		CHECK_RC(l->ops->readlink(l, "biglink", got, sizeof(got)), 3300);
		CHECK(memcmp(got, big, 3300) == 0);
		CHECK_RC(l->ops->getattr(l, "biglink", &st), 0);
		CHECK_RC(st.st_size, 3300);
		CHECK_RC(l->ops->unlink(l, "biglink"), 0);
	}
	CHECK_RC(l->ops->setxattr(l, "secretname-dir/file", "user.marker", "marker-value", 12, 0), 0);
	CHECK_RC(l->ops->getxattr(l, "secretname-dir/file", "user.marker", val, sizeof(val)), 12);
	CHECK(memcmp(val, "marker-value", 12) == 0);
	CHECK_RC(l->ops->listxattr(l, "secretname-dir/file", val, sizeof(val)), 12);
	CHECK(strcmp(val, "user.marker") == 0);
	nftw(root, scan_host, 16, FTW_PHYS);
	CHECK(host_has_plain == 0);
	CHECK_RC(l->ops->removexattr(l, "secretname-dir/file", "user.marker"), 0);
	CHECK_RC(l->ops->getxattr(l, "secretname-dir/file", "user.marker", val, sizeof(val)), -ENODATA);

	/* Renames keep files readable under their new name. */
	CHECK_RC(l->ops->rename(l, "secretname-dir/file", "renamed", 0), 0);
	CHECK_RC(read_block(l, "renamed", 0, 'x'), 0);
	CHECK_RC(l->ops->rename(l, "renamed", longname, 0), 0);
	CHECK_RC(read_block(l, longname, 0, 'x'), 0);
	CHECK_RC(l->ops->rename(l, "secretname-dir", "dir2", 0), 0);
	write_file(l, "dir2/f", 'z', 5000);
	CHECK_RC(read_block(l, "dir2/f", 1, 'z'), 0);
	CHECK_RC(l->ops->link(l, "dir2/f", "hard"), 0);
	CHECK_RC(read_block(l, "hard", 0, 'z'), 0);
	CHECK_RC(l->ops->unlink(l, "dir2/f"), 0);
	CHECK_RC(read_block(l, "hard", 0, 'z'), 0);
	CHECK_RC(l->ops->rmdir(l, "dir2"), 0);
	CHECK_RC(l->ops->unlink(l, longname), 0);
	CHECK_RC(l->ops->lookup(l, ".", longname, false, &e), 0);
	CHECK(e.kind == LM_ENT_NONE);

	/* Whiteouts under sealed names. */
	CHECK_RC(l->ops->whiteout(l, longname), 0);
	CHECK_RC(l->ops->lookup(l, ".", longname, false, &e), 0);
	CHECK(e.kind == LM_ENT_WHITEOUT);
	CHECK_RC(l->ops->unwhiteout(l, longname), 0);
}

static int stop_after;

static int rk_progress(void *ctx, const struct lm_rekey_progress *p)
{
	(void)ctx;
	return stop_after && p->objects >= (uint64_t)stop_after;
}

/* What the rekey test tree must read back as. */
/* COMPLETE: no rekey stopped half way (until one ends, a hard-linked
 * file's names may be two inodes). */
static void check_tree(struct lm_layer *l, const char *longname, bool complete)
{
	char buf[64];
	struct lm_lentry e;
	struct stat st, st2;

	CHECK_RC(read_block(l, "gen1", 2, '1'), 0);
	CHECK_RC(read_block(l, "d1/in", 0, 'i'), 0);
	CHECK_RC(read_block(l, "d1/sub/deep", 0, 'd'), 0);
	CHECK_RC(read_block(l, "d1/hard", 0, 'i'), 0);
	CHECK_RC(read_block(l, longname, 0, 'L'), 0);
	CHECK_RC(l->ops->readlink(l, "d1/link", buf, sizeof(buf)), 6);
	CHECK(memcmp(buf, "target", 6) == 0);
	{
		char big[4096];

		CHECK_RC(l->ops->readlink(l, "d1/biglink", big, sizeof(big)), 4000);
		CHECK(big[0] == 'B' && big[3999] == 'B');
	}
	CHECK_RC(l->ops->getxattr(l, "d1", "user.k", buf, sizeof(buf)), 3);
	CHECK_RC(l->ops->getxattr(l, "gen1", "user.k", buf, sizeof(buf)), 3);
	CHECK_RC(l->ops->getxattr(l, ".", "user.root", buf, sizeof(buf)), 1);
	CHECK_RC(l->ops->lookup(l, "d1", "gone", false, &e), 0);
	CHECK(e.kind == LM_ENT_WHITEOUT);
	CHECK_RC(l->ops->getattr(l, "d1/in", &st), 0);
	CHECK_RC(l->ops->getattr(l, "d1/hard", &st2), 0);
	if (complete)
		CHECK(st.st_ino == st2.st_ino && st.st_nlink == 2);
}

/* A rekey: objects of both generations read while it runs, an interrupted
 * run resumes, and afterwards only the new key is needed. */
static void test_rekey(void)
{
	char longname[256];
	struct lm_layer *l;

	memset(longname, 'n', 250);
	longname[250] = 0;
	l = vault_mount();
	write_file(l, "gen1", '1', 9000);
	CHECK_RC(l->ops->mkdir(l, "d1", 0755, -1, -1), 0);
	CHECK_RC(l->ops->mkdir(l, "d1/sub", 0755, -1, -1), 0);
	write_file(l, "d1/in", 'i', 10);
	write_file(l, "d1/sub/deep", 'd', 5000);
	write_file(l, longname, 'L', 100);
	CHECK_RC(l->ops->link(l, "d1/in", "d1/hard"), 0);
	CHECK_RC(l->ops->symlink(l, "target", "d1/link", -1, -1), 0);
	{
		char big[4096];

		memset(big, 'B', 4000);
		big[4000] = 0;
		CHECK_RC(l->ops->symlink(l, big, "d1/biglink", -1, -1), 0);
	}
	CHECK_RC(l->ops->setxattr(l, "d1", "user.k", "vvv", 3, 0), 0);
	CHECK_RC(l->ops->setxattr(l, "gen1", "user.k", "fff", 3, 0), 0);
	CHECK_RC(l->ops->setxattr(l, ".", "user.root", "r", 1, 0), 0);
	CHECK_RC(l->ops->whiteout(l, "d1/gone"), 0);
	lm_layer_free(l);

	keys->rekey = true;
	keys->next_generation = 2;
	lm_kdf_new_dek(keys->next_dek);
	l = vault_mount();
	check_tree(l, longname, true);
	write_file(l, "d1/gen2", '2', 10);
	CHECK_RC(read_block(l, "d1/gen2", 0, '2'), 0);
	/* Stopped twice on the way, then to the end. */
	stop_after = 2;
	CHECK_RC(lm_layer_vault_rekey(l, rk_progress, NULL), -ECANCELED);
	lm_layer_free(l);
	l = vault_mount();
	check_tree(l, longname, false);
	stop_after = 5;
	CHECK_RC(lm_layer_vault_rekey(l, rk_progress, NULL), -ECANCELED);
	check_tree(l, longname, false);
	stop_after = 0;
	CHECK_RC(lm_layer_vault_rekey(l, rk_progress, NULL), 0);
	lm_layer_free(l);

	/* Only the new key now. */
	keys->rekey = false;
	keys->generation = 2;
	memcpy(keys->dek, keys->next_dek, 32);
	l = vault_mount();
	check_tree(l, longname, true);
	CHECK_RC(read_block(l, "d1/gen2", 0, '2'), 0);
	lm_layer_free(l);
}

int main(void)
{
	struct lm_layer *l;

	if (lm_crypt_init())
		return 1;
	vault_make();
	l = vault_mount();
	if (!l)
		return check_done("test_vault_layer");
	for (uint64_t seed = 1; seed <= 4; seed++)
		fuzz_file(l, seed, 3000);
	test_names(l);
	test_tamper(l);
	lm_layer_free(l);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	vault_make();
	test_rekey();
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	lm_secret_free(keys);
	return check_done("test_vault_layer");
}
