/* Fuzz target for sealed layer files (sealed.h): the input is a whole
 * layer file. It is run as it is, then once more with every hash made
 * right again (and the MAC, under sealed_fuzz_dek, which the encrypted
 * seeds of corpus/sealed are made with), so the rules of the metadata
 * and the index are reached rather than stopped at a hash: decode, keys,
 * index check, metadata open, a walk of every inode, entry and xattr,
 * and every chunk opened. Checked: only documented return codes; what
 * the decoder accepted holds its promises (every entry found again by
 * lookup, refs in range, lengths in bounds); a chunk that fails leaves
 * its plaintext zeroed.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sealed.h"
#include "sealed_edit.h"

static void walk_dir(const struct lm_sealed_meta *m, uint32_t dir, const struct lm_sealed_ino *in)
{
	uint32_t n = lm_sealed_meta_inodes(m);

	for (uint32_t i = 0; i < in->count; i++) {
		struct lm_sealed_ent e, f;

		lm_sealed_meta_dirent(m, dir, i, &e);
		FUZZ_CHECK(e.name_len >= 1 && e.name_len <= 255);
		FUZZ_CHECK(!memchr(e.name, '/', e.name_len) && !memchr(e.name, 0, e.name_len));
		FUZZ_CHECK(e.kind == LM_SEALED_DK_OBJ ? e.ino > 0 && e.ino < n : e.ino == 0);
		FUZZ_CHECK(lm_sealed_meta_lookup(m, dir, e.name, e.name_len, &f) == 0);
		FUZZ_CHECK(f.ino == e.ino && f.kind == e.kind && f.name == e.name);
	}
}

static void walk_meta(const struct lm_sealed_sb *sb, const struct lm_sealed_meta *m)
{
	struct lm_sealed_ent e;

	FUZZ_CHECK(lm_sealed_meta_inodes(m) == sb->inode_count);
	for (uint32_t ino = 0; ino < lm_sealed_meta_inodes(m); ino++) {
		struct lm_sealed_ino in;
		const char *name;
		const void *val;
		size_t nlen, vlen;

		lm_sealed_meta_ino(m, ino, &in);
		if (S_ISDIR(in.mode)) {
			walk_dir(m, ino, &in);
		} else {
			FUZZ_CHECK(in.nlink >= 1);
			FUZZ_CHECK(lm_sealed_meta_lookup(m, ino, "x", 1, &e) == -ENOTDIR);
		}
		if (S_ISREG(in.mode))
			for (uint32_t r = 0; r < in.count; r++) {
				uint32_t ref = lm_sealed_meta_ref(m, ino, r);

				FUZZ_CHECK(ref == LM_SEALED_HOLE || ref < sb->chunk_count);
			}
		if (S_ISLNK(in.mode)) {
			FUZZ_CHECK(lm_sealed_meta_link(m, ino, &nlen) != NULL);
			FUZZ_CHECK(nlen >= 1 && nlen <= 4095 && nlen == in.size);
		}
		for (uint32_t x = 0; x < in.xattr_count; x++) {
			lm_sealed_meta_xattr(m, ino, x, &name, &nlen, &val, &vlen);
			FUZZ_CHECK(name && nlen >= 1 && nlen <= 255);
			FUZZ_CHECK(vlen <= LM_SEALED_XATTR_VALUE_MAX);
		}
	}
}

static void open_chunks(const struct lm_sealed_sb *sb, const struct lm_sealed_keys *keys,
			const struct lm_sealed_meta *m, const uint8_t *data)
{
	unsigned char *plain = malloc((size_t)1 << sb->chunk_shift);
	unsigned char *scratch = malloc(lm_sealed_scratch_size(sb) + 1);

	if (!plain || !scratch)
		abort();
	for (uint32_t i = 0; i < sb->chunk_count; i++) {
		struct lm_sealed_chunk c;
		int rc;

		lm_sealed_meta_chunk(m, i, &c);
		FUZZ_CHECK(c.offset >= LM_SEALED_SB && c.offset + c.stored_len <= sb->index_off);
		FUZZ_CHECK(c.stored_len <= lm_sealed_stored_max(sb));
		FUZZ_CHECK(c.plain_len >= 1 && c.plain_len <= (1u << sb->chunk_shift));
		rc = lm_sealed_chunk_open(sb, keys, &c, i, data + c.offset, plain, scratch);
		FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EUCLEAN);
		if (rc)
			FUZZ_CHECK(lm_is_zero(plain, c.plain_len));
		rc = lm_sealed_chunk_hash_check(&c, data + c.offset);
		FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	}
	free(plain);
	free(scratch);
}

static void run(const uint8_t *data, size_t size)
{
	struct lm_sealed_keys *keys = NULL;
	struct lm_sealed_meta *m = NULL;
	struct lm_sealed_sb sb;
	int rc = lm_sealed_sb_decode(data, size, size, &sb);

	FUZZ_CHECK(rc == 0 || rc == -EUCLEAN || rc == -EPROTONOSUPPORT);
	if (rc)
		return;
	FUZZ_CHECK(sb.index_off + sb.index_len == sb.meta_off && sb.meta_off + sb.meta_len == size);
	if (lm_sealed_encrypted(&sb)) {
		rc = lm_sealed_keys_new(&sb, sealed_fuzz_dek, &keys);
		FUZZ_CHECK(rc == 0 || rc == -EKEYREJECTED || rc == -ENOTSUP);
		if (rc)
			return;
	}
	rc = lm_sealed_index_check(&sb, data + sb.index_off);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EUCLEAN);
	rc = lm_sealed_meta_open(&sb, keys, data + sb.meta_off, data + sb.index_off, &m);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EUCLEAN);
	FUZZ_CHECK(rc ? m == NULL : m != NULL);
	if (m) {
		walk_meta(&sb, m);
		open_chunks(&sb, keys, m, data);
	}
	lm_sealed_meta_free(m);
	lm_sealed_keys_free(keys);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (lm_crypt_init())
		abort();
	run(data, size);
	copy = malloc(size + 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	edit_rehash(copy, size, sealed_fuzz_dek);
	run(copy, size);
	free(copy);
	return 0;
}
