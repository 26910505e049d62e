/* Corpus replay for a fuzz target, for builds without libFuzzer (lz4's
 * fuzzers do the same): each argument is a file, run as one input, or a
 * directory, whose regular files are run in name order. Linked with one
 * fuzz_*.c in place of -fsanitize=fuzzer, so CI replays every committed
 * input under the ordinary sanitizer build.
 *
 * Exit 0 when every input ran (a failed invariant aborts, and a sanitizer
 * report ends the process, either of which fails the test), 1 when a file
 * or directory could not be read or there was nothing to run, 2 on usage.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Reads all of @path into an exact-size buffer (caller frees), so
 * AddressSanitizer sees a read past the input's end. Returns 0 or -errno. */
static int replay_read(const char *path, uint8_t **out, size_t *outlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL, *tmp;
	size_t len = 0, cap = 0, got;
	int rc = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			tmp = realloc(buf, cap);
			if (!tmp) {
				rc = -ENOMEM;
				goto out_close;
			}
			buf = tmp;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		rc = -EIO;
		goto out_close;
	}
	tmp = malloc(len ? len : 1);
	if (!tmp) {
		rc = -ENOMEM;
		goto out_close;
	}
	if (len)
		memcpy(tmp, buf, len);
	*out = tmp;
	*outlen = len;
out_close:
	free(buf);
	fclose(f);
	return rc;
}

static int replay_file(const char *path, size_t *ran)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = replay_read(path, &data, &len);

	if (rc < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(-rc));
		return rc;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	(*ran)++;
	return 0;
}

/* Every regular file directly inside @dir, sorted by name; subdirectories
 * and other entries are skipped. */
static int replay_dir(const char *dir, size_t *ran)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	int rc = 0;

	if (n < 0) {
		rc = -errno;
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < n; i++) {
		size_t plen = strlen(dir) + 1 + strlen(ents[i]->d_name) + 1;
		char *path = malloc(plen);
		struct stat st;

		if (!path) {
			rc = -ENOMEM;
		} else {
			snprintf(path, plen, "%s/%s", dir, ents[i]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			    replay_file(path, ran) < 0)
				rc = -EIO;
		}
		free(path);
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	size_t ran = 0;
	int failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int rc;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			failed = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode))
			rc = replay_dir(argv[i], &ran);
		else
			rc = replay_file(argv[i], &ran);
		if (rc < 0)
			failed = 1;
	}
	printf("%s: ran %zu inputs\n", argv[0], ran);
	if (ran == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	return failed;
}
