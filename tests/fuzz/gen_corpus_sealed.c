/* Writes the seeds of tests/fuzz/corpus/sealed (run by hand, never by
 * CTest; the outputs are committed):
 *
 *   build/tests/fuzz/gen_corpus_sealed tests/fuzz/corpus/sealed
 *
 * Small valid layers made by the builder (plain; encrypted under
 * sealed_fuzz_dek, which fuzz_sealed.c holds, with each cipher this
 * machine has; an empty one; one with a hole and a shared chunk), and
 * damaged ones the ways a disk or an attacker would: cut short, a
 * superblock field set to a value it may not have, a flipped byte in a
 * chunk, and metadata that breaks a rule (a cycle, unsorted names, a
 * wrong link count, a ref out of range) re-encoded with every hash right.
 * Seeds are named seed-*, each under 8 KiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sealed_edit.h"

static const char *outdir;
static const unsigned char seed_id[16] = { 0x5e, 0xed };

static void die(const char *what, const struct lm_err *err)
{
	fprintf(stderr, "gen_corpus_sealed: %s: %s\n", what, err ? err->msg : "");
	exit(1);
}

static void put(const char *name, const unsigned char *b, size_t n)
{
	char path[512];
	FILE *f;

	if (n > 8192)
		die(name, NULL);
	snprintf(path, sizeof(path), "%s/seed-%s", outdir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f))
		die(path, NULL);
}

struct seed {
	unsigned char *buf;
	size_t len;
};

static void add(struct lm_sealed_build *b, const char *path, uint32_t mode, const char *link)
{
	struct lm_sealed_attr a = { .mode = mode, .uid = 1, .gid = 2, .mtime = 1700000000,
				    .link = link };
	struct lm_err err = { "" };

	if (S_ISCHR(mode))
		a.rdev = makedev(1, 3);
	if (lm_sealed_build_add(b, path, &a, &err))
		die(path, &err);
}

static void data(struct lm_sealed_build *b, const void *p, size_t n)
{
	struct lm_err err = { "" };

	if (lm_sealed_build_data(b, p, n, &err))
		die("data", &err);
}

/* The tree of the valid seeds; @kind 0 full, 1 empty, 2 a hole and a
 * shared chunk. */
static void tree(struct lm_sealed_build *b, int kind)
{
	static unsigned char zero[1u << 14];
	struct lm_err err = { "" };
	unsigned char rnd[600];

	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (unsigned char)(i * 7919u >> 3 ^ i * 31u);
	if (kind == 1)
		return;
	if (kind == 2) {
		add(b, "sparse", S_IFREG | 0644, NULL);
		data(b, zero, sizeof(zero));
		data(b, "tail", 4);
		add(b, "same1", S_IFREG | 0644, NULL);
		data(b, rnd, 300);
		add(b, "same2", S_IFREG | 0644, NULL);
		data(b, rnd, 300);
		return;
	}
	add(b, "etc/hosts", S_IFREG | 0644, NULL);
	data(b, "127.0.0.1 localhost localhost localhost localhost\n", 51);
	add(b, "bin/tool", S_IFREG | 0755, NULL);
	data(b, rnd, sizeof(rnd));
	add(b, "bin/sh", S_IFLNK | 0777, "tool");
	add(b, "dev/null", S_IFCHR | 0666, NULL);
	add(b, "run/fifo", S_IFIFO | 0600, NULL);
	if (lm_sealed_build_link(b, "bin/hard", "bin/tool", &err) ||
	    lm_sealed_build_xattr(b, "bin/tool", "security.capability", "\1\0\0\2", 4, &err) ||
	    lm_sealed_build_xattr(b, "etc", "user.note", "n", 1, &err) ||
	    lm_sealed_build_whiteout(b, "etc/gone", &err) ||
	    lm_sealed_build_opaque(b, "var", &err))
		die("tree", &err);
	add(b, "var/empty", S_IFREG | 0600, NULL);
}

static struct seed make(const unsigned char *dek, enum lm_cipher cipher, int kind)
{
	struct lm_sealed_build_opts o = { .chunk_shift = 14, .dek = dek, .cipher = cipher,
					  .tenant = dek ? "kat-keyfile" : NULL,
					  .layer_id = seed_id, .created = 1700000000 };
	char path[] = "/tmp/lamina-gen-sealed.XXXXXX", hex[LM_SEALED_DIGEST_HEX + 1];
	struct lm_sealed_build *b = NULL;
	struct lm_err err = { "" };
	struct seed s;
	struct stat st;
	int fd = mkstemp(path);

	if (fd < 0 || lm_sealed_build_new(fd, &o, &b, &err))
		die("new", &err);
	tree(b, kind);
	if (lm_sealed_build_finish(b, hex, &err) || fstat(fd, &st))
		die("finish", &err);
	lm_sealed_build_free(b);
	s.len = (size_t)st.st_size;
	s.buf = malloc(s.len);
	if (!s.buf || pread(fd, s.buf, s.len, 0) != (ssize_t)s.len)
		die("read", NULL);
	close(fd);
	unlink(path);
	return s;
}

/* @s with byte @off xor'ed with @x, written as @name. */
static void flipped(const char *name, const struct seed *s, size_t off, unsigned char x)
{
	unsigned char *b = malloc(s->len);

	memcpy(b, s->buf, s->len);
	b[off] ^= x;
	put(name, b, s->len);
	free(b);
}

/* @s with its metadata's inode @ino field @field (u32) set to @v, or the
 * dirent @j's inode, re-encoded (dek for an encrypted one). */
static void meta_edit(const char *name, const struct seed *s, const unsigned char *dek,
		      long ino_field, long dirent_ino, uint32_t v)
{
	unsigned char *plain, *out;
	size_t plen, olen;
	uint32_t ni;

	if (edit_meta_get(s->buf, s->len, dek, &plain, &plen))
		die(name, NULL);
	ni = lm_get32(plain + 8);
	if (ino_field >= 0)
		lm_put32(plain + LM_SEALED_META_HEAD + ino_field, v);
	if (dirent_ino >= 0)
		lm_put32(plain + LM_SEALED_META_HEAD + ni * LM_SEALED_INODE +
			 dirent_ino * LM_SEALED_DIRENT + 8, v);
	if (edit_meta_put(s->buf, s->len, dek, plain, plen, &out, &olen))
		die(name, NULL);
	put(name, out, olen);
	free(plain);
	free(out);
}

/* Entries 0 and 1 of the root swapped. */
static void meta_unsorted(const char *name, const struct seed *s)
{
	unsigned char *plain, *out, t[LM_SEALED_DIRENT], *d;
	size_t plen, olen;

	if (edit_meta_get(s->buf, s->len, NULL, &plain, &plen))
		die(name, NULL);
	d = plain + LM_SEALED_META_HEAD + lm_get32(plain + 8) * LM_SEALED_INODE;
	memcpy(t, d, sizeof(t));
	memcpy(d, d + LM_SEALED_DIRENT, sizeof(t));
	memcpy(d + LM_SEALED_DIRENT, t, sizeof(t));
	if (edit_meta_put(s->buf, s->len, NULL, plain, plen, &out, &olen))
		die(name, NULL);
	put(name, out, olen);
	free(plain);
	free(out);
}

static void damaged(const struct seed *p, const struct seed *e)
{
	put("plain-cut-half", p->buf, p->len / 2);
	put("plain-cut-sb", p->buf, LM_SEALED_SB - 1);
	flipped("plain-format", p, 8, 2);
	flipped("plain-shift", p, 12, 0x40);
	flipped("plain-chunks", p, 112, 1);
	flipped("plain-inodes", p, 116, 0x80);
	flipped("plain-chunk-byte", p, LM_SEALED_SB + 3, 0x10);
	flipped("enc-mac", e, 230, 1);
	flipped("enc-chunk-byte", e, LM_SEALED_SB + 30, 0x10);
	put("enc-cut-meta", e->buf, e->len - 7);
	meta_unsorted("plain-meta-unsorted", p);
	/* Root's first entry ("bin", inode 1) pointed at "etc" (inode 3,
	 * breadth-first after "bin" and "dev"): etc reached twice. */
	meta_edit("plain-meta-dir-twice", p, NULL, -1, 0, 3);
	meta_edit("plain-meta-nlink", p, NULL, 4 * LM_SEALED_INODE + 12, -1, 5);
	meta_edit("plain-meta-root-file", p, NULL, 0, -1, S_IFREG | 0644);
	meta_edit("enc-meta-mode", e, sealed_fuzz_dek, LM_SEALED_INODE, -1, 0);
}

int main(int argc, char **argv)
{
	struct seed p, e, x;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (lm_crypt_init())
		die("libsodium", NULL);
	p = make(NULL, 0, 0);
	put("plain", p.buf, p.len);
	x = make(NULL, 0, 1);
	put("plain-empty", x.buf, x.len);
	free(x.buf);
	x = make(NULL, 0, 2);
	put("plain-hole-dedup", x.buf, x.len);
	free(x.buf);
	e = make(sealed_fuzz_dek, LM_CIPHER_XCHACHA20POLY1305, 0);
	put("enc-xchacha", e.buf, e.len);
	if (lm_aead_available(LM_CIPHER_AES256GCM)) {
		x = make(sealed_fuzz_dek, LM_CIPHER_AES256GCM, 0);
		put("enc-gcm", x.buf, x.len);
		free(x.buf);
	}
	x = make(sealed_fuzz_dek, LM_CIPHER_XCHACHA20POLY1305, 2);
	put("enc-hole-dedup", x.buf, x.len);
	free(x.buf);
	damaged(&p, &e);
	free(p.buf);
	free(e.buf);
	return 0;
}
