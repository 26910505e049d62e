/* Known-answer test: the files in tests/kat/ were made once by
 * tests/kat/gen_kat.c and committed. The code must still open every one of
 * them and derive the same values, so any change to an on-disk format, a
 * derivation or a label is caught.
 *
 *   test_kat KAT_DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "aead.h"
#include "audit.h"
#include "check.h"
#include "crypt.h"
#include "fileio.h"
#include "kdf.h"
#include "keystore.h"
#include "name.h"
#include "slotfile.h"
#include "tmpstore.h"

static char vectors[64][2][400];
static size_t nvectors;
static const char *katdir;

static const char *vec(const char *name)
{
	for (size_t i = 0; i < nvectors; i++)
		if (!strcmp(vectors[i][0], name))
			return vectors[i][1];
	fprintf(stderr, "vectors.txt has no %s\n", name);
	check_fails++;
	return "";
}

static void load_vectors(void)
{
	char path[512], line[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vectors.txt", katdir);
	f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) && nvectors < 64) {
		char *sp = strchr(line, ' ');

		line[strcspn(line, "\n")] = '\0';
		if (!sp)
			continue;
		*sp = '\0';
		snprintf(vectors[nvectors][0], 400, "%s", line);
		snprintf(vectors[nvectors][1], 400, "%s", sp + 1);
		nvectors++;
	}
	fclose(f);
}

static void test_boxes(void)
{
	static const struct {
		enum lm_cipher c;
		const char *file;
	} boxes[] = { { LM_CIPHER_XCHACHA20POLY1305, "aead-xchacha20poly1305.box" },
		      { LM_CIPHER_AES256GCM, "aead-aes256gcm.box" } };
	unsigned char key[32];
	const char *ad = vec("box-ad"), *plain = vec("box-plain");

	unhex(key, vec("box-key"));
	for (size_t i = 0; i < 2; i++) {
		int dfd = open(katdir, O_RDONLY | O_DIRECTORY);
		unsigned char *box, out[256];
		struct lm_aead_key *k;
		size_t len;

		if (!lm_aead_available(boxes[i].c)) {
			printf("%s: cipher not available here, skipped\n", boxes[i].file);
			close(dfd);
			continue;
		}
		CHECK_RC(lm_file_read(dfd, boxes[i].file, 4096, &box, &len), 0);
		close(dfd);
		CHECK(len == strlen(plain) + LM_AEAD_OVERHEAD);
		CHECK_RC(lm_aead_key_new(boxes[i].c, key, &k), 0);
		CHECK_RC(lm_aead_open(k, out, box, len, (const unsigned char *)ad,
				      strlen(ad)), 0);
		CHECK(!memcmp(out, plain, strlen(plain)));
		lm_aead_key_free(k);
		free(box);
	}
}

static void check_hex(const unsigned char *got, size_t n, const char *name)
{
	char hex[129];

	lm_crypt_hex(hex, got, n);
	if (strcmp(hex, vec(name))) {
		fprintf(stderr, "%s: derived %s, committed %s\n", name, hex, vec(name));
		check_fails++;
	}
}

static void test_derivations(void)
{
	static const char *const purposes[] = { "", "subkey-contents", "subkey-names",
						"subkey-metadata", "subkey-header" };
	unsigned char dek[32], sub[32], id[16], obj[32];
	char sealed[LM_NAME_SEALED_MAX + 1], plain[LM_NAME_MAX + 1];
	struct lm_name_key *nk;

	unhex(dek, vec("dek"));
	for (int p = 1; p <= 4; p++) {
		lm_kdf_subkey(sub, dek, (enum lm_subkey)p);
		check_hex(sub, 32, purposes[p]);
	}
	unhex(id, vec("object-id"));
	lm_kdf_subkey(sub, dek, LM_SUBKEY_CONTENTS);
	lm_kdf_object(obj, sub, id, 16);
	check_hex(obj, 32, "object-key");
	lm_kdf_subkey(sub, dek, LM_SUBKEY_NAMES);
	CHECK_RC(lm_name_key_new(sub, &nk), 0);
	lm_name_seal(nk, id, vec("name-plain"), strlen(vec("name-plain")), sealed,
		     sizeof(sealed));
	CHECK(!strcmp(sealed, vec("name-sealed")));
	CHECK(lm_name_open(nk, id, vec("name-sealed"), strlen(vec("name-sealed")),
			   plain, sizeof(plain)) > 0);
	CHECK(!strcmp(plain, vec("name-plain")));
	lm_name_key_free(nk);
}

/* Copies store @sub into a temporary directory (git keeps no 0600 modes,
 * so the audit key gets its mode back there) and opens it. */
static struct lm_store *copy_store(const char *sub, char *tmp)
{
	char cmd[1200];
	struct lm_store *st;

	tmp_dir(tmp, "kat");
	snprintf(cmd, sizeof(cmd), "cp -r '%s/%s/.' '%s/'", katdir, sub, tmp);
	if (system(cmd))
		exit(1);
	if (lm_store_open(tmp, false, &st, NULL))
		exit(1);
	fchmodat(st->fd, "audit.key", 0600, 0);
	return st;
}

static void check_object(struct lm_store *st, const struct lm_tenant *t, int i)
{
	unsigned char dek[32], want[32];
	char name[32];

	snprintf(name, sizeof(name), "kat-obj%d", i);
	CHECK_RC(lm_slotfile_open(st, name, t, dek, NULL), 0);
	snprintf(name, sizeof(name), "dek-kat-obj%d", i);
	unhex(want, vec(name));
	CHECK(!memcmp(dek, want, 32));
}

static void check_keks(const struct lm_tenant *t, const char *tenant)
{
	const struct lm_kek *k;
	size_t n;
	char name[64];

	k = lm_tenant_keks(t, &n);
	CHECK(n == 1);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "kek-%s-v%u", tenant, (unsigned)k[i].version);
		check_hex(k[i].key, 32, name);
	}
}

static void test_store_keyfile(void)
{
	unsigned char key[32];
	struct lm_tenant_secret ks = { LM_SECRET_KEYFILE, key, 32 };
	struct lm_tenant_info info;
	struct lm_audit_walk w;
	struct lm_err err = { "" };
	struct lm_tenant *t;
	struct lm_store *st;
	char tmp[256], why[256];
	int dfd = open(katdir, O_RDONLY | O_DIRECTORY);
	unsigned char *kf;
	size_t len;

	CHECK_RC(lm_file_read(dfd, "keyfile.key", 64, &kf, &len), 0);
	close(dfd);
	CHECK(len == 32);
	memcpy(key, kf, 32);
	free(kf);
	st = copy_store("store-keyfile", tmp);
	CHECK_RC(lm_tenant_info(st, "kat-keyfile", &info, &err), 0);
	CHECK(info.nversions == 2 && !info.versions[0].active && info.versions[1].active);
	lm_tenant_info_release(&info);
	CHECK_RC(lm_tenant_open(st, "kat-keyfile", &ks, &t, &err), 0);
	if (t) {
		check_keks(t, "kat-keyfile");
		check_object(st, t, 1);
		check_object(st, t, 2);
		lm_tenant_free(t);
	}
	CHECK_RC(lm_audit_walk(st, NULL, NULL, &w, &err), 0);
	CHECK(w.keyed && w.records >= 2 && lm_audit_verdict(&w, why, sizeof(why)));
	lm_store_free(st);
	tmp_rm(tmp);
}

static void test_store_passphrase(void)
{
	const char *p = vec("passphrase");
	struct lm_tenant_secret ps = { LM_SECRET_PASSPHRASE, (const unsigned char *)p,
				       strlen(p) };
	struct lm_err err = { "" };
	struct lm_tenant *t;
	struct lm_store *st;
	char tmp[256];

	st = copy_store("store-passphrase", tmp);
	CHECK_RC(lm_tenant_open(st, "kat-pass", &ps, &t, &err), 0);
	if (err.msg[0])
		fprintf(stderr, "%s\n", err.msg);
	if (t) {
		check_keks(t, "kat-pass");
		check_object(st, t, 3);
		lm_tenant_free(t);
	}
	lm_store_free(st);
	tmp_rm(tmp);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_kat KAT_DIR\n");
		return 2;
	}
	if (lm_crypt_init())
		return 1;
	katdir = argv[1];
	load_vectors();
	test_boxes();
	test_derivations();
	test_store_keyfile();
	test_store_passphrase();
	return check_done("test_kat");
}
