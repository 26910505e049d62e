/* What the source files of driver/io share; nothing outside driver/io
 * includes this.
 *   io.c         the calls of io.h: back end choice, files and their
 *                fixed-file slots, building and finishing ops, per-thread
 *                state, pread, fork hooks
 *   io_uring.c   rings and their fixed-file tables; the per-thread back end
 *   io_shared.c  the shared back end: one ring, its submission thread and
 *                queue, stopping it (lm_io_shutdown, before a fork)
 *   cmd_ring.c   rings for device commands (cmd_ring.h), made by
 *                io_ring_init_own as the others
 */
#ifndef LM_IO_INT_H
#define LM_IO_INT_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

#define IO_SLOTS 1024u             /* fixed-file slots; later files use plain fds */
#define NO_SLOT UINT32_MAX
#define RW_MAX 0x7ffff000u         /* the most one read(2) transfers */
#define OP_PENDING 1               /* io_op.res until the op is finished */

struct lm_io_file {
	int fd;            /* buffered descriptor */
	int dfd;           /* O_DIRECT descriptor, -1 when buffered */
	uint32_t align;    /* O_DIRECT alignment of dfd */
	uint32_t slot;     /* fixed-file slot, NO_SLOT when none was free */
	uint32_t gen;      /* generation of the slot given at open */
	uint64_t size;
};

/* One range being read: @len bytes at @off into @dst, finished once @need
 * of them have arrived (the aligned tail of a direct read may lie past the
 * end of the file). @res is OP_PENDING until then, then 0 or -errno. */
struct io_op {
	uint64_t off;
	char *dst;
	size_t len, need, done;
	int res;
	struct io_call *call;      /* the call the op belongs to */
	struct io_op *next;        /* shared back end: the thread's queue */
};

/* One lm_io_read in the io_uring back ends. For the shared back end the
 * caller sleeps on @cond until the submission thread sets @done. */
struct io_call {
	const struct lm_io_file *f;
	struct io_op *ops;
	unsigned n;
	unsigned left;             /* ops not finished; the submission thread's */
	bool done;                 /* lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct io_call *next;      /* shared.lock */
};

/* One io_uring and what its fixed-file table holds. Used by one thread
 * only: the thread that made it (per-thread rings) or the submission
 * thread (the shared ring). */
struct io_ring {
	struct io_uring ring;
	bool fixed;                    /* a sparse fixed-file table is registered */
	uint32_t reg_gen[IO_SLOTS];    /* generation registered per slot, 0 none */
};

/* ---- io.c ---- */

/* Serializes the back end choice, starting and stopping the submission
 * thread, and fork (held across it by the pthread_atfork hooks). Taken
 * before shared.lock (io_shared.c). */
extern pthread_mutex_t io_init_lock;

/* The descriptor @f is read with: the O_DIRECT one when there is one. */
int io_file_rfd(const struct lm_io_file *f);
/* Counts one io_uring_enter in lm_io_stats. */
void io_count_submit(void);

/* ---- io_uring.c ---- */

int io_ring_probe(void);
/* io_uring_queue_init of @ring for the calling thread alone: with deferred
 * task work (completions are processed only when this thread waits for
 * them, which is when it is ready for them) where the kernel has it, else
 * with @flags only. Returns 0 or -errno. */
int io_ring_init_own(unsigned entries, struct io_uring *ring, unsigned flags);
/* *out is the caller's, for the calling thread alone; io_ring_free frees
 * it (in that thread, at its exit, or in a forked child). */
int io_ring_new(unsigned depth, struct io_ring **out);
void io_ring_free(struct io_ring *r);
/* @op and its call are borrowed until the op's completion is reaped. */
bool io_op_queue(struct io_ring *r, struct io_op *op);
bool io_op_complete(struct io_op *op, int res);
/* The per-thread back end. On -errno the caller frees @r and preads the
 * ops still pending. */
int io_ring_run(struct io_ring *r, struct io_call *call);

/* ---- io_shared.c ---- */

/* io_init_lock held. */
int io_shared_start(void);
/* @call is borrowed until it returns. */
bool io_shared_run(struct io_call *call);
/* The shared back end's part of the pthread_atfork hooks, called with
 * io_init_lock held: prepare stops the submission thread (the next shared
 * read starts it again) and takes shared.lock; after (parent and child)
 * releases it. */
void io_shared_fork_prepare(void);
void io_shared_fork_after(void);

#endif
