/* A throw-away store directory for the crypt unit tests. */
#ifndef LM_TEST_TMPSTORE_H
#define LM_TEST_TMPSTORE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int tmp_rm_one(const char *p, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb, (void)type, (void)f;
	return remove(p);
}

/* Removes the tree at @path. */
static inline void tmp_rm(const char *path)
{
	nftw(path, tmp_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new empty directory under $TMPDIR into @out (64 bytes). */
static inline void tmp_dir(char *out, const char *tag)
{
	const char *t = getenv("TMPDIR");

	snprintf(out, 256, "%s/lamina-%s.XXXXXX", t ? t : "/tmp", tag);
	if (!mkdtemp(out)) {
		perror("mkdtemp");
		exit(1);
	}
}

#endif
