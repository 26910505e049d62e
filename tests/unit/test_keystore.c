/* Unit test for crypt/keystore, rotate, shred, slotfile on a real store:
 * tenants with a key file and with a passphrase, wrong secrets, tenant
 * isolation, rotation keeping every object's data key, retirement, shred,
 * and a changed bit anywhere in a keystore file being detected. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "audit.h"
#include "check.h"
#include "crypt.h"
#include "fileio.h"
#include "keystore.h"
#include "slotfile.h"
#include "tmpstore.h"

static unsigned char keyfile[32], otherkey[32];
static const char pass[] = "correct horse battery staple";

static struct lm_tenant_secret key_secret(const unsigned char *k)
{
	struct lm_tenant_secret s = { LM_SECRET_KEYFILE, k, 32 };

	return s;
}

static struct lm_tenant_secret pass_secret(const char *p)
{
	struct lm_tenant_secret s = { LM_SECRET_PASSPHRASE, (const unsigned char *)p,
				      strlen(p) };

	return s;
}

static void test_create_open(struct lm_store *st)
{
	struct lm_tenant_secret ks = key_secret(keyfile), ok = key_secret(otherkey);
	struct lm_tenant_secret ps = pass_secret(pass), bad = pass_secret("wrong");
	struct lm_tenant_secret shortkey = { LM_SECRET_KEYFILE, keyfile, 31 };
	struct lm_err err = { "" };
	struct lm_tenant *t;
	size_t n;

	CHECK_RC(lm_tenant_create(st, "acme", &ks, LM_KDF_INTERACTIVE, &err), 0);
	CHECK_RC(lm_tenant_create(st, "beta", &ps, LM_KDF_INTERACTIVE, &err), 0);
	lm_err_clear(&err);
	CHECK_RC(lm_tenant_create(st, "acme", &ks, LM_KDF_INTERACTIVE, &err), -EEXIST);
	CHECK(strstr(err.msg, "already exists"));
	CHECK_RC(lm_tenant_create(st, "../x", &ks, LM_KDF_INTERACTIVE, NULL), -EINVAL);
	CHECK_RC(lm_tenant_create(st, "gamma", &shortkey, LM_KDF_INTERACTIVE, NULL), -EINVAL);
	CHECK_RC(lm_tenant_open(st, "acme", &ks, &t, &err), 0);
	CHECK(lm_tenant_keks(t, &n) && n == 1 && lm_tenant_keks(t, &n)[0].version == 1);
	CHECK(!strcmp(lm_tenant_name(t), "acme"));
	lm_tenant_free(t);
	lm_err_clear(&err);
	CHECK_RC(lm_tenant_open(st, "acme", &ok, &t, &err), -EKEYREJECTED);
	CHECK(strstr(err.msg, "wrong key file for tenant acme"));
	lm_err_clear(&err);
	CHECK_RC(lm_tenant_open(st, "acme", &ps, &t, &err), -EKEYREJECTED);
	CHECK(strstr(err.msg, "protected by a key file"));
	CHECK_RC(lm_tenant_open(st, "beta", &ps, &t, &err), 0);
	lm_tenant_free(t);
	lm_err_clear(&err);
	CHECK_RC(lm_tenant_open(st, "beta", &bad, &t, &err), -EKEYREJECTED);
	CHECK(strstr(err.msg, "wrong passphrase for tenant beta"));
	lm_err_clear(&err);
	CHECK_RC(lm_tenant_open(st, "nobody", &ks, &t, &err), -ENOENT);
	CHECK(strstr(err.msg, "no tenant nobody"));
}

/* Creates @n objects "<prefix><i>" of @tenant; their DEKs into @deks. */
static void make_objects(struct lm_store *st, const char *tenant,
			 const struct lm_tenant_secret *s, const char *prefix,
			 size_t n, unsigned char (*deks)[32])
{
	struct lm_err err = { "" };
	struct lm_tenant *t;
	char name[64];

	CHECK_RC(lm_tenant_open(st, tenant, s, &t, &err), 0);
	for (size_t i = 0; i < n; i++) {
		lm_crypt_random(deks[i], 32);
		snprintf(name, sizeof(name), "%s%zu", prefix, i);
		CHECK_RC(lm_slotfile_create(st, name, t, deks[i], &err), 0);
	}
	CHECK_RC(lm_slotfile_create(st, "a0", t, deks[0], &err), -EEXIST);
	lm_tenant_free(t);
}

/* Every object opens as @tenant with its DEK. */
static void check_objects(struct lm_store *st, const char *tenant,
			  const struct lm_tenant_secret *s, const char *prefix,
			  size_t n, unsigned char (*deks)[32])
{
	struct lm_err err = { "" };
	struct lm_tenant *t;
	unsigned char got[32];
	char name[64];

	CHECK_RC(lm_tenant_open(st, tenant, s, &t, &err), 0);
	if (!t)
		return;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%zu", prefix, i);
		CHECK_RC(lm_slotfile_open(st, name, t, got, &err), 0);
		CHECK(!memcmp(got, deks[i], 32));
	}
	lm_tenant_free(t);
}

static void test_objects_rotate(struct lm_store *st)
{
	struct lm_tenant_secret ks = key_secret(keyfile), ps = pass_secret(pass);
	unsigned char deka[6][32], dekb[2][32], got[32];
	struct lm_rotate_result res;
	struct lm_tenant_info info;
	struct lm_err err = { "" };
	struct lm_tenant *t;
	struct lm_keyblock kb;

	make_objects(st, "acme", &ks, "a", 6, deka);
	make_objects(st, "beta", &ps, "b", 2, dekb);
	check_objects(st, "acme", &ks, "a", 6, deka);
	/* Isolation: acme's secret on beta's object names beta. */
	CHECK_RC(lm_tenant_open(st, "acme", &ks, &t, &err), 0);
	lm_err_clear(&err);
	CHECK_RC(lm_slotfile_open(st, "b0", t, got, &err), -EKEYREJECTED);
	CHECK(strstr(err.msg, "object b0 belongs to tenant beta, not acme"));
	lm_tenant_free(t);

	CHECK_RC(lm_tenant_rotate(st, "acme", &ks, &res, &err), 0);
	CHECK(res.new_version == 2 && res.rewrapped == 6 && res.retired == 1);
	check_objects(st, "acme", &ks, "a", 6, deka);
	check_objects(st, "beta", &ps, "b", 2, dekb);
	CHECK_RC(lm_slotfile_read(st, "a3", &kb, &err), 0);
	CHECK(kb.nslots == 1 && kb.slots[0].version == 2);
	CHECK_RC(lm_tenant_info(st, "acme", &info, &err), 0);
	CHECK(info.nversions == 2 && !info.versions[0].active && info.versions[0].retired &&
	      info.versions[1].active && info.current == 2);
	lm_tenant_info_release(&info);
	CHECK_RC(lm_tenant_rotate(st, "acme", &ks, &res, &err), 0);
	CHECK(res.new_version == 3 && res.rewrapped == 6 && res.retired == 1);
	CHECK_RC(lm_tenant_rotate(st, "beta", &ps, &res, &err), 0);
	CHECK(res.new_version == 2 && res.rewrapped == 2);
	check_objects(st, "acme", &ks, "a", 6, deka);
	check_objects(st, "beta", &ps, "b", 2, dekb);
}

/* Flips each bit of keys/acme/@file in turn: every flip makes the open
 * fail; the file is put back after each. */
static void tamper_file(struct lm_store *st, const char *file)
{
	struct lm_tenant_secret ks = key_secret(keyfile);
	struct lm_tenant *t;
	unsigned char *orig, *buf;
	size_t len;
	char rel[64];
	int dfd;

	snprintf(rel, sizeof(rel), "keys/acme");
	dfd = lm_store_dir(st, rel, false);
	CHECK(dfd >= 0);
	CHECK_RC(lm_file_read(dfd, file, 4096, &orig, &len), 0);
	buf = malloc(len);
	for (size_t i = 0; i < len * 8; i++) {
		int rc;

		memcpy(buf, orig, len);
		buf[i / 8] ^= (unsigned char)(1u << (i % 8));
		CHECK_RC(lm_file_replace(dfd, file, buf, len), 0);
		rc = lm_tenant_open(st, "acme", &ks, &t, NULL);
		if (rc == 0) {
			fprintf(stderr, "%s: bit %zu flipped, still opens\n", file, i);
			check_fails++;
			lm_tenant_free(t);
		}
	}
	CHECK_RC(lm_file_replace(dfd, file, orig, len), 0);
	CHECK_RC(lm_tenant_open(st, "acme", &ks, &t, NULL), 0);
	lm_tenant_free(t);
	free(buf);
	free(orig);
	close(dfd);
}

static void test_shred(struct lm_store *st)
{
	struct lm_tenant_secret ps = pass_secret(pass);
	struct lm_tenant_info info;
	struct lm_err err = { "" };
	struct lm_tenant *t;
	uint32_t n;
	int dfd;

	CHECK_RC(lm_tenant_shred(st, "beta", &n, &err), 0);
	CHECK(n == 2);
	lm_err_clear(&err);
	CHECK_RC(lm_tenant_open(st, "beta", &ps, &t, &err), -EKEYREVOKED);
	CHECK(strstr(err.msg, "tenant beta was shredded on 20"));
	lm_err_clear(&err);
	CHECK_RC(lm_tenant_create(st, "beta", &ps, LM_KDF_INTERACTIVE, &err), -EEXIST);
	CHECK(strstr(err.msg, "never reused"));
	CHECK_RC(lm_tenant_shred(st, "beta", &n, &err), -EALREADY);
	CHECK_RC(lm_tenant_info(st, "beta", &info, &err), 0);
	CHECK(info.shredded && info.shredded_at && info.versions_destroyed == 2);
	lm_tenant_info_release(&info);
	/* Nothing but the tombstone is left. */
	dfd = lm_store_dir(st, "keys/beta", false);
	CHECK(faccessat(dfd, "tenant", F_OK, 0) < 0 && faccessat(dfd, "v1", F_OK, 0) < 0 &&
	      faccessat(dfd, "v2", F_OK, 0) < 0 && faccessat(dfd, "shredded", F_OK, 0) == 0);
	close(dfd);
}

static void test_list_audit(struct lm_store *st)
{
	struct lm_audit_walk w;
	struct lm_err err = { "" };
	char **names, why[256];
	size_t n;

	CHECK_RC(lm_tenant_list(st, &names, &n, &err), 0);
	CHECK(n == 2 && !strcmp(names[0], "acme") && !strcmp(names[1], "beta"));
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	CHECK_RC(lm_audit_walk(st, NULL, NULL, &w, &err), 0);
	CHECK(w.keyed && w.records > 10);
	CHECK(lm_audit_verdict(&w, why, sizeof(why)));
}

int main(void)
{
	struct lm_store *st;
	struct lm_err err = { "" };
	char dir[256], path[300];
	struct stat sb;

	if (lm_crypt_init())
		return 1;
	lm_crypt_random(keyfile, 32);
	lm_crypt_random(otherkey, 32);
	tmp_dir(dir, "ks");
	snprintf(path, sizeof(path), "%s/store", dir);
	CHECK_RC(lm_store_open(path, false, &st, &err), -ENOENT);
	CHECK(strstr(err.msg, "no store at"));
	CHECK_RC(lm_store_open(path, true, &st, &err), 0);
	test_create_open(st);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	snprintf(path, sizeof(path), "%s/store/keys/acme/v1", dir);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	test_objects_rotate(st);
	tamper_file(st, "tenant");
	tamper_file(st, "v3");
	tamper_file(st, "v1");
	test_shred(st);
	test_list_audit(st);
	lm_store_free(st);
	tmp_rm(dir);
	return check_done("test_keystore");
}
