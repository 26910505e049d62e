/* lamina audit show|verify */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"

static const char audit_usage[] =
	"Usage: lamina audit VERB [OPTIONS]\n"
	"\n"
	"  show [--tenant NAME]   print the audit log\n"
	"  verify                 check every record's MAC and the hash chain\n"
	"\n"
	"Every verb takes --store DIR, --json and --help.\n";

static const char show_usage[] =
	"Usage: lamina audit show [--tenant NAME] [--store DIR] [--json]\n"
	"\n"
	"Prints every record of the store's audit log: sequence number, time (UTC),\n"
	"uid, operation, tenant, object, result and detail. Records that fail\n"
	"verification are marked. --tenant keeps the records of one tenant.\n";

static const char verify_usage[] =
	"Usage: lamina audit verify [--store DIR] [--json]\n"
	"\n"
	"Checks the audit log: every record's MAC (made with the store's audit key,\n"
	"so this needs read access to audit.key), that each record follows the one\n"
	"before it (hash chain and sequence numbers), and that the log ends where\n"
	"audit.head says. Names the first bad record; exit status 6 when the log was\n"
	"edited, cut, or had records removed, inserted or reordered.\n";

static const char *status_word(enum lm_audit_status s)
{
	switch (s) {
	case LM_AUDIT_OK:
		return "ok";
	case LM_AUDIT_BAD_FRAME:
		return "not-a-record";
	case LM_AUDIT_BAD_MAC:
		return "bad-mac";
	case LM_AUDIT_BAD_SEQ:
		return "bad-sequence";
	case LM_AUDIT_BAD_CHAIN:
		return "bad-chain";
	}
	return "?";
}

struct show_ctx {
	const struct lm_cli *c;
	const char *tenant;
	size_t shown;
};

static int show_one(const struct lm_audit_rec *r, enum lm_audit_status s,
		    off_t off, void *arg)
{
	struct show_ctx *sc = arg;
	char t[32];

	if (!r) {
		if (sc->c->json)
			printf("%s{\"offset\":%lld,\"status\":\"%s\"}", sc->shown++ ? "," : "",
			       (long long)off, status_word(s));
		else
			printf("!! byte %lld: %s\n", (long long)off, status_word(s));
		return 0;
	}
	if (sc->tenant && strcmp(sc->tenant, r->tenant))
		return 0;
	lm_cli_time(t, sizeof(t), r->sec);
	if (sc->c->json) {
		printf("%s{\"seq\":%llu,\"time\":\"%s\",\"nsec\":%u,\"uid\":%u,\"pid\":%u,\"op\":",
		       sc->shown++ ? "," : "", (unsigned long long)r->seq, t,
		       (unsigned)r->nsec, (unsigned)r->uid, (unsigned)r->pid);
		lm_json_str(stdout, r->op);
		printf(",\"tenant\":");
		lm_json_str(stdout, r->tenant);
		printf(",\"object\":");
		lm_json_str(stdout, r->object);
		printf(",\"result\":%d,\"error\":", (int)r->result);
		lm_json_str(stdout, r->result ? strerror(-r->result) : "");
		printf(",\"detail\":");
		lm_json_str(stdout, r->detail);
		printf(",\"status\":\"%s\"}", status_word(s));
		return 0;
	}
	printf("%s%-6llu %s uid=%-5u %-14s tenant=%s object=%s %s%s%s%s\n",
	       s == LM_AUDIT_OK ? "" : "!! ", (unsigned long long)r->seq, t,
	       (unsigned)r->uid, r->op, r->tenant[0] ? r->tenant : "-",
	       r->object[0] ? r->object : "-", r->result ? "failed: " : "ok",
	       r->result ? strerror(-r->result) : "", r->detail[0] ? " -- " : "",
	       r->detail);
	if (s != LM_AUDIT_OK)
		printf("!! record above: %s\n", status_word(s));
	sc->shown++;
	return 0;
}

static bool tenant_opt(void *ctx, int opt, const char *arg)
{
	const char **tenant = ctx;

	if (opt != 't' || !tenant)
		return false;
	*tenant = arg;
	return true;
}

static int parse(struct lm_cli *c, int argc, char **argv, const char *usage,
		 const char **tenant)
{
	struct option opts[] = { LM_CLI_COMMON_OPTS,
				 { "tenant", required_argument, NULL, 't' },
				 { NULL, 0, NULL, 0 } };
	int rc;

	if (!tenant)
		opts[3].name = NULL;
	rc = lm_cli_getopt(c, argc, argv, opts, usage, tenant_opt, tenant);
	if (rc)
		return rc;
	if (optind != argc) {
		lm_cli_error("%s takes no arguments (see --help)", argv[0]);
		return LM_EXIT_USAGE;
	}
	return 0;
}

static int cmd_show(struct lm_cli *c, int argc, char **argv)
{
	struct show_ctx sc = { .c = c };
	struct lm_err err = { "" };
	struct lm_audit_walk w;
	struct lm_store *st;
	int rc = parse(c, argc, argv, show_usage, &sc.tenant);

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = lm_cli_store(c, false, &st);
	if (rc)
		return rc;
	if (c->json)
		printf("[");
	rc = lm_audit_walk(st, show_one, &sc, &w, &err);
	if (c->json)
		printf("]\n");
	if (rc == -ENOENT)
		rc = 0;
	else if (rc)
		rc = lm_cli_fail(rc, &err);
	else if (!w.keyed && !c->json)
		fprintf(stderr, "lamina: note: the audit key cannot be read, MACs were not checked\n");
	lm_store_free(st);
	return rc;
}

static int cmd_verify(struct lm_cli *c, int argc, char **argv)
{
	struct lm_err err = { "" };
	struct lm_audit_walk w;
	struct lm_store *st;
	char why[256], head[2 * LM_AUDIT_HASH + 1];
	bool ok;
	int rc = parse(c, argc, argv, verify_usage, NULL);

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = lm_cli_store(c, false, &st);
	if (rc)
		return rc;
	rc = lm_audit_walk(st, NULL, NULL, &w, &err);
	if (rc == -ENOENT) {
		bool head_exists = faccessat(st->fd, "audit.head", F_OK, 0) == 0;

		if (head_exists)
			lm_cli_error("audit.log is missing from %s, but audit.head says records were written",
				     st->path);
		else if (c->json)
			printf("{\"ok\":true,\"records\":0}\n");
		else
			printf("audit log: no records yet\n");
		lm_store_free(st);
		return head_exists ? LM_EXIT_INTEGRITY : 0;
	}
	if (rc) {
		lm_store_free(st);
		return lm_cli_fail(rc, &err);
	}
	if (!w.keyed) {
		lm_cli_error("cannot read the audit key %s/audit.key: verifying needs it (run as its owner, usually root)",
			     st->path);
		lm_store_free(st);
		return LM_EXIT_FAIL;
	}
	ok = lm_audit_verdict(&w, why, sizeof(why));
	lm_crypt_hex(head, w.last, LM_AUDIT_HASH);
	if (c->json) {
		printf("{\"ok\":%s,\"records\":%llu,\"head\":\"%s\"", ok ? "true" : "false",
		       (unsigned long long)w.records, head);
		if (!ok) {
			printf(",\"first_bad\":%llu,\"problem\":",
			       (unsigned long long)w.first_bad);
			lm_json_str(stdout, why);
		}
		printf("}\n");
	} else if (ok) {
		printf("audit log OK: %llu records, last record hash %s\n",
		       (unsigned long long)w.records, head);
	}
	if (!ok)
		lm_cli_error("audit log does not verify: %s", why);
	lm_store_free(st);
	return ok ? 0 : LM_EXIT_INTEGRITY;
}

int lm_cmd_audit(struct lm_cli *c, int argc, char **argv)
{
	static const struct lm_cli_verb verbs[] = {
		{ "show", cmd_show }, { "verify", cmd_verify }, { NULL, NULL },
	};

	return lm_cli_dispatch(c, argc, argv, "audit", audit_usage, verbs);
}
