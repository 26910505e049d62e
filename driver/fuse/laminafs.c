/* laminafs: the mount daemon. Takes fuse-overlayfs's argv (see
 * mount/opts.h), opens every layer before it returns, and serves the merged
 * tree until unmounted or sent SIGTERM/SIGINT. */
#define FUSE_USE_VERSION 314
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuse/fuse_ops.h"
#include "fuse/fuse_uring.h"
#include "mount/opts.h"
#include "cache/cache.h"
#include "io/io.h"
#include "mount/vault_mount.h"

static void die_layer(const char *what, const char *path, int rc)
{
	fprintf(stderr, "laminafs: cannot open %s '%s': %s\n", what, path, strerror(-rc));
}

/* Removes objects a crash left half made in the work directory. */
static void clean_workdir(const char *workdir)
{
	DIR *d = opendir(workdir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "#lm.", 4) != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) && errno == EISDIR)
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

/* The kernel's read-ahead on a mount with sealed layers: with 128 KiB (the
 * default) a cold sequential read of a sealed layer ran at 260-400 MB/s
 * here, with 4 MiB at 670-770 MB/s (io=uring reading the chunks of a
 * request at once). */
#define SEALED_READAHEAD_KB 4096u

/* True when lowerdir item @item names a layer of the store by digest. */
static bool sealed_by_digest(const char *item)
{
	const char *spec = item + sizeof(LM_SEALED_PREFIX) - 1;

	return lm_opts_is_sealed(item) && !strchr(spec, '/') && spec[0] != '.';
}

/* Opens every layer of @o into @cfg (its lowers array the caller's). *vm
 * (keys, store, audit) and *cache (sealed layers' chunks) are the caller's,
 * freed after the layers. Returns 0 or -errno after one line on stderr. */
static int open_layers(const struct lm_mount_opts *o, struct lm_ovl_config *cfg,
		       struct lm_vault_mount **vm, struct lm_cache **cache)
{
	bool need_store = false, sealed = lm_opts_has_sealed(o);
	char msg[512] = "";
	struct stat us, ws;
	int rc;

	for (size_t i = 0; i < o->nlower; i++)
		need_store |= sealed_by_digest(o->lowerdirs[i]);
	/* A store named for sealed layers also records their integrity
	 * failures. */
	need_store |= sealed && o->store;
	rc = lm_mount_keys_open(o, need_store, vm, msg, sizeof(msg));
	if (rc) {
		fprintf(stderr, "laminafs: %s\n", msg);
		return rc;
	}
	if (sealed) {
		enum lm_io_backend be = LM_IO_AUTO;

		if (o->io)
			lm_io_backend_parse(o->io, &be);
		rc = lm_io_init(be);
		if (rc < 0) {
			fprintf(stderr, "laminafs: cannot read sealed layers with io=%s: %s\n",
				o->io ? o->io : getenv("LAMINA_IO"), strerror(-rc));
			return rc;
		}
		rc = lm_cache_new(o->cache_size, cache);
		if (rc) {
			fprintf(stderr, "laminafs: no memory for a chunk cache of %zu bytes\n",
				o->cache_size);
			return rc;
		}
	}
	cfg->lowers = calloc(o->nlower, sizeof(*cfg->lowers));
	if (!cfg->lowers)
		return -ENOMEM;
	for (size_t i = 0; i < o->nlower; i++) {
		if (lm_opts_is_sealed(o->lowerdirs[i])) {
			msg[0] = '\0';
			rc = lm_sealed_mount_open(o, *vm, o->lowerdirs[i], *cache, &cfg->lowers[i],
						  msg, sizeof(msg));
			if (rc)
				fprintf(stderr, "laminafs: %s\n", msg);
		} else {
			rc = lm_layer_dir_open(o->lowerdirs[i], NULL, false, &cfg->lowers[i]);
			if (rc)
				die_layer("lowerdir", o->lowerdirs[i], rc);
		}
		if (rc)
			return rc;
		cfg->nlower++;
	}
	if (!o->upperdir)
		goto done;
	/* A volume (tenant= without workdir=): the vault keeps its own work
	 * directory. */
	if (o->workdir) {
		if (stat(o->upperdir, &us)) {
			rc = -errno;
			die_layer("upperdir", o->upperdir, rc);
			return rc;
		}
		if (stat(o->workdir, &ws)) {
			rc = -errno;
			die_layer("workdir", o->workdir, rc);
			return rc;
		}
		if (us.st_dev != ws.st_dev) {
			fprintf(stderr, "laminafs: upperdir and workdir must be on the same filesystem\n");
			return -EXDEV;
		}
		clean_workdir(o->workdir);
	}
	if (o->tenant) {
		rc = lm_vault_mount_open(o, *vm, &cfg->upper, msg, sizeof(msg));
		if (rc)
			fprintf(stderr, "laminafs: %s\n", msg);
	} else {
		rc = lm_layer_dir_open(o->upperdir, o->workdir, !o->volatile_mnt, &cfg->upper);
		if (rc)
			die_layer("upperdir", o->upperdir, rc);
	}
done:
	/* Every layer that needs the tenant's keys has what it needs. */
	lm_mount_keys_forget(*vm);
	return rc;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* True when comma-separated LIST holds the item WORD. */
static bool has_opt(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p; p = strchr(p, ',')) {
		p += *p == ',';
		if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* Threads serving each CPU's io_uring queue, one ring entry each: up to
 * this many requests of one CPU wait on the disk at once (with two, a cold
 * sequential read ran at 300-480 MB/s here, with eight at 865-930). */
#define URING_THREADS 8

/* Unmounted (or aborted) from outside: nothing is left to serve and every
 * change is already in the upper layer, so leave at once, closing every
 * descriptor on the layers a few microseconds after the unmount rather than
 * after the threads wind down, so whoever unmounted can unmount the layers'
 * file systems next (podman, test suites).
 * Sanitizer builds take the slow way, which checks for leaks. */
static void connection_gone(void)
{
#if !defined(__SANITIZE_ADDRESS__)
	/* Threads with io_uring commands in flight take a while to die;
	 * the layers must be free before that. */
	close_range(3, ~0u, 0);
	_exit(0);
#endif
}

/* Threads reading /dev/fuse. The kernel hands each request to the thread
 * that has waited longest, so every idle thread is one more cold thread
 * (and often a wake-up across CPUs) per request, while a thread waiting on
 * the disk holds up nothing only if another is free.
 *
 * A mount with an upper layer takes two per CPU. On 2 CPUs (benchmarks/
 * run.sh, requests from /dev/fuse), untar of 10k files into the upper took
 * 4.07-4.69 s with 2 threads, 4.16-4.22 s with 4 and 4.34-4.97 s with 8;
 * cold random 4 KiB reads of an encrypted sealed layer under an upper, 8
 * readers: 13.8-15.1k reads a second with 2 threads, 16.8-17.8k with 4,
 * 19.5-20.3k with 8.
 *
 * A read-only mount (no upper layer) takes four per CPU: it is read, not
 * untarred into, and its cold random reads wait on the disk while their
 * thread could serve the next one (20-21k reads a second with 8 threads);
 * a cold tar of 50k files 1.13 s against 1.00 s; a cold find is level. */
static unsigned default_threads(bool read_only)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	n *= read_only ? 4 : 2;
	return n < 2 ? 2 : n > 16 ? 16 : (unsigned)n;
}

/* Sets the kernel's read-ahead of the mount at @mnt to @kb KiB through
 * its device's sysfs entry (found in mountinfo: stat would wait for INIT).
 * Root only; elsewhere the kernel's default stays, silently. */
static void set_readahead(const char *mnt, unsigned kb)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], dev[64] = "", path[128];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char d[64], m[PATH_MAX];

		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the last match is
		 * the mount just made. */
		if (sscanf(line, "%*s %*s %63s %*s %4095s", d, m) == 2 && strcmp(m, mnt) == 0)
			snprintf(dev, sizeof(dev), "%s", d);
	}
	fclose(f);
	if (!dev[0])
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "we");
	if (f) {
		fprintf(f, "%u\n", kb);
		fclose(f);
	}
}

/* Requests on per-CPU io_uring queues are served on the CPU that made
 * them: good for the latency of small requests, but a sequential reader
 * then has one CPU for itself and the daemon. Sealed layers spend CPU on
 * every chunk (verify, decrypt, decompress), so their mounts take requests
 * from /dev/fuse unless uring=1 is given: a cold sequential read of a
 * sealed layer ran at 895-911 MB/s there against 341-376 on the queues
 * (random reads with 8 jobs 14-15k against 18k IOPS, a cold find 0.40
 * against 0.33-0.39 s). */
static bool use_uring(const struct lm_mount_opts *o)
{
	return o->uring && (o->uring_set || !lm_opts_has_sealed(o));
}

static int serve(struct lm_fs *fs, const struct lm_mount_opts *o)
{
	char *fopts = NULL;
	struct fuse_session *se;
	struct fuse_loop_config *lc;
	char *mnt = NULL;
	int rc = 1;

	/* As fuse-overlayfs: a root-owned mount serves every user of the
	 * container (setuid programs) with the kernel checking permissions on
	 * the container's view of the owners; device nodes only with -o dev
	 * (containers-storage never passes mount flags to a mount program,
	 * and the runtime's own remount of the root decides inside). */
	if (asprintf(&fopts, "fsname=%s,subtype=laminafs,default_permissions%s%s%s%s%s",
		     o->source ? o->source : "laminafs",
		     getuid() == 0 ? ",allow_other,suid" : "",
		     has_opt(o->fuse_opts, "dev") ? "" : ",nodev", o->ro ? ",ro" : "",
		     o->fuse_opts ? "," : "", o->fuse_opts ? o->fuse_opts : "") < 0)
		return 1;
	char *argv[] = { (char *)"laminafs", (char *)"-o", fopts, (char *)"-d", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 4 : 3, argv);

	se = fuse_session_new(&args, lm_fuse_ops(), sizeof(struct fuse_lowlevel_ops), fs);
	fuse_opt_free_args(&args); /* libfuse may have copied them */
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se))
		goto out_destroy;
	/* Absolute: the daemon leaves its directory, and unmounts by name. */
	mnt = realpath(o->mountpoint, NULL);
	if (!mnt) {
		fprintf(stderr, "laminafs: mountpoint '%s': %s\n", o->mountpoint, strerror(errno));
		goto out_signals;
	}
	if (fuse_session_mount(se, mnt)) {
		fprintf(stderr, "laminafs: cannot mount on '%s'\n", o->mountpoint);
		goto out_signals;
	}
	/* Before INIT: the kernel keeps the smaller of the device's
	 * read-ahead and the one INIT asks for (fs->readahead_kb). */
	if (fs->readahead_kb)
		set_readahead(mnt, fs->readahead_kb);
	/* Before the daemon forks and INIT arrives: the transport is
	 * chosen in the INIT reply. */
	if (lm_fuse_uring_new(se, use_uring(o) && lm_fuse_uring_offered() ? URING_THREADS : 0,
			      LM_FUSE_MAX_WRITE, connection_gone, &fs->uring))
		fprintf(stderr, "laminafs: cannot set up the request transport hooks\n");
	/* The mount is live: only now may the caller go on. */
	fuse_daemonize(o->foreground || o->debug);
	lc = fuse_loop_cfg_create();
	if (lc) {
		fuse_loop_cfg_set_clone_fd(lc, 0);
		fuse_loop_cfg_set_max_threads(lc, o->threads ? o->threads :
						  default_threads(!o->upperdir));
		/* Negative: an error; positive: the signal that ended the
		 * loop (SIGTERM, SIGINT, SIGHUP), a clean stop. */
		rc = fuse_session_loop_mt(se, lc) < 0 ? 1 : 0;
		fuse_loop_cfg_destroy(lc);
	}
	/* Unmount, then end the io_uring queues: a request that arrives in
	 * between (a lazy unmount of a busy mount) is still answered. */
	fuse_session_unmount(se);
	lm_fuse_uring_free(fs->uring);
	fs->uring = NULL;
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out:
	free(mnt);
	free(fopts);
	return rc;
}

int main(int argc, char **argv)
{
	struct lm_mount_opts o;
	struct lm_ovl_config cfg = { 0 };
	struct lm_fs fs = { 0 };
	struct lm_vault_mount *vm = NULL;
	struct lm_cache *cache = NULL;
	int rc;

	rc = lm_opts_parse(argc, argv, &o, stderr);
	if (rc == 0 && o.help) {
		lm_opts_usage(stdout, "laminafs");
		goto out;
	}
	if (rc == 0 && o.version) {
		printf("laminafs version %s\nlibfuse version %s\n", LAMINA_VERSION,
		       fuse_pkgversion());
		goto out;
	}
	if (rc) {
		fprintf(stderr, "Try 'laminafs --help' for more information.\n");
		rc = 1;
		goto out;
	}
	raise_nofile();
	/* The kernel has applied the caller's umask to every mode it sends. */
	umask(0);
	rc = open_layers(&o, &cfg, &vm, &cache);
	if (rc == 0) {
		cfg.uidmap = &o.uidmap;
		cfg.gidmap = &o.gidmap;
		cfg.squash_uid = o.squash_to_root ? 0 : o.squash_uid;
		cfg.squash_gid = o.squash_to_root ? 0 : o.squash_gid;
		cfg.static_nlink = o.static_nlink;
		cfg.noxattrs = o.noxattrs;
		cfg.fsync = o.fsync && !o.volatile_mnt;
		rc = lm_ovl_new(&cfg, &fs.ovl);
		if (rc)
			fprintf(stderr, "laminafs: cannot set up the overlay: %s\n", strerror(-rc));
		cfg.upper = NULL;
		cfg.nlower = 0;
	}
	if (rc) {
		for (size_t i = 0; i < cfg.nlower; i++)
			lm_layer_free(cfg.lowers[i]);
		lm_layer_free(cfg.upper);
		rc = 1;
	} else {
		fs.timeout = o.timeout;
		fs.writeback = o.writeback;
		/* Sealed layers read best in large batches of chunks. */
		fs.readahead_kb = o.readahead_kb >= 0 ? (unsigned)o.readahead_kb :
				  lm_opts_has_sealed(&o) ? SEALED_READAHEAD_KB : 0;
		rc = serve(&fs, &o);
		lm_ovl_free(fs.ovl);
	}
	free(cfg.lowers);
	lm_io_shutdown();
	lm_cache_free(cache);
	lm_vault_mount_free(vm);
out:
	lm_opts_release(&o);
	return rc;
}
