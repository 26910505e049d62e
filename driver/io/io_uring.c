/* io_uring rings for reads of layer files (see io.h): making them, their
 * fixed-file tables, queueing and completing ops (shared with the shared
 * back end, io_shared.c), and the per-thread back end that runs a call's
 * ops on the calling thread's own ring.
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
#include <liburing.h>
#include <stdlib.h>

#include "io/io_int.h"

/* ---- rings ---- */

/* Whether this process may make a ring at all. Returns 0 or -errno. */
int io_ring_probe(void)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(4, &ring, 0);

	if (rc == 0)
		io_uring_queue_exit(&ring);
	return rc;
}

int io_ring_init_own(unsigned entries, struct io_uring *ring, unsigned flags)
{
	int rc = io_uring_queue_init(entries, ring, flags | IORING_SETUP_SINGLE_ISSUER |
							 IORING_SETUP_DEFER_TASKRUN);

	if (rc == -EINVAL)
		rc = io_uring_queue_init(entries, ring, flags);
	return rc;
}

/* A ring of @depth entries for the calling thread alone, with a sparse
 * fixed-file table where the kernel gives one. *out is the caller's. */
int io_ring_new(unsigned depth, struct io_ring **out)
{
	struct io_ring *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	rc = io_ring_init_own(depth, &r->ring, 0);
	if (rc) {
		free(r);
		return rc;
	}
	r->fixed = io_uring_register_files_sparse(&r->ring, IO_SLOTS) == 0;
	*out = r;
	return 0;
}

void io_ring_free(struct io_ring *r)
{
	if (!r)
		return;
	io_uring_queue_exit(&r->ring);
	free(r);
}

/* The file index to read @f with on @r: its fixed slot, registered on
 * first use (*fixed true), or its plain descriptor where that fails. */
static int ring_file(struct io_ring *r, const struct lm_io_file *f, bool *fixed)
{
	int fd = io_file_rfd(f);

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
bool io_op_queue(struct io_ring *r, struct io_op *op)
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
bool io_op_complete(struct io_op *op, int res)
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
		io_op_complete(io_uring_cqe_get_data(cqe), cqe->res);
		io_uring_cqe_seen(&r->ring, cqe);
		inflight--;
	}
}

/* Runs the pending ops of @call on the thread's ring @r: all submitted by
 * one io_uring_enter that also waits for them, then reaped; partial reads
 * go round again. Returns 0, or -errno when the ring itself failed. */
int io_ring_run(struct io_ring *r, struct io_call *call)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen, left = 0;

	for (unsigned i = 0; i < call->n; i++)
		if (call->ops[i].res == OP_PENDING && io_op_queue(r, &call->ops[i]))
			left++;
	while (left) {
		int rc = io_uring_submit_and_wait(&r->ring, left);

		io_count_submit();
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			uring_abandon(r, left);
			return rc;
		}
		seen = 0;
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			struct io_op *op = io_uring_cqe_get_data(cqe);

			seen++;
			if (io_op_complete(op, cqe->res))
				left--;
			else
				io_op_queue(r, op);  /* the slot just reaped is free */
		}
		io_uring_cq_advance(&r->ring, seen);
	}
	return 0;
}
