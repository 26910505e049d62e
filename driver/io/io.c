/* Reads of sealed layer files through io_uring (a ring per thread,
 * io_uring.c, or one shared ring fed by a submission thread, io_shared.c)
 * or pread; see io.h.
 *
 * Every lm_io_read turns its ranges into ops (struct io_op): a buffered
 * file reads each range straight into the caller's buffer, an O_DIRECT one
 * reads the aligned superset of each range into the calling thread's
 * bounce buffer and copies the range out afterwards. The back ends only
 * run ops; building and finishing them is common.
 *
 * Registered files: each open file takes a process-wide slot number and a
 * generation for it here; io_uring.c registers it in each ring's table.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_int.h"

#define DIRECT_ALIGN 4096u         /* offset, length and memory alignment of O_DIRECT */
#define DIRECT_ALIGN_MAX (1u << 20)
#define BOUNCE_KEEP ((size_t)8 << 20)  /* larger bounce buffers are not kept */

/* What a thread keeps between reads, freed at thread exit. */
struct io_thread {
	struct io_ring *ring;      /* uring back end, made on the first read */
	bool ring_failed;          /* no ring could be made: this thread preads */
	void *bounce;              /* DIRECT_ALIGN aligned, @bounce_len bytes */
	size_t bounce_len;
};

pthread_mutex_t io_init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int chosen = -1;     /* enum lm_io_backend, set once under io_init_lock */
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

static void count(atomic_uint_fast64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

void io_count_submit(void)
{
	count(&stats.submits, 1);
}

int io_file_rfd(const struct lm_io_file *f)
{
	return f->dfd >= 0 ? f->dfd : f->fd;
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
			call->ops[i].res = pread_op(io_file_rfd(call->f), &call->ops[i]);
}

/* ---- fork ----
 *
 * The submission thread is stopped before a fork and started again by the
 * next shared read (io_shared.c says why); the forking thread's own ring
 * is dropped in the child and made again on its next read. */

static void fork_prepare(void)
{
	pthread_mutex_lock(&io_init_lock);
	io_shared_fork_prepare();
}

static void fork_parent(void)
{
	io_shared_fork_after();
	pthread_mutex_unlock(&io_init_lock);
}

static void fork_child(void)
{
	struct io_thread *t = tl_thread;

	io_shared_fork_after();
	pthread_mutex_unlock(&io_init_lock);
	if (t && t->ring) {
		io_ring_free(t->ring);
		t->ring = NULL;
		t->ring_failed = false;
	}
}

static void fork_hooks(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- thread state ---- */

static void thread_free(void *arg)
{
	struct io_thread *t = arg;

	io_ring_free(t->ring);
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

/* Settles @want (not AUTO) or the environment's choice; io_init_lock held. */
static int backend_choose(enum lm_io_backend want)
{
	const char *env = getenv("LAMINA_IO");
	int rc;

	if (want == LM_IO_AUTO && env && *env && lm_io_backend_parse(env, &want))
		return -EINVAL;
	switch (want) {
	case LM_IO_AUTO:
		return io_ring_probe() == 0 ? LM_IO_URING : LM_IO_PREAD;
	case LM_IO_URING:
		rc = io_ring_probe();
		return rc ? rc : LM_IO_URING;
	case LM_IO_SHARED:
		rc = io_shared_start();
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
	pthread_mutex_lock(&io_init_lock);
	rc = atomic_load_explicit(&chosen, memory_order_relaxed);
	if (rc < 0) {
		rc = backend_choose(want);
		if (rc >= 0)
			atomic_store_explicit(&chosen, rc, memory_order_release);
	}
	pthread_mutex_unlock(&io_init_lock);
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
		if (io_shared_run(call))
			return;
		break;
	case LM_IO_URING:
		if (t && !t->ring && !t->ring_failed)
			t->ring_failed = io_ring_new(LM_IO_BATCH_MAX, &t->ring) != 0;
		if (t && t->ring && io_ring_run(t->ring, call)) {
			io_ring_free(t->ring);
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
