/* The store directory, its lock, and the enumeration of key slot
 * containers (see store.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotfile.h"
#include "store.h"
#include "vault.h"

/* Every kind of key slot container. The sealed layer adds its ops table
 * here. */
static const struct lm_container_ops *const container_kinds[] = {
	&lm_slotfile_ops,
	&lm_vault_container_ops,
};

int lm_store_default_path(char *out, size_t size)
{
	const char *env = getenv("LAMINA_STORE"), *xdg, *home;
	int n;

	if (env && *env)
		n = snprintf(out, size, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(out, size, "/var/lib/lamina");
	else if ((xdg = getenv("XDG_DATA_HOME")) && xdg[0] == '/')
		n = snprintf(out, size, "%s/lamina", xdg);
	else if ((home = getenv("HOME")) && *home)
		n = snprintf(out, size, "%s/.local/share/lamina", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* mkdir -p @path, new directories 0700. */
static int mkdir_parents(const char *path)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				rc = -errno;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

int lm_store_open(const char *path, bool create, struct lm_store **out,
		  struct lm_err *err)
{
	struct lm_store *st;
	int fd, rc;

	*out = NULL;
	if (!path || !*path)
		return lm_errf(err, -EINVAL, "no store path given");
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		rc = mkdir_parents(path);
		if (rc)
			return lm_errf(err, rc, "cannot create store %s: %s",
				       path, strerror(-rc));
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return lm_errf(err, rc,
				       "no store at %s (create a tenant there first, or pass --store DIR)",
				       path);
		return lm_errf(err, rc, "cannot open store %s: %s", path,
			       strerror(-rc));
	}
	st = calloc(1, sizeof(*st));
	if (!st || !(st->path = strdup(path))) {
		free(st);
		close(fd);
		return lm_errf(err, -ENOMEM, "out of memory");
	}
	st->fd = fd;
	st->lockfd = -1;
	*out = st;
	return 0;
}

void lm_store_free(struct lm_store *st)
{
	if (!st)
		return;
	lm_store_unlock(st);
	close(st->fd);
	free(st->path);
	free(st);
}

int lm_store_lock(struct lm_store *st, struct lm_err *err)
{
	int fd, rc;

	if (st->lockfd >= 0)
		return 0;
	fd = openat(st->fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		return lm_errf(err, rc, "cannot lock store %s: %s", st->path,
			       strerror(-rc));
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		rc = -errno;
		close(fd);
		return lm_errf(err, rc, "cannot lock store %s: %s", st->path,
			       strerror(-rc));
	}
	st->lockfd = fd;
	return 0;
}

void lm_store_unlock(struct lm_store *st)
{
	if (st->lockfd >= 0) {
		close(st->lockfd); /* releases the flock */
		st->lockfd = -1;
	}
}

int lm_store_dir(struct lm_store *st, const char *rel, bool create)
{
	char buf[PATH_MAX];
	int fd;

	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	/* An absolute @rel (a registered vault) is opened as it is: openat
	 * ignores the store's descriptor then. */
	fd = openat(st->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 || errno != ENOENT || !create || rel[0] == '/')
		return fd >= 0 ? fd : -errno;
	for (char *s = buf; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdirat(st->fd, buf, 0700) < 0 && errno != EEXIST)
				return -errno;
			*s = c;
			if (!c)
				break;
		}
	}
	fd = openat(st->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd >= 0 ? fd : -errno;
}

int lm_store_foreach_entry(struct lm_store *st, const char *rel, lm_dirent_fn fn,
			   void *arg)
{
	int fd = lm_store_dir(st, rel, false), rc = 0;
	struct dirent *de;
	DIR *d;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((errno = 0, de = readdir(d))) {
		rc = fn(dirfd(d), de, arg);
		if (rc)
			break;
	}
	if (!de && errno && !rc)
		rc = -errno;
	closedir(d);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void lm_store_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

struct name_list {
	bool dirs_only;
	char **v;
	size_t n, cap;
};

static int name_add(int dirfd, const struct dirent *de, void *arg)
{
	struct name_list *l = arg;
	char **tmp;

	(void)dirfd;
	if (!lm_tenant_name_valid(de->d_name) ||
	    (l->dirs_only && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;

		tmp = realloc(l->v, cap * sizeof(*l->v));
		if (!tmp)
			return -ENOMEM;
		l->v = tmp;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(de->d_name)))
		return -ENOMEM;
	l->n++;
	return 0;
}

int lm_store_names(struct lm_store *st, const char *rel, bool dirs_only,
		   char ***names, size_t *n)
{
	struct name_list l = { .dirs_only = dirs_only };
	int rc = lm_store_foreach_entry(st, rel, name_add, &l);

	*names = NULL;
	*n = 0;
	if (rc) {
		lm_store_names_free(l.v, l.n);
		return rc;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), name_cmp);
	*names = l.v;
	*n = l.n;
	return 0;
}

/* What lm_store_scan_dir passes on to each entry. */
struct scan_dir {
	const struct lm_container_ops *ops;
	const char *dir, *suffix;
	lm_container_fn fn;
	void *arg;
};

static int scan_dir_one(int dirfd, const struct dirent *de, void *arg)
{
	const struct scan_dir *sd = arg;
	size_t n = strlen(de->d_name), slen = strlen(sd->suffix);

	(void)dirfd;
	if (de->d_name[0] == '.' || n <= slen ||
	    strcmp(de->d_name + n - slen, sd->suffix))
		return 0;
	if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
		return 0;
	return sd->fn(sd->ops, sd->dir, de->d_name, sd->arg);
}

int lm_store_scan_dir(struct lm_store *st, const struct lm_container_ops *ops,
		      const char *dir, const char *suffix, lm_container_fn fn,
		      void *arg)
{
	struct scan_dir sd = { ops, dir, suffix, fn, arg };

	return lm_store_foreach_entry(st, dir, scan_dir_one, &sd);
}

int lm_store_foreach_container(struct lm_store *st, lm_container_fn fn, void *arg)
{
	for (size_t i = 0; i < sizeof(container_kinds) / sizeof(container_kinds[0]); i++) {
		int rc = container_kinds[i]->scan(st, fn, arg);

		if (rc)
			return rc;
	}
	return 0;
}
