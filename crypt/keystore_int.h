/* Internal to crypt/'s keystore files (keystore.c, rotate.c, shred.c). */
#ifndef LM_KEYSTORE_INT_H
#define LM_KEYSTORE_INT_H

#include "keystore.h"

struct lm_tenant {
	struct lm_tenant_rec rec;
	char where[512];             /* "<store>/keys/<name>", for messages */
	unsigned char *keys;         /* secret: record key, wrap key, scratch */
	struct lm_kek *keks;         /* secret: active versions, newest first */
	size_t nkeks;
	struct lm_kekver_rec *vers;  /* every version record, ascending */
	size_t nvers;
};

#define KS_RECORD_KEY(t) ((t)->keys)

int ks_tenant_dir(char *out, size_t size, const char *name);
int ks_open_dir(struct lm_store *st, const char *name, struct lm_err *err);
int ks_read_versions(int dfd, const struct lm_tenant_rec *r, const char *where,
		     struct lm_kekver_rec **out, size_t *n, struct lm_err *err);
int ks_read_tombstone(int dfd, struct lm_tombstone_rec *tr);
int ks_shredded_error(const struct lm_tombstone_rec *tr, struct lm_err *err);
void ks_kek_seal(const struct lm_tenant *t, struct lm_kekver_rec *v,
		 const unsigned char *kek);
void ks_time(char *out, size_t size, uint64_t t);
/* Opens tenant @name with the store lock already held (or not needed). */
int ks_tenant_open(struct lm_store *st, const char *name,
		   const struct lm_tenant_secret *sec, struct lm_tenant **out,
		   struct lm_err *err);

#endif
