/* Fuzz target for the layer import (tools/layer_import.h): the input is
 * an archive (any bytes: tar, pax, GNU tar, compressed or not) given from
 * memory to the same import core as `lamina layer import`, which writes a
 * plain layer into a memfd (nothing on disk; the memfd goes with the
 * run). Checked: a failed import says why (a one-line message, no
 * newline); a successful one makes a file that decodes: its superblock
 * (whose digest is the one the import returned), its metadata with every
 * rule, then a walk of every inode, directory entry, xattr, link target
 * and chunk reference, and every stored chunk opens to its length.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer_import.h"
#include "sealed.h"

/* Walks an opened layer's metadata: every accessor on every inode. */
static void walk_meta(const struct lm_sealed_sb *sb, const struct lm_sealed_meta *m)
{
	uint32_t n = lm_sealed_meta_inodes(m);

	FUZZ_CHECK(n == sb->inode_count && n >= 1);
	for (uint32_t i = 0; i < n; i++) {
		struct lm_sealed_ino ino;
		struct lm_sealed_ent e, found;
		const char *name, *link;
		const void *val;
		size_t nlen, vlen, llen;

		lm_sealed_meta_ino(m, i, &ino);
		if (i == LM_SEALED_ROOT)
			FUZZ_CHECK(S_ISDIR(ino.mode));
		for (uint32_t x = 0; x < ino.xattr_count; x++) {
			lm_sealed_meta_xattr(m, i, x, &name, &nlen, &val, &vlen);
			FUZZ_CHECK(nlen >= 1 && nlen <= 255 && vlen <= LM_SEALED_XATTR_VALUE_MAX);
		}
		link = lm_sealed_meta_link(m, i, &llen);
		FUZZ_CHECK(S_ISLNK(ino.mode) == (link != NULL));
		if (S_ISREG(ino.mode))
			for (uint32_t r = 0; r < ino.count; r++) {
				uint32_t ref = lm_sealed_meta_ref(m, i, r);

				FUZZ_CHECK(ref == LM_SEALED_HOLE || ref < sb->chunk_count);
			}
		if (!S_ISDIR(ino.mode))
			continue;
		for (uint32_t d = 0; d < ino.count; d++) {
			lm_sealed_meta_dirent(m, i, d, &e);
			FUZZ_CHECK(e.name_len >= 1 && e.name_len <= 255);
			FUZZ_CHECK(!memchr(e.name, '/', e.name_len));
			FUZZ_CHECK(lm_sealed_meta_lookup(m, i, e.name, e.name_len, &found) == 0);
			FUZZ_CHECK(found.ino == e.ino && found.kind == e.kind);
			FUZZ_CHECK(e.kind == LM_SEALED_DK_WHITEOUT || e.ino < n);
		}
	}
}

static void check_chunks(const struct lm_sealed_sb *sb, const struct lm_sealed_meta *m,
			 const unsigned char *file)
{
	unsigned char *plain = malloc((size_t)1 << sb->chunk_shift);

	FUZZ_CHECK(plain);
	for (uint32_t i = 0; i < sb->chunk_count; i++) {
		struct lm_sealed_chunk c;

		lm_sealed_meta_chunk(m, i, &c);
		FUZZ_CHECK(c.offset + c.stored_len <= sb->index_off);
		FUZZ_CHECK(lm_sealed_chunk_open(sb, NULL, &c, i, file + c.offset, plain, NULL) == 0);
	}
	free(plain);
}

/* The layer in @fd, as the import left it. */
static void check_layer(int fd, const char *digest)
{
	struct lm_sealed_meta *m = NULL;
	struct lm_sealed_sb sb;
	struct stat st;
	unsigned char *file;
	char hex[LM_SEALED_DIGEST_HEX + 1];

	FUZZ_CHECK(fstat(fd, &st) == 0 && st.st_size >= (off_t)LM_SEALED_SB);
	file = malloc((size_t)st.st_size);
	FUZZ_CHECK(file);
	FUZZ_CHECK(pread(fd, file, (size_t)st.st_size, 0) == st.st_size);
	FUZZ_CHECK(lm_sealed_sb_decode(file, (size_t)st.st_size, (uint64_t)st.st_size, &sb) == 0);
	lm_sealed_digest_hex(&sb, hex);
	FUZZ_CHECK(!strcmp(hex, digest));
	FUZZ_CHECK(!lm_sealed_encrypted(&sb));
	FUZZ_CHECK(lm_sealed_meta_open(&sb, NULL, file + sb.meta_off, file + sb.index_off, &m) == 0);
	walk_meta(&sb, m);
	check_chunks(&sb, m, file);
	lm_sealed_meta_free(m);
	free(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char id[LM_OBJECT_ID_BYTES] = { 0x4c, 0x4d };
	struct lm_import_src src = { .mem = data, .mem_len = size };
	struct lm_import_opts o = { .build = {
		.chunk_shift = LM_SEALED_SHIFT_MIN, .layer_id = id, .created = 1,
	} };
	struct lm_err err = { "" };
	struct lm_import_result r;
	int fd = memfd_create("fuzz_import", MFD_CLOEXEC), rc;

	FUZZ_CHECK(fd >= 0);
	rc = lm_layer_import_fd(fd, &src, &o, &r, &err);
	if (rc) {
		FUZZ_CHECK(rc < 0 && err.msg[0] && !strchr(err.msg, '\n'));
	} else {
		FUZZ_CHECK(lm_sealed_digest_valid(r.digest));
		check_layer(fd, r.digest);
	}
	close(fd);
	return 0;
}
