/* Command line and -o option parsing for laminafs.
 *
 * laminafs takes the same argv as fuse-overlayfs, so containers-storage's
 * mount_program and mount.fuse3 can call it unchanged:
 *   laminafs [SOURCE] MOUNTPOINT -o OPTS [-o OPTS...] [-f] [-d]
 *   laminafs -o OPTS MOUNTPOINT
 */
#ifndef LM_MOUNT_OPTS_H
#define LM_MOUNT_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "overlay/idmap.h"

struct lm_mount_opts {
	/* Top first; owned. A sealed layer is one item "sealed:PATH" or
	 * "sealed:DIGEST" (joined here from the two ':'-separated parts). */
	char **lowerdirs;
	size_t nlower;
	char *upperdir;         /* NULL: read-only merge; owned */
	char *workdir;          /* owned */
	char *mountpoint;       /* owned */
	char *source;           /* owned, may be NULL */
	struct lm_idmap uidmap; /* container id -> host id */
	struct lm_idmap gidmap;
	bool squash_to_root;
	long squash_uid;        /* -1 when unset */
	long squash_gid;        /* -1 when unset */
	bool static_nlink;
	bool noxattrs;
	bool fsync;             /* fsync=0 turns fsync requests into no-ops */
	bool volatile_mnt;      /* volatile: no fsync at all, including copy-up */
	bool writeback;         /* writeback=1 enables the kernel writeback cache */
	bool uring;             /* uring=0 keeps requests off io_uring queues */
	bool uring_set;         /* uring= was given */
	bool ro;
	double timeout;         /* entry/attr timeout in seconds */
	unsigned threads;       /* threads=N, 0 = default */
	bool foreground;        /* -f */
	bool debug;             /* -d */
	bool help;              /* -h / --help */
	bool version;           /* -V / --version */
	/* An encrypted upper (a vault) when tenant is set. Secrets come from
	 * a file or an inherited descriptor, never from the option string. */
	char *tenant;           /* owned, NULL: a plain upper */
	char *store;            /* owned, NULL: the default store */
	char *keyfile;          /* owned: a 32-byte key file */
	char *passfile;         /* owned: a passphrase file */
	int keyfd;              /* -1, or a descriptor holding the key file's bytes */
	int passfd;             /* -1, or a descriptor holding the passphrase */
	int cipher;             /* enum lm_cipher for a new vault, 0: the default */
	/* Sealed layers. */
	size_t cache_size;      /* bytes of opened chunks kept; default LM_CACHE_DEFAULT */
	char *io;               /* owned: "auto", "uring", "shared", "pread"; NULL: auto */
	bool odirect;           /* read layer files with O_DIRECT */
	long readahead_kb;      /* kernel read-ahead of the mount, KiB; -1: default */
	char *fuse_opts;        /* options for libfuse/kernel, comma separated; owned, may be NULL */
};

#define LM_SEALED_PREFIX "sealed:"
#define LM_CACHE_DEFAULT (64u << 20)

/* True when lowerdir item @item names a sealed layer. */
static inline bool lm_opts_is_sealed(const char *item)
{
	return __builtin_strncmp(item, LM_SEALED_PREFIX, sizeof(LM_SEALED_PREFIX) - 1) == 0;
}

/* True when a lowerdir item of @o names a sealed layer. */
bool lm_opts_has_sealed(const struct lm_mount_opts *o);

/* Parse argv into *o (zeroed and filled with defaults first). Unknown
 * options print one warning line to @warn and are dropped. Returns 0, or
 * -EINVAL with one line on @warn saying what is wrong. Caller releases *o
 * with lm_opts_release() in both cases. */
int lm_opts_parse(int argc, char **argv, struct lm_mount_opts *o, FILE *warn);
void lm_opts_release(struct lm_mount_opts *o);
void lm_opts_usage(FILE *out, const char *prog);

#endif
