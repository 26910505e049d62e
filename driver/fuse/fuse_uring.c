/* FUSE over io_uring under libfuse 3.14; see fuse_uring.h.
 *
 * The kernel's protocol (fs/fuse/dev_uring.c): the daemon registers ring
 * entries, each a header buffer and a payload buffer, on queue qid (one
 * queue per possible CPU) with FUSE_IO_URING_CMD_REGISTER. A request
 * completes one entry's command: its fuse_in_header is in the header's
 * in_out area, its first argument (the per-opcode struct, possibly empty)
 * in op_in, the other arguments in the payload. The reply goes back the
 * same way (fuse_out_header in in_out, every reply argument in the payload,
 * its length in ent.payload_sz) with FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
 * which also makes the entry wait for the next request. The kernel starts
 * using the queues once every queue has an entry. */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fuse/fuse_uring.h"
#include "io/cmd_ring.h"

/* The kernel's ABI (include/uapi/linux/fuse.h, protocol 7.42); Debian 12's
 * headers predate it. */
#define URING_IN_OUT_SZ 128
#define URING_OP_SZ 128
#define URING_CMD_REGISTER 1
#define URING_CMD_COMMIT_AND_FETCH 2
#define INIT_FLAG2_OVER_IO_URING (1u << (41 - 32))

struct uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;   /* names the request in the commit */
	uint32_t payload_sz;  /* bytes of payload, each way */
	uint32_t padding;
	uint64_t reserved;
};

struct uring_req_header {
	char in_out[URING_IN_OUT_SZ]; /* fuse_in_header, then fuse_out_header */
	char op_in[URING_OP_SZ];      /* the opcode's first argument */
	struct uring_ent_in_out ent;
};

struct uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

_Static_assert(sizeof(struct uring_ent_in_out) == 32, "fuse_uring_ent_in_out");
_Static_assert(sizeof(struct uring_req_header) == 288, "fuse_uring_req_header");
_Static_assert(sizeof(struct uring_cmd_req) == 24, "fuse_uring_cmd_req");
_Static_assert(sizeof(struct uring_cmd_req) <= LM_CMD_RING_CMD_BYTES, "fits an SQE");
_Static_assert(offsetof(struct fuse_init_out, flags2) == 32, "fuse_init_out");

/* Room in front of the payload for the in header and the opcode struct, so
 * libfuse sees one contiguous request without the payload being copied. */
#define LEAD (sizeof(struct fuse_in_header) + URING_OP_SZ)

struct worker;

/* One registered ring entry. Touched only by its worker thread. */
struct ent {
	struct uring_req_header hdr;
	struct iovec iov[2];
	char *buf;           /* LEAD bytes, then the payload; owned */
	uint64_t unique;     /* request being served */
	uint64_t commit_id;
	bool replied;
	struct worker *w;
};

struct worker {
	struct lm_fuse_uring *u;
	pthread_t thread;
	bool started;
	unsigned qid;
	struct ent ent;      /* one entry a thread: a blocked handler holds
			      * up only its own entry */
};

struct lm_fuse_uring {
	struct fuse_session *se; /* borrowed */
	int fd;                  /* the session's /dev/fuse, borrowed */
	int stop_fd;             /* eventfd: stops every worker */
	size_t payload;
	unsigned nworkers;
	struct worker *w;
	atomic_bool started;     /* workers launched (once) */
	void (*gone)(void);      /* the connection is gone, or NULL */
};

/* The entry whose request this thread is serving, and whether the next
 * reply this thread sends is INIT's (and for which transport). */
static _Thread_local struct ent *cur;
static _Thread_local struct lm_fuse_uring *init_for;

bool lm_fuse_uring_offered(void)
{
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "re");
	int c = EOF;

	if (f) {
		c = fgetc(f);
		fclose(f);
	}
	return c == 'Y' || c == 'y' || c == '1';
}

/* Number of queues the kernel makes: one per possible CPU. */
static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	unsigned lo = 0, hi = 0, n = 0;
	char sep;

	if (f) {
		/* "0-N", or "0" on one CPU; anything else: ask sysconf. */
		int k = fscanf(f, "%u%c%u", &lo, &sep, &hi);

		if (k == 3 && sep == '-' && lo == 0)
			n = hi + 1;
		else if (k >= 1 && lo == 0)
			n = 1;
		fclose(f);
	}
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_CONF);

		n = c > 0 ? (unsigned)c : 1;
	}
	return n;
}

static int queue_cmd(struct lm_cmd_ring *ring, struct ent *e, uint32_t op)
{
	struct uring_cmd_req req = { .commit_id = e->commit_id, .qid = (uint16_t)e->w->qid };

	return lm_cmd_ring_queue(ring, e->w->u->fd, op, &req, sizeof(req), e->iov, 2, 0);
}

/* Hands the request in @e to libfuse; the reply lands in @e through
 * uring_writev. A request left without a reply gets EIO, so the entry can
 * go back to the kernel. */
static void serve(struct lm_fuse_uring *u, struct ent *e)
{
	struct fuse_in_header in;
	struct fuse_out_header out = { .len = sizeof(out), .error = -EIO };
	uint32_t psz = e->hdr.ent.payload_sz;
	size_t opsz;
	char *start;

	memcpy(&in, e->hdr.in_out, sizeof(in));
	e->commit_id = e->hdr.ent.commit_id;
	e->unique = in.unique;
	e->replied = false;
	/* The kernel's header is trusted as /dev/fuse's is, but a size that
	 * does not add up would make libfuse read outside the buffer. */
	if (psz > u->payload || in.len < sizeof(in) + psz ||
	    in.len - sizeof(in) - psz > URING_OP_SZ)
		goto out_err;
	opsz = in.len - sizeof(in) - psz;
	start = e->buf + LEAD - opsz - sizeof(in);
	memcpy(start, &in, sizeof(in));
	memcpy(start + sizeof(in), e->hdr.op_in, opsz);

	struct fuse_buf fb = { .mem = start, .size = in.len };

	cur = e;
	fuse_session_process_buf(u->se, &fb);
	cur = NULL;
	if (e->replied)
		return;
out_err:
	out.unique = e->unique;
	memcpy(e->hdr.in_out, &out, sizeof(out));
	e->hdr.ent.payload_sz = 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct lm_fuse_uring *u = w->u;
	struct lm_cmd_ring *ring = NULL;
	cpu_set_t cpus;
	uint64_t tag;
	int32_t res;
	int rc;

	/* The kernel queues a request on its caller's CPU's queue; serving
	 * it on that CPU is the point. An offline CPU's queue still needs
	 * its entries, served from anywhere. */
	CPU_ZERO(&cpus);
	CPU_SET(w->qid, &cpus);
	pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);

	rc = lm_cmd_ring_new(2, u->stop_fd, &ring);
	if (rc == 0)
		rc = queue_cmd(ring, &w->ent, URING_CMD_REGISTER);
	while (rc == 0) {
		rc = lm_cmd_ring_wait(ring, &tag, &res);
		/* res < 0: refused at registration (no io_uring for this
		 * connection; requests stay on /dev/fuse) or torn down at
		 * unmount. */
		if (rc || res < 0)
			break;
		serve(u, &w->ent);
		rc = queue_cmd(ring, &w->ent, URING_CMD_COMMIT_AND_FETCH);
	}
	lm_cmd_ring_free(ring);
	return NULL;
}

static void start_workers(struct lm_fuse_uring *u)
{
	sigset_t all, old;

	if (atomic_exchange(&u->started, true))
		return;
	/* Signals belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < u->nworkers; i++)
		u->w[i].started = pthread_create(&u->w[i].thread, NULL, worker_main,
						 &u->w[i]) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Asks for io_uring in the INIT reply when the kernel's INIT allowed the
 * extended flags, sends it, and starts the queues. */
static ssize_t send_init(struct lm_fuse_uring *u, int fd, struct iovec *iov, int count)
{
	ssize_t n;

	if (count >= 2 && iov[1].iov_len >= offsetof(struct fuse_init_out, flags2) + 4) {
		struct fuse_init_out *o = iov[1].iov_base;

		if (o->flags & FUSE_INIT_EXT)
			o->flags2 |= INIT_FLAG2_OVER_IO_URING;
	}
	n = writev(fd, iov, count);
	if (n >= 0)
		start_workers(u);
	return n;
}

static ssize_t uring_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	struct ent *e = cur;
	size_t off = 0;

	(void)userdata;
	if (init_for) {
		struct lm_fuse_uring *u = init_for;

		init_for = NULL;
		return send_init(u, fd, iov, count);
	}
	if (!e || e->replied || out->unique != e->unique)
		return writev(fd, iov, count);
	for (int i = 1; i < count; i++) {
		char *dst = e->buf + LEAD + off;

		if (iov[i].iov_len > e->w->u->payload - off) {
			errno = EINVAL; /* libfuse reports it; the entry gets EIO */
			return -1;
		}
		if (iov[i].iov_base != dst)
			memmove(dst, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	memcpy(e->hdr.in_out, out, sizeof(*out));
	e->hdr.ent.payload_sz = (uint32_t)off;
	e->replied = true;
	return (ssize_t)(sizeof(*out) + off);
}

/* The session's only hook without a transport handle: the connection
 * belongs to one session a process. */
static void (*gone_hook)(void);

/* ENODEV on /dev/fuse: unmounted or aborted. */
static ssize_t check_gone(ssize_t n)
{
	if (n < 0 && errno == ENODEV && gone_hook)
		gone_hook();
	return n;
}

static ssize_t plain_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	return check_gone(read(fd, buf, len));
}

static ssize_t receive_splice(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			      unsigned int flags, void *userdata)
{
	(void)userdata;
	return check_gone(splice(fdin, offin, fdout, offout, len, flags));
}

static ssize_t send_splice(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			   unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static const struct fuse_custom_io uring_io = {
	.writev = uring_writev,
	.read = plain_read,
	.splice_receive = receive_splice,
	.splice_send = send_splice,
};

int lm_fuse_uring_new(struct fuse_session *se, unsigned threads, size_t payload,
		      void (*gone)(void), struct lm_fuse_uring **out)
{
	struct lm_fuse_uring *u = calloc(1, sizeof(*u));
	unsigned nq = possible_cpus();
	int rc = -ENOMEM;

	if (!u)
		return -ENOMEM;
	u->se = se;
	u->fd = fuse_session_fd(se);
	u->payload = payload;
	u->nworkers = nq * threads;
	u->stop_fd = eventfd(0, EFD_CLOEXEC);
	u->w = calloc(u->nworkers, sizeof(*u->w));
	if (u->stop_fd < 0 || (u->nworkers && !u->w))
		goto out_free;
	for (unsigned i = 0; i < u->nworkers; i++) {
		struct worker *w = &u->w[i];

		w->u = u;
		w->qid = i % nq;
		w->ent.w = w;
		w->ent.buf = malloc(LEAD + payload);
		if (!w->ent.buf)
			goto out_free;
		w->ent.iov[0] = (struct iovec){ &w->ent.hdr, sizeof(w->ent.hdr) };
		w->ent.iov[1] = (struct iovec){ w->ent.buf + LEAD, payload };
	}
	rc = fuse_session_custom_io(se, &uring_io, u->fd);
	if (rc)
		goto out_free;
	gone_hook = gone;
	*out = u;
	return 0;
out_free:
	lm_fuse_uring_free(u);
	return rc;
}

void lm_fuse_uring_on_init(struct lm_fuse_uring *u)
{
	if (u->nworkers)
		init_for = u;
}

void *lm_fuse_uring_reply_buf(size_t size)
{
	struct ent *e = cur;

	return e && !e->replied && size <= e->w->u->payload ? e->buf + LEAD : NULL;
}

void lm_fuse_uring_free(struct lm_fuse_uring *u)
{
	uint64_t one = 1;

	if (!u)
		return;
	gone_hook = NULL;
	if (u->stop_fd >= 0 && write(u->stop_fd, &one, sizeof(one)) < 0)
		perror("laminafs: stopping the io_uring queues");
	for (unsigned i = 0; u->w && i < u->nworkers; i++) {
		if (u->w[i].started)
			pthread_join(u->w[i].thread, NULL);
		free(u->w[i].ent.buf);
	}
	if (u->stop_fd >= 0)
		close(u->stop_fd);
	free(u->w);
	free(u);
}
