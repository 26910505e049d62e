/* Unit test for mount/opts: argv shapes used by containers-storage and
 * mount.fuse3, every -o option, escaping, warnings and errors. Exit 0
 * pass, 1 fail. */
#include "check.h"
#include "mount/opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		long long a_ = (a), b_ = (b);                              \
		if (a_ != b_) {                                            \
			fprintf(stderr, "%s:%d: check failed: %s == %s "   \
				"(%lld != %lld)\n", __FILE__, __LINE__,    \
				#a, #b, a_, b_);                           \
			check_fails++;                                        \
		}                                                          \
	} while (0)

#define CHECK_STR(a, b) check_str(__FILE__, __LINE__, #a, (a), (b))

static void check_str(const char *file, int line, const char *expr,
		      const char *got, const char *want)
{
	if (got == want || (got && want && strcmp(got, want) == 0))
		return;
	fprintf(stderr, "%s:%d: check failed: %s is \"%s\", want \"%s\"\n",
		file, line, expr, got ? got : "(null)", want ? want : "(null)");
	check_fails++;
}

/* One parse: the result, its return code and everything it wrote to the
 * warn stream. */
struct run {
	struct lm_mount_opts o;
	int rc;
	char *msg; /* owned */
};

/* Parses a private copy of @args (NULL-terminated, args[0] is the program)
 * and frees the copy before returning, so ASan reports any pointer the
 * parser kept into argv. Also checks argv was not modified. */
static void run_argv(struct run *r, const char *const *args)
{
	size_t argc = 0, len = 0;
	char **argv;
	FILE *warn;

	while (args[argc])
		argc++;
	argv = calloc(argc + 1, sizeof(*argv));
	if (!argv)
		abort();
	for (size_t i = 0; i < argc; i++) {
		argv[i] = strdup(args[i]);
		if (!argv[i])
			abort();
	}
	r->msg = NULL;
	warn = open_memstream(&r->msg, &len);
	if (!warn)
		abort();
	r->rc = lm_opts_parse((int)argc, argv, &r->o, warn);
	fclose(warn);
	for (size_t i = 0; i < argc; i++) {
		CHECK_STR(argv[i], args[i]);
		free(argv[i]);
	}
	free(argv);
}

#define RUN(r, ...) \
	run_argv((r), (const char *const[]){ "laminafs", __VA_ARGS__, NULL })

static void done(struct run *r)
{
	lm_opts_release(&r->o);
	free(r->msg);
	r->msg = NULL;
}

/* Parses "-o @optstr /mnt" and expects success without any output. */
static void run_ok(struct run *r, const char *optstr)
{
	RUN(r, "-o", optstr, "/mnt");
	if (r->rc != 0 || r->msg[0] != '\0') {
		fprintf(stderr, "-o '%s': rc %d, output '%s'\n", optstr, r->rc,
			r->msg);
		check_fails++;
	}
}

/* Parses "-o @optstr /mnt" and expects -EINVAL with exactly @line. */
static void expect_error(const char *optstr, const char *line)
{
	struct run r;

	RUN(&r, "-o", optstr, "/mnt");
	if (r.rc != -EINVAL || strcmp(r.msg, line) != 0) {
		fprintf(stderr, "-o '%s': rc %d, output '%s'; want -EINVAL, "
			"'%s'\n", optstr, r.rc, r.msg, line);
		check_fails++;
	}
	done(&r);
}

/* containers-storage's mount_program call: "-o OPTS MOUNTPOINT". */
static void test_containers_storage(void)
{
	struct run r;

	RUN(&r, "-o",
	    "lowerdir=/s/l/AAA:/s/l/BBB,upperdir=/s/o/diff,workdir=/s/o/work,"
	    "fsync=0,volatile,uidmapping=:0:1000:1:1:100000:65536,"
	    "gidmapping=:0:1001:1:1:200000:65536,"
	    "context=\"system_u:object_r:container_file_t:s0:c1,c2\"",
	    "/s/o/merged");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.msg, "");
	CHECK_EQ(r.o.nlower, 2);
	if (r.o.nlower == 2) {
		CHECK_STR(r.o.lowerdirs[0], "/s/l/AAA");
		CHECK_STR(r.o.lowerdirs[1], "/s/l/BBB");
	}
	CHECK_STR(r.o.upperdir, "/s/o/diff");
	CHECK_STR(r.o.workdir, "/s/o/work");
	CHECK_STR(r.o.mountpoint, "/s/o/merged");
	CHECK_STR(r.o.source, NULL);
	CHECK(!r.o.fsync);
	CHECK(r.o.volatile_mnt);
	CHECK_EQ(r.o.uidmap.n, 2);
	CHECK_EQ(lm_idmap_to_host(&r.o.uidmap, 0), 1000);
	CHECK_EQ(lm_idmap_to_host(&r.o.uidmap, 2), 100001);
	CHECK_EQ(r.o.gidmap.n, 2);
	CHECK_EQ(lm_idmap_to_host(&r.o.gidmap, 0), 1001);
	CHECK_EQ(lm_idmap_to_cont(&r.o.gidmap, 200000), 1);
	/* The quoted comma survives, escaped for libfuse's splitter. */
	CHECK_STR(r.o.fuse_opts,
		  "context=\"system_u:object_r:container_file_t:s0:c1\\,c2\"");
	CHECK(!r.o.foreground);
	CHECK(!r.o.ro);
	done(&r);

	/* Read-only merge with a single-id map written as squash_to_*. */
	RUN(&r, "-o", "lowerdir=/d/diff:/l1:/l2,squash_to_uid=1000,"
	    "squash_to_gid=1001", "/m");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.msg, "");
	CHECK_EQ(r.o.nlower, 3);
	if (r.o.nlower == 3) {
		CHECK_STR(r.o.lowerdirs[0], "/d/diff");
		CHECK_STR(r.o.lowerdirs[2], "/l2");
	}
	CHECK_STR(r.o.upperdir, NULL);
	CHECK_STR(r.o.workdir, NULL);
	CHECK_EQ(r.o.squash_uid, 1000);
	CHECK_EQ(r.o.squash_gid, 1001);
	CHECK_EQ(r.o.uidmap.n, 0);
	done(&r);
}

/* mount.fuse3 / fstab: "SOURCE MOUNTPOINT -o OPTS". */
static void test_mount_fuse3(void)
{
	struct run r;

	RUN(&r, "overlay", "/mnt/x", "-o",
	    "rw,nodev,nosuid,lowerdir=/a,_netdev,x-systemd.automount,noauto,"
	    "nofail,user,relatime,defaults");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.msg, "");
	CHECK_STR(r.o.source, "overlay");
	CHECK_STR(r.o.mountpoint, "/mnt/x");
	CHECK_STR(r.o.fuse_opts, "rw,nodev,nosuid");
	CHECK(!r.o.ro);
	done(&r);
}

static void test_positionals(void)
{
	struct run r;

	/* Options after the mountpoint, glued -o, several -o. */
	RUN(&r, "/m", "-olowerdir=/a", "-o", "upperdir=/u", "-oworkdir=/w");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.o.mountpoint, "/m");
	CHECK_STR(r.o.source, NULL);
	CHECK_EQ(r.o.nlower, 1);
	CHECK_STR(r.o.upperdir, "/u");
	CHECK_STR(r.o.workdir, "/w");
	done(&r);

	/* Options between the positionals. */
	RUN(&r, "src", "-o", "lowerdir=/a", "-f", "/m");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.o.source, "src");
	CHECK_STR(r.o.mountpoint, "/m");
	CHECK(r.o.foreground);
	done(&r);

	/* "--" ends the options; a lone "-" is a positional. */
	RUN(&r, "-o", "lowerdir=/a", "--", "-odd");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.o.mountpoint, "-odd");
	CHECK_EQ(r.o.nlower, 1);
	done(&r);
	RUN(&r, "-o", "lowerdir=/a", "-");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.o.mountpoint, "-");
	done(&r);

	RUN(&r, "a", "b", "c", "-o", "lowerdir=/a");
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_STR(r.msg, "laminafs: too many arguments: 'c'\n");
	done(&r);
}

static void test_flags(void)
{
	struct run r;

	RUN(&r, "-o", "lowerdir=/a", "/m", "-f");
	CHECK_EQ(r.rc, 0);
	CHECK(r.o.foreground);
	CHECK(!r.o.debug);
	done(&r);

	RUN(&r, "-d", "-o", "lowerdir=/a", "/m");
	CHECK_EQ(r.rc, 0);
	CHECK(r.o.debug);
	CHECK(r.o.foreground);
	done(&r);

	RUN(&r, "--debug", "-o", "lowerdir=/a", "/m");
	CHECK(r.o.debug && r.o.foreground);
	done(&r);

	run_ok(&r, "lowerdir=/a,debug");
	CHECK(r.o.debug);
	CHECK(r.o.foreground);
	CHECK_STR(r.o.fuse_opts, NULL); /* not handed to libfuse */
	done(&r);

	RUN(&r, "-s", "-o", "lowerdir=/a", "/m");
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.o.threads, 1);
	done(&r);

	/* Help and version need neither lowerdir nor a mountpoint. */
	static const char *const help[] = { "-h", "--help" };
	static const char *const ver[] = { "-V", "--version" };

	for (size_t i = 0; i < 2; i++) {
		RUN(&r, help[i]);
		CHECK_EQ(r.rc, 0);
		CHECK(r.o.help);
		CHECK(!r.o.version);
		CHECK_STR(r.msg, "");
		done(&r);
		RUN(&r, ver[i]);
		CHECK_EQ(r.rc, 0);
		CHECK(r.o.version);
		CHECK(!r.o.help);
		done(&r);
	}
}

static void test_defaults(void)
{
	struct run r;

	run_ok(&r, "lowerdir=/a");
	CHECK_EQ(r.o.nlower, 1);
	CHECK_STR(r.o.upperdir, NULL);
	CHECK_STR(r.o.workdir, NULL);
	CHECK_STR(r.o.source, NULL);
	CHECK_EQ(r.o.uidmap.n, 0);
	CHECK_EQ(r.o.gidmap.n, 0);
	CHECK(!r.o.squash_to_root);
	CHECK_EQ(r.o.squash_uid, -1);
	CHECK_EQ(r.o.squash_gid, -1);
	CHECK(!r.o.static_nlink);
	CHECK(!r.o.noxattrs);
	CHECK(r.o.fsync);
	CHECK(!r.o.volatile_mnt);
	CHECK(!r.o.writeback);
	CHECK(!r.o.ro);
	CHECK(r.o.timeout == 86400.0);
	CHECK_EQ(r.o.threads, 0);
	CHECK(!r.o.foreground);
	CHECK(!r.o.debug);
	CHECK(!r.o.help);
	CHECK(!r.o.version);
	CHECK_STR(r.o.fuse_opts, NULL);
	done(&r);
}

static void test_overlay_options(void)
{
	struct run r;

	run_ok(&r, "lowerdir=/a,squash_to_root,static_nlink,noxattrs,"
	       "writeback=1,fsync=1,threads=8,timeout=0.5");
	CHECK(r.o.squash_to_root);
	CHECK(r.o.static_nlink);
	CHECK(r.o.noxattrs);
	CHECK(r.o.writeback);
	CHECK(r.o.fsync);
	CHECK_EQ(r.o.threads, 8);
	CHECK(r.o.timeout == 0.5);
	done(&r);

	run_ok(&r, "lowerdir=/a,noxattrs=1");
	CHECK(r.o.noxattrs);
	done(&r);
	run_ok(&r, "lowerdir=/a,noxattrs,noxattrs=0,writeback=1,writeback=0");
	CHECK(!r.o.noxattrs);
	CHECK(!r.o.writeback);
	done(&r);
	run_ok(&r, "lowerdir=/a,fsync=0");
	CHECK(!r.o.fsync);
	CHECK(!r.o.volatile_mnt);
	done(&r);
	/* volatile is stronger than fsync=1, whatever the order. */
	run_ok(&r, "lowerdir=/a,volatile,fsync=1");
	CHECK(r.o.volatile_mnt);
	CHECK(!r.o.fsync);
	done(&r);

	run_ok(&r, "lowerdir=/a,squash_to_uid=0,squash_to_gid=4294967294");
	CHECK_EQ(r.o.squash_uid, 0);
	CHECK_EQ(r.o.squash_gid, 4294967294LL);
	done(&r);

	run_ok(&r, "lowerdir=/a,timeout=3");
	CHECK(r.o.timeout == 3.0);
	done(&r);
	run_ok(&r, "lowerdir=/a,timeout=0");
	CHECK(r.o.timeout == 0.0);
	done(&r);
	run_ok(&r, "lowerdir=/a,timeout=.25");
	CHECK(r.o.timeout == 0.25);
	done(&r);
	run_ok(&r, "lowerdir=/a,timeout=86400.");
	CHECK(r.o.timeout == 86400.0);
	done(&r);

	run_ok(&r, "lowerdir=/a,threads=0");
	CHECK_EQ(r.o.threads, 0);
	done(&r);
	run_ok(&r, "lowerdir=/a,threads=1024");
	CHECK_EQ(r.o.threads, 1024);
	done(&r);

	run_ok(&r, "lowerdir=/a,ro");
	CHECK(r.o.ro);
	CHECK_STR(r.o.fuse_opts, "ro");
	done(&r);
	run_ok(&r, "lowerdir=/a,ro,rw");
	CHECK(!r.o.ro);
	CHECK_STR(r.o.fuse_opts, "ro,rw");
	done(&r);

	/* A later value replaces an earlier one. */
	run_ok(&r, "lowerdir=/x:/y,upperdir=/u1,workdir=/w1,lowerdir=/z,"
	       "upperdir=/u2,uidmapping=0:1:1,uidmapping=0:5:2,"
	       "gidmapping=0:7:1");
	CHECK_EQ(r.o.nlower, 1);
	if (r.o.nlower == 1)
		CHECK_STR(r.o.lowerdirs[0], "/z");
	CHECK_STR(r.o.upperdir, "/u2");
	CHECK_EQ(r.o.uidmap.n, 1);
	CHECK_EQ(lm_idmap_to_host(&r.o.uidmap, 1), 6);
	CHECK_EQ(lm_idmap_to_host(&r.o.gidmap, 0), 7);
	done(&r);
}

static void test_fuse_options(void)
{
	struct run r;

	run_ok(&r, "allow_other,allow_root,default_permissions,auto_unmount,"
	       "fsname=laminafs,subtype=overlay,max_read=131072,lowerdir=/a,"
	       "suid,nosuid,dev,nodev,exec,noexec,async,sync,dirsync,atime,"
	       "noatime,context=u:r:t:s0,fscontext=u:r:f:s0,"
	       "defcontext=u:r:d:s0,rootcontext=u:r:r:s0");
	CHECK_STR(r.o.fuse_opts,
		  "allow_other,allow_root,default_permissions,auto_unmount,"
		  "fsname=laminafs,subtype=overlay,max_read=131072,"
		  "suid,nosuid,dev,nodev,exec,noexec,async,sync,dirsync,atime,"
		  "noatime,context=u:r:t:s0,fscontext=u:r:f:s0,"
		  "defcontext=u:r:d:s0,rootcontext=u:r:r:s0");
	done(&r);

	/* fstab words, and atime words libfuse 3.14 rejects: accepted and
	 * dropped without a word. */
	run_ok(&r, "lowerdir=/a,nodiratime,relatime,strictatime,lazytime,"
	       "defaults,user,nouser,users,auto,noauto,_netdev,nofail,"
	       "x-systemd.automount,x-gvfs-show,x-mount.mkdir=0755");
	CHECK_STR(r.o.fuse_opts, NULL);
	done(&r);

	/* Values are re-escaped for libfuse: ',' and '\'. */
	run_ok(&r, "lowerdir=/a,fsname=a\\,b,subtype=c\\\\d");
	CHECK_STR(r.o.fuse_opts, "fsname=a\\,b,subtype=c\\\\d");
	done(&r);
}

static void test_escaping(void)
{
	struct run r;

	run_ok(&r, "lowerdir=/a\\:b:/c\\,d:/e\\\\f:/g,upperdir=/u\\,v,"
	       "workdir=/w\\:x");
	CHECK_EQ(r.o.nlower, 4);
	if (r.o.nlower == 4) {
		CHECK_STR(r.o.lowerdirs[0], "/a:b");
		CHECK_STR(r.o.lowerdirs[1], "/c,d");
		CHECK_STR(r.o.lowerdirs[2], "/e\\f");
		CHECK_STR(r.o.lowerdirs[3], "/g");
	}
	CHECK_STR(r.o.upperdir, "/u,v");
	CHECK_STR(r.o.workdir, "/w:x");
	done(&r);

	/* A lone trailing backslash stays literal. */
	run_ok(&r, "lowerdir=/a\\");
	CHECK_EQ(r.o.nlower, 1);
	if (r.o.nlower == 1)
		CHECK_STR(r.o.lowerdirs[0], "/a\\");
	done(&r);

	/* Paths are kept as given: relative, "..", spaces. */
	run_ok(&r, "lowerdir=rel/x:../y:/with space/z");
	CHECK_EQ(r.o.nlower, 3);
	if (r.o.nlower == 3) {
		CHECK_STR(r.o.lowerdirs[0], "rel/x");
		CHECK_STR(r.o.lowerdirs[1], "../y");
		CHECK_STR(r.o.lowerdirs[2], "/with space/z");
	}
	done(&r);

	/* Double quotes protect commas; an escaped quote does not. */
	run_ok(&r, "lowerdir=/a,fsname=\"x,y\",subtype=q\\\"r,allow_other");
	CHECK_STR(r.o.fuse_opts,
		  "fsname=\"x\\,y\",subtype=q\"r,allow_other");
	done(&r);
}

static void test_empty_items(void)
{
	struct run r;

	run_ok(&r, ",,lowerdir=/a,,,upperdir=/u,workdir=/w,");
	CHECK_EQ(r.o.nlower, 1);
	CHECK_STR(r.o.upperdir, "/u");
	CHECK_STR(r.o.workdir, "/w");
	done(&r);

	RUN(&r, "-o", "", "-o", ",", "-o", "lowerdir=/a", "/m");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.msg, "");
	done(&r);
}

static void test_unknown(void)
{
	struct run r;

	RUN(&r, "-o", "lowerdir=/a,bogus,metacopy=on,redirect_dir=off",
	    "-x", "/m");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.msg,
		  "laminafs: warning: unknown option 'bogus' ignored\n"
		  "laminafs: warning: unknown option 'metacopy=on' ignored\n"
		  "laminafs: warning: unknown option 'redirect_dir=off' ignored\n"
		  "laminafs: warning: unknown option '-x' ignored\n");
	CHECK_STR(r.o.fuse_opts, NULL);
	CHECK_STR(r.o.mountpoint, "/m");
	done(&r);

	/* Names match whole words only. */
	RUN(&r, "-o", "lowerdir=/a,rox,ro_,fsync2=1", "/m");
	CHECK_EQ(r.rc, 0);
	CHECK_STR(r.msg,
		  "laminafs: warning: unknown option 'rox' ignored\n"
		  "laminafs: warning: unknown option 'ro_' ignored\n"
		  "laminafs: warning: unknown option 'fsync2=1' ignored\n");
	CHECK(!r.o.ro);
	done(&r);

	/* A NULL warn stream is allowed, for warnings and errors. */
	{
		struct lm_mount_opts o;
		char a0[] = "laminafs", a1[] = "-o", a2[] = "bogus,lowerdir=/a";
		char a3[] = "/m", a4[] = "fsync=9";
		char *ok[] = { a0, a1, a2, a3, NULL };
		char *bad[] = { a0, a1, a4, a3, NULL };

		CHECK_EQ(lm_opts_parse(4, ok, &o, NULL), 0);
		lm_opts_release(&o);
		CHECK_EQ(lm_opts_parse(4, bad, &o, NULL), -EINVAL);
		lm_opts_release(&o);
	}
}

static void test_errors(void)
{
	struct run r;

	RUN(&r, "/m");
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_STR(r.msg, "laminafs: lowerdir= is required\n");
	done(&r);

	RUN(&r, "-o", "lowerdir=/a");
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_STR(r.msg, "laminafs: mountpoint is missing\n");
	done(&r);
	RUN(&r, "-o", "lowerdir=/a", "");
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_STR(r.msg, "laminafs: mountpoint is missing\n");
	done(&r);

	RUN(&r, "/m", "-o");
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_STR(r.msg, "laminafs: option '-o' needs an argument\n");
	done(&r);

	/* No arguments at all. */
	run_argv(&r, (const char *const[]){ "laminafs", NULL });
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_STR(r.msg, "laminafs: lowerdir= is required\n");
	done(&r);

	expect_error("lowerdir=/a,upperdir=/u",
		     "laminafs: upperdir= and workdir= must be given together\n");
	expect_error("lowerdir=/a,workdir=/w",
		     "laminafs: upperdir= and workdir= must be given together\n");
	expect_error("lowerdir=", "laminafs: empty path in lowerdir=\n");
	expect_error("lowerdir=/a::/b", "laminafs: empty path in lowerdir=\n");
	expect_error("lowerdir=/a:", "laminafs: empty path in lowerdir=\n");
	expect_error("lowerdir=:/a", "laminafs: empty path in lowerdir=\n");
	expect_error("lowerdir",
		     "laminafs: option 'lowerdir' needs a value (lowerdir=...)\n");
	expect_error("lowerdir=/a,upperdir=,workdir=/w",
		     "laminafs: upperdir= needs a path\n");
	expect_error("lowerdir=/a,upperdir=/u,workdir=",
		     "laminafs: workdir= needs a path\n");
	expect_error("lowerdir=/a,static_nlink=1",
		     "laminafs: option 'static_nlink' takes no value\n");
	expect_error("lowerdir=/a,allow_other=1",
		     "laminafs: option 'allow_other' takes no value\n");
	expect_error("lowerdir=/a,volatile=1",
		     "laminafs: option 'volatile' takes no value\n");
	expect_error("lowerdir=/a,fsname",
		     "laminafs: option 'fsname' needs a value (fsname=...)\n");
	expect_error("lowerdir=/a,fsync",
		     "laminafs: option 'fsync' needs a value (fsync=...)\n");
	expect_error("lowerdir=/a,fsync=2",
		     "laminafs: invalid fsync='2' (expected 0 or 1)\n");
	expect_error("lowerdir=/a,fsync=yes",
		     "laminafs: invalid fsync='yes' (expected 0 or 1)\n");
	expect_error("lowerdir=/a,writeback=true",
		     "laminafs: invalid writeback='true' (expected 0 or 1)\n");
	expect_error("lowerdir=/a,noxattrs=2",
		     "laminafs: invalid noxattrs='2' (expected 0 or 1)\n");
	expect_error("lowerdir=/a,uidmapping=0:0:0",
		     "laminafs: invalid uidmapping='0:0:0' "
		     "(expected C:H:LEN[:C:H:LEN...])\n");
	expect_error("lowerdir=/a,gidmapping=",
		     "laminafs: invalid gidmapping='' "
		     "(expected C:H:LEN[:C:H:LEN...])\n");
	expect_error("lowerdir=/a,gidmapping=0:1:4294967296",
		     "laminafs: invalid gidmapping='0:1:4294967296' "
		     "(expected C:H:LEN[:C:H:LEN...])\n");

	static const char *const bad_ids[] = {
		"", "-1", "4294967295", "99999999999999999999", "1x", " 1",
		"+1", "0x10",
	};
	static const char *const bad_timeouts[] = {
		"", "-1", "abc", "1e3", "inf", "nan", "1.2.3", ".", "1,5",
		" 1", "0x10",
	};
	static const char *const bad_threads[] = {
		"", "-1", "1025", "99999999999999999999999", "4x", "1.5",
	};
	char opt[128], line[256];

	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		snprintf(opt, sizeof(opt), "lowerdir=/a,squash_to_uid=%s",
			 bad_ids[i]);
		snprintf(line, sizeof(line), "laminafs: invalid squash_to_uid="
			 "'%s' (expected a uid/gid)\n", bad_ids[i]);
		expect_error(opt, line);
		snprintf(opt, sizeof(opt), "lowerdir=/a,squash_to_gid=%s",
			 bad_ids[i]);
		snprintf(line, sizeof(line), "laminafs: invalid squash_to_gid="
			 "'%s' (expected a uid/gid)\n", bad_ids[i]);
		expect_error(opt, line);
	}
	for (size_t i = 0; i < sizeof(bad_timeouts) / sizeof(bad_timeouts[0]);
	     i++) {
		/* "1,5" splits into "timeout=1" and an unknown "5": fine. */
		if (strchr(bad_timeouts[i], ','))
			continue;
		snprintf(opt, sizeof(opt), "lowerdir=/a,timeout=%s",
			 bad_timeouts[i]);
		snprintf(line, sizeof(line), "laminafs: invalid timeout='%s' "
			 "(expected seconds)\n", bad_timeouts[i]);
		expect_error(opt, line);
	}
	for (size_t i = 0; i < sizeof(bad_threads) / sizeof(bad_threads[0]);
	     i++) {
		snprintf(opt, sizeof(opt), "lowerdir=/a,threads=%s",
			 bad_threads[i]);
		snprintf(line, sizeof(line), "laminafs: invalid threads='%s' "
			 "(expected 0..1024)\n", bad_threads[i]);
		expect_error(opt, line);
	}

	/* The first error stops the parse: no warnings after it. */
	expect_error("fsync=2,bogus,lowerdir=/a",
		     "laminafs: invalid fsync='2' (expected 0 or 1)\n");
}

static void test_release(void)
{
	struct run r;

	run_ok(&r, "lowerdir=/a:/b,upperdir=/u,workdir=/w,uidmapping=0:1:1,"
	       "allow_other");
	lm_opts_release(&r.o);
	CHECK(r.o.lowerdirs == NULL);
	CHECK_EQ(r.o.nlower, 0);
	CHECK(r.o.upperdir == NULL && r.o.fuse_opts == NULL);
	CHECK(r.o.mountpoint == NULL && r.o.uidmap.v == NULL);
	lm_opts_release(&r.o); /* twice is harmless */
	free(r.msg);

	/* Whatever was set before an error is released too (ASan/LSan). */
	RUN(&r, "src", "/m", "-o", "lowerdir=/a,upperdir=/u,allow_other,"
	    "uidmapping=0:1:1,fsync=7");
	CHECK_EQ(r.rc, -EINVAL);
	done(&r);
}

static bool usage_has(const char *text, const char *word)
{
	if (strstr(text, word))
		return true;
	fprintf(stderr, "usage text lacks '%s'\n", word);
	check_fails++;
	return false;
}

static void test_usage(void)
{
	static const char *const words[] = {
		"usage: laminafs", "lowerdir=", "upperdir=", "workdir=",
		"uidmapping=", "gidmapping=", "squash_to_root",
		"squash_to_uid=", "squash_to_gid=", "static_nlink", "noxattrs",
		"fsync=", "volatile", "writeback=", "timeout=", "threads=",
		"ro, rw", "debug", "allow_other", "allow_root",
		"default_permissions", "auto_unmount", "fsname=", "subtype=",
		"max_read=", "nosuid", "nodev", "noexec", "dirsync", "noatime",
		"context=", "fscontext=", "defcontext=", "rootcontext=", "-f",
		"-d", "-h, --help", "-V, --version", "x-*",
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();
	lm_opts_usage(f, "laminafs");
	fclose(f);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		usage_has(text, words[i]);
	free(text);

	f = open_memstream(&text, &len);
	if (!f)
		abort();
	lm_opts_usage(f, "/usr/bin/fuse-overlayfs");
	fclose(f);
	usage_has(text, "usage: /usr/bin/fuse-overlayfs ");
	free(text);
}

/* Sealed layers in lowerdir=, and their options. */
static void test_sealed(void)
{
	struct run r;

	RUN(&r, "-o", "lowerdir=sealed:/l/abc:/dir:sealed:0123456789ab:sealed\\:/esc,"
	    "cache_size=16M,io=pread,odirect", "/m");
	CHECK_EQ(r.rc, 0);
	if (r.rc == 0) {
		CHECK_EQ(r.o.nlower, 4);
		CHECK_STR(r.o.lowerdirs[0], "sealed:/l/abc");
		CHECK_STR(r.o.lowerdirs[1], "/dir");
		CHECK_STR(r.o.lowerdirs[2], "sealed:0123456789ab");
		CHECK_STR(r.o.lowerdirs[3], "sealed:/esc");
		CHECK(lm_opts_is_sealed(r.o.lowerdirs[0]));
		CHECK(!lm_opts_is_sealed(r.o.lowerdirs[1]));
		CHECK_EQ(r.o.cache_size, 16u << 20);
		CHECK_STR(r.o.io, "pread");
		CHECK(r.o.odirect);
	}
	done(&r);

	RUN(&r, "-o", "lowerdir=/a", "/m");
	CHECK_EQ(r.o.cache_size, LM_CACHE_DEFAULT);
	CHECK(!r.o.odirect);
	CHECK(r.o.io == NULL);
	CHECK_EQ(r.o.readahead_kb, -1);
	CHECK(r.o.uring && !r.o.uring_set);
	done(&r);

	/* Encrypted sealed layers need the tenant without an upper. */
	run_ok(&r, "lowerdir=sealed:abcd,tenant=t,keyfile=/k");
	done(&r);
	run_ok(&r, "lowerdir=sealed:abcd,cache_size=0,odirect=0");
	CHECK(!r.o.odirect);
	CHECK_EQ(r.o.cache_size, 0);
	done(&r);

	expect_error("lowerdir=/a:sealed", "laminafs: lowerdir= ends in 'sealed' without the layer after it\n");
	expect_error("lowerdir=sealed:x,cache_size=12Q",
		     "laminafs: invalid cache_size='12Q' (expected bytes, with K, M or G)\n");
	expect_error("lowerdir=sealed:x,cache_size=-1",
		     "laminafs: invalid cache_size='-1' (expected bytes, with K, M or G)\n");
	expect_error("lowerdir=sealed:x,cache_size=99999999999G",
		     "laminafs: invalid cache_size='99999999999G' (expected bytes, with K, M or G)\n");
	run_ok(&r, "lowerdir=sealed:abcd,uring=1");
	CHECK(r.o.uring && r.o.uring_set);
	done(&r);
	run_ok(&r, "lowerdir=sealed:abcd,readahead=8192");
	CHECK_EQ(r.o.readahead_kb, 8192);
	done(&r);
	expect_error("lowerdir=sealed:x,readahead=-3",
		     "laminafs: invalid readahead='-3' (expected KiB, 0..1048576)\n");
	expect_error("lowerdir=sealed:x,io=aio",
		     "laminafs: invalid io='aio' (expected auto, uring, shared or pread)\n");
	expect_error("lowerdir=/a,tenant=t,keyfile=/k",
		     "laminafs: tenant= encrypts the upper layer: upperdir= is missing\n");
}

int main(void)
{
	test_containers_storage();
	test_mount_fuse3();
	test_positionals();
	test_flags();
	test_defaults();
	test_overlay_options();
	test_fuse_options();
	test_escaping();
	test_empty_items();
	test_unknown();
	test_errors();
	test_release();
	test_usage();
	test_sealed();
	if (check_fails) {
		fprintf(stderr, "test_opts: %d check(s) failed\n", check_fails);
		return 1;
	}
	printf("test_opts: all checks passed\n");
	return 0;
}
