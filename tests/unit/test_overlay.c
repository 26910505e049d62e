/* Unit test for overlay/: the union rules of overlay.h (lookup, readdir,
 * whiteouts, opaque directories, copy-up, removal, rename, hard links,
 * creation, xattrs, lookup counts) on plain-directory layers built in a
 * temporary directory with ordinary system calls.
 *
 * Every check gets a fresh stack: lower0 (top lower), lower1 (bottom
 * lower) and an upper with its workdir. Node references and directory
 * snapshots go through the fixture, which drops them after the check and
 * then requires the node table to be back to the root alone.
 *
 * Needs root (0/0 whiteout devices, trusted.* xattrs, chown): exit 77
 * otherwise. Exit 0 pass, 1 fail. */
#include "layer/layer.h"
#include "overlay/overlay.h"
/* Only for ovl->nnodes: the one way to see that forget frees what lookup
 * made. */
#include "overlay/ovl_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_REFS 256
#define MAX_SNAPS 16

struct fx {
	char base[32];                   /* /tmp/lm-ovl-XXXXXX */
	char up[48], work[48], l0[48], l1[48];
	struct lm_ovl *ovl;
	struct lm_node *root;
	struct lm_node *refs[MAX_REFS]; /* one entry per lookup reference held */
	size_t nrefs;
	struct lm_dirsnap *snaps[MAX_SNAPS];
	size_t nsnaps;
};

static const char *cur_check;
static bool setup_ok;

static void fail_at(int line, const char *expr)
{
	printf("FAIL %s: line %d: %s\n", cur_check, line, expr);
}

static void fail_eq(int line, const char *a, const char *b, long long va, long long vb)
{
	printf("FAIL %s: line %d: %s == %s (got %lld, want %lld)\n", cur_check, line, a, b,
	       va, vb);
}

#define EXPECT(c)                                                          \
	do {                                                               \
		if (!(c)) {                                                \
			fail_at(__LINE__, #c);                             \
			return false;                                      \
		}                                                          \
	} while (0)

#define EXPECT_EQ(a, b)                                                    \
	do {                                                               \
		long long a_ = (long long)(a), b_ = (long long)(b);        \
		if (a_ != b_) {                                            \
			fail_eq(__LINE__, #a, #b, a_, b_);                 \
			return false;                                      \
		}                                                          \
	} while (0)

/* Records a failure and goes on, to report every symptom at once. */
#define SOFT(c)                                                            \
	do {                                                               \
		if (!(c)) {                                                \
			fail_at(__LINE__, #c);                             \
			ok = false;                                        \
		}                                                          \
	} while (0)

/* ---- building layers on the host ---- */

/* ROOT/REL in one of eight rotating buffers: enough for one expression. */
static const char *pj(const char *root, const char *rel)
{
	static char buf[8][PATH_MAX];
	static unsigned i;
	char *b = buf[i++ % 8];

	if (snprintf(b, PATH_MAX, "%s/%s", root, rel) >= PATH_MAX)
		abort(); /* the test's own paths are short */
	return b;
}

static void setup_err(const char *what, const char *path)
{
	printf("FAIL %s: setup: %s %s: %s\n", cur_check, what, path, strerror(errno));
	setup_ok = false;
}

static void mk_file(const char *root, const char *rel, const char *data)
{
	const char *p = pj(root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(data);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		setup_err("write", p);
	if (fd >= 0)
		close(fd);
}

static void mk_dir(const char *root, const char *rel)
{
	if (mkdir(pj(root, rel), 0755))
		setup_err("mkdir", pj(root, rel));
}

static void mk_wh(const char *root, const char *rel)
{
	if (mknod(pj(root, rel), S_IFCHR | 0000, makedev(0, 0)))
		setup_err("mknod", pj(root, rel));
}

static void mk_xattr(const char *root, const char *rel, const char *name, const char *val)
{
	if (lsetxattr(pj(root, rel), name, val, strlen(val), 0))
		setup_err(name, pj(root, rel));
}

static void mk_link(const char *root, const char *from, const char *to)
{
	if (link(pj(root, from), pj(root, to)))
		setup_err("link", pj(root, to));
}

/* Mode, owner and (when mtime is not 0) both times of ROOT/REL. */
static void mk_meta(const char *root, const char *rel, mode_t mode, uid_t uid, gid_t gid,
		    time_t mtime)
{
	const char *p = pj(root, rel);
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };

	if (lchown(p, uid, gid) || chmod(p, mode) ||
	    (mtime && utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW)))
		setup_err("meta", p);
}

/* ---- looking at the host ---- */

static bool host_is_wh(const char *root, const char *rel)
{
	struct stat st;

	return lstat(pj(root, rel), &st) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(0, 0);
}

static bool host_absent(const char *root, const char *rel)
{
	struct stat st;

	return lstat(pj(root, rel), &st) != 0 && errno == ENOENT;
}

static ino_t host_ino(const char *root, const char *rel)
{
	struct stat st;

	return lstat(pj(root, rel), &st) ? 0 : st.st_ino;
}

static bool host_reads(const char *root, const char *rel, const char *want)
{
	char buf[256];
	int fd = open(pj(root, rel), O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

static bool host_xattr_is(const char *root, const char *rel, const char *name, const char *want)
{
	char buf[256];
	ssize_t n = lgetxattr(pj(root, rel), name, buf, sizeof(buf));

	return n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

/* ---- fixture ---- */

static bool fx_init(struct fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	setup_ok = true;
	snprintf(fx->base, sizeof(fx->base), "/tmp/lm-ovl-XXXXXX");
	if (!mkdtemp(fx->base)) {
		setup_err("mkdtemp", fx->base);
		fx->base[0] = '\0';
		return false;
	}
	snprintf(fx->up, sizeof(fx->up), "%s/upper", fx->base);
	snprintf(fx->work, sizeof(fx->work), "%s/work", fx->base);
	snprintf(fx->l0, sizeof(fx->l0), "%s/lower0", fx->base);
	snprintf(fx->l1, sizeof(fx->l1), "%s/lower1", fx->base);
	mk_dir(fx->base, "upper");
	mk_dir(fx->base, "work");
	mk_dir(fx->base, "lower0");
	mk_dir(fx->base, "lower1");
	return setup_ok;
}

/* Builds the overlay over the layers as they are now on the host. */
static bool fx_mount(struct fx *fx)
{
	static const struct lm_idmap ident = { NULL, 0 };
	struct lm_layer *up = NULL, *low[2] = { NULL, NULL };
	struct lm_ovl_config cfg = {
		.lowers = low, .nlower = 2, .uidmap = &ident, .gidmap = &ident,
		.squash_uid = -1, .squash_gid = -1, .fsync = true,
	};
	int rc;

	if (!setup_ok)
		return false;
	rc = lm_layer_dir_open(fx->up, fx->work, true, &up);
	if (rc == 0)
		rc = lm_layer_dir_open(fx->l0, NULL, false, &low[0]);
	if (rc == 0)
		rc = lm_layer_dir_open(fx->l1, NULL, false, &low[1]);
	if (rc) {
		lm_layer_free(up);
		lm_layer_free(low[0]);
		return false;
	}
	cfg.upper = up;
	if (lm_ovl_new(&cfg, &fx->ovl))
		return false;
	fx->root = lm_ovl_root(fx->ovl);
	return true;
}

static void fx_track(struct fx *fx, struct lm_node *n)
{
	if (fx->nrefs == MAX_REFS) {
		fprintf(stderr, "test_overlay: MAX_REFS too small\n");
		abort();
	}
	fx->refs[fx->nrefs++] = n;
}

/* Drops every reference the check holds. */
static void fx_forget_all(struct fx *fx)
{
	while (fx->nrefs)
		lm_ovl_forget(fx->ovl, fx->refs[--fx->nrefs], 1);
}

static bool fx_nodes_left(struct fx *fx, size_t want)
{
	if (fx->ovl->nnodes == want)
		return true;
	printf("FAIL %s: %zu nodes in the table, want %zu\n", cur_check, fx->ovl->nnodes, want);
	return false;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) ? -1 : 0;
}

/* Frees what the check left, requires every node but the root to be gone
 * once its references are dropped, and removes the directories. */
static bool fx_fini(struct fx *fx)
{
	bool ok = true;

	while (fx->nsnaps)
		lm_ovl_dirsnap_free(fx->snaps[--fx->nsnaps]);
	if (fx->ovl) {
		fx_forget_all(fx);
		ok = fx_nodes_left(fx, 1);
		lm_ovl_free(fx->ovl);
	}
	if (fx->base[0])
		nftw(fx->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return ok;
}

/* ---- the overlay through its API ---- */

static int lk(struct fx *fx, struct lm_node *parent, const char *name, struct lm_node **out,
	      struct stat *st)
{
	struct stat tmp;
	struct lm_node *n;
	int rc = lm_ovl_lookup(fx->ovl, parent, name, &n, st ? st : &tmp);

	if (rc == 0) {
		fx_track(fx, n);
		if (out)
			*out = n;
	}
	return rc;
}

/* Looks up every component of PATH from the root; NULL if one fails. */
static struct lm_node *lk_path(struct fx *fx, const char *path, struct stat *st)
{
	char buf[PATH_MAX], *save, *c;
	struct lm_node *n = fx->root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save))
		if (lk(fx, n, c, &n, st))
			return NULL;
	return n;
}

/* True when PARENT/NAME is not visible; says what it got otherwise. */
static bool absent(struct fx *fx, struct lm_node *parent, const char *name)
{
	int rc = lk(fx, parent, name, NULL, NULL);

	if (rc != -ENOENT)
		printf("FAIL %s: lookup of \"%s\" gave %d, want -ENOENT\n", cur_check, name, rc);
	return rc == -ENOENT;
}

static int node_write(struct fx *fx, struct lm_node *n, int flags, const char *data)
{
	struct lm_file *f;
	bool low;
	ssize_t w;
	int rc = lm_ovl_open(fx->ovl, n, flags, &f, &low);

	if (rc)
		return rc;
	w = f->ops->pwrite(f, data, strlen(data), 0);
	f->ops->close(f);
	return w == (ssize_t)strlen(data) ? 0 : (w < 0 ? (int)w : -EIO);
}

static bool node_reads(struct fx *fx, struct lm_node *n, const char *want)
{
	struct lm_file *f;
	char buf[256];
	bool low;
	ssize_t r;

	if (lm_ovl_open(fx->ovl, n, O_RDONLY, &f, &low))
		return false;
	r = f->ops->pread(f, buf, sizeof(buf), 0);
	f->ops->close(f);
	return r == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)r) == 0;
}

static struct lm_dirsnap *snap(struct fx *fx, struct lm_node *dir)
{
	struct lm_dirsnap *ds;

	if (fx->nsnaps == MAX_SNAPS || lm_ovl_opendir(fx->ovl, dir, &ds))
		return NULL;
	fx->snaps[fx->nsnaps++] = ds;
	return ds;
}

static size_t snap_count(const struct lm_dirsnap *ds, const char *name)
{
	size_t c = 0;

	for (size_t i = 0; i < ds->n; i++)
		c += strcmp(ds->v[i].name, name) == 0;
	return c;
}

static const struct lm_dirent *snap_find(const struct lm_dirsnap *ds, const char *name)
{
	for (size_t i = 0; i < ds->n; i++)
		if (strcmp(ds->v[i].name, name) == 0)
			return &ds->v[i];
	return NULL;
}

/* The snapshot is exactly ".", "..", then NAMES in any order, once each. */
static bool snap_is(const struct lm_dirsnap *ds, const char *const *names, size_t n)
{
	if (ds->n != n + 2 || strcmp(ds->v[0].name, ".") || strcmp(ds->v[1].name, "..")) {
		printf("FAIL %s: listing has %zu entries, want %zu:", cur_check, ds->n, n + 2);
		for (size_t i = 0; i < ds->n; i++)
			printf(" \"%s\"", ds->v[i].name);
		printf("\n");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (snap_count(ds, names[i]) != 1) {
			printf("FAIL %s: \"%s\" listed %zu times\n", cur_check, names[i],
			       snap_count(ds, names[i]));
			return false;
		}
	}
	return true;
}

/* ---- lookup ---- */

static bool check_lookup_upper_wins(struct fx *fx)
{
	struct lm_node *n;
	struct stat st;

	mk_file(fx->l0, "f", "lower");
	mk_file(fx->up, "f", "upper!");
	mk_file(fx->l1, "g", "bottom");
	mk_file(fx->l0, "g", "middle");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "f", &n, &st), 0);
	EXPECT(S_ISREG(st.st_mode));
	EXPECT_EQ(st.st_size, 6);
	EXPECT_EQ(st.st_ino, host_ino(fx->up, "f"));
	EXPECT(node_reads(fx, n, "upper!"));
	EXPECT_EQ(lk(fx, fx->root, "g", &n, &st), 0);
	EXPECT(node_reads(fx, n, "middle"));
	return true;
}

static bool check_lookup_whiteouts(struct fx *fx)
{
	mk_file(fx->l0, "w1", "x");
	mk_wh(fx->up, "w1");                 /* 0/0 device in the upper */
	mk_file(fx->l0, "w2", "x");
	mk_file(fx->up, ".wh.w2", "");       /* .wh. file in the upper */
	mk_file(fx->l1, "w3", "x");
	mk_wh(fx->l0, "w3");                 /* both spellings in a lower */
	mk_file(fx->l1, "w4", "x");
	mk_file(fx->l0, ".wh.w4", "");
	mk_dir(fx->l0, "wd");                /* a whiteout hides a directory */
	mk_file(fx->l0, "wd/x", "x");
	mk_wh(fx->up, "wd");
	EXPECT(fx_mount(fx));
	EXPECT(absent(fx, fx->root, "w1"));
	EXPECT(absent(fx, fx->root, "w2"));
	EXPECT(absent(fx, fx->root, "w3"));
	EXPECT(absent(fx, fx->root, "w4"));
	EXPECT(absent(fx, fx->root, "wd"));
	return true;
}

/* NAME is a directory showing "keep" and hiding "hid" from below. */
static bool opaque_dir_ok(struct fx *fx, const char *name)
{
	static const char *const keep[] = { "keep" };
	struct lm_dirsnap *ds;
	struct lm_node *d;
	struct stat st;

	EXPECT_EQ(lk(fx, fx->root, name, &d, &st), 0);
	EXPECT(S_ISDIR(st.st_mode));
	EXPECT_EQ(lk(fx, d, "keep", NULL, NULL), 0);
	EXPECT(absent(fx, d, "hid"));
	EXPECT((ds = snap(fx, d)) != NULL);
	EXPECT(snap_is(ds, keep, 1));
	return true;
}

/* o1..o3: upper dirs made opaque in the three spellings over lower0;
 * o4, o5: lower0 dirs opaque over lower1. */
static bool check_lookup_opaque(struct fx *fx)
{
	static const char *const dirs[] = { "o1", "o2", "o3", "o4", "o5" };

	for (size_t i = 0; i < 5; i++) {
		const char *top = i < 3 ? fx->up : fx->l0, *below = i < 3 ? fx->l0 : fx->l1;
		char p[64];

		mk_dir(top, dirs[i]);
		mk_dir(below, dirs[i]);
		snprintf(p, sizeof(p), "%s/keep", dirs[i]);
		mk_file(top, p, "k");
		snprintf(p, sizeof(p), "%s/hid", dirs[i]);
		mk_file(below, p, "h");
	}
	mk_xattr(fx->up, "o1", "trusted.overlay.opaque", "y");
	mk_file(fx->up, "o2/" LM_WH_OPAQUE, "");
	mk_xattr(fx->up, "o3", "user.overlay.opaque", "y");
	mk_xattr(fx->l0, "o4", "trusted.overlay.opaque", "y");
	mk_file(fx->l0, "o5/" LM_WH_OPAQUE, "");
	EXPECT(fx_mount(fx));
	for (size_t i = 0; i < 5; i++) {
		if (!opaque_dir_ok(fx, dirs[i])) {
			printf("FAIL %s: in directory %s\n", cur_check, dirs[i]);
			return false;
		}
	}
	return true;
}

static bool check_lookup_nondir_hides_dir(struct fx *fx)
{
	struct lm_dirsnap *ds;
	struct lm_node *n;
	struct stat st;

	mk_dir(fx->l0, "nd");
	mk_file(fx->l0, "nd/child", "c");
	mk_file(fx->up, "nd", "file");
	mk_dir(fx->l1, "nd2");
	mk_file(fx->l1, "nd2/child", "c");
	mk_file(fx->l0, "nd2", "file2");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "nd", &n, &st), 0);
	EXPECT(S_ISREG(st.st_mode));
	EXPECT(node_reads(fx, n, "file"));
	EXPECT_EQ(lk(fx, fx->root, "nd2", &n, &st), 0);
	EXPECT(S_ISREG(st.st_mode));
	EXPECT(node_reads(fx, n, "file2"));
	EXPECT((ds = snap(fx, fx->root)) != NULL);
	EXPECT(snap_find(ds, "nd") && snap_find(ds, "nd")->dtype == DT_REG);
	EXPECT(snap_find(ds, "nd2") && snap_find(ds, "nd2")->dtype == DT_REG);
	return true;
}

static bool check_lookup_merged_dir(struct fx *fx)
{
	struct lm_node *d, *n;
	struct stat st;

	mk_dir(fx->up, "md");
	mk_dir(fx->l0, "md");
	mk_dir(fx->l1, "md");
	mk_file(fx->up, "md/c", "C");
	mk_file(fx->l0, "md/a", "A");
	mk_file(fx->l1, "md/b", "B");
	mk_file(fx->l0, "md/s", "l0");
	mk_file(fx->l1, "md/s", "l1");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "md", &d, &st), 0);
	EXPECT(S_ISDIR(st.st_mode));
	EXPECT_EQ(lk(fx, d, "a", &n, NULL), 0);
	EXPECT(node_reads(fx, n, "A"));
	EXPECT_EQ(lk(fx, d, "b", &n, NULL), 0);
	EXPECT(node_reads(fx, n, "B"));
	EXPECT_EQ(lk(fx, d, "c", &n, NULL), 0);
	EXPECT(node_reads(fx, n, "C"));
	EXPECT_EQ(lk(fx, d, "s", &n, NULL), 0);
	EXPECT(node_reads(fx, n, "l0"));
	return true;
}

/* ---- readdir ---- */

static bool check_opendir_snapshot(struct fx *fx)
{
	static const char *const root[] = { "u", "shared", "m", "low" };
	static const char *const m[] = { "a", "c" };
	struct lm_dirsnap *ds;
	struct lm_node *d;
	struct stat st;

	mk_file(fx->l1, "low", "");
	mk_file(fx->l1, "shared", "l1");
	mk_file(fx->l1, "gone2", "");
	mk_file(fx->l1, "wl0", "");
	mk_file(fx->l1, "wl1", "");
	mk_dir(fx->l1, "m");
	mk_file(fx->l1, "m/b", "");
	mk_file(fx->l0, "shared", "l0");
	mk_file(fx->l0, "gone", "");
	mk_wh(fx->l0, "wl0");
	mk_file(fx->l0, ".wh.wl1", "");
	mk_dir(fx->l0, "m");
	mk_file(fx->l0, "m/a", "");
	mk_file(fx->up, "u", "");
	mk_file(fx->up, "shared", "up");
	mk_wh(fx->up, "gone");
	mk_file(fx->up, ".wh.gone2", "");
	mk_dir(fx->up, "m");
	mk_file(fx->up, "m/c", "");
	mk_file(fx->up, "m/.wh.b", "");
	EXPECT(fx_mount(fx));
	EXPECT((ds = snap(fx, fx->root)) != NULL);
	EXPECT(snap_is(ds, root, 4));
	for (size_t i = 0; i < ds->n; i++)
		EXPECT(strncmp(ds->v[i].name, LM_WH_PREFIX, LM_WH_PREFIX_LEN) != 0);
	/* d_ino agrees with the st_ino a lookup reports. */
	EXPECT_EQ(lk(fx, fx->root, "m", &d, &st), 0);
	EXPECT_EQ(snap_find(ds, "m")->ino, st.st_ino);
	EXPECT_EQ(snap_find(ds, "m")->dtype, DT_DIR);
	EXPECT((ds = snap(fx, d)) != NULL);
	EXPECT(snap_is(ds, m, 2));
	return true;
}

/* ---- copy-up ---- */

static bool check_copyup_on_open(struct fx *fx)
{
	struct lm_node *p, *q, *f;
	struct stat stp, stq, stf, st, h;
	struct lm_dirsnap *ds;
	struct lm_file *file;
	char buf[8];
	bool low = true, copied, wrote;

	mk_dir(fx->l0, "p");
	mk_dir(fx->l0, "p/q");
	mk_file(fx->l0, "p/q/f", "hello");
	mk_xattr(fx->l0, "p/q/f", "user.test", "val");
	mk_meta(fx->l0, "p/q/f", 0640, 1234, 5678, 1000000000);
	mk_meta(fx->l0, "p/q", 0750, 44, 45, 0);
	mk_meta(fx->l0, "p", 0751, 42, 43, 0);
	EXPECT(fx_mount(fx));
	EXPECT((p = lk_path(fx, "p", &stp)) != NULL);
	EXPECT((q = lk_path(fx, "p/q", &stq)) != NULL);
	EXPECT((f = lk_path(fx, "p/q/f", &stf)) != NULL);

	EXPECT_EQ(lm_ovl_open(fx->ovl, f, O_RDWR, &file, &low), 0);
	EXPECT(!low);
	/* Looked at before the write below changes the mtime. */
	copied = lstat(pj(fx->up, "p/q/f"), &h) == 0 && h.st_mode == (S_IFREG | 0640) &&
		 h.st_uid == 1234 && h.st_gid == 5678 && h.st_mtime == 1000000000 &&
		 h.st_size == 5;
	wrote = file->ops->pwrite(file, "HE", 2, 0) == 2;
	file->ops->close(file);
	EXPECT(copied);
	EXPECT(wrote);
	/* The parents came up with their own metadata. */
	EXPECT_EQ(lstat(pj(fx->up, "p"), &h), 0);
	EXPECT(h.st_mode == (S_IFDIR | 0751) && h.st_uid == 42 && h.st_gid == 43);
	EXPECT_EQ(lstat(pj(fx->up, "p/q"), &h), 0);
	EXPECT(h.st_mode == (S_IFDIR | 0750) && h.st_uid == 44 && h.st_gid == 45);
	EXPECT(host_xattr_is(fx->up, "p/q/f", "user.test", "val"));
	EXPECT_EQ(lm_ovl_getxattr(fx->ovl, f, "user.test", buf, sizeof(buf)), 3);
	EXPECT(memcmp(buf, "val", 3) == 0);
	/* The lower is untouched; the overlay shows the new bytes. */
	EXPECT(host_reads(fx->l0, "p/q/f", "hello"));
	EXPECT_EQ(lstat(pj(fx->l0, "p/q/f"), &h), 0);
	EXPECT(h.st_mode == (S_IFREG | 0640) && h.st_mtime == 1000000000);
	EXPECT(host_reads(fx->up, "p/q/f", "HEllo"));
	EXPECT(node_reads(fx, f, "HEllo"));
	/* Inode numbers survive the copy-up, a forget and a new lookup. */
	EXPECT_EQ(lm_ovl_getattr(fx->ovl, f, &st), 0);
	EXPECT_EQ(st.st_ino, stf.st_ino);
	EXPECT_EQ(lm_ovl_getattr(fx->ovl, q, &st), 0);
	EXPECT_EQ(st.st_ino, stq.st_ino);
	EXPECT_EQ(lm_ovl_getattr(fx->ovl, p, &st), 0);
	EXPECT_EQ(st.st_ino, stp.st_ino);
	fx_forget_all(fx);
	EXPECT((f = lk_path(fx, "p/q/f", &st)) != NULL);
	EXPECT_EQ(st.st_ino, stf.st_ino);
	EXPECT((q = lk_path(fx, "p/q", NULL)) != NULL);
	EXPECT((ds = snap(fx, q)) != NULL);
	EXPECT(snap_find(ds, "f") != NULL);
	EXPECT_EQ(snap_find(ds, "f")->ino, stf.st_ino);
	return true;
}

/* Kernel overlayfs puts the parent's times back after a copy-up
 * (ovl_set_timestamps on the upper parent): opening a file for writing
 * does not change the directory's mtime as the container sees it. */
static bool check_copyup_keeps_parent_mtime(struct fx *fx)
{
	struct lm_node *p, *q, *f;
	struct stat st;

	mk_dir(fx->l0, "p");
	mk_dir(fx->l0, "p/q");
	mk_file(fx->l0, "p/q/f", "x");
	mk_meta(fx->l0, "p/q", 0755, 0, 0, 1200000000);
	mk_meta(fx->l0, "p", 0755, 0, 0, 1100000000);
	EXPECT(fx_mount(fx));
	EXPECT((p = lk_path(fx, "p", NULL)) != NULL);
	EXPECT((q = lk_path(fx, "p/q", NULL)) != NULL);
	EXPECT((f = lk_path(fx, "p/q/f", NULL)) != NULL);
	EXPECT_EQ(node_write(fx, f, O_RDWR, "y"), 0);
	EXPECT_EQ(lm_ovl_getattr(fx->ovl, q, &st), 0);
	EXPECT_EQ(st.st_mtime, 1200000000);
	EXPECT_EQ(lm_ovl_getattr(fx->ovl, p, &st), 0);
	EXPECT_EQ(st.st_mtime, 1100000000);
	return true;
}

static bool check_setattr_chmod_copyup(struct fx *fx)
{
	struct lm_setattr sa = { .valid = LM_SET_MODE, .mode = 0600 };
	struct stat st0, st, h;
	struct lm_node *g;

	mk_file(fx->l0, "g", "gee");
	mk_meta(fx->l0, "g", 0644, 0, 0, 0);
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "g", &g, &st0), 0);
	EXPECT_EQ(lm_ovl_setattr(fx->ovl, g, &sa, NULL, &st), 0);
	EXPECT_EQ(st.st_mode, S_IFREG | 0600);
	EXPECT_EQ(st.st_ino, st0.st_ino);
	EXPECT_EQ(lstat(pj(fx->up, "g"), &h), 0);
	EXPECT_EQ(h.st_mode, S_IFREG | 0600);
	EXPECT(host_reads(fx->up, "g", "gee"));
	EXPECT_EQ(lstat(pj(fx->l0, "g"), &h), 0);
	EXPECT_EQ(h.st_mode, S_IFREG | 0644);
	return true;
}

/* ---- removal ---- */

static bool check_unlink_whiteout(struct fx *fx)
{
	struct lm_node *x, *sub;

	mk_file(fx->l0, "x", "x");
	mk_file(fx->l0, "both", "lower");
	mk_file(fx->up, "both", "upper");
	mk_file(fx->up, "uo", "upper only");
	mk_dir(fx->l1, "sub");
	mk_file(fx->l1, "sub/y", "y");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "x", &x, NULL), 0);
	EXPECT_EQ(lm_ovl_unlink(fx->ovl, fx->root, "x"), 0);
	EXPECT(host_is_wh(fx->up, "x"));
	EXPECT(host_reads(fx->l0, "x", "x"));
	EXPECT(absent(fx, fx->root, "x"));
	EXPECT_EQ(lm_ovl_unlink(fx->ovl, fx->root, "both"), 0);
	EXPECT(host_is_wh(fx->up, "both"));
	EXPECT(absent(fx, fx->root, "both"));
	EXPECT_EQ(lm_ovl_unlink(fx->ovl, fx->root, "uo"), 0);
	EXPECT(host_absent(fx->up, "uo")); /* nothing below: no whiteout needed */
	EXPECT(absent(fx, fx->root, "uo"));
	EXPECT((sub = lk_path(fx, "sub", NULL)) != NULL);
	EXPECT_EQ(lm_ovl_unlink(fx->ovl, sub, "y"), 0);
	EXPECT(host_is_wh(fx->up, "sub/y"));
	EXPECT(absent(fx, sub, "y"));
	EXPECT_EQ(lm_ovl_unlink(fx->ovl, fx->root, "sub"), -EISDIR);
	return true;
}

static bool check_rmdir_then_mkdir_opaque(struct fx *fx)
{
	struct lm_ctx ctx = { 0, 0 };
	struct lm_dirsnap *ds;
	struct lm_node *r;
	struct stat st;

	mk_dir(fx->up, "r");
	mk_dir(fx->l0, "r");
	mk_file(fx->l0, "r/a", "a");
	mk_file(fx->l0, "r/b", "b");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "r", &r, NULL), 0);
	EXPECT_EQ(lm_ovl_rmdir(fx->ovl, fx->root, "r"), -ENOTEMPTY);
	EXPECT_EQ(lm_ovl_unlink(fx->ovl, r, "a"), 0);
	EXPECT_EQ(lm_ovl_unlink(fx->ovl, r, "b"), 0);
	EXPECT(host_is_wh(fx->up, "r/a") && host_is_wh(fx->up, "r/b"));
	/* The kernel would forget r once its dentry is gone; see
	 * check_stale_node_inode_reuse for what happens when it has not yet. */
	fx_forget_all(fx);
	EXPECT_EQ(lm_ovl_rmdir(fx->ovl, fx->root, "r"), 0);
	EXPECT(host_is_wh(fx->up, "r"));
	EXPECT(absent(fx, fx->root, "r"));
	EXPECT_EQ(lm_ovl_mkdir(fx->ovl, fx->root, "r", 0755, &ctx, &r, &st), 0);
	fx_track(fx, r);
	EXPECT(S_ISDIR(st.st_mode));
	EXPECT_EQ(lstat(pj(fx->up, "r"), &st), 0);
	EXPECT(S_ISDIR(st.st_mode));
	EXPECT(host_xattr_is(fx->up, "r", "trusted.overlay.opaque", "y"));
	EXPECT((ds = snap(fx, r)) != NULL);
	EXPECT(snap_is(ds, NULL, 0));
	EXPECT(absent(fx, r, "a"));
	return true;
}

/* ---- rename ---- */

static bool check_rename_upper_file(struct fx *fx)
{
	struct lm_node *n, *m;

	mk_file(fx->up, "uf", "upper-uf");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "uf", &n, NULL), 0);
	EXPECT_EQ(lm_ovl_rename(fx->ovl, fx->root, "uf", fx->root, "uf2", 0), 0);
	EXPECT(absent(fx, fx->root, "uf"));
	EXPECT(host_absent(fx->up, "uf"));
	EXPECT_EQ(lk(fx, fx->root, "uf2", &m, NULL), 0);
	EXPECT(m == n);
	EXPECT(node_reads(fx, m, "upper-uf"));
	return true;
}

static bool check_rename_lower_file(struct fx *fx)
{
	struct lm_node *n, *m;
	struct stat st0, st;

	mk_file(fx->l0, "lf", "lower-lf");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "lf", &n, &st0), 0);
	EXPECT_EQ(lm_ovl_rename(fx->ovl, fx->root, "lf", fx->root, "lf2", 0), 0);
	EXPECT(host_is_wh(fx->up, "lf"));
	EXPECT(host_reads(fx->up, "lf2", "lower-lf"));
	EXPECT(host_reads(fx->l0, "lf", "lower-lf"));
	EXPECT(host_absent(fx->l0, "lf2"));
	EXPECT(absent(fx, fx->root, "lf"));
	EXPECT_EQ(lk(fx, fx->root, "lf2", &m, &st), 0);
	EXPECT(m == n);
	EXPECT_EQ(st.st_ino, st0.st_ino);
	EXPECT(node_reads(fx, m, "lower-lf"));
	return true;
}

static bool check_rename_dir_exdev(struct fx *fx)
{
	struct lm_node *n;

	mk_dir(fx->l0, "ld");
	mk_file(fx->l0, "ld/c", "c");
	mk_dir(fx->up, "md");               /* merged: upper part + lower part */
	mk_dir(fx->l1, "md");
	mk_dir(fx->up, "ud");               /* upper only: may move */
	mk_file(fx->up, "ud/c", "uc");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "ld", NULL, NULL), 0);
	EXPECT_EQ(lm_ovl_rename(fx->ovl, fx->root, "ld", fx->root, "ld2", 0), -EXDEV);
	EXPECT_EQ(lk(fx, fx->root, "ld", NULL, NULL), 0);
	EXPECT(absent(fx, fx->root, "ld2"));
	EXPECT_EQ(lk(fx, fx->root, "md", NULL, NULL), 0);
	EXPECT_EQ(lm_ovl_rename(fx->ovl, fx->root, "md", fx->root, "md2", 0), -EXDEV);
	EXPECT_EQ(lk(fx, fx->root, "ud", NULL, NULL), 0);
	EXPECT_EQ(lm_ovl_rename(fx->ovl, fx->root, "ud", fx->root, "ud2", 0), 0);
	EXPECT((n = lk_path(fx, "ud2/c", NULL)) != NULL);
	EXPECT(node_reads(fx, n, "uc"));
	return true;
}

static bool check_rename_noreplace(struct fx *fx)
{
	struct lm_node *s, *d;

	mk_file(fx->up, "src", "src");
	mk_file(fx->l0, "dst", "lower-dst");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "src", &s, NULL), 0);
	EXPECT_EQ(lk(fx, fx->root, "dst", &d, NULL), 0);
	EXPECT_EQ(lm_ovl_rename(fx->ovl, fx->root, "src", fx->root, "dst", RENAME_NOREPLACE),
		  -EEXIST);
	EXPECT(node_reads(fx, s, "src"));
	EXPECT(node_reads(fx, d, "lower-dst"));
	EXPECT(host_reads(fx->up, "src", "src"));
	EXPECT(host_absent(fx->up, "dst"));
	return true;
}

static bool check_rename_exchange(struct fx *fx)
{
	struct lm_node *e1, *e2, *n;

	mk_file(fx->up, "e1", "one");
	mk_file(fx->up, "e2", "two");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "e1", &e1, NULL), 0);
	EXPECT_EQ(lk(fx, fx->root, "e2", &e2, NULL), 0);
	EXPECT_EQ(lm_ovl_rename(fx->ovl, fx->root, "e1", fx->root, "e2", RENAME_EXCHANGE), 0);
	EXPECT(host_reads(fx->up, "e1", "two"));
	EXPECT(host_reads(fx->up, "e2", "one"));
	EXPECT_EQ(lk(fx, fx->root, "e1", &n, NULL), 0);
	EXPECT(n == e2);
	EXPECT(node_reads(fx, n, "two"));
	EXPECT_EQ(lk(fx, fx->root, "e2", &n, NULL), 0);
	EXPECT(n == e1);
	EXPECT(node_reads(fx, e1, "one"));
	return true;
}

/* ---- hard links ---- */

static bool check_hardlinks(struct fx *fx)
{
	struct lm_node *h1, *h2, *n;
	struct stat st1, st2, st;

	mk_file(fx->l0, "h1", "old");
	mk_link(fx->l0, "h1", "h2");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "h1", &h1, &st1), 0);
	EXPECT_EQ(lk(fx, fx->root, "h2", &h2, &st2), 0);
	EXPECT(h1 == h2);
	EXPECT_EQ(st1.st_nlink, 2);
	EXPECT_EQ(st1.st_ino, st2.st_ino);
	EXPECT_EQ(node_write(fx, h1, O_WRONLY | O_TRUNC, "new"), 0);
	EXPECT(node_reads(fx, h2, "new"));
	EXPECT(host_reads(fx->l0, "h2", "old"));
	EXPECT(host_ino(fx->up, "h1") != 0 && host_ino(fx->up, "h1") == host_ino(fx->up, "h2"));
	/* A fresh lookup of the other name finds the one copy. */
	fx_forget_all(fx);
	EXPECT_EQ(lk(fx, fx->root, "h2", &n, &st), 0);
	EXPECT(node_reads(fx, n, "new"));
	EXPECT_EQ(st.st_nlink, 2);
	EXPECT_EQ(st.st_ino, st1.st_ino);
	return true;
}

/* ---- creation ---- */

static bool owned(const struct stat *st, mode_t mode, uid_t uid, gid_t gid)
{
	return st->st_mode == mode && st->st_uid == uid && st->st_gid == gid;
}

static bool check_create_ops(struct fx *fx)
{
	struct lm_ctx ctx = { 1001, 2002 };
	struct lm_node *n, *lo, *sg;
	struct lm_file *f;
	struct stat st, h;
	char buf[16];

	mk_file(fx->l0, "lo", "lower");
	mk_file(fx->l0, "over", "old");
	mk_wh(fx->up, "over");
	mk_dir(fx->l0, "sg");
	mk_meta(fx->l0, "sg", 02775, 0, 3003, 0);
	EXPECT(fx_mount(fx));

	EXPECT_EQ(lm_ovl_create(fx->ovl, fx->root, "nf", 0640, O_RDWR, &ctx, &n, &st, &f), 0);
	fx_track(fx, n);
	f->ops->close(f);
	EXPECT(owned(&st, S_IFREG | 0640, 1001, 2002));
	EXPECT(lstat(pj(fx->up, "nf"), &h) == 0 && owned(&h, S_IFREG | 0640, 1001, 2002));

	EXPECT_EQ(lm_ovl_mkdir(fx->ovl, fx->root, "nd", 0750, &ctx, &n, &st), 0);
	fx_track(fx, n);
	EXPECT(owned(&st, S_IFDIR | 0750, 1001, 2002));
	EXPECT(lstat(pj(fx->up, "nd"), &h) == 0 && owned(&h, S_IFDIR | 0750, 1001, 2002));

	EXPECT_EQ(lm_ovl_symlink(fx->ovl, fx->root, "ns", "nf", &ctx, &n, &st), 0);
	fx_track(fx, n);
	EXPECT(S_ISLNK(st.st_mode) && st.st_uid == 1001 && st.st_gid == 2002);
	EXPECT(lstat(pj(fx->up, "ns"), &h) == 0 && S_ISLNK(h.st_mode) && h.st_uid == 1001);
	EXPECT_EQ(lm_ovl_readlink(fx->ovl, n, buf, sizeof(buf)), 2);
	EXPECT(memcmp(buf, "nf", 2) == 0);

	EXPECT_EQ(lm_ovl_mknod(fx->ovl, fx->root, "np", S_IFIFO | 0600, 0, &ctx, &n, &st), 0);
	fx_track(fx, n);
	EXPECT(owned(&st, S_IFIFO | 0600, 1001, 2002));
	EXPECT(lstat(pj(fx->up, "np"), &h) == 0 && owned(&h, S_IFIFO | 0600, 1001, 2002));
	EXPECT_EQ(lm_ovl_mknod(fx->ovl, fx->root, "nc", S_IFCHR | 0640, makedev(1, 3), &ctx,
			       &n, &st), 0);
	fx_track(fx, n);
	EXPECT(owned(&st, S_IFCHR | 0640, 1001, 2002) && st.st_rdev == makedev(1, 3));

	/* link of a lower file: copied up, one node, two names. */
	EXPECT_EQ(lk(fx, fx->root, "lo", &lo, NULL), 0);
	EXPECT_EQ(lm_ovl_link(fx->ovl, lo, fx->root, "lo2", &n, &st), 0);
	fx_track(fx, n);
	EXPECT(n == lo);
	EXPECT_EQ(st.st_nlink, 2);
	EXPECT(host_ino(fx->up, "lo") != 0 && host_ino(fx->up, "lo") == host_ino(fx->up, "lo2"));
	EXPECT(host_reads(fx->up, "lo2", "lower"));
	EXPECT_EQ(lk(fx, fx->root, "lo2", &n, NULL), 0);
	EXPECT(n == lo);

	/* create over a whiteout: a new, empty file. */
	EXPECT_EQ(lm_ovl_create(fx->ovl, fx->root, "over", 0644, O_RDWR, &ctx, &n, &st, &f), 0);
	fx_track(fx, n);
	f->ops->close(f);
	EXPECT_EQ(st.st_size, 0);
	EXPECT(node_reads(fx, n, ""));

	/* In a set-group-id directory the group is the directory's. */
	EXPECT_EQ(lk(fx, fx->root, "sg", &sg, NULL), 0);
	EXPECT_EQ(lm_ovl_create(fx->ovl, sg, "f", 0640, O_RDWR, &ctx, &n, &st, &f), 0);
	fx_track(fx, n);
	f->ops->close(f);
	EXPECT(owned(&st, S_IFREG | 0640, 1001, 3003));
	EXPECT_EQ(lm_ovl_mkdir(fx->ovl, sg, "d", 0750, &ctx, &n, &st), 0);
	fx_track(fx, n);
	EXPECT(owned(&st, S_IFDIR | S_ISGID | 0750, 1001, 3003));
	return true;
}

/* Kernel overlayfs refuses to make a 0/0 device through the mount
 * (ovl_mknod: "Don't allow creation of whiteout on overlay"): EPERM. */
static bool check_mknod_whiteout_refused(struct fx *fx)
{
	struct lm_ctx ctx = { 0, 0 };
	struct lm_node *n = NULL;
	struct stat st;
	bool ok = true;
	int rc;

	EXPECT(fx_mount(fx));
	rc = lm_ovl_mknod(fx->ovl, fx->root, "w", S_IFCHR | 0600, makedev(0, 0), &ctx, &n, &st);
	if (rc == 0)
		fx_track(fx, n);
	if (rc != -EPERM)
		printf("FAIL %s: lm_ovl_mknod(c 0 0) gave %d, want -EPERM (%d)\n", cur_check, rc,
		       -EPERM);
	SOFT(rc == -EPERM);
	SOFT(host_absent(fx->up, "w"));
	return ok;
}

/* ---- xattrs ---- */

static bool check_xattrs(struct fx *fx)
{
	struct lm_node *xf, *od;
	char buf[512], v[8];
	ssize_t len;
	int seen = 0;

	mk_file(fx->l0, "xf", "x");
	mk_xattr(fx->l0, "xf", "user.a", "1");
	mk_xattr(fx->l0, "xf", "trusted.plain", "2");
	mk_xattr(fx->l0, "xf", "trusted.overlay.origin", "o");
	mk_xattr(fx->l0, "xf", "user.overlay.foo", "f");
	mk_dir(fx->up, "od");
	mk_xattr(fx->up, "od", "trusted.overlay.opaque", "y");
	mk_dir(fx->l0, "ld");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "xf", &xf, NULL), 0);
	len = lm_ovl_listxattr(fx->ovl, xf, NULL, 0);
	EXPECT(len > 0 && (size_t)len <= sizeof(buf));
	EXPECT_EQ(lm_ovl_listxattr(fx->ovl, xf, buf, sizeof(buf)), len);
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1) {
		EXPECT(strncmp(buf + i, "trusted.overlay.", 16) != 0);
		EXPECT(strncmp(buf + i, "user.overlay.", 13) != 0);
		seen += strcmp(buf + i, "user.a") == 0 || strcmp(buf + i, "trusted.plain") == 0;
	}
	EXPECT_EQ(seen, 2);
	EXPECT_EQ(lm_ovl_getxattr(fx->ovl, xf, "trusted.overlay.origin", v, sizeof(v)), -ENODATA);
	EXPECT_EQ(lm_ovl_getxattr(fx->ovl, xf, "user.a", v, sizeof(v)), 1);

	EXPECT_EQ(lk(fx, fx->root, "od", &od, NULL), 0);
	EXPECT_EQ(lm_ovl_listxattr(fx->ovl, od, buf, sizeof(buf)), 0);
	EXPECT_EQ(lm_ovl_setxattr(fx->ovl, od, "trusted.overlay.opaque", "n", 1, 0), -EPERM);
	EXPECT_EQ(lm_ovl_removexattr(fx->ovl, od, "trusted.overlay.opaque"), -ENODATA);
	EXPECT(host_xattr_is(fx->up, "od", "trusted.overlay.opaque", "y"));
	EXPECT_EQ(lk(fx, fx->root, "ld", &od, NULL), 0);
	EXPECT_EQ(lm_ovl_setxattr(fx->ovl, od, "trusted.overlay.opaque", "y", 1, 0), -EPERM);
	EXPECT_EQ(lm_ovl_setxattr(fx->ovl, od, "user.overlay.opaque", "y", 1, 0), -EPERM);
	EXPECT(host_absent(fx->up, "ld")); /* refused before any copy-up */

	/* An ordinary xattr on a lower file copies it up. */
	EXPECT_EQ(lm_ovl_setxattr(fx->ovl, xf, "user.b", "3", 1, 0), 0);
	EXPECT(host_xattr_is(fx->up, "xf", "user.b", "3"));
	EXPECT(host_xattr_is(fx->up, "xf", "user.a", "1"));
	EXPECT(!host_xattr_is(fx->l0, "xf", "user.b", "3"));
	return true;
}

/* ---- lookup counts ---- */

static bool check_forget(struct fx *fx)
{
	struct lm_node *d, *d2, *f;
	struct stat st;

	mk_dir(fx->l0, "d");
	mk_file(fx->l0, "d/f", "f");
	EXPECT(fx_mount(fx));
	EXPECT(fx_nodes_left(fx, 1));
	EXPECT_EQ(lm_ovl_lookup(fx->ovl, fx->root, "d", &d, &st), 0);
	EXPECT_EQ(lm_ovl_lookup(fx->ovl, fx->root, "d", &d2, &st), 0);
	EXPECT(d == d2);
	EXPECT(fx_nodes_left(fx, 2));
	EXPECT_EQ(lm_ovl_lookup(fx->ovl, d, "f", &f, &st), 0);
	EXPECT(fx_nodes_left(fx, 3));
	/* The parent outlives its lookups while a child names it. */
	lm_ovl_forget(fx->ovl, d, 2);
	EXPECT(fx_nodes_left(fx, 3));
	EXPECT_EQ(lm_ovl_getattr(fx->ovl, f, &st), 0);
	EXPECT(node_reads(fx, f, "f"));
	lm_ovl_forget(fx->ovl, f, 1);
	EXPECT(fx_nodes_left(fx, 1));
	return true;
}

/* ---- beyond the brief: inode numbers reused by the upper filesystem ---- */

/* A node keyed by an upper (dev, ino) outlives its object while the
 * kernel still holds it (an open file, a cwd, or a FORGET not yet sent).
 * When the host reuses the number for a new object, the new object must
 * get a node of its own. Passes without testing anything where the host
 * does not reuse inode numbers at once (ext4 does). */
static bool check_stale_node_inode_reuse(struct fx *fx)
{
	struct lm_ctx ctx = { 0, 0 };
	struct lm_node *a, *b, *r, *r2;
	struct lm_file *f;
	struct stat st;
	bool ok = true;
	ino_t ia, ir;

	mk_file(fx->up, "a", "old-a");
	mk_dir(fx->up, "r");
	EXPECT(fx_mount(fx));
	ia = host_ino(fx->up, "a");
	ir = host_ino(fx->up, "r");
	EXPECT_EQ(lk(fx, fx->root, "a", &a, NULL), 0);
	EXPECT_EQ(lm_ovl_unlink(fx->ovl, fx->root, "a"), 0);
	EXPECT_EQ(lm_ovl_create(fx->ovl, fx->root, "b", 0644, O_RDWR, &ctx, &b, &st, &f), 0);
	fx_track(fx, b);
	f->ops->close(f);
	if (host_ino(fx->up, "b") == ia)
		SOFT(b != a);
	EXPECT_EQ(lk(fx, fx->root, "r", &r, NULL), 0);
	EXPECT_EQ(lm_ovl_rmdir(fx->ovl, fx->root, "r"), 0);
	EXPECT_EQ(lm_ovl_mkdir(fx->ovl, fx->root, "r2", 0755, &ctx, &r2, &st), 0);
	fx_track(fx, r2);
	if (host_ino(fx->up, "r2") == ir) {
		SOFT(r2 != r);
		SOFT(snap(fx, r2) != NULL);
		SOFT(lm_ovl_getattr(fx->ovl, r2, &st) == 0);
	}
	return ok;
}

/* A copy-up records upper ino -> origin for the mount's life. When the
 * copy is deleted and the host gives its number to a new file, the new
 * file must not take the origin's identity: here k2, the other name of
 * the copied-up lower inode, must stay a separate file. */
static bool check_remap_inode_reuse(struct fx *fx)
{
	struct lm_ctx ctx = { 0, 0 };
	struct lm_node *k1, *nf, *k2;
	struct stat stk, stnf, st;
	struct lm_file *f;
	bool same, k2_new;
	ino_t moved;

	mk_file(fx->l0, "k1", "lower");
	mk_link(fx->l0, "k1", "k2");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "k1", &k1, &stk), 0);
	EXPECT_EQ(node_write(fx, k1, O_RDWR, "L"), 0);            /* copy-up of k1 alone */
	EXPECT_EQ(lm_ovl_rename(fx->ovl, fx->root, "k1", fx->root, "moved", 0), 0);
	moved = host_ino(fx->up, "moved");
	fx_forget_all(fx);
	EXPECT_EQ(lm_ovl_unlink(fx->ovl, fx->root, "moved"), 0); /* no whiteout needed */
	EXPECT_EQ(lm_ovl_create(fx->ovl, fx->root, "nf", 0644, O_RDWR, &ctx, &nf, &stnf, &f), 0);
	fx_track(fx, nf);
	EXPECT_EQ(f->ops->pwrite(f, "new", 3, 0), 3);
	f->ops->close(f);
	if (host_ino(fx->up, "nf") != moved)
		return true;
	EXPECT_EQ(lk(fx, fx->root, "k2", &k2, &st), 0);
	same = k2 == nf;
	k2_new = node_reads(fx, k2, "new");
	if (same || k2_new || stnf.st_ino == stk.st_ino || st.st_ino == stnf.st_ino) {
		printf("FAIL %s: new file nf (host ino %lu, reused) reports st_ino %lu, k2 %lu, "
		       "origin of k1 %lu; k2 %s nf's node; k2 reads %s\n", cur_check,
		       (unsigned long)moved, (unsigned long)stnf.st_ino, (unsigned long)st.st_ino,
		       (unsigned long)stk.st_ino, same ? "is" : "is not",
		       k2_new ? "nf's \"new\"" : "its own data");
		return false;
	}
	return true;
}

/* Whiteout and opaque markers are never objects of the merged view: the
 * listing hides them and creation refuses their names, so lookup and
 * unlink must not reach them either (unlinking ".wh.b" would bring b back). */
static bool check_wh_names_hidden(struct fx *fx)
{
	struct lm_node *od;
	bool ok = true;

	mk_file(fx->l0, "b", "b");
	mk_file(fx->up, ".wh.b", "");
	mk_dir(fx->up, "od");
	mk_dir(fx->l0, "od");
	mk_file(fx->up, "od/" LM_WH_OPAQUE, "");
	mk_file(fx->l0, "od/hid", "");
	EXPECT(fx_mount(fx));
	EXPECT_EQ(lk(fx, fx->root, "od", &od, NULL), 0);
	SOFT(absent(fx, fx->root, ".wh.b"));
	SOFT(absent(fx, od, LM_WH_OPAQUE));
	SOFT(lm_ovl_unlink(fx->ovl, fx->root, ".wh.b") < 0);
	SOFT(absent(fx, fx->root, "b"));
	SOFT(lm_ovl_unlink(fx->ovl, od, LM_WH_OPAQUE) < 0);
	EXPECT_EQ(lk(fx, fx->root, "od", &od, NULL), 0); /* a fresh look at its layers */
	SOFT(absent(fx, od, "hid"));
	return ok;
}

/* ---- driver ---- */

static const struct {
	const char *name;
	bool (*fn)(struct fx *fx);
} checks[] = {
	{ "lookup_upper_wins", check_lookup_upper_wins },
	{ "lookup_whiteouts", check_lookup_whiteouts },
	{ "lookup_opaque", check_lookup_opaque },
	{ "lookup_nondir_hides_dir", check_lookup_nondir_hides_dir },
	{ "lookup_merged_dir", check_lookup_merged_dir },
	{ "opendir_snapshot", check_opendir_snapshot },
	{ "copyup_on_open", check_copyup_on_open },
	{ "setattr_chmod_copyup", check_setattr_chmod_copyup },
	{ "unlink_whiteout", check_unlink_whiteout },
	{ "rmdir_then_mkdir_opaque", check_rmdir_then_mkdir_opaque },
	{ "rename_upper_file", check_rename_upper_file },
	{ "rename_lower_file", check_rename_lower_file },
	{ "rename_dir_exdev", check_rename_dir_exdev },
	{ "rename_noreplace", check_rename_noreplace },
	{ "rename_exchange", check_rename_exchange },
	{ "hardlinks", check_hardlinks },
	{ "create_ops", check_create_ops },
	{ "xattrs", check_xattrs },
	{ "forget", check_forget },
	/* Beyond the brief: behaviours of kernel overlayfs and of inode reuse. */
	{ "copyup_keeps_parent_mtime", check_copyup_keeps_parent_mtime },
	{ "mknod_whiteout_refused", check_mknod_whiteout_refused },
	{ "stale_node_inode_reuse", check_stale_node_inode_reuse },
	{ "remap_inode_reuse", check_remap_inode_reuse },
	{ "wh_names_hidden", check_wh_names_hidden },
};

int main(void)
{
	size_t failed = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "test_overlay: needs root (0/0 whiteouts, trusted xattrs, "
			"chown): skipped\n");
		return 77;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof(checks) / sizeof(*checks); i++) {
		struct fx fx;
		bool ok;

		cur_check = checks[i].name;
		ok = fx_init(&fx) && checks[i].fn(&fx);
		cur_check = checks[i].name;
		ok = fx_fini(&fx) && ok;
		printf("%s %s\n", ok ? "ok  " : "FAIL", checks[i].name);
		failed += !ok;
	}
	if (failed)
		printf("%zu of %zu checks failed\n", failed, sizeof(checks) / sizeof(*checks));
	return failed ? 1 : 0;
}
