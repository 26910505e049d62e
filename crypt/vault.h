/* The vault: an encrypted, writable directory (container uppers and data
 * volumes). Every on-disk format of the vault is in this header; the layer
 * that serves it is driver/layer/layer_vault.c. All integers little-endian.
 *
 * ---- Volume header: `lamina.vault` at the vault's root ----
 *
 *   0          8        10       11          12       16
 *   +----------+--------+--------+-----------+--------+------------------+
 *   |"LMVAULT"\0| format | cipher | blk shift | flags  | volume uuid (16) |
 *   |   (8)    | (u16=1)| (1)    | (1, =12)  | (u32)  |                  |
 *   +----------+--------+--------+-----------+--------+------------------+
 *   32               40                44               48
 *   +----------------+-----------------+----------------+----------------+
 *   | created (u64,  | generation (u32)| key block len  | rekey box (80) |
 *   | unix seconds)  | DEK generation  | (u32)          | zero unless    |
 *   |                | >= 1            |                | REKEY flag     |
 *   +----------------+-----------------+----------------+----------------+
 *   128                                 128 + kblen
 *   +-----------------------------------+--------------------------------+
 *   | key block (slot.h): the DEK of    | header MAC (32): BLAKE2b-256   |
 *   | `generation`, object id = uuid    | keyed with that DEK's header   |
 *   |                                   | subkey over bytes [0, 128+kblen)|
 *   +-----------------------------------+--------------------------------+
 *
 * The rekey box exists while `lamina volume rekey` runs (flag
 * LM_VAULT_F_REKEY): the next DEK (generation + 1), sealed (aead.h box,
 * XChaCha20-Poly1305) under the current DEK's header subkey with additional
 * data "lamina.rekey" || uuid || next generation (u32). Files and names are
 * re-encrypted one by one; when all are done the header is rewritten with
 * the new DEK in the key block and no rekey box. A reader of a vault under
 * rekey holds both keys and uses the one each object says.
 *
 * The file is rewritten atomically (temporary file, fsync, rename, fsync
 * of the directory). Every byte is authenticated (the MAC) or must have
 * its one valid value. The rekey box field holds the 73-byte box (cipher
 * byte 1) and 7 zero bytes; "lamina.rekey" in its additional data is
 * written with its NUL, as every label of crypt/. Every writer of the file
 * (create, rekey, tenant rotation) holds the store lock.
 *
 * ---- Directory ids: `lamina.dirid` in every directory of the vault ----
 *
 *   16 random bytes: the id names are sealed under (name.h). The root's is
 *   written at creation. A directory is created with its dirid file in the
 *   work directory and renamed into place, so no directory lacks one.
 *
 * ---- Names ----
 *
 *   Every entry name is lm_name_seal(names key, parent dirid, name); a
 *   sealed name longer than NAME_MAX is stored under lm_name_long's short
 *   name with the sealed name in a side file "<short>.name". A host name
 *   containing '.' is never a sealed name: lamina.vault, lamina.dirid,
 *   side files and work files are the vault's own and never listed.
 *   Whiteouts are character devices 0/0 (or ".wh." files) under sealed
 *   names; opaque directories carry the overlay's opaque markers. The host
 *   learns that an entry is a whiteout, never of which name.
 *
 * ---- File contents ----
 *
 *   0       4        5       6       8            12        16
 *   +-------+--------+-------+-------+------------+---------+
 *   |"LMVF" | format | flags | zero  | generation | zero    |
 *   | (4)   | (u8=1) | (u8)  | (2)   | (u32)      | (4)     |
 *   +-------+--------+-------+-------+------------+---------+
 *   16               32              48              64              80
 *   +----------------+---------------+---------------+---------------+
 *   | file id (16)   | owner (16)    | previous      | MAC (16)      |
 *   |   random       |               | owner (16)    |               |
 *   +----------------+---------------+---------------+---------------+
 *
 *   then blocks: block i is at 80 + i * (4096 + LM_AEAD_OVERHEAD), an
 *   aead.h box of up to 4096 plaintext bytes (only the last may be short)
 *   sealed under the file key = lm_kdf_object(contents subkey of the DEK of
 *   `generation`, file id), additional data uuid || file id || i (u64).
 *   A box of all zero bytes (a hole the host keeps) reads as zeros: no
 *   valid box starts with a zero cipher byte.
 *
 *   owner = BLAKE2b-128 keyed with the metadata subkey over "lamina.owner"
 *   || parent dirid || name: which directory entry the file belongs to, so
 *   a file copied over another is caught. Renames set owner to the new
 *   entry and previous owner to the old one before the host rename (a crash
 *   between leaves a file that still opens). A file that has had more than
 *   one name (LM_VAULT_FF_LINKED) is not bound to a name. MAC = BLAKE2b-128
 *   keyed with the file key over bytes [0, 64).
 *
 *   The plaintext size is a function of the host size: n = (host - 80) /
 *   (4096 + overhead) full blocks and a last box of r = (host - 80) mod
 *   (4096 + overhead) bytes holding r - overhead bytes.
 *
 * ---- Symlinks and xattrs ----
 *
 *   A symlink's target on the host is base64url(box(target)), additional
 *   data uuid || "lamina.link". A target too long for that (over 3,030
 *   bytes) makes the host target "lamina.xlink.<id>" (32 hex digits) and
 *   the box goes into the file lamina.links/<id> at the vault's root. An xattr NAME=VALUE is stored as host xattr
 *   "<ns>.lamina.x.<lm_name_seal(names key, xattr dirid, NAME)>" (ns is
 *   trusted where the daemon may set it, else user) with value
 *   box(VALUE), additional data uuid || the host name. The xattr dirid is
 *   the constant LM_VAULT_XATTR_DIRID.
 */
#ifndef LM_VAULT_H
#define LM_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aead.h"
#include "keystore.h"
#include "slot.h"
#include "store.h"

#define LM_VAULT_HEADER_NAME "lamina.vault"
#define LM_VAULT_DIRID_NAME "lamina.dirid"
#define LM_VAULT_FORMAT 1u
#define LM_VAULT_HEAD 128u
#define LM_VAULT_MAC 32u
#define LM_VAULT_MAX (LM_VAULT_HEAD + LM_KEYBLOCK_MAX + LM_VAULT_MAC)
#define LM_VAULT_BLOCK_SHIFT 12u
#define LM_VAULT_REKEY_BOX 80u
#define LM_VAULT_F_REKEY 1u

struct lm_vault_head_disk {
	char magic[8];
	uint8_t format[2];
	uint8_t cipher;
	uint8_t block_shift;
	uint8_t flags[4];
	uint8_t uuid[16];
	uint8_t created[8];
	uint8_t generation[4];
	uint8_t kblen[4];
	uint8_t rekey[LM_VAULT_REKEY_BOX];
};
_Static_assert(sizeof(struct lm_vault_head_disk) == LM_VAULT_HEAD, "vault header size");

/* File contents. */
#define LM_VAULT_FILE_FORMAT 1u
#define LM_VAULT_FILE_HEAD 80u
#define LM_VAULT_FF_LINKED 1u
#define LM_VAULT_FILE_ID 16u
#define LM_VAULT_OWNER 16u

struct lm_vault_file_disk {
	char magic[4];
	uint8_t format;
	uint8_t flags;
	uint8_t zero[2];
	uint8_t generation[4];
	uint8_t zero2[4];
	uint8_t file_id[LM_VAULT_FILE_ID];
	uint8_t owner[LM_VAULT_OWNER];
	uint8_t prev_owner[LM_VAULT_OWNER];
	uint8_t mac[16];
};
_Static_assert(sizeof(struct lm_vault_file_disk) == LM_VAULT_FILE_HEAD, "vault file header size");

/* What lamina.vault says (no secret in it). */
struct lm_vault_info {
	unsigned char uuid[16];
	enum lm_cipher cipher;
	unsigned block_shift;
	uint32_t flags;
	uint64_t created;
	uint32_t generation;
	struct lm_keyblock kb;   /* kb.tenant is the owning tenant */
};

/* Keys of an opened vault, in secret memory: the DEK of info.generation
 * and, during a rekey, the next one. */
struct lm_vault_keys {
	uint32_t generation;
	unsigned char dek[32];
	bool rekey;
	uint32_t next_generation;
	unsigned char next_dek[32];
};

/* Decodes lamina.vault's bytes without a key. Hostile input: any bytes are
 * safe; -EUCLEAN for a damaged header, -EPROTONOSUPPORT for another format.
 * kboff/kblen say where the key block is (may be NULL). */
int lm_vault_decode(const unsigned char *buf, size_t len, struct lm_vault_info *info,
		    size_t *kboff, size_t *kblen);

/* Creates a vault in the empty (or vault-less) directory @dirfd for the
 * open tenant @t: a random uuid and DEK wrapped under the tenant's newest
 * KEK, @cipher, the root's dirid file, then lamina.vault, atomically.
 * -EEXIST when @dirfd already holds a vault, -ENOTSUP for a cipher this
 * machine lacks, -ESTALE when the tenant was rotated since @t was opened
 * (-EKEYREVOKED: shredded).
 * @info (may be NULL) receives the header. Appends an audit record
 * "vault.create". Takes the store lock unless the caller holds it. */
int lm_vault_create(struct lm_store *st, int dirfd, const struct lm_tenant *t,
		    enum lm_cipher cipher, const char *what,
		    struct lm_vault_info *info, struct lm_err *err);

/* Reads and decodes @dirfd's lamina.vault (no key needed). -ENOENT when
 * there is none (the message says the directory is not a vault). */
int lm_vault_read(int dirfd, const char *what, struct lm_vault_info *info,
		  struct lm_err *err);

/* Opens the vault in @dirfd as tenant @t: the key block and the header MAC
 * verified, the rekey box opened if there is one. @keys is the caller's
 * secret memory (zeroed on failure). @what names the vault in messages.
 * Errors as lm_keyblock_open: -EKEYREJECTED names the owning tenant;
 * -EKEYREVOKED when the owning tenant has been shredded (even for a
 * caller still holding its keys); -EBADMSG for a header MAC mismatch. A
 * failure is recorded in the audit log ("vault.open"). */
int lm_vault_open(struct lm_store *st, int dirfd, const struct lm_tenant *t,
		  const char *what, struct lm_vault_info *info,
		  struct lm_vault_keys *keys, struct lm_err *err);

/* lm_vault_open's key work on a lamina.vault already read into @buf (@len
 * bytes): decode, the key block opened as tenant @tenant holding @keks
 * (@nkeks unsealed versions), the header MAC, the rekey box. Hostile
 * input: any bytes are safe; errors as lm_vault_decode and
 * lm_keyblock_open, -EBADMSG for a header MAC or rekey box that does not
 * verify. @keys (caller's secret memory) is zeroed on failure. No audit
 * record and no check that the tenant was shredded: lm_vault_open does
 * both. */
int lm_vault_unlock(const unsigned char *buf, size_t len, const char *tenant,
		    const struct lm_kek *keks, size_t nkeks, const char *what,
		    struct lm_vault_info *info, struct lm_vault_keys *keys,
		    struct lm_err *err);

/* Starts (or resumes) a rekey: when the header has no rekey box, a new DEK
 * is made and the header rewritten with it in the box. @keys must come
 * from lm_vault_open and is updated (rekey, next_*). -ESTALE when the
 * header changed since (another rekey). Rekey calls take the store lock
 * unless the caller holds it, and append an audit record "vault.rekey". */
int lm_vault_rekey_begin(struct lm_store *st, int dirfd, const struct lm_tenant *t,
			 struct lm_vault_info *info, struct lm_vault_keys *keys,
			 struct lm_err *err);

/* Ends a rekey: the header rewritten with the next DEK wrapped under the
 * tenant's newest KEK, generation + 1, no rekey box. */
int lm_vault_rekey_finish(struct lm_store *st, int dirfd, const struct lm_tenant *t,
			  struct lm_vault_info *info, struct lm_vault_keys *keys,
			  struct lm_err *err);

/* Vaults outside the store (container uppers) are registered so that
 * rotation finds them: <store>/vaults/<uuid hex>.path holds the absolute
 * path of the vault's directory. Registering again replaces the record.
 * A vault made outside the store is created and registered under one
 * lm_store_lock, so that no rotation runs between the two (it would miss
 * the vault and retire the only key version it has a slot for). */
int lm_vault_register(struct lm_store *st, const char *abs_dir,
		      const unsigned char *uuid, struct lm_err *err);
int lm_vault_unregister(struct lm_store *st, const unsigned char *uuid);

/* The key slot container kind for rotation: volumes/<name>/lamina.vault
 * and every registered vault whose header still has the registered uuid. */
extern const struct lm_container_ops lm_vault_container_ops;

#endif
