/* The vault layer: an encrypted, writable directory (formats in
 * crypt/vault.h).
 *
 * It is built over a dir layer on the same host directory (the "host"),
 * which does the work on host paths: whiteouts and opaque markers in their
 * spellings, long paths, xattr calls. The vault translates every plaintext
 * path into a host path (each component sealed under its parent's dirid),
 * seals file contents block by block, symlink targets and xattrs, and opens
 * what it reads back, refusing anything that does not authenticate.
 *
 * Caches: the dirid and host path of directories, by plaintext path. The
 * vault's data changes only through the mount, so the cache is dropped
 * whole on the only operations that move directories (rename, rmdir).
 *
 * Locks: file contents are changed under a per-inode write lock (striped
 * by host inode) and read under its read lock, so two writers to one block
 * never lose an update and a reader never sees half a block.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <linux/falloc.h>
#include <unistd.h>

#include "aead.h"
#include "crypt.h"
#include "kdf.h"
#include "fault.h"
#include "name.h"
#include "vault.h"

#include "layer.h"
#include "tbuf.h"

#define VBS 4096u                               /* plaintext block */
#define VBOX (VBS + LM_AEAD_OVERHEAD)           /* a full block on the host */
#define VHEAD LM_VAULT_FILE_HEAD
#define HOST_MAX (3 * LM_PATH_MAX)              /* sealed paths are longer */
#define XATTR_TAG "lamina.x."                   /* after "trusted." / "user." */
#define LINK_AD "lamina.link"
#define DC_BUCKETS 4096u
#define DC_MAX 32768u
#define NLOCKS 64u
#define VTMP_PREFIX "#lm.v."                    /* work objects */

/* The constant dirid xattr names are sealed under. */
static const unsigned char xattr_dirid[LM_NAME_DIRID_BYTES] = {
	'l', 'a', 'm', 'i', 'n', 'a', '.', 'x', 'a', 't', 't', 'r', 0, 0, 0, 1,
};

/* Keys of one DEK generation; every buffer is secret memory, owned. */
struct vkeys {
	uint32_t gen;
	unsigned char *contents;        /* LM_SUBKEY_CONTENTS */
	unsigned char *meta;            /* LM_SUBKEY_METADATA */
	struct lm_name_key *names;
	struct lm_aead_key *metakey;    /* boxes of symlink targets and xattrs */
};

/* A cached directory: its dirid and host path. */
struct dce {
	struct dce *next;
	uint64_t h;
	char *path;                     /* plaintext, owned */
	char *host;                     /* owned */
	unsigned char dirid[LM_NAME_DIRID_BYTES];
};

struct lm_vault {
	struct lm_layer base;
	int lockfd;                     /* the root: flock'ed (shared by mounts, exclusive
					 * by a rekey); lamina.links/ is under it */
	struct lm_layer *host;          /* dir layer over the same root; owned */
	int workfd;
	bool durable;
	unsigned char uuid[16];
	enum lm_cipher cipher;
	struct vkeys ks[2];             /* [0] seals everything new; [1] during a rekey */
	int nks;
	unsigned char rootid[LM_NAME_DIRID_BYTES];
	char xns[16];                   /* "trusted." or "user." */
	lm_vault_report_fn report;
	void *report_ctx;
	pthread_mutex_t dc_lock;
	struct dce *dc[DC_BUCKETS];
	size_t dc_n;
	pthread_rwlock_t flock[NLOCKS];
	atomic_ulong tmpseq;
};

#define VL(l) ((struct lm_vault *)(l))

static const struct lm_layer_ops vault_ops;

/* ---- keys ---- */

static void vkeys_free(struct vkeys *k)
{
	lm_secret_free(k->contents);
	lm_secret_free(k->meta);
	lm_name_key_free(k->names);
	lm_aead_key_free(k->metakey);
	memset(k, 0, sizeof(*k));
}

static int vkeys_init(struct vkeys *k, uint32_t gen, const unsigned char *dek,
		      enum lm_cipher cipher)
{
	unsigned char *names = lm_secret_alloc(LM_KEY_BYTES);
	int rc = -ENOMEM;

	k->gen = gen;
	k->contents = lm_secret_alloc(LM_KEY_BYTES);
	k->meta = lm_secret_alloc(LM_KEY_BYTES);
	if (!names || !k->contents || !k->meta)
		goto out;
	lm_kdf_subkey(k->contents, dek, LM_SUBKEY_CONTENTS);
	lm_kdf_subkey(k->meta, dek, LM_SUBKEY_METADATA);
	lm_kdf_subkey(names, dek, LM_SUBKEY_NAMES);
	rc = lm_name_key_new(names, &k->names);
	if (rc == 0)
		rc = lm_aead_key_new(cipher, k->meta, &k->metakey);
out:
	lm_secret_free(names);
	if (rc)
		vkeys_free(k);
	return rc;
}

static struct vkeys *vkeys_gen(struct lm_vault *v, uint32_t gen)
{
	for (int i = 0; i < v->nks; i++)
		if (v->ks[i].gen == gen)
			return &v->ks[i];
	return NULL;
}

static void vreport(struct lm_vault *v, const char *path, const char *what, int64_t block)
{
	if (v->report)
		v->report(v->report_ctx, path, what, block, -EBADMSG);
}

/* ---- path translation ---- */

static uint64_t dc_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static void dc_clear_locked(struct lm_vault *v)
{
	for (size_t i = 0; i < DC_BUCKETS; i++) {
		for (struct dce *e = v->dc[i], *n; e; e = n) {
			n = e->next;
			free(e->path);
			free(e->host);
			free(e);
		}
		v->dc[i] = NULL;
	}
	v->dc_n = 0;
}

static void dc_clear(struct lm_vault *v)
{
	pthread_mutex_lock(&v->dc_lock);
	dc_clear_locked(v);
	pthread_mutex_unlock(&v->dc_lock);
}

/* Looks up PATH (LEN bytes) in the cache; copies its host path and dirid. */
static bool dc_get(struct lm_vault *v, const char *path, char *host, size_t size,
		   unsigned char *dirid)
{
	uint64_t h = dc_hash(path);
	bool found = false;

	pthread_mutex_lock(&v->dc_lock);
	for (struct dce *e = v->dc[h % DC_BUCKETS]; e; e = e->next) {
		if (e->h == h && strcmp(e->path, path) == 0 && strlen(e->host) < size) {
			strcpy(host, e->host);
			memcpy(dirid, e->dirid, LM_NAME_DIRID_BYTES);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&v->dc_lock);
	return found;
}

static void dc_put(struct lm_vault *v, const char *path, const char *host,
		   const unsigned char *dirid)
{
	struct dce *e = malloc(sizeof(*e));

	if (!e)
		return;
	e->h = dc_hash(path);
	e->path = strdup(path);
	e->host = strdup(host);
	memcpy(e->dirid, dirid, LM_NAME_DIRID_BYTES);
	if (!e->path || !e->host) {
		free(e->path);
		free(e->host);
		free(e);
		return;
	}
	pthread_mutex_lock(&v->dc_lock);
	if (v->dc_n >= DC_MAX)
		dc_clear_locked(v);
	e->next = v->dc[e->h % DC_BUCKETS];
	v->dc[e->h % DC_BUCKETS] = e;
	v->dc_n++;
	pthread_mutex_unlock(&v->dc_lock);
}

/* Reads the dirid of host directory HOSTDIR. A directory without a valid
 * one was not made by the vault: -EIO. */
static int read_dirid(struct lm_vault *v, const char *hostdir, unsigned char *dirid)
{
	char p[HOST_MAX];
	struct lm_file *f;
	ssize_t n;
	int rc = lm_path_join(p, sizeof(p), hostdir, LM_VAULT_DIRID_NAME);

	if (rc)
		return rc;
	rc = v->host->ops->open(v->host, p, O_RDONLY, 0, (uid_t)-1, (gid_t)-1, &f);
	if (rc)
		return rc == -ENOENT ? -EIO : rc;
	n = f->ops->pread(f, dirid, LM_NAME_DIRID_BYTES, 0);
	f->ops->close(f);
	if (n < 0)
		return (int)n;
	return n == LM_NAME_DIRID_BYTES ? 0 : -EIO;
}

/* The host component for NAME sealed with keys K in directory DIRID:
 * the sealed name, or its short form for long ones (then *is_long and
 * SEALED holds the full sealed name). */
static int seal_comp(const struct vkeys *k, const unsigned char *dirid, const char *name,
		     size_t len, char *comp, char *sealed, bool *is_long)
{
	ssize_t n = lm_name_seal(k->names, dirid, name, len, sealed, LM_NAME_SEALED_MAX + 1);

	if (n < 0)
		return (int)n;
	*is_long = lm_name_is_long((size_t)n);
	if (*is_long)
		lm_name_long(sealed, (size_t)n, comp);
	else
		memcpy(comp, sealed, (size_t)n + 1);
	return 0;
}

static bool host_exists(struct lm_vault *v, const char *hostpath)
{
	struct stat st;

	return v->host->ops->getattr(v->host, hostpath, &st) == 0;
}

/* A plaintext path resolved to the host. */
struct vpath {
	char host[HOST_MAX];
	char hostdir[HOST_MAX];          /* the parent's host path */
	unsigned char pdirid[LM_NAME_DIRID_BYTES];
	const char *name;                /* last component, in the caller's path; NULL for root */
	size_t namelen;
	bool is_long;
	char sealed[LM_NAME_SEALED_MAX + 1];
	const struct vkeys *ks;          /* the keys the entry's name is sealed with */
};

/* Appends "/COMP" to HOST (HL bytes long; "" stands for the root). */
static int join_at(char *host, size_t hl, size_t size, const char *comp)
{
	int n = snprintf(host + hl, size - hl, "%s%s", hl ? "/" : "", comp);

	return n < 0 || (size_t)n >= size - hl ? -ENAMETOOLONG : 0;
}

/* Appends the host component of NAME in directory (HOST, DIRID) to HOST
 * ("" for the root). During a rekey a name may still be sealed with the old
 * keys: the one that exists on the host wins, else the new keys. */
static int comp_append(struct lm_vault *v, char *host, size_t size, const unsigned char *dirid,
		       const char *name, size_t len, char *sealed, bool *is_long,
		       const struct vkeys **used)
{
	char comp[LM_NAME_SEALED_MAX + 1];
	size_t hl = strlen(host);
	int rc;

	for (int i = v->nks - 1; i >= 0; i--) {
		rc = seal_comp(&v->ks[i], dirid, name, len, comp, sealed, is_long);
		if (rc == 0)
			rc = join_at(host, hl, size, comp);
		if (rc)
			return rc;
		if (used)
			*used = &v->ks[i];
		/* The new keys (index 0) are the last tried: what does not
		 * exist yet is made with them. */
		if (i == 0 || host_exists(v, host))
			return 0;
	}
	return 0;
}

/* Resolves directory DIR into its host path and dirid. */
static int vt_dir(struct lm_vault *v, const char *dir, char *host, size_t size,
		  unsigned char *dirid)
{
	char buf[LM_PATH_MAX], sealed[LM_NAME_SEALED_MAX + 1];
	size_t plen = strlen(dir);
	bool is_long;
	int rc;

	if (plen >= sizeof(buf))
		return -ENAMETOOLONG;
	if (strcmp(dir, ".") == 0) {
		snprintf(host, size, ".");
		memcpy(dirid, v->rootid, LM_NAME_DIRID_BYTES);
		return 0;
	}
	/* The longest cached prefix, then forward from there. */
	memcpy(buf, dir, plen + 1);
	size_t done = plen;

	while (!dc_get(v, buf, host, size, dirid)) {
		char *cut = strrchr(buf, '/');

		if (!cut) {
			snprintf(host, size, ".");
			memcpy(dirid, v->rootid, LM_NAME_DIRID_BYTES);
			done = 0;
			break;
		}
		*cut = '\0';
		done = (size_t)(cut - buf);
	}
	while (done < plen) {
		const char *name = dir + done + (done ? 1 : 0);
		const char *end = strchr(name, '/');
		size_t len = end ? (size_t)(end - name) : strlen(name);

		if (strcmp(host, ".") == 0)
			host[0] = '\0';
		rc = comp_append(v, host, size, dirid, name, len, sealed, &is_long, NULL);
		if (rc)
			return rc;
		rc = read_dirid(v, host, dirid);
		if (rc)
			return rc;
		done = (size_t)(name - dir) + len;
		memcpy(buf, dir, done);
		buf[done] = '\0';
		dc_put(v, buf, host, dirid);
	}
	return 0;
}

/* Resolves PATH; p->name is NULL for the root. */
static int vt_path(struct lm_vault *v, const char *path, struct vpath *p)
{
	const char *slash = strrchr(path, '/');
	char dir[LM_PATH_MAX];
	int rc;

	p->name = NULL;
	p->is_long = false;
	p->ks = &v->ks[0];
	if (strcmp(path, ".") == 0) {
		snprintf(p->host, sizeof(p->host), ".");
		snprintf(p->hostdir, sizeof(p->hostdir), ".");
		memcpy(p->pdirid, v->rootid, LM_NAME_DIRID_BYTES);
		return 0;
	}
	if (slash) {
		if ((size_t)(slash - path) >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		p->name = slash + 1;
	} else {
		snprintf(dir, sizeof(dir), ".");
		p->name = path;
	}
	p->namelen = strlen(p->name);
	rc = vt_dir(v, dir, p->hostdir, sizeof(p->hostdir), p->pdirid);
	if (rc)
		return rc;
	if (strcmp(p->hostdir, ".") == 0)
		p->host[0] = '\0';
	else
		snprintf(p->host, sizeof(p->host), "%s", p->hostdir);
	return comp_append(v, p->host, sizeof(p->host), p->pdirid, p->name, p->namelen,
			   p->sealed, &p->is_long, &p->ks);
}

static struct vpath *vp_new(void)
{
	return malloc(sizeof(struct vpath));
}

/* Declares struct vpath *P for PATH, freed at the end of the scope. */
static void vp_free(struct vpath **p)
{
	free(*p);
}
#define VPATH(p, v, path)                                                      \
	struct vpath *p __attribute__((cleanup(vp_free))) = vp_new();        \
	do {                                                                 \
		if (!p)                                                      \
			return -ENOMEM;                                      \
		int vp_rc_ = vt_path((v), (path), p);                        \
		if (vp_rc_)                                                  \
			return vp_rc_;                                       \
	} while (0)

/* ---- long names: "<short>.name" side files ---- */

static int side_name(const struct vpath *p, char *out, size_t size)
{
	int n = snprintf(out, size, "%s.name", p->host);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int side_write(struct lm_vault *v, const struct vpath *p)
{
	char side[HOST_MAX];
	struct lm_file *f;
	size_t len = strlen(p->sealed);
	ssize_t n;
	int rc;

	if (!p->is_long)
		return 0;
	rc = side_name(p, side, sizeof(side));
	if (rc == 0)
		rc = v->host->ops->open(v->host, side, O_WRONLY | O_CREAT | O_TRUNC, 0600,
					(uid_t)-1, (gid_t)-1, &f);
	if (rc)
		return rc;
	n = f->ops->pwrite(f, p->sealed, len, 0);
	f->ops->close(f);
	return n == (ssize_t)len ? 0 : n < 0 ? (int)n : -EIO;
}

/* Drops the side file of a long name whose entry is gone. */
static void side_drop(struct lm_vault *v, const struct vpath *p)
{
	char side[HOST_MAX];

	if (p->is_long && !host_exists(v, p->host) && side_name(p, side, sizeof(side)) == 0)
		v->host->ops->unlink(v->host, side);
}

/* ---- sizes ---- */

/* The plaintext geometry of a file of HOST_SIZE bytes on the host: size,
 * number of blocks (at least 1: the last box is always there) and length
 * of the last one. Returns 0, or -EIO for a size no vault file has. */
static int geom(off_t host_size, uint64_t *size, uint64_t *nblocks, size_t *lastlen)
{
	uint64_t q, k;

	if (host_size < (off_t)(VHEAD + LM_AEAD_OVERHEAD)) {
		*size = 0, *nblocks = 0, *lastlen = 0;
		return -EIO;
	}
	q = (uint64_t)host_size - VHEAD - LM_AEAD_OVERHEAD;
	k = q == 0 ? 1 : (q - 1) / VBOX + 1;
	*nblocks = k;
	*lastlen = (size_t)(q - (k - 1) * VBOX);
	if (*lastlen > VBS) {
		*lastlen = VBS;
		*size = k * VBS;
		return -EIO;
	}
	*size = (k - 1) * VBS + *lastlen;
	return 0;
}

/* pwrite of all of BUF, or -errno (-EIO for a short write). */
static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

static off_t host_off(uint64_t block)
{
	return (off_t)(VHEAD + block * VBOX);
}

/* What stat shows of a host object. */
static off_t link_size(struct lm_vault *v, int dfd, const char *rel);

static void fix_stat(struct lm_vault *v, const char *hostpath, struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		uint64_t size, k;
		size_t last;

		geom(st->st_size, &size, &k, &last);
		st->st_size = (off_t)size;
	} else if (S_ISLNK(st->st_mode)) {
		const char *rel;
		int dfd;

		if (lm_layer_dir_at(v->host, hostpath, &dfd, &rel) == 0)
			st->st_size = link_size(v, dfd, rel);
		lm_layer_dir_at_release(v->host, dfd);
	}
}

/* ---- file headers ---- */

static void owner_tag(const struct vkeys *k, const unsigned char *dirid, const char *name,
		      size_t len, unsigned char *out)
{
	unsigned char buf[12 + LM_NAME_DIRID_BYTES + LM_NAME_MAX];

	memcpy(buf, "lamina.owner", 12);
	memcpy(buf + 12, dirid, LM_NAME_DIRID_BYTES);
	memcpy(buf + 12 + LM_NAME_DIRID_BYTES, name, len);
	lm_hash(out, LM_VAULT_OWNER, buf, 12 + LM_NAME_DIRID_BYTES + len, k->meta, LM_KEY_BYTES);
}

/* Makes the sealing key of file FID under keys K. */
static int file_key(const struct lm_vault *v, const struct vkeys *k, const unsigned char *fid,
		    struct lm_aead_key **out)
{
	unsigned char *fk = lm_secret_scratch();
	int rc;

	if (!fk)
		return -ENOMEM;
	lm_kdf_object(fk, k->contents, fid, LM_VAULT_FILE_ID);
	rc = lm_aead_key_new(v->cipher, fk, out);
	lm_crypt_wipe(fk, LM_KEY_BYTES);
	return rc;
}

/* The header MAC, keyed with the file key derived again (kept nowhere). */
static void header_mac(const struct vkeys *k, struct lm_vault_file_disk *h, unsigned char *out)
{
	unsigned char *fk = lm_secret_scratch();

	if (!fk) {
		memset(out, 0, 16);
		return;
	}
	lm_kdf_object(fk, k->contents, h->file_id, LM_VAULT_FILE_ID);
	lm_hash(out, 16, h, offsetof(struct lm_vault_file_disk, mac), fk, LM_KEY_BYTES);
	lm_crypt_wipe(fk, LM_KEY_BYTES);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void header_init(struct lm_vault_file_disk *h, const struct vkeys *k,
			const unsigned char *owner)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, "LMVF", 4);
	h->format = LM_VAULT_FILE_FORMAT;
	put32(h->generation, k->gen);
	lm_crypt_random(h->file_id, LM_VAULT_FILE_ID);
	memcpy(h->owner, owner, LM_VAULT_OWNER);
	header_mac(k, h, h->mac);
}

/* Reads and checks the header of host file FD: its keys in *ks. */
static int header_read(struct lm_vault *v, int fd, struct lm_vault_file_disk *h,
		       const struct vkeys **ks)
{
	unsigned char mac[16];
	ssize_t n = pread(fd, h, sizeof(*h), 0);

	if (n < 0)
		return -errno;
	if (n != sizeof(*h) || memcmp(h->magic, "LMVF", 4) ||
	    h->format != LM_VAULT_FILE_FORMAT)
		return -EIO;
	*ks = vkeys_gen(v, get32(h->generation));
	if (!*ks)
		return -EIO;
	header_mac(*ks, h, mac);
	return lm_crypt_equal(mac, h->mac, sizeof(mac)) ? 0 : -EIO;
}

static int header_write(int fd, const struct vkeys *k, struct lm_vault_file_disk *h)
{
	header_mac(k, h, h->mac);
	return pwrite(fd, h, sizeof(*h), 0) == (ssize_t)sizeof(*h) ? 0 : -EIO;
}

/* ---- open files ---- */

struct vfile {
	struct lm_file base;             /* base.fd = -1: the host bytes are not the file's */
	struct lm_vault *v;
	int fd;                          /* host file, read-write */
	bool append;
	const struct vkeys *ks;
	unsigned char fid[LM_VAULT_FILE_ID];
	struct lm_aead_key *key;         /* owned */
	pthread_rwlock_t *lock;          /* the inode's stripe */
	char *path;                      /* plaintext, for reports; owned */
	int64_t reported;                /* last block reported, against floods */
};

#define VF(f) ((struct vfile *)(f))

static void block_ad(const struct vfile *f, uint64_t block, bool last, unsigned char *ad)
{
	memcpy(ad, f->v->uuid, 16);
	memcpy(ad + 16, f->fid, 16);
	for (int i = 0; i < 8; i++)
		ad[32 + i] = (unsigned char)(block >> (8 * i));
	ad[40] = last;
}
#define AD_LEN 41

static int vf_geom(struct vfile *f, uint64_t *size, uint64_t *k, size_t *last)
{
	struct stat st;

	if (fstat(f->fd, &st))
		return -errno;
	return geom(st.st_size, size, k, last);
}

static void vf_report(struct vfile *f, int64_t block, const char *what)
{
	if (f->reported == block)
		return;
	f->reported = block;
	vreport(f->v, f->path, what, block);
}

/* Opens box BOX (LEN bytes) of block I into OUT. */
static int open_block(struct vfile *f, uint64_t i, bool last, const unsigned char *box,
		      size_t len, unsigned char *out)
{
	unsigned char ad[AD_LEN];
	int rc;

	if (!last && len == VBOX && lm_is_zero(box, len)) {
		memset(out, 0, VBS);
		return 0;
	}
	block_ad(f, i, last, ad);
	rc = lm_aead_open(f->key, out, box, len, ad, AD_LEN); /* short: -EINVAL */
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		vf_report(f, (int64_t)i, "block does not authenticate");
		return -EIO;
	}
	return 0;
}

/* Returns 0 or -ENOMEM (lm_aead_seal); nothing may be written then. */
static int seal_block(struct vfile *f, uint64_t i, bool last, const unsigned char *plain,
		      size_t len, unsigned char *box)
{
	unsigned char ad[AD_LEN];

	block_ad(f, i, last, ad);
	return lm_aead_seal(f->key, box, plain, len, ad, AD_LEN);
}

/* Reads and opens blocks [first, first + n) of a file of K blocks (the last
 * LAST bytes long) into PLAIN (n * VBS bytes). Returns the number of blocks
 * read before the first that fails (n: all good), or -errno when the first
 * fails. */
static ssize_t read_blocks(struct vfile *f, uint64_t first, uint64_t n, uint64_t k,
			   size_t last, unsigned char *plain)
{
	size_t hostlen = (size_t)(n * VBOX);
	unsigned char *box = lm_tbuf(LM_TB_VAULT_READBOX, hostlen);
	ssize_t got;
	uint64_t i;

	if (!box)
		return -ENOMEM;
	if (first + n == k)
		hostlen -= VBS - last;
	got = pread(f->fd, box, hostlen, host_off(first));
	if (got < 0)
		return -errno;
	if ((size_t)got < hostlen)
		memset(box + got, 0, hostlen - (size_t)got);
	for (i = 0; i < n; i++) {
		uint64_t b = first + i;
		bool is_last = b == k - 1;
		size_t blen = is_last ? last + LM_AEAD_OVERHEAD : VBOX;

		if ((size_t)got < i * VBOX + blen) {
			vf_report(f, (int64_t)b, "block is cut short");
			break;
		}
		if (open_block(f, b, is_last, box + i * VBOX, blen, plain + i * VBS))
			break;
		if (is_last)
			memset(plain + i * VBS + last, 0, VBS - last);
	}
	return i == 0 && n > 0 ? -EIO : (ssize_t)i;
}

static ssize_t vf_pread(struct lm_file *lf, void *buf, size_t len, off_t off)
{
	struct vfile *f = VF(lf);
	uint64_t size, k, first, n;
	unsigned char *plain;
	size_t last;
	ssize_t got, ret;
	int rc;

	pthread_rwlock_rdlock(f->lock);
	rc = vf_geom(f, &size, &k, &last);
	if (rc && size == 0) {
		ret = rc;
		goto out;
	}
	if ((uint64_t)off >= size || len == 0) {
		ret = 0;
		goto out;
	}
	if (len > size - (uint64_t)off)
		len = (size_t)(size - (uint64_t)off);
	first = (uint64_t)off / VBS;
	n = ((uint64_t)off + len - 1) / VBS - first + 1;
	plain = lm_tbuf(LM_TB_VAULT_PLAIN, (size_t)(n * VBS));
	if (!plain) {
		ret = -ENOMEM;
		goto out;
	}
	/* A block that fails fails the whole read: a short count would read
	 * as the end of the file (and the kernel would shrink it). The
	 * kernel reads the good pages again one by one. */
	got = read_blocks(f, first, n, k, last, plain);
	if (got < 0 || (uint64_t)got < n) {
		ret = got < 0 ? got : -EIO;
	} else {
		ret = (ssize_t)len;
		memcpy(buf, plain + (uint64_t)off - first * VBS, len);
	}
out:
	pthread_rwlock_unlock(f->lock);
	return ret;
}

/* Seals block B of a file of geometry (K, LAST) anew, as the last block
 * of LEN bytes or a full one (IS_LAST false, LEN VBS): its first bytes
 * kept, the rest zeros. For a file that grows past its old last block or
 * shrinks into an earlier one. */
static int reseal_block(struct vfile *f, uint64_t b, uint64_t k, size_t last, bool is_last,
			size_t len)
{
	unsigned char plain[VBS], box[VBOX];
	ssize_t got = read_blocks(f, b, 1, k, last, plain);
	int rc;

	if (got != 1)
		return got < 0 ? (int)got : -EIO;
	rc = seal_block(f, b, is_last, plain, len, box);
	return rc ? rc : pwrite_all(f->fd, box, len + LM_AEAD_OVERHEAD, host_off(b));
}

/* Writes LEN bytes of BUF at OFF into a file of geometry (SIZE, K, LAST),
 * with the write lock held: every block the write touches is resealed, and
 * the old last block too when the file grows past it. */
static ssize_t vf_write_locked(struct vfile *f, const unsigned char *buf, size_t len,
			       uint64_t off, uint64_t size, uint64_t k, size_t last)
{
	uint64_t end = off + len, nsize = end > size ? end : size;
	uint64_t nk = nsize == 0 ? 1 : (nsize - 1) / VBS + 1;
	uint64_t first = off / VBS, lastb = len ? (end - 1) / VBS : first;
	size_t nlast = (size_t)(nsize - (nk - 1) * VBS);
	unsigned char *plain, *box;
	uint64_t n, i;
	ssize_t got;
	int rc = 0;

	/* The old last block becomes a full one when the file grows past it. */
	if (nk > k && k - 1 < first) {
		rc = reseal_block(f, k - 1, k, last, false, VBS);
		if (rc)
			return rc;
	}
	n = lastb - first + 1;
	plain = lm_tbuf(LM_TB_VAULT_PLAIN, (size_t)(n * VBS));
	box = lm_tbuf(LM_TB_VAULT_WRITEBOX, (size_t)(n * VBOX));
	if (!plain || !box)
		return -ENOMEM;
	/* Blocks only partly written keep their other bytes. */
	for (i = 0; i < n; i++) {
		uint64_t b = first + i;
		uint64_t bstart = b * VBS, bend = bstart + VBS;
		bool whole = off <= bstart && end >= (bend < nsize ? bend : nsize);

		if (whole || b >= k) {
			memset(plain + i * VBS, 0, VBS);
			continue;
		}
		got = read_blocks(f, b, 1, k, last, plain + i * VBS);
		if (got != 1) {
			rc = got < 0 ? (int)got : -EIO;
			goto out;
		}
	}
	memcpy(plain + (off - first * VBS), buf, len);
	for (i = 0; i < n; i++) {
		uint64_t b = first + i;
		bool is_last = b == nk - 1;

		rc = seal_block(f, b, is_last, plain + i * VBS, is_last ? nlast : VBS,
				box + i * VBOX);
		if (rc)
			goto out;
	}
	{
		size_t hostlen = (size_t)(n * VBOX);

		if (lastb == nk - 1)
			hostlen -= VBS - nlast;
		rc = pwrite_all(f->fd, box, hostlen, host_off(first));
	}
out:
	return rc ? rc : (ssize_t)len;
}

static ssize_t vf_pwrite(struct lm_file *lf, const void *buf, size_t len, off_t off)
{
	struct vfile *f = VF(lf);
	uint64_t size = 0, k = 0;  /* set by vf_geom; -O3 cannot tell */
	size_t last = 0;
	ssize_t ret;
	int rc;

	if (off < 0)
		return -EINVAL;
	pthread_rwlock_wrlock(f->lock);
	rc = vf_geom(f, &size, &k, &last);
	if (rc) {
		ret = rc;
	} else {
		if (f->append)
			off = (off_t)size;
		ret = len ? vf_write_locked(f, buf, len, (uint64_t)off, size, k, last) : 0;
	}
	pthread_rwlock_unlock(f->lock);
	return ret;
}

static int vf_truncate_locked(struct vfile *f, uint64_t nsize)
{
	uint64_t size = 0, k = 0, nk;  /* set by vf_geom; -O3 cannot tell */
	size_t last = 0, nlast;
	int rc = vf_geom(f, &size, &k, &last);

	if (rc)
		return rc;
	if (nsize == size)
		return 0;
	if (nsize > size) {
		nk = (nsize - 1) / VBS + 1;
		nlast = (size_t)(nsize - (nk - 1) * VBS);
		if (nk == k) {
			/* Within the last block: write its new zero bytes. */
			unsigned char zero[VBS] = { 0 };
			ssize_t n = vf_write_locked(f, zero, (size_t)(nsize - size), size, size, k, last);

			return n < 0 ? (int)n : 0;
		}
		/* The new last block (the ones between are holes), then the
		 * old last block, now a full one. */
		unsigned char zero[VBS] = { 0 }, box[VBOX];

		rc = seal_block(f, nk - 1, true, zero, nlast, box);
		if (rc == 0)
			rc = pwrite_all(f->fd, box, nlast + LM_AEAD_OVERHEAD, host_off(nk - 1));
		return rc ? rc : reseal_block(f, k - 1, k, last, false, VBS);
	}
	/* Shrinking: the new last block keeps its first bytes. */
	nk = nsize == 0 ? 1 : (nsize - 1) / VBS + 1;
	nlast = (size_t)(nsize - (nk - 1) * VBS);
	rc = reseal_block(f, nk - 1, k, last, true, nlast);
	if (rc == 0 && ftruncate(f->fd, host_off(nk - 1) + (off_t)(nlast + LM_AEAD_OVERHEAD)))
		rc = -errno;
	return rc;
}

static int vf_ftruncate(struct lm_file *lf, off_t size)
{
	struct vfile *f = VF(lf);
	int rc;

	if (size < 0)
		return -EINVAL;
	pthread_rwlock_wrlock(f->lock);
	rc = vf_truncate_locked(f, (uint64_t)size);
	pthread_rwlock_unlock(f->lock);
	return rc;
}

static int vf_fsync(struct lm_file *lf, bool datasync)
{
	struct vfile *f = VF(lf);

	return (datasync ? fdatasync(f->fd) : fsync(f->fd)) ? -errno : 0;
}

/* Zeroes [off, off + len) inside the file (no size change). */
static int vf_zero_locked(struct vfile *f, uint64_t off, uint64_t len)
{
	uint64_t size = 0, k = 0, end;  /* set by vf_geom; -O3 cannot tell */
	size_t last = 0;
	int rc = vf_geom(f, &size, &k, &last);

	if (rc)
		return rc;
	if (off >= size)
		return 0;
	end = off + len < size ? off + len : size;
	while (off < end) {
		uint64_t b = off / VBS, bend = (b + 1) * VBS;
		uint64_t stop = end < bend ? end : bend;

		if (off == b * VBS && stop == bend && b != k - 1) {
			/* A whole block that is not the last: a hole. */
			if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      host_off(b), VBOX)) {
				static const unsigned char zero[VBOX];

				if (pwrite(f->fd, zero, VBOX, host_off(b)) != VBOX)
					return -EIO;
			}
		} else {
			unsigned char zero[VBS] = { 0 };
			ssize_t n = vf_write_locked(f, zero, (size_t)(stop - off), off, size, k, last);

			if (n < 0)
				return (int)n;
		}
		off = stop;
	}
	return 0;
}

static int vf_fallocate(struct lm_file *lf, int mode, off_t off, off_t len)
{
	struct vfile *f = VF(lf);
	uint64_t size, k;
	size_t last;
	int rc;

	if (off < 0 || len <= 0)
		return -EINVAL;
	pthread_rwlock_wrlock(f->lock);
	rc = vf_geom(f, &size, &k, &last);
	if (rc == 0) {
		if (mode == 0) {
			if ((uint64_t)(off + len) > size)
				rc = vf_truncate_locked(f, (uint64_t)(off + len));
		} else if (mode == FALLOC_FL_KEEP_SIZE) {
			rc = 0;
		} else if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
			rc = vf_zero_locked(f, (uint64_t)off, (uint64_t)len);
		} else {
			rc = -EOPNOTSUPP;
		}
	}
	pthread_rwlock_unlock(f->lock);
	return rc;
}

static off_t vf_lseek(struct lm_file *lf, off_t off, int whence)
{
	struct vfile *f = VF(lf);
	uint64_t size, k;
	size_t last;

	vf_geom(f, &size, &k, &last);
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0 || (uint64_t)off >= size)
		return -ENXIO;
	return whence == SEEK_DATA ? off : (off_t)size;
}

static int vf_fstat(struct lm_file *lf, struct stat *st)
{
	struct vfile *f = VF(lf);
	uint64_t size, k;
	size_t last;

	if (fstat(f->fd, st))
		return -errno;
	geom(st->st_size, &size, &k, &last);
	st->st_size = (off_t)size;
	return 0;
}

static void vf_close(struct lm_file *lf)
{
	struct vfile *f = VF(lf);

	close(f->fd);
	lm_aead_key_free(f->key);
	free(f->path);
	free(f);
}

static const struct lm_file_ops vault_file_ops = {
	.pread = vf_pread,
	.pwrite = vf_pwrite,
	.fsync = vf_fsync,
	.fallocate = vf_fallocate,
	.lseek = vf_lseek,
	.fstat = vf_fstat,
	.ftruncate = vf_ftruncate,
	.close = vf_close,
};

static pthread_rwlock_t *inode_lock(struct lm_vault *v, const struct stat *st)
{
	uint64_t h = (uint64_t)st->st_ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)st->st_dev;

	return &v->flock[(h >> 32) % NLOCKS];
}

/* Which directory entry a file is opened through. */
struct ventry {
	const unsigned char *dirid;
	const char *name;
	size_t len;
};

/* Wraps host file FD (owned) opened as plaintext PATH into a vfile: reads
 * and checks its header, and that it belongs to entry E (NULL: the root,
 * never a file). */
static int vfile_wrap(struct lm_vault *v, int fd, const char *path, const struct ventry *e,
		      int flags, struct lm_file **out)
{
	unsigned char owner[LM_VAULT_OWNER];
	struct lm_vault_file_disk h;
	struct vfile *f = calloc(1, sizeof(*f));
	struct stat st;
	int rc;

	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	f->base.ops = &vault_file_ops;
	f->base.fd = -1;
	f->v = v;
	f->fd = fd;
	f->append = flags & O_APPEND;
	f->reported = -2;
	f->path = strdup(path);
	if (!f->path || fstat(fd, &st)) {
		rc = f->path ? -errno : -ENOMEM;
		goto fail;
	}
	f->lock = inode_lock(v, &st);
	rc = header_read(v, fd, &h, &f->ks);
	if (rc) {
		vreport(v, path, "file header does not authenticate", -1);
		goto fail;
	}
	if (e)
		owner_tag(f->ks, e->dirid, e->name, e->len, owner);
	if (!(h.flags & LM_VAULT_FF_LINKED) && e &&
	    !lm_crypt_equal(h.owner, owner, LM_VAULT_OWNER) &&
	    !lm_crypt_equal(h.prev_owner, owner, LM_VAULT_OWNER)) {
		vreport(v, path, "file belongs to another directory entry", -1);
		rc = -EIO;
		goto fail;
	}
	memcpy(f->fid, h.file_id, LM_VAULT_FILE_ID);
	rc = file_key(v, f->ks, f->fid, &f->key);
	if (rc)
		goto fail;
	*out = &f->base;
	return 0;
fail:
	close(fd);
	free(f->path);
	free(f);
	return rc;
}

/* Opens host object P->host as a raw descriptor with FLAGS. */
static int host_openat(struct lm_vault *v, const char *host, int flags, mode_t mode)
{
	const char *rel;
	int dfd, fd, rc = lm_layer_dir_at(v->host, host, &dfd, &rel);

	if (rc) {
		lm_layer_dir_at_release(v->host, dfd);
		return rc;
	}
	fd = openat(dfd, rel, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	rc = fd < 0 ? -errno : fd;
	lm_layer_dir_at_release(v->host, dfd);
	return rc;
}

/* Moves work file TMP to host path HOST without replacing anything. */
static int host_place(struct lm_vault *v, const char *tmp, const char *host)
{
	const char *rel;
	int dfd, rc = lm_layer_dir_at(v->host, host, &dfd, &rel);

	if (rc == 0 && renameat2(v->workfd, tmp, dfd, rel, RENAME_NOREPLACE)) {
		rc = -errno;
		if (rc == -EINVAL) {
			/* No RENAME_NOREPLACE on this host: link, then unlink. */
			rc = linkat(v->workfd, tmp, dfd, rel, 0) ? -errno : 0;
			if (rc == 0)
				unlinkat(v->workfd, tmp, 0);
		}
	}
	lm_layer_dir_at_release(v->host, dfd);
	return rc;
}

static void tmp_name(struct lm_vault *v, char *out, size_t size)
{
	snprintf(out, size, VTMP_PREFIX "%d.%lu", (int)getpid(), atomic_fetch_add(&v->tmpseq, 1));
}

/* Creates a new empty vault file in the work directory: header and an
 * empty last block. Returns the descriptor (read-write) or -errno. */
/* Creates a new empty vault file REL in directory DFD: header and an
 * empty last block, written at once. Returns the descriptor (read-write)
 * or -errno (nothing left behind). A crash before the header is written
 * leaves an empty host file, which reads as EIO (as it would after a crash
 * with a temporary file renamed into place but not synced). */
static int new_file(struct lm_vault *v, int dfd, const char *rel, mode_t mode, uid_t uid,
		    gid_t gid, const unsigned char *owner, unsigned char *fid_out)
{
	unsigned char buf[VHEAD + LM_AEAD_OVERHEAD], none[1] = { 0 };
	struct lm_vault_file_disk h;
	struct vfile f = { .v = v };
	int fd, rc;

	fd = openat(dfd, rel, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
	if (fd < 0)
		return -errno;
	header_init(&h, &v->ks[0], owner);
	memcpy(f.fid, h.file_id, LM_VAULT_FILE_ID);
	rc = file_key(v, &v->ks[0], f.fid, &f.key);
	if (rc == 0) {
		memcpy(buf, &h, sizeof(h));
		rc = seal_block(&f, 0, true, none, 0, buf + VHEAD);
		lm_aead_key_free(f.key);
		if (rc == 0)
			rc = pwrite_all(fd, buf, sizeof(buf), 0);
	}
	if (rc == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid))
		rc = -errno;
	/* chown clears set-id bits: set the mode again. */
	if (rc == 0 && (mode & 07000) && fchmod(fd, mode & 07777))
		rc = -errno;
	if (rc) {
		close(fd);
		unlinkat(dfd, rel, 0);
		return rc;
	}
	if (fid_out)
		memcpy(fid_out, h.file_id, LM_VAULT_FILE_ID);
	return fd;
}

static int vault_open(struct lm_layer *l, const char *path, int flags, mode_t mode,
		      uid_t uid, gid_t gid, struct lm_file **out)
{
	struct lm_vault *v = VL(l);
	int fd, rc;

	VPATH(p, v, path);
	struct ventry e = { p->pdirid, p->name, p->namelen };

	if (flags & O_CREAT) {
		unsigned char owner[LM_VAULT_OWNER];
		const char *rel;
		int dfd = -1;

		if (!p->name)
			return -EISDIR;
		owner_tag(&v->ks[0], p->pdirid, p->name, p->namelen, owner);
		rc = side_write(v, p);
		if (rc == 0)
			rc = lm_layer_dir_at(v->host, p->host, &dfd, &rel);
		fd = rc ? rc : new_file(v, dfd, rel, mode, uid, gid, owner, NULL);
		lm_layer_dir_at_release(v->host, dfd);
		if (fd >= 0)
			return vfile_wrap(v, fd, path, &e, flags, out);
		if (fd != -EEXIST || (flags & O_EXCL)) {
			side_drop(v, p);
			return fd;
		}
		/* Someone made it first: open theirs. */
	}
	fd = host_openat(v, p->host, O_RDWR, 0);
	if (fd == -EACCES && (flags & O_ACCMODE) == O_RDONLY)
		fd = host_openat(v, p->host, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	rc = vfile_wrap(v, fd, path, p->name ? &e : NULL, flags, out);
	if (rc == 0 && (flags & O_TRUNC)) {
		rc = (*out)->ops->ftruncate(*out, 0);
		if (rc) {
			(*out)->ops->close(*out);
			*out = NULL;
		}
	}
	return rc;
}

/* ---- lookups ---- */

static int vault_lookup(struct lm_layer *l, const char *dir, const char *name,
			bool want_opaque, struct lm_lentry *out)
{
	struct lm_vault *v = VL(l);
	char path[LM_PATH_MAX];
	int rc = lm_path_join(path, sizeof(path), dir, name);

	if (rc)
		return rc;
	VPATH(p, v, path);
	rc = v->host->ops->lookup(v->host, p->hostdir, strrchr(p->host, '/') ?
				  strrchr(p->host, '/') + 1 : p->host, want_opaque, out);
	if (rc == 0 && out->kind == LM_ENT_OBJ)
		fix_stat(v, p->host, &out->st);
	return rc;
}

static int vault_getattr(struct lm_layer *l, const char *path, struct stat *st)
{
	struct lm_vault *v = VL(l);
	int rc;

	VPATH(p, v, path);
	rc = v->host->ops->getattr(v->host, p->host, st);
	if (rc == 0)
		fix_stat(v, p->host, st);
	return rc;
}

struct vit {
	struct lm_vault *v;
	const char *hostdir;
	const char *dir;                  /* plaintext, for reports */
	const unsigned char *dirid;
	lm_iter_fn fn;
	void *ctx;
};

/* Reads the sealed name of long host name COMP into SEALED. */
static int side_read(struct lm_vault *v, const char *hostdir, const char *comp, char *sealed)
{
	char side[HOST_MAX];
	struct lm_file *f;
	ssize_t n;
	int rc;

	if (snprintf(side, sizeof(side), "%s/%s.name", hostdir, comp) >= (int)sizeof(side))
		return -ENAMETOOLONG;
	rc = v->host->ops->open(v->host, strncmp(side, "./", 2) ? side : side + 2, O_RDONLY, 0,
				(uid_t)-1, (gid_t)-1, &f);
	if (rc)
		return rc;
	n = f->ops->pread(f, sealed, LM_NAME_SEALED_MAX, 0);
	f->ops->close(f);
	if (n <= 0)
		return -EIO;
	sealed[n] = '\0';
	return lm_name_long_check(comp, sealed, (size_t)n) ? 0 : -EIO;
}

static int vit_cb(void *c, const char *name, enum lm_ent_kind kind, unsigned dtype, uint64_t ino)
{
	struct vit *it = c;
	char sealed[LM_NAME_SEALED_MAX + 1], plain[LM_NAME_MAX + 1];
	const char *s = name;
	ssize_t n = -EBADMSG;

	if (strchr(name, '.')) {
		size_t len = strlen(name);

		if (strncmp(name, LM_NAME_LONG_PREFIX, strlen(LM_NAME_LONG_PREFIX)) ||
		    (len > 5 && strcmp(name + len - 5, ".name") == 0))
			return 0;
		if (side_read(it->v, it->hostdir, name, sealed)) {
			vreport(it->v, it->dir, "long name record missing or wrong", -1);
			return 0;
		}
		s = sealed;
	}
	for (int i = 0; i < it->v->nks && n < 0; i++)
		n = lm_name_open(it->v->ks[i].names, it->dirid, s, strlen(s), plain, sizeof(plain));
	if (n < 0) {
		vreport(it->v, it->dir, "entry name does not authenticate", -1);
		return 0;
	}
	return it->fn(it->ctx, plain, kind, dtype, ino);
}

static int vault_iterate(struct lm_layer *l, const char *dir, lm_iter_fn fn, void *ctx,
			 bool *opaque)
{
	struct lm_vault *v = VL(l);
	char *host = malloc(HOST_MAX);
	unsigned char dirid[LM_NAME_DIRID_BYTES];
	struct vit it = { v, host, dir, dirid, fn, ctx };
	int rc;

	if (!host)
		return -ENOMEM;
	rc = vt_dir(v, dir, host, HOST_MAX, dirid);
	if (rc == 0)
		rc = v->host->ops->iterate(v->host, host, vit_cb, &it, opaque);
	free(host);
	return rc;
}

/* ---- symlinks and xattrs ---- */

/* A symlink whose sealed target is too long for a host symlink has the
 * host target "lamina.xlink.<id>" (32 hex digits), and its sealed target
 * in the file lamina.links/<id> at the vault's root. The record goes with
 * the symlink's last name; one left by a crash is never read. */
#define XLINK_PREFIX "lamina.xlink."
#define XLINK_DIR "lamina.links"
#define XLINK_ID 16

static void link_ad(const struct lm_vault *v, unsigned char *ad)
{
	memcpy(ad, v->uuid, 16);
	memcpy(ad + 16, LINK_AD, sizeof(LINK_AD) - 1);
}
#define LINK_AD_LEN (16 + sizeof(LINK_AD) - 1)

/* The record of host target ENC into REC ("lamina.links/<id>"), or false
 * when ENC is not a record's. */
static bool xlink_record(const char *enc, char *rec, size_t size)
{
	const char *id = enc + strlen(XLINK_PREFIX);

	if (strncmp(enc, XLINK_PREFIX, strlen(XLINK_PREFIX)) || strlen(id) != 2 * XLINK_ID ||
	    strspn(id, "0123456789abcdef") != 2 * XLINK_ID)
		return false;
	snprintf(rec, size, "%s/%s", XLINK_DIR, id);
	return true;
}

/* Reads the sealed target of host symlink REL in DFD into BOX (PATH_MAX +
 * LM_AEAD_OVERHEAD bytes). Returns the box's length or -errno. */
static ssize_t link_box(struct lm_vault *v, int dfd, const char *rel, unsigned char *box)
{
	char enc[PATH_MAX], rec[64];
	ssize_t n = readlinkat(dfd, rel, enc, sizeof(enc) - 1);
	int fd;

	if (n < 0)
		return -errno;
	enc[n] = '\0';
	if (!xlink_record(enc, rec, sizeof(rec)))
		return lm_b64url_decode(box, PATH_MAX + LM_AEAD_OVERHEAD, enc, (size_t)n);
	fd = openat(v->lockfd, rec, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -EIO;
	n = read(fd, box, PATH_MAX + LM_AEAD_OVERHEAD);
	close(fd);
	return n < 0 ? -EIO : n;
}

/* Opens the target of host symlink REL in DFD into BUF (SIZE bytes, not
 * NUL-ended) with whichever keys seal it. Returns its length, or -EIO. */
static ssize_t link_read(struct lm_vault *v, int dfd, const char *rel, char *buf, size_t size)
{
	unsigned char box[PATH_MAX + LM_AEAD_OVERHEAD], plain[PATH_MAX], ad[LINK_AD_LEN];
	ssize_t raw = link_box(v, dfd, rel, box), ret = -EIO;

	link_ad(v, ad);
	for (int i = 0; raw >= (ssize_t)LM_AEAD_OVERHEAD && i < v->nks; i++) {
		if (lm_aead_open(v->ks[i].metakey, plain, box, (size_t)raw, ad, sizeof(ad)))
			continue;
		ret = raw - (ssize_t)LM_AEAD_OVERHEAD;
		if ((size_t)ret > size)
			ret = (ssize_t)size;
		memcpy(buf, plain, (size_t)ret);
		break;
	}
	lm_crypt_wipe(plain, sizeof(plain));
	return ret;
}

/* The plaintext length of host symlink REL in DFD's target. */
static off_t link_size(struct lm_vault *v, int dfd, const char *rel)
{
	char enc[PATH_MAX], rec[64];
	ssize_t n = readlinkat(dfd, rel, enc, sizeof(enc) - 1), raw;
	struct stat st;

	if (n < 0)
		return 0;
	enc[n] = '\0';
	if (!xlink_record(enc, rec, sizeof(rec)))
		raw = n * 3 / 4;
	else
		raw = fstatat(v->lockfd, rec, &st, AT_SYMLINK_NOFOLLOW) ? 0 : (ssize_t)st.st_size;
	return raw > (ssize_t)LM_AEAD_OVERHEAD ? (off_t)(raw - (ssize_t)LM_AEAD_OVERHEAD) : 0;
}

/* Makes host symlink REL in DFD holding TARGET sealed: in the host target,
 * or, too long for that (over 3,030 bytes), in a record of lamina.links/. */
static int link_make(struct lm_vault *v, int dfd, const char *rel, const char *target)
{
	size_t len = strlen(target), blen = len + LM_AEAD_OVERHEAD;
	unsigned char ad[LINK_AD_LEN], box[PATH_MAX + LM_AEAD_OVERHEAD], id[XLINK_ID];
	char enc[PATH_MAX], rec[64];
	int fd, rc = 0;

	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	link_ad(v, ad);
	rc = lm_aead_seal(v->ks[0].metakey, box, (const unsigned char *)target, len, ad, sizeof(ad));
	if (rc)
		return rc;
	if (lm_b64url_encode(enc, sizeof(enc), box, blen) >= 0)
		return symlinkat(enc, dfd, rel) ? -errno : 0;
	lm_crypt_random(id, sizeof(id));
	memcpy(enc, XLINK_PREFIX, strlen(XLINK_PREFIX));
	lm_crypt_hex(enc + strlen(XLINK_PREFIX), id, sizeof(id));
	xlink_record(enc, rec, sizeof(rec));
	if (mkdirat(v->lockfd, XLINK_DIR, 0700) && errno != EEXIST)
		return -errno;
	fd = openat(v->lockfd, rec, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = pwrite_all(fd, box, blen, 0);
	close(fd);
	if (rc == 0 && symlinkat(enc, dfd, rel))
		rc = -errno;
	if (rc)
		unlinkat(v->lockfd, rec, 0);
	return rc;
}

/* Before host object HOST goes: the record of its target when it is a
 * symlink's last name with one (into REC), else "". */
static void link_record_of(struct lm_vault *v, const char *host, char *rec, size_t size)
{
	char enc[PATH_MAX];
	const char *rel;
	struct stat st;
	ssize_t n;
	int dfd;

	rec[0] = '\0';
	if (lm_layer_dir_at(v->host, host, &dfd, &rel) == 0 &&
	    fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
	    st.st_nlink == 1 && (n = readlinkat(dfd, rel, enc, sizeof(enc) - 1)) > 0) {
		enc[n] = '\0';
		if (!xlink_record(enc, rec, size))
			rec[0] = '\0';
	}
	lm_layer_dir_at_release(v->host, dfd);
}

static ssize_t vault_readlink(struct lm_layer *l, const char *path, char *buf, size_t size)
{
	struct lm_vault *v = VL(l);
	const char *rel;
	ssize_t n;
	int dfd;

	VPATH(p, v, path);
	n = lm_layer_dir_at(v->host, p->host, &dfd, &rel);
	if (n == 0)
		n = link_read(v, dfd, rel, buf, size);
	lm_layer_dir_at_release(v->host, dfd);
	if (n == -EIO)
		vreport(v, path, "symlink target does not authenticate", -1);
	return n;
}

/* The host xattr name for NAME sealed with keys K. */
static int xname(struct lm_vault *v, const struct vkeys *k, const char *name, char *out,
		 size_t size)
{
	char sealed[LM_NAME_SEALED_MAX + 1];
	ssize_t n = lm_name_seal(k->names, xattr_dirid, name, strlen(name), sealed, sizeof(sealed));

	if (n < 0)
		return n == -ENAMETOOLONG ? -ERANGE : (int)n;
	if ((size_t)snprintf(out, size, "%s%s%s", v->xns, XATTR_TAG, sealed) >= size ||
	    strlen(out) > XATTR_NAME_MAX)
		return -ERANGE;
	return 0;
}

static void xattr_ad(struct lm_vault *v, const char *hname, unsigned char *ad, size_t *adlen)
{
	size_t n = strlen(hname);

	if (n > LM_AEAD_MAX_AD - 16)
		n = LM_AEAD_MAX_AD - 16;
	memcpy(ad, v->uuid, 16);
	memcpy(ad + 16, hname, n);
	*adlen = 16 + n;
}

static ssize_t vault_getxattr(struct lm_layer *l, const char *path, const char *name,
			      void *buf, size_t size)
{
	struct lm_vault *v = VL(l);
	char hname[XATTR_NAME_MAX + 1];
	unsigned char *box = NULL, ad[LM_AEAD_MAX_AD];
	size_t adlen;
	ssize_t n = -ENODATA;

	VPATH(p, v, path);
	for (int i = 0; i < v->nks && n == -ENODATA; i++) {
		int rc = xname(v, &v->ks[i], name, hname, sizeof(hname));

		if (rc)
			return rc == -ERANGE ? -ENODATA : rc;
		n = v->host->ops->getxattr(v->host, p->host, hname, NULL, 0);
		if (n < 0)
			continue;
		box = malloc((size_t)n + 1);
		if (!box)
			return -ENOMEM;
		n = v->host->ops->getxattr(v->host, p->host, hname, box, (size_t)n);
		if (n < (ssize_t)LM_AEAD_OVERHEAD) {
			free(box);
			return n < 0 ? n : -EIO;
		}
		unsigned char *plain = malloc((size_t)n);

		xattr_ad(v, hname, ad, &adlen);
		if (!plain || lm_aead_open(v->ks[i].metakey, plain, box, (size_t)n, ad, adlen)) {
			free(plain);
			free(box);
			if (plain)
				vreport(v, path, "xattr does not authenticate", -1);
			return plain ? -EIO : -ENOMEM;
		}
		n -= LM_AEAD_OVERHEAD;
		if (size && (size_t)n > size)
			n = -ERANGE;
		else if (size)
			memcpy(buf, plain, (size_t)n);
		free(plain);
		free(box);
	}
	return n;
}

static ssize_t vault_listxattr(struct lm_layer *l, const char *path, char *buf, size_t size)
{
	struct lm_vault *v = VL(l);
	size_t pre = strlen(v->xns) + strlen(XATTR_TAG), used = 0;
	char *raw;
	ssize_t n;

	VPATH(p, v, path);
	n = v->host->ops->listxattr(v->host, p->host, NULL, 0);
	if (n <= 0)
		return n;
	raw = malloc((size_t)n);
	if (!raw)
		return -ENOMEM;
	n = v->host->ops->listxattr(v->host, p->host, raw, (size_t)n);
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(raw + i) + 1) {
		const char *h = raw + i;
		char plain[LM_NAME_MAX + 1];
		ssize_t m = -EBADMSG;

		if (strncmp(h, v->xns, strlen(v->xns)) || strncmp(h + strlen(v->xns), XATTR_TAG,
								  strlen(XATTR_TAG)))
			continue;
		for (int k = 0; k < v->nks && m < 0; k++)
			m = lm_name_open(v->ks[k].names, xattr_dirid, h + pre, strlen(h + pre),
					 plain, sizeof(plain));
		if (m < 0) {
			vreport(v, path, "xattr name does not authenticate", -1);
			continue;
		}
		if (size) {
			if (used + (size_t)m + 1 > size) {
				free(raw);
				return -ERANGE;
			}
			memcpy(buf + used, plain, (size_t)m + 1);
		}
		used += (size_t)m + 1;
	}
	free(raw);
	return n < 0 ? n : (ssize_t)used;
}

static int set_xattr_host(struct lm_vault *v, const char *hostpath, const char *name,
			  const void *val, size_t size, int flags)
{
	char hname[XATTR_NAME_MAX + 1];
	unsigned char ad[LM_AEAD_MAX_AD], *box;
	size_t adlen;
	int rc = xname(v, &v->ks[0], name, hname, sizeof(hname));

	if (rc)
		return rc;
	if (size > XATTR_SIZE_MAX - LM_AEAD_OVERHEAD)
		return -E2BIG;
	box = malloc(size + LM_AEAD_OVERHEAD);
	if (!box)
		return -ENOMEM;
	xattr_ad(v, hname, ad, &adlen);
	rc = lm_aead_seal(v->ks[0].metakey, box, val, size, ad, adlen);
	if (rc == 0)
		rc = v->host->ops->setxattr(v->host, hostpath, hname, box,
					    size + LM_AEAD_OVERHEAD, flags);
	free(box);
	return rc;
}

static int vault_setxattr(struct lm_layer *l, const char *path, const char *name,
			  const void *val, size_t size, int flags)
{
	struct lm_vault *v = VL(l);

	VPATH(p, v, path);
	return set_xattr_host(v, p->host, name, val, size, flags);
}

static int vault_removexattr(struct lm_layer *l, const char *path, const char *name)
{
	struct lm_vault *v = VL(l);
	char hname[XATTR_NAME_MAX + 1];
	int rc = -ENODATA;

	VPATH(p, v, path);
	for (int i = 0; i < v->nks && rc == -ENODATA; i++) {
		rc = xname(v, &v->ks[i], name, hname, sizeof(hname));
		if (rc)
			return rc == -ERANGE ? -ENODATA : rc;
		rc = v->host->ops->removexattr(v->host, p->host, hname);
	}
	return rc;
}

/* ---- namespace changes ---- */

static int vault_statfs(struct lm_layer *l, struct statvfs *sv)
{
	struct lm_vault *v = VL(l);

	return v->host->ops->statfs(v->host, sv);
}

/* Makes a directory with its dirid in the work directory; returns 0. */
static int new_dir(struct lm_vault *v, const char *tmp, mode_t mode, uid_t uid, gid_t gid)
{
	unsigned char id[LM_NAME_DIRID_BYTES];
	char p[128];
	int fd, rc = 0;

	if (mkdirat(v->workfd, tmp, 0700))
		return -errno;
	lm_crypt_random(id, sizeof(id));
	snprintf(p, sizeof(p), "%s/%s", tmp, LM_VAULT_DIRID_NAME);
	fd = openat(v->workfd, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	if (fd < 0 || write(fd, id, sizeof(id)) != sizeof(id))
		rc = -EIO;
	if (fd >= 0)
		close(fd);
	if (rc == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(v->workfd, tmp, uid, gid, AT_SYMLINK_NOFOLLOW))
		rc = -errno;
	if (rc == 0 && fchmodat(v->workfd, tmp, mode & 07777, 0))
		rc = -errno;
	if (rc) {
		unlinkat(v->workfd, p, 0);
		unlinkat(v->workfd, tmp, AT_REMOVEDIR);
	}
	return rc;
}

static void drop_tmp(struct lm_vault *v, const char *tmp, bool dir)
{
	if (dir) {
		char p[NAME_MAX + sizeof(LM_VAULT_DIRID_NAME) + 2];

		snprintf(p, sizeof(p), "%s/%s", tmp, LM_VAULT_DIRID_NAME);
		unlinkat(v->workfd, p, 0);
	}
	unlinkat(v->workfd, tmp, dir ? AT_REMOVEDIR : 0);
}

/* Puts work object TMP (a directory when DIR) in place at P: its long
 * name's side record first; on failure both are gone. */
static int place_new(struct lm_vault *v, const char *tmp, const struct vpath *p, bool dir)
{
	int rc = side_write(v, p);

	if (rc == 0)
		rc = host_place(v, tmp, p->host);
	if (rc) {
		drop_tmp(v, tmp, dir);
		side_drop(v, p);
	}
	return rc;
}

static int vault_mkdir(struct lm_layer *l, const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct lm_vault *v = VL(l);
	char tmp[64];
	int rc;

	VPATH(p, v, path);
	if (host_exists(v, p->host))
		return -EEXIST;
	tmp_name(v, tmp, sizeof(tmp));
	rc = new_dir(v, tmp, mode, uid, gid);
	return rc ? rc : place_new(v, tmp, p, true);
}

static int vault_mknod(struct lm_layer *l, const char *path, mode_t mode, dev_t rdev,
		       uid_t uid, gid_t gid)
{
	struct lm_vault *v = VL(l);
	int rc;

	if (S_ISREG(mode)) {
		struct lm_file *f;

		rc = vault_open(l, path, O_CREAT | O_EXCL | O_WRONLY, mode & 07777, uid, gid, &f);
		if (rc == 0)
			f->ops->close(f);
		return rc;
	}
	VPATH(p, v, path);
	rc = side_write(v, p);
	if (rc == 0)
		rc = v->host->ops->mknod(v->host, p->host, mode, rdev, uid, gid);
	if (rc)
		side_drop(v, p);
	return rc;
}

static int vault_symlink(struct lm_layer *l, const char *target, const char *path,
			 uid_t uid, gid_t gid)
{
	struct lm_vault *v = VL(l);
	const char *rel;
	int dfd = -1, rc;

	VPATH(p, v, path);
	rc = side_write(v, p);
	if (rc == 0)
		rc = lm_layer_dir_at(v->host, p->host, &dfd, &rel);
	if (rc == 0)
		rc = link_make(v, dfd, rel, target);
	if (rc == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(dfd, rel, uid, gid, AT_SYMLINK_NOFOLLOW)) {
		rc = -errno;
		unlinkat(dfd, rel, 0);
	}
	lm_layer_dir_at_release(v->host, dfd);
	if (rc)
		side_drop(v, p);
	return rc;
}

/* Rewrites the header of regular host file HOST: FN changes it. */
static int header_update(struct lm_vault *v, const char *host,
			 void (*fn)(struct lm_vault_file_disk *h, const struct vkeys *ks,
				    const void *arg),
			 const void *arg)
{
	struct lm_vault_file_disk h;
	const struct vkeys *ks;
	struct stat st;
	int fd, rc;

	/* Only regular files have a header (opening a device would open it). */
	rc = v->host->ops->getattr(v->host, host, &st);
	if (rc || !S_ISREG(st.st_mode))
		return rc;
	fd = host_openat(v, host, O_RDWR, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	pthread_rwlock_t *lk = inode_lock(v, &st);

	pthread_rwlock_wrlock(lk);
	rc = header_read(v, fd, &h, &ks);
	if (rc == 0) {
		fn(&h, ks, arg);
		rc = header_write(fd, ks, &h);
	}
	pthread_rwlock_unlock(lk);
	close(fd);
	return rc;
}

static void mark_linked(struct lm_vault_file_disk *h, const struct vkeys *ks, const void *arg)
{
	(void)ks, (void)arg;
	h->flags |= LM_VAULT_FF_LINKED;
}

static void set_owner(struct lm_vault_file_disk *h, const struct vkeys *ks, const void *arg)
{
	const struct ventry *e = arg;

	if (h->flags & LM_VAULT_FF_LINKED)
		return;
	memcpy(h->prev_owner, h->owner, LM_VAULT_OWNER);
	owner_tag(ks, e->dirid, e->name, e->len, h->owner);
}

static int vault_link(struct lm_layer *l, const char *from, const char *to)
{
	struct lm_vault *v = VL(l);
	int rc;

	VPATH(a, v, from);
	VPATH(b, v, to);
	rc = header_update(v, a->host, mark_linked, NULL);
	if (rc == 0)
		rc = side_write(v, b);
	if (rc == 0)
		rc = v->host->ops->link(v->host, a->host, b->host);
	if (rc)
		side_drop(v, b);
	return rc;
}

static int vault_unlink(struct lm_layer *l, const char *path)
{
	struct lm_vault *v = VL(l);
	char rec[64];
	int rc;

	VPATH(p, v, path);
	link_record_of(v, p->host, rec, sizeof(rec));
	rc = v->host->ops->unlink(v->host, p->host);
	if (rc == 0) {
		side_drop(v, p);
		if (rec[0])
			unlinkat(v->lockfd, rec, 0);
	}
	return rc;
}

/* Removes what the vault keeps in host directory HOST (its dirid, side
 * files of long names that are gone) so that it can be removed; -ENOTEMPTY
 * when anything else is there. */
static int dir_empty_out(struct lm_vault *v, const char *host)
{
	const char *rel;
	struct dirent *de;
	DIR *dp;
	int dfd, fd, rc = lm_layer_dir_at(v->host, host, &dfd, &rel);

	if (rc) {
		lm_layer_dir_at_release(v->host, dfd);
		return rc;
	}
	fd = openat(dfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	lm_layer_dir_at_release(v->host, dfd);
	if (fd < 0)
		return -errno;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return -ENOMEM;
	}
	/* First pass: anything real makes it non-empty. */
	while ((de = readdir(dp)) != NULL) {
		const char *n = de->d_name;
		size_t len = strlen(n);

		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, LM_VAULT_DIRID_NAME))
			continue;
		if (len > 5 && !strcmp(n + len - 5, ".name") &&
		    !strncmp(n, LM_NAME_LONG_PREFIX, strlen(LM_NAME_LONG_PREFIX))) {
			char main[NAME_MAX + 1];
			struct stat st;

			snprintf(main, sizeof(main), "%.*s", (int)(len - 5), n);
			if (fstatat(fd, main, &st, AT_SYMLINK_NOFOLLOW) && errno == ENOENT)
				continue;
		}
		rc = -ENOTEMPTY;
		break;
	}
	if (rc == 0) {
		rewinddir(dp);
		while ((de = readdir(dp)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(fd, de->d_name, 0);
	}
	closedir(dp);
	return rc;
}

static int vault_rmdir(struct lm_layer *l, const char *path)
{
	struct lm_vault *v = VL(l);
	struct stat st;
	int rc;

	VPATH(p, v, path);
	rc = v->host->ops->getattr(v->host, p->host, &st);
	if (rc)
		return rc;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	rc = dir_empty_out(v, p->host);
	if (rc)
		return rc;
	dc_clear(v);
	rc = v->host->ops->rmdir(v->host, p->host);
	if (rc == 0)
		side_drop(v, p);
	return rc;
}

static int vault_rename(struct lm_layer *l, const char *from, const char *to, unsigned flags)
{
	struct lm_vault *v = VL(l);
	struct stat sa, sb;
	bool a_reg, b_reg = false, b_dir = false;
	int rc;

	VPATH(a, v, from);
	VPATH(b, v, to);
	rc = v->host->ops->getattr(v->host, a->host, &sa);
	if (rc)
		return rc;
	a_reg = S_ISREG(sa.st_mode);
	if (v->host->ops->getattr(v->host, b->host, &sb) == 0) {
		b_reg = S_ISREG(sb.st_mode);
		b_dir = S_ISDIR(sb.st_mode);
		if (b_dir && !(flags & RENAME_EXCHANGE) && !(flags & RENAME_NOREPLACE)) {
			if (!S_ISDIR(sa.st_mode))
				return -EISDIR;
			rc = dir_empty_out(v, b->host);
			if (rc)
				return rc;
		}
	}
	/* The files say which entries they belong to from now on. */
	struct ventry ea = { a->pdirid, a->name, a->namelen }, eb = { b->pdirid, b->name, b->namelen };

	if (a_reg) {
		rc = header_update(v, a->host, set_owner, &eb);
		if (rc)
			return rc;
	}
	if ((flags & RENAME_EXCHANGE) && b_reg) {
		rc = header_update(v, b->host, set_owner, &ea);
		if (rc)
			return rc;
	}
	if (S_ISDIR(sa.st_mode) || b_dir)
		dc_clear(v);
	/* A symlink replaced at TO takes its target's record with it. */
	char rec[64] = "";

	if (!(flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)))
		link_record_of(v, b->host, rec, sizeof(rec));
	rc = side_write(v, b);
	if (rc == 0 && (flags & RENAME_EXCHANGE))
		rc = side_write(v, a);
	if (rc == 0)
		rc = v->host->ops->rename(v->host, a->host, b->host, flags);
	if (rc == 0) {
		side_drop(v, a);
		if (rec[0])
			unlinkat(v->lockfd, rec, 0);
	} else {
		side_drop(v, b);
	}
	return rc;
}

static int vault_chmod(struct lm_layer *l, const char *path, mode_t mode)
{
	struct lm_vault *v = VL(l);

	VPATH(p, v, path);
	return v->host->ops->chmod(v->host, p->host, mode);
}

static int vault_chown(struct lm_layer *l, const char *path, uid_t uid, gid_t gid)
{
	struct lm_vault *v = VL(l);

	VPATH(p, v, path);
	return v->host->ops->chown(v->host, p->host, uid, gid);
}

static int vault_utimens(struct lm_layer *l, const char *path, const struct timespec ts[2])
{
	struct lm_vault *v = VL(l);

	VPATH(p, v, path);
	return v->host->ops->utimens(v->host, p->host, ts);
}

static int vault_truncate(struct lm_layer *l, const char *path, off_t size)
{
	struct lm_file *f;
	int rc = vault_open(l, path, O_WRONLY, 0, (uid_t)-1, (gid_t)-1, &f);

	if (rc)
		return rc;
	rc = f->ops->ftruncate(f, size);
	f->ops->close(f);
	return rc;
}

static int vault_whiteout(struct lm_layer *l, const char *path)
{
	struct lm_vault *v = VL(l);
	int rc;

	VPATH(p, v, path);
	rc = side_write(v, p);
	if (rc == 0)
		rc = v->host->ops->whiteout(v->host, p->host);
	return rc;
}

static int vault_unwhiteout(struct lm_layer *l, const char *path)
{
	struct lm_vault *v = VL(l);
	int rc;

	VPATH(p, v, path);
	rc = v->host->ops->unwhiteout(v->host, p->host);
	if (rc == 0)
		side_drop(v, p);
	return rc;
}

static int vault_set_opaque(struct lm_layer *l, const char *path)
{
	struct lm_vault *v = VL(l);

	VPATH(p, v, path);
	return v->host->ops->set_opaque(v->host, p->host);
}

static int vault_clear_whiteouts(struct lm_layer *l, const char *path)
{
	struct lm_vault *v = VL(l);

	VPATH(p, v, path);
	return v->host->ops->clear_whiteouts(v->host, p->host);
}

/* ---- copy-up ---- */

/* Seals the data of SRC into vault file FD (fresh, empty) of file id FID. */
static int copy_data_in(struct lm_vault *v, int fd, const unsigned char *fid, struct lm_file *src,
			off_t size)
{
	struct vfile f = { .base.ops = &vault_file_ops, .base.fd = -1, .v = v, .fd = fd,
			   .ks = &v->ks[0], .reported = -2, .path = (char *)"" };
	pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
	unsigned char *buf = malloc(1u << 20);
	off_t pos = 0;
	int rc;

	f.lock = &lock;
	memcpy(f.fid, fid, LM_VAULT_FILE_ID);
	if (!buf)
		return -ENOMEM;
	rc = file_key(v, &v->ks[0], fid, &f.key);
	if (rc) {
		free(buf);
		return rc;
	}
	/* Extend first so that holes of the source stay holes. */
	if (size > 0)
		rc = vf_ftruncate(&f.base, size);
	while (rc == 0 && pos < size) {
		off_t data = src->ops->lseek(src, pos, SEEK_DATA), hole;
		ssize_t n;

		if (data == -ENXIO)
			break;
		if (data < 0)
			data = pos;
		hole = src->ops->lseek(src, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		for (pos = data; rc == 0 && pos < hole; pos += n) {
			size_t want = (size_t)(hole - pos) < (1u << 20) ? (size_t)(hole - pos) : (1u << 20);

			n = src->ops->pread(src, buf, want, pos);
			if (n <= 0) {
				rc = n < 0 ? (int)n : -EIO;
				break;
			}
			n = vf_pwrite(&f.base, buf, (size_t)n, pos);
			if (n < 0)
				rc = (int)n;
		}
		pos = hole;
	}
	lm_aead_key_free(f.key);
	free(buf);
	return rc;
}

struct xcopy {
	struct lm_vault *v;
	char host[128];                  /* /proc path of the work object */
};

/* Seals one xattr of a copied-up object onto its work object. Attributes
 * the host refuses are skipped, as in the dir layer's copy-up. */
static int seal_copied_xattr(void *ctx, const char *name, const void *val, size_t len)
{
	struct xcopy *x = ctx;
	char hname[XATTR_NAME_MAX + 1];
	unsigned char ad[LM_AEAD_MAX_AD], *box;
	size_t adlen;
	int rc = 0;

	if (len > XATTR_SIZE_MAX - LM_AEAD_OVERHEAD || xname(x->v, &x->v->ks[0], name, hname,
							     sizeof(hname)))
		return 0;
	box = malloc(len + LM_AEAD_OVERHEAD);
	if (!box)
		return -ENOMEM;
	xattr_ad(x->v, hname, ad, &adlen);
	rc = lm_aead_seal(x->v->ks[0].metakey, box, val, len, ad, adlen);
	if (rc == 0 && lsetxattr(x->host, hname, box, len + LM_AEAD_OVERHEAD, 0) && errno != EPERM &&
	    errno != ENOTSUP)
		rc = -errno;
	free(box);
	return rc;
}

/* Seals every non-private xattr of SRC_PATH onto work object TMP (reached
 * through /proc: the host layer is rooted at the vault, not its work
 * directory). */
static int copy_xattrs_in(struct lm_vault *v, const char *tmp, struct lm_layer *src,
			  const char *src_path)
{
	struct xcopy x = { .v = v };

	snprintf(x.host, sizeof(x.host), "/proc/self/fd/%d/%s", v->workfd, tmp);
	return lm_layer_xattr_foreach(src, src_path, seal_copied_xattr, &x);
}

/* Gives work object TMP the owner, mode and times of ST (chmod after
 * chown: chown clears the set-id bits). */
static int work_attrs(struct lm_vault *v, const char *tmp, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchownat(v->workfd, tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) ||
	    (!S_ISLNK(st->st_mode) && fchmodat(v->workfd, tmp, st->st_mode & 07777, 0)) ||
	    utimensat(v->workfd, tmp, ts, AT_SYMLINK_NOFOLLOW))
		return -errno;
	return 0;
}

static int vault_copy_in(struct lm_layer *l, const char *path, struct lm_layer *src,
			 const char *src_path, const struct stat *st)
{
	struct lm_vault *v = VL(l);
	unsigned char owner[LM_VAULT_OWNER], fid[LM_VAULT_FILE_ID];
	bool dir = S_ISDIR(st->st_mode);
	char tmp[64];
	int rc = 0, fd = -1;

	VPATH(p, v, path);
	if (!p->name)
		return -EEXIST;
	tmp_name(v, tmp, sizeof(tmp));
	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		rc = new_dir(v, tmp, 0700, (uid_t)-1, (gid_t)-1);
		break;
	case S_IFLNK: {
		char target[PATH_MAX];
		ssize_t n = src->ops->readlink(src, src_path, target, sizeof(target) - 1);

		if (n < 0)
			return (int)n;
		target[n] = '\0';
		rc = link_make(v, v->workfd, tmp, target);
		break;
	}
	case S_IFREG: {
		struct lm_file *sf;

		owner_tag(&v->ks[0], p->pdirid, p->name, p->namelen, owner);
		fd = new_file(v, v->workfd, tmp, 0600, (uid_t)-1, (gid_t)-1, owner, fid);
		if (fd < 0)
			return fd;
		rc = src->ops->open(src, src_path, O_RDONLY, 0, (uid_t)-1, (gid_t)-1, &sf);
		if (rc == 0) {
			rc = copy_data_in(v, fd, fid, sf, st->st_size);
			sf->ops->close(sf);
		}
		if (rc == 0 && v->durable && fsync(fd))
			rc = -errno;
		close(fd);
		break;
	}
	default:
		rc = mknodat(v->workfd, tmp, st->st_mode & S_IFMT, st->st_rdev) ? -errno : 0;
	}
	if (rc) {
		drop_tmp(v, tmp, dir);
		return rc;
	}
	rc = copy_xattrs_in(v, tmp, src, src_path);
	if (rc == 0)
		rc = work_attrs(v, tmp, st);
	if (rc) {
		drop_tmp(v, tmp, dir);
		return rc;
	}
	return place_new(v, tmp, p, dir);
}

/* ---- rekey ---- */

struct rk {
	char markname[64];       /* xattr on an old inode: where its copy is */
	struct lm_vault *v;
	lm_rekey_fn fn;
	void *ctx;
	struct lm_rekey_progress p;
};

/* Reseals every xattr of host object SRC (a /proc path) that is sealed with
 * the old keys onto DST (the same object, or its new copy): the new name
 * and value set, the old name removed from SRC when SRC is DST. */
static int rk_xattrs(struct lm_vault *v, const char *src, const char *dst)
{
	size_t pre = strlen(v->xns) + strlen(XATTR_TAG);
	char *list, plain[LM_NAME_MAX + 1], hname[XATTR_NAME_MAX + 1];
	unsigned char *val = malloc(XATTR_SIZE_MAX), *pv = malloc(XATTR_SIZE_MAX);
	ssize_t len = llistxattr(src, NULL, 0);
	int rc = 0;

	if (!val || !pv || len < 0) {
		free(val);
		free(pv);
		return len < 0 && errno != ENOTSUP ? -errno : val && pv ? 0 : -ENOMEM;
	}
	list = malloc((size_t)len + 1);
	if (!list || (len = llistxattr(src, list, (size_t)len)) < 0) {
		rc = list ? -errno : -ENOMEM;
		goto out;
	}
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1) {
		const char *h = list + i;
		unsigned char ad[LM_AEAD_MAX_AD];
		size_t adlen;
		ssize_t n;

		if (strncmp(h, v->xns, strlen(v->xns)) ||
		    strncmp(h + strlen(v->xns), XATTR_TAG, strlen(XATTR_TAG)))
			continue;
		if (lm_name_open(v->ks[0].names, xattr_dirid, h + pre, strlen(h + pre), plain,
				 sizeof(plain)) >= 0) {
			/* Already new: copied as it is onto a new object. */
			if (strcmp(src, dst)) {
				n = lgetxattr(src, h, val, XATTR_SIZE_MAX);
				if (n >= 0 && lsetxattr(dst, h, val, (size_t)n, 0))
					rc = -errno;
			}
			continue;
		}
		if (lm_name_open(v->ks[1].names, xattr_dirid, h + pre, strlen(h + pre), plain,
				 sizeof(plain)) < 0)
			continue; /* not ours to open: left as it is */
		n = lgetxattr(src, h, val, XATTR_SIZE_MAX);
		xattr_ad(v, h, ad, &adlen);
		if (n < (ssize_t)LM_AEAD_OVERHEAD ||
		    lm_aead_open(v->ks[1].metakey, pv, val, (size_t)n, ad, adlen)) {
			rc = -EIO;
			break;
		}
		n -= LM_AEAD_OVERHEAD;
		rc = xname(v, &v->ks[0], plain, hname, sizeof(hname));
		if (rc)
			break;
		xattr_ad(v, hname, ad, &adlen);
		rc = lm_aead_seal(v->ks[0].metakey, val, pv, (size_t)n, ad, adlen);
		if (rc)
			break;
		if (lsetxattr(dst, hname, val, (size_t)n + LM_AEAD_OVERHEAD, 0)) {
			rc = -errno;
			break;
		}
		if (!strcmp(src, dst))
			lremovexattr(src, h);
	}
out:
	if (pv)
		lm_crypt_wipe(pv, XATTR_SIZE_MAX);
	free(list);
	free(val);
	free(pv);
	return rc;
}

static int proc_of(int dfd, const char *rel, char *out, size_t size)
{
	int n = snprintf(out, size, "/proc/self/fd/%d/%s", dfd, rel);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Makes the new-key copy of regular file OLD (descriptor DFD, name REL)
 * as work object TMP, owned by entry (DIRID, NAME). */
static int rk_file(struct lm_vault *v, int dfd, const char *rel, const struct stat *st,
		   const unsigned char *dirid, const char *name, const char *tmp)
{
	unsigned char owner[LM_VAULT_OWNER], fid[LM_VAULT_FILE_ID];
	struct lm_vault_file_disk h;
	struct lm_file *old;
	const struct vkeys *ks;
	bool linked;
	int fd, ofd, rc;

	ofd = openat(dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (ofd < 0)
		return -errno;
	rc = header_read(v, ofd, &h, &ks);
	linked = (h.flags & LM_VAULT_FF_LINKED) || st->st_nlink > 1;
	if (rc == 0)
		rc = vfile_wrap(v, ofd, name, NULL, O_RDONLY, &old);
	else
		close(ofd);
	if (rc)
		return rc;
	owner_tag(&v->ks[0], dirid, name, strlen(name), owner);
	fd = new_file(v, v->workfd, tmp, 0600, (uid_t)-1, (gid_t)-1, owner, fid);
	if (fd < 0) {
		old->ops->close(old);
		return fd;
	}
	{
		struct stat pst;

		rc = old->ops->fstat(old, &pst);
		if (rc == 0)
			rc = copy_data_in(v, fd, fid, old, pst.st_size);
	}
	old->ops->close(old);
	if (rc == 0 && linked) {
		rc = header_read(v, fd, &h, &ks);
		h.flags |= LM_VAULT_FF_LINKED;
		if (rc == 0)
			rc = header_write(fd, ks, &h);
	}
	if (rc == 0 && v->durable && fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/* Converts one entry HNAME of host directory DFD (plaintext name NAME,
 * sealed with the old keys; its new host name NEWC) by a new-key copy
 * placed under the new name before the old entry goes. */
static int rk_copy(struct rk *rk, int dfd, const char *hname, const char *newc,
		   const struct stat *st, const unsigned char *dirid, const char *name)
{
	struct lm_vault *v = rk->v;
	char tmp[64], sp[PATH_MAX], dp[PATH_MAX];
	int rc = 0;

	tmp_name(v, tmp, sizeof(tmp));
	/* Another name of a file already copied (in this run, or in an
	 * interrupted one): the old inode's mark says where the copy is. */
	if (S_ISREG(st->st_mode)) {
		char mark[HOST_MAX];
		ssize_t n = proc_of(dfd, hname, sp, sizeof(sp)) ? -1 :
			    lgetxattr(sp, rk->markname, mark, sizeof(mark) - 1);

		if (n > 0) {
			const char *rel;
			int pfd;

			/* Linked in beside, then renamed over: the new name may
			 * hold a copy an interrupted run made of this very
			 * file (it went first then; this run reached another
			 * name of the group first), which must become a name
			 * of the group's copy. */
			mark[n] = '\0';
			rc = lm_layer_dir_at(v->host, mark, &pfd, &rel);
			if (rc == 0 && linkat(pfd, rel, v->workfd, tmp, 0))
				rc = -errno;
			lm_layer_dir_at_release(v->host, pfd);
			if (rc == 0 && renameat(v->workfd, tmp, dfd, newc)) {
				rc = -errno;
				drop_tmp(v, tmp, false);
			}
			if (rc != -ENOENT)
				goto done;
			rc = 0; /* the copy is gone: copy again */
		}
	}
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		rc = rk_file(v, dfd, hname, st, dirid, name, tmp);
		rk->p.bytes += (uint64_t)st->st_size;
		break;
	case S_IFLNK: {
		char target[PATH_MAX];
		ssize_t n = link_read(v, dfd, hname, target, sizeof(target) - 1);

		if (n < 0)
			return (int)n;
		target[n] = '\0';
		rc = link_make(v, v->workfd, tmp, target);
		break;
	}
	default:
		rc = mknodat(v->workfd, tmp, st->st_mode & S_IFMT, st->st_rdev) ? -errno : 0;
	}
	if (rc)
		goto fail;
	rc = proc_of(dfd, hname, sp, sizeof(sp));
	if (rc == 0)
		rc = proc_of(v->workfd, tmp, dp, sizeof(dp));
	if (rc == 0)
		rc = rk_xattrs(v, sp, dp);
	if (rc == 0)
		rc = work_attrs(v, tmp, st);
	if (rc)
		goto fail;
	if (renameat2(v->workfd, tmp, dfd, newc, RENAME_NOREPLACE)) {
		rc = -errno;
		if (rc != -EEXIST)
			goto fail;
		/* Placed by an earlier, interrupted run. */
		drop_tmp(v, tmp, false);
		rc = 0;
	}
done:
	if (rc == 0)
		lm_fault_point("rekey: new object placed");
	return rc;
fail:
	drop_tmp(v, tmp, false);
	return rc;
}

static int rk_dir(struct rk *rk, const char *hostdir, const unsigned char *dirid, int depth);

/* One entry of a directory under rekey. */
static int rk_entry(struct rk *rk, int dfd, const char *hostdir, const char *hname,
		    const unsigned char *dirid, int depth)
{
	struct lm_vault *v = rk->v;
	char sealed[LM_NAME_SEALED_MAX + 1], plain[LM_NAME_MAX + 1];
	char newc[LM_NAME_SEALED_MAX + 1], nsealed[LM_NAME_SEALED_MAX + 1];
	char child[HOST_MAX], side[LM_NAME_SEALED_MAX + 8];
	const char *s = hname;
	bool is_long = false, wh_file = false, old_long;
	struct stat st;
	ssize_t n;
	int rc;

	if (!strncmp(hname, LM_WH_PREFIX, LM_WH_PREFIX_LEN) && strcmp(hname, LM_WH_OPAQUE)) {
		s = hname + LM_WH_PREFIX_LEN; /* a whiteout spelled as a file */
		wh_file = true;
	}
	old_long = !strncmp(s, LM_NAME_LONG_PREFIX, strlen(LM_NAME_LONG_PREFIX));
	if (strchr(s, '.') && !old_long)
		return 0;
	if (old_long) {
		size_t len = strlen(s);

		if (len > 5 && !strcmp(s + len - 5, ".name"))
			return 0;
		if (side_read(v, hostdir, s, sealed))
			return 0;
		s = sealed;
	}
	if (fstatat(dfd, hname, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (lm_name_open(v->ks[0].names, dirid, s, strlen(s), plain, sizeof(plain)) >= 0) {
		/* Already under the new keys: only a directory has more. */
		if (!S_ISDIR(st.st_mode) || wh_file)
			return 0;
		if (lm_path_join(child, sizeof(child), hostdir, hname))
			return -ENAMETOOLONG;
		unsigned char cid[LM_NAME_DIRID_BYTES];

		rc = read_dirid(v, child, cid);
		return rc ? rc : rk_dir(rk, child, cid, depth + 1);
	}
	n = lm_name_open(v->ks[1].names, dirid, s, strlen(s), plain, sizeof(plain));
	if (n < 0) {
		vreport(v, hostdir, "entry name does not authenticate (left as it is)", -1);
		return 0;
	}
	rc = seal_comp(&v->ks[0], dirid, plain, (size_t)n, newc, nsealed, &is_long);
	if (rc)
		return rc;
	if (is_long) {
		/* The new long name's side file first. */
		int fd;

		snprintf(side, sizeof(side), "%s.name", newc);
		fd = openat(dfd, side, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		rc = write(fd, nsealed, strlen(nsealed)) == (ssize_t)strlen(nsealed) ? 0 : -EIO;
		close(fd);
		if (rc)
			return rc;
	}
	if (wh_file) {
		char nh[LM_NAME_SEALED_MAX + 8];

		snprintf(nh, sizeof(nh), "%s%s", LM_WH_PREFIX, newc);
		rc = renameat(dfd, hname, dfd, nh) ? -errno : 0;
	} else if (S_ISDIR(st.st_mode)) {
		char sp[PATH_MAX];

		rc = proc_of(dfd, hname, sp, sizeof(sp));
		if (rc == 0)
			rc = rk_xattrs(v, sp, sp);
		if (rc == 0 && renameat2(dfd, hname, dfd, newc, RENAME_NOREPLACE))
			rc = -errno;
		dc_clear(v);
		if (rc == 0) {
			unsigned char cid[LM_NAME_DIRID_BYTES];

			lm_fault_point("rekey: directory renamed");
			rc = lm_path_join(child, sizeof(child), hostdir, newc);
			if (rc == 0)
				rc = read_dirid(v, child, cid);
			if (rc == 0)
				rc = rk_dir(rk, child, cid, depth + 1);
		}
	} else {
		char plainz[LM_NAME_MAX + 1];

		snprintf(plainz, sizeof(plainz), "%.*s", (int)n, plain);
		rc = rk_copy(rk, dfd, hname, newc, &st, dirid, plainz);
		if (rc == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1) {
			char sp[PATH_MAX];

			/* The old inode's other names will link to the copy. */
			rc = lm_path_join(child, sizeof(child), hostdir, newc);
			if (rc == 0)
				rc = proc_of(dfd, hname, sp, sizeof(sp));
			if (rc == 0 && lsetxattr(sp, rk->markname, child, strlen(child), 0))
				rc = -errno;
		}
		char rec[64] = "";

		if (rc == 0 && S_ISLNK(st.st_mode) && st.st_nlink == 1) {
			char enc[PATH_MAX];
			ssize_t m = readlinkat(dfd, hname, enc, sizeof(enc) - 1);

			if (m > 0) {
				enc[m] = '\0';
				if (!xlink_record(enc, rec, sizeof(rec)))
					rec[0] = '\0';
			}
		}
		if (rc == 0 && unlinkat(dfd, hname, 0) && errno != ENOENT)
			rc = -errno;
		if (rc == 0 && rec[0])
			unlinkat(v->lockfd, rec, 0);
	}
	if (rc == 0 && old_long) {
		/* The old long name's side file goes with it. */
		snprintf(side, sizeof(side), "%s.name", hname + (wh_file ? LM_WH_PREFIX_LEN : 0));
		unlinkat(dfd, side, 0);
	}
	if (rc == 0) {
		rk->p.objects++;
		if (rk->fn && rk->fn(rk->ctx, &rk->p))
			rc = -ECANCELED;
	}
	return rc;
}

static int rk_dir(struct rk *rk, const char *hostdir, const unsigned char *dirid, int depth)
{
	struct lm_vault *v = rk->v;
	const char *rel;
	struct dirent *de;
	char **names = NULL;
	size_t nn = 0, cap = 0;
	DIR *dp;
	int dfd, fd, rc;

	if (depth > 4096)
		return -ELOOP;
	rc = lm_layer_dir_at(v->host, hostdir, &dfd, &rel);
	fd = rc ? -1 : openat(dfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	lm_layer_dir_at_release(v->host, dfd);
	if (rc || fd < 0)
		return rc ? rc : -errno;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return -ENOMEM;
	}
	/* Names first: the directory changes while it is converted. */
	while ((de = readdir(dp)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (nn == cap) {
			char **nv = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*nv));

			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			names = nv;
		}
		if (!(names[nn] = strdup(de->d_name))) {
			rc = -ENOMEM;
			break;
		}
		nn++;
	}
	for (size_t i = 0; rc == 0 && i < nn; i++)
		rc = rk_entry(rk, dirfd(dp), hostdir, names[i], dirid, depth);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (rc == 0) {
		/* The directory's own xattrs (the root's: no entry holds it). */
		char sp[PATH_MAX];

		if (depth == 0 && proc_of(dirfd(dp), ".", sp, sizeof(sp)) == 0)
			rc = rk_xattrs(v, sp, sp);
	}
	closedir(dp);
	return rc;
}

int lm_layer_vault_rekey(struct lm_layer *l, lm_rekey_fn fn, void *ctx)
{
	struct lm_vault *v = VL(l);
	struct rk rk = { .v = v, .fn = fn, .ctx = ctx };
	int rc;

	if (l->ops != &vault_ops || v->nks != 2)
		return -EINVAL;
	snprintf(rk.markname, sizeof(rk.markname), "%slamina.rekeyed", v->xns);
	rc = rk_dir(&rk, ".", v->rootid, 0);
	dc_clear(v);
	return rc;
}

static void vault_free(struct lm_layer *l)
{
	struct lm_vault *v = VL(l);

	lm_layer_free(v->host);
	if (v->workfd >= 0)
		close(v->workfd);
	if (v->lockfd >= 0)
		close(v->lockfd);
	for (int i = 0; i < v->nks; i++)
		vkeys_free(&v->ks[i]);
	dc_clear(v);
	pthread_mutex_destroy(&v->dc_lock);
	for (unsigned i = 0; i < NLOCKS; i++)
		pthread_rwlock_destroy(&v->flock[i]);
	free(v);
}

static const struct lm_layer_ops vault_ops = {
	.kind = "vault",
	.lookup = vault_lookup,
	.getattr = vault_getattr,
	.iterate = vault_iterate,
	.open = vault_open,
	.readlink = vault_readlink,
	.getxattr = vault_getxattr,
	.listxattr = vault_listxattr,
	.statfs = vault_statfs,
	.mknod = vault_mknod,
	.mkdir = vault_mkdir,
	.symlink = vault_symlink,
	.link = vault_link,
	.unlink = vault_unlink,
	.rmdir = vault_rmdir,
	.rename = vault_rename,
	.chmod = vault_chmod,
	.chown = vault_chown,
	.utimens = vault_utimens,
	.truncate = vault_truncate,
	.setxattr = vault_setxattr,
	.removexattr = vault_removexattr,
	.whiteout = vault_whiteout,
	.unwhiteout = vault_unwhiteout,
	.set_opaque = vault_set_opaque,
	.clear_whiteouts = vault_clear_whiteouts,
	.copy_in = vault_copy_in,
	.free = vault_free,
};

/* Removes work objects a crash left half made. */
static void clean_work(struct lm_vault *v)
{
	int fd = dup(v->workfd);
	struct dirent *de;
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;

	if (!dp) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dp)) != NULL)
		if (strncmp(de->d_name, VTMP_PREFIX, strlen(VTMP_PREFIX)) == 0 &&
		    unlinkat(v->workfd, de->d_name, 0) && (errno == EISDIR || errno == EPERM))
			drop_tmp(v, de->d_name, true);
	closedir(dp);
}

/* Picks the xattr namespace the daemon may write on every kind of object. */
static void pick_xns(struct lm_vault *v)
{
	snprintf(v->xns, sizeof(v->xns), "%s", geteuid() == 0 ? "trusted." : "user.");
}

int lm_layer_vault_open(const struct lm_vault_cfg *cfg, struct lm_layer **out)
{
	struct lm_vault *v = calloc(1, sizeof(*v));
	const struct lm_vault_keys *keys = cfg->keys;
	char work[PATH_MAX];
	int rc;

	if (!v)
		return -ENOMEM;
	v->workfd = -1;
	v->lockfd = -1;
	pthread_mutex_init(&v->dc_lock, NULL);
	for (unsigned i = 0; i < NLOCKS; i++)
		pthread_rwlock_init(&v->flock[i], NULL);
	memcpy(v->uuid, cfg->info->uuid, 16);
	v->cipher = cfg->info->cipher;
	v->durable = cfg->durable;
	v->report = cfg->report;
	v->report_ctx = cfg->report_ctx;
	pick_xns(v);
	if (keys->rekey) {
		rc = vkeys_init(&v->ks[0], keys->next_generation, keys->next_dek, v->cipher);
		if (rc == 0)
			rc = vkeys_init(&v->ks[1], keys->generation, keys->dek, v->cipher);
		v->nks = rc == 0 ? 2 : 0;
	} else {
		rc = vkeys_init(&v->ks[0], keys->generation, keys->dek, v->cipher);
		v->nks = rc == 0 ? 1 : 0;
	}
	if (rc)
		goto fail;
	/* Mounts share the vault; a rekey has it alone. */
	v->lockfd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->lockfd < 0) {
		rc = -errno;
		goto fail;
	}
	if (flock(v->lockfd, (keys->rekey && cfg->exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB)) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	if (cfg->workdir) {
		snprintf(work, sizeof(work), "%s", cfg->workdir);
	} else if (snprintf(work, sizeof(work), "%s/lamina.work", cfg->root) >= (int)sizeof(work)) {
		rc = -ENAMETOOLONG;
		goto fail;
	} else if (mkdir(work, 0700) && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	rc = lm_layer_dir_open(cfg->root, work, cfg->durable, &v->host);
	if (rc)
		goto fail;
	v->workfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->workfd < 0) {
		rc = -errno;
		goto fail;
	}
	clean_work(v);
	rc = read_dirid(v, ".", v->rootid);
	if (rc)
		goto fail;
	v->base.ops = &vault_ops;
	v->base.dev = v->host->dev;
	v->base.writable = true;
	*out = &v->base;
	return 0;
fail:
	vault_free(&v->base);
	return rc;
}
