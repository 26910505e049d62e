/* lamina volume rekey: a new data key for a volume, every object sealed
 * anew with it (for a data key that may have leaked). Resumable: the next
 * key is kept, sealed, in the volume's header until every object is done,
 * and each object is converted on its own (driver/layer: the vault layer's
 * rekey), so a run that stops anywhere leaves every file readable and a
 * new run finishes the job. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "crypt.h"
#include "keystore.h"
#include "layer/layer.h"
#include "progress.h"
#include "vault.h"
#include "volume.h"

static const char rekey_usage[] =
	"Usage: lamina volume rekey NAME [--key-file FILE | --passphrase-file FILE]\n"
	"\n"
	"Gives volume NAME a new data key and seals every file, name, symlink and\n"
	"xattr anew with it; the old data key is then destroyed. For a data key that\n"
	"may have leaked (a tenant key is changed with lamina tenant rotate, which\n"
	"re-encrypts nothing). The volume must not be mounted. Shows progress on a\n"
	"terminal. Interrupted (Ctrl-C, a crash), every file stays readable and\n"
	"running it again finishes the job. Needs the tenant's secret.\n"
	"Takes --store DIR, --json, --help.\n";

static volatile sig_atomic_t stop_asked;

static void on_signal(int sig)
{
	(void)sig;
	stop_asked = 1;
}

/* The progress of the conversion, against the volume's size on disk. */
struct progress {
	struct lm_progress bar;
	uint64_t total;
};

static int show_progress(void *ctx, const struct lm_rekey_progress *p)
{
	struct progress *pr = ctx;

	lm_progress_show(&pr->bar, p->bytes, pr->total, p->objects, "objects");
	return stop_asked;
}

/* Runs the conversion on the open vault @fd with @keys (rekey state). */
static int convert(struct lm_store *st, const char *name, const struct lm_vault_info *in,
		   const struct lm_vault_keys *keys)
{
	struct progress pr = { .total = volume_size(st, name) };
	struct lm_vault_cfg cfg = { .info = in, .keys = keys, .durable = true,
				    .exclusive = true };
	struct lm_layer *l;
	char root[PATH_MAX];
	int rc;

	lm_progress_init(&pr.bar, "rekey");
	snprintf(root, sizeof(root), "%s/" VOLUME_DIR "/%s", st->path, name);
	cfg.root = root;
	rc = lm_layer_vault_open(&cfg, &l);
	if (rc == -EBUSY) {
		lm_cli_error("volume %s is in use (mounted, or another rekey runs): unmount it first",
			     name);
		return LM_EXIT_FAIL;
	}
	if (rc)
		return lm_cli_fail(rc, NULL);
	rc = lm_layer_vault_rekey(l, show_progress, &pr);
	lm_layer_free(l);
	lm_progress_end(&pr.bar);
	return rc;
}

int volume_cmd_rekey(struct lm_cli *c, int argc, char **argv)
{
	static const struct option extra[] = {
		LM_CLI_SECRET_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct lm_vault_keys *keys = NULL;
	struct lm_err err = { "" };
	struct lm_cli_secret sec = { 0 };
	struct lm_tenant *t = NULL;
	struct lm_vault_info in;
	struct volume_opts o;
	struct lm_store *st;
	char what[96], detail[96];
	int fd, rc = volume_begin(c, argc, argv, rekey_usage, extra, &o, &st, &fd, &in);

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = volume_not_mounted(o.name, in.uuid);
	if (rc)
		goto out;
	rc = lm_cli_tenant_check(st, in.kb.tenant, &o.src);
	if (rc)
		goto out;
	rc = lm_cli_secret_get(&o.src, in.kb.tenant, false, &sec);
	if (rc)
		goto out;
	keys = lm_secret_alloc(sizeof(*keys));
	if (!keys) {
		rc = lm_cli_fail(-ENOMEM, NULL);
		goto out;
	}
	snprintf(what, sizeof(what), "volume %s", o.name);
	rc = lm_tenant_open(st, in.kb.tenant, &sec.sec, &t, &err);
	if (rc == 0)
		rc = lm_vault_open(st, fd, t, what, &in, keys, &err);
	if (rc == 0)
		rc = lm_vault_rekey_begin(st, fd, t, &in, keys, &err);
	if (rc) {
		rc = lm_cli_fail(rc, &err);
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = convert(st, o.name, &in, keys);
	if (rc > 0)
		goto out; /* message printed */
	if (rc == -ECANCELED) {
		lm_cli_error("rekey of volume %s stopped: every file is readable; run it again to finish",
			     o.name);
		lm_audit_log(st, "volume.rekey", in.kb.tenant, what, rc, "stopped");
		rc = LM_EXIT_FAIL;
		goto out;
	}
	if (rc == 0)
		rc = lm_vault_rekey_finish(st, fd, t, &in, keys, &err);
	snprintf(detail, sizeof(detail), "data key generation %u", (unsigned)in.generation);
	lm_audit_log(st, "volume.rekey", in.kb.tenant, what, rc, rc ? err.msg : detail);
	if (rc) {
		if (!err.msg[0])
			lm_errf(&err, rc, "rekey of volume %s failed: %s (every file is still readable; fix the cause and run it again)",
				o.name, strerror(-rc));
		rc = lm_cli_fail(rc, &err);
		goto out;
	}
	if (c->json) {
		printf("{\"volume\":");
		lm_json_str(stdout, o.name);
		printf(",\"generation\":%u}\n", (unsigned)in.generation);
	} else {
		printf("rekeyed volume %s: data key generation %u\n", o.name,
		       (unsigned)in.generation);
	}
out:
	close(fd);
	lm_tenant_free(t);
	lm_secret_free(keys);
	lm_cli_secret_free(&sec);
	lm_store_free(st);
	return rc;
}
