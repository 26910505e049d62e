/* lamina tenant create|list|show|rotate|shred */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "keystore.h"
#include "slot.h"

static const char tenant_usage[] =
	"Usage: lamina tenant VERB [OPTIONS]\n"
	"\n"
	"  create NAME [--key-file FILE | --passphrase-file FILE] [--kdf-cost COST]\n"
	"  list\n"
	"  show NAME\n"
	"  rotate NAME [--key-file FILE | --passphrase-file FILE]\n"
	"  shred NAME [--yes]\n"
	"\n"
	"Every verb takes --store DIR, --json and --help.\n";

static const char create_usage[] =
	"Usage: lamina tenant create NAME [OPTIONS]\n"
	"\n"
	"Creates tenant NAME (1-63 letters, digits, '.', '_', '-'; starting with a\n"
	"letter or digit) with its first key version, protected by a key file or a\n"
	"passphrase. A name is never reused, not even after a shred.\n"
	"\n"
	"  --key-file FILE         protect it with a key file: exactly 32 random bytes,\n"
	"                          mode 0600 (head -c 32 /dev/urandom > FILE)\n"
	"  --passphrase-file FILE  read the passphrase from FILE (first line)\n"
	"  --kdf-cost COST         Argon2id cost of a passphrase: interactive (64 MiB),\n"
	"                          moderate (256 MiB, the default) or sensitive (1 GiB)\n"
	"  --store DIR, --json, --help\n"
	"\n"
	"Without --key-file or --passphrase-file, the passphrase comes from the file\n"
	"named by LAMINA_PASSPHRASE_FILE, else it is asked twice on the terminal.\n"
	"The store is created (mode 0700) if it does not exist.\n";

static const char list_usage[] =
	"Usage: lamina tenant list [--store DIR] [--json]\n"
	"\n"
	"Lists the tenants of the store: state, current key version, number of\n"
	"versions, kind of secret and creation time. Needs no secret.\n";

static const char show_usage[] =
	"Usage: lamina tenant show NAME [--store DIR] [--json]\n"
	"\n"
	"Shows a tenant: its key versions (active or retired, with their times),\n"
	"its secret's kind and key derivation parameters, and how many objects of\n"
	"the store hold key slots for it, per version. Needs no secret.\n";

static const char rotate_usage[] =
	"Usage: lamina tenant rotate NAME [--key-file FILE | --passphrase-file FILE]\n"
	"\n"
	"Makes a new key version, rewraps the data key of every object of the tenant\n"
	"to it, then retires the older versions (their key material is destroyed,\n"
	"their record and retirement time kept). No data is re-encrypted. A crash at\n"
	"any point leaves every object openable; running rotate again finishes.\n"
	"The secret stays the same. Takes --store DIR, --json, --help.\n";

static const char shred_usage[] =
	"Usage: lamina tenant shred NAME [--yes]\n"
	"\n"
	"Destroys every key version of the tenant: all its objects become unreadable\n"
	"for good. Asks for confirmation on a terminal; --yes skips the question and\n"
	"is required when there is no terminal. Needs no secret. Copies of the\n"
	"keystore made before (backups, snapshots) still hold the keys, protected by\n"
	"the tenant's secret: see docs/threat-model.md.\n"
	"Takes --store DIR, --json, --help.\n";

#define OPT_COST 1
#define OPT_YES 2

struct tenant_opts {
	struct lm_cli_secret_src src;
	const char *cost;
	bool yes;
	const char *name;
};

static bool tenant_opt(void *ctx, int opt, const char *arg)
{
	struct tenant_opts *o = ctx;

	if (lm_cli_secret_opt(&o->src, opt, arg))
		return true;
	switch (opt) {
	case OPT_COST:
		o->cost = arg;
		return true;
	case OPT_YES:
		o->yes = true;
		return true;
	}
	return false;
}

/* Parses the verb's options and its NAME operand (when @want_name). */
static int parse(struct lm_cli *c, int argc, char **argv, const char *usage,
		 const struct option *extra, struct tenant_opts *o, bool want_name)
{
	int rc;

	memset(o, 0, sizeof(*o));
	rc = lm_cli_parse(c, argc, argv, usage, extra, tenant_opt, o, want_name ? 1 : 0,
			  "exactly one tenant NAME");
	if (!rc && want_name)
		o->name = argv[optind];
	return rc;
}

static const struct option secret_opts[] = {
	LM_CLI_SECRET_OPTS,
	{ NULL, 0, NULL, 0 },
};

static int cmd_create(struct lm_cli *c, int argc, char **argv)
{
	static const struct option extra[] = {
		LM_CLI_SECRET_OPTS,
		{ "kdf-cost", required_argument, NULL, OPT_COST },
		{ NULL, 0, NULL, 0 },
	};
	enum lm_kdf_cost cost = LM_KDF_COST_DEFAULT;
	struct lm_err err = { "" };
	struct lm_cli_secret s;
	struct tenant_opts o;
	struct lm_store *st;
	int rc = parse(c, argc, argv, create_usage, extra, &o, true);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (o.cost && lm_kdf_cost_parse(o.cost, &cost)) {
		lm_cli_error("unknown --kdf-cost '%s': use interactive, moderate or sensitive",
			     o.cost);
		return LM_EXIT_USAGE;
	}
	if (!lm_tenant_name_valid(o.name)) {
		lm_cli_error("invalid tenant name '%s': use 1 to %u letters, digits, '.', '_' or '-', starting with a letter or digit",
			     o.name, LM_TENANT_MAX);
		return LM_EXIT_USAGE;
	}
	rc = lm_cli_secret_get(&o.src, o.name, true, &s);
	if (rc)
		return rc;
	rc = lm_cli_store(c, true, &st);
	if (rc)
		goto out_secret;
	rc = lm_tenant_create(st, o.name, &s.sec, cost, &err);
	if (rc) {
		rc = lm_cli_fail(rc, &err);
	} else if (c->json) {
		printf("{\"tenant\":");
		lm_json_str(stdout, o.name);
		printf(",\"version\":1,\"secret\":\"%s\"}\n",
		       s.sec.kind == LM_SECRET_KEYFILE ? "key file" : "passphrase");
	} else {
		printf("created tenant %s (key version v1, protected by a %s)\n",
		       o.name, s.sec.kind == LM_SECRET_KEYFILE ? "key file" : "passphrase");
	}
	lm_store_free(st);
out_secret:
	lm_cli_secret_free(&s);
	return rc;
}

static const char *state_of(const struct lm_tenant_info *in)
{
	return in->shredded ? "shredded" : in->current ? "active" : "no-active-key";
}

static const char *secret_of(const struct lm_tenant_info *in)
{
	if (in->shredded)
		return "-";
	return in->rec.secret == LM_SECRET_KEYFILE ? "key file" : "passphrase";
}

static void json_info_head(const struct lm_tenant_info *in)
{
	char t[32];

	printf("{\"name\":");
	lm_json_str(stdout, in->name);
	printf(",\"state\":\"%s\"", state_of(in));
	lm_cli_time(t, sizeof(t), in->rec.created);
	printf(",\"created\":\"%s\"", t);
	if (in->shredded) {
		lm_cli_time(t, sizeof(t), in->shredded_at);
		printf(",\"shredded\":\"%s\",\"versions_destroyed\":%u", t,
		       (unsigned)in->versions_destroyed);
	} else {
		printf(",\"secret\":\"%s\",\"current_version\":%u,\"versions\":%zu",
		       secret_of(in), (unsigned)in->current, in->nversions);
	}
}

static int cmd_list(struct lm_cli *c, int argc, char **argv)
{
	struct lm_err err = { "" };
	struct tenant_opts o;
	struct lm_store *st;
	char **names;
	size_t n;
	int rc = parse(c, argc, argv, list_usage, NULL, &o, false), worst = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = lm_cli_store(c, false, &st);
	if (rc)
		return rc;
	rc = lm_tenant_list(st, &names, &n, &err);
	if (rc) {
		lm_store_free(st);
		return lm_cli_fail(rc, &err);
	}
	if (c->json)
		printf("[");
	else
		printf("%-24s %-9s %-6s %-8s %-10s %s\n", "TENANT", "STATE", "KEY",
		       "VERSIONS", "SECRET", "CREATED");
	for (size_t i = 0; i < n; i++) {
		struct lm_tenant_info in;
		char t[32], key[16];

		lm_err_clear(&err);
		rc = lm_tenant_info(st, names[i], &in, &err);
		if (rc) {
			/* One damaged tenant does not hide the others. */
			worst = lm_cli_fail(rc, &err);
		} else if (c->json) {
			printf("%s", i ? "," : "");
			json_info_head(&in);
			printf("}");
		} else {
			lm_cli_time(t, sizeof(t), in.rec.created);
			snprintf(key, sizeof(key), in.current ? "v%u" : "-",
				 (unsigned)in.current);
			if (in.shredded)
				printf("%-24s %-9s %-6s %-8s %-10s %s\n", in.name,
				       "shredded", "-", "-", "-", t);
			else
				printf("%-24s %-9s %-6s %-8zu %-10s %s\n", in.name,
				       state_of(&in), key, in.nversions,
				       secret_of(&in), t);
		}
		lm_tenant_info_release(&in);
		free(names[i]);
	}
	if (c->json)
		printf("]\n");
	free(names);
	lm_store_free(st);
	return worst;
}

/* Objects of a tenant, by the versions their slots are for. */
struct obj_count {
	const char *tenant;
	struct lm_store *st;
	size_t objects, damaged;
	const struct lm_tenant_info *in;
	size_t *per_version;   /* parallel to in->versions */
};

static int count_one(const struct lm_container_ops *ops, const char *dir,
		     const char *name, void *arg)
{
	struct obj_count *oc = arg;
	struct lm_keyblock kb;
	unsigned char *buf;
	size_t len, off, kblen;
	int dfd = lm_store_dir(oc->st, dir, false);

	if (dfd < 0)
		return 0;
	if (lm_file_read(dfd, name, 1u << 20, &buf, &len)) {
		close(dfd);
		return 0;
	}
	close(dfd);
	if (ops->parse(buf, len, &kb, &off, &kblen)) {
		oc->damaged++;
	} else if (!strcmp(kb.tenant, oc->tenant)) {
		oc->objects++;
		for (size_t s = 0; s < kb.nslots; s++)
			for (size_t v = 0; v < oc->in->nversions; v++)
				if (oc->in->versions[v].version == kb.slots[s].version)
					oc->per_version[v]++;
	}
	free(buf);
	return 0;
}

static void show_text(const struct lm_tenant_info *in, const struct obj_count *oc)
{
	char t[32], r[32], id[2 * LM_TENANT_ID_BYTES + 1];

	lm_crypt_hex(id, in->rec.id, LM_TENANT_ID_BYTES);
	lm_cli_time(t, sizeof(t), in->rec.created);
	printf("tenant:   %s\nstate:    %s\nid:       %s\ncreated:  %s\n", in->name,
	       state_of(in), id, t);
	if (in->shredded) {
		lm_cli_time(t, sizeof(t), in->shredded_at);
		printf("shredded: %s (%u key versions destroyed)\n", t,
		       (unsigned)in->versions_destroyed);
		return;
	}
	if (in->rec.secret == LM_SECRET_KEYFILE)
		printf("secret:   key file\n");
	else
		printf("secret:   passphrase (Argon2id, opslimit %llu, memlimit %llu MiB)\n",
		       (unsigned long long)in->rec.opslimit,
		       (unsigned long long)(in->rec.memlimit >> 20));
	printf("current:  v%u\nobjects:  %zu\nversions:\n", (unsigned)in->current,
	       oc->objects);
	for (size_t i = 0; i < in->nversions; i++) {
		const struct lm_kek_info *v = &in->versions[i];

		lm_cli_time(t, sizeof(t), v->created);
		lm_cli_time(r, sizeof(r), v->retired);
		printf("  v%-4u %-8s created %s", (unsigned)v->version,
		       v->active ? "active" : "retired", t);
		if (!v->active)
			printf("  retired %s", r);
		printf("  slots %zu\n", oc->per_version[i]);
	}
}

static void show_json(const struct lm_tenant_info *in, const struct obj_count *oc)
{
	char t[32], id[2 * LM_TENANT_ID_BYTES + 1];

	json_info_head(in);
	lm_crypt_hex(id, in->rec.id, LM_TENANT_ID_BYTES);
	printf(",\"id\":\"%s\"", id);
	if (!in->shredded) {
		if (in->rec.secret == LM_SECRET_PASSPHRASE)
			printf(",\"kdf\":{\"algorithm\":\"argon2id\",\"opslimit\":%llu,\"memlimit\":%llu}",
			       (unsigned long long)in->rec.opslimit,
			       (unsigned long long)in->rec.memlimit);
		printf(",\"objects\":%zu,\"key_versions\":[", oc->objects);
		for (size_t i = 0; i < in->nversions; i++) {
			const struct lm_kek_info *v = &in->versions[i];

			lm_cli_time(t, sizeof(t), v->created);
			printf("%s{\"version\":%u,\"state\":\"%s\",\"created\":\"%s\"",
			       i ? "," : "", (unsigned)v->version,
			       v->active ? "active" : "retired", t);
			if (!v->active) {
				lm_cli_time(t, sizeof(t), v->retired);
				printf(",\"retired\":\"%s\"", t);
			}
			printf(",\"slots\":%zu}", oc->per_version[i]);
		}
		printf("]");
	}
	printf("}\n");
}

static int cmd_show(struct lm_cli *c, int argc, char **argv)
{
	struct lm_err err = { "" };
	struct lm_tenant_info in;
	struct obj_count oc = { 0 };
	struct tenant_opts o;
	struct lm_store *st;
	int rc = parse(c, argc, argv, show_usage, NULL, &o, true);

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = lm_cli_store(c, false, &st);
	if (rc)
		return rc;
	rc = lm_tenant_info(st, o.name, &in, &err);
	if (rc) {
		lm_store_free(st);
		return lm_cli_fail(rc, &err);
	}
	oc.tenant = o.name;
	oc.st = st;
	oc.in = &in;
	oc.per_version = calloc(in.nversions + 1, sizeof(size_t));
	if (!oc.per_version) {
		rc = lm_cli_fail(-ENOMEM, NULL);
		goto out;
	}
	if (!in.shredded)
		lm_store_foreach_container(st, count_one, &oc);
	if (c->json)
		show_json(&in, &oc);
	else
		show_text(&in, &oc);
out:
	free(oc.per_version);
	lm_tenant_info_release(&in);
	lm_store_free(st);
	return rc;
}

static int cmd_rotate(struct lm_cli *c, int argc, char **argv)
{
	struct lm_rotate_result res;
	struct lm_err err = { "" };
	struct lm_cli_secret s;
	struct tenant_opts o;
	struct lm_store *st;
	int rc = parse(c, argc, argv, rotate_usage, secret_opts, &o, true);

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = lm_cli_store(c, false, &st);
	if (rc)
		return rc;
	rc = lm_cli_tenant_check(st, o.name, &o.src);
	if (rc)
		goto out_store;
	rc = lm_cli_secret_get(&o.src, o.name, false, &s);
	if (rc)
		goto out_store;
	rc = lm_tenant_rotate(st, o.name, &s.sec, &res, &err);
	lm_cli_secret_free(&s);
	if (rc) {
		rc = lm_cli_fail(rc, &err);
		goto out_store;
	}
	if (c->json) {
		printf("{\"tenant\":");
		lm_json_str(stdout, o.name);
		printf(",\"version\":%u,\"rewrapped\":%zu,\"retired\":%zu,\"skipped\":%zu,\"damaged\":%zu}\n",
		       (unsigned)res.new_version, res.rewrapped, res.retired,
		       res.skipped, res.damaged);
	} else {
		printf("tenant %s: rotated to key version v%u; %zu object%s rewrapped, %zu older version%s retired\n",
		       o.name, (unsigned)res.new_version, res.rewrapped,
		       res.rewrapped == 1 ? "" : "s", res.retired,
		       res.retired == 1 ? "" : "s");
	}
	if (res.skipped)
		lm_cli_error("warning: %zu object%s of tenant %s had key slots only for retired versions (they were already unreadable)",
			     res.skipped, res.skipped == 1 ? "" : "s", o.name);
	if (res.damaged)
		lm_cli_error("warning: %zu slot container%s in the store could not be parsed (damaged); see lamina tenant show",
			     res.damaged, res.damaged == 1 ? "" : "s");
out_store:
	lm_store_free(st);
	return rc;
}

static int cmd_shred(struct lm_cli *c, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "yes", no_argument, NULL, OPT_YES },
		{ NULL, 0, NULL, 0 },
	};
	struct lm_err err = { "" };
	struct tenant_opts o;
	struct lm_store *st;
	struct lm_tenant_info in;
	char q[256];
	uint32_t n;
	int rc = parse(c, argc, argv, shred_usage, extra, &o, true);

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = lm_cli_store(c, false, &st);
	if (rc)
		return rc;
	rc = lm_tenant_info(st, o.name, &in, &err);
	lm_tenant_info_release(&in);
	if (rc == -ENOENT || rc == -EINVAL) {
		rc = lm_cli_fail(rc, &err);
		goto out_store;
	}
	if (!o.yes) {
		if (!isatty(STDIN_FILENO)) {
			lm_cli_error("refusing to shred tenant %s without confirmation: pass --yes",
				     o.name);
			rc = LM_EXIT_USAGE;
			goto out_store;
		}
		snprintf(q, sizeof(q), "Shred tenant %s? Every key version is destroyed and all of its data becomes unreadable for good.",
			 o.name);
		if (!lm_cli_confirm(q)) {
			lm_cli_error("not shredded");
			rc = LM_EXIT_FAIL;
			goto out_store;
		}
	}
	lm_err_clear(&err);
	rc = lm_tenant_shred(st, o.name, &n, &err);
	if (rc && rc != -EALREADY) {
		rc = lm_cli_fail(rc, &err);
		goto out_store;
	}
	if (c->json) {
		printf("{\"tenant\":");
		lm_json_str(stdout, o.name);
		printf(",\"shredded\":true,\"versions_destroyed\":%u,\"already\":%s}\n",
		       (unsigned)n, rc ? "true" : "false");
	} else {
		printf(rc ? "tenant %s was already shredded; leftover key files destroyed\n" :
		       "tenant %s shredded: %u key version%s destroyed\n", o.name,
		       (unsigned)n, n == 1 ? "" : "s");
	}
	rc = 0;
out_store:
	lm_store_free(st);
	return rc;
}

int lm_cmd_tenant(struct lm_cli *c, int argc, char **argv)
{
	static const struct lm_cli_verb verbs[] = {
		{ "create", cmd_create }, { "list", cmd_list }, { "show", cmd_show },
		{ "rotate", cmd_rotate }, { "shred", cmd_shred }, { NULL, NULL },
	};

	return lm_cli_dispatch(c, argc, argv, "tenant", tenant_usage, verbs);
}
