/* io_bench: random 64 KiB reads of one file through driver/io with 1 and
 * 8 threads, on each back end. The back end is chosen once per process,
 * so without LAMINA_IO in the environment the program runs itself once
 * per back end with it set. One line per run:
 *   BACKEND THREADS direct|buffered MB/s submits-per-read
 *
 * Usage: io_bench FILE [READS_PER_THREAD [BATCH [direct]]]
 *   READS_PER_THREAD  lm_io_read calls per thread (default 2000)
 *   BATCH             64 KiB ranges per call, 1..64 (default 4: a FUSE read
 *                     of 256 KiB over 64 KiB chunks)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/io.h"

#define RANGE (64u * 1024)

struct job {
	struct lm_io_file *f;
	unsigned reads, batch;
	uint64_t seed;
	int rc;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	uint64_t chunks = lm_io_size(j->f) / RANGE;
	struct lm_io_req reqs[LM_IO_BATCH_MAX];
	char *buf = malloc((size_t)j->batch * RANGE);

	if (!buf) {
		j->rc = -ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < j->reads && !j->rc; i++) {
		for (unsigned k = 0; k < j->batch; k++) {
			j->seed = j->seed * 6364136223846793005ull + 1442695040888963407ull;
			reqs[k] = (struct lm_io_req){ .off = (j->seed >> 33) % chunks * RANGE,
						      .len = RANGE, .buf = buf + (size_t)k * RANGE };
		}
		j->rc = lm_io_read(j->f, reqs, j->batch);
	}
	free(buf);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs @nthreads readers over @f and prints their throughput. */
static int run(struct lm_io_file *f, unsigned nthreads, unsigned reads, unsigned batch)
{
	pthread_t tid[8];
	struct job jobs[8];
	struct lm_io_stats before, after;
	double t0, secs;
	int rc = 0;

	lm_io_stats(&before);
	t0 = now();
	for (unsigned i = 0; i < nthreads; i++) {
		jobs[i] = (struct job){ .f = f, .reads = reads, .batch = batch, .seed = i + 1 };
		pthread_create(&tid[i], NULL, worker, &jobs[i]);
	}
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(tid[i], NULL);
		if (jobs[i].rc)
			rc = jobs[i].rc;
	}
	secs = now() - t0;
	lm_io_stats(&after);
	if (rc) {
		fprintf(stderr, "io_bench: lm_io_read: %s\n", strerror(-rc));
		return 1;
	}
	printf("%-7s %u %-8s %8.1f MB/s %6.2f submits/read\n", lm_io_backend_name(), nthreads,
	       lm_io_direct(f) ? "direct" : "buffered",
	       (double)(after.bytes - before.bytes) / secs / 1e6,
	       (double)(after.submits - before.submits) / (double)(after.reads - before.reads));
	return 0;
}

/* Runs this program once per back end, LAMINA_IO set for each. */
static int each_backend(char **argv)
{
	static const char *const names[] = { "uring", "shared", "pread" };
	int failed = 0;

	for (int i = 0; i < 3; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			setenv("LAMINA_IO", names[i], 1);
			execv("/proc/self/exe", argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed = 1;
	}
	return failed;
}

int main(int argc, char **argv)
{
	unsigned reads = argc > 2 ? (unsigned)atoi(argv[2]) : 2000;
	unsigned batch = argc > 3 ? (unsigned)atoi(argv[3]) : 4;
	bool direct = argc > 4 && strcmp(argv[4], "direct") == 0;
	struct lm_io_file *f;
	int rc;

	if (argc < 2 || batch < 1 || batch > LM_IO_BATCH_MAX) {
		fprintf(stderr, "usage: io_bench FILE [READS_PER_THREAD [BATCH [direct]]]\n");
		return 2;
	}
	if (!getenv("LAMINA_IO"))
		return each_backend(argv);
	rc = lm_io_init(LM_IO_AUTO);
	if (rc < 0) {
		fprintf(stderr, "io_bench: LAMINA_IO=%s: %s\n", getenv("LAMINA_IO"), strerror(-rc));
		return 1;
	}
	rc = lm_io_open(AT_FDCWD, argv[1], direct, &f);
	if (rc) {
		fprintf(stderr, "io_bench: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	if (lm_io_size(f) < RANGE) {
		fprintf(stderr, "io_bench: %s: smaller than 64 KiB\n", argv[1]);
		lm_io_close(f);
		return 1;
	}
	rc = run(f, 1, reads, batch) || run(f, 8, reads, batch);
	lm_io_close(f);
	return rc;
}
