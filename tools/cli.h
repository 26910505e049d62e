/* Shared parts of the lamina CLI: exit codes, messages, the store, tenant
 * secrets (never from argv), JSON and time output. */
#ifndef LM_CLI_H
#define LM_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <getopt.h>
#include <stdio.h>

#include "crypt.h"
#include "keystore.h"
#include "store.h"

/* Exit codes, documented in `lamina --help` and docs/keys.md. */
enum lm_exit {
	LM_EXIT_OK = 0,
	LM_EXIT_FAIL = 1,       /* the operation failed (I/O, permissions, exists) */
	LM_EXIT_USAGE = 2,      /* bad command line or argument */
	LM_EXIT_NOTFOUND = 3,   /* no such store, tenant or object */
	LM_EXIT_KEY = 4,        /* wrong passphrase or key file, wrong tenant */
	LM_EXIT_SHREDDED = 5,   /* the tenant was shredded */
	LM_EXIT_INTEGRITY = 6,  /* damaged or tampered keystore, slots or audit log */
};

/* Options every command takes. */
struct lm_cli {
	const char *store;   /* --store DIR; NULL for the default */
	bool json;           /* --json */
};

/* One line "lamina: MESSAGE" on stderr. */
void lm_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The exit code for -errno @rc. */
int lm_cli_exit_code(int rc);

/* Prints @err's message (or strerror) and returns the exit code of @rc. */
int lm_cli_fail(int rc, const struct lm_err *err);

/* Opens the store of --store / LAMINA_STORE / the default. Prints the
 * error and returns an exit code, or 0. */
int lm_cli_store(const struct lm_cli *c, bool create, struct lm_store **st);

/* Where the tenant secret comes from: --key-file, --passphrase-file, or
 * (neither) LAMINA_PASSPHRASE_FILE, else a prompt on the terminal. */
struct lm_cli_secret_src {
	const char *key_file;
	const char *passphrase_file;
};

/* A tenant secret read into secret memory. */
struct lm_cli_secret {
	struct lm_tenant_secret sec;
	unsigned char *buf;
};

/* Reads the secret for @tenant; @confirm asks twice on a terminal (for a
 * new tenant). Prints the error and returns an exit code, or 0. */
int lm_cli_secret_get(const struct lm_cli_secret_src *src, const char *tenant,
		      bool confirm, struct lm_cli_secret *out);
void lm_cli_secret_free(struct lm_cli_secret *s);

/* Refuses early, without asking for a secret, what cannot succeed with
 * tenant @name: no such tenant, shredded, or a secret of the other kind
 * than @src gives. Prints the error and returns an exit code, or 0. */
int lm_cli_tenant_check(struct lm_store *st, const char *name,
			const struct lm_cli_secret_src *src);

/* Asks "QUESTION [y/N]" on the terminal; true on yes. False when there is
 * no terminal. */
bool lm_cli_confirm(const char *question);

/* @s as a JSON string, quotes included. */
void lm_json_str(FILE *f, const char *s);

/* ISO 8601 UTC ("2026-11-28T16:41:06Z") of unix time @t into @out. */
void lm_cli_time(char *out, size_t size, uint64_t t);

/* Options shared by every verb, for getopt_long tables. */
#define LM_CLI_OPT_STORE 1000
#define LM_CLI_OPT_JSON 1001
#define LM_CLI_COMMON_OPTS                                          \
	{ "store", required_argument, NULL, LM_CLI_OPT_STORE },     \
	{ "json", no_argument, NULL, LM_CLI_OPT_JSON },             \
	{ "help", no_argument, NULL, 'h' }

/* The secret options of the verbs that need a tenant's secret, for
 * getopt_long tables; lm_cli_secret_opt takes them. */
#define LM_CLI_OPT_KEYFILE 1002
#define LM_CLI_OPT_PASSFILE 1003
#define LM_CLI_SECRET_OPTS                                                 \
	{ "key-file", required_argument, NULL, LM_CLI_OPT_KEYFILE },       \
	{ "passphrase-file", required_argument, NULL, LM_CLI_OPT_PASSFILE }

/* Handles a secret option into @src (the path is borrowed from argv);
 * true when @opt was one. */
bool lm_cli_secret_opt(struct lm_cli_secret_src *src, int opt, const char *arg);

/* getopt_long takes any unambiguous prefix of a long option ("--pass" for
 * "--passphrase-file"); lamina does not, so that a mistyped option can never
 * turn a secret into a file name that ends up in a message. Returns 0, or
 * prints the error and returns LM_EXIT_USAGE. */
int lm_cli_exact_opts(int argc, char **argv, const struct option *opts);

/* Handles a common option; true when @opt was one. */
bool lm_cli_common(struct lm_cli *c, int opt, const char *arg);

/* Reads a verb's options: the common ones and -h/--help (prints @usage,
 * returns -1) here, the verb's own through @own(@ctx, opt, optarg), which
 * returns false for an option it does not know. An option whose val is a
 * letter is also taken in that short form ({ "options", ..., 'o' } gives
 * -o). Returns 0 with optind at
 * the first operand, -1 after --help, or LM_EXIT_USAGE (message printed). */
int lm_cli_getopt(struct lm_cli *c, int argc, char **argv, const struct option *opts,
		  const char *usage, bool (*own)(void *ctx, int opt, const char *arg),
		  void *ctx);

/* Reads a verb's options as lm_cli_getopt does, from the common ones and
 * @extra (ended by a NULL name; at most 12), then wants exactly @nargs
 * operands: else prints "VERB needs @args" (or "VERB takes no arguments")
 * and returns LM_EXIT_USAGE. Returns 0 with optind at the first operand,
 * -1 after --help, or an exit code (message printed). */
int lm_cli_parse(struct lm_cli *c, int argc, char **argv, const char *usage,
		 const struct option *extra,
		 bool (*own)(void *ctx, int opt, const char *arg), void *ctx,
		 int nargs, const char *args);

/* The nouns. @argv[0] is the verb. */
/* One verb of a noun: `lamina NOUN NAME ...`. */
struct lm_cli_verb {
	const char *name;
	int (*run)(struct lm_cli *c, int argc, char **argv);
};

/* Runs the verb argv[0] of @noun from @verbs (ended by a NULL name), or
 * prints @usage for --help/-h/help (stdout, 0) or no verb (stderr, usage
 * error). Returns the exit code. */
int lm_cli_dispatch(struct lm_cli *c, int argc, char **argv, const char *noun,
		    const char *usage, const struct lm_cli_verb *verbs);

int lm_cmd_tenant(struct lm_cli *c, int argc, char **argv);
int lm_cmd_volume(struct lm_cli *c, int argc, char **argv);
int lm_cmd_audit(struct lm_cli *c, int argc, char **argv);
int lm_cmd_layer(struct lm_cli *c, int argc, char **argv);

#endif
