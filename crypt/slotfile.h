/* Slot files: a standalone container for an object's key block, at
 * objects/<name>.slots in the store (for objects that have no header of
 * their own to embed it in).
 *
 *   0          8         10       12                 16
 *   +----------+---------+--------+------------------+-----------------+
 *   | "LMSLOTS"| format  | zero   | key block length | key block       |
 *   | \0 (8)   | (u16=1) | (2)    | (u32)            | (slot.h)        |
 *   +----------+---------+--------+------------------+-----------------+
 *
 * The file is exactly 16 + key block length bytes; the key block's MAC
 * covers the block, and the header's fields are all checked, so every
 * byte is either authenticated or must have its one valid value.
 */
#ifndef LM_SLOTFILE_H
#define LM_SLOTFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypt.h"
#include "keystore.h"
#include "slot.h"
#include "store.h"

#define LM_SLOTFILE_DIR "objects"
#define LM_SLOTFILE_SUFFIX ".slots"
#define LM_SLOTFILE_HEAD 16u
#define LM_SLOTFILE_FORMAT 1u
#define LM_SLOTFILE_MAX (LM_SLOTFILE_HEAD + LM_KEYBLOCK_MAX)

struct lm_slotfile_head_disk {
	char magic[8];
	uint8_t format[2];
	uint8_t zero[2];
	uint8_t kblen[4];
};
_Static_assert(sizeof(struct lm_slotfile_head_disk) == LM_SLOTFILE_HEAD, "slot file head");

extern const struct lm_container_ops lm_slotfile_ops;

/* Decodes a slot file's bytes. Hostile input: any bytes are safe; wrong
 * magic, size or reserved bytes, or a bad key block is -EUCLEAN, another
 * format -EPROTONOSUPPORT. */
int lm_slotfile_decode(const unsigned char *buf, size_t len, struct lm_keyblock *kb);

/* Encodes @kb (MAC under @dek) as a slot file into @out (LM_SLOTFILE_MAX
 * bytes). Returns the size or -errno. */
ssize_t lm_slotfile_encode(struct lm_keyblock *kb, const unsigned char *dek,
			   unsigned char *out, size_t outsize);

/* Creates object @name (a name like a tenant's) of the open tenant @t:
 * a random object id, @dek (32 bytes, borrowed) wrapped under the tenant's
 * newest KEK, written atomically. -EEXIST if it exists. */
int lm_slotfile_create(struct lm_store *st, const char *name,
		       const struct lm_tenant *t, const unsigned char *dek,
		       struct lm_err *err);

/* Opens object @name as tenant @t: @dek (32 bytes, caller's secret memory)
 * receives its data key. Errors as lm_keyblock_open, and -ENOENT, -EUCLEAN;
 * a failure is recorded in the audit log. */
int lm_slotfile_open(struct lm_store *st, const char *name,
		     const struct lm_tenant *t, unsigned char *dek,
		     struct lm_err *err);

/* Reads object @name's key block without opening it (for listings). */
int lm_slotfile_read(struct lm_store *st, const char *name,
		     struct lm_keyblock *kb, struct lm_err *err);

/* Overwrites and removes object @name's slot file, so its data key can no
 * longer be had; a missing one is fine. The caller holds the store lock
 * when others may be writing slot files. Returns 0 or -errno. */
int lm_slotfile_remove(struct lm_store *st, const char *name, struct lm_err *err);

#endif
