/* Unit test for driver/io on the back end LAMINA_IO names (CTest runs it
 * once per back end, and once with none for the automatic choice): random
 * batches of ranges compared with the file's bytes, buffered and O_DIRECT,
 * ranges at and past the end of the file, many threads at once, and files
 * opened and closed while other threads' rings still have earlier files
 * registered in the same slots. The files live in a directory made in the
 * working directory (the build tree, a disk filesystem that takes
 * O_DIRECT). Exit 0 pass, 1 fail, 77 where the io_uring back end asked for
 * cannot run on this host. */
#include "check.h"
#include "io/io.h"
#include "tmpstore.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA_SIZE ((size_t)(4u << 20) + 1234)   /* not a multiple of 4096 */
#define CHURN_SIZE ((size_t)100000)
#define CHURN_FILES 4
#define THREADS 8

static char dir[256];
static int dirfd_;
static unsigned char *data;                     /* the bytes of "data" */
static unsigned char *churn[CHURN_FILES];       /* the bytes of "churnN" */
static pthread_mutex_t fails_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static unsigned char *make_file(const char *name, size_t size, uint64_t seed)
{
	unsigned char *buf = malloc(size);
	int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (!buf || fd < 0) {
		perror(name);
		exit(1);
	}
	for (size_t i = 0; i < size; i++)
		buf[i] = (unsigned char)(rnd(&seed) >> 24);
	if (write(fd, buf, size) != (ssize_t)size) {
		perror("write");
		exit(1);
	}
	close(fd);
	return buf;
}

/* Reads @n random ranges of @f (whose bytes are @want, @size long) that
 * end inside the file, into buffers at odd addresses, and compares them.
 * Returns the number of mismatches. */
static int read_random(struct lm_io_file *f, const unsigned char *want, size_t size,
		       unsigned n, size_t max_len, uint64_t *seed)
{
	struct lm_io_req reqs[LM_IO_BATCH_MAX];
	unsigned char *bufs[LM_IO_BATCH_MAX];
	int bad = 0, rc;

	for (unsigned i = 0; i < n; i++) {
		size_t len = rnd(seed) % (max_len + 1);
		uint64_t off;

		if (len > size)
			len = size;
		off = rnd(seed) % (size - len + 1);
		bufs[i] = malloc(len + 1);
		reqs[i] = (struct lm_io_req){ .off = off, .len = (uint32_t)len,
					      .buf = bufs[i] + 1, .res = 12345 };
	}
	rc = lm_io_read(f, reqs, n);
	if (rc) {
		fprintf(stderr, "lm_io_read of %u ranges: %d\n", n, rc);
		bad++;
	}
	for (unsigned i = 0; i < n; i++) {
		if (reqs[i].res || memcmp(reqs[i].buf, want + reqs[i].off, reqs[i].len)) {
			fprintf(stderr, "range %u (%llu+%u): res %d or bytes differ\n", i,
				(unsigned long long)reqs[i].off, reqs[i].len, reqs[i].res);
			bad++;
		}
		free(bufs[i]);
	}
	return bad;
}

static void add_fails(int bad)
{
	pthread_mutex_lock(&fails_lock);
	check_fails += bad;
	pthread_mutex_unlock(&fails_lock);
}

/* Whether the build tree's filesystem takes O_DIRECT at all. */
static bool host_direct(void)
{
	int fd = openat(dirfd_, "data", O_RDONLY | O_DIRECT);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void test_parse(void)
{
	enum lm_io_backend b;

	CHECK_RC(lm_io_backend_parse("uring", &b), 0);
	CHECK(b == LM_IO_URING);
	CHECK_RC(lm_io_backend_parse("shared", &b), 0);
	CHECK(b == LM_IO_SHARED);
	CHECK_RC(lm_io_backend_parse("pread", &b), 0);
	CHECK(b == LM_IO_PREAD);
	CHECK_RC(lm_io_backend_parse("auto", &b), 0);
	CHECK(b == LM_IO_AUTO);
	CHECK_RC(lm_io_backend_parse("URING", &b), -EINVAL);
	CHECK_RC(lm_io_backend_parse("", &b), -EINVAL);
	CHECK_RC(lm_io_backend_parse(NULL, &b), -EINVAL);
}

static void test_random(bool direct)
{
	struct lm_io_file *f;
	uint64_t seed = direct ? 77 : 78;

	CHECK_RC(lm_io_open(dirfd_, "data", direct, &f), 0);
	CHECK(lm_io_size(f) == DATA_SIZE);
	CHECK(lm_io_direct(f) == (direct && host_direct()));
	for (unsigned n = 1; n <= LM_IO_BATCH_MAX; n++)
		check_fails += read_random(f, data, DATA_SIZE, n, 70000, &seed);
	for (int i = 0; i < 100; i++)
		check_fails += read_random(f, data, DATA_SIZE, 1 + rnd(&seed) % LM_IO_BATCH_MAX,
					   rnd(&seed) % 2 ? 100 : 70000, &seed);
	/* Large ranges: a bounce buffer bigger than a thread keeps. */
	check_fails += read_random(f, data, DATA_SIZE, 48, 300000, &seed);
	check_fails += read_random(f, data, DATA_SIZE, 1, DATA_SIZE, &seed);
	lm_io_close(f);
}

/* Ranges at and past the end of the file, zero lengths and bad batches. */
static void test_edges(bool direct)
{
	static unsigned char b[8][64];
	struct lm_io_req reqs[] = {
		{ .off = DATA_SIZE - 10, .len = 20, .buf = b[0] },   /* crosses EOF */
		{ .off = DATA_SIZE - 5, .len = 5, .buf = b[1] },     /* ends at EOF */
		{ .off = DATA_SIZE, .len = 1, .buf = b[2] },         /* starts at EOF */
		{ .off = DATA_SIZE + 8192, .len = 10, .buf = b[3] }, /* past EOF */
		{ .off = DATA_SIZE, .len = 0, .buf = NULL },         /* empty at EOF */
		{ .off = 0, .len = 0, .buf = NULL },
		{ .off = UINT64_MAX - 4, .len = 10, .buf = b[4] },   /* no such offset */
		{ .off = 4095, .len = 2, .buf = b[5] },              /* crosses a block */
	};
	struct lm_io_file *f;

	CHECK_RC(lm_io_open(dirfd_, "data", direct, &f), 0);
	CHECK_RC(lm_io_read(f, reqs, 8), -EIO);
	CHECK_RC(reqs[0].res, -EIO);
	CHECK_RC(reqs[1].res, 0);
	CHECK(memcmp(b[1], data + DATA_SIZE - 5, 5) == 0);
	CHECK_RC(reqs[2].res, -EIO);
	CHECK_RC(reqs[3].res, -EIO);
	CHECK_RC(reqs[4].res, 0);
	CHECK_RC(reqs[5].res, 0);
	CHECK_RC(reqs[6].res, -EINVAL);
	CHECK_RC(reqs[7].res, 0);
	CHECK(memcmp(b[5], data + 4095, 2) == 0);
	CHECK_RC(lm_io_read(f, &reqs[4], 2), 0);
	CHECK_RC(lm_io_read(f, reqs, 0), 0);
	CHECK_RC(lm_io_read(f, reqs, LM_IO_BATCH_MAX + 1), -EINVAL);
	lm_io_close(f);
	CHECK_RC(lm_io_open(dirfd_, "missing", direct, &f), -ENOENT);
}

/* A file whose filesystem refuses O_DIRECT is read buffered. */
static void test_refused(void)
{
	unsigned char want[16], got[16];
	struct lm_io_req req = { .off = 0, .len = 4, .buf = got };
	struct lm_io_file *f;
	FILE *p = fopen("/proc/self/cmdline", "r");

	if (!p || fread(want, 1, 4, p) != 4) {
		fprintf(stderr, "no /proc/self/cmdline: refusal of O_DIRECT not tested\n");
		if (p)
			fclose(p);
		return;
	}
	fclose(p);
	CHECK_RC(lm_io_open(AT_FDCWD, "/proc/self/cmdline", true, &f), 0);
	CHECK(!lm_io_direct(f));
	CHECK_RC(lm_io_read(f, &req, 1), 0);
	CHECK(memcmp(got, want, 4) == 0);
	lm_io_close(f);
}

struct worker {
	struct lm_io_file *f;
	const unsigned char *want;
	size_t size;
	uint64_t seed;
	bool churn;
	bool direct;
};

static void *shared_reader(void *arg)
{
	struct worker *w = arg;
	int bad = 0;

	for (int i = 0; i < 60; i++)
		bad += read_random(w->f, w->want, w->size, 1 + rnd(&w->seed) % LM_IO_BATCH_MAX,
				   70000, &w->seed);
	add_fails(bad);
	return NULL;
}

/* Each iteration opens one of the churn files, reads it and closes it:
 * slots are reused all the time, by files other rings registered before. */
static void *churner(void *arg)
{
	struct worker *w = arg;
	int bad = 0;

	for (int i = 0; i < 150; i++) {
		unsigned k = (unsigned)(rnd(&w->seed) % CHURN_FILES);
		char name[16];
		struct lm_io_file *f;
		int rc;

		snprintf(name, sizeof(name), "churn%u", k);
		rc = lm_io_open(dirfd_, name, w->direct && i % 2, &f);
		if (rc) {
			fprintf(stderr, "open %s: %d\n", name, rc);
			bad++;
			continue;
		}
		bad += read_random(f, churn[k], CHURN_SIZE, 1 + rnd(&w->seed) % 8, 20000, &w->seed);
		lm_io_close(f);
	}
	add_fails(bad);
	return NULL;
}

static void run_threads(void *(*fn)(void *), struct lm_io_file *f, bool direct)
{
	pthread_t tid[THREADS];
	struct worker w[THREADS];

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .f = f, .want = data, .size = DATA_SIZE,
					.seed = 1000 + (uint64_t)i, .direct = direct };
		if (pthread_create(&tid[i], NULL, fn, &w[i])) {
			perror("pthread_create");
			exit(1);
		}
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
}

static void test_threads(bool direct)
{
	struct lm_io_file *f;

	CHECK_RC(lm_io_open(dirfd_, "data", direct, &f), 0);
	run_threads(shared_reader, f, direct);
	lm_io_close(f);
	run_threads(churner, NULL, direct);
}

/* A thread whose ring registered file A reads file B after A was closed
 * and B opened in the slot A had: it must get B's bytes. */
struct stale {
	pthread_barrier_t bar;
	struct lm_io_file *f;
	int bad;
};

static void *stale_reader(void *arg)
{
	struct stale *st = arg;
	uint64_t seed = 5;

	st->bad += read_random(st->f, churn[0], CHURN_SIZE, 16, 20000, &seed);
	pthread_barrier_wait(&st->bar);   /* main closes churn0, opens churn1 */
	pthread_barrier_wait(&st->bar);
	st->bad += read_random(st->f, churn[1], CHURN_SIZE, 16, 20000, &seed);
	return NULL;
}

static void test_stale(bool direct)
{
	struct stale st = { .bad = 0 };
	uint64_t seed = 9;
	pthread_t tid;

	pthread_barrier_init(&st.bar, NULL, 2);
	CHECK_RC(lm_io_open(dirfd_, "churn0", direct, &st.f), 0);
	check_fails += read_random(st.f, churn[0], CHURN_SIZE, 4, 20000, &seed);
	pthread_create(&tid, NULL, stale_reader, &st);
	pthread_barrier_wait(&st.bar);
	lm_io_close(st.f);
	/* The slot freed last is given next. */
	CHECK_RC(lm_io_open(dirfd_, "churn1", direct, &st.f), 0);
	pthread_barrier_wait(&st.bar);
	pthread_join(tid, NULL);
	check_fails += st.bad;
	/* This thread registered churn0 in that slot too. */
	check_fails += read_random(st.f, churn[1], CHURN_SIZE, 4, 20000, &seed);
	lm_io_close(st.f);
	pthread_barrier_destroy(&st.bar);
}

static void test_stats(const char *want)
{
	struct lm_io_stats s;

	lm_io_stats(&s);
	CHECK(s.reads > 0);
	CHECK(s.ranges >= s.reads);
	CHECK(s.bytes > 0);
	if (strcmp(lm_io_backend_name(), "pread") == 0)
		CHECK(s.submits == 0);
	else
		CHECK(s.submits > 0);
	if (want && *want && strcmp(want, "auto"))
		CHECK(strcmp(lm_io_backend_name(), want) == 0);
	printf("test_io: back end %s: %llu reads, %llu ranges, %llu bytes, %llu submits\n",
	       lm_io_backend_name(), (unsigned long long)s.reads,
	       (unsigned long long)s.ranges, (unsigned long long)s.bytes,
	       (unsigned long long)s.submits);
}

int main(void)
{
	const char *want = getenv("LAMINA_IO");
	int rc = lm_io_init(LM_IO_AUTO);

	if (rc < 0 && (rc == -ENOSYS || rc == -EPERM || rc == -EOPNOTSUPP) &&
	    want && (!strcmp(want, "uring") || !strcmp(want, "shared"))) {
		fprintf(stderr, "test_io: LAMINA_IO=%s but io_uring is unavailable here (%s): "
			"skipped\n", want, strerror(-rc));
		return 77;
	}
	if (rc < 0) {
		fprintf(stderr, "test_io: lm_io_init: %s\n", strerror(-rc));
		return 1;
	}
	CHECK_RC(lm_io_init(LM_IO_PREAD), rc);   /* chosen once */
	snprintf(dir, sizeof(dir), "test_io.XXXXXX");
	if (!mkdtemp(dir) || (dirfd_ = open(dir, O_RDONLY | O_DIRECTORY)) < 0) {
		perror("test_io: mkdtemp");
		return 1;
	}
	data = make_file("data", DATA_SIZE, 1);
	for (unsigned k = 0; k < CHURN_FILES; k++) {
		char name[16];

		snprintf(name, sizeof(name), "churn%u", k);
		churn[k] = make_file(name, CHURN_SIZE, 100 + k);
	}
	if (!host_direct())
		fprintf(stderr, "test_io: %s refuses O_DIRECT: direct reads run buffered\n", dir);

	test_parse();
	for (int direct = 0; direct <= 1; direct++) {
		test_random(direct);
		test_edges(direct);
		test_threads(direct);
		test_stale(direct);
	}
	test_refused();
	test_stats(want);

	close(dirfd_);
	tmp_rm(dir);
	free(data);
	for (unsigned k = 0; k < CHURN_FILES; k++)
		free(churn[k]);
	return check_done("test_io");
}
