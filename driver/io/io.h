/* driver/io: reads of sealed layer files (chunk ciphertext).
 *
 * Two back ends behind one call:
 *   uring   io_uring, one ring per calling thread (made on the thread's
 *           first read, freed when the thread exits), the layer files
 *           registered in each ring's fixed-file table, every range of one
 *           lm_io_read submitted at once and waited for together;
 *   shared  io_uring, one ring for the process driven by one submission
 *           thread that callers hand their ranges to (measured against
 *           per-thread rings in benchmarks/sealed.sh);
 *   pread   one pread per range, for hosts where io_uring is unavailable
 *           (seccomp, io_uring_disabled) or unwanted.
 * The back end is chosen once per process by lm_io_init: LAMINA_IO=uring|
 * shared|pread in the environment forces one; otherwise uring when a ring
 * can be made, else pread, silently.
 *
 * Files may be read with O_DIRECT (lm_io_open's @direct) so the host does
 * not cache ciphertext beside the plaintext the daemon caches; the module
 * aligns ranges and buffers itself (bounce buffers), callers never care.
 * Where the filesystem refuses O_DIRECT the file is read buffered.
 *
 * driver/io is the only code that includes liburing.h. Every function
 * returns 0 (or a count) or -errno and may be called from any thread.
 */
#ifndef LM_IO_H
#define LM_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum lm_io_backend {
	LM_IO_AUTO = 0,
	LM_IO_URING,
	LM_IO_SHARED,
	LM_IO_PREAD,
};

/* Chooses the back end (once; later calls return the first choice):
 * @want, or LAMINA_IO when @want is LM_IO_AUTO. A forced io_uring back end
 * that cannot make a ring is an error (-ENOSYS, -EPERM...), so a test that
 * asks for io_uring never silently runs on pread. Returns the back end
 * chosen or -errno. */
int lm_io_init(enum lm_io_backend want);
/* The back end in use ("uring", "shared", "pread"). */
const char *lm_io_backend_name(void);
/* Parses "uring", "shared", "pread" or "auto". -EINVAL otherwise. */
int lm_io_backend_parse(const char *s, enum lm_io_backend *out);

/* One open layer file. */
struct lm_io_file;

/* Opens @path (@dirfd as openat's) read-only for lm_io_read; @direct asks
 * for O_DIRECT reads. *out is the caller's, released with lm_io_close
 * (after every read on it has returned). */
int lm_io_open(int dirfd, const char *path, bool direct, struct lm_io_file **out);
void lm_io_close(struct lm_io_file *f);
/* Size of the file when opened. */
uint64_t lm_io_size(const struct lm_io_file *f);
/* True when reads go through O_DIRECT. */
bool lm_io_direct(const struct lm_io_file *f);

/* One range to read: @len bytes at @off into @buf. */
struct lm_io_req {
	uint64_t off;
	uint32_t len;
	void *buf;
	int res;          /* out: 0, or -errno (-EIO for a short read) */
};

/* Reads every range of @reqs (@n <= LM_IO_BATCH_MAX) and returns when all
 * are done: 0 when all succeeded, else the first failure's -errno (each
 * req's res says which). A range past the end of the file is -EIO. */
#define LM_IO_BATCH_MAX 64u
int lm_io_read(struct lm_io_file *f, struct lm_io_req *reqs, unsigned n);

/* Ends the shared back end's submission thread and frees its ring, for a
 * clean exit once no read is running; later reads use pread. Does nothing
 * for the other back ends (a thread's ring goes with the thread). */
void lm_io_shutdown(void);

/* Counters since lm_io_init, for benchmarks and `lamina layer` stats. */
struct lm_io_stats {
	uint64_t reads;       /* lm_io_read calls */
	uint64_t ranges;      /* ranges read */
	uint64_t bytes;
	uint64_t submits;     /* io_uring_enter calls (0 for pread) */
};
void lm_io_stats(struct lm_io_stats *s);

#endif
