/* lamina volume mount|umount: runs the laminafs daemon on a volume, and
 * finds and ends its mount.
 *
 * The tenant secret reaches laminafs through a pipe whose read end is
 * descriptor VOLUME_SECRET_FD in the daemon (passfd= or keyfd= says
 * which): never in its argv or environment. A mounted volume is found
 * again by its fsname, "lamina-vault:<uuid>", in /proc/self/mountinfo.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "vault.h"
#include "volume.h"

#define VOLUME_SECRET_FD 3
#define MOUNT_OPTS_MAX (3 * PATH_MAX)

static const char mount_usage[] =
	"Usage: lamina volume mount NAME MOUNTPOINT [OPTIONS]\n"
	"\n"
	"Mounts volume NAME at MOUNTPOINT (an existing directory) with the laminafs\n"
	"daemon (found next to the lamina binary, else in PATH). The tenant's secret\n"
	"is checked against the volume first, then handed to laminafs through a pipe\n"
	"(never on its command line or in its environment).\n"
	"\n"
	"  -o, --options OPTS      more laminafs options, comma separated (not the\n"
	"                          ones lamina sets: upperdir, lowerdir, workdir,\n"
	"                          tenant, store, keyfile, passfile, keyfd, passfd,\n"
	"                          fsname); may be repeated\n"
	LM_CLI_SECRET_HELP;

static const char umount_usage[] =
	"Usage: lamina volume umount MOUNTPOINT|NAME\n"
	"\n"
	"Unmounts a mounted volume, given by its mount point or its name (a bare\n"
	"name is a volume of the store when one exists). The laminafs daemon ends\n"
	"once the mount is gone. Takes --store DIR, --json, --help.\n";

/* ---- /proc/self/mountinfo ------------------------------------------- */

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void mi_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

struct mi_query {
	const char *source;  /* wanted fsname, or NULL */
	const char *mp;      /* wanted mount point, or NULL */
	char *out;           /* the mount point found */
	size_t size;
	char fstype[64];     /* and its type */
};

/* One mountinfo line: "id parent dev root MOUNTPOINT opts [tags] - TYPE
 * SOURCE superopts". True when it is the mount @q asks for. */
static bool mi_line(char *line, struct mi_query *q)
{
	char *f[64], *save = NULL, *mp, *type, *src;
	size_t n = 0, sep = 0;

	for (char *t = strtok_r(line, " \n", &save); t && n < 64;
	     t = strtok_r(NULL, " \n", &save))
		f[n++] = t;
	for (size_t i = 6; i < n && !sep; i++)
		if (!strcmp(f[i], "-"))
			sep = i;
	if (n < 5 || !sep || sep + 2 >= n)
		return false;
	mp = f[4];
	type = f[sep + 1];
	src = f[sep + 2];
	mi_unescape(mp);
	mi_unescape(src);
	if (q->source && (strncmp(type, "fuse", 4) || strcmp(src, q->source)))
		return false;
	if (q->mp && strcmp(mp, q->mp))
		return false;
	snprintf(q->out, q->size, "%s", mp);
	snprintf(q->fstype, sizeof(q->fstype), "%s", type);
	return true;
}

/* The last mount matching @q (the one on top). */
static bool mi_find(struct mi_query *q)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, last[PATH_MAX], type[64];
	size_t cap = 0;
	bool found = false;

	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		if (mi_line(line, q)) {
			found = true;
			snprintf(last, sizeof(last), "%s", q->out);
			snprintf(type, sizeof(type), "%s", q->fstype);
		}
	}
	free(line);
	fclose(f);
	if (found) {
		snprintf(q->out, q->size, "%s", last);
		snprintf(q->fstype, sizeof(q->fstype), "%s", type);
	}
	return found;
}

static void volume_fsname(char *out, size_t size, const unsigned char *uuid)
{
	char hex[33];

	lm_crypt_hex(hex, uuid, 16);
	snprintf(out, size, VOLUME_FSNAME_PREFIX "%s", hex);
}

bool volume_mountpoint(const unsigned char *uuid, char *mp, size_t size)
{
	char fsname[64];
	struct mi_query q = { .source = fsname, .out = mp, .size = size };

	volume_fsname(fsname, sizeof(fsname), uuid);
	return mi_find(&q);
}

bool volume_in_use(int dirfd)
{
	FILE *f = fopen("/proc/locks", "re");
	char *line = NULL, want[64];
	size_t cap = 0;
	struct stat sb;
	bool used = false;

	if (!f)
		return false;
	if (fstat(dirfd, &sb) == 0) {
		/* "1: FLOCK  ADVISORY  READ  1234 08:01:5678 0 EOF" */
		snprintf(want, sizeof(want), " %02x:%02x:%llu ", major(sb.st_dev),
			 minor(sb.st_dev), (unsigned long long)sb.st_ino);
		while (!used && getline(&line, &cap, f) > 0)
			used = strstr(line, " FLOCK ") && strstr(line, want);
	}
	free(line);
	fclose(f);
	return used;
}

/* ---- mount ------------------------------------------------------------ */

/* Appends ",key=value" (",key" for a NULL @val) to @buf with ',' and '\'
 * in @val escaped, as laminafs's option parser reads them. */
static bool opt_add(char *buf, size_t size, const char *key, const char *val)
{
	size_t n = strlen(buf);
	int w = snprintf(buf + n, size - n, "%s%s%s", n ? "," : "", key, val ? "=" : "");

	if (w < 0 || (size_t)w >= size - n)
		return false;
	n += (size_t)w;
	for (; val && *val; val++) {
		if (n + 3 >= size)
			return false;
		if (*val == ',' || *val == '\\')
			buf[n++] = '\\';
		buf[n++] = *val;
	}
	buf[n] = '\0';
	return true;
}

/* The -o values must not set what lamina sets: checked per item. */
static bool extra_ok(const char *opts)
{
	static const char *const ours[] = {
		"upperdir", "lowerdir", "workdir", "tenant", "store", "keyfile",
		"passfile", "keyfd", "passfd", "fsname", NULL,
	};
	const char *p = opts;

	while (*p) {
		size_t len = 0;

		while (p[len] && p[len] != ',') {
			if (p[len] == '\\' && p[len + 1])
				len++;
			len++;
		}
		for (const char *const *k = ours; *k; k++) {
			size_t kl = strlen(*k);

			if (len >= kl && !strncmp(p, *k, kl) && (len == kl || p[kl] == '=')) {
				lm_cli_error("volume mount: -o %s: lamina sets %s= itself",
					     opts, *k);
				return false;
			}
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

/* laminafs next to this lamina binary, else the bare name (PATH). */
static void laminafs_path(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		snprintf(out, size, "%s/laminafs", dirname(self));
		if (access(out, X_OK) == 0)
			return;
	}
	snprintf(out, size, "laminafs");
}

static int write_all(int fd, const unsigned char *b, size_t len)
{
	while (len) {
		ssize_t w = write(fd, b, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Runs @argv (argv[0] a path or a name looked up in PATH) with @secret
 * readable on VOLUME_SECRET_FD (NULL: nothing), and waits for it. Returns
 * its exit status, 127 when it could not be run, or -errno. */
static int run(char *const *argv, const struct lm_tenant_secret *secret)
{
	int p[2] = { -1, -1 }, status, rc;
	pid_t pid;

	if (secret) {
		/* The secret (at most 1 KiB) fits in the pipe: written now,
		 * the write end closed, so the daemon reads it and then EOF. */
		if (pipe2(p, O_CLOEXEC) < 0)
			return -errno;
		rc = write_all(p[1], secret->bytes, secret->len);
		close(p[1]);
		if (rc) {
			close(p[0]);
			return rc;
		}
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		if (p[0] >= 0)
			close(p[0]);
		return rc;
	}
	if (pid == 0) {
		if (p[0] == VOLUME_SECRET_FD)
			fcntl(p[0], F_SETFD, 0);
		else if (p[0] >= 0 && dup2(p[0], VOLUME_SECRET_FD) < 0)
			_exit(126);
		if (strchr(argv[0], '/'))
			execv(argv[0], argv);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	if (p[0] >= 0)
		close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Opens the volume as its tenant with the secret: the errors (wrong
 * secret, another tenant, damage) come from here, with their exit codes,
 * before any daemon runs. */
static int mount_check(struct lm_store *st, int fd, const char *name,
		       const char *tenant, const struct lm_tenant_secret *sec)
{
	struct lm_vault_keys *keys = lm_secret_alloc(sizeof(*keys));
	struct lm_err err = { "" };
	struct lm_vault_info info;
	struct lm_tenant *t = NULL;
	char what[96];
	int rc;

	if (!keys)
		return lm_cli_fail(-ENOMEM, NULL);
	snprintf(what, sizeof(what), "volume %s", name);
	rc = lm_tenant_open(st, tenant, sec, &t, &err);
	if (!rc)
		rc = lm_vault_open(st, fd, t, what, &info, keys, &err);
	lm_tenant_free(t);
	lm_secret_free(keys);
	return rc ? lm_cli_fail(rc, &err) : 0;
}

/* The -o argument of laminafs for volume @name of @st into @buf. */
static int mount_opts(char *buf, size_t size, struct lm_store *st,
		      const struct volume_opts *o, const struct lm_vault_info *in,
		      enum lm_secret_kind kind)
{
	char *store = realpath(st->path, NULL), upper[PATH_MAX], fsname[64], fd[16];
	bool ok;

	if (!store)
		return -errno;
	snprintf(upper, sizeof(upper), "%s/" VOLUME_DIR "/%s", store, o->name);
	snprintf(fd, sizeof(fd), "%d", VOLUME_SECRET_FD);
	volume_fsname(fsname, sizeof(fsname), in->uuid);
	buf[0] = '\0';
	ok = opt_add(buf, size, "upperdir", upper) &&
	     opt_add(buf, size, "tenant", in->kb.tenant) &&
	     opt_add(buf, size, "store", store) &&
	     opt_add(buf, size, kind == LM_SECRET_KEYFILE ? "keyfd" : "passfd", fd);
	for (size_t i = 0; ok && i < o->nextra; i++) {
		size_t n = strlen(buf);

		ok = n + 1 + strlen(o->extra[i]) < size;
		if (ok)
			snprintf(buf + n, size - n, ",%s", o->extra[i]);
	}
	/* Last, so that it is the one in effect. */
	ok = ok && opt_add(buf, size, "fsname", fsname);
	free(store);
	return ok ? 0 : -ENAMETOOLONG;
}

/* Checks MOUNTPOINT and resolves it into @mp. */
static int mountpoint_check(const char *arg, char *mp)
{
	struct stat sb;

	if (!realpath(arg, mp) || stat(mp, &sb) < 0) {
		int e = errno;

		lm_cli_error("mount point %s: %s%s", arg, strerror(e),
			     e == ENOENT ? " (create the directory first)" : "");
		return e == ENOENT ? LM_EXIT_NOTFOUND : LM_EXIT_FAIL;
	}
	if (!S_ISDIR(sb.st_mode)) {
		lm_cli_error("mount point %s is not a directory", arg);
		return LM_EXIT_USAGE;
	}
	return 0;
}

/* With the store open and the volume read: the secret, the check, the
 * daemon. */
static int mount_run(struct lm_cli *c, struct lm_store *st, int fd,
		     const struct volume_opts *o, const struct lm_vault_info *in,
		     const char *mp)
{
	char *opts = malloc(MOUNT_OPTS_MAX), path[PATH_MAX];
	struct lm_cli_secret s;
	int rc = lm_cli_secret_get(&o->src, in->kb.tenant, false, &s);

	if (rc || !opts) {
		free(opts);
		return rc ? rc : lm_cli_fail(-ENOMEM, NULL);
	}
	rc = mount_check(st, fd, o->name, in->kb.tenant, &s.sec);
	if (!rc && mount_opts(opts, MOUNT_OPTS_MAX, st, o, in, s.sec.kind)) {
		lm_cli_error("volume mount: the laminafs options are too long");
		rc = LM_EXIT_USAGE;
	}
	if (!rc) {
		char *argv[] = { path, (char *)"-o", opts, (char *)mp, NULL };

		laminafs_path(path, sizeof(path));
		rc = run(argv, &s.sec);
		if (rc == 127)
			lm_cli_error("cannot run laminafs: it is neither next to lamina nor in PATH");
		else if (rc < 0)
			lm_cli_error("cannot run laminafs: %s", strerror(-rc));
		else if (rc)
			lm_cli_error("laminafs could not mount volume %s (exit status %d): see its message above",
				     o->name, rc);
		rc = rc ? LM_EXIT_FAIL : 0;
	}
	lm_cli_secret_free(&s);
	free(opts);
	if (!rc && c->json) {
		printf("{\"volume\":");
		lm_json_str(stdout, o->name);
		printf(",\"mountpoint\":");
		lm_json_str(stdout, mp);
		printf("}\n");
	} else if (!rc) {
		printf("mounted volume %s at %s\n", o->name, mp);
	}
	return rc;
}

int volume_cmd_mount(struct lm_cli *c, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "options", required_argument, NULL, 'o' },
		LM_CLI_SECRET_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct lm_vault_info in;
	struct volume_opts o;
	struct lm_store *st;
	char mp[PATH_MAX], busy[PATH_MAX];
	int fd, rc = volume_parse(c, argc, argv, mount_usage, extra, &o, 2,
				  "a volume NAME and a MOUNTPOINT");

	if (rc)
		return rc < 0 ? 0 : rc;
	for (size_t i = 0; i < o.nextra; i++)
		if (!extra_ok(o.extra[i]))
			return LM_EXIT_USAGE;
	rc = mountpoint_check(o.arg2, mp);
	if (rc)
		return rc;
	rc = volume_load(c, o.name, &st, &fd, &in);
	if (rc)
		return rc;
	if (volume_mountpoint(in.uuid, busy, sizeof(busy))) {
		lm_cli_error("volume %s is already mounted at %s", o.name, busy);
		rc = LM_EXIT_FAIL;
	}
	if (!rc)
		rc = lm_cli_tenant_check(st, in.kb.tenant, &o.src);
	if (!rc)
		rc = mount_run(c, st, fd, &o, &in, mp);
	close(fd);
	lm_store_free(st);
	return rc;
}

/* ---- umount ----------------------------------------------------------- */

/* The mount point of volume @name when it is one of the store's volumes:
 * 0 (found, into @mp), -1 (not a volume name here), or an exit code (a
 * volume that is not mounted; message printed). */
static int umount_by_name(struct lm_cli *c, const char *name, char *mp, size_t size)
{
	struct lm_vault_info in;
	struct lm_store *st;
	char path[PATH_MAX];
	int fd, rc = -1;

	if (strchr(name, '/') || !lm_tenant_name_valid(name))
		return -1;
	if (c->store)
		snprintf(path, sizeof(path), "%s", c->store);
	else if (lm_store_default_path(path, sizeof(path)))
		return -1;
	if (lm_store_open(path, false, &st, NULL))
		return -1;
	snprintf(path, sizeof(path), VOLUME_DIR "/%s", name);
	fd = lm_store_dir(st, path, false);
	if (fd >= 0) {
		if (lm_vault_read(fd, name, &in, NULL) == 0) {
			rc = volume_mountpoint(in.uuid, mp, size) ? 0 : LM_EXIT_FAIL;
			if (rc)
				lm_cli_error("volume %s is not mounted", name);
		}
		close(fd);
	}
	lm_store_free(st);
	return rc;
}

/* Ends the mount at @mp: umount2 as root, else fusermount3 -u. */
static int unmount(const char *mp)
{
	char *fm[] = { (char *)"fusermount3", (char *)"-u", (char *)mp, NULL };
	int rc;

	if (geteuid() == 0) {
		if (umount2(mp, 0) == 0)
			return 0;
		rc = errno;
		lm_cli_error("cannot unmount %s: %s%s", mp, strerror(rc),
			     rc == EBUSY ? " (files are open there: close them first)" : "");
		return LM_EXIT_FAIL;
	}
	rc = run(fm, NULL);
	if (rc == 127) {
		fm[0] = (char *)"fusermount";
		rc = run(fm, NULL);
	}
	if (rc) {
		lm_cli_error(rc == 127 ? "cannot unmount %s: fusermount3 is not installed" :
			     "cannot unmount %s: fusermount3 failed (see its message above)", mp);
		return LM_EXIT_FAIL;
	}
	return 0;
}

int volume_cmd_umount(struct lm_cli *c, int argc, char **argv)
{
	char mp[PATH_MAX], real[PATH_MAX];
	struct mi_query q = { .out = mp, .size = sizeof(mp) };
	const char *arg;
	int rc = lm_cli_parse(c, argc, argv, umount_usage, NULL, NULL, NULL, 1,
			      "a MOUNTPOINT or a volume NAME");

	if (rc)
		return rc < 0 ? 0 : rc;
	arg = argv[optind];
	rc = umount_by_name(c, arg, mp, sizeof(mp));
	if (rc > 0)
		return rc;
	if (rc < 0) {
		if (!realpath(arg, real)) {
			lm_cli_error("%s is neither a volume of the store nor a mount point: %s",
				     arg, strerror(errno));
			return LM_EXIT_NOTFOUND;
		}
		q.mp = real;
		if (!mi_find(&q) || strcmp(q.fstype, "fuse.laminafs")) {
			lm_cli_error("%s is not a lamina mount (see /proc/self/mountinfo)", real);
			return LM_EXIT_FAIL;
		}
	}
	rc = unmount(mp);
	if (!rc && c->json) {
		printf("{\"unmounted\":");
		lm_json_str(stdout, mp);
		printf("}\n");
	} else if (!rc) {
		printf("unmounted %s\n", mp);
	}
	return rc;
}
