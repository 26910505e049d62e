/* The audit log: audit.log in the store, append-only records of key
 * operations, failed opens and integrity failures.
 *
 * Record (80 + strings + 32 bytes; at most LM_AUDIT_REC_MAX):
 *   0   magic "LMAR"                      4
 *   4   format (1)                        2
 *   6   record length, all of it          2
 *   8   sequence number (first is 1)      8
 *   16  time: unix seconds                8
 *   24  time: nanoseconds                 4
 *   28  uid                               4
 *   32  pid                               4
 *   36  result: 0 or -errno (i32)         4
 *   40  op length, tenant length, object length (u8 each), zero (1)   4
 *   44  detail length (u16), zero (2)     4
 *   48  hash of the previous record       32  (BLAKE2b-256 of all its bytes;
 *                                              zero for the first)
 *   80  op, tenant, object, detail        (lengths above; printable ASCII)
 *   ..  MAC                               32  (BLAKE2b-256 keyed with the
 *                                              store's audit key over all
 *                                              bytes before it)
 *
 * audit.head (96 bytes) says where the log ends, so records removed from
 * its end are noticed:
 *   0 magic "LMAHEAD\0" 8 | 8 format (1) 2 | 10 zero 6 | 16 last sequence 8
 *   24 log size 8 | 32 hash of the last record 32 | 64 MAC over [0, 64) 32
 *
 * audit.key: 32 random bytes, made on first use, mode 0600 (refused when
 * group or others may read it). Whoever can read it can forge records: see
 * docs/threat-model.md.
 *
 * Appends hold an exclusive flock on audit.log (opened O_APPEND) from
 * reading the head to writing it, so concurrent writers (the CLI, several
 * mount daemons) chain correctly.
 */
#ifndef LM_AUDIT_H
#define LM_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypt.h"
#include "store.h"

#define LM_AUDIT_FORMAT 1u
#define LM_AUDIT_FIXED 80u
#define LM_AUDIT_MAC 32u
#define LM_AUDIT_HASH 32u
#define LM_AUDIT_STR_MAX 255u     /* op, tenant, object */
#define LM_AUDIT_DETAIL_MAX 1024u
#define LM_AUDIT_REC_MAX (LM_AUDIT_FIXED + 3 * LM_AUDIT_STR_MAX + LM_AUDIT_DETAIL_MAX + LM_AUDIT_MAC)
#define LM_AUDIT_HEAD_BYTES 96u

struct lm_audit_fixed_disk {
	char magic[4];
	uint8_t format[2];
	uint8_t length[2];
	uint8_t seq[8];
	uint8_t sec[8];
	uint8_t nsec[4];
	uint8_t uid[4];
	uint8_t pid[4];
	uint8_t result[4];
	uint8_t oplen, tenantlen, objectlen, zero1;
	uint8_t detaillen[2];
	uint8_t zero2[2];
	uint8_t prev[LM_AUDIT_HASH];
};
_Static_assert(sizeof(struct lm_audit_fixed_disk) == LM_AUDIT_FIXED, "audit record head");

struct lm_audit_head_disk {
	char magic[8];
	uint8_t format[2];
	uint8_t zero[6];
	uint8_t seq[8];
	uint8_t size[8];
	uint8_t last[LM_AUDIT_HASH];
	uint8_t mac[LM_AUDIT_MAC];
};
_Static_assert(sizeof(struct lm_audit_head_disk) == LM_AUDIT_HEAD_BYTES, "audit head");

/* One record, decoded. The strings are NUL-terminated copies. */
struct lm_audit_rec {
	uint64_t seq;
	uint64_t sec;
	uint32_t nsec;
	uint32_t uid, pid;
	int32_t result;
	char op[LM_AUDIT_STR_MAX + 1];
	char tenant[LM_AUDIT_STR_MAX + 1];
	char object[LM_AUDIT_STR_MAX + 1];
	char detail[LM_AUDIT_DETAIL_MAX + 1];
	unsigned char prev[LM_AUDIT_HASH];
	unsigned char mac[LM_AUDIT_MAC];
	size_t length;   /* bytes on disk */
};

/* Appends one record: @op (e.g. "tenant.rotate"), @tenant and @object
 * (may be "" or NULL), @result (0 or -errno), @detail (free text, may be
 * "" or NULL). Bytes outside printable ASCII are written as '?', strings
 * are cut at their maximum length. The record is fdatasync'ed before
 * returning. Returns 0 or -errno with @err set. */
int lm_audit_append(struct lm_store *st, const char *op, const char *tenant,
		    const char *object, int result, const char *detail,
		    struct lm_err *err);

/* lm_audit_append for callers that are already failing: a failure to log
 * is reported on nothing but the return value. */
int lm_audit_log(struct lm_store *st, const char *op, const char *tenant,
		 const char *object, int result, const char *detail);

/* Checks that the log can be appended to (the log and its key can be
 * opened or created), without writing a record. */
int lm_audit_check(struct lm_store *st, struct lm_err *err);

/* Decodes the record at the start of @buf (@len bytes) without checking
 * its MAC or chain. Hostile input: any bytes are safe; a wrong magic,
 * length, format, non-zero reserved bytes, a string with bytes outside
 * printable ASCII are -EUCLEAN. Returns the record's length. */
ssize_t lm_audit_rec_decode(const unsigned char *buf, size_t len,
			    struct lm_audit_rec *r);

/* Verification of one record in the log walk. */
enum lm_audit_status {
	LM_AUDIT_OK = 0,
	LM_AUDIT_BAD_FRAME,   /* not a record: the walk stops here */
	LM_AUDIT_BAD_MAC,     /* edited (or written without the audit key) */
	LM_AUDIT_BAD_SEQ,     /* a record before it was removed, or records reordered */
	LM_AUDIT_BAD_CHAIN,   /* it does not follow the record before it */
};

/* Walks the log: @fn gets every record in order with its status (and its
 * byte offset); a non-zero return of @fn stops the walk and is returned.
 * Returns 0, -ENOENT (no log: the store has no records yet) or -errno.
 * Without the audit key (-EACCES) the MACs are not checked: then @keyed
 * is set false. */
struct lm_audit_walk {
	bool keyed;              /* MACs were checked */
	uint64_t records;        /* records seen */
	uint64_t first_bad;      /* 1-based position of the first bad record, 0 if none */
	enum lm_audit_status first_status;
	off_t first_bad_offset;
	uint64_t first_bad_seq;  /* the sequence number it carries */
	bool head_ok;            /* audit.head present and its MAC verifies */
	uint64_t head_seq;       /* what audit.head says */
	bool head_differs;       /* as many records as the head says, but another last one */
	unsigned char last[LM_AUDIT_HASH]; /* hash of the last record */
};
int lm_audit_walk(struct lm_store *st,
		  int (*fn)(const struct lm_audit_rec *r, enum lm_audit_status s,
			    off_t offset, void *arg),
		  void *arg, struct lm_audit_walk *w, struct lm_err *err);

/* A one-line description of the first problem of a walk into @out, or
 * "" when the log verifies. Returns true when it verifies. */
bool lm_audit_verdict(const struct lm_audit_walk *w, char *out, size_t size);

#endif
