/* Tenant shredding (see lm_tenant_shred in keystore.h).
 *
 * The tombstone goes first, so from that moment every open says the tenant
 * was shredded, even if the destruction below is interrupted; running
 * shred again destroys what is left. Each key file is overwritten with
 * random bytes and synced before it is unlinked. How much that achieves
 * depends on the file system and the disk (copy-on-write file systems,
 * SSD wear levelling, snapshots and backups keep old blocks): see
 * docs/threat-model.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fault.h"
#include "fileio.h"
#include "keystore_int.h"

/* Counts the version files in @dfd. */
static uint32_t count_versions(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	uint32_t n = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] == 'v' && de->d_name[1] >= '1' && de->d_name[1] <= '9')
			n++;
	closedir(d);
	return n;
}

static int write_tombstone(int dfd, const char *name, const char *where,
			   struct lm_err *err)
{
	unsigned char buf[sizeof(struct lm_tombstone_disk)], *rbuf;
	struct lm_tombstone_rec tr;
	struct lm_tenant_rec r;
	size_t len;
	int rc;

	memset(&tr, 0, sizeof(tr));
	snprintf(tr.name, sizeof(tr.name), "%s", name);
	tr.shredded = (uint64_t)time(NULL);
	tr.versions = count_versions(dfd);
	/* A damaged tenant record does not stop a shred. */
	if (!lm_file_read(dfd, "tenant", 4096, &rbuf, &len)) {
		if (!lm_tenant_rec_decode(rbuf, len, &r)) {
			tr.created = r.created;
			memcpy(tr.id, r.id, sizeof(tr.id));
		}
		free(rbuf);
	}
	lm_tombstone_rec_encode(&tr, buf);
	rc = lm_file_replace(dfd, "shredded", buf, sizeof(buf));
	if (rc)
		return lm_errf(err, rc, "cannot write %s/shredded: %s", where,
			       strerror(-rc));
	lm_fault_point("shred: tombstone written");
	return 0;
}

/* Overwrites and removes every file of @dfd but the tombstone. */
static int destroy_keys(int dfd, const char *where, struct lm_err *err)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return lm_errf(err, rc, "cannot read %s: %s", where, strerror(-rc));
	}
	while ((de = readdir(d))) {
		int f;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "shredded"))
			continue;
		f = openat(dfd, de->d_name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (f >= 0) {
			rc = lm_file_scrub(f);
			close(f);
		}
		if (!rc && unlinkat(dfd, de->d_name, 0) < 0)
			rc = -errno;
		if (rc) {
			lm_errf(err, rc, "cannot destroy %s/%s: %s", where,
				de->d_name, strerror(-rc));
			break;
		}
		lm_fault_point("shred: key file destroyed");
	}
	closedir(d);
	return rc ? rc : lm_fsync_dir(dfd);
}

int lm_tenant_shred(struct lm_store *st, const char *name,
		    uint32_t *versions_destroyed, struct lm_err *err)
{
	struct lm_tombstone_rec tr;
	char where[512], detail[128];
	bool again;
	int dfd, rc;

	*versions_destroyed = 0;
	dfd = ks_open_dir(st, name, err);
	if (dfd < 0)
		return dfd;
	snprintf(where, sizeof(where), "%s/keys/%s", st->path, name);
	rc = lm_store_lock(st, err);
	if (rc)
		goto out_close;
	rc = lm_audit_check(st, err);
	if (rc)
		goto out_unlock;
	rc = ks_read_tombstone(dfd, &tr);
	again = rc == 1;
	if (!again)
		rc = write_tombstone(dfd, name, where, err);
	if (rc >= 0)
		rc = ks_read_tombstone(dfd, &tr) == 1 ? 0 : -EUCLEAN;
	if (!rc)
		rc = destroy_keys(dfd, where, err);
	if (rc) {
		lm_errf(err, rc, "cannot shred tenant %s: %s", name, strerror(-rc));
		lm_audit_log(st, "tenant.shred", name, NULL, rc, err ? err->msg : "");
		goto out_unlock;
	}
	*versions_destroyed = tr.versions;
	snprintf(detail, sizeof(detail), "%s%u key versions destroyed",
		 again ? "finished an earlier shred; " : "", (unsigned)tr.versions);
	rc = lm_audit_append(st, "tenant.shred", name, NULL, 0, detail, err);
	if (!rc && again)
		rc = -EALREADY;
out_unlock:
	lm_store_unlock(st);
out_close:
	close(dfd);
	return rc;
}
