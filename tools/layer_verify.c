/* lamina layer verify: checks every byte of a layer file. Without a key:
 * the superblock's digest against the file's name, the index and
 * metadata hashes, every stored chunk's hash. With the key (or for a
 * plain layer): the superblock's MAC, the metadata's box and rules, and
 * every chunk opened (box, decompression, length). Each problem is one
 * line naming its section (and chunk index); any problem is exit 6. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "le.h"
#include "progress.h"

static const char verify_usage[] =
	"Usage: lamina layer verify DIGEST [--tenant T] [OPTIONS]\n"
	"\n"
	"Checks a layer file: that its superblock's digest is its name, the index and\n"
	"metadata hashes, and the hash of every chunk (no key needed). With --tenant T\n"
	"(or a secret option) for an encrypted layer, also the superblock's MAC, the\n"
	"metadata's box and every chunk's box; a plain layer's chunks are always opened.\n"
	"Exit 6 when anything does not verify, naming the section and chunk.\n"
	"\n"
	"  --tenant T              the layer's tenant (its secret checks the boxes)\n"
	LAYER_SECRET_HELP;

/* At most this many chunk problems are printed one by one. */
#define VERIFY_SHOWN 20u

struct verify {
	const struct lm_sealed_file *f;
	const struct lm_sealed_keys *keys;
	bool open_chunks;            /* plain, or the key is there */
	unsigned problems, chunk_problems;
	bool json;
};

static void problem(struct verify *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct verify *v, const char *fmt, ...)
{
	va_list ap;

	v->problems++;
	fprintf(stderr, "lamina: layer %.12s: ", v->f->hex);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void index_entry(const unsigned char *index, uint32_t i, struct lm_sealed_chunk *c)
{
	const struct lm_sealed_index_disk *d =
		(const void *)(index + (size_t)i * LM_SEALED_INDEX_ENT);

	c->offset = lm_get64(d->offset);
	c->stored_len = lm_get32(d->stored_len);
	c->plain_len = (uint32_t)d->plain_len[0] | (uint32_t)d->plain_len[1] << 8 |
		       (uint32_t)d->plain_len[2] << 16;
	c->flags = d->flags;
	c->hash = d->hash;
}

static void chunk_problem(struct verify *v, uint32_t i, const struct lm_sealed_chunk *c,
			  const char *what)
{
	v->chunk_problems++;
	if (v->chunk_problems <= VERIFY_SHOWN)
		problem(v, "chunk %u (at offset %llu, %u bytes): %s", (unsigned)i,
			(unsigned long long)c->offset, (unsigned)c->stored_len, what);
	else
		v->problems++;
}

struct bufs {
	unsigned char *stored, *plain, *scratch;
};

static int chunks_check(struct verify *v, const unsigned char *index, struct bufs *b)
{
	const struct lm_sealed_sb *sb = &v->f->sb;
	size_t smax = lm_sealed_stored_max(sb);
	struct lm_progress pr;
	uint64_t done = 0;
	int rc;

	lm_progress_init(&pr, "verify");
	for (uint32_t i = 0; i < sb->chunk_count; i++) {
		struct lm_sealed_chunk c;

		index_entry(index, i, &c);
		if (c.stored_len > smax) {
			chunk_problem(v, i, &c, "longer than a chunk may be");
			continue;
		}
		rc = lm_sealed_file_pread(v->f, b->stored, c.stored_len, c.offset);
		if (rc) {
			lm_progress_end(&pr);
			problem(v, "chunk %u: cannot read: %s", (unsigned)i, strerror(-rc));
			return rc;
		}
		if (lm_sealed_chunk_hash_check(&c, b->stored))
			chunk_problem(v, i, &c, "its hash does not match the index");
		else if (v->open_chunks &&
			 (rc = lm_sealed_chunk_open(sb, v->keys, &c, i, b->stored, b->plain,
						    b->scratch)))
			chunk_problem(v, i, &c, rc == -EBADMSG ?
				      "its box does not open with the layer's key" :
				      "it does not decompress to its length");
		done += c.stored_len;
		lm_progress_show(&pr, done, sb->index_off - LM_SEALED_SB, i + 1, "chunks");
	}
	lm_progress_end(&pr);
	if (v->chunk_problems > VERIFY_SHOWN)
		problem(v, "%u more chunks do not verify", v->chunk_problems - VERIFY_SHOWN);
	return 0;
}

/* The sections: index, metadata hash, then (with the key, or plain) the
 * metadata opened. Returns whether the chunks can be walked. */
static bool sections_check(struct verify *v, const unsigned char *index,
			   const unsigned char *meta)
{
	const struct lm_sealed_sb *sb = &v->f->sb;
	unsigned char h[LM_SEALED_HASH];
	struct lm_sealed_meta *m;
	bool index_ok = true;
	int rc = lm_sealed_index_check(sb, index);

	if (rc) {
		problem(v, "index (at offset %llu): %s", (unsigned long long)sb->index_off,
			rc == -EBADMSG ? "its hash does not match the superblock" :
			"damaged: its entries do not tile the chunks");
		index_ok = false;
	}
	lm_hash(h, sizeof(h), meta, sb->meta_len, NULL, 0);
	if (!lm_crypt_equal(h, sb->meta_hash, sizeof(h))) {
		problem(v, "metadata (at offset %llu): its hash does not match the superblock",
			(unsigned long long)sb->meta_off);
	} else if (index_ok && v->open_chunks) {
		rc = lm_sealed_meta_open(sb, v->keys, meta, index, &m);
		if (rc)
			problem(v, "metadata: %s", rc == -EBADMSG ?
				"its box does not open with the layer's key" :
				"it breaks the format's rules (damaged or not made by lamina)");
		else
			lm_sealed_meta_free(m);
	}
	return index_ok;
}

static int verify_run(struct verify *v)
{
	const struct lm_sealed_sb *sb = &v->f->sb;
	unsigned char *index, *meta;
	struct bufs b = { NULL, NULL, NULL };
	struct lm_err err = { "" };
	char got[LM_SEALED_DIGEST_HEX + 1];
	int rc;

	if (!v->f->name_ok) {
		lm_sealed_digest_hex(sb, got);
		problem(v, "superblock: its digest is %s, not the file's name: changed or renamed",
			got);
	}
	rc = lm_sealed_file_sections(v->f, &index, &meta, &err);
	if (rc)
		return lm_cli_fail(rc, &err);
	b.stored = malloc(lm_sealed_stored_max(sb));
	b.plain = malloc((size_t)1 << sb->chunk_shift);
	if (lm_sealed_encrypted(sb))
		b.scratch = malloc(lm_sealed_scratch_size(sb));
	if (!b.stored || !b.plain || (lm_sealed_encrypted(sb) && !b.scratch))
		rc = lm_cli_fail(-ENOMEM, NULL);
	else if (sections_check(v, index, meta))
		rc = chunks_check(v, index, &b) ? LM_EXIT_FAIL : 0;
	free(b.stored);
	free(b.plain);
	free(b.scratch);
	free(index);
	free(meta);
	return rc;
}

static void verify_print(const struct lm_cli *c, const struct verify *v)
{
	const struct lm_sealed_sb *sb = &v->f->sb;
	bool boxes = lm_sealed_encrypted(sb) && v->keys;

	if (c->json) {
		printf("{\"digest\":\"%s\",\"ok\":%s,\"problems\":%u,\"chunks\":%u,"
		       "\"chunk_problems\":%u,\"opened\":%s}\n",
		       v->f->hex, v->problems ? "false" : "true", v->problems,
		       (unsigned)sb->chunk_count, v->chunk_problems,
		       v->open_chunks ? "true" : "false");
		return;
	}
	if (v->problems) {
		lm_cli_error("layer %s does not verify: %u problem(s); remove it and import it again",
			     v->f->hex, v->problems);
		return;
	}
	printf("layer %s: ok (superblock, index, metadata, %u chunks%s)\n", v->f->hex,
	       (unsigned)sb->chunk_count,
	       boxes ? "; MAC and boxes with the tenant's key" :
	       lm_sealed_encrypted(sb) ? "; boxes not checked: pass --tenant and its secret" :
	       "; each opened");
}

int layer_cmd_verify(struct lm_cli *c, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "tenant", required_argument, NULL, LAYER_OPT_TENANT },
		LM_CLI_SECRET_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct lm_sealed_keys *keys = NULL;
	struct lm_sealed_file f;
	struct layer_opts o;
	struct lm_store *st;
	struct verify v;
	int rc = layer_parse(c, argc, argv, verify_usage, extra, &o, 1,
			     "exactly one layer DIGEST");

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = layer_open(c, o.arg, true, &st, &f);
	if (rc)
		return rc;
	if (lm_sealed_encrypted(&f.sb) && (o.tenant || o.src.key_file || o.src.passphrase_file))
		rc = layer_keys(st, &f, &o, &keys);
	else if (o.tenant && !lm_sealed_encrypted(&f.sb))
		lm_cli_error("warning: layer %s is plain: --tenant is not needed", f.hex);
	if (rc)
		goto out;
	memset(&v, 0, sizeof(v));
	v.f = &f;
	v.keys = keys;
	v.open_chunks = !lm_sealed_encrypted(&f.sb) || keys;
	rc = verify_run(&v);
	if (!rc)
		verify_print(c, &v);
	if (!rc && v.problems)
		rc = LM_EXIT_INTEGRITY;
out:
	lm_sealed_keys_free(keys);
	lm_sealed_file_close(&f);
	lm_store_free(st);
	return rc;
}
