/* lamina layer import|ls|inspect|rm (verify in layer_verify.c, export in
 * layer_export.c): sealed image layers at <store>/layers/<digest>
 * (crypt/sealed.h), imported from OCI layer tarballs or directories by
 * the import core (layer_import.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "layer.h"
#include "layer_import.h"
#include "progress.h"
#include "slotfile.h"

static const char layer_usage[] =
	"Usage: lamina layer VERB [OPTIONS]\n"
	"\n"
	"  import SOURCE [--tenant T] [--chunk-size N] [--compress lz4|lz4hc|none]\n"
	"                [--threads N] [--cipher CIPHER]\n"
	"                [--key-file FILE | --passphrase-file FILE]\n"
	"  ls\n"
	"  inspect DIGEST\n"
	"  verify DIGEST [--tenant T] [--key-file FILE | --passphrase-file FILE]\n"
	"  export DIGEST [-o FILE] [--key-file FILE | --passphrase-file FILE]\n"
	"  rm DIGEST\n"
	"\n"
	"A layer is one sealed file at <store>/layers/<digest>: chunked, compressed,\n"
	"checked on every read, and encrypted for a tenant with --tenant. DIGEST may be\n"
	"any unique prefix of 4 or more hex digits. Every verb takes --store DIR,\n"
	"--json and --help. See docs/layers.md.\n";

static const char import_usage[] =
	"Usage: lamina layer import SOURCE [OPTIONS]\n"
	"\n"
	"Imports an OCI layer into the store and prints its digest. SOURCE is a layer\n"
	"tarball (tar, tar+gzip, tar+zstd, ...), '-' for standard input, or a directory\n"
	"(podman's layer directories, an overlay upper). Modes, owners, times, xattrs,\n"
	"hard links, devices and OCI whiteouts are kept as data; an entry that would\n"
	"leave the layer ('..', a link outside it, a path under a symlink) is refused.\n"
	"A plain import of the same tarball gives the same digest (set SOURCE_DATE_EPOCH\n"
	"for the same from standard input). First it removes the temporary files that\n"
	"imports killed mid-way left in the store (one warning line each).\n"
	"\n"
	"  --tenant T              encrypt the layer for tenant T (needs its secret)\n"
	"  --cipher CIPHER         aes256gcm or xchacha20poly1305 (with --tenant;\n"
	"                          default: AES-256-GCM where the CPU accelerates it)\n"
	"  --chunk-size N          plaintext per chunk: 16K to 1M, a power of two (64K)\n"
	"  --compress C            lz4 (default), lz4hc (smaller, slower) or none\n"
	"  --threads N             threads that hash and compress chunks while the\n"
	"                          source is read, 1 to 64 (default: one a CPU)\n"
	LM_CLI_SECRET_HELP;

static const char ls_usage[] =
	"Usage: lamina layer ls [--store DIR] [--json]\n"
	"\n"
	"Lists the layers of the store: digest (the first 12 digits; --json gives all),\n"
	"size on disk, inodes, plain or the tenant it is encrypted for, and when it was\n"
	"created. Needs no secret. Like import, it removes the temporary files of\n"
	"imports that were killed (one warning line each).\n";

static const char rm_usage[] =
	"Usage: lamina layer rm DIGEST [--store DIR] [--json]\n"
	"\n"
	"Removes a layer and, when it is encrypted, its key slot file (overwritten\n"
	"first: the layer is unreadable from then on). Refused (exit 1, nothing\n"
	"removed) while a laminafs mount serves the layer: unmount it first. Other\n"
	"containers that use it must be gone. Needs no secret.\n";

static bool layer_opt(void *ctx, int opt, const char *arg)
{
	struct layer_opts *o = ctx;

	if (lm_cli_secret_opt(&o->src, opt, arg))
		return true;
	switch (opt) {
	case LAYER_OPT_TENANT:
		o->tenant = arg;
		return true;
	case LAYER_OPT_CIPHER:
		o->cipher = arg;
		return true;
	case LAYER_OPT_CHUNK:
		o->chunk = arg;
		return true;
	case LAYER_OPT_COMPRESS:
		o->compress = arg;
		return true;
	case LAYER_OPT_THREADS:
		o->threads = arg;
		return true;
	case 'o':
		o->output = arg;
		return true;
	}
	return false;
}

int layer_parse(struct lm_cli *c, int argc, char **argv, const char *usage,
		const struct option *extra, struct layer_opts *o, int nargs,
		const char *args)
{
	int rc;

	memset(o, 0, sizeof(*o));
	rc = lm_cli_parse(c, argc, argv, usage, extra, layer_opt, o, nargs, args);
	if (rc)
		return rc;
	o->arg = nargs ? argv[optind] : NULL;
	return 0;
}

int layer_open(const struct lm_cli *c, const char *prefix, bool any_name,
	       struct lm_store **st, struct lm_sealed_file *f)
{
	struct lm_err err = { "" };
	char hex[LM_SEALED_DIGEST_HEX + 1];
	int rc = lm_cli_store(c, false, st);

	if (rc)
		return rc;
	rc = lm_sealed_resolve(*st, prefix, hex, &err);
	if (rc == 0)
		rc = lm_sealed_file_open(*st, hex, any_name, f, &err);
	if (rc) {
		lm_store_free(*st);
		*st = NULL;
		return lm_cli_fail(rc, &err);
	}
	return 0;
}

int layer_keys(struct lm_store *st, const struct lm_sealed_file *f,
	       const struct layer_opts *o, struct lm_sealed_keys **keys)
{
	const char *tenant = o->tenant ? o->tenant : f->sb.tenant;
	struct lm_err err = { "" };
	struct lm_cli_secret s;
	struct lm_tenant *t;
	int rc;

	*keys = NULL;
	if (o->tenant && strcmp(o->tenant, f->sb.tenant)) {
		lm_cli_error("layer %s belongs to tenant %s, not %s: use that tenant's secret",
			     f->hex, f->sb.tenant, o->tenant);
		return LM_EXIT_KEY;
	}
	rc = lm_cli_tenant_check(st, tenant, &o->src);
	if (rc)
		return rc;
	rc = lm_cli_secret_get(&o->src, tenant, false, &s);
	if (rc)
		return rc;
	rc = lm_tenant_open(st, tenant, &s.sec, &t, &err);
	lm_cli_secret_free(&s);
	if (rc)
		return lm_cli_fail(rc, &err);
	rc = lm_sealed_file_keys(st, f, t, keys, &err);
	lm_tenant_free(t);
	if (rc == -EKEYREJECTED) {
		/* The tenant is the layer's and its slot file opened: the
		 * superblock is not the one the key was made for. */
		lm_cli_fail(rc, &err);
		return LM_EXIT_INTEGRITY;
	}
	return rc ? lm_cli_fail(rc, &err) : 0;
}

void layer_human(char *out, size_t size, uint64_t b)
{
	static const char units[] = "KMGTPE";
	double v = (double)b;
	int u = -1;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(out, size, "%llu", (unsigned long long)b);
	else
		snprintf(out, size, "%.1f%c", v, units[u]);
}

static void on_tmp_removed(void *arg, const char *name)
{
	const struct lm_store *st = arg;

	lm_cli_error("warning: removed %s/%s/%s, left by an import that did not finish",
		     st->path, LM_SEALED_STORE_DIR, name);
}

/* Removes what imports that were killed (kill -9, a crash) left in
 * layers/: their temporary files, which no live import holds. Best
 * effort: it never fails the verb (ls by a user who cannot write the
 * store removes nothing). */
static void clean_tmp(struct lm_store *st)
{
	(void)lm_sealed_tmp_clean(st, on_tmp_removed, st);
}

/* ---- import ----------------------------------------------------------- */

static volatile sig_atomic_t stop_asked;

static void on_signal(int sig)
{
	(void)sig;
	stop_asked = 1;
}

/* No SA_RESTART: a read of a pipe returns at once, and the import sees
 * the flag. */
static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static int chunk_parse(const char *s, unsigned *shift)
{
	char *end;
	unsigned long long v;

	*shift = 0;
	if (!s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!errno && (*end == 'K' || *end == 'k') && !end[1])
		v <<= 10;
	else if (!errno && (*end == 'M' || *end == 'm') && !end[1])
		v <<= 20;
	else if (errno || *end)
		v = 0;
	for (unsigned i = LM_SEALED_SHIFT_MIN; i <= LM_SEALED_SHIFT_MAX; i++) {
		if (v == 1ull << i) {
			*shift = i;
			return 0;
		}
	}
	lm_cli_error("invalid --chunk-size '%s': give a power of two from 16K to 1M (e.g. 64K)", s);
	return LM_EXIT_USAGE;
}

static int threads_parse(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	*out = 0;
	if (!s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < 1 || v > LM_SEALED_THREADS_MAX) {
		lm_cli_error("invalid --threads '%s': give 1 to %u", s, LM_SEALED_THREADS_MAX);
		return LM_EXIT_USAGE;
	}
	*out = (unsigned)v;
	return 0;
}

static int compress_parse(const char *s, enum lm_sealed_compress *out)
{
	if (!s || !strcmp(s, "lz4"))
		*out = LM_SEALED_LZ4;
	else if (!strcmp(s, "lz4hc"))
		*out = LM_SEALED_LZ4HC;
	else if (!strcmp(s, "none"))
		*out = LM_SEALED_NONE;
	else {
		lm_cli_error("invalid --compress '%s': use lz4, lz4hc or none", s);
		return LM_EXIT_USAGE;
	}
	return 0;
}

static int cipher_parse(const char *s, enum lm_cipher *out)
{
	*out = 0;
	if (!s)
		return 0;
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

/* The builder's options from the command line. */
static int import_opts(const struct layer_opts *o, struct lm_import_opts *io)
{
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	int rc;

	memset(io, 0, sizeof(*io));
	if (o->cipher && !o->tenant) {
		lm_cli_error("--cipher needs --tenant T: a plain layer is not encrypted");
		return LM_EXIT_USAGE;
	}
	rc = chunk_parse(o->chunk, &io->build.chunk_shift);
	if (!rc)
		rc = compress_parse(o->compress, &io->build.compress);
	if (!rc)
		rc = threads_parse(o->threads, &io->build.threads);
	if (!rc)
		rc = cipher_parse(o->cipher, &io->build.cipher);
	if (!rc && epoch && *epoch && !o->tenant) {
		char *end;
		unsigned long long v = strtoull(epoch, &end, 10);

		if (*end || !v) {
			lm_cli_error("SOURCE_DATE_EPOCH must be a positive number of seconds");
			return LM_EXIT_USAGE;
		}
		io->build.created = v;
	}
	return rc;
}

static void import_progress(void *arg, const struct lm_import_progress *p)
{
	lm_progress_show(arg, p->read, p->total, p->entries, "entries");
}

static void import_print(const struct lm_cli *c, const struct lm_import_result *r)
{
	if (r->stripped)
		lm_cli_error("warning: %llu absolute names were made relative (their leading '/' dropped)",
			     (unsigned long long)r->stripped);
	if (r->duplicates)
		lm_cli_error("warning: %llu entries had the name of an earlier entry, which they replaced (as tar does)",
			     (unsigned long long)r->duplicates);
	if (r->skipped)
		lm_cli_error("warning: %llu entries skipped: sockets in a tarball, or AUFS .wh..wh. metadata",
			     (unsigned long long)r->skipped);
	if (!c->json) {
		printf("%s\n", r->digest);
		return;
	}
	printf("{\"digest\":\"%s\",\"size\":%llu,\"entries\":%llu,\"files\":%llu,\"bytes\":%llu,"
	       "\"chunks\":%llu,\"dedup\":%llu,\"stored\":%llu,\"existed\":%s,\"seconds\":%.3f}\n",
	       r->digest, (unsigned long long)r->size, (unsigned long long)r->stats.entries,
	       (unsigned long long)r->stats.files, (unsigned long long)r->stats.bytes_in,
	       (unsigned long long)r->stats.chunks, (unsigned long long)r->stats.chunks_dedup,
	       (unsigned long long)r->stats.bytes_stored, r->existed ? "true" : "false",
	       r->seconds);
}

/* With the store open (and the tenant, when encrypted). */
static int import_run(const struct lm_cli *c, struct lm_store *st, const struct lm_tenant *t,
		      const char *source, struct lm_import_opts *io)
{
	struct lm_import_src src = { .path = source };
	struct lm_err err = { "" };
	struct lm_import_result r;
	struct lm_progress pr;
	int rc;

	if (!strcmp(source, "-") && isatty(STDIN_FILENO)) {
		lm_cli_error("standard input is a terminal: pipe a layer tarball in, or give its path");
		return LM_EXIT_USAGE;
	}
	lm_progress_init(&pr, "import");
	io->progress = import_progress;
	io->progress_arg = &pr;
	io->stop = &stop_asked;
	catch_signals();
	rc = lm_layer_import(st, t, &src, io, &r, &err);
	lm_progress_end(&pr);
	if (rc == -EINVAL) {
		lm_cli_fail(rc, &err);
		return LM_EXIT_FAIL;
	}
	if (rc)
		return lm_cli_fail(rc, &err);
	import_print(c, &r);
	return 0;
}

static int cmd_import(struct lm_cli *c, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "tenant", required_argument, NULL, LAYER_OPT_TENANT },
		{ "cipher", required_argument, NULL, LAYER_OPT_CIPHER },
		{ "chunk-size", required_argument, NULL, LAYER_OPT_CHUNK },
		{ "compress", required_argument, NULL, LAYER_OPT_COMPRESS },
		{ "threads", required_argument, NULL, LAYER_OPT_THREADS },
		LM_CLI_SECRET_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct lm_err err = { "" };
	struct lm_import_opts io;
	struct lm_cli_secret s;
	struct layer_opts o;
	struct lm_tenant *t = NULL;
	struct lm_store *st;
	int rc = layer_parse(c, argc, argv, import_usage, extra, &o, 1, "exactly one SOURCE");

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = import_opts(&o, &io);
	if (rc)
		return rc;
	rc = lm_cli_store(c, true, &st);
	if (rc)
		return rc;
	clean_tmp(st);
	if (o.tenant) {
		rc = lm_cli_tenant_check(st, o.tenant, &o.src);
		if (!rc)
			rc = lm_cli_secret_get(&o.src, o.tenant, false, &s);
		if (rc)
			goto out_store;
		rc = lm_tenant_open(st, o.tenant, &s.sec, &t, &err);
		lm_cli_secret_free(&s);
		if (rc) {
			rc = lm_cli_fail(rc, &err);
			goto out_store;
		}
	}
	rc = import_run(c, st, t, o.arg, &io);
	lm_tenant_free(t);
out_store:
	lm_store_free(st);
	return rc;
}

/* ---- ls --------------------------------------------------------------- */

struct digest_list {
	char (*v)[LM_SEALED_DIGEST_HEX + 1];
	size_t n, cap;
};

static int list_one(int dirfd, const struct dirent *de, void *arg)
{
	struct digest_list *l = arg;
	void *tmp;

	(void)dirfd;
	if (!lm_sealed_digest_valid(de->d_name))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		tmp = realloc(l->v, l->cap * sizeof(*l->v));
		if (!tmp)
			return -ENOMEM;
		l->v = tmp;
	}
	memcpy(l->v[l->n++], de->d_name, LM_SEALED_DIGEST_HEX + 1);
	return 0;
}

static int digest_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void ls_row(const struct lm_cli *c, const struct lm_sealed_file *f, bool first)
{
	char when[32], size[32];

	lm_cli_time(when, sizeof(when), f->sb.created);
	if (!c->json) {
		layer_human(size, sizeof(size), f->size);
		printf("%-12.12s  %8s  %8u  %-16s  %s%s\n", f->hex, size,
		       (unsigned)f->sb.inode_count,
		       lm_sealed_encrypted(&f->sb) ? f->sb.tenant : "plain", when,
		       f->name_ok ? "" : "  (digest mismatch: run lamina layer verify)");
		return;
	}
	printf("%s{\"digest\":\"%s\",\"size\":%llu,\"inodes\":%u,\"encrypted\":%s,\"tenant\":",
	       first ? "" : ",", f->hex, (unsigned long long)f->size,
	       (unsigned)f->sb.inode_count, lm_sealed_encrypted(&f->sb) ? "true" : "false");
	if (lm_sealed_encrypted(&f->sb))
		lm_json_str(stdout, f->sb.tenant);
	else
		printf("null");
	printf(",\"created\":\"%s\",\"digest_ok\":%s}", when, f->name_ok ? "true" : "false");
}

static int cmd_ls(struct lm_cli *c, int argc, char **argv)
{
	struct digest_list l = { NULL, 0, 0 };
	struct layer_opts o;
	struct lm_store *st;
	size_t shown = 0;
	int rc = layer_parse(c, argc, argv, ls_usage, NULL, &o, 0, ""), worst = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = lm_cli_store(c, false, &st);
	if (rc)
		return rc;
	clean_tmp(st);
	/* Only digests: never a temporary file of an import. */
	rc = lm_store_foreach_entry(st, LM_SEALED_STORE_DIR, list_one, &l);
	if (rc) {
		free(l.v);
		lm_store_free(st);
		return lm_cli_fail(rc, NULL);
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), digest_cmp);
	if (c->json)
		printf("[");
	else
		printf("%-12s  %8s  %8s  %-16s  %s\n", "DIGEST", "SIZE", "INODES", "TENANT",
		       "CREATED");
	for (size_t i = 0; i < l.n; i++) {
		struct lm_err err = { "" };
		struct lm_sealed_file f;

		/* One damaged layer does not hide the others. */
		rc = lm_sealed_file_open(st, l.v[i], true, &f, &err);
		if (rc) {
			worst = lm_cli_fail(rc, &err);
			continue;
		}
		ls_row(c, &f, !shown++);
		lm_sealed_file_close(&f);
	}
	if (c->json)
		printf("]\n");
	free(l.v);
	lm_store_free(st);
	return worst;
}

/* ---- rm --------------------------------------------------------------- */

static int cmd_rm(struct lm_cli *c, int argc, char **argv)
{
	struct lm_err err = { "" };
	struct lm_sealed_file f;
	struct layer_opts o;
	struct lm_store *st;
	char tenant[LM_TENANT_MAX + 1] = "", what[96];
	int rc = layer_parse(c, argc, argv, rm_usage, NULL, &o, 1, "exactly one layer DIGEST");

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = layer_open(c, o.arg, true, &st, &f);
	if (rc)
		return rc;
	snprintf(tenant, sizeof(tenant), "%s", f.sb.tenant);
	lm_sealed_file_close(&f);
	rc = lm_sealed_remove(st, f.hex, &err);
	snprintf(what, sizeof(what), "layer %s", f.hex);
	lm_audit_log(st, "layer.rm", tenant, what, rc, rc ? err.msg : "");
	lm_store_free(st);
	if (rc)
		return lm_cli_fail(rc, &err);
	if (c->json)
		printf("{\"digest\":\"%s\",\"removed\":true}\n", f.hex);
	else
		printf("removed layer %s\n", f.hex);
	return 0;
}

/* ---- the noun --------------------------------------------------------- */

int lm_cmd_layer(struct lm_cli *c, int argc, char **argv)
{
	static const struct lm_cli_verb verbs[] = {
		{ "import", cmd_import }, { "ls", cmd_ls }, { "list", cmd_ls },
		{ "inspect", layer_cmd_inspect }, { "verify", layer_cmd_verify },
		{ "export", layer_cmd_export }, { "rm", cmd_rm },
		{ NULL, NULL },
	};

	return lm_cli_dispatch(c, argc, argv, "layer", layer_usage, verbs);
}
