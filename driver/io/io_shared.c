/* The shared back end of driver/io (see io.h): one io_uring for the
 * process, driven by one submission thread. Callers queue their calls
 * (struct io_call) and sleep; the thread takes every queued call's pending
 * ops each time it is kicked through an eventfd, keeps the ring as full as
 * it can, and wakes a caller once the last of its ops is finished. Ops are
 * queued and completed on the ring as in io_uring.c.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io/io_int.h"

#define SHARED_DEPTH 256u          /* SQ entries of the shared ring */

/* ---- shared: one ring, one submission thread ---- */

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
	while (*pend && io_op_queue(r, *pend)) {
		(*inflight)++;
		*pend = (*pend)->next;
		if (!*pend)
			*pend_tail = pend;
	}
	io_uring_submit_and_wait(&r->ring, 1);
	io_count_submit();
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		struct io_op *op = io_uring_cqe_get_data(cqe);

		seen++;
		if (op)
			(*inflight)--;
		if (!op) {
			*armed = false;
			shared_take(pend_tail);
		} else if (!io_op_complete(op, cqe->res)) {
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
	int rc = io_ring_new(SHARED_DEPTH, &r);

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
	io_ring_free(r);
	return NULL;
}

/* Starts the submission thread, which makes the ring itself (its only
 * issuer). Returns 0 or the ring's -errno. The thread runs until exit. */
int io_shared_start(void)
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

/* Ends the submission thread once its calls are done; io_init_lock held. */
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

void io_shared_fork_prepare(void)
{
	if (shared.running) {
		shared_stop();
		atomic_store(&shared_restart, true);
	}
	pthread_mutex_lock(&shared.lock);
}

void io_shared_fork_after(void)
{
	pthread_mutex_unlock(&shared.lock);
	if (atomic_load(&shared_restart))
		atomic_store(&shared.stop, false);
}

/* Hands the pending ops of @call to the submission thread and sleeps
 * until they are all finished. Returns false when there is no submission
 * thread (it could not be started again after a fork): the caller preads. */
bool io_shared_run(struct io_call *call)
{
	uint64_t one = 1;
	bool kick;

	if (atomic_load(&shared_restart)) {
		pthread_mutex_lock(&io_init_lock);
		if (atomic_load(&shared_restart) && io_shared_start() == 0)
			atomic_store(&shared_restart, false);
		pthread_mutex_unlock(&io_init_lock);
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

void lm_io_shutdown(void)
{
	pthread_mutex_lock(&io_init_lock);
	shared_stop();   /* shared.stop stays set: later reads use pread */
	atomic_store(&shared_restart, false);
	pthread_mutex_unlock(&io_init_lock);
}
