/* Sealed layers, reading the metadata: open (hash, box, lz4), the checks
 * of every rule in sealed.h, and the accessors (format in sealed.h).
 *
 * Hostile input: the plain metadata is untrusted until every check below
 * passes, so the accessors may then index it without bounds checks. The
 * checks are linear in the metadata (plus one pass over the directories
 * for reachability) and allocate only one array of 4 bytes per inode
 * beside the metadata itself, both bounded by the superblock's lengths,
 * which lm_sealed_sb_decode bounded by the file's size.
 *
 * Beyond the rules of sealed.h the reader holds the layout the builder
 * writes, so no byte of a section escapes the checks: the dirents of the
 * directories, the refs of the regular files and the xattrs of every
 * inode tile their arrays in inode order with no gap; an inode's xattrs
 * are strictly sorted by name (so unique); a directory has size 0 and
 * nlink 2 + its subdirectories, a symlink the length of its target as
 * size, any other non-regular inode size 0 and no first/count; rdev is
 * zero but for devices, the opaque flag only on directories.
 */
#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "le.h"
#include "sealed_int.h"

struct lm_sealed_meta {
	uint32_t ninodes, ndirents, nxattrs, nrefs, nchunks;
	unsigned chunk_shift;
	size_t strings_len;
	size_t size;                 /* bytes of data[] */
	bool wipe;                   /* encrypted: wiped when freed */
	const unsigned char *inodes, *dirents, *xattrs, *refs, *index;
	const char *strings;
	unsigned char data[];        /* plain metadata, then the index */
};

/* Where the checks of the inodes are in each tiled array. */
struct meta_tiles {
	uint32_t dirents, xattrs, refs;
};

/* ---- Decoding (no checks: callers check or rely on a checked meta) ---- */

static void ino_decode(const struct lm_sealed_meta *m, uint32_t i, struct lm_sealed_ino *o)
{
	const struct lm_sealed_inode_disk *d =
		(const void *)(m->inodes + (size_t)i * LM_SEALED_INODE);

	o->mode = lm_get32(d->mode);
	o->uid = lm_get32(d->uid);
	o->gid = lm_get32(d->gid);
	o->nlink = lm_get32(d->nlink);
	o->size = lm_get64(d->size);
	o->rdev = lm_get64(d->rdev);
	o->mtime = (int64_t)lm_get64(d->mtime);
	o->mtime_ns = lm_get32(d->mtime_ns);
	o->flags = lm_get32(d->flags);
	o->first = lm_get32(d->first);
	o->count = lm_get32(d->count);
	o->xattr_first = lm_get32(d->xattr_first);
	o->xattr_count = lm_get32(d->xattr_count);
}

static uint32_t ino_mode(const struct lm_sealed_meta *m, uint32_t i)
{
	return lm_get32(m->inodes + (size_t)i * LM_SEALED_INODE);
}

static const struct lm_sealed_dirent_disk *dirent_at(const struct lm_sealed_meta *m, uint32_t j)
{
	return (const void *)(m->dirents + (size_t)j * LM_SEALED_DIRENT);
}

static void dirent_decode(const struct lm_sealed_meta *m, uint32_t j, struct lm_sealed_ent *e)
{
	const struct lm_sealed_dirent_disk *d = dirent_at(m, j);

	e->name = m->strings + lm_get32(d->name_off);
	e->name_len = lm_get16(d->name_len);
	e->kind = d->kind;
	e->ino = lm_get32(d->ino);
}

static bool str_in(const struct lm_sealed_meta *m, uint64_t off, uint64_t len)
{
	return off <= m->strings_len && len <= m->strings_len - off;
}

/* ---- Checks ---- */

static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > LM_SEALED_NAME_MAX)
		return false;
	if (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')))
		return false;
	return !memchr(name, '/', len) && !memchr(name, '\0', len);
}

/* The entries of directory @in: names, order, kinds; counts every inode
 * an entry reaches in @reached, and holds nlink to 2 + subdirectories. */
static int check_dir(const struct lm_sealed_meta *m, const struct lm_sealed_ino *in,
		     uint32_t *reached)
{
	const char *prev = NULL;
	size_t prev_len = 0;
	uint64_t subdirs = 0;

	for (uint32_t j = in->first; j < in->first + in->count; j++) {
		const struct lm_sealed_dirent_disk *d = dirent_at(m, j);
		uint32_t off = lm_get32(d->name_off), ino = lm_get32(d->ino);
		size_t len = lm_get16(d->name_len);
		const char *name = m->strings + off;

		if (d->zero || !str_in(m, off, len) || !name_ok(name, len))
			return -EUCLEAN;
		if (prev && lm_sealed_name_cmp(prev, prev_len, name, len) >= 0)
			return -EUCLEAN;
		prev = name;
		prev_len = len;
		if (d->kind == LM_SEALED_DK_WHITEOUT) {
			if (ino != 0)
				return -EUCLEAN;
			continue;
		}
		if (d->kind != LM_SEALED_DK_OBJ || ino == LM_SEALED_ROOT || ino >= m->ninodes)
			return -EUCLEAN;
		reached[ino]++;
		if (S_ISDIR(ino_mode(m, ino)))
			subdirs++;
	}
	return in->nlink == 2 + subdirs ? 0 : -EUCLEAN;
}

/* A regular file's refs: in the index, each chunk as long as its place. */
static int check_refs(const struct lm_sealed_meta *m, const struct lm_sealed_ino *in)
{
	uint64_t chunk = (uint64_t)1 << m->chunk_shift;
	struct lm_sealed_chunk c;

	for (uint32_t n = 0; n < in->count; n++) {
		uint32_t r = lm_get32(m->refs + 4 * ((size_t)in->first + n));
		uint64_t want = n + 1 < in->count ? chunk : in->size - n * chunk;

		if (r == LM_SEALED_HOLE)
			continue;
		if (r >= m->nchunks)
			return -EUCLEAN;
		lm_sealed_index_entry(m->index, r, &c);
		if (c.plain_len != want)
			return -EUCLEAN;
	}
	return 0;
}

static int check_xattrs(const struct lm_sealed_meta *m, const struct lm_sealed_ino *in)
{
	const char *prev = NULL;
	size_t prev_len = 0;

	for (uint32_t x = in->xattr_first; x < in->xattr_first + in->xattr_count; x++) {
		const struct lm_sealed_xattr_disk *d =
			(const void *)(m->xattrs + (size_t)x * LM_SEALED_XATTR);
		uint32_t noff = lm_get32(d->name_off), nlen = lm_get32(d->name_len);
		uint32_t voff = lm_get32(d->val_off), vlen = lm_get32(d->val_len);
		const char *name = m->strings + noff;

		if (nlen == 0 || nlen > LM_SEALED_NAME_MAX || !str_in(m, noff, nlen) ||
		    memchr(name, '\0', nlen) || vlen > LM_SEALED_XATTR_VALUE_MAX ||
		    !str_in(m, voff, vlen))
			return -EUCLEAN;
		if (prev && lm_sealed_name_cmp(prev, prev_len, name, nlen) >= 0)
			return -EUCLEAN;
		prev = name;
		prev_len = nlen;
	}
	return 0;
}

/* Takes the next @count items of a tiled array of @total at @first. */
static bool tile(uint32_t *at, uint32_t total, uint32_t first, uint32_t count)
{
	if (first != *at || count > total - *at)
		return false;
	*at += count;
	return true;
}

/* first/count and size of inode @in by its type. */
static bool check_shape(const struct lm_sealed_meta *m, const struct lm_sealed_ino *in,
			struct meta_tiles *t)
{
	uint64_t chunk = (uint64_t)1 << m->chunk_shift;

	switch (in->mode & S_IFMT) {
	case S_IFDIR:
		return in->size == 0 && tile(&t->dirents, m->ndirents, in->first, in->count);
	case S_IFREG:
		if (in->size > (uint64_t)in->count * chunk ||
		    (in->count && in->size <= (uint64_t)(in->count - 1) * chunk))
			return false;
		return in->nlink && tile(&t->refs, m->nrefs, in->first, in->count);
	case S_IFLNK:
		return in->nlink && in->count >= 1 && in->count <= LM_SEALED_LINK_MAX &&
		       in->size == in->count && str_in(m, in->first, in->count) &&
		       !memchr(m->strings + in->first, '\0', in->count);
	}
	return in->nlink && in->size == 0 && in->first == 0 && in->count == 0;
}

static int check_inode(const struct lm_sealed_meta *m, uint32_t i, const struct lm_sealed_ino *in,
		       struct meta_tiles *t)
{
	bool dir = S_ISDIR(in->mode), dev = S_ISCHR(in->mode) || S_ISBLK(in->mode);

	if (!lm_sealed_mode_valid(in->mode) || in->mtime_ns >= 1000000000u)
		return -EUCLEAN;
	if ((in->flags & ~LM_SEALED_IF_OPAQUE) || (in->flags && !dir) ||
	    (i == LM_SEALED_ROOT && !dir) || (in->rdev && !dev))
		return -EUCLEAN;
	if (!tile(&t->xattrs, m->nxattrs, in->xattr_first, in->xattr_count) ||
	    !check_shape(m, in, t))
		return -EUCLEAN;
	return 0;
}

/* Every inode on its own, then every directory's entries. */
static int check_inodes(const struct lm_sealed_meta *m, uint32_t *reached)
{
	struct meta_tiles t = { 0, 0, 0 };
	struct lm_sealed_ino in;
	int rc = 0;

	for (uint32_t i = 0; i < m->ninodes && !rc; i++) {
		ino_decode(m, i, &in);
		rc = check_inode(m, i, &in, &t);
		if (!rc && S_ISDIR(in.mode))
			rc = check_dir(m, &in, reached);
		else if (!rc && S_ISREG(in.mode))
			rc = check_refs(m, &in);
		if (!rc)
			rc = check_xattrs(m, &in);
	}
	if (!rc && (t.dirents != m->ndirents || t.xattrs != m->nxattrs || t.refs != m->nrefs))
		rc = -EUCLEAN;
	return rc;
}

/* Link counts from the entries, then a walk from the root that must find
 * every directory: as each directory has exactly one entry, the walk
 * meets each at most once, and a cycle away from the root leaves some
 * directory unfound. @reached (inode count) is reused as the queue. */
static int check_tree(const struct lm_sealed_meta *m, uint32_t *reached)
{
	uint32_t dirs = 1, head = 0, tail = 1;
	struct lm_sealed_ino in;

	for (uint32_t i = 1; i < m->ninodes; i++) {
		ino_decode(m, i, &in);
		if (S_ISDIR(in.mode))
			dirs++;
		if (reached[i] != (S_ISDIR(in.mode) ? 1 : in.nlink))
			return -EUCLEAN;
	}
	reached[0] = LM_SEALED_ROOT;
	while (head < tail) {
		ino_decode(m, reached[head++], &in);
		for (uint32_t j = in.first; j < in.first + in.count; j++) {
			const struct lm_sealed_dirent_disk *d = dirent_at(m, j);
			uint32_t ino = lm_get32(d->ino);

			if (d->kind == LM_SEALED_DK_OBJ && S_ISDIR(ino_mode(m, ino)))
				reached[tail++] = ino;
		}
	}
	return tail == dirs ? 0 : -EUCLEAN;
}

/* The header of the plain metadata and the sections it says, which must
 * add up to exactly its length. */
static int meta_layout(struct lm_sealed_meta *m, const struct lm_sealed_sb *sb)
{
	const struct lm_sealed_meta_head_disk *h = (const void *)m->data;
	uint64_t at = LM_SEALED_META_HEAD;

	if (memcmp(h->magic, LM_SEALED_META_MAGIC, sizeof(h->magic)))
		return -EUCLEAN;
	for (size_t i = 0; i < sizeof(h->zero); i++)
		if (h->zero[i])
			return -EUCLEAN;
	m->ninodes = lm_get32(h->inode_count);
	m->ndirents = lm_get32(h->dirent_count);
	m->nrefs = lm_get32(h->ref_count);
	m->nxattrs = lm_get32(h->xattr_count);
	m->strings_len = lm_get32(h->string_len);
	if (m->ninodes != sb->inode_count)
		return -EUCLEAN;
	m->inodes = m->data + at;
	at += (uint64_t)m->ninodes * LM_SEALED_INODE;
	m->dirents = m->data + (at <= sb->meta_plain_len ? at : 0);
	at += (uint64_t)m->ndirents * LM_SEALED_DIRENT;
	m->xattrs = m->data + (at <= sb->meta_plain_len ? at : 0);
	at += (uint64_t)m->nxattrs * LM_SEALED_XATTR;
	m->refs = m->data + (at <= sb->meta_plain_len ? at : 0);
	at += (uint64_t)m->nrefs * 4;
	m->strings = (const char *)m->data + (at <= sb->meta_plain_len ? at : 0);
	at += m->strings_len;
	return at == sb->meta_plain_len ? 0 : -EUCLEAN;
}

/* The stored metadata into m->data: box (encrypted), then lz4, which must
 * give exactly the plain length. */
static int meta_inflate(struct lm_sealed_meta *m, const struct lm_sealed_sb *sb,
			const struct lm_sealed_keys *keys, const unsigned char *stored)
{
	unsigned char ad[LM_SEALED_META_AD];
	unsigned char *box = NULL;
	size_t len = sb->meta_len;
	int n, rc = 0;

	if (lm_sealed_encrypted(sb)) {
		len -= LM_AEAD_OVERHEAD;
		box = malloc(len);
		if (!box)
			return -ENOMEM;
		rc = lm_aead_open(keys->meta, box, stored, sb->meta_len, ad,
				  lm_sealed_meta_ad(ad, sb->raw));
		if (rc) {
			if (rc != -ENOMEM)
				rc = -EBADMSG;
			goto out;
		}
		stored = box;
	}
	n = LZ4_decompress_safe((const char *)stored, (char *)m->data, (int)len,
				(int)sb->meta_plain_len);
	if (n < 0 || (uint64_t)n != sb->meta_plain_len)
		rc = -EUCLEAN;
out:
	if (box) {
		lm_crypt_wipe(box, len);
		free(box);
	}
	return rc;
}

static int meta_check(const struct lm_sealed_meta *m)
{
	uint32_t *reached = calloc(m->ninodes, sizeof(*reached));
	int rc;

	if (!reached)
		return -ENOMEM;
	rc = check_inodes(m, reached);
	if (!rc)
		rc = check_tree(m, reached);
	free(reached);
	return rc;
}

int lm_sealed_meta_open(const struct lm_sealed_sb *sb, const struct lm_sealed_keys *keys,
			const unsigned char *stored, const unsigned char *index,
			struct lm_sealed_meta **out)
{
	unsigned char h[LM_SEALED_HASH];
	struct lm_sealed_meta *m;
	int rc;

	*out = NULL;
	if (lm_sealed_encrypted(sb) && !keys)
		return -EINVAL;
	lm_hash(h, sizeof(h), stored, sb->meta_len, NULL, 0);
	if (!lm_crypt_equal(h, sb->meta_hash, sizeof(h)))
		return -EBADMSG;
	rc = lm_sealed_index_check(sb, index);
	if (rc)
		return rc;
	m = calloc(1, sizeof(*m) + sb->meta_plain_len + sb->index_len);
	if (!m)
		return -ENOMEM;
	m->size = sb->meta_plain_len + sb->index_len;
	m->wipe = lm_sealed_encrypted(sb);
	m->chunk_shift = sb->chunk_shift;
	m->nchunks = sb->chunk_count;
	m->index = m->data + sb->meta_plain_len;
	if (sb->index_len)
		memcpy(m->data + sb->meta_plain_len, index, sb->index_len);
	rc = meta_inflate(m, sb, keys, stored);
	if (!rc)
		rc = meta_layout(m, sb);
	if (!rc)
		rc = meta_check(m);
	if (rc) {
		lm_sealed_meta_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void lm_sealed_meta_free(struct lm_sealed_meta *m)
{
	if (!m)
		return;
	if (m->wipe)
		lm_crypt_wipe(m->data, m->size);
	free(m);
}

/* ---- Accessors: @m is checked, so only the caller's numbers are ---- */

uint32_t lm_sealed_meta_inodes(const struct lm_sealed_meta *m)
{
	return m->ninodes;
}

void lm_sealed_meta_ino(const struct lm_sealed_meta *m, uint32_t ino, struct lm_sealed_ino *out)
{
	if (ino >= m->ninodes) {
		memset(out, 0, sizeof(*out));
		return;
	}
	ino_decode(m, ino, out);
}

int lm_sealed_meta_lookup(const struct lm_sealed_meta *m, uint32_t dir,
			  const char *name, size_t len, struct lm_sealed_ent *out)
{
	struct lm_sealed_ino in;
	uint32_t lo, hi;

	if (dir >= m->ninodes)
		return -ENOENT;
	ino_decode(m, dir, &in);
	if (!S_ISDIR(in.mode))
		return -ENOTDIR;
	lo = in.first;
	hi = in.first + in.count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c;

		dirent_decode(m, mid, out);
		c = lm_sealed_name_cmp(name, len, out->name, out->name_len);
		if (c == 0)
			return 0;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	memset(out, 0, sizeof(*out));
	return -ENOENT;
}

void lm_sealed_meta_dirent(const struct lm_sealed_meta *m, uint32_t dir, uint32_t i,
			   struct lm_sealed_ent *out)
{
	struct lm_sealed_ino in;

	memset(out, 0, sizeof(*out));
	if (dir >= m->ninodes)
		return;
	ino_decode(m, dir, &in);
	if (S_ISDIR(in.mode) && i < in.count)
		dirent_decode(m, in.first + i, out);
}

const char *lm_sealed_meta_link(const struct lm_sealed_meta *m, uint32_t ino, size_t *len)
{
	struct lm_sealed_ino in;

	*len = 0;
	if (ino >= m->ninodes)
		return NULL;
	ino_decode(m, ino, &in);
	if (!S_ISLNK(in.mode))
		return NULL;
	*len = in.count;
	return m->strings + in.first;
}

void lm_sealed_meta_xattr(const struct lm_sealed_meta *m, uint32_t ino, uint32_t i,
			  const char **name, size_t *name_len,
			  const void **val, size_t *val_len)
{
	const struct lm_sealed_xattr_disk *d;
	struct lm_sealed_ino in;

	*name = NULL;
	*val = NULL;
	*name_len = *val_len = 0;
	if (ino >= m->ninodes)
		return;
	ino_decode(m, ino, &in);
	if (i >= in.xattr_count)
		return;
	d = (const void *)(m->xattrs + ((size_t)in.xattr_first + i) * LM_SEALED_XATTR);
	*name = m->strings + lm_get32(d->name_off);
	*name_len = lm_get32(d->name_len);
	*val = m->strings + lm_get32(d->val_off);
	*val_len = lm_get32(d->val_len);
}

uint32_t lm_sealed_meta_ref(const struct lm_sealed_meta *m, uint32_t ino, uint32_t n)
{
	struct lm_sealed_ino in;

	if (ino >= m->ninodes)
		return LM_SEALED_HOLE;
	ino_decode(m, ino, &in);
	if (!S_ISREG(in.mode) || n >= in.count)
		return LM_SEALED_HOLE;
	return lm_get32(m->refs + 4 * ((size_t)in.first + n));
}

void lm_sealed_meta_chunk(const struct lm_sealed_meta *m, uint32_t idx,
			  struct lm_sealed_chunk *out)
{
	if (idx >= m->nchunks) {
		memset(out, 0, sizeof(*out));
		return;
	}
	lm_sealed_index_entry(m->index, idx, out);
}
