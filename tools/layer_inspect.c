/* lamina layer inspect: what a layer file says about itself, without a
 * secret: the superblock, the chunk index (stored and plaintext bytes of
 * each chunk, readable without the key), the key slot file, and for a
 * plain layer the entries of its metadata. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer.h"
#include "le.h"
#include "slotfile.h"

static const char inspect_usage[] =
	"Usage: lamina layer inspect DIGEST [--store DIR] [--json]\n"
	"\n"
	"Shows a layer's superblock (format, chunk size, cipher, tenant, layer id,\n"
	"sections and their hashes), its chunks (stored and plaintext bytes, the\n"
	"compression ratio), its key slot file, and for a plain layer the kinds of its\n"
	"entries and the bytes of its files. Needs no secret.\n";

struct chunk_totals {
	uint64_t stored, plain, lz4;
	bool ok;                        /* the index verifies */
};

struct entry_totals {
	uint64_t files, dirs, symlinks, devices, other, hardlinked;
	uint64_t whiteouts, opaque, xattrs, bytes, holes;
	bool ok;
};

static void chunk_count(const struct lm_sealed_file *f, struct chunk_totals *ct)
{
	unsigned char *index = NULL, *meta = NULL;

	memset(ct, 0, sizeof(*ct));
	if (lm_sealed_file_sections(f, &index, &meta, NULL) ||
	    lm_sealed_index_check(&f->sb, index))
		goto out;
	for (uint32_t i = 0; i < f->sb.chunk_count; i++) {
		const struct lm_sealed_index_disk *d =
			(const void *)(index + (size_t)i * LM_SEALED_INDEX_ENT);

		ct->stored += lm_get32(d->stored_len);
		ct->plain += (uint32_t)d->plain_len[0] | (uint32_t)d->plain_len[1] << 8 |
			     (uint32_t)d->plain_len[2] << 16;
		ct->lz4 += !!(d->flags & LM_SEALED_CF_LZ4);
	}
	ct->ok = true;
out:
	free(index);
	free(meta);
}

static void entry_count(const struct lm_sealed_file *f, struct entry_totals *et)
{
	struct lm_sealed_meta *m;
	struct lm_sealed_ino ino;
	struct lm_sealed_ent e;

	memset(et, 0, sizeof(*et));
	if (lm_sealed_encrypted(&f->sb) || lm_sealed_file_meta(f, NULL, &m, NULL))
		return;
	for (uint32_t i = 0; i < lm_sealed_meta_inodes(m); i++) {
		lm_sealed_meta_ino(m, i, &ino);
		et->xattrs += ino.xattr_count;
		switch (ino.mode & S_IFMT) {
		case S_IFDIR:
			et->dirs++;
			et->opaque += !!(ino.flags & LM_SEALED_IF_OPAQUE);
			for (uint32_t j = 0; j < ino.count; j++) {
				lm_sealed_meta_dirent(m, i, j, &e);
				et->whiteouts += e.kind == LM_SEALED_DK_WHITEOUT;
			}
			continue;
		case S_IFREG:
			et->files++;
			et->bytes += ino.size;
			for (uint32_t j = 0; j < ino.count; j++)
				et->holes += lm_sealed_meta_ref(m, i, j) == LM_SEALED_HOLE;
			break;
		case S_IFLNK:
			et->symlinks++;
			break;
		case S_IFCHR: case S_IFBLK:
			et->devices++;
			break;
		default:
			et->other++;
		}
		et->hardlinked += ino.nlink > 1;
	}
	lm_sealed_meta_free(m);
	et->ok = true;
}

/* The slot file's path, and whether it is there. */
static bool slot_path(struct lm_store *st, const struct lm_sealed_file *f, char *out,
		      size_t size)
{
	char name[LM_SEALED_SLOT_NAME_MAX], rel[160];

	lm_sealed_slot_name(f->sb.layer_id, name);
	snprintf(rel, sizeof(rel), LM_SLOTFILE_DIR "/%s" LM_SLOTFILE_SUFFIX, name);
	snprintf(out, size, "%s/%s", st->path, rel);
	return faccessat(st->fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static double ratio(const struct chunk_totals *ct)
{
	return ct->stored ? (double)ct->plain / (double)ct->stored : 1.0;
}

static void inspect_text(struct lm_store *st, const struct lm_sealed_file *f,
			 const struct chunk_totals *ct, const struct entry_totals *et)
{
	const struct lm_sealed_sb *sb = &f->sb;
	char id[33], when[32], mh[65], ih[65], got[65], slot[4200];
	bool have;

	lm_crypt_hex(id, sb->layer_id, sizeof(sb->layer_id));
	lm_crypt_hex(mh, sb->meta_hash, sizeof(sb->meta_hash));
	lm_crypt_hex(ih, sb->index_hash, sizeof(sb->index_hash));
	lm_sealed_digest_hex(sb, got);
	lm_cli_time(when, sizeof(when), sb->created);
	printf("layer:        %s\npath:         %s/%s/%s\n", f->hex, st->path,
	       LM_SEALED_STORE_DIR, f->hex);
	if (!f->name_ok)
		printf("digest:       MISMATCH: the superblock's digest is %s\n", got);
	printf("format:       %u\ncreated:      %s\nlayer id:     %s\n", LM_SEALED_FORMAT,
	       when, id);
	if (lm_sealed_encrypted(sb)) {
		have = slot_path(st, f, slot, sizeof(slot));
		printf("encrypted:    yes, tenant %s, %s\nkey slots:    %s%s\n", sb->tenant,
		       lm_aead_name(sb->cipher) ? lm_aead_name(sb->cipher) : "?", slot,
		       have ? "" : " (MISSING: the layer cannot be read)");
	} else {
		printf("encrypted:    no (plain)\n");
	}
	printf("file size:    %llu\nchunk size:   %u\ninodes:       %u\n",
	       (unsigned long long)f->size, 1u << sb->chunk_shift, (unsigned)sb->inode_count);
	printf("chunks:       %u stored (%llu lz4), %llu bytes stored for %llu of plaintext, ratio %.2f%s\n",
	       (unsigned)sb->chunk_count, (unsigned long long)ct->lz4,
	       (unsigned long long)ct->stored, (unsigned long long)ct->plain, ratio(ct),
	       ct->ok ? "" : " (INDEX DOES NOT VERIFY)");
	printf("index:        at %llu, %llu bytes, hash %s\n",
	       (unsigned long long)sb->index_off, (unsigned long long)sb->index_len, ih);
	printf("metadata:     at %llu, %llu bytes stored, %llu plain, hash %s\n",
	       (unsigned long long)sb->meta_off, (unsigned long long)sb->meta_len,
	       (unsigned long long)sb->meta_plain_len, mh);
	if (!et->ok) {
		printf("entries:      %s\n", lm_sealed_encrypted(sb) ?
		       "encrypted (lamina layer export or verify with the key shows them)" :
		       "METADATA DOES NOT VERIFY (run lamina layer verify)");
		return;
	}
	printf("entries:      %llu files, %llu directories, %llu symlinks, %llu devices, %llu other\n",
	       (unsigned long long)et->files, (unsigned long long)et->dirs,
	       (unsigned long long)et->symlinks, (unsigned long long)et->devices,
	       (unsigned long long)et->other);
	printf("              %llu hard-linked inodes, %llu whiteouts, %llu opaque directories, %llu xattrs\n",
	       (unsigned long long)et->hardlinked, (unsigned long long)et->whiteouts,
	       (unsigned long long)et->opaque, (unsigned long long)et->xattrs);
	printf("file bytes:   %llu (%llu chunks of zeros stored as holes)\n",
	       (unsigned long long)et->bytes, (unsigned long long)et->holes);
}

static void inspect_json(struct lm_store *st, const struct lm_sealed_file *f,
			 const struct chunk_totals *ct, const struct entry_totals *et)
{
	const struct lm_sealed_sb *sb = &f->sb;
	char id[33], when[32], mh[65], ih[65], slot[4200];
	bool have;

	lm_crypt_hex(id, sb->layer_id, sizeof(sb->layer_id));
	lm_crypt_hex(mh, sb->meta_hash, sizeof(sb->meta_hash));
	lm_crypt_hex(ih, sb->index_hash, sizeof(sb->index_hash));
	lm_cli_time(when, sizeof(when), sb->created);
	printf("{\"digest\":\"%s\",\"digest_ok\":%s,\"format\":%u,\"created\":\"%s\",\"layer_id\":\"%s\"",
	       f->hex, f->name_ok ? "true" : "false", LM_SEALED_FORMAT, when, id);
	printf(",\"encrypted\":%s,\"tenant\":", lm_sealed_encrypted(sb) ? "true" : "false");
	if (lm_sealed_encrypted(sb)) {
		have = slot_path(st, f, slot, sizeof(slot));
		lm_json_str(stdout, sb->tenant);
		printf(",\"cipher\":\"%s\",\"key_slots\":", lm_aead_name(sb->cipher) ?
		       lm_aead_name(sb->cipher) : "?");
		lm_json_str(stdout, slot);
		printf(",\"key_slots_present\":%s", have ? "true" : "false");
	} else {
		printf("null,\"cipher\":null,\"key_slots\":null");
	}
	printf(",\"file_size\":%llu,\"chunk_size\":%u,\"inodes\":%u,\"chunks\":%u",
	       (unsigned long long)f->size, 1u << sb->chunk_shift, (unsigned)sb->inode_count,
	       (unsigned)sb->chunk_count);
	printf(",\"chunks_lz4\":%llu,\"stored_bytes\":%llu,\"plain_bytes\":%llu,\"ratio\":%.3f,\"index_ok\":%s",
	       (unsigned long long)ct->lz4, (unsigned long long)ct->stored,
	       (unsigned long long)ct->plain, ratio(ct), ct->ok ? "true" : "false");
	printf(",\"index\":{\"offset\":%llu,\"length\":%llu,\"hash\":\"%s\"}",
	       (unsigned long long)sb->index_off, (unsigned long long)sb->index_len, ih);
	printf(",\"metadata\":{\"offset\":%llu,\"length\":%llu,\"plain_length\":%llu,\"hash\":\"%s\"}",
	       (unsigned long long)sb->meta_off, (unsigned long long)sb->meta_len,
	       (unsigned long long)sb->meta_plain_len, mh);
	if (et->ok)
		printf(",\"entries\":{\"files\":%llu,\"dirs\":%llu,\"symlinks\":%llu,\"devices\":%llu,"
		       "\"other\":%llu,\"hardlinked\":%llu,\"whiteouts\":%llu,\"opaque\":%llu,"
		       "\"xattrs\":%llu,\"file_bytes\":%llu,\"holes\":%llu}",
		       (unsigned long long)et->files, (unsigned long long)et->dirs,
		       (unsigned long long)et->symlinks, (unsigned long long)et->devices,
		       (unsigned long long)et->other, (unsigned long long)et->hardlinked,
		       (unsigned long long)et->whiteouts, (unsigned long long)et->opaque,
		       (unsigned long long)et->xattrs, (unsigned long long)et->bytes,
		       (unsigned long long)et->holes);
	else
		printf(",\"entries\":null");
	printf("}\n");
}

int layer_cmd_inspect(struct lm_cli *c, int argc, char **argv)
{
	struct chunk_totals ct;
	struct entry_totals et;
	struct lm_sealed_file f;
	struct layer_opts o;
	struct lm_store *st;
	int rc = layer_parse(c, argc, argv, inspect_usage, NULL, &o, 1,
			     "exactly one layer DIGEST");

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = layer_open(c, o.arg, true, &st, &f);
	if (rc)
		return rc;
	chunk_count(&f, &ct);
	entry_count(&f, &et);
	if (c->json)
		inspect_json(st, &f, &ct, &et);
	else
		inspect_text(st, &f, &ct, &et);
	lm_sealed_file_close(&f);
	lm_store_free(st);
	return 0;
}
