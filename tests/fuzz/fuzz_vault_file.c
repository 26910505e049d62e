/* Fuzz target for the vault layer's reading of file contents (the host
 * file's bytes are outside bytes): a valid vault file of a few blocks is
 * made once, and each input damages a copy of its host bytes before the
 * file is opened and read through the layer.
 *
 * Input: a little-endian u32 new host length (taken modulo the original
 * length + 3 boxes; 0 keeps the length), then records of a u32 offset and
 * a byte XOR-ed into the host bytes at that offset (modulo the length).
 *
 * Checked: nothing crashes, and every byte a read returns is the byte that
 * was written, except in a block whose whole box on the host is zeros (a
 * hole, the documented way the vault keeps sparse files), which reads as
 * zeros.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aead.h"
#include "crypt.h"
#include "kdf.h"
#include "layer/layer.h"
#include "vault.h"

#define BOX (4096u + LM_AEAD_OVERHEAD)
#define PLAIN_LEN (3 * 4096 + 1000)

static struct lm_layer *layer;
static char host[1200];
static unsigned char plain[PLAIN_LEN], *orig;
static size_t orig_len;

static char dir[] = "/tmp/lm-fuzz-vault-XXXXXX";

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void teardown(void)
{
	lm_layer_free(layer);
	free(orig);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	static struct lm_vault_info info;
	struct lm_vault_keys *keys = lm_secret_alloc(sizeof(*keys));
	struct lm_vault_cfg cfg = { .info = &info };
	unsigned char id[16] = { 9 };
	struct lm_file *f;
	struct stat st;
	char p[600];
	int fd;

	if (lm_crypt_init() || !keys || !mkdtemp(dir))
		abort();
	snprintf(p, sizeof(p), "%s/%s", dir, LM_VAULT_DIRID_NAME);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	if (fd < 0 || write(fd, id, sizeof(id)) != sizeof(id))
		abort();
	close(fd);
	memset(keys, 0, sizeof(*keys));
	keys->generation = 1;
	memset(keys->dek, 0x42, sizeof(keys->dek));
	info.cipher = LM_CIPHER_XCHACHA20POLY1305;
	info.generation = 1;
	cfg.root = dir;
	cfg.keys = keys;
	if (lm_layer_vault_open(&cfg, &layer))
		abort();
	atexit(teardown);
	lm_secret_free(keys);
	for (size_t i = 0; i < PLAIN_LEN; i++)
		plain[i] = (unsigned char)(i % 251 + 1);
	if (layer->ops->open(layer, "f", O_CREAT | O_EXCL | O_RDWR, 0600, -1, -1, &f) ||
	    f->ops->pwrite(f, plain, PLAIN_LEN, 0) != PLAIN_LEN)
		abort();
	f->ops->close(f);
	/* The one file in the directory that is not the vault's own (the
	 * vault's own names hold a '.', sealed names never do). */
	{
		DIR *d = opendir(dir);
		struct dirent *de;

		host[0] = '\0';
		while (d && (de = readdir(d)))
			if (!strchr(de->d_name, '.'))
				snprintf(host, sizeof(host), "%s/%s", dir, de->d_name);
		if (d)
			closedir(d);
		if (!host[0])
			abort();
	}
	if (stat(host, &st))
		abort();
	orig_len = (size_t)st.st_size;
	orig = malloc(orig_len);
	fd = open(host, O_RDONLY);
	if (!orig || fd < 0 || read(fd, orig, orig_len) != (ssize_t)orig_len)
		abort();
	close(fd);
}

static bool box_is_zero(const unsigned char *h, size_t hlen, size_t block)
{
	size_t off = LM_VAULT_FILE_HEAD + block * BOX;

	if (off + BOX > hlen)
		return false;
	for (size_t i = 0; i < BOX; i++)
		if (h[off + i])
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[PLAIN_LEN + 4 * 4096];
	unsigned char *h;
	size_t hlen = orig_len;
	struct lm_file *f;
	struct stat st;
	int fd;

	if (!layer)
		setup();
	if (size >= 4) {
		uint32_t n = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
			     (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;

		if (n)
			hlen = n % (orig_len + 3 * BOX);
		data += 4;
		size -= 4;
	}
	h = calloc(1, hlen + 1);
	if (!h)
		return 0;
	memcpy(h, orig, hlen < orig_len ? hlen : orig_len);
	for (; size >= 5 && hlen; data += 5, size -= 5) {
		uint32_t off = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
			       (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;

		h[off % hlen] ^= data[4];
	}
	fd = open(host, O_WRONLY | O_TRUNC);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, h, hlen) == (ssize_t)hlen);
	close(fd);

	if (layer->ops->open(layer, "f", O_RDONLY, 0, -1, -1, &f) == 0) {
		FUZZ_CHECK(f->ops->fstat(f, &st) == 0);
		/* Block by block and all at once. */
		for (off_t off = 0; off <= st.st_size; off += 4096) {
			ssize_t n = f->ops->pread(f, buf, 4096, off);

			for (ssize_t i = 0; i < n; i++) {
				size_t o = (size_t)off + (size_t)i;

				FUZZ_CHECK(o < PLAIN_LEN ? buf[i] == plain[o] ||
					   (buf[i] == 0 && box_is_zero(h, hlen, o / 4096)) :
					   buf[i] == 0 && box_is_zero(h, hlen, o / 4096));
			}
		}
		ssize_t n = f->ops->pread(f, buf, sizeof(buf), 0);

		for (ssize_t i = 0; i < n; i++)
			FUZZ_CHECK((size_t)i < PLAIN_LEN ? buf[i] == plain[i] ||
				   (buf[i] == 0 && box_is_zero(h, hlen, (size_t)i / 4096)) :
				   buf[i] == 0 && box_is_zero(h, hlen, (size_t)i / 4096));
		f->ops->close(f);
	}
	/* Put the valid file back for the next input. */
	fd = open(host, O_WRONLY | O_TRUNC);
	FUZZ_CHECK(fd >= 0 && write(fd, orig, orig_len) == (ssize_t)orig_len);
	close(fd);
	free(h);
	return 0;
}
