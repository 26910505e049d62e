/* The sealed layer builder's state, shared by its two halves:
 * sealed_build.c (the tree: paths, entries, attributes, xattrs) and
 * sealed_build_out.c (what goes to the file: chunks, index, metadata,
 * superblock). Nothing outside them includes this. */
#ifndef LM_SEALED_BUILD_INT_H
#define LM_SEALED_BUILD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealed_int.h"

#define BUILD_NONE UINT32_MAX

struct build_xattr {
	size_t name_off, val_off;    /* in b->strs */
	uint32_t name_len, val_len;
};

/* An inode of the tree. Nodes are never freed before the builder: one
 * replaced or cut off is simply not reached from the root at finish. */
struct build_node {
	uint32_t mode, uid, gid, flags;
	uint64_t rdev, size;
	int64_t mtime;
	uint32_t mtime_ns;
	uint32_t children;           /* dirs: first child entry, BUILD_NONE */
	size_t link_off;             /* symlinks: target in b->strs */
	uint32_t link_len;
	uint32_t ref_first, ref_count; /* regular files: their refs in b->refs */
	struct build_xattr *xattrs;  /* owned */
	uint32_t nxattrs;
	size_t capxattrs;
	/* Set by finish. */
	uint32_t ino, nlink, first, count;
};

/* A directory entry. Replacing a path repoints its entry, so an entry
 * lives as long as its directory. */
struct build_ent {
	uint32_t parent, target;     /* nodes; target BUILD_NONE for a whiteout */
	uint32_t next;               /* next child of parent, BUILD_NONE */
	size_t name_off;             /* in b->strs */
	uint16_t name_len;
	uint8_t kind;                /* LM_SEALED_DK_* */
};

/* A full chunk of file data, or the last part of a file, waiting for the
 * chunk thread. */
struct build_slot {
	const unsigned char *plain;  /* in its batch's buffer */
	size_t len;
	size_t refpos;               /* its ref goes to b->refs[refpos] */
	/* Prepared by the chunk thread or a helper. */
	bool zero;                   /* all zeros: a hole */
	uint8_t flags;               /* LM_SEALED_CF_* of the payload */
	unsigned char hash[LM_SEALED_HASH]; /* of the plaintext */
	const unsigned char *payload; /* the plaintext, or its lz4 block */
	size_t plen;
	/* Set by the chunk thread. */
	uint32_t ref;
};

/* Chunks go out in batches: the caller's thread fills one while the chunk
 * thread stores the other (hash, compress, box, write), so reading the
 * source and storing its chunks use two CPUs. */
struct build_batch {
	struct build_slot *slots;    /* owned, b->nslots */
	unsigned char *buf;          /* owned, b->nslots chunks of plaintext */
	unsigned char *cbuf;         /* owned, b->nslots lz4 blocks */
	unsigned n;                  /* slots filled */
	int rc;                      /* the chunk thread's first error */
	atomic_uint claim;           /* next slot to prepare */
	unsigned prepared;           /* b->lock: slots prepared */
};

/* A thread that helps the chunk thread prepare slots. */
struct build_helper {
	struct lm_sealed_build *b;
	pthread_t thread;
	void *lz4state;              /* owned */
};

struct lm_sealed_build {
	int fd;                      /* borrowed */
	int failed;                  /* first I/O error; every later call returns it */
	unsigned shift;
	size_t chunk;
	enum lm_sealed_compress compress;
	bool encrypted;
	enum lm_cipher cipher;
	char tenant[LM_TENANT_MAX + 1];
	unsigned char layer_id[LM_OBJECT_ID_BYTES];
	uint64_t created;
	struct lm_sealed_keys keys;  /* encrypted only */
	unsigned char *hsub;         /* header subkey, secret memory */

	/* The tree. */
	struct build_node *nodes;
	size_t nnodes, capnodes;
	struct build_ent *ents;
	size_t nents, capents;
	uint32_t *htab;              /* (parent, name) -> entry + 1; 0 free */
	size_t hcap;                 /* a power of two */
	char *strs;                  /* names, targets, xattrs; never shrinks */
	size_t nstrs, capstrs;
	uint32_t *refs;              /* each file's refs, contiguous */
	size_t nrefs, caprefs;

	/* Data of the file being added. */
	uint32_t cur;                /* node, BUILD_NONE */
	unsigned char *pending;      /* its partial chunk: the next slot's buffer */
	size_t npending;

	/* Batches of chunks and the chunk thread (sealed_build_out.c). Only
	 * the chunk thread touches what follows the batches, and only while
	 * a batch is handed to it; the caller's thread after taking it back. */
	struct build_batch batch[2];
	unsigned nslots;             /* chunks a batch */
	unsigned fill;               /* the batch being filled; batch[!fill],
				      * when it has chunks, is the thread's */
	pthread_t thread;
	bool thread_up;              /* else batches are stored by the caller */
	unsigned threads;            /* wanted: the chunk thread and helpers */
	struct build_helper *helpers; /* owned, threads - 1 */
	unsigned nhelpers;           /* running */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct build_batch *work;    /* lock: the thread's batch, NULL when done */
	struct build_batch *prep;    /* lock: the batch being prepared */
	unsigned helping;            /* lock: helpers preparing slots of prep */
	bool stop;                   /* lock: the threads end */

	unsigned char *sbuf;         /* box */
	void *lz4state;
	uint64_t off;                /* where the next chunk goes */
	unsigned char *index;        /* the index, LM_SEALED_INDEX_ENT each */
	uint32_t nchunks;
	size_t capchunks;
	unsigned char (*phash)[LM_SEALED_HASH]; /* plaintext hash of each chunk */
	uint32_t *dtab;              /* dedup: plaintext hash -> chunk + 1 */
	size_t dcap;

	struct lm_sealed_build_stats st;
	struct lm_sealed_build_stats cst; /* the chunk thread's counts, into st
					   * as each batch comes back */
};

/* Makes room for @need items of @size in array @p of capacity *@cap:
 * returns the array (moved or not), or NULL when out of memory (then @p
 * and *@cap are as they were). */
void *build_grow(void *p, size_t *cap, size_t need, size_t size);

/* @rc (-errno) from writing the layer, into @err. Returns @rc. */
int build_write_err(struct lm_err *err, int rc);

/* Copies @len bytes into b->strs; their offset into *off. */
int build_str(struct lm_sealed_build *b, const void *s, size_t len, size_t *off);

/* sealed_build_out.c */
int build_out_init(struct lm_sealed_build *b);
void build_out_release(struct lm_sealed_build *b);
/* Ends the data of the file being added (its partial chunk goes out). */
int build_file_end(struct lm_sealed_build *b);
int build_data(struct lm_sealed_build *b, const unsigned char *p, size_t len,
	       struct lm_err *err);
int build_finish(struct lm_sealed_build *b, char *hex, struct lm_err *err);

#endif
