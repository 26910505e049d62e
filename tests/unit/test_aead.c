/* Unit test for crypt/aead and crypt/kdf: published vectors (checked
 * against the constructions lamina uses, not against libsodium's own
 * tests), round trips, and that every changed bit of a box is refused with
 * nothing released. */
#include <errno.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aead.h"
#include "check.h"
#include "crypt.h"
#include "kdf.h"

/* draft-irtf-cfrg-xchacha-03, appendix A.3.1 (AEAD_XChaCha20_Poly1305). */
static void test_xchacha_vector(void)
{
	static const char pt[] = "Ladies and Gentlemen of the class of '99: If I could "
				 "offer you only one tip for the future, sunscreen would be it.";
	unsigned char key[32], nonce[24], ad[12], want[200], out[200], back[200];
	struct lm_aead_key *k;
	size_t n = sizeof(pt) - 1, wn;

	unhex(key, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
	unhex(nonce, "404142434445464748494a4b4c4d4e4f5051525354555657");
	unhex(ad, "50515253c0c1c2c3c4c5c6c7");
	wn = unhex(want, "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
			 "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
			 "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
			 "21f9664c97637da9768812f615c68b13b52e");
	wn += unhex(want + wn, "c0875924c1c7987947deafd8780acf49");
	CHECK(wn == n + 16);
	CHECK_RC(lm_aead_key_new(LM_CIPHER_XCHACHA20POLY1305, key, &k), 0);
	lm_aead_encrypt_nonce(k, out, (const unsigned char *)pt, n, ad, sizeof(ad), nonce);
	CHECK(memcmp(out, want, wn) == 0);
	CHECK_RC(lm_aead_decrypt_nonce(k, back, want, wn, ad, sizeof(ad), nonce), 0);
	CHECK(memcmp(back, pt, n) == 0);
	want[0] ^= 1;
	CHECK_RC(lm_aead_decrypt_nonce(k, back, want, wn, ad, sizeof(ad), nonce), -EBADMSG);
	lm_aead_key_free(k);
}

/* McGrew and Viega, "The Galois/Counter Mode of Operation", test cases
 * 13, 14 and 16 (AES-256). */
static void test_gcm_vectors(void)
{
	static const struct {
		const char *key, *iv, *pt, *ad, *ct, *tag;
	} tv[] = {
		{ "0000000000000000000000000000000000000000000000000000000000000000",
		  "000000000000000000000000", "", "", "",
		  "530f8afbc74536b9a963b4f1c4cb738b" },
		{ "0000000000000000000000000000000000000000000000000000000000000000",
		  "000000000000000000000000", "00000000000000000000000000000000", "",
		  "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
		{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		  "cafebabefacedbaddecaf888",
		  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		  "76fc6ece0f4e1768cddf8853bb2d551b" },
	};

	if (!lm_aead_available(LM_CIPHER_AES256GCM)) {
		printf("AES-256-GCM not available on this CPU: GCM vectors skipped\n");
		return;
	}
	for (size_t i = 0; i < sizeof(tv) / sizeof(tv[0]); i++) {
		unsigned char key[32], iv[12], pt[64], ad[32], want[96], out[96], back[64];
		size_t pn = unhex(pt, tv[i].pt), an = unhex(ad, tv[i].ad), wn;
		struct lm_aead_key *k;

		unhex(key, tv[i].key);
		unhex(iv, tv[i].iv);
		wn = unhex(want, tv[i].ct);
		wn += unhex(want + wn, tv[i].tag);
		CHECK(wn == pn + 16);
		CHECK_RC(lm_aead_key_new(LM_CIPHER_AES256GCM, key, &k), 0);
		lm_aead_encrypt_nonce(k, out, pt, pn, ad, an, iv);
		CHECK(memcmp(out, want, wn) == 0);
		CHECK_RC(lm_aead_decrypt_nonce(k, back, want, wn, ad, an, iv), 0);
		CHECK(pn == 0 || memcmp(back, pt, pn) == 0);
		lm_aead_key_free(k);
	}
}

/* RFC 7693, appendix A: BLAKE2b-512("abc"). */
static void test_blake2b_vector(void)
{
	unsigned char want[64], out[64];

	unhex(want, "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
		    "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
	CHECK_RC(lm_hash(out, 64, "abc", 3, NULL, 0), 0);
	CHECK(memcmp(out, want, 64) == 0);
}

/* Seal and open, then every bit of the box flipped must be refused with
 * the output zeroed. */
static void test_box(enum lm_cipher cipher, size_t len)
{
	unsigned char key[32], ad[] = "object 7, block 3";
	unsigned char *plain = malloc(len + 1), *box = malloc(len + LM_AEAD_OVERHEAD);
	unsigned char *out = malloc(len + 1);
	struct lm_aead_key *k, *k2;
	size_t boxlen = len + LM_AEAD_OVERHEAD, step;

	lm_crypt_random(key, sizeof(key));
	lm_crypt_random(plain, len);
	CHECK_RC(lm_aead_key_new(cipher, key, &k), 0);
	CHECK(lm_aead_key_cipher(k) == cipher);
	CHECK_RC(lm_aead_seal(k, box, plain, len, ad, sizeof(ad)), 0);
	CHECK(box[0] == (unsigned char)cipher);
	CHECK_RC(lm_aead_open(k, out, box, boxlen, ad, sizeof(ad)), 0);
	CHECK(len == 0 || memcmp(out, plain, len) == 0);
	/* Wrong additional data, wrong key, short box. */
	CHECK_RC(lm_aead_open(k, out, box, boxlen, ad, sizeof(ad) - 1), -EBADMSG);
	key[0] ^= 1;
	CHECK_RC(lm_aead_key_new(cipher, key, &k2), 0);
	CHECK_RC(lm_aead_open(k2, out, box, boxlen, ad, sizeof(ad)), -EBADMSG);
	lm_aead_key_free(k2);
	CHECK_RC(lm_aead_open(k, out, box, LM_AEAD_OVERHEAD - 1, ad, sizeof(ad)), -EINVAL);
	/* Every bit for small boxes; a spread of bits for large ones. */
	step = boxlen * 8 <= 4096 ? 1 : 13;
	for (size_t bit = 0; bit < boxlen * 8; bit += step) {
		box[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		memset(out, 0xaa, len + 1);
		if (lm_aead_open(k, out, box, boxlen, ad, sizeof(ad)) != -EBADMSG) {
			fprintf(stderr, "bit %zu of a %zu-byte box: not refused\n", bit, boxlen);
			check_fails++;
		} else if (len) {
			for (size_t i = 0; i < len; i++)
				if (out[i]) {
					fprintf(stderr, "bit %zu: output not zeroed\n", bit);
					check_fails++;
					break;
				}
		}
		box[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	/* Two seals of the same block differ (random nonces). */
	{
		unsigned char *box2 = malloc(boxlen);

		CHECK_RC(lm_aead_seal(k, box2, plain, len, ad, sizeof(ad)), 0);
		CHECK(memcmp(box, box2, boxlen) != 0);
		free(box2);
	}
	CHECK_RC(lm_aead_seal(k, box, plain, len, ad, LM_AEAD_MAX_AD + 1), -EINVAL);
	lm_aead_key_free(k);
	free(plain);
	free(box);
	free(out);
}

static void test_cross_cipher(void)
{
	unsigned char key[32] = { 1 }, box[64 + LM_AEAD_OVERHEAD], out[64] = { 0 };
	struct lm_aead_key *x, *g;

	if (!lm_aead_available(LM_CIPHER_AES256GCM))
		return;
	CHECK_RC(lm_aead_key_new(LM_CIPHER_XCHACHA20POLY1305, key, &x), 0);
	CHECK_RC(lm_aead_key_new(LM_CIPHER_AES256GCM, key, &g), 0);
	CHECK_RC(lm_aead_seal(x, box, out, sizeof(out), NULL, 0), 0);
	CHECK_RC(lm_aead_open(g, out, box, sizeof(box), NULL, 0), -EBADMSG);
	box[0] = LM_CIPHER_AES256GCM; /* relabelled */
	CHECK_RC(lm_aead_open(g, out, box, sizeof(box), NULL, 0), -EBADMSG);
	lm_aead_key_free(x);
	lm_aead_key_free(g);
}

/* After a fork, parent and child must not draw the same nonces (the
 * nonce pool is per process). */
static void test_fork_nonces(void)
{
	unsigned char key[32] = { 3 }, pbox[LM_AEAD_OVERHEAD], cbox[LM_AEAD_OVERHEAD];
	struct lm_aead_key *k;
	int fds[2], status;
	pid_t pid;

	CHECK_RC(lm_aead_key_new(LM_CIPHER_XCHACHA20POLY1305, key, &k), 0);
	lm_aead_seal(k, pbox, NULL, 0, NULL, 0); /* fills the pool */
	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		lm_aead_seal(k, cbox, NULL, 0, NULL, 0);
		_exit(write(fds[1], cbox, sizeof(cbox)) == (ssize_t)sizeof(cbox) ? 0 : 1);
	}
	lm_aead_seal(k, pbox, NULL, 0, NULL, 0);
	CHECK(read(fds[0], cbox, sizeof(cbox)) == (ssize_t)sizeof(cbox));
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status));
	CHECK(memcmp(pbox + 1, cbox + 1, LM_AEAD_NONCEBYTES) != 0);
	close(fds[0]);
	close(fds[1]);
	lm_aead_key_free(k);
}

static void test_kdf(void)
{
	unsigned char dek[32], a[32], b[32], c[32], id[16] = { 9 };

	lm_kdf_new_dek(dek);
	CHECK_RC(lm_kdf_subkey(a, dek, LM_SUBKEY_CONTENTS), 0);
	CHECK_RC(lm_kdf_subkey(b, dek, LM_SUBKEY_NAMES), 0);
	CHECK_RC(lm_kdf_subkey(c, dek, LM_SUBKEY_CONTENTS), 0);
	CHECK(memcmp(a, b, 32) != 0);
	CHECK(memcmp(a, c, 32) == 0);
	CHECK_RC(lm_kdf_subkey(a, dek, (enum lm_subkey)0), -EINVAL);
	CHECK_RC(lm_kdf_subkey(a, dek, (enum lm_subkey)99), -EINVAL);
	CHECK_RC(lm_kdf_object(b, c, id, sizeof(id)), 0);
	id[15] ^= 1;
	CHECK_RC(lm_kdf_object(a, c, id, sizeof(id)), 0);
	CHECK(memcmp(a, b, 32) != 0);
	CHECK_RC(lm_kdf_object(a, c, id, 0), -EINVAL);
}

int main(void)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 4096, 65536 };

	if (lm_crypt_init())
		return 1;
	test_xchacha_vector();
	test_gcm_vectors();
	test_blake2b_vector();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		test_box(LM_CIPHER_XCHACHA20POLY1305, sizes[i]);
		if (lm_aead_available(LM_CIPHER_AES256GCM))
			test_box(LM_CIPHER_AES256GCM, sizes[i]);
	}
	CHECK(lm_aead_default() == (lm_aead_available(LM_CIPHER_AES256GCM) ?
				    LM_CIPHER_AES256GCM : LM_CIPHER_XCHACHA20POLY1305));
	CHECK(lm_aead_name((enum lm_cipher)7) == NULL);
	test_cross_cipher();
	test_kdf();
	test_fork_nonces();
	return check_done("test_aead");
}
