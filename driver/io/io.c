/* Reads of sealed layer files through io_uring (a ring per thread, or one
 * shared ring fed by a submission thread) or pread; see io.h.
 *
 * Every lm_io_read turns its ranges into ops (struct io_op): a buffered
 * file reads each range straight into the caller's buffer, an O_DIRECT one
 * reads the aligned superset of each range into the calling thread's
 * bounce buffer and copies the range out afterwards. The back ends only
 * run ops; building and finishing them is common.
 *
 * Registered files: each open file takes a process-wide slot number and a
 * generation for it. A ring registers the file's descriptor in that slot
 * of its own sparse fixed-file table the first time it reads the file, and
 * remembers the generation it registered; a later file in the same slot
 * has a new generation, so the ring re-registers before reading instead of
 * reading the closed file. A ring keeps a reference to the last file it
 * registered in a slot until the slot is reused or the ring is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"

#define SHARED_DEPTH 256u          /* SQ entries of the shared ring */
#define IO_SLOTS 1024u             /* fixed-file slots; later files use plain fds */
#define NO_SLOT UINT32_MAX
#define DIRECT_ALIGN 4096u         /* offset, length and memory alignment of O_DIRECT */
#define DIRECT_ALIGN_MAX (1u << 20)
#define BOUNCE_KEEP ((size_t)8 << 20)  /* larger bounce buffers are not kept */
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

/* What a thread keeps between reads, freed at thread exit. */
struct io_thread {
	struct io_ring *ring;      /* uring back end, made on the first read */
	bool ring_failed;          /* no ring could be made: this thread preads */
	void *bounce;              /* DIRECT_ALIGN aligned, @bounce_len bytes */
	size_t bounce_len;
};

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int chosen = -1;     /* enum lm_io_backend, set once under init_lock */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;
static _Thread_local struct io_thread *tl_thread;

static struct {
	atomic_uint_fast64_t reads, ranges, bytes, submits;
} stats;

/* Slot numbers and their generations, under slots.lock. */
static struct {
	pthread_mutex_t lock;
	uint32_t free[IO_SLOTS];   /* stack of released slots */
	uint32_t nfree;
	uint32_t next;             /* first slot never given */
	uint32_t gen[IO_SLOTS];    /* last generation given per slot */
} slots = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The shared back end: callers queue calls, the thread runs them. */
static struct {
	pthread_mutex_t lock;
	struct io_call *head;      /* lock */
	struct io_call **tail;     /* lock */
	int efd;                   /* callers kick the thread through it */
	struct io_ring *ring;      /* the thread's, kept here for a forked child to free */
	pthread_t tid;
	bool running;              /* tid is a thread to join */
	atomic_bool stop;          /* lm_io_shutdown asks the thread to end */
} shared = { .lock = PTHREAD_MUTEX_INITIALIZER, .tail = &shared.head, .efd = -1 };

static void count(atomic_uint_fast64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

/* ---- slots ---- */

static void slot_get(uint32_t *slot, uint32_t *gen)
{
	uint32_t s = NO_SLOT;

	pthread_mutex_lock(&slots.lock);
	if (slots.nfree)
		s = slots.free[--slots.nfree];
	else if (slots.next < IO_SLOTS)
		s = slots.next++;
	if (s != NO_SLOT) {
		if (++slots.gen[s] == 0)
			slots.gen[s] = 1;
		*gen = slots.gen[s];
	}
	pthread_mutex_unlock(&slots.lock);
	*slot = s;
}

static void slot_put(uint32_t slot)
{
	if (slot == NO_SLOT)
		return;
	pthread_mutex_lock(&slots.lock);
	slots.free[slots.nfree++] = slot;
	pthread_mutex_unlock(&slots.lock);
}

/* ---- rings ---- */

/* A ring of @depth entries for the calling thread alone, with a sparse
 * fixed-file table where the kernel gives one. *out is the caller's. */
static int ring_new(unsigned depth, struct io_ring **out)
{
	struct io_ring *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	/* Completions are processed only when this thread waits for them. */
	rc = io_uring_queue_init(depth, &r->ring,
				 IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(depth, &r->ring, 0);
	if (rc) {
		free(r);
		return rc;
	}
	r->fixed = io_uring_register_files_sparse(&r->ring, IO_SLOTS) == 0;
	*out = r;
	return 0;
}

static void ring_free(struct io_ring *r)
{
	if (!r)
		return;
	io_uring_queue_exit(&r->ring);
	free(r);
}

static int file_rfd(const struct lm_io_file *f)
{
	return f->dfd >= 0 ? f->dfd : f->fd;
}

/* The file index to read @f with on @r: its fixed slot, registered on
 * first use (*fixed true), or its plain descriptor where that fails. */
static int ring_file(struct io_ring *r, const struct lm_io_file *f, bool *fixed)
{
	int fd = file_rfd(f);

	*fixed = false;
	if (!r->fixed || f->slot == NO_SLOT)
		return fd;
	if (r->reg_gen[f->slot] != f->gen) {
		r->reg_gen[f->slot] = 0;
		if (io_uring_register_files_update(&r->ring, f->slot, &fd, 1) != 1)
			return fd;
		r->reg_gen[f->slot] = f->gen;
	}
	*fixed = true;
	return (int)f->slot;
}

/* Queues the rest of @op on @r. False when the submission queue is full. */
static bool op_queue(struct io_ring *r, struct io_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	size_t len = op->len - op->done;
	bool fixed;
	int fd;

	if (!sqe)
		return false;
	fd = ring_file(r, op->call->f, &fixed);
	io_uring_prep_read(sqe, fd, op->dst + op->done, len > RW_MAX ? RW_MAX : (unsigned)len,
			   op->off + op->done);
	if (fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, op);
	return true;
}

/* Accounts a completion of @res bytes (or -errno) to @op. True when the op
 * is finished, false when the rest must be read again. */
static bool op_complete(struct io_op *op, int res)
{
	if (res == -EINTR || res == -EAGAIN)
		return false;
	if (res < 0) {
		op->res = res;
		return true;
	}
	if (res == 0) {
		op->res = -EIO;
		return true;
	}
	op->done += (size_t)res;
	if (op->done < op->need)
		return false;
	op->res = 0;
	return true;
}

/* ---- pread ---- */

/* Reads @op with pread on @fd. Returns 0 or -errno (-EIO at end of file). */
static int pread_op(int fd, struct io_op *op)
{
	while (op->done < op->need) {
		size_t len = op->len - op->done;
		ssize_t got = pread(fd, op->dst + op->done, len > RW_MAX ? RW_MAX : len,
				    (off_t)(op->off + op->done));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO;
		op->done += (size_t)got;
	}
	return 0;
}

static void pread_run(struct io_call *call)
{
	for (unsigned i = 0; i < call->n; i++)
		if (call->ops[i].res == OP_PENDING)
			call->ops[i].res = pread_op(file_rfd(call->f), &call->ops[i]);
}

/* ---- uring: a ring per thread ---- */

/* io_uring_enter failed for good: the kernel still writes the buffers of
 * the reads it took, so those are reaped; what is left stays pending for
 * pread. */
static void uring_abandon(struct io_ring *r, unsigned inflight)
{
	struct io_uring_cqe *cqe;

	inflight -= io_uring_sq_ready(&r->ring);
	while (inflight) {
		int rc = io_uring_wait_cqe(&r->ring, &cqe);

		if (rc == -EINTR)
			continue;
		if (rc)
			break;
		op_complete(io_uring_cqe_get_data(cqe), cqe->res);
		io_uring_cqe_seen(&r->ring, cqe);
		inflight--;
	}
}

/* Runs the pending ops of @call on the thread's ring @r: all submitted by
 * one io_uring_enter that also waits for them, then reaped; partial reads
 * go round again. Returns 0, or -errno when the ring itself failed. */
static int uring_run(struct io_ring *r, struct io_call *call)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen, left = 0;

	for (unsigned i = 0; i < call->n; i++)
		if (call->ops[i].res == OP_PENDING && op_queue(r, &call->ops[i]))
			left++;
	while (left) {
		int rc = io_uring_submit_and_wait(&r->ring, left);

		count(&stats.submits, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			uring_abandon(r, left);
			return rc;
		}
		seen = 0;
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			struct io_op *op = io_uring_cqe_get_data(cqe);

			seen++;
			if (op_complete(op, cqe->res))
				left--;
			else
				op_queue(r, op);  /* the slot just reaped is free */
		}
		io_uring_cq_advance(&r->ring, seen);
	}
	return 0;
}

/* ---- shared: one ring, one submission thread ---- */

struct shared_start {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;
};

static void call_finish(struct io_call *call)
{
	pthread_mutex_lock(&call->lock);
	call->done = true;
	pthread_cond_signal(&call->cond);
	pthread_mutex_unlock(&call->lock);
	/* The caller may return and free @call from here on. */
}

/* Moves every queued call's pending ops to the thread's list @pend. */
static void shared_take(struct io_op ***pend_tail)
{
	struct io_call *call, *next;
	uint64_t v;

	if (read(shared.efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&shared.lock);
	call = shared.head;
	shared.head = NULL;
	shared.tail = &shared.head;
	pthread_mutex_unlock(&shared.lock);
	for (; call; call = next) {
		next = call->next;
		for (unsigned i = 0; i < call->n; i++) {
			if (call->ops[i].res != OP_PENDING)
				continue;
			call->ops[i].next = NULL;
			**pend_tail = &call->ops[i];
			*pend_tail = &call->ops[i].next;
		}
	}
}

/* One round of the submission thread: queue the poll of the eventfd if it
 * is not armed, as many waiting ops as fit, submit, wait for one
 * completion and handle every completion there is. */
static void shared_round(struct io_ring *r, bool *armed, struct io_op **pend,
			 struct io_op ***pend_tail, unsigned *inflight)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	if (!*armed) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

		if (sqe) {
			io_uring_prep_poll_add(sqe, shared.efd, POLLIN);
			io_uring_sqe_set_data(sqe, NULL);
			*armed = true;
		}
	}
	while (*pend && op_queue(r, *pend)) {
		(*inflight)++;
		*pend = (*pend)->next;
		if (!*pend)
			*pend_tail = pend;
	}
	io_uring_submit_and_wait(&r->ring, 1);
	count(&stats.submits, 1);
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		struct io_op *op = io_uring_cqe_get_data(cqe);

		seen++;
		if (op)
			(*inflight)--;
		if (!op) {
			*armed = false;
			shared_take(pend_tail);
		} else if (!op_complete(op, cqe->res)) {
			op->next = *pend;   /* read the rest first */
			if (!*pend)
				*pend_tail = &op->next;
			*pend = op;
		} else if (--op->call->left == 0) {
			call_finish(op->call);
		}
	}
	io_uring_cq_advance(&r->ring, seen);
}

static void *shared_main(void *arg)
{
	struct shared_start *st = arg;
	struct io_op *pend = NULL, **pend_tail = &pend;
	struct io_ring *r = NULL;
	unsigned inflight = 0;
	bool armed = false;
	int rc = ring_new(SHARED_DEPTH, &r);

	shared.ring = r;
	pthread_mutex_lock(&st->lock);
	st->rc = rc;
	st->done = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
	if (rc)
		return NULL;
	for (;;) {
		/* Asked to stop: end once every call queued is done. A caller
		 * queues under shared.lock after checking shared.stop, so none
		 * is left behind. */
		bool done = false;

		if (atomic_load(&shared.stop) && !pend && !inflight) {
			pthread_mutex_lock(&shared.lock);
			done = !shared.head;
			pthread_mutex_unlock(&shared.lock);
		}
		if (done)
			break;
		shared_round(r, &armed, &pend, &pend_tail, &inflight);
	}
	shared.ring = NULL;
	ring_free(r);
	return NULL;
}

/* Starts the submission thread, which makes the ring itself (its only
 * issuer). Returns 0 or the ring's -errno. The thread runs until exit. */
static int shared_start(void)
{
	struct shared_start st = { .lock = PTHREAD_MUTEX_INITIALIZER,
				   .cond = PTHREAD_COND_INITIALIZER };
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	shared.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (shared.efd < 0)
		return -errno;
	/* Signals stay with the application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	rc = -pthread_create(&tid, &attr, shared_main, &st);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0) {
		pthread_mutex_lock(&st.lock);
		while (!st.done)
			pthread_cond_wait(&st.cond, &st.lock);
		rc = st.rc;
		pthread_mutex_unlock(&st.lock);
		shared.tid = tid;
		shared.running = true;
		if (rc) {
			pthread_join(tid, NULL);
			shared.running = false;
		}
	}
	if (rc) {
		close(shared.efd);
		shared.efd = -1;
	}
	return rc;
}

/* ---- stopping the submission thread; fork ----
 *
 * A daemon opens its layers, then forks to go to the background: a thread
 * does not survive a fork, and an io_uring belongs to the task that made
 * it. So the submission thread is stopped (after its last call) before a
 * fork and started again by the next shared read, in parent and child;
 * the forking thread's own ring is dropped in the child and made again on
 * its next read. */
static atomic_bool shared_restart;

/* Ends the submission thread once its calls are done; init_lock held. */
static void shared_stop(void)
{
	uint64_t one = 1;

	if (!shared.running)
		return;
	atomic_store(&shared.stop, true);
	while (write(shared.efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(shared.tid, NULL);
	shared.running = false;
	close(shared.efd);
	shared.efd = -1;
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&init_lock);
	if (shared.running) {
		shared_stop();
		atomic_store(&shared_restart, true);
	}
	pthread_mutex_lock(&shared.lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&shared.lock);
	if (atomic_load(&shared_restart))
		atomic_store(&shared.stop, false);
	pthread_mutex_unlock(&init_lock);
}

static void fork_child(void)
{
	struct io_thread *t = tl_thread;

	pthread_mutex_unlock(&shared.lock);
	if (atomic_load(&shared_restart))
		atomic_store(&shared.stop, false);
	pthread_mutex_unlock(&init_lock);
	if (t && t->ring) {
		ring_free(t->ring);
		t->ring = NULL;
		t->ring_failed = false;
	}
}

static void fork_hooks(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Hands the pending ops of @call to the submission thread and sleeps
 * until they are all finished. Returns false when there is no submission
 * thread (it could not be started again after a fork): the caller preads. */
static bool shared_run(struct io_call *call)
{
	uint64_t one = 1;
	bool kick;

	if (atomic_load(&shared_restart)) {
		pthread_mutex_lock(&init_lock);
		if (atomic_load(&shared_restart) && shared_start() == 0)
			atomic_store(&shared_restart, false);
		pthread_mutex_unlock(&init_lock);
		if (atomic_load(&shared_restart))
			return false;
	}

	call->left = 0;
	for (unsigned i = 0; i < call->n; i++)
		call->left += call->ops[i].res == OP_PENDING;
	if (!call->left)
		return true;
	call->done = false;
	call->next = NULL;
	pthread_mutex_init(&call->lock, NULL);
	pthread_cond_init(&call->cond, NULL);
	/* The thread empties the queue each time it is kicked, so a caller
	 * that finds it non-empty rides on the kick already sent. */
	pthread_mutex_lock(&shared.lock);
	if (atomic_load(&shared.stop)) {
		/* lm_io_shutdown was called: no thread to hand it to. */
		pthread_mutex_unlock(&shared.lock);
		pthread_cond_destroy(&call->cond);
		pthread_mutex_destroy(&call->lock);
		return false;
	}
	kick = !shared.head;
	*shared.tail = call;
	shared.tail = &call->next;
	pthread_mutex_unlock(&shared.lock);
	while (kick && write(shared.efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&call->lock);
	while (!call->done)
		pthread_cond_wait(&call->cond, &call->lock);
	pthread_mutex_unlock(&call->lock);
	pthread_cond_destroy(&call->cond);
	pthread_mutex_destroy(&call->lock);
	return true;
}

/* ---- thread state ---- */

static void thread_free(void *arg)
{
	struct io_thread *t = arg;

	ring_free(t->ring);
	free(t->bounce);
	free(t);
	tl_thread = NULL;
}

static void key_make(void)
{
	pthread_key_create(&thread_key, thread_free);
	fork_hooks();
}

/* The calling thread's state, made on its first read. NULL without memory. */
static struct io_thread *thread_get(void)
{
	struct io_thread *t = tl_thread;

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_once(&key_once, key_make);
	if (pthread_setspecific(thread_key, t)) {
		free(t);
		return NULL;
	}
	tl_thread = t;
	return t;
}

/* A bounce buffer of at least @len bytes: the thread's own (borrowed until
 * its next read), or a fresh one the caller frees (*own true) when @len
 * is too large to keep. NULL without memory. */
static void *bounce_get(struct io_thread *t, size_t len, bool *own)
{
	void *p;

	*own = false;
	if (len <= t->bounce_len)
		return t->bounce;
	if (posix_memalign(&p, DIRECT_ALIGN, len))
		return NULL;
	if (len > BOUNCE_KEEP) {
		*own = true;
		return p;
	}
	free(t->bounce);
	t->bounce = p;
	t->bounce_len = len;
	return p;
}

/* ---- building and finishing ops ---- */

static uint64_t align_down(uint64_t v, uint32_t a)
{
	return v & ~(uint64_t)(a - 1);
}

/* Fills @call's ops from @reqs, reading into @bounce (direct) or the
 * caller's buffers (@bounce NULL). Ranges of no bytes are done at once;
 * ranges beyond what an off_t can say are -EINVAL. */
static void ops_build(struct io_call *call, const struct lm_io_req *reqs, char *bounce)
{
	uint32_t a = call->f->align;
	size_t pos = 0;

	for (unsigned i = 0; i < call->n; i++) {
		const struct lm_io_req *q = &reqs[i];
		struct io_op *op = &call->ops[i];

		*op = (struct io_op){ .off = q->off, .dst = q->buf, .len = q->len,
				      .need = q->len, .res = OP_PENDING, .call = call };
		if (q->off > (uint64_t)INT64_MAX - q->len)
			op->res = -EINVAL;
		else if (q->len == 0)
			op->res = 0;
		else if (bounce) {
			op->off = align_down(q->off, a);
			op->len = align_down(q->off + q->len + a - 1, a) - op->off;
			op->need = q->off + q->len - op->off;
			op->dst = bounce + pos;
			pos += op->len;
		}
	}
}

/* Bytes of bounce buffer @reqs need on a file aligned to @a. */
static size_t bounce_size(const struct lm_io_req *reqs, unsigned n, uint32_t a)
{
	size_t total = 0;

	for (unsigned i = 0; i < n; i++)
		if (reqs[i].len && reqs[i].off <= (uint64_t)INT64_MAX - reqs[i].len)
			total += align_down(reqs[i].off + reqs[i].len + a - 1, a) -
				 align_down(reqs[i].off, a);
	return total;
}

/* Sets each req's result from its op, copying direct reads out of the
 * bounce buffer. A direct read the file refused (EINVAL, e.g. a partial
 * read left the rest unaligned) is read again buffered. Returns 0 or the
 * first failure. */
static int ops_finish(struct io_call *call, struct lm_io_req *reqs, bool direct)
{
	uint64_t bytes = 0;
	int first = 0;

	for (unsigned i = 0; i < call->n; i++) {
		struct io_op *op = &call->ops[i];
		int res = op->res;

		if (direct && reqs[i].len && res == -EINVAL) {
			struct io_op again = { .off = reqs[i].off, .dst = reqs[i].buf,
					       .len = reqs[i].len, .need = reqs[i].len };

			res = pread_op(call->f->fd, &again);
		} else if (direct && reqs[i].len && res == 0) {
			memcpy(reqs[i].buf, op->dst + (reqs[i].off - op->off), reqs[i].len);
		}
		reqs[i].res = res;
		if (res == 0)
			bytes += reqs[i].len;
		else if (!first)
			first = res;
	}
	count(&stats.bytes, bytes);
	return first;
}

/* ---- back end choice ---- */

int lm_io_backend_parse(const char *s, enum lm_io_backend *out)
{
	static const char *const names[] = { "auto", "uring", "shared", "pread" };

	for (int i = 0; s && i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum lm_io_backend)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Whether this process may make a ring at all. Returns 0 or -errno. */
static int uring_probe(void)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(4, &ring, 0);

	if (rc == 0)
		io_uring_queue_exit(&ring);
	return rc;
}

/* Settles @want (not AUTO) or the environment's choice; init_lock held. */
static int backend_choose(enum lm_io_backend want)
{
	const char *env = getenv("LAMINA_IO");
	int rc;

	if (want == LM_IO_AUTO && env && *env && lm_io_backend_parse(env, &want))
		return -EINVAL;
	switch (want) {
	case LM_IO_AUTO:
		return uring_probe() == 0 ? LM_IO_URING : LM_IO_PREAD;
	case LM_IO_URING:
		rc = uring_probe();
		return rc ? rc : LM_IO_URING;
	case LM_IO_SHARED:
		rc = shared_start();
		return rc ? rc : LM_IO_SHARED;
	case LM_IO_PREAD:
		return LM_IO_PREAD;
	}
	return -EINVAL;
}

int lm_io_init(enum lm_io_backend want)
{
	int rc = atomic_load_explicit(&chosen, memory_order_acquire);

	if (rc >= 0)
		return rc;
	pthread_once(&key_once, key_make);
	pthread_mutex_lock(&init_lock);
	rc = atomic_load_explicit(&chosen, memory_order_relaxed);
	if (rc < 0) {
		rc = backend_choose(want);
		if (rc >= 0)
			atomic_store_explicit(&chosen, rc, memory_order_release);
	}
	pthread_mutex_unlock(&init_lock);
	return rc;
}

const char *lm_io_backend_name(void)
{
	switch (lm_io_init(LM_IO_AUTO)) {
	case LM_IO_URING:
		return "uring";
	case LM_IO_SHARED:
		return "shared";
	case LM_IO_PREAD:
		return "pread";
	default:
		return "none";
	}
}

/* ---- files ---- */

/* The O_DIRECT alignment @fd asks for: its filesystem's where statx says,
 * else DIRECT_ALIGN (enough for every block device in use). */
static uint32_t direct_align(int fd)
{
#ifdef STATX_DIOALIGN
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align > DIRECT_ALIGN &&
	    sx.stx_dio_offset_align <= DIRECT_ALIGN_MAX &&
	    !(sx.stx_dio_offset_align & (sx.stx_dio_offset_align - 1)))
		return sx.stx_dio_offset_align;
#else
	(void)fd;
#endif
	return DIRECT_ALIGN;
}

/* Opens the O_DIRECT descriptor of @f beside its buffered one, or leaves
 * it -1 where the filesystem refuses O_DIRECT or the path no longer names
 * the file opened first. */
static void open_direct(struct lm_io_file *f, int dirfd, const char *path, const struct stat *st)
{
	struct stat dst;
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_DIRECT);

	if (fd < 0)
		return;
	if (fstat(fd, &dst) || dst.st_dev != st->st_dev || dst.st_ino != st->st_ino) {
		close(fd);
		return;
	}
	f->dfd = fd;
	f->align = direct_align(fd);
}

int lm_io_open(int dirfd, const char *path, bool direct, struct lm_io_file **out)
{
	struct lm_io_file *f;
	struct stat st;
	int rc = lm_io_init(LM_IO_AUTO);

	if (rc < 0)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->dfd = -1;
	f->align = 1;
	f->fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (fstat(f->fd, &st)) {
		rc = -errno;
		goto out_close;
	}
	f->size = (uint64_t)st.st_size;
	if (direct)
		open_direct(f, dirfd, path, &st);
	slot_get(&f->slot, &f->gen);
	*out = f;
	return 0;

out_close:
	close(f->fd);
out_free:
	free(f);
	return rc;
}

void lm_io_close(struct lm_io_file *f)
{
	if (!f)
		return;
	slot_put(f->slot);
	if (f->dfd >= 0)
		close(f->dfd);
	close(f->fd);
	free(f);
}

uint64_t lm_io_size(const struct lm_io_file *f)
{
	return f->size;
}

bool lm_io_direct(const struct lm_io_file *f)
{
	return f->dfd >= 0;
}

/* ---- reads ---- */

/* Runs the pending ops of @call on the back end in use. A thread that
 * cannot make a ring, or whose ring failed, reads with pread from then on. */
static void run(struct io_thread *t, struct io_call *call)
{
	switch (atomic_load_explicit(&chosen, memory_order_relaxed)) {
	case LM_IO_SHARED:
		if (shared_run(call))
			return;
		break;
	case LM_IO_URING:
		if (t && !t->ring && !t->ring_failed)
			t->ring_failed = ring_new(LM_IO_BATCH_MAX, &t->ring) != 0;
		if (t && t->ring && uring_run(t->ring, call)) {
			ring_free(t->ring);
			t->ring = NULL;
			t->ring_failed = true;
		}
		break;
	}
	pread_run(call);
}

int lm_io_read(struct lm_io_file *f, struct lm_io_req *reqs, unsigned n)
{
	struct io_op ops[LM_IO_BATCH_MAX];
	struct io_call call = { .f = f, .ops = ops, .n = n };
	struct lm_io_file buffered = { .fd = f->fd, .dfd = -1, .align = 1, .slot = NO_SLOT };
	struct io_thread *t;
	char *bounce = NULL;
	bool own = false;
	int rc = lm_io_init(LM_IO_AUTO);

	if (rc < 0)
		return rc;
	if (n > LM_IO_BATCH_MAX)
		return -EINVAL;
	if (n == 0)
		return 0;
	count(&stats.reads, 1);
	count(&stats.ranges, n);
	t = thread_get();
	if (f->dfd >= 0 && t)
		bounce = bounce_get(t, bounce_size(reqs, n, f->align), &own);
	/* Without a bounce buffer (no memory) the file is read buffered. */
	if (f->dfd >= 0 && !bounce)
		call.f = &buffered;
	ops_build(&call, reqs, bounce);
	run(t, &call);
	rc = ops_finish(&call, reqs, bounce != NULL);
	if (own)
		free(bounce);
	return rc;
}

void lm_io_stats(struct lm_io_stats *s)
{
	s->reads = atomic_load_explicit(&stats.reads, memory_order_relaxed);
	s->ranges = atomic_load_explicit(&stats.ranges, memory_order_relaxed);
	s->bytes = atomic_load_explicit(&stats.bytes, memory_order_relaxed);
	s->submits = atomic_load_explicit(&stats.submits, memory_order_relaxed);
}

void lm_io_shutdown(void)
{
	pthread_mutex_lock(&init_lock);
	shared_stop();   /* shared.stop stays set: later reads use pread */
	atomic_store(&shared_restart, false);
	pthread_mutex_unlock(&init_lock);
}
