/* Shared by the files of `lamina layer`: layer.c (import, ls, rm),
 * layer_inspect.c, layer_verify.c and layer_export.c. */
#ifndef LM_TOOLS_LAYER_H
#define LM_TOOLS_LAYER_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "sealed.h"
#include "sealed_store.h"

/* Option values of the verbs' tables (-o is 'o'; the secret options are
 * LM_CLI_SECRET_OPTS). */
enum {
	LAYER_OPT_TENANT = 1,
	LAYER_OPT_CIPHER,
	LAYER_OPT_CHUNK,
	LAYER_OPT_COMPRESS,
	LAYER_OPT_THREADS,
};

struct layer_opts {
	struct lm_cli_secret_src src;
	const char *tenant, *cipher, *chunk, *compress, *threads, *output;
	const char *arg;        /* the operand, if any */
};

/* Reads a verb's options (the common ones and @extra) and exactly @nargs
 * operands (described by @args in the error). Returns 0, -1 after --help,
 * or an exit code (message printed). */
int layer_parse(struct lm_cli *c, int argc, char **argv, const char *usage,
		const struct option *extra, struct layer_opts *o, int nargs,
		const char *args);

/* Opens the store of @c into *st, finds the layer @prefix names and opens
 * it into @f (with @any_name, one whose digest is not its name too). On
 * success the caller closes @f and frees *st; on failure nothing is left
 * open. Prints the error and returns an exit code, or 0. */
int layer_open(const struct lm_cli *c, const char *prefix, bool any_name,
	       struct lm_store **st, struct lm_sealed_file *f);

/* The keys of the encrypted layer @f: the tenant (--tenant, else the
 * layer's own) opened with its secret. *keys is freed with
 * lm_sealed_keys_free. Prints the error and returns an exit code, or 0. */
int layer_keys(struct lm_store *st, const struct lm_sealed_file *f,
	       const struct layer_opts *o, struct lm_sealed_keys **keys);

/* "12.3M" for @b bytes into @out. */
void layer_human(char *out, size_t size, uint64_t b);

int layer_cmd_inspect(struct lm_cli *c, int argc, char **argv);
int layer_cmd_verify(struct lm_cli *c, int argc, char **argv);
int layer_cmd_export(struct lm_cli *c, int argc, char **argv);

#endif
