/* Sealed layers: one immutable file per read-only image layer, chunked,
 * lz4-compressed, authenticated and optionally encrypted for a tenant.
 * Every on-disk format of the sealed layer is in this header; the builder
 * is crypt/sealed_build.c, the decoder crypt/sealed.c, the layer that
 * serves it driver/layer/layer_sealed.c. All integers little-endian.
 *
 * ---- The file ----
 *
 *   0            256                     index_off          meta_off   file_size
 *   +------------+-----------------------+------------------+----------+
 *   | superblock | chunk 0 | chunk 1 |...| chunk index      | metadata |
 *   | (256)      | stored bytes, packed  | (48 per chunk)   | (stored) |
 *   +------------+-----------------------+------------------+----------+
 *
 * Chunk i lies at index[i].offset; chunk 0 at 256, each next one right
 * after the one before, the last ending at index_off; the index is
 * followed by the metadata, which ends the file. No byte is outside these
 * sections, so every byte of the file is covered by the digest.
 *
 * ---- Superblock (256 bytes) ----
 *
 *   0           8        10       12        13       14      16
 *   +-----------+--------+--------+---------+--------+-------+------------+
 *   |"LMSEAL1"\0| format | flags  | chunk   | cipher | zero  | layer id   |
 *   |   (8)     | (u16=1)| (u16)  | shift(1)| (1)    | (2)   | (16)       |
 *   +-----------+--------+--------+---------+--------+-------+------------+
 *   32                       96            104          112        116
 *   +------------------------+-------------+------------+----------+----------+
 *   | tenant (64, NUL pad;   | created     | file size  | chunk    | inode    |
 *   | all zero when plain)   | (u64, unix) | (u64)      | count u32| count u32|
 *   +------------------------+-------------+------------+----------+----------+
 *   120          128         136           144           152
 *   +------------+-----------+-------------+-------------+-------------+
 *   | index off  | index len | meta off    | meta stored | meta plain  |
 *   | (u64)      | (u64)     | (u64)       | len (u64)   | len (u64)   |
 *   +------------+-----------+-------------+-------------+-------------+
 *   160                  192                  224                  256
 *   +--------------------+--------------------+--------------------+
 *   | meta hash (32)     | index hash (32)    | MAC (32)           |
 *   +--------------------+--------------------+--------------------+
 *
 *   flags: LM_SEALED_F_ENCRYPTED. chunk shift 14..20 (16 KiB..1 MiB of
 *   plaintext per chunk). cipher: 0 when plain, else an aead.h cipher id.
 *   meta hash and index hash: BLAKE2b-256 of the stored metadata bytes and
 *   of the index bytes. MAC: zero when plain; when encrypted, BLAKE2b-256
 *   keyed with the DEK's header subkey over bytes [0, 224), so only a
 *   holder of the DEK makes a superblock that opens.
 *
 * ---- Digest: the layer's name ----
 *
 *   digest = BLAKE2b-256 of the 256 superblock bytes, written as 64
 *   lower-case hex digits (layers/<digest> in the store). The superblock
 *   holds the hashes of the metadata and of the index, the index the hash
 *   of every stored chunk, and the sections tile the file: so the digest
 *   commits to every byte of the file, and a reader that knows the digest
 *   checks each byte when it first uses it (the metadata at open, a chunk
 *   when it is read) without reading the whole file at open.
 *
 * ---- Chunk index (48 bytes per stored chunk) ----
 *
 *   0              8               12                     15      16
 *   +--------------+---------------+----------------------+-------+
 *   | offset (u64) | stored length | plain length (u24)   | flags |
 *   |              | (u32)         | 1..chunk size        | (u8)  |
 *   +--------------+---------------+----------------------+-------+
 *   16                                                           48
 *   +------------------------------------------------------------+
 *   | hash (32): BLAKE2b-256 of the chunk's stored bytes          |
 *   +------------------------------------------------------------+
 *
 *   flags: LM_SEALED_CF_LZ4 (the payload is an lz4 block; else it is the
 *   plaintext itself, stored raw when lz4 does not shrink it). A plain
 *   layer stores the payload as it is. An encrypted layer stores an aead.h
 *   box of the payload under the chunk key = lm_kdf_object(contents
 *   subkey of the DEK, layer id), additional data "lamina.chunk" (with its
 *   NUL) || layer id || chunk index (u32) || flags (u8), so a chunk is
 *   bound to its layer and its place. Identical plaintext chunks of a
 *   layer are stored once and referenced from every place they occur.
 *   Readers of a plain layer check the hash; readers of an encrypted one
 *   check the box (the hash lets `lamina layer verify` check the file
 *   without the key).
 *
 * ---- Metadata ----
 *
 *   The stored metadata is the lz4 block of the plain metadata (meta plain
 *   len bytes), and when encrypted an aead.h box of that block under the
 *   metadata subkey of the DEK, additional data "lamina.meta" (with its
 *   NUL) || the superblock bytes [0, 160). The plain metadata:
 *
 *   header (64): "LMSMETA"\0 (8) | inode count u32 | dirent count u32 |
 *                ref count u32 | xattr count u32 | string bytes u32 |
 *                zero (36)
 *   inodes   (64 each) -- inode 0 is the root directory
 *   dirents  (12 each) -- each directory's entries contiguous, sorted by
 *                         name (bytewise, a shorter prefix first)
 *   xattrs   (16 each) -- each inode's xattrs contiguous
 *   refs     (4 each)  -- each regular file's chunk indices, in order
 *   strings  (string bytes) -- names, link targets, xattr names and values
 *
 *   Inode (64 bytes):
 *     0 mode u32 | 4 uid u32 | 8 gid u32 | 12 nlink u32 | 16 size u64 |
 *     24 rdev u64 (makedev) | 32 mtime seconds s64 | 40 mtime ns u32 |
 *     44 flags u32 (LM_SEALED_IF_OPAQUE) | 48 first u32 | 52 count u32 |
 *     56 xattr first u32 | 60 xattr count u32
 *     first/count: a directory's dirents; a regular file's refs (count =
 *     ceil(size / chunk size)); a symlink's target in the strings (offset,
 *     length 1..4095); zero for everything else.
 *   Dirent (12 bytes):
 *     0 name offset u32 | 4 name length u16 (1..255) | 6 kind u8
 *     (LM_SEALED_DK_OBJ, LM_SEALED_DK_WHITEOUT) | 7 zero u8 | 8 inode u32
 *     (0 for a whiteout)
 *   Xattr (16 bytes):
 *     0 name offset u32 | 4 name length u32 (1..255) | 8 value offset u32
 *     | 12 value length u32 (0..65536)
 *   Ref: a stored chunk index, or LM_SEALED_HOLE for a chunk of zeros.
 *
 *   Checked at open: every offset and count in bounds; names without '/'
 *   or NUL, never "." or ".."; entries of a directory strictly sorted;
 *   every inode but the root reached, every directory by exactly one entry
 *   (so the tree has no cycle), every other inode by exactly nlink entries;
 *   a file's refs cover its size and each chunk's plain length is what its
 *   place needs; times, modes and sizes sane. Whiteouts are entries, opaque
 *   directories a flag: the layer's own spelling of the OCI ones.
 */
#ifndef LM_SEALED_H
#define LM_SEALED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aead.h"
#include "crypt.h"
#include "slot.h"

#define LM_SEALED_MAGIC "LMSEAL1"
#define LM_SEALED_FORMAT 1u
#define LM_SEALED_SB 256u
#define LM_SEALED_HASH 32u
#define LM_SEALED_DIGEST_HEX 64u
#define LM_SEALED_F_ENCRYPTED 1u
#define LM_SEALED_SHIFT_MIN 14u
#define LM_SEALED_SHIFT_MAX 20u
#define LM_SEALED_SHIFT_DEFAULT 16u
#define LM_SEALED_INDEX_ENT 48u
#define LM_SEALED_CF_LZ4 1u
#define LM_SEALED_META_MAGIC "LMSMETA"
#define LM_SEALED_META_HEAD 64u
#define LM_SEALED_INODE 64u
#define LM_SEALED_DIRENT 12u
#define LM_SEALED_XATTR 16u
#define LM_SEALED_HOLE 0xffffffffu
#define LM_SEALED_IF_OPAQUE 1u
#define LM_SEALED_DK_OBJ 1u
#define LM_SEALED_DK_WHITEOUT 2u
#define LM_SEALED_ROOT 0u
#define LM_SEALED_XATTR_VALUE_MAX 65536u
/* Bounds a reader accepts (hostile input never allocates more). */
#define LM_SEALED_META_MAX (1u << 30)
#define LM_SEALED_INODES_MAX (1u << 24)

struct lm_sealed_sb_disk {
	char magic[8];
	uint8_t format[2];
	uint8_t flags[2];
	uint8_t chunk_shift;
	uint8_t cipher;
	uint8_t zero[2];
	uint8_t layer_id[LM_OBJECT_ID_BYTES];
	char tenant[LM_TENANT_FIELD];
	uint8_t created[8];
	uint8_t file_size[8];
	uint8_t chunk_count[4];
	uint8_t inode_count[4];
	uint8_t index_off[8];
	uint8_t index_len[8];
	uint8_t meta_off[8];
	uint8_t meta_len[8];
	uint8_t meta_plain_len[8];
	uint8_t meta_hash[LM_SEALED_HASH];
	uint8_t index_hash[LM_SEALED_HASH];
	uint8_t mac[LM_SEALED_HASH];
};
_Static_assert(sizeof(struct lm_sealed_sb_disk) == LM_SEALED_SB, "sealed superblock");

struct lm_sealed_index_disk {
	uint8_t offset[8];
	uint8_t stored_len[4];
	uint8_t plain_len[3];
	uint8_t flags;
	uint8_t hash[LM_SEALED_HASH];
};
_Static_assert(sizeof(struct lm_sealed_index_disk) == LM_SEALED_INDEX_ENT, "sealed index entry");

struct lm_sealed_meta_head_disk {
	char magic[8];
	uint8_t inode_count[4];
	uint8_t dirent_count[4];
	uint8_t ref_count[4];
	uint8_t xattr_count[4];
	uint8_t string_len[4];
	uint8_t zero[36];
};
_Static_assert(sizeof(struct lm_sealed_meta_head_disk) == LM_SEALED_META_HEAD, "sealed meta head");

struct lm_sealed_inode_disk {
	uint8_t mode[4];
	uint8_t uid[4];
	uint8_t gid[4];
	uint8_t nlink[4];
	uint8_t size[8];
	uint8_t rdev[8];
	uint8_t mtime[8];
	uint8_t mtime_ns[4];
	uint8_t flags[4];
	uint8_t first[4];
	uint8_t count[4];
	uint8_t xattr_first[4];
	uint8_t xattr_count[4];
};
_Static_assert(sizeof(struct lm_sealed_inode_disk) == LM_SEALED_INODE, "sealed inode");

struct lm_sealed_dirent_disk {
	uint8_t name_off[4];
	uint8_t name_len[2];
	uint8_t kind;
	uint8_t zero;
	uint8_t ino[4];
};
_Static_assert(sizeof(struct lm_sealed_dirent_disk) == LM_SEALED_DIRENT, "sealed dirent");

struct lm_sealed_xattr_disk {
	uint8_t name_off[4];
	uint8_t name_len[4];
	uint8_t val_off[4];
	uint8_t val_len[4];
};
_Static_assert(sizeof(struct lm_sealed_xattr_disk) == LM_SEALED_XATTR, "sealed xattr");

/* ================= Reading (crypt/sealed.c) ================= */

/* A decoded superblock. No secret in it. */
struct lm_sealed_sb {
	uint16_t flags;
	unsigned chunk_shift;
	enum lm_cipher cipher;           /* 0 when plain */
	unsigned char layer_id[LM_OBJECT_ID_BYTES];
	char tenant[LM_TENANT_MAX + 1];  /* "" when plain */
	uint64_t created;
	uint64_t file_size;
	uint32_t chunk_count;
	uint32_t inode_count;
	uint64_t index_off, index_len;
	uint64_t meta_off, meta_len, meta_plain_len;
	unsigned char meta_hash[LM_SEALED_HASH];
	unsigned char index_hash[LM_SEALED_HASH];
	unsigned char mac[LM_SEALED_HASH];
	unsigned char digest[LM_SEALED_HASH]; /* of the 256 bytes decoded */
	unsigned char raw[LM_SEALED_SB];      /* the bytes decoded */
};

static inline bool lm_sealed_encrypted(const struct lm_sealed_sb *sb)
{
	return sb->flags & LM_SEALED_F_ENCRYPTED;
}

/* Decodes the superblock in @buf (@len bytes, at least LM_SEALED_SB) of a
 * file of @file_size bytes. Hostile input: any bytes are safe; bad magic,
 * a reserved byte set, sections that do not tile the file, counts that do
 * not match the lengths, an unknown cipher or chunk shift are -EUCLEAN;
 * another format is -EPROTONOSUPPORT. Nothing but the layout is checked:
 * the MAC needs the keys (lm_sealed_keys_new), the digest a caller that
 * knows which digest it expects. */
int lm_sealed_sb_decode(const unsigned char *buf, size_t len, uint64_t file_size,
			struct lm_sealed_sb *sb);

/* @hex (LM_SEALED_DIGEST_HEX + 1 bytes) receives the digest of @sb. */
void lm_sealed_digest_hex(const struct lm_sealed_sb *sb, char *hex);

/* True when @s is 64 lower-case hex digits. */
bool lm_sealed_digest_valid(const char *s);

/* The keys of an encrypted layer, derived from its DEK: chunk key,
 * metadata key, header subkey. Opaque, in secret memory, usable by many
 * threads at once; freed (wiped) with lm_sealed_keys_free. */
struct lm_sealed_keys;

/* Derives the keys of layer @sb from @dek (32 bytes, borrowed) and checks
 * the superblock's MAC with them. Returns 0, -EKEYREJECTED when the MAC
 * does not verify (another DEK, or a changed superblock), -EINVAL for a
 * plain layer, -ENOTSUP when the cipher is not available here, -ENOMEM. */
int lm_sealed_keys_new(const struct lm_sealed_sb *sb, const unsigned char *dek,
		       struct lm_sealed_keys **out);
void lm_sealed_keys_free(struct lm_sealed_keys *k);

/* The decoded metadata of a layer, in memory (one allocation, read-only
 * once made, so any number of threads may read it). */
struct lm_sealed_meta;

/* Checks and opens the stored metadata @stored (sb->meta_len bytes, as
 * read from the file) of layer @sb: its hash, then (encrypted, @keys
 * required) its box, then decompresses and checks every rule above.
 * Hostile input: a hash or box that does not verify is -EBADMSG, anything
 * that breaks a rule -EUCLEAN, never a crash. *out is freed with
 * lm_sealed_meta_free. */
int lm_sealed_meta_open(const struct lm_sealed_sb *sb, const struct lm_sealed_keys *keys,
			const unsigned char *stored, const unsigned char *index,
			struct lm_sealed_meta **out);
void lm_sealed_meta_free(struct lm_sealed_meta *m);

/* Checks the index bytes @index (sb->index_len) against the superblock:
 * hash, offsets packed from LM_SEALED_SB to index_off, lengths sane.
 * Returns 0, -EBADMSG (hash) or -EUCLEAN. lm_sealed_meta_open calls it
 * too (it needs the plain lengths to check the refs). */
int lm_sealed_index_check(const struct lm_sealed_sb *sb, const unsigned char *index);

/* An inode, decoded. */
struct lm_sealed_ino {
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev;
	int64_t mtime;
	uint32_t mtime_ns;
	uint32_t flags;
	uint32_t first, count;
	uint32_t xattr_first, xattr_count;
};

struct lm_sealed_ent {
	const char *name;        /* not NUL-ended: name_len bytes */
	size_t name_len;
	unsigned kind;           /* LM_SEALED_DK_* */
	uint32_t ino;
};

/* Accessors of an opened (so checked) metadata. @ino < inode count. */
uint32_t lm_sealed_meta_inodes(const struct lm_sealed_meta *m);
void lm_sealed_meta_ino(const struct lm_sealed_meta *m, uint32_t ino, struct lm_sealed_ino *out);
/* Binary search of @name (@len bytes) in directory @dir. Returns 0 and
 * fills @out, -ENOENT, or -ENOTDIR when @dir is not a directory. */
int lm_sealed_meta_lookup(const struct lm_sealed_meta *m, uint32_t dir,
			  const char *name, size_t len, struct lm_sealed_ent *out);
/* The @i-th entry of directory @dir (i < its count), in name order. */
void lm_sealed_meta_dirent(const struct lm_sealed_meta *m, uint32_t dir, uint32_t i,
			   struct lm_sealed_ent *out);
/* A symlink's target (not NUL-ended; *len set). NULL when not a symlink. */
const char *lm_sealed_meta_link(const struct lm_sealed_meta *m, uint32_t ino, size_t *len);
/* The @i-th xattr of @ino (i < its xattr count). */
void lm_sealed_meta_xattr(const struct lm_sealed_meta *m, uint32_t ino, uint32_t i,
			  const char **name, size_t *name_len,
			  const void **val, size_t *val_len);
/* The stored chunk holding plaintext chunk @n of regular file @ino
 * (LM_SEALED_HOLE for zeros); @n < the inode's count. */
uint32_t lm_sealed_meta_ref(const struct lm_sealed_meta *m, uint32_t ino, uint32_t n);

/* A stored chunk's index entry, decoded (from the checked index). */
struct lm_sealed_chunk {
	uint64_t offset;
	uint32_t stored_len;
	uint32_t plain_len;
	uint8_t flags;
	const unsigned char *hash;  /* LM_SEALED_HASH bytes, in the index */
};
/* @idx < sb->chunk_count. */
void lm_sealed_meta_chunk(const struct lm_sealed_meta *m, uint32_t idx,
			  struct lm_sealed_chunk *out);

/* Opens stored chunk @idx: @stored holds its stored bytes (c->stored_len),
 * @plain receives its c->plain_len plaintext bytes. Checks the hash
 * (plain layer) or the box (encrypted, @keys required), then decompresses;
 * the decompressed length must be exactly plain_len. Nothing is released
 * before it verifies: on failure @plain is zeroed. Returns 0, -EBADMSG
 * for a chunk that does not verify, -EUCLEAN for one that verifies but
 * does not decompress (a builder bug: never expected). @scratch is a
 * buffer of at least lm_sealed_scratch_size(sb) bytes for the decrypted
 * payload (encrypted layers only; NULL otherwise). */
int lm_sealed_chunk_open(const struct lm_sealed_sb *sb, const struct lm_sealed_keys *keys,
			 const struct lm_sealed_chunk *c, uint32_t idx,
			 const unsigned char *stored, unsigned char *plain,
			 unsigned char *scratch);
size_t lm_sealed_scratch_size(const struct lm_sealed_sb *sb);
/* The largest stored length a chunk of @sb may have. */
size_t lm_sealed_stored_max(const struct lm_sealed_sb *sb);

/* Checks stored chunk bytes against the index hash only (no key needed):
 * 0 or -EBADMSG. */
int lm_sealed_chunk_hash_check(const struct lm_sealed_chunk *c, const unsigned char *stored);

/* The key of an encrypted layer: its DEK wrapped for the tenant lives in
 * the store's slot file (slotfile.h) named "layer-" + the 32 hex digits of
 * the layer id, apart from the layer file so that `lamina tenant rotate`
 * rewraps it without changing the layer's digest. @out receives the name
 * (LM_SEALED_SLOT_NAME_MAX bytes). */
#define LM_SEALED_SLOT_PREFIX "layer-"
#define LM_SEALED_SLOT_NAME_MAX (sizeof(LM_SEALED_SLOT_PREFIX) + 2 * LM_OBJECT_ID_BYTES)
static inline void lm_sealed_slot_name(const unsigned char *layer_id, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t n = sizeof(LM_SEALED_SLOT_PREFIX) - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = LM_SEALED_SLOT_PREFIX[i];
	for (size_t i = 0; i < LM_OBJECT_ID_BYTES; i++) {
		out[n + 2 * i] = hx[layer_id[i] >> 4];
		out[n + 2 * i + 1] = hx[layer_id[i] & 15];
	}
	out[n + 2 * LM_OBJECT_ID_BYTES] = '\0';
}

/* Layers in a store live at layers/<digest>. */
#define LM_SEALED_STORE_DIR "layers"

/* ================= Building (crypt/sealed_build.c) ================= */

enum lm_sealed_compress {
	LM_SEALED_LZ4 = 0,   /* the default */
	LM_SEALED_LZ4HC,
	LM_SEALED_NONE,
};

struct lm_sealed_build_opts {
	unsigned chunk_shift;            /* 0: LM_SEALED_SHIFT_DEFAULT */
	enum lm_sealed_compress compress;
	/* Encrypted layers: the DEK (32 bytes, borrowed for the call to
	 * lm_sealed_build_new, copied into secret memory), the cipher (0: the
	 * default, lm_aead_default) and the tenant; NULL dek: a plain layer. */
	const unsigned char *dek;
	enum lm_cipher cipher;
	const char *tenant;
	const unsigned char *layer_id;   /* NULL: random */
	uint64_t created;                /* 0: now */
	/* Threads that hash and compress chunks while the caller goes on
	 * (up to LM_SEALED_THREADS_MAX): 0, one per online CPU. */
	unsigned threads;
};
#define LM_SEALED_THREADS_MAX 64u

/* Attributes of a new entry. */
struct lm_sealed_attr {
	uint32_t mode;     /* with the type bits: S_IFREG, S_IFDIR, S_IFLNK,
			    * S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK */
	uint32_t uid, gid;
	uint64_t rdev;     /* devices */
	int64_t mtime;
	uint32_t mtime_ns;
	const char *link;  /* symlinks: the target (1..4095 bytes) */
};

/* A layer being built. Entries are added by path (relative to the layer
 * root, components separated by '/', no "." or ".." component, no empty
 * one; "" or "." is the root); a missing parent is created as a directory
 * 0755 owned by root. Adding a path that exists replaces the old entry
 * (a directory replaced by a directory keeps its children; by anything
 * else, loses them), as a later entry of a tar does. File data is
 * appended to the last regular file added, in order, and streamed to the
 * file as chunks fill, a few MiB behind: the builder hashes, compresses
 * and boxes them on threads of its own (one a CPU) while the caller goes
 * on, and the file is the same whichever thread did what. The rest (tree,
 * refs, index) stays in memory until lm_sealed_build_finish. Not
 * thread-safe: one thread calls the builder. */
struct lm_sealed_build;

/* Starts a layer written to @fd (a new, empty regular file opened for
 * writing; the caller owns it and renames it into place after finish).
 * Returns 0, -EINVAL for bad options (*err says which), -ENOMEM. */
int lm_sealed_build_new(int fd, const struct lm_sealed_build_opts *o,
			struct lm_sealed_build **out, struct lm_err *err);
void lm_sealed_build_free(struct lm_sealed_build *b);

/* Adds (or replaces) @path with @a. Returns 0, -EINVAL for a bad path or
 * attributes (*err names it), -ENOTDIR when a parent is not a directory. */
int lm_sealed_build_add(struct lm_sealed_build *b, const char *path,
			const struct lm_sealed_attr *a, struct lm_err *err);
/* Appends @len bytes of data to the regular file added last. Returns 0,
 * -EINVAL (no regular file to append to), -EFBIG, -errno of the write. */
int lm_sealed_build_data(struct lm_sealed_build *b, const void *buf, size_t len,
			 struct lm_err *err);
/* Sets xattr @name of @path (added before) to @val. -ENOENT, -EINVAL. */
int lm_sealed_build_xattr(struct lm_sealed_build *b, const char *path, const char *name,
			  const void *val, size_t len, struct lm_err *err);
/* Makes @path a hard link to @target (a non-directory added before).
 * -ENOENT when target is missing, -EPERM for a directory. */
int lm_sealed_build_link(struct lm_sealed_build *b, const char *path,
			 const char *target, struct lm_err *err);
/* A whiteout at @path (an OCI `.wh.NAME`, already translated). */
int lm_sealed_build_whiteout(struct lm_sealed_build *b, const char *path,
			     struct lm_err *err);
/* Marks directory @path opaque (an OCI `.wh..wh..opq`); creates it when
 * missing. */
int lm_sealed_build_opaque(struct lm_sealed_build *b, const char *path,
			   struct lm_err *err);

/* The counts so far. Chunks are stored in batches behind the data added,
 * so chunks, chunks_dedup and bytes_stored are final only once
 * lm_sealed_build_finish has returned. */
struct lm_sealed_build_stats {
	uint64_t entries, files, bytes_in;        /* plaintext */
	uint64_t chunks, chunks_dedup, bytes_stored;
};
void lm_sealed_build_stats(const struct lm_sealed_build *b, struct lm_sealed_build_stats *s);

/* Writes the index, the metadata and the superblock, fsyncs @fd and puts
 * the digest in @hex (LM_SEALED_DIGEST_HEX + 1 bytes). Returns 0 or
 * -errno. The builder is spent afterwards: its stats may still be read,
 * then free it. */
int lm_sealed_build_finish(struct lm_sealed_build *b, char *hex, struct lm_err *err);

#endif
