/* Inside the import (layer_import.h): what the archive reader
 * (layer_import.c), the directory walker (layer_import_dir.c) and the
 * common entry steps (layer_import_entry.c) share. */
#ifndef LM_LAYER_IMPORT_INT_H
#define LM_LAYER_IMPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layer_import.h"
#include "strmap.h"

/* The buffer for file data read from a directory, and for zeros. */
#define IMP_BUF (256u * 1024u)
/* An entry's path in messages: cut to this, control bytes as '?'. */
#define IMP_QUOTE 160u

/* One import in progress. */
struct imp {
	struct lm_sealed_build *b;          /* owned by lm_layer_import_fd */
	const struct lm_import_opts *o;     /* borrowed */
	struct lm_import_result *r;         /* borrowed: counts go here */
	struct lm_import_progress prog;
	struct lm_strmap seen;              /* paths added, for duplicates */
	struct lm_strmap links;             /* "dev:ino" -> first path (dirs) */
	unsigned char *buf;                 /* IMP_BUF bytes, owned */
	struct lm_err *err;                 /* borrowed */
};

/* @s as it may appear in a one-line message (into @out, IMP_QUOTE + 4). */
const char *imp_quote(const char *s, char *out);

/* -EINTR with the message set when the import was asked to stop. */
int imp_stopped(struct imp *im);

/* Reports progress (bytes and entries in im->prog). */
void imp_tick(struct imp *im);

/* The builder's steps for entry @path (relative, clean: no "." or ".."
 * or empty component; "" is the root), each failure turned into one line
 * naming the entry. imp_add and imp_link count an entry that replaces an
 * earlier one of the same path. */
int imp_add(struct imp *im, const char *path, const struct lm_sealed_attr *a);
int imp_link(struct imp *im, const char *path, const char *target);
int imp_xattr(struct imp *im, const char *path, const char *name, const void *val,
	      size_t len);
int imp_data(struct imp *im, const char *path, const void *buf, size_t len);
int imp_zeros(struct imp *im, const char *path, uint64_t n);
int imp_opaque(struct imp *im, const char *path);
int imp_whiteout(struct imp *im, const char *path);

/* When the last component of @path is an OCI whiteout (".wh.NAME") or
 * opaque marker (".wh..wh..opq"), records it and returns 1; AUFS
 * metadata (".wh..wh.*") is skipped and counted (1); another name is 0.
 * Returns -errno for a marker that cannot be recorded. */
int imp_marker(struct imp *im, const char *path);

/* True for the xattrs that belong to an overlay mount, not to the
 * files: trusted.overlay.* and user.overlay.* (opacity is a flag of the
 * layer, and the rest means nothing outside that mount). */
bool imp_xattr_private(const char *name);

/* Walks the directory @rootfd (borrowed) into the layer. */
int imp_dir(struct imp *im, int rootfd);

#endif
