/* The import of an OCI layer into a sealed layer file: the core that
 * `lamina layer import` and the fuzz target fuzz_import share.
 *
 * The source is an OCI layer tarball (tar, pax or GNU tar, plain or
 * compressed: gzip, zstd and every filter libarchive reads), standard
 * input, an archive in memory, or a directory (podman's layer
 * directories, an overlay upper). Its entries are fed to the sealed
 * builder (crypt/sealed.h), which writes nothing but the layer file:
 * nothing of the source is ever created, followed or acted upon on the
 * host. What the import keeps and how it treats a hostile archive is in
 * docs/layers.md; in short, an entry that would leave the layer (a ".."
 * component, a hard link outside it, a path under a symlink) is refused
 * with a message naming it, an absolute path is made relative, and a
 * later entry of the same name replaces the earlier one, as tar does.
 */
#ifndef LM_LAYER_IMPORT_H
#define LM_LAYER_IMPORT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypt.h"
#include "keystore.h"
#include "sealed.h"
#include "store.h"

/* The largest regular file an archive may declare (1 TiB): a size field
 * beyond it is refused before a byte of data is read. */
#define LM_IMPORT_FILE_MAX (1ull << 40)
/* The longest path (bytes, without the NUL) and name a layer takes. */
#define LM_IMPORT_PATH_MAX 4096u
#define LM_IMPORT_NAME_MAX 255u

struct lm_import_src {
	const char *path;       /* a tarball, a directory, or "-" for stdin */
	const void *mem;        /* or, with path NULL: an archive in memory */
	size_t mem_len;
};

struct lm_import_progress {
	uint64_t read;          /* bytes of the source read so far */
	uint64_t total;         /* its size; 0 when unknown (stdin, directory) */
	uint64_t entries;       /* entries taken */
};

struct lm_import_opts {
	/* The builder's options. For a plain layer with no layer_id, the
	 * import picks a layer id derived from the creation time, and with
	 * created 0 it takes the source's mtime (the time of the import for
	 * stdin or memory): so the same tarball makes the same layer. */
	struct lm_sealed_build_opts build;
	/* Called every few entries and data blocks; may be NULL. */
	void (*progress)(void *arg, const struct lm_import_progress *p);
	void *progress_arg;
	/* When set and non-zero, the import stops with -EINTR (Ctrl-C). */
	const volatile sig_atomic_t *stop;
};

struct lm_import_result {
	char digest[LM_SEALED_DIGEST_HEX + 1];
	struct lm_sealed_build_stats stats;
	uint64_t size;          /* bytes of the layer file */
	uint64_t duplicates;    /* entries that replaced an earlier one */
	uint64_t stripped;      /* absolute names made relative */
	uint64_t skipped;       /* entries without a place in a layer: sockets of
				 * a tar, AUFS ".wh..wh." metadata */
	bool existed;           /* lm_layer_import: the store had it already */
	double seconds;
};

/* Imports @src into the new, empty regular file @fd (the caller's; it
 * holds a finished, fsync'ed layer on success, and anything on failure:
 * the caller removes it). Returns 0, or -EINVAL for an entry refused (the
 * message names it), -EINTR when stopped, -errno; @err says what failed. */
int lm_layer_import_fd(int fd, const struct lm_import_src *src,
		       const struct lm_import_opts *o, struct lm_import_result *r,
		       struct lm_err *err);

/* Imports @src into store @st: a temporary file in layers/, renamed to
 * layers/<digest> on success and removed on any failure; it holds its
 * lock (lm_sealed_tmp_create) from creation to rename, so that one left
 * by an import that was killed is told from a live one. With @t (an
 * open tenant) the layer is encrypted under a fresh random data key,
 * whose slot file (objects/layer-<id>.slots) is written before the
 * rename; @o->build's dek, tenant and layer_id are then the import's own.
 * A layer already in the store stays as it is (r->existed), and the new
 * file and slot file are dropped. Appends a "layer.import" audit record.
 * Returns 0 or -errno as lm_layer_import_fd, with @err set. */
int lm_layer_import(struct lm_store *st, const struct lm_tenant *t,
		    const struct lm_import_src *src, const struct lm_import_opts *o,
		    struct lm_import_result *r, struct lm_err *err);

#endif
