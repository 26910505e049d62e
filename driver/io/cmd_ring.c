/* io_uring rings for device pass-through commands; see cmd_ring.h. */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "io/cmd_ring.h"
#include "io/io_int.h"

/* The tag of the stop eventfd's poll; command tags are the caller's. */
#define STOP_TAG UINT64_MAX

struct lm_cmd_ring {
	struct io_uring ring;
};

_Static_assert(sizeof(struct io_uring_sqe) == 64, "base SQE is 64 bytes");
_Static_assert(LM_CMD_RING_CMD_BYTES == 128 - offsetof(struct io_uring_sqe, cmd),
	       "a 128-byte SQE carries 80 bytes of command");

int lm_cmd_ring_new(unsigned entries, int stop_fd, struct lm_cmd_ring **out)
{
	struct lm_cmd_ring *r = calloc(1, sizeof(*r));
	struct io_uring_sqe *sqe;
	int rc;

	if (!r)
		return -ENOMEM;
	rc = io_ring_init_own(entries + 1, &r->ring, IORING_SETUP_SQE128);
	if (rc) {
		free(r);
		return rc;
	}
	sqe = io_uring_get_sqe(&r->ring);
	io_uring_prep_poll_add(sqe, stop_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, STOP_TAG);
	*out = r;
	return 0;
}

void lm_cmd_ring_free(struct lm_cmd_ring *r)
{
	if (!r)
		return;
	io_uring_queue_exit(&r->ring);
	free(r);
}

int lm_cmd_ring_queue(struct lm_cmd_ring *r, int fd, uint32_t op, const void *cmd,
		      size_t cmd_len, const struct iovec *iov, unsigned iovcnt, uint64_t tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe)
		return -EBUSY;
	if (cmd_len > LM_CMD_RING_CMD_BYTES)
		return -EINVAL;
	/* Clears the whole 128 bytes: prep_rw sets only the first 64. */
	memset(sqe, 0, 128);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, iov, iovcnt, 0);
	sqe->cmd_op = op;
	memcpy(sqe->cmd, cmd, cmd_len);
	io_uring_sqe_set_data64(sqe, tag);
	return 0;
}

int lm_cmd_ring_wait(struct lm_cmd_ring *r, uint64_t *tag, int32_t *res)
{
	struct io_uring_cqe *cqe;
	int rc;

	do
		rc = io_uring_submit_and_wait(&r->ring, 1);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	do
		rc = io_uring_peek_cqe(&r->ring, &cqe);
	while (rc == -EINTR);
	if (rc)
		return rc;
	*tag = io_uring_cqe_get_data64(cqe);
	*res = cqe->res;
	io_uring_cqe_seen(&r->ring, cqe);
	return *tag == STOP_TAG ? -ESHUTDOWN : 0;
}
