/* lamina volume create|ls|inspect|rm: data volumes, vaults at
 * <store>/volumes/NAME (crypt/vault.h). Mounting is in volume_mount.c. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"
#include "fileio.h"
#include "vault.h"
#include "volume.h"

static const char volume_usage[] =
	"Usage: lamina volume VERB [OPTIONS]\n"
	"\n"
	"  create NAME --tenant T [--cipher CIPHER] [--key-file FILE | --passphrase-file FILE]\n"
	"  ls\n"
	"  inspect NAME\n"
	"  rm NAME [--force]\n"
	"  mount NAME MOUNTPOINT [-o OPTIONS] [--key-file FILE | --passphrase-file FILE]\n"
	"  umount MOUNTPOINT|NAME\n"
	"  rekey NAME [--key-file FILE | --passphrase-file FILE]\n"
	"\n"
	"A volume is an encrypted directory at <store>/volumes/NAME, readable only\n"
	"with its tenant's key. Every verb takes --store DIR, --json and --help.\n";

static const char create_usage[] =
	"Usage: lamina volume create NAME --tenant T [OPTIONS]\n"
	"\n"
	"Creates volume NAME (1-63 letters, digits, '.', '_', '-'; starting with a\n"
	"letter or digit) owned by tenant T: a new random data key, wrapped under the\n"
	"tenant's current key version. Needs the tenant's secret.\n"
	"\n"
	"  --tenant T              the owning tenant (required)\n"
	"  --cipher CIPHER         aes256gcm or xchacha20poly1305 (default: AES-256-GCM\n"
	"                          where the CPU accelerates it, else XChaCha20-Poly1305)\n"
	LM_CLI_SECRET_HELP;

static const char ls_usage[] =
	"Usage: lamina volume ls [--store DIR] [--json]\n"
	"\n"
	"Lists the volumes of the store: name, tenant, cipher, uuid, creation time\n"
	"and size on disk. Needs no secret.\n";

static const char inspect_usage[] =
	"Usage: lamina volume inspect NAME [--store DIR] [--json]\n"
	"\n"
	"Shows a volume's header: uuid, tenant, cipher, block size, creation time,\n"
	"data key generation, its key slots and the state of their tenant key\n"
	"versions, whether a rekey is in progress, and where it is mounted. Needs no\n"
	"secret.\n";

static const char rm_usage[] =
	"Usage: lamina volume rm NAME [--force]\n"
	"\n"
	"Removes volume NAME and all of its data. Refused while it is mounted. Asks\n"
	"for confirmation on a terminal; --force skips the question and is required\n"
	"when there is no terminal. Needs no secret. Takes --store DIR, --json, --help.\n";

static bool volume_opt(void *ctx, int opt, const char *arg)
{
	struct volume_opts *o = ctx;

	if (lm_cli_secret_opt(&o->src, opt, arg))
		return true;
	switch (opt) {
	case VOLUME_OPT_TENANT:
		o->tenant = arg;
		return true;
	case VOLUME_OPT_CIPHER:
		o->cipher = arg;
		return true;
	case VOLUME_OPT_FORCE:
		o->force = true;
		return true;
	case 'o':
		if (o->nextra < VOLUME_EXTRA_MAX) {
			o->extra[o->nextra++] = arg;
			return true;
		}
		return false;
	}
	return false;
}

int volume_parse(struct lm_cli *c, int argc, char **argv, const char *usage,
		 const struct option *extra, struct volume_opts *o, int nargs,
		 const char *args)
{
	int rc;

	memset(o, 0, sizeof(*o));
	rc = lm_cli_parse(c, argc, argv, usage, extra, volume_opt, o, nargs, args);
	if (rc)
		return rc;
	o->name = nargs ? argv[optind] : NULL;
	o->arg2 = nargs > 1 ? argv[optind + 1] : NULL;
	if (o->name && !volume_name_check(o->name))
		return LM_EXIT_USAGE;
	return 0;
}

bool volume_name_check(const char *name)
{
	if (lm_tenant_name_valid(name))
		return true;
	lm_cli_error("invalid volume name '%s': use 1 to %u letters, digits, '.', '_' or '-', starting with a letter or digit",
		     name, LM_TENANT_MAX);
	return false;
}

int volume_open(struct lm_store *st, const char *name, int *fd)
{
	char rel[128];
	int dfd;

	snprintf(rel, sizeof(rel), VOLUME_DIR "/%s", name);
	dfd = lm_store_dir(st, rel, false);
	if (dfd == -ENOENT || dfd == -ENOTDIR || dfd == -ELOOP) {
		lm_cli_error("no volume %s in store %s (see lamina volume ls)", name, st->path);
		return LM_EXIT_NOTFOUND;
	}
	if (dfd < 0) {
		lm_cli_error("cannot open %s/%s: %s", st->path, rel, strerror(-dfd));
		return LM_EXIT_FAIL;
	}
	*fd = dfd;
	return 0;
}

int volume_read(struct lm_store *st, const char *name, int *fd,
		struct lm_vault_info *info)
{
	struct lm_err err = { "" };
	char what[96];
	int rc = volume_open(st, name, fd);

	if (rc)
		return rc;
	snprintf(what, sizeof(what), "volume %s", name);
	rc = lm_vault_read(*fd, what, info, &err);
	if (rc) {
		close(*fd);
		*fd = -1;
		return lm_cli_fail(rc == -ENOENT ? -EUCLEAN : rc, &err);
	}
	return 0;
}

int volume_load(const struct lm_cli *c, const char *name, struct lm_store **st,
		int *fd, struct lm_vault_info *info)
{
	int rc = lm_cli_store(c, false, st);

	if (rc)
		return rc;
	rc = info ? volume_read(*st, name, fd, info) : volume_open(*st, name, fd);
	if (rc) {
		lm_store_free(*st);
		*st = NULL;
	}
	return rc;
}

int volume_begin(struct lm_cli *c, int argc, char **argv, const char *usage,
		 const struct option *extra, struct volume_opts *o,
		 struct lm_store **st, int *fd, struct lm_vault_info *info)
{
	int rc = volume_parse(c, argc, argv, usage, extra, o, 1, "exactly one volume NAME");

	return rc ? rc : volume_load(c, o->name, st, fd, info);
}

int volume_not_mounted(const char *name, const unsigned char *uuid)
{
	char mp[PATH_MAX];

	if (!volume_mountpoint(uuid, mp, sizeof(mp)))
		return 0;
	lm_cli_error("volume %s is mounted at %s: run lamina volume umount %s first",
		     name, mp, name);
	return LM_EXIT_FAIL;
}

static int cipher_parse(const char *s, enum lm_cipher *out)
{
	if (!s) {
		*out = lm_aead_default();
		return 0;
	}
	if (!strcmp(s, "xchacha20poly1305") || !strcmp(s, "xchacha20-poly1305"))
		*out = LM_CIPHER_XCHACHA20POLY1305;
	else if (!strcmp(s, "aes256gcm") || !strcmp(s, "aes-256-gcm"))
		*out = LM_CIPHER_AES256GCM;
	else {
		lm_cli_error("unknown --cipher '%s': use aes256gcm or xchacha20poly1305", s);
		return LM_EXIT_USAGE;
	}
	if (!lm_aead_available(*out)) {
		lm_cli_error("cipher %s is not available on this machine (no CPU support): use xchacha20poly1305",
			     s);
		return LM_EXIT_FAIL;
	}
	return 0;
}

static int rm_one(const char *p, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb, (void)f;
	if (type == FTW_DNR)
		return -1;
	return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes the tree at @path; FTW_MOUNT: never into a file system mounted
 * inside it. Returns 0 or -errno. */
static int rm_tree(const char *path)
{
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

/* Makes <store>/volumes/@name (0700) and opens it. */
static int create_dir(struct lm_store *st, const char *name, int *fd)
{
	int vfd = lm_store_dir(st, VOLUME_DIR, true), rc = 0;

	if (vfd < 0) {
		lm_cli_error("cannot create %s/%s: %s", st->path, VOLUME_DIR, strerror(-vfd));
		return LM_EXIT_FAIL;
	}
	if (mkdirat(vfd, name, 0700) < 0) {
		rc = errno;
		if (rc == EEXIST)
			lm_cli_error("volume %s already exists (see lamina volume inspect %s)",
				     name, name);
		else
			lm_cli_error("cannot create %s/%s/%s: %s", st->path, VOLUME_DIR,
				     name, strerror(rc));
		close(vfd);
		return LM_EXIT_FAIL;
	}
	*fd = openat(vfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0) {
		lm_cli_error("cannot open %s/%s/%s: %s", st->path, VOLUME_DIR, name,
			     strerror(errno));
		rc = LM_EXIT_FAIL;
	}
	close(vfd);
	return rc;
}

static void print_created(const struct lm_cli *c, const char *name,
			  const struct lm_vault_info *in)
{
	char uuid[33];

	lm_crypt_hex(uuid, in->uuid, sizeof(in->uuid));
	if (c->json) {
		printf("{\"volume\":");
		lm_json_str(stdout, name);
		printf(",\"tenant\":");
		lm_json_str(stdout, in->kb.tenant);
		printf(",\"cipher\":\"%s\",\"uuid\":\"%s\",\"key_version\":%u}\n",
		       lm_aead_name(in->cipher), uuid, (unsigned)in->kb.slots[0].version);
	} else {
		printf("created volume %s (tenant %s, %s, uuid %s)\n", name,
		       in->kb.tenant, lm_aead_name(in->cipher), uuid);
	}
}

/* With the secret and the store open: the tenant, the directory, the vault. */
static int create_vault(struct lm_cli *c, struct lm_store *st,
			const struct volume_opts *o, enum lm_cipher cipher,
			const struct lm_tenant_secret *sec)
{
	struct lm_err err = { "" };
	struct lm_vault_info info;
	struct lm_tenant *t;
	char what[96], path[PATH_MAX];
	int fd, rc = lm_tenant_open(st, o->tenant, sec, &t, &err);

	if (rc)
		return lm_cli_fail(rc, &err);
	rc = create_dir(st, o->name, &fd);
	if (rc)
		goto out_tenant;
	snprintf(what, sizeof(what), "volume %s", o->name);
	rc = lm_vault_create(st, fd, t, cipher, what, &info, &err);
	close(fd);
	if (rc) {
		rc = lm_cli_fail(rc, &err);
		/* Nothing half made is left behind. */
		snprintf(path, sizeof(path), "%s/" VOLUME_DIR "/%s", st->path, o->name);
		rm_tree(path);
		goto out_tenant;
	}
	print_created(c, o->name, &info);
out_tenant:
	lm_tenant_free(t);
	return rc;
}

static int cmd_create(struct lm_cli *c, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "tenant", required_argument, NULL, VOLUME_OPT_TENANT },
		{ "cipher", required_argument, NULL, VOLUME_OPT_CIPHER },
		LM_CLI_SECRET_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	enum lm_cipher cipher;
	struct lm_cli_secret s;
	struct volume_opts o;
	struct lm_store *st;
	char rel[128];
	int rc = volume_parse(c, argc, argv, create_usage, extra, &o, 1,
				  "exactly one volume NAME");

	if (rc)
		return rc < 0 ? 0 : rc;
	if (!o.tenant) {
		lm_cli_error("volume create needs --tenant T: the tenant that owns the volume");
		return LM_EXIT_USAGE;
	}
	rc = cipher_parse(o.cipher, &cipher);
	if (rc)
		return rc;
	rc = lm_cli_store(c, false, &st);
	if (rc)
		return rc;
	rc = lm_cli_tenant_check(st, o.tenant, &o.src);
	if (rc)
		goto out_store;
	snprintf(rel, sizeof(rel), VOLUME_DIR "/%s", o.name);
	if (faccessat(st->fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		lm_cli_error("volume %s already exists (see lamina volume inspect %s)",
			     o.name, o.name);
		rc = LM_EXIT_FAIL;
		goto out_store;
	}
	rc = lm_cli_secret_get(&o.src, o.tenant, false, &s);
	if (rc)
		goto out_store;
	rc = create_vault(c, st, &o, cipher, &s.sec);
	lm_cli_secret_free(&s);
out_store:
	lm_store_free(st);
	return rc;
}

/* ---- ls --------------------------------------------------------------- */

static unsigned long long du_total;

static int du_one(const char *p, const struct stat *sb, int type, struct FTW *f)
{
	(void)p, (void)type, (void)f;
	du_total += (unsigned long long)sb->st_blocks * 512u;
	return 0;
}

/* Bytes allocated to the tree of volume @name (hard links counted each
 * time they are seen). */
unsigned long long volume_size(struct lm_store *st, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/" VOLUME_DIR "/%s", st->path, name);
	du_total = 0;
	nftw(path, du_one, 16, FTW_PHYS | FTW_MOUNT);
	return du_total;
}

static void human_size(char *out, size_t size, unsigned long long b)
{
	static const char units[] = "KMGTPE";
	double v = (double)b;
	int u = -1;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(out, size, "%llu", b);
	else
		snprintf(out, size, "%.1f%c", v, units[u]);
}

static void ls_row(const struct lm_cli *c, struct lm_store *st, const char *name,
		   int fd, const struct lm_vault_info *in, bool first)
{
	char uuid[33], when[32], size[32], mp[PATH_MAX];
	unsigned long long bytes = volume_size(st, name);
	bool mounted;

	lm_crypt_hex(uuid, in->uuid, sizeof(in->uuid));
	lm_cli_time(when, sizeof(when), in->created);
	if (!c->json) {
		human_size(size, sizeof(size), bytes);
		printf("%-24s %-16s %-18s %s %-20s %s\n", name, in->kb.tenant,
		       lm_aead_name(in->cipher), uuid, when, size);
		return;
	}
	mounted = volume_mountpoint(in->uuid, mp, sizeof(mp)) || volume_in_use(fd);
	printf("%s{\"name\":", first ? "" : ",");
	lm_json_str(stdout, name);
	printf(",\"tenant\":");
	lm_json_str(stdout, in->kb.tenant);
	printf(",\"cipher\":\"%s\",\"uuid\":\"%s\",\"created\":\"%s\",\"size\":%llu,\"generation\":%u,\"rekey\":%s,\"mounted\":%s}",
	       lm_aead_name(in->cipher), uuid, when, bytes, (unsigned)in->generation,
	       in->flags & LM_VAULT_F_REKEY ? "true" : "false", mounted ? "true" : "false");
}

static int cmd_ls(struct lm_cli *c, int argc, char **argv)
{
	struct volume_opts o;
	struct lm_store *st;
	char **names;
	size_t n, shown = 0;
	int rc = volume_parse(c, argc, argv, ls_usage, NULL, &o, 0, ""), worst = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = lm_cli_store(c, false, &st);
	if (rc)
		return rc;
	rc = lm_store_names(st, VOLUME_DIR, false, &names, &n);
	if (rc) {
		lm_store_free(st);
		return lm_cli_fail(rc, NULL);
	}
	if (c->json)
		printf("[");
	else
		printf("%-24s %-16s %-18s %-32s %-20s %s\n", "VOLUME", "TENANT", "CIPHER",
		       "UUID", "CREATED", "SIZE");
	for (size_t i = 0; i < n; i++) {
		struct lm_vault_info in;
		int fd;

		/* One damaged volume does not hide the others. */
		rc = volume_read(st, names[i], &fd, &in);
		if (rc) {
			worst = rc;
		} else {
			ls_row(c, st, names[i], fd, &in, !shown++);
			close(fd);
		}
		free(names[i]);
	}
	if (c->json)
		printf("]\n");
	free(names);
	lm_store_free(st);
	return worst;
}

/* ---- inspect ---------------------------------------------------------- */

/* "active", "retired" or "unknown" for KEK @version of tenant @in. */
static const char *version_state(const struct lm_tenant_info *in, bool have,
				 uint32_t version)
{
	if (!have)
		return "unknown";
	if (in->shredded)
		return "destroyed";
	for (size_t i = 0; i < in->nversions; i++)
		if (in->versions[i].version == version)
			return in->versions[i].active ? "active" : "retired";
	return "unknown";
}

static const char *tenant_state(const struct lm_tenant_info *in, bool have)
{
	return !have ? "not in this store" : in->shredded ? "shredded" : "active";
}

/* How inspect says where a volume is mounted. */
struct mount_state {
	bool mounted;
	const char *mp;  /* NULL when not mounted through lamina volume mount */
};

static void inspect_text(struct lm_store *st, const char *name,
			 const struct lm_vault_info *in, const struct lm_tenant_info *ti,
			 bool have, const struct mount_state *ms)
{
	char uuid[33], when[32], size[32];

	lm_crypt_hex(uuid, in->uuid, sizeof(in->uuid));
	lm_cli_time(when, sizeof(when), in->created);
	human_size(size, sizeof(size), volume_size(st, name));
	printf("volume:      %s\npath:        %s/%s/%s\nuuid:        %s\n", name,
	       st->path, VOLUME_DIR, name, uuid);
	printf("tenant:      %s (%s)\ncipher:      %s\nblock size:  %u\n", in->kb.tenant,
	       tenant_state(ti, have), lm_aead_name(in->cipher), 1u << in->block_shift);
	printf("format:      %u\ncreated:     %s\ngeneration:  %u\n", LM_VAULT_FORMAT,
	       when, (unsigned)in->generation);
	if (in->flags & LM_VAULT_F_REKEY)
		printf("rekey:       in progress (generation %u to %u)\n",
		       (unsigned)in->generation, (unsigned)in->generation + 1);
	else
		printf("rekey:       none\n");
	printf("key slots:  ");
	for (size_t i = 0; i < in->kb.nslots; i++)
		printf(" v%u (%s)", (unsigned)in->kb.slots[i].version,
		       version_state(ti, have, in->kb.slots[i].version));
	printf("\nmounted:     %s\nsize:        %s\n",
	       ms->mp ? ms->mp : ms->mounted ? "yes (mount point unknown: not mounted by lamina volume mount)" : "no",
	       size);
}

static void inspect_json(struct lm_store *st, const char *name,
			 const struct lm_vault_info *in, const struct lm_tenant_info *ti,
			 bool have, const struct mount_state *ms)
{
	char uuid[33], when[32], path[PATH_MAX];

	lm_crypt_hex(uuid, in->uuid, sizeof(in->uuid));
	lm_cli_time(when, sizeof(when), in->created);
	snprintf(path, sizeof(path), "%s/%s/%s", st->path, VOLUME_DIR, name);
	printf("{\"name\":");
	lm_json_str(stdout, name);
	printf(",\"path\":");
	lm_json_str(stdout, path);
	printf(",\"uuid\":\"%s\",\"tenant\":", uuid);
	lm_json_str(stdout, in->kb.tenant);
	printf(",\"tenant_state\":\"%s\",\"cipher\":\"%s\",\"block_size\":%u,\"format\":%u",
	       tenant_state(ti, have), lm_aead_name(in->cipher), 1u << in->block_shift,
	       LM_VAULT_FORMAT);
	printf(",\"created\":\"%s\",\"generation\":%u,\"rekey\":%s", when,
	       (unsigned)in->generation, in->flags & LM_VAULT_F_REKEY ? "true" : "false");
	printf(",\"slots\":[");
	for (size_t i = 0; i < in->kb.nslots; i++)
		printf("%s{\"version\":%u,\"state\":\"%s\"}", i ? "," : "",
		       (unsigned)in->kb.slots[i].version,
		       version_state(ti, have, in->kb.slots[i].version));
	printf("],\"mounted\":%s,\"mountpoint\":", ms->mounted ? "true" : "false");
	if (ms->mp)
		lm_json_str(stdout, ms->mp);
	else
		printf("null");
	printf(",\"size\":%llu}\n", volume_size(st, name));
}

static int cmd_inspect(struct lm_cli *c, int argc, char **argv)
{
	struct lm_tenant_info ti;
	struct lm_vault_info in;
	struct mount_state ms = { false, NULL };
	struct volume_opts o;
	struct lm_store *st;
	char mp[PATH_MAX];
	bool have;
	int fd, rc = volume_begin(c, argc, argv, inspect_usage, NULL, &o, &st, &fd, &in);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (volume_mountpoint(in.uuid, mp, sizeof(mp)))
		ms.mp = mp;
	ms.mounted = ms.mp || volume_in_use(fd);
	close(fd);
	have = lm_tenant_info(st, in.kb.tenant, &ti, NULL) == 0;
	if (c->json)
		inspect_json(st, o.name, &in, &ti, have, &ms);
	else
		inspect_text(st, o.name, &in, &ti, have, &ms);
	if (have)
		lm_tenant_info_release(&ti);
	lm_store_free(st);
	return rc;
}

/* ---- rm --------------------------------------------------------------- */

/* Moves volumes/@name out of sight under the store lock (to a hidden
 * name, which listings and rotation skip), then removes the tree. */
static int rm_volume(struct lm_store *st, const char *name, const char *tenant,
		     const char *uuid)
{
	struct lm_err err = { "" };
	char hidden[128], path[PATH_MAX], what[96], detail[96];
	int vfd, rc = lm_store_lock(st, &err);

	if (rc)
		return lm_cli_fail(rc, &err);
	rc = lm_audit_check(st, &err);
	if (rc) {
		lm_store_unlock(st);
		return lm_cli_fail(rc, &err);
	}
	snprintf(hidden, sizeof(hidden), ".%s.rm", name);
	snprintf(path, sizeof(path), "%s/" VOLUME_DIR "/%s", st->path, hidden);
	rm_tree(path); /* the leftover of an interrupted rm */
	vfd = lm_store_dir(st, VOLUME_DIR, false);
	if (vfd < 0 || renameat(vfd, name, vfd, hidden) < 0) {
		rc = vfd < 0 ? vfd : -errno;
		lm_errf(&err, rc, "cannot remove volume %s: %s", name, strerror(-rc));
	} else {
		lm_fsync_dir(vfd);
	}
	if (vfd >= 0)
		close(vfd);
	lm_store_unlock(st);
	if (rc)
		return lm_cli_fail(rc, &err);
	rc = rm_tree(path);
	snprintf(what, sizeof(what), "volume %s", name);
	snprintf(detail, sizeof(detail), "uuid %s", uuid);
	if (rc)
		lm_errf(&err, rc, "volume %s is gone, but %s could not be removed in full: %s",
			name, path, strerror(-rc));
	lm_audit_log(st, "volume.rm", tenant, what, rc, detail);
	return rc ? lm_cli_fail(rc, &err) : 0;
}

static int cmd_rm(struct lm_cli *c, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "force", no_argument, NULL, VOLUME_OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct lm_vault_info in;
	struct volume_opts o;
	struct lm_store *st;
	char uuid[33], q[256];
	int fd, rc = volume_begin(c, argc, argv, rm_usage, extra, &o, &st, &fd, NULL);

	if (rc)
		return rc < 0 ? 0 : rc;
	/* A damaged header does not stop a removal. */
	if (lm_vault_read(fd, o.name, &in, NULL))
		memset(&in, 0, sizeof(in));
	lm_crypt_hex(uuid, in.uuid, sizeof(in.uuid));
	if (in.generation)
		rc = volume_not_mounted(o.name, in.uuid);
	if (rc)
		goto out_close;
	/* Held until the tree is gone: laminafs holds a shared lock on a
	 * vault it serves, so no mount starts meanwhile, and one that was
	 * not started by lamina volume mount is still seen. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		lm_cli_error(errno == EWOULDBLOCK ?
			     "volume %s is in use by a laminafs daemon: unmount it first" :
			     "cannot lock volume %s", o.name);
		rc = LM_EXIT_FAIL;
		goto out_close;
	}
	if (!o.force) {
		if (!isatty(STDIN_FILENO)) {
			lm_cli_error("refusing to remove volume %s without confirmation: pass --force",
				     o.name);
			rc = LM_EXIT_USAGE;
			goto out_close;
		}
		snprintf(q, sizeof(q), "Remove volume %s and all of its data?", o.name);
		if (!lm_cli_confirm(q)) {
			lm_cli_error("not removed");
			rc = LM_EXIT_FAIL;
			goto out_close;
		}
	}
	rc = rm_volume(st, o.name, in.generation ? in.kb.tenant : NULL, uuid);
	if (!rc && c->json) {
		printf("{\"volume\":");
		lm_json_str(stdout, o.name);
		printf(",\"removed\":true}\n");
	} else if (!rc) {
		printf("removed volume %s\n", o.name);
	}
out_close:
	close(fd);
	lm_store_free(st);
	return rc;
}

int lm_cmd_volume(struct lm_cli *c, int argc, char **argv)
{
	static const struct lm_cli_verb verbs[] = {
		{ "create", cmd_create }, { "ls", cmd_ls }, { "list", cmd_ls },
		{ "inspect", cmd_inspect }, { "rm", cmd_rm },
		{ "mount", volume_cmd_mount }, { "umount", volume_cmd_umount },
		{ "rekey", volume_cmd_rekey },
		{ NULL, NULL },
	};

	return lm_cli_dispatch(c, argc, argv, "volume", volume_usage, verbs);
}
