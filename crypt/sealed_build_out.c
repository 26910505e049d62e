/* Sealed layers, building: what goes to the file (format in sealed.h).
 * File data is cut into chunks as it comes, each stored once (identical
 * plaintext chunks of the layer share one), compressed when that shrinks
 * it, boxed when the layer is encrypted, and written; finish writes the
 * index, the metadata and last the superblock. Chunks are stored in
 * batches by a thread of the builder's own, in the order they came, while
 * the caller goes on reading its source (struct build_batch).
 *
 * The output is a function of the calls, the layer id and the creation
 * time alone (inode numbers breadth-first from the root with each
 * directory's entries in name order, chunks in the order their data
 * came), so a plain layer built twice from one tarball has one digest.
 * The plaintext hashes used to find identical chunks stay in memory.
 */
#include <errno.h>
#include <lz4.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <lz4hc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "le.h"
#include "sealed_build_int.h"

#define LZ4HC_LEVEL 9
#define BATCH_BYTES ((size_t)4 << 20) /* plaintext room of a batch */
#define BATCH_SLOTS_MIN 4u
#define BATCH_SLOTS_MAX 256u

static void threads_start(struct lm_sealed_build *b);
static void batch_stop(struct lm_sealed_build *b);

/* Bytes of an lz4 compression state for @b's compression. */
static size_t lz4_state_size(const struct lm_sealed_build *b)
{
	return b->compress == LM_SEALED_LZ4HC ? (size_t)LZ4_sizeofStateHC()
					      : (size_t)LZ4_sizeofState();
}

int build_out_init(struct lm_sealed_build *b)
{
	size_t n = BATCH_BYTES / b->chunk;

	/* Small files take a slot each, so a batch has a few at least. */
	b->nslots = n < BATCH_SLOTS_MIN ? BATCH_SLOTS_MIN :
		    n > BATCH_SLOTS_MAX ? BATCH_SLOTS_MAX : (unsigned)n;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	for (int i = 0; i < 2; i++) {
		b->batch[i].slots = calloc(b->nslots, sizeof(*b->batch[i].slots));
		b->batch[i].buf = malloc(b->nslots * b->chunk);
		b->batch[i].cbuf = malloc(b->nslots * b->chunk);
		if (!b->batch[i].slots || !b->batch[i].buf || !b->batch[i].cbuf)
			return -ENOMEM;
		/* A tenant's plaintext stays out of swap where the limit
		 * allows (wiped and unlocked at release). */
		if (b->encrypted) {
			(void)mlock(b->batch[i].buf, b->nslots * b->chunk);
			(void)mlock(b->batch[i].cbuf, b->nslots * b->chunk);
		}
	}
	b->pending = b->batch[0].buf;
	b->sbuf = malloc(b->chunk + LM_AEAD_OVERHEAD);
	b->lz4state = malloc(lz4_state_size(b));
	b->dcap = 1024;
	b->dtab = calloc(b->dcap, sizeof(*b->dtab));
	if (!b->sbuf || !b->lz4state || !b->dtab)
		return -ENOMEM;
	threads_start(b);
	return 0;
}

void build_out_release(struct lm_sealed_build *b)
{
	batch_stop(b);
	if (b->nslots) {
		pthread_cond_destroy(&b->cond);
		pthread_mutex_destroy(&b->lock);
	}
	for (int i = 0; i < 2; i++) {
		/* Plaintext of a tenant's layer, and what its hashes say. */
		if (b->encrypted && b->batch[i].buf) {
			lm_crypt_wipe(b->batch[i].buf, b->nslots * b->chunk);
			munlock(b->batch[i].buf, b->nslots * b->chunk);
		}
		if (b->encrypted && b->batch[i].cbuf) {
			lm_crypt_wipe(b->batch[i].cbuf, b->nslots * b->chunk);
			munlock(b->batch[i].cbuf, b->nslots * b->chunk);
		}
		if (b->encrypted && b->batch[i].slots)
			lm_crypt_wipe(b->batch[i].slots, b->nslots * sizeof(*b->batch[i].slots));
		free(b->batch[i].buf);
		free(b->batch[i].cbuf);
		free(b->batch[i].slots);
	}
	if (b->encrypted && b->phash)
		lm_crypt_wipe(b->phash, (size_t)b->nchunks * LM_SEALED_HASH);
	free(b->sbuf);
	free(b->lz4state);
	free(b->dtab);
	free(b->phash);
	free(b->index);
}

static int write_at(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ---- Chunks ---- */

static uint32_t dedup_find(const struct lm_sealed_build *b, const unsigned char *h)
{
	size_t mask = b->dcap - 1, i = lm_get64(h) & mask;

	for (; b->dtab[i]; i = (i + 1) & mask)
		if (!memcmp(b->phash[b->dtab[i] - 1], h, LM_SEALED_HASH))
			return b->dtab[i] - 1;
	return LM_SEALED_HOLE;
}

static void dedup_put(uint32_t *tab, size_t cap, const unsigned char *h, uint32_t idx)
{
	size_t i = lm_get64(h) & (cap - 1);

	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = idx + 1;
}

/* Room for one more chunk in the index, the hashes and the table. */
static int chunk_room(struct lm_sealed_build *b)
{
	size_t cap = b->capchunks;
	unsigned char *ix;
	void *ph;

	if ((size_t)b->nchunks + 1 > b->capchunks) {
		ix = build_grow(b->index, &cap, b->nchunks + 1, LM_SEALED_INDEX_ENT);
		if (!ix)
			return -ENOMEM;
		b->index = ix;
		cap = b->capchunks;
		ph = build_grow(b->phash, &cap, b->nchunks + 1, LM_SEALED_HASH);
		if (!ph)
			return -ENOMEM;
		b->phash = ph;
		b->capchunks = cap;
	}
	if ((size_t)b->nchunks * 2 >= b->dcap) {
		uint32_t *tab = calloc(b->dcap * 2, sizeof(*tab));

		if (!tab)
			return -ENOMEM;
		b->dcap *= 2;
		for (uint32_t i = 0; i < b->nchunks; i++)
			dedup_put(tab, b->dcap, b->phash[i], i);
		free(b->dtab);
		b->dtab = tab;
	}
	return 0;
}

/* The first half of storing a slot's chunk, which needs nothing but the
 * slot (so the chunk thread and the helpers share a batch's slots): is it
 * all zeros, its plaintext hash, and its payload, an lz4 block in @cbuf
 * when that is shorter, else the plaintext itself. */
static void slot_prepare(const struct lm_sealed_build *b, struct build_slot *sl,
			 unsigned char *cbuf, void *lz4state)
{
	int n = 0;

	sl->zero = lm_is_zero(sl->plain, sl->len);
	if (sl->zero)
		return;
	lm_hash(sl->hash, LM_SEALED_HASH, sl->plain, sl->len, NULL, 0);
	if (b->compress == LM_SEALED_LZ4)
		n = LZ4_compress_fast_extState(lz4state, (const char *)sl->plain, (char *)cbuf,
					       (int)sl->len, (int)sl->len - 1, 1);
	else if (b->compress == LM_SEALED_LZ4HC)
		n = LZ4_compress_HC_extStateHC(lz4state, (const char *)sl->plain, (char *)cbuf,
					       (int)sl->len, (int)sl->len - 1, LZ4HC_LEVEL);
	sl->flags = n > 0 ? LM_SEALED_CF_LZ4 : 0;
	sl->payload = n > 0 ? cbuf : sl->plain;
	sl->plen = n > 0 ? (size_t)n : sl->len;
}

/* Writes @sl's payload as chunk b->nchunks. */
static int chunk_write(struct lm_sealed_build *b, const struct build_slot *sl)
{
	struct lm_sealed_index_disk *e =
		(void *)(b->index + (size_t)b->nchunks * LM_SEALED_INDEX_ENT);
	const unsigned char *stored = sl->payload;
	unsigned char ad[LM_SEALED_CHUNK_AD];
	size_t slen = sl->plen;
	int rc;

	if (b->encrypted) {
		rc = lm_aead_seal(b->keys.chunk, b->sbuf, stored, slen, ad,
				  lm_sealed_chunk_ad(ad, b->layer_id, b->nchunks, sl->flags));
		if (rc)
			return rc;
		stored = b->sbuf;
		slen += LM_AEAD_OVERHEAD;
	}
	rc = write_at(b->fd, stored, slen, b->off);
	if (rc)
		return rc;
	lm_put64(e->offset, b->off);
	lm_put32(e->stored_len, (uint32_t)slen);
	e->plain_len[0] = (uint8_t)sl->len;
	e->plain_len[1] = (uint8_t)(sl->len >> 8);
	e->plain_len[2] = (uint8_t)(sl->len >> 16);
	e->flags = sl->flags;
	lm_hash(e->hash, LM_SEALED_HASH, stored, slen, NULL, 0);
	b->off += slen;
	b->cst.bytes_stored += slen;
	return 0;
}

/* The second half, in the order the chunks came: finds a prepared slot's
 * chunk stored already or stores it, and sets its ref. */
static int chunk_store(struct lm_sealed_build *b, struct build_slot *sl)
{
	int rc;

	if (sl->zero) {
		sl->ref = LM_SEALED_HOLE;
		return 0;
	}
	sl->ref = dedup_find(b, sl->hash);
	if (sl->ref != LM_SEALED_HOLE) {
		b->cst.chunks_dedup++;
		return 0;
	}
	if (b->nchunks >= LM_SEALED_HOLE - 1)
		return -EFBIG;
	rc = chunk_room(b);
	if (!rc)
		rc = chunk_write(b, sl);
	if (rc)
		return rc;
	memcpy(b->phash[b->nchunks], sl->hash, LM_SEALED_HASH);
	dedup_put(b->dtab, b->dcap, sl->hash, b->nchunks);
	sl->ref = b->nchunks++;
	b->cst.chunks++;
	return 0;
}

/* ---- Batches, the chunk thread and its helpers ----
 *
 * The caller's thread fills a batch while the chunk thread stores the one
 * before: first every slot is prepared (hashed, compressed) by the chunk
 * thread and the helpers together, each taking the next slot not taken;
 * then the chunk thread alone stores them in order, so the chunks' places
 * and the layer's bytes do not depend on who prepared what. */

/* Prepares slots of @bt not taken yet, with @lz4state. */
static void batch_prepare_some(struct lm_sealed_build *b, struct build_batch *bt, void *lz4state)
{
	unsigned i, did = 0;

	while ((i = atomic_fetch_add(&bt->claim, 1)) < bt->n) {
		slot_prepare(b, &bt->slots[i], bt->cbuf + (size_t)i * b->chunk, lz4state);
		did++;
	}
	if (did) {
		pthread_mutex_lock(&b->lock);
		bt->prepared += did;
		if (bt->prepared == bt->n)
			pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
	}
}

/* Prepares then stores every chunk of @bt in order, on the chunk thread
 * (or the caller's, when the thread could not be made). */
static void batch_run(struct lm_sealed_build *b, struct build_batch *bt)
{
	atomic_store(&bt->claim, 0);
	bt->prepared = 0;
	pthread_mutex_lock(&b->lock);
	b->prep = b->nhelpers ? bt : NULL;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	batch_prepare_some(b, bt, b->lz4state);
	pthread_mutex_lock(&b->lock);
	/* Every slot prepared, and no helper left looking at @bt. */
	while (bt->prepared < bt->n || b->helping)
		pthread_cond_wait(&b->cond, &b->lock);
	b->prep = NULL;
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; i < bt->n && !bt->rc; i++)
		bt->rc = chunk_store(b, &bt->slots[i]);
}

static void *chunk_thread(void *arg)
{
	struct lm_sealed_build *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		struct build_batch *bt = b->work;

		if (!bt) {
			if (b->stop)
				break;
			pthread_cond_wait(&b->cond, &b->lock);
			continue;
		}
		pthread_mutex_unlock(&b->lock);
		batch_run(b, bt);
		pthread_mutex_lock(&b->lock);
		b->work = NULL;
		pthread_cond_broadcast(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static void *helper_thread(void *arg)
{
	struct build_helper *h = arg;
	struct lm_sealed_build *b = h->b;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		struct build_batch *bt = b->prep;

		if (!bt || atomic_load(&bt->claim) >= bt->n) {
			pthread_cond_wait(&b->cond, &b->lock);
			continue;
		}
		b->helping++;
		pthread_mutex_unlock(&b->lock);
		batch_prepare_some(b, bt, h->lz4state);
		pthread_mutex_lock(&b->lock);
		if (--b->helping == 0)
			pthread_cond_broadcast(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* Starts the chunk thread and b->threads - 1 helpers (one thread per
 * online CPU when 0), with signals blocked: they stay with the caller's
 * thread. Helpers that cannot be made are done without. */
static void threads_start(struct lm_sealed_build *b)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = b->threads ? b->threads : cpus > 1 ? (unsigned)cpus : 1;
	sigset_t all, old;

	if (want > LM_SEALED_THREADS_MAX)
		want = LM_SEALED_THREADS_MAX;  /* CPUs beyond */
	if (want > 1)
		b->helpers = calloc(want - 1, sizeof(*b->helpers));
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	b->thread_up = pthread_create(&b->thread, NULL, chunk_thread, b) == 0;
	while (b->thread_up && b->helpers && b->nhelpers < want - 1) {
		struct build_helper *h = &b->helpers[b->nhelpers];

		h->b = b;
		h->lz4state = malloc(lz4_state_size(b));
		if (!h->lz4state)
			break;
		if (pthread_create(&h->thread, NULL, helper_thread, h)) {
			free(h->lz4state);
			break;
		}
		b->nhelpers++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Takes back the batch handed to the chunk thread (the one not being
 * filled, when it has chunks), once stored: its refs go to their files.
 * Returns 0 or the first error storing it. */
static int batch_reap(struct lm_sealed_build *b)
{
	struct build_batch *bt = &b->batch[!b->fill];
	int rc;

	if (!bt->n)
		return 0;
	pthread_mutex_lock(&b->lock);
	while (b->work)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; i < bt->n && !bt->rc; i++)
		b->refs[bt->slots[i].refpos] = bt->slots[i].ref;
	b->st.chunks = b->cst.chunks;
	b->st.chunks_dedup = b->cst.chunks_dedup;
	b->st.bytes_stored = b->cst.bytes_stored;
	rc = bt->rc;
	bt->n = 0;
	bt->rc = 0;
	return rc;
}

/* Hands the batch being filled to the chunk thread once the one before is
 * back, and fills the other. Without a thread the batch is stored here.
 * Returns 0 or the first error storing a chunk. */
static int batch_submit(struct lm_sealed_build *b)
{
	struct build_batch *bt = &b->batch[b->fill];
	int rc = batch_reap(b);

	if (rc || bt->n == 0)
		return rc;
	b->fill = !b->fill;
	if (!b->thread_up) {
		batch_run(b, bt);
		return batch_reap(b);
	}
	pthread_mutex_lock(&b->lock);
	b->work = bt;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

/* Every chunk queued stored, and its ref in its file. */
static int batch_flush(struct lm_sealed_build *b)
{
	int rc = batch_submit(b);

	return rc ? rc : batch_reap(b);
}

/* Ends the chunk thread after its batch, and the helpers. */
static void batch_stop(struct lm_sealed_build *b)
{
	if (b->thread_up) {
		pthread_mutex_lock(&b->lock);
		b->stop = true;
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->thread, NULL);
	}
	for (unsigned i = 0; i < b->nhelpers; i++) {
		pthread_join(b->helpers[i].thread, NULL);
		free(b->helpers[i].lz4state);
	}
	free(b->helpers);
	b->helpers = NULL;
	b->nhelpers = 0;
	b->thread_up = false;
}

/* The pending chunk of the current file into the batch, and a place for
 * its ref after the file's others (a file's refs are contiguous: only the
 * current file gets any), filled once the batch is stored. A full batch
 * goes to the chunk thread. */
static int pending_flush(struct lm_sealed_build *b)
{
	struct build_batch *bt = &b->batch[b->fill];
	uint32_t *refs;
	int rc = 0;

	refs = build_grow(b->refs, &b->caprefs, b->nrefs + 1, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	b->refs = refs;
	bt->slots[bt->n++] = (struct build_slot){ .plain = b->pending, .len = b->npending,
						  .refpos = b->nrefs };
	b->refs[b->nrefs++] = LM_SEALED_HOLE;
	b->nodes[b->cur].ref_count++;
	b->npending = 0;
	if (bt->n == b->nslots)
		rc = batch_submit(b);
	bt = &b->batch[b->fill];
	b->pending = bt->buf + (size_t)bt->n * b->chunk;
	return rc;
}

int build_file_end(struct lm_sealed_build *b)
{
	int rc = 0;

	if (b->cur != BUILD_NONE && b->npending)
		rc = pending_flush(b);
	if (rc)
		b->failed = rc;
	b->cur = BUILD_NONE;
	return rc;
}

int build_data(struct lm_sealed_build *b, const unsigned char *p, size_t len,
	       struct lm_err *err)
{
	struct build_node *n = &b->nodes[b->cur];
	uint64_t size = n->size + len;
	int rc;

	/* A file's chunk count and the layer's ref count are u32. */
	if (size < n->size || ((size + b->chunk - 1) >> b->shift) >= UINT32_MAX ||
	    b->nrefs + (len >> b->shift) + 1 >= UINT32_MAX)
		return lm_errf(err, -EFBIG, "file too large for a layer");
	n->size = size;
	b->st.bytes_in += len;
	while (len) {
		size_t take = b->chunk - b->npending;

		if (take > len)
			take = len;
		memcpy(b->pending + b->npending, p, take);
		b->npending += take;
		p += take;
		len -= take;
		if (b->npending == b->chunk) {
			rc = pending_flush(b);
			if (rc) {
				b->failed = rc;
				return build_write_err(err, rc);
			}
		}
	}
	return 0;
}

/* ---- The metadata ---- */

/* Live inodes in number order, and the entries of the directories in
 * dirent order. */
struct build_tree {
	uint32_t *order, *dents;
	size_t ninodes, ndents, nxattrs, nrefs, nstrs;
};

static int ent_cmp(const void *x, const void *y, void *ctx)
{
	const struct lm_sealed_build *b = ctx;
	const struct build_ent *e = &b->ents[*(const uint32_t *)x];
	const struct build_ent *f = &b->ents[*(const uint32_t *)y];

	return lm_sealed_name_cmp(b->strs + e->name_off, e->name_len, b->strs + f->name_off,
				  f->name_len);
}

static int xattr_cmp(const void *x, const void *y, void *ctx)
{
	const struct lm_sealed_build *b = ctx;
	const struct build_xattr *e = x, *f = y;

	return lm_sealed_name_cmp(b->strs + e->name_off, e->name_len, b->strs + f->name_off,
				  f->name_len);
}

/* Directory @d's entries, sorted, onto t->dents; numbers what they reach
 * for the first time and counts links. */
static void tree_dir(struct lm_sealed_build *b, struct build_tree *t, uint32_t d)
{
	struct build_node *n = &b->nodes[d];
	uint32_t subdirs = 0;

	n->first = (uint32_t)t->ndents;
	for (uint32_t e = n->children; e != BUILD_NONE; e = b->ents[e].next)
		t->dents[t->ndents++] = e;
	n->count = (uint32_t)(t->ndents - n->first);
	if (n->count > 1)
		qsort_r(t->dents + n->first, n->count, sizeof(uint32_t), ent_cmp, b);
	for (uint32_t j = n->first; j < n->first + n->count; j++) {
		const struct build_ent *e = &b->ents[t->dents[j]];
		struct build_node *c;

		t->nstrs += e->name_len;
		if (e->kind != LM_SEALED_DK_OBJ)
			continue;
		c = &b->nodes[e->target];
		if (c->ino == BUILD_NONE) {
			c->ino = (uint32_t)t->ninodes;
			t->order[t->ninodes++] = e->target;
		}
		c->nlink++;
		subdirs += S_ISDIR(c->mode) != 0;
	}
	n->nlink = 2 + subdirs;
}

/* Numbers the live tree breadth-first from the root and sizes its
 * sections. */
static int tree_number(struct lm_sealed_build *b, struct build_tree *t)
{
	t->order = malloc(b->nnodes * sizeof(uint32_t));
	t->dents = malloc((b->nents ? b->nents : 1) * sizeof(uint32_t));
	if (!t->order || !t->dents)
		return -ENOMEM;
	for (size_t i = 0; i < b->nnodes; i++) {
		b->nodes[i].ino = BUILD_NONE;
		b->nodes[i].nlink = 0;
	}
	b->nodes[LM_SEALED_ROOT].ino = 0;
	t->order[t->ninodes++] = LM_SEALED_ROOT;
	for (size_t q = 0; q < t->ninodes; q++) {
		struct build_node *n = &b->nodes[t->order[q]];

		if (S_ISDIR(n->mode))
			tree_dir(b, t, t->order[q]);
		else if (S_ISREG(n->mode))
			t->nrefs += n->ref_count;
		else if (S_ISLNK(n->mode))
			t->nstrs += n->link_len;
		t->nxattrs += n->nxattrs;
		for (uint32_t x = 0; x < n->nxattrs; x++)
			t->nstrs += (size_t)n->xattrs[x].name_len + n->xattrs[x].val_len;
	}
	if (t->ninodes > LM_SEALED_INODES_MAX || t->nstrs > UINT32_MAX)
		return -EFBIG;
	return 0;
}

struct meta_buf {
	unsigned char *p;
	size_t len;
	unsigned char *inodes, *dirents, *xattrs, *refs;
	char *strs;
	uint32_t nstrs, xattr_at, ref_at;
};

static uint32_t meta_str(struct meta_buf *mb, const char *s, size_t len)
{
	uint32_t off = mb->nstrs;

	memcpy(mb->strs + off, s, len);
	mb->nstrs += (uint32_t)len;
	return off;
}

/* Inode @k (node @n): attributes, its xattrs and refs or target. */
static void meta_inode(struct lm_sealed_build *b, struct meta_buf *mb, uint32_t k,
		       struct build_node *n)
{
	struct lm_sealed_inode_disk *d = (void *)(mb->inodes + (size_t)k * LM_SEALED_INODE);
	uint32_t first = 0, count = 0;

	if (S_ISDIR(n->mode)) {
		first = n->first;
		count = n->count;
	} else if (S_ISREG(n->mode)) {
		first = mb->ref_at;
		count = n->ref_count;
		for (uint32_t r = 0; r < count; r++)
			lm_put32(mb->refs + 4 * ((size_t)first + r), b->refs[n->ref_first + r]);
		mb->ref_at += count;
	} else if (S_ISLNK(n->mode)) {
		first = meta_str(mb, b->strs + n->link_off, n->link_len);
		count = n->link_len;
	}
	lm_put32(d->mode, n->mode);
	lm_put32(d->uid, n->uid);
	lm_put32(d->gid, n->gid);
	lm_put32(d->nlink, n->nlink);
	lm_put64(d->size, S_ISDIR(n->mode) ? 0 : n->size);
	lm_put64(d->rdev, n->rdev);
	lm_put64(d->mtime, (uint64_t)n->mtime);
	lm_put32(d->mtime_ns, n->mtime_ns);
	lm_put32(d->flags, n->flags);
	lm_put32(d->first, first);
	lm_put32(d->count, count);
	lm_put32(d->xattr_first, mb->xattr_at);
	lm_put32(d->xattr_count, n->nxattrs);
	if (n->nxattrs > 1)
		qsort_r(n->xattrs, n->nxattrs, sizeof(*n->xattrs), xattr_cmp, b);
	for (uint32_t i = 0; i < n->nxattrs; i++, mb->xattr_at++) {
		struct lm_sealed_xattr_disk *x =
			(void *)(mb->xattrs + (size_t)mb->xattr_at * LM_SEALED_XATTR);
		const struct build_xattr *bx = &n->xattrs[i];

		lm_put32(x->name_off, meta_str(mb, b->strs + bx->name_off, bx->name_len));
		lm_put32(x->name_len, bx->name_len);
		lm_put32(x->val_off, meta_str(mb, b->strs + bx->val_off, bx->val_len));
		lm_put32(x->val_len, bx->val_len);
	}
}

static void meta_dirent(struct lm_sealed_build *b, struct meta_buf *mb, size_t j,
			const struct build_ent *e)
{
	struct lm_sealed_dirent_disk *d = (void *)(mb->dirents + j * LM_SEALED_DIRENT);

	lm_put32(d->name_off, meta_str(mb, b->strs + e->name_off, e->name_len));
	lm_put16(d->name_len, e->name_len);
	d->kind = e->kind;
	d->zero = 0;
	lm_put32(d->ino, e->kind == LM_SEALED_DK_OBJ ? b->nodes[e->target].ino : 0);
}

/* The plain metadata of tree @t into mb (caller frees mb->p). */
static int meta_encode(struct lm_sealed_build *b, const struct build_tree *t,
		       struct meta_buf *mb)
{
	struct lm_sealed_meta_head_disk *h;
	uint64_t len = LM_SEALED_META_HEAD + (uint64_t)t->ninodes * LM_SEALED_INODE +
		       (uint64_t)t->ndents * LM_SEALED_DIRENT +
		       (uint64_t)t->nxattrs * LM_SEALED_XATTR + (uint64_t)t->nrefs * 4 + t->nstrs;

	if (len > LM_SEALED_META_MAX)
		return -EFBIG;
	memset(mb, 0, sizeof(*mb));
	mb->len = (size_t)len;
	mb->p = calloc(1, mb->len);
	if (!mb->p)
		return -ENOMEM;
	mb->inodes = mb->p + LM_SEALED_META_HEAD;
	mb->dirents = mb->inodes + t->ninodes * LM_SEALED_INODE;
	mb->xattrs = mb->dirents + t->ndents * LM_SEALED_DIRENT;
	mb->refs = mb->xattrs + t->nxattrs * LM_SEALED_XATTR;
	mb->strs = (char *)mb->refs + t->nrefs * 4;
	h = (void *)mb->p;
	memcpy(h->magic, LM_SEALED_META_MAGIC, sizeof(h->magic));
	lm_put32(h->inode_count, (uint32_t)t->ninodes);
	lm_put32(h->dirent_count, (uint32_t)t->ndents);
	lm_put32(h->ref_count, (uint32_t)t->nrefs);
	lm_put32(h->xattr_count, (uint32_t)t->nxattrs);
	lm_put32(h->string_len, (uint32_t)t->nstrs);
	for (size_t k = 0; k < t->ninodes; k++)
		meta_inode(b, mb, (uint32_t)k, &b->nodes[t->order[k]]);
	for (size_t j = 0; j < t->ndents; j++)
		meta_dirent(b, mb, j, &b->ents[t->dents[j]]);
	return 0;
}

/* ---- Finish ---- */

static void sb_fill(const struct lm_sealed_build *b, struct lm_sealed_sb_disk *d,
		    uint32_t ninodes, uint64_t meta_len, uint64_t meta_plain)
{
	uint64_t index_len = (uint64_t)b->nchunks * LM_SEALED_INDEX_ENT;

	memset(d, 0, sizeof(*d));
	memcpy(d->magic, LM_SEALED_MAGIC, sizeof(d->magic));
	lm_put16(d->format, LM_SEALED_FORMAT);
	lm_put16(d->flags, b->encrypted ? LM_SEALED_F_ENCRYPTED : 0);
	d->chunk_shift = (uint8_t)b->shift;
	d->cipher = (uint8_t)b->cipher;
	memcpy(d->layer_id, b->layer_id, LM_OBJECT_ID_BYTES);
	memcpy(d->tenant, b->tenant, strlen(b->tenant));
	lm_put64(d->created, b->created);
	lm_put64(d->file_size, b->off + index_len + meta_len);
	lm_put32(d->chunk_count, b->nchunks);
	lm_put32(d->inode_count, ninodes);
	lm_put64(d->index_off, b->off);
	lm_put64(d->index_len, index_len);
	lm_put64(d->meta_off, b->off + index_len);
	lm_put64(d->meta_len, meta_len);
	lm_put64(d->meta_plain_len, meta_plain);
}

/* The stored metadata (lz4 of @mb, boxed when encrypted) into *out
 * (caller frees), and the superblock's fields but its hashes and MAC. */
static int meta_store(struct lm_sealed_build *b, const struct meta_buf *mb, uint32_t ninodes,
		      struct lm_sealed_sb_disk *sb, unsigned char **out, size_t *outlen)
{
	size_t bound = (size_t)LZ4_compressBound((int)mb->len);
	unsigned char *z = malloc(bound), *box, ad[LM_SEALED_META_AD];
	int n;

	if (!z)
		return -ENOMEM;
	if (b->compress == LM_SEALED_LZ4HC)
		n = LZ4_compress_HC((const char *)mb->p, (char *)z, (int)mb->len, (int)bound,
				    LZ4HC_LEVEL);
	else
		n = LZ4_compress_default((const char *)mb->p, (char *)z, (int)mb->len, (int)bound);
	if (n <= 0) {
		free(z);
		return -EFBIG;
	}
	sb_fill(b, sb, ninodes, (size_t)n + (b->encrypted ? LM_AEAD_OVERHEAD : 0), mb->len);
	if (!b->encrypted) {
		*out = z;
		*outlen = (size_t)n;
		return 0;
	}
	box = malloc((size_t)n + LM_AEAD_OVERHEAD);
	if (box && lm_aead_seal(b->keys.meta, box, z, (size_t)n, ad,
				lm_sealed_meta_ad(ad, (const unsigned char *)sb))) {
		free(box);
		box = NULL;
	}
	lm_crypt_wipe(z, (size_t)n);
	free(z);
	if (!box)
		return -ENOMEM;
	*out = box;
	*outlen = (size_t)n + LM_AEAD_OVERHEAD;
	return 0;
}

/* Index, metadata, then the superblock that names them, then fsync. */
static int finish_write(struct lm_sealed_build *b, struct lm_sealed_sb_disk *sb,
			const unsigned char *meta, size_t meta_len, char *hex)
{
	size_t index_len = (size_t)b->nchunks * LM_SEALED_INDEX_ENT;
	unsigned char digest[LM_SEALED_HASH];
	int rc;

	lm_hash(sb->index_hash, LM_SEALED_HASH, b->index, index_len, NULL, 0);
	lm_hash(sb->meta_hash, LM_SEALED_HASH, meta, meta_len, NULL, 0);
	if (b->encrypted)
		lm_sealed_sb_mac(sb->mac, (const unsigned char *)sb, b->hsub);
	rc = write_at(b->fd, b->index, index_len, b->off);
	if (!rc)
		rc = write_at(b->fd, meta, meta_len, b->off + index_len);
	if (!rc)
		rc = write_at(b->fd, sb, sizeof(*sb), 0);
	if (!rc && fsync(b->fd) < 0)
		rc = -errno;
	if (rc)
		return rc;
	lm_hash(digest, sizeof(digest), sb, sizeof(*sb), NULL, 0);
	lm_crypt_hex(hex, digest, sizeof(digest));
	return 0;
}

int build_finish(struct lm_sealed_build *b, char *hex, struct lm_err *err)
{
	struct build_tree t = { 0 };
	struct lm_sealed_sb_disk sb;
	struct meta_buf mb = { 0 };
	unsigned char *meta = NULL;
	size_t meta_len = 0;
	int rc;

	rc = batch_flush(b);
	if (!rc)
		rc = tree_number(b, &t);
	if (!rc)
		rc = meta_encode(b, &t, &mb);
	if (!rc)
		rc = meta_store(b, &mb, (uint32_t)t.ninodes, &sb, &meta, &meta_len);
	if (!rc)
		rc = finish_write(b, &sb, meta, meta_len, hex);
	if (mb.p && b->encrypted)
		lm_crypt_wipe(mb.p, mb.len);
	free(mb.p);
	free(meta);
	free(t.order);
	free(t.dents);
	/* Spent: the tree was numbered and its xattrs sorted for the file. */
	b->failed = rc ? rc : -EINVAL;
	if (rc == -EFBIG)
		return lm_errf(err, rc, "too many entries for one layer");
	if (rc)
		return build_write_err(err, rc);
	return 0;
}
