/* Unit test for crypt/audit: records chain and verify; an edited, removed,
 * reordered or cut record is found and named; a changed bit anywhere in a
 * record is detected; concurrent writers from several processes chain into
 * one valid log. */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "audit.h"
#include "check.h"
#include "crypt.h"
#include "fileio.h"
#include "store.h"
#include "tmpstore.h"

#define NREC 12

static unsigned char *orig;
static size_t origlen;
static size_t offs[NREC + 1]; /* record i starts at offs[i], offs[NREC] = end */

static void write_log(struct lm_store *st, const unsigned char *buf, size_t len)
{
	int fd = openat(st->fd, "audit.log", O_WRONLY | O_TRUNC);

	CHECK(fd >= 0 && write(fd, buf, len) == (ssize_t)len);
	close(fd);
}

/* Verifies; returns the first bad record position (0 when it verifies). */
static uint64_t verify(struct lm_store *st, char *why, size_t size)
{
	struct lm_audit_walk w;

	if (lm_audit_walk(st, NULL, NULL, &w, NULL))
		return (uint64_t)-1;
	if (lm_audit_verdict(&w, why, size))
		return 0;
	return w.first_bad ? w.first_bad : w.records + 1;
}

static void test_append(struct lm_store *st)
{
	struct lm_audit_rec r;
	char why[256];
	size_t o = 0;

	for (int i = 0; i < NREC; i++) {
		char obj[32];

		snprintf(obj, sizeof(obj), "obj-%d", i);
		CHECK_RC(lm_audit_append(st, "tenant.rotate", "acme", obj,
					 i % 3 ? 0 : -EKEYREJECTED,
					 i == 5 ? "bad\nbyte\x01" : "detail", NULL), 0);
	}
	CHECK_RC(lm_file_read(st->fd, "audit.log", 1 << 20, &orig, &origlen), 0);
	for (int i = 0; i < NREC; i++) {
		ssize_t n = lm_audit_rec_decode(orig + o, origlen - o, &r);

		CHECK(n > 0 && r.seq == (uint64_t)i + 1);
		if (i == 5)
			CHECK(!strcmp(r.detail, "bad?byte?"));
		if (i == 0)
			CHECK(r.result == -EKEYREJECTED && !strcmp(r.op, "tenant.rotate") &&
			      !strcmp(r.object, "obj-0") && r.uid == (uint32_t)getuid());
		offs[i] = o;
		o += (size_t)(n > 0 ? n : 1);
	}
	offs[NREC] = o;
	CHECK(o == origlen);
	CHECK(verify(st, why, sizeof(why)) == 0);
}

/* Every bit of a record flipped: the walk names that record (or, for a
 * length field, that record's frame). */
static void test_bitflips(struct lm_store *st)
{
	unsigned char *buf = malloc(origlen);
	char why[256];

	for (size_t bit = offs[4] * 8; bit < offs[5] * 8; bit++) {
		uint64_t bad;

		memcpy(buf, orig, origlen);
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		write_log(st, buf, origlen);
		bad = verify(st, why, sizeof(why));
		if (bad != 5) {
			fprintf(stderr, "bit %zu of record 5: first bad is %llu (%s)\n",
				bit - offs[4] * 8, (unsigned long long)bad, why);
			check_fails++;
		}
	}
	free(buf);
	write_log(st, orig, origlen);
}

static void test_edits(struct lm_store *st)
{
	unsigned char *buf = malloc(origlen);
	size_t l3 = offs[3] - offs[2], l4 = offs[4] - offs[3], n;
	char why[256];

	/* Record 3 removed: record "4" now stands at position 3. */
	n = 0;
	memcpy(buf, orig, offs[2]);
	n = offs[2];
	memcpy(buf + n, orig + offs[3], origlen - offs[3]);
	n += origlen - offs[3];
	write_log(st, buf, n);
	CHECK(verify(st, why, sizeof(why)) == 3);
	CHECK(strstr(why, "record 3 "));
	/* Records 3 and 4 swapped. */
	memcpy(buf, orig, origlen);
	memcpy(buf + offs[2], orig + offs[3], l4);
	memcpy(buf + offs[2] + l4, orig + offs[2], l3);
	write_log(st, buf, origlen);
	CHECK(verify(st, why, sizeof(why)) == 3);
	/* An edited byte of the detail text of record 7, still printable. */
	memcpy(buf, orig, origlen);
	buf[offs[7] - 40] = buf[offs[7] - 40] == 'd' ? 'e' : 'd';
	write_log(st, buf, origlen);
	CHECK(verify(st, why, sizeof(why)) == 7);
	CHECK(strstr(why, "record 7 ") && strstr(why, "MAC"));
	/* The last two records removed: audit.head notices. */
	write_log(st, orig, offs[NREC - 2]);
	CHECK(verify(st, why, sizeof(why)) == NREC - 1);
	CHECK(strstr(why, "last 2 records were removed"));
	/* Cut in the middle of a record. */
	write_log(st, orig, offs[6] + 10);
	CHECK(verify(st, why, sizeof(why)) == 7);
	write_log(st, orig, origlen);
	CHECK(verify(st, why, sizeof(why)) == 0);
	free(buf);
}

/* Four processes append 40 records each at once. */
static void test_concurrent(struct lm_store *st)
{
	struct lm_audit_walk w;
	char why[256];
	pid_t pids[4];
	int status;

	for (int p = 0; p < 4; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			for (int i = 0; i < 40; i++)
				if (lm_audit_append(st, "object.open", "acme", "x", 0, "", NULL))
					_exit(1);
			_exit(0);
		}
	}
	for (int p = 0; p < 4; p++) {
		CHECK(waitpid(pids[p], &status, 0) == pids[p]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_RC(lm_audit_walk(st, NULL, NULL, &w, NULL), 0);
	CHECK(w.records == NREC + 160);
	CHECK(lm_audit_verdict(&w, why, sizeof(why)));
	if (why[0])
		fprintf(stderr, "concurrent: %s\n", why);
}

int main(void)
{
	struct lm_store *st;
	char dir[256];
	struct stat sb;

	if (lm_crypt_init())
		return 1;
	tmp_dir(dir, "audit");
	CHECK_RC(lm_store_open(dir, false, &st, NULL), 0);
	CHECK_RC(lm_audit_walk(st, NULL, NULL, &(struct lm_audit_walk){ 0 }, NULL), -ENOENT);
	test_append(st);
	CHECK(fstatat(st->fd, "audit.key", &sb, 0) == 0 && (sb.st_mode & 077) == 0 &&
	      sb.st_size == 32);
	test_bitflips(st);
	test_edits(st);
	test_concurrent(st);
	/* A key readable by others is refused. */
	CHECK(fchmodat(st->fd, "audit.key", 0644, 0) == 0);
	CHECK_RC(lm_audit_append(st, "x", "", "", 0, "", NULL), -EPERM);
	free(orig);
	lm_store_free(st);
	tmp_rm(dir);
	return check_done("test_audit");
}
