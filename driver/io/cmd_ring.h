/* A per-thread io_uring for device pass-through commands (IORING_OP_URING_CMD
 * with 128-byte entries), as the FUSE transport over io_uring needs them.
 * driver/io is the only code that includes liburing.h. */
#ifndef LM_CMD_RING_H
#define LM_CMD_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Bytes of command payload a 128-byte entry carries. */
#define LM_CMD_RING_CMD_BYTES 80

struct lm_cmd_ring;

/* Makes a ring for @entries commands, owned by the calling thread alone
 * (submissions and completions from that thread only). Also watches
 * @stop_fd, an eventfd: once it is readable, lm_cmd_ring_wait returns
 * -ESHUTDOWN. On success *out is the caller's, to lm_cmd_ring_free.
 * Returns 0, -ENOSYS or -EPERM when io_uring is unavailable, or -errno. */
int lm_cmd_ring_new(unsigned entries, int stop_fd, struct lm_cmd_ring **out);
void lm_cmd_ring_free(struct lm_cmd_ring *r);

/* Queues a command @op on @fd: @cmd (@cmd_len <= LM_CMD_RING_CMD_BYTES) is
 * copied into the entry; @iov (@iovcnt entries) must stay valid until the
 * command completes. @tag comes back with the completion. Returns 0 or
 * -EBUSY when the submission queue is full. */
int lm_cmd_ring_queue(struct lm_cmd_ring *r, int fd, uint32_t op, const void *cmd,
		      size_t cmd_len, const struct iovec *iov, unsigned iovcnt, uint64_t tag);

/* Submits what is queued and waits for one completion: *tag and *res are
 * the command's. Returns 0, -ESHUTDOWN once the stop eventfd fired, or
 * -errno from io_uring_enter. */
int lm_cmd_ring_wait(struct lm_cmd_ring *r, uint64_t *tag, int32_t *res);

#endif
