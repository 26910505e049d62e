/* The audit log (see audit.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "audit.h"
#include "fileio.h"
#include "le.h"

#define AUDIT_LOG "audit.log"
#define AUDIT_HEAD "audit.head"
#define AUDIT_KEY "audit.key"
#define AUDIT_LOG_MAX (1024ull * 1024 * 1024)

static const char rec_magic[4] = { 'L', 'M', 'A', 'R' };
static const char head_magic[8] = "LMAHEAD";

/* Loads the audit key into @key (32 bytes, secret memory), creating it
 * with @create. */
static int audit_key(struct lm_store *st, unsigned char *key, bool create,
		     struct lm_err *err)
{
	char path[4096];
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", st->path, AUDIT_KEY);
	if (create && faccessat(st->fd, AUDIT_KEY, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT) {
		randombytes_buf(key, 32);
		rc = lm_file_replace(st->fd, AUDIT_KEY, key, 32);
		if (rc)
			return lm_errf(err, rc, "cannot create audit key %s: %s",
				       path, strerror(-rc));
		return 0;
	}
	rc = lm_secret_file_read(path, "audit key", key, 32, &len, err);
	if (rc)
		return rc;
	if (len != 32)
		return lm_errf(err, -EUCLEAN, "audit key %s is damaged (%zu bytes, not 32)",
			       path, len);
	return 0;
}

static void audit_hash(unsigned char *out, const unsigned char *rec, size_t len)
{
	crypto_generichash(out, LM_AUDIT_HASH, rec, len, NULL, 0);
}

static bool str_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

ssize_t lm_audit_rec_decode(const unsigned char *buf, size_t len,
			    struct lm_audit_rec *r)
{
	struct lm_audit_fixed_disk d;
	size_t n, o = sizeof(d);
	size_t lens[4];
	char *dst[4] = { r->op, r->tenant, r->object, r->detail };

	memset(r, 0, sizeof(*r));
	if (len < sizeof(d))
		return -EUCLEAN;
	memcpy(&d, buf, sizeof(d));
	if (memcmp(d.magic, rec_magic, 4) || lm_get16(d.format) != LM_AUDIT_FORMAT ||
	    d.zero1 || d.zero2[0] || d.zero2[1])
		return -EUCLEAN;
	lens[0] = d.oplen;
	lens[1] = d.tenantlen;
	lens[2] = d.objectlen;
	lens[3] = lm_get16(d.detaillen);
	n = lm_get16(d.length);
	if (lens[3] > LM_AUDIT_DETAIL_MAX ||
	    n != sizeof(d) + lens[0] + lens[1] + lens[2] + lens[3] + LM_AUDIT_MAC ||
	    n > len)
		return -EUCLEAN;
	for (int i = 0; i < 4; i++) {
		if (!str_ok(buf + o, lens[i]))
			return -EUCLEAN;
		memcpy(dst[i], buf + o, lens[i]);
		dst[i][lens[i]] = '\0';
		o += lens[i];
	}
	r->seq = lm_get64(d.seq);
	r->sec = lm_get64(d.sec);
	r->nsec = lm_get32(d.nsec);
	r->uid = lm_get32(d.uid);
	r->pid = lm_get32(d.pid);
	r->result = (int32_t)lm_get32(d.result);
	memcpy(r->prev, d.prev, LM_AUDIT_HASH);
	memcpy(r->mac, buf + o, LM_AUDIT_MAC);
	r->length = n;
	if (r->seq == 0 || r->nsec >= 1000000000u)
		return -EUCLEAN;
	return (ssize_t)n;
}

/* Copies @s (NULL is "") into @out, cut at @max, non-printables as '?'. */
static size_t put_str(unsigned char *out, const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c < 0x20 || c > 0x7e) ? '?' : c;
	}
	return n;
}

/* Builds a record into @out (LM_AUDIT_REC_MAX bytes); returns its size. */
static size_t audit_build(unsigned char *out, uint64_t seq,
			  const unsigned char *prev, const char *op,
			  const char *tenant, const char *object, int result,
			  const char *detail, const unsigned char *key)
{
	struct lm_audit_fixed_disk d;
	struct timespec ts;
	size_t o = sizeof(d), n;

	clock_gettime(CLOCK_REALTIME, &ts);
	memset(&d, 0, sizeof(d));
	memcpy(d.magic, rec_magic, 4);
	lm_put16(d.format, LM_AUDIT_FORMAT);
	lm_put64(d.seq, seq);
	lm_put64(d.sec, (uint64_t)ts.tv_sec);
	lm_put32(d.nsec, (uint32_t)ts.tv_nsec);
	lm_put32(d.uid, (uint32_t)getuid());
	lm_put32(d.pid, (uint32_t)getpid());
	lm_put32(d.result, (uint32_t)result);
	memcpy(d.prev, prev, LM_AUDIT_HASH);
	d.oplen = (uint8_t)put_str(out + o, op, LM_AUDIT_STR_MAX);
	o += d.oplen;
	d.tenantlen = (uint8_t)put_str(out + o, tenant, LM_AUDIT_STR_MAX);
	o += d.tenantlen;
	d.objectlen = (uint8_t)put_str(out + o, object, LM_AUDIT_STR_MAX);
	o += d.objectlen;
	n = put_str(out + o, detail, LM_AUDIT_DETAIL_MAX);
	lm_put16(d.detaillen, (uint16_t)n);
	o += n;
	lm_put16(d.length, (uint16_t)(o + LM_AUDIT_MAC));
	memcpy(out, &d, sizeof(d));
	crypto_generichash(out + o, LM_AUDIT_MAC, out, o, key, 32);
	return o + LM_AUDIT_MAC;
}

static void head_encode(unsigned char *out, uint64_t seq, uint64_t size,
			const unsigned char *last, const unsigned char *key)
{
	struct lm_audit_head_disk h;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, head_magic, 8);
	lm_put16(h.format, LM_AUDIT_FORMAT);
	lm_put64(h.seq, seq);
	lm_put64(h.size, size);
	memcpy(h.last, last, LM_AUDIT_HASH);
	crypto_generichash(h.mac, LM_AUDIT_MAC, (const unsigned char *)&h,
			   offsetof(struct lm_audit_head_disk, mac), key, 32);
	memcpy(out, &h, sizeof(h));
}

/* Reads audit.head; true when it is there and its MAC holds under @key. */
static bool head_read(struct lm_store *st, const unsigned char *key,
		      uint64_t *seq, uint64_t *size, unsigned char *last)
{
	unsigned char *buf, want[LM_AUDIT_HEAD_BYTES];
	struct lm_audit_head_disk h;
	size_t len;
	bool ok;

	if (lm_file_read(st->fd, AUDIT_HEAD, LM_AUDIT_HEAD_BYTES, &buf, &len))
		return false;
	ok = len == sizeof(h);
	if (ok) {
		memcpy(&h, buf, sizeof(h));
		*seq = lm_get64(h.seq);
		*size = lm_get64(h.size);
		memcpy(last, h.last, LM_AUDIT_HASH);
		head_encode(want, *seq, *size, last, key);
		ok = sodium_memcmp(want, buf, sizeof(want)) == 0;
	}
	free(buf);
	return ok;
}

/* The sequence number and hash of the last well-framed record of the log
 * in @fd, by walking it (used when audit.head does not match the log). */
static int log_tail(int fd, uint64_t *seq, unsigned char *last)
{
	unsigned char *buf;
	struct lm_audit_rec r;
	size_t len, o = 0;
	int rc = lm_fd_read(fd, AUDIT_LOG_MAX, &buf, &len);

	*seq = 0;
	memset(last, 0, LM_AUDIT_HASH);
	if (rc)
		return rc;
	while (o < len) {
		ssize_t n = lm_audit_rec_decode(buf + o, len - o, &r);

		if (n < 0)
			break;
		audit_hash(last, buf + o, (size_t)n);
		*seq = r.seq;
		o += (size_t)n;
	}
	free(buf);
	return 0;
}

/* Opens audit.log for appending and reading, created 0600. */
static int log_open(struct lm_store *st, struct lm_err *err)
{
	int fd = openat(st->fd, AUDIT_LOG,
			O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0) {
		int rc = -errno;

		return lm_errf(err, rc, "cannot open audit log %s/%s: %s",
			       st->path, AUDIT_LOG, strerror(-rc));
	}
	return fd;
}

static int log_lock(int fd)
{
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int head_write(struct lm_store *st, uint64_t seq, uint64_t size,
		      const unsigned char *last, const unsigned char *key)
{
	unsigned char buf[LM_AUDIT_HEAD_BYTES];
	int fd, rc = 0;

	head_encode(buf, seq, size, last, key);
	fd = openat(st->fd, AUDIT_HEAD, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
	    fdatasync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	return rc;
}

static int audit_append_locked(struct lm_store *st, int fd,
			       const unsigned char *key, const char *op,
			       const char *tenant, const char *object,
			       int result, const char *detail)
{
	unsigned char rec[LM_AUDIT_REC_MAX], last[LM_AUDIT_HASH];
	uint64_t seq = 0, size = 0;
	struct stat sb;
	size_t n;

	if (fstat(fd, &sb) < 0)
		return -errno;
	if (!head_read(st, key, &seq, &size, last) || size != (uint64_t)sb.st_size) {
		int rc = log_tail(fd, &seq, last);

		if (rc)
			return rc;
	}
	n = audit_build(rec, seq + 1, last, op, tenant, object, result, detail, key);
	if (write(fd, rec, n) != (ssize_t)n)
		return errno ? -errno : -EIO;
	if (fdatasync(fd) < 0)
		return -errno;
	audit_hash(last, rec, n);
	return head_write(st, seq + 1, (uint64_t)sb.st_size + n, last, key);
}

/* Opens and locks the log and loads the audit key (made on first use) into
 * @key, 32 bytes of the caller's secret memory. Returns the locked
 * descriptor, whose close releases the lock, or -errno with @err set. */
static int log_begin(struct lm_store *st, unsigned char *key, struct lm_err *err)
{
	int fd = log_open(st, err);
	int rc;

	if (fd < 0)
		return fd;
	rc = log_lock(fd);
	if (rc) {
		lm_errf(err, rc, "cannot lock the audit log: %s", strerror(-rc));
		goto out_close;
	}
	rc = audit_key(st, key, true, err);
	if (rc == 0)
		return fd;
out_close:
	close(fd);
	return rc;
}

int lm_audit_append(struct lm_store *st, const char *op, const char *tenant,
		    const char *object, int result, const char *detail,
		    struct lm_err *err)
{
	unsigned char *key = sodium_malloc(32);
	int fd, rc;

	if (!key)
		return lm_errf(err, -ENOMEM, "out of memory");
	fd = log_begin(st, key, err);
	if (fd < 0) {
		rc = fd;
		goto out_free;
	}
	rc = audit_append_locked(st, fd, key, op, tenant, object, result, detail);
	if (rc)
		lm_errf(err, rc, "cannot write to the audit log %s/%s: %s",
			st->path, AUDIT_LOG, strerror(-rc));
	close(fd); /* releases the lock */
out_free:
	sodium_free(key);
	return rc;
}

int lm_audit_log(struct lm_store *st, const char *op, const char *tenant,
		 const char *object, int result, const char *detail)
{
	return lm_audit_append(st, op, tenant, object, result, detail, NULL);
}

int lm_audit_check(struct lm_store *st, struct lm_err *err)
{
	unsigned char *key = sodium_malloc(32);
	int fd;

	if (!key)
		return lm_errf(err, -ENOMEM, "out of memory");
	fd = log_begin(st, key, err);
	if (fd >= 0)
		close(fd);
	sodium_free(key);
	return fd < 0 ? fd : 0;
}

/* Checks the record @r at position @pos (1-based), @raw its bytes. */
static enum lm_audit_status rec_check(const struct lm_audit_rec *r, uint64_t pos,
				      const unsigned char *raw,
				      const unsigned char *prev,
				      const unsigned char *key)
{
	unsigned char mac[LM_AUDIT_MAC];

	if (key) {
		crypto_generichash(mac, sizeof(mac), raw, r->length - LM_AUDIT_MAC,
				   key, 32);
		if (sodium_memcmp(mac, r->mac, sizeof(mac)))
			return LM_AUDIT_BAD_MAC;
	}
	if (r->seq != pos)
		return LM_AUDIT_BAD_SEQ;
	if (memcmp(r->prev, prev, LM_AUDIT_HASH))
		return LM_AUDIT_BAD_CHAIN;
	return LM_AUDIT_OK;
}

static void walk_note(struct lm_audit_walk *w, enum lm_audit_status s,
		      uint64_t pos, uint64_t seq, size_t off)
{
	if (s == LM_AUDIT_OK || w->first_bad)
		return;
	w->first_bad = pos;
	w->first_status = s;
	w->first_bad_offset = (off_t)off;
	w->first_bad_seq = seq;
}

int lm_audit_walk(struct lm_store *st,
		  int (*fn)(const struct lm_audit_rec *r, enum lm_audit_status s,
			    off_t offset, void *arg),
		  void *arg, struct lm_audit_walk *w, struct lm_err *err)
{
	unsigned char *key = sodium_malloc(32), *buf = NULL, prev[LM_AUDIT_HASH];
	unsigned char hlast[LM_AUDIT_HASH];
	struct lm_audit_rec *r = malloc(sizeof(*r));
	uint64_t hsize;
	size_t len = 0, o = 0;
	int rc;

	memset(w, 0, sizeof(*w));
	if (!key || !r) {
		rc = lm_errf(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	rc = lm_file_read(st->fd, AUDIT_LOG, AUDIT_LOG_MAX, &buf, &len);
	if (rc) {
		lm_errf(err, rc, rc == -ENOENT ? "no audit log in %s yet" :
			"cannot read the audit log in %s: %s", st->path,
			strerror(-rc));
		goto out_free;
	}
	w->keyed = audit_key(st, key, false, NULL) == 0;
	if (w->keyed)
		w->head_ok = head_read(st, key, &w->head_seq, &hsize, hlast);
	memset(prev, 0, sizeof(prev));
	while (o < len) {
		ssize_t n = lm_audit_rec_decode(buf + o, len - o, r);
		enum lm_audit_status s;

		w->records++;
		if (n < 0) {
			walk_note(w, LM_AUDIT_BAD_FRAME, w->records, 0, o);
			if (fn)
				rc = fn(NULL, LM_AUDIT_BAD_FRAME, (off_t)o, arg);
			break;
		}
		s = rec_check(r, w->records, buf + o, prev, w->keyed ? key : NULL);
		walk_note(w, s, w->records, r->seq, o);
		audit_hash(prev, buf + o, (size_t)n);
		if (fn && (rc = fn(r, s, (off_t)o, arg)))
			break;
		o += (size_t)n;
	}
	memcpy(w->last, prev, sizeof(prev));
	w->head_differs = w->head_ok && w->records == w->head_seq &&
			  memcmp(hlast, prev, sizeof(prev));
out_free:
	free(buf);
	free(r);
	sodium_free(key);
	return rc;
}

bool lm_audit_verdict(const struct lm_audit_walk *w, char *out, size_t size)
{
	unsigned long long pos = (unsigned long long)w->first_bad;

	out[0] = '\0';
	switch (w->first_bad ? w->first_status : LM_AUDIT_OK) {
	case LM_AUDIT_BAD_FRAME:
		snprintf(out, size, "record %llu (byte %lld) is not a valid record: the log was damaged or cut there",
			 pos, (long long)w->first_bad_offset);
		return false;
	case LM_AUDIT_BAD_MAC:
		snprintf(out, size, "record %llu (byte %lld) was changed: its MAC does not verify",
			 pos, (long long)w->first_bad_offset);
		return false;
	case LM_AUDIT_BAD_SEQ:
		snprintf(out, size, "record %llu (byte %lld) carries sequence number %llu: records were removed or reordered",
			 pos, (long long)w->first_bad_offset,
			 (unsigned long long)w->first_bad_seq);
		return false;
	case LM_AUDIT_BAD_CHAIN:
		snprintf(out, size, "record %llu (byte %lld) does not follow record %llu: a record was removed, inserted or reordered",
			 pos, (long long)w->first_bad_offset, pos - 1);
		return false;
	case LM_AUDIT_OK:
		break;
	}
	if (!w->keyed)
		return true;
	if (!w->head_ok && w->records) {
		snprintf(out, size, "audit.head is missing or was changed: cannot tell whether records were removed from the end");
		return false;
	}
	if (w->records < w->head_seq) {
		snprintf(out, size, "the log ends after record %llu but %llu were written: the last %llu records were removed",
			 (unsigned long long)w->records,
			 (unsigned long long)w->head_seq,
			 (unsigned long long)(w->head_seq - w->records));
		return false;
	}
	if (w->head_differs) {
		snprintf(out, size, "record %llu is not the last record that was written: the end of the log was replaced",
			 (unsigned long long)w->records);
		return false;
	}
	return true;
}
