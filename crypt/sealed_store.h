/* Sealed layers in a store: the files layers/<digest> (sealed.h), found by
 * their digest or a unique prefix of it, opened with their superblock
 * checked, given their keys from the slot file objects/layer-<id>.slots,
 * and removed with that slot file. Shared by the lamina CLI and laminafs.
 *
 * Advisory locks (flock) say who is using which file:
 *   - a layer file being served (laminafs, through lm_sealed_file_open_path)
 *     holds a shared lock for as long as it is served; lm_sealed_remove
 *     takes the exclusive lock and refuses a layer it cannot have;
 *   - an import's temporary file (lm_sealed_tmp_create) holds an exclusive
 *     lock until it is renamed or removed, so one whose lock is free was
 *     left by an import that died (kill -9, a crash), and
 *     lm_sealed_tmp_clean removes it;
 *   - the layers/ directory itself: shared by an import while its
 *     temporary file is created or renamed, exclusive while a cleaner
 *     looks, so a cleaner never sees a live import's file unlocked.
 * Readers of the CLI (ls, inspect, verify, export) take no lock.
 */
#ifndef LM_SEALED_STORE_H
#define LM_SEALED_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypt.h"
#include "keystore.h"
#include "sealed.h"
#include "store.h"

/* The shortest digest prefix a user may give. */
#define LM_SEALED_PREFIX_MIN 4u

/* Finds the layer of the store whose digest starts with @prefix (4 to 64
 * lower- or upper-case hex digits) and puts its full digest in @hex
 * (LM_SEALED_DIGEST_HEX + 1 bytes). Returns 0, -EINVAL for a prefix that
 * is not hex or too short, or that more than one layer matches (the
 * message names two of them), -ENOENT when none does; @err says which. */
int lm_sealed_resolve(struct lm_store *st, const char *prefix, char *hex,
		      struct lm_err *err);

/* The path of layer @hex in @st ("<store>/layers/<hex>") into @path.
 * Returns 0, -EINVAL for a @hex that is not a digest, -ENAMETOOLONG. */
int lm_sealed_path(struct lm_store *st, const char *hex, char *path, size_t size);

/* An open layer file: its descriptor and its decoded superblock. */
struct lm_sealed_file {
	int fd;                                 /* owned: lm_sealed_file_close */
	char hex[LM_SEALED_DIGEST_HEX + 1];     /* the file's name */
	uint64_t size;                          /* of the file, at open */
	bool name_ok;                           /* the superblock's digest is hex */
	/* 0 when fd's open file description holds the shared lock of a
	 * layer in use (lm_sealed_file_open_path), else why not: the -errno
	 * of flock (-EWOULDBLOCK: a removal holds the file), or -ENOLCK
	 * from lm_sealed_file_open, which takes no lock. */
	int lock_rc;
	struct lm_sealed_sb sb;
};

/* Opens layers/@hex of @st read-only and decodes its superblock, for the
 * CLI's readers: it takes no lock, so it neither waits for nor holds off a
 * mount or a removal. With @any_name a layer whose digest is not its name
 * still opens (f->name_ok false: `lamina layer verify` reports it);
 * without, that is -EBADMSG. Returns 0, -ENOENT, -EUCLEAN (a damaged
 * superblock), -EPROTONOSUPPORT, -EBADMSG or -errno, with @err naming the
 * layer. */
int lm_sealed_file_open(struct lm_store *st, const char *hex, bool any_name,
			struct lm_sealed_file *f, struct lm_err *err);
/* Opens the layer file at @path (inside a store or not) the same way, to
 * serve it: this is laminafs's open. It also takes a shared flock on the
 * file (f->lock_rc says whether it has it), which belongs to the open file
 * description and so lasts while f->fd or any duplicate of it is open:
 * whoever serves the layer keeps one open as long as it does, and
 * lm_sealed_remove refuses the layer meanwhile. A lock that cannot be
 * taken does not fail the open (see sealed_store.c). With @expect (a
 * digest) a layer with another digest is -EBADMSG; without, f->hex is the
 * superblock's digest. Messages name @path. */
int lm_sealed_file_open_path(const char *path, const char *expect, struct lm_sealed_file *f,
			     struct lm_err *err);
void lm_sealed_file_close(struct lm_sealed_file *f);

/* Reads @len bytes at @off of the layer into @buf; a short file is
 * -EUCLEAN. Returns 0 or -errno. */
int lm_sealed_file_pread(const struct lm_sealed_file *f, void *buf, size_t len,
			 uint64_t off);

/* Reads the index and the stored metadata of @f into new buffers
 * (*index: sb.index_len bytes, *meta: sb.meta_len bytes; the caller frees
 * both with free()). Bounds come from the decoded superblock, so a
 * hostile file never makes either larger than the file. */
int lm_sealed_file_sections(const struct lm_sealed_file *f, unsigned char **index,
			    unsigned char **meta, struct lm_err *err);

/* Reads and opens the metadata of @f (lm_sealed_meta_open: hashes, box
 * with @keys when encrypted, every rule). *out is freed with
 * lm_sealed_meta_free. Returns 0, -EBADMSG, -EUCLEAN, -ENOKEY (encrypted
 * and no @keys) or -errno, with @err naming the layer. */
int lm_sealed_file_meta(const struct lm_sealed_file *f, const struct lm_sealed_keys *keys,
			struct lm_sealed_meta **out, struct lm_err *err);

/* The keys of the encrypted layer @f for the open tenant @t: its DEK from
 * its slot file, then lm_sealed_keys_new (which checks the superblock's
 * MAC). Returns 0, -EINVAL for a plain layer, -EKEYREJECTED when @t is not
 * the layer's tenant (the message names the owner) or the MAC does not
 * verify, -ENOENT when the slot file is missing, or the errors of
 * lm_slotfile_open. The DEK never leaves secret memory. */
int lm_sealed_file_keys(struct lm_store *st, const struct lm_sealed_file *f,
			const struct lm_tenant *t, struct lm_sealed_keys **out,
			struct lm_err *err);

/* Removes layer @hex from @st: first its slot file (overwritten, then
 * removed, so the layer is unreadable from then on even if what follows
 * fails), then the layer file, under the store lock and holding the layer
 * file's exclusive flock throughout, so that no mount takes its shared
 * lock in between (one that opens the layer then goes on without it: see
 * lm_sealed_file_open_path). A plain layer has no slot file. Returns 0,
 * -ENOENT, -EBUSY when a mount holds the layer's shared lock (nothing is
 * removed), or -errno. */
int lm_sealed_remove(struct lm_store *st, const char *hex, struct lm_err *err);

/* ---- temporary files of imports: layers/.import-<16 hex>.lmtmp ---- */

#define LM_SEALED_TMP_PREFIX ".import-"
/* Bytes of a temporary file's name, with its NUL. */
#define LM_SEALED_TMP_NAME_MAX 48u

/* Creates a new temporary file, opened read-write, in the layers directory
 * @dfd of a store (the caller's descriptor of it, kept open until
 * lm_sealed_tmp_commit), its name into @name (LM_SEALED_TMP_NAME_MAX
 * bytes), holding its exclusive flock: the mark of a live import. Returns
 * the descriptor (the caller closes it after the commit, or after removing
 * @name on failure: closing first lets a cleaner remove it) or -errno. */
int lm_sealed_tmp_create(int dfd, char *name, size_t size);

/* Renames the temporary file @name, open as @fd, to @digest unless the
 * store has that layer, and fsyncs @dfd. The import's lock is not carried
 * over to the layer, where lm_sealed_remove would take it for a mount's.
 * Returns 0, 1 when @digest exists (@name stays, locked), -EIO when the
 * rename is done but @dfd did not sync, or -errno (@name stays, locked). */
int lm_sealed_tmp_commit(int dfd, int fd, const char *name, const char *digest);

/* Removes the temporary files of layers/ in @st whose import died: those
 * whose exclusive flock it can take, and the slot file of an encrypted one
 * that was complete (its import died between writing the slot file and the
 * rename). A live import's file is kept. Calls
 * @removed (may be NULL) with each name removed. Best effort: a file it
 * cannot open, lock or remove is left, and while an import is creating or
 * renaming its file it removes nothing (the next run will). Returns the
 * count removed, or -errno when layers/ cannot be read. */
int lm_sealed_tmp_clean(struct lm_store *st, void (*removed)(void *arg, const char *name),
			void *arg);

#endif
