/* FUSE over io_uring (Linux 6.14+, fuse.enable_uring=Y): requests reach the
 * daemon through per-CPU queues instead of /dev/fuse reads, and a request is
 * served by a thread on the CPU its caller runs on. On a virtual machine a
 * wake-up across CPUs costs an interrupt to the hypervisor, so this halves
 * the price of every metadata request there.
 *
 * The transport sits under libfuse 3.14 through its custom I/O hooks:
 * requests taken from a ring are handed to fuse_session_process_buf(), and
 * the reply libfuse writes is caught and committed to the ring. Forgets,
 * interrupts and notifications keep using /dev/fuse. When the kernel or the
 * host does not offer it, nothing changes. */
#ifndef LM_FUSE_URING_H
#define LM_FUSE_URING_H

#include <stdbool.h>
#include <stddef.h>

struct fuse_session;
struct lm_fuse_uring;

/* Whether the running kernel offers FUSE over io_uring. */
bool lm_fuse_uring_offered(void);

/* Installs laminafs's I/O hooks on a mounted session. With @threads > 0,
 * that many threads per CPU serve io_uring queues (when the kernel takes
 * them); with 0 requests stay on /dev/fuse. @payload is the largest
 * request or reply body (max_write). @gone, unless NULL, is called by the
 * first thread that finds the connection gone (unmounted or aborted), before
 * the session loop winds down. The session must outlive the hooks. Returns
 * 0 and sets *out (caller frees with lm_fuse_uring_free), or -errno. */
int lm_fuse_uring_new(struct fuse_session *se, unsigned threads, size_t payload,
		      void (*gone)(void), struct lm_fuse_uring **out);

/* Called from the INIT handler: the INIT reply this thread sends next asks
 * the kernel for io_uring, and the queues start once it is sent. */
void lm_fuse_uring_on_init(struct lm_fuse_uring *u);

/* Stops and joins the queue threads; call after the session loop ended and
 * before unmounting. NULL does nothing. */
void lm_fuse_uring_free(struct lm_fuse_uring *u);

/* When the calling thread serves a request from a ring: the ring's reply
 * buffer if it holds @size bytes, so a handler can build its reply in place
 * and fuse_reply_buf() it without a copy. Otherwise NULL. Borrowed until
 * the reply is sent. */
void *lm_fuse_uring_reply_buf(size_t size);

#endif
