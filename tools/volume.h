/* Shared by the files of `lamina volume`: volume.c (create, ls, inspect,
 * rm), volume_mount.c (mount, umount) and volume_rekey.c (rekey). */
#ifndef LM_TOOLS_VOLUME_H
#define LM_TOOLS_VOLUME_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "vault.h"

#define VOLUME_DIR "volumes"
#define VOLUME_EXTRA_MAX 8
/* The fsname of a mounted volume, so that its mount is found again:
 * "lamina-vault:" and the volume's uuid in hex. */
#define VOLUME_FSNAME_PREFIX "lamina-vault:"

/* Option values of the verbs' tables (-o is 'o'; the secret options are
 * LM_CLI_SECRET_OPTS). */
enum {
	VOLUME_OPT_TENANT = 1,
	VOLUME_OPT_CIPHER,
	VOLUME_OPT_FORCE,
};

struct volume_opts {
	struct lm_cli_secret_src src;
	const char *tenant, *cipher;
	bool force;
	const char *extra[VOLUME_EXTRA_MAX]; /* -o OPTIONS, in order */
	size_t nextra;
	const char *name, *arg2;             /* the operands */
};

/* Reads a verb's options (the common ones, @extra, and -o where @extra
 * has it) and exactly @nargs operands (described by @args in the error),
 * the first of them the volume NAME, which must be valid
 * (volume_name_check). Returns 0, -1 after --help, or an exit code
 * (message printed). */
int volume_parse(struct lm_cli *c, int argc, char **argv, const char *usage,
		 const struct option *extra, struct volume_opts *o, int nargs,
		 const char *args);

/* True when @name is a valid volume name; else prints why. */
bool volume_name_check(const char *name);

/* Opens the store of @c into *st and volume @name's directory in it into
 * *fd, and with @info reads and checks its header (volume_read; without,
 * volume_open). On success the caller closes *fd and frees *st; on failure
 * nothing is left open. Prints the error and returns an exit code, or 0. */
int volume_load(const struct lm_cli *c, const char *name, struct lm_store **st,
		int *fd, struct lm_vault_info *info);

/* The start of a verb on one existing volume (inspect, rm, rekey):
 * volume_parse with the one operand NAME, then volume_load. On success the
 * caller closes *fd and frees *st. Returns 0, -1 after --help, or an exit
 * code (message printed; nothing left open). */
int volume_begin(struct lm_cli *c, int argc, char **argv, const char *usage,
		 const struct option *extra, struct volume_opts *o,
		 struct lm_store **st, int *fd, struct lm_vault_info *info);

/* Refuses a verb that needs volume @name (of @uuid) unmounted: prints
 * where it is mounted and returns LM_EXIT_FAIL, or 0. */
int volume_not_mounted(const char *name, const unsigned char *uuid);

/* Opens <store>/volumes/@name into *fd (caller closes). Prints the error
 * and returns an exit code, or 0. */
int volume_open(struct lm_store *st, const char *name, int *fd);

/* volume_open and lm_vault_read: *fd stays open on success. */
int volume_read(struct lm_store *st, const char *name, int *fd,
		struct lm_vault_info *info);

/* True when the volume of @uuid is mounted (found by its fsname in
 * /proc/self/mountinfo); its mount point into @mp. */
bool volume_mountpoint(const unsigned char *uuid, char *mp, size_t size);

/* True when a daemon has the volume at @dirfd open: laminafs holds a
 * shared flock on a vault's root while it serves it (read from
 * /proc/locks, so the check takes no lock itself). */
bool volume_in_use(int dirfd);

/* Bytes allocated to the tree of volume @name. */
unsigned long long volume_size(struct lm_store *st, const char *name);

int volume_cmd_mount(struct lm_cli *c, int argc, char **argv);
int volume_cmd_rekey(struct lm_cli *c, int argc, char **argv);
int volume_cmd_umount(struct lm_cli *c, int argc, char **argv);

#endif
