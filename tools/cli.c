/* Shared parts of the lamina CLI (see cli.h). */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"

void lm_cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("lamina: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int lm_cli_exit_code(int rc)
{
	switch (-rc) {
	case 0:
	case EALREADY:
		return LM_EXIT_OK;
	case ENOENT:
		return LM_EXIT_NOTFOUND;
	case EKEYREJECTED:
	case ENOKEY:
		return LM_EXIT_KEY;
	case EKEYREVOKED:
		return LM_EXIT_SHREDDED;
	case EBADMSG:
	case EUCLEAN:
		return LM_EXIT_INTEGRITY;
	case EINVAL:
		return LM_EXIT_USAGE;
	default:
		return LM_EXIT_FAIL;
	}
}

int lm_cli_fail(int rc, const struct lm_err *err)
{
	if (err && err->msg[0])
		lm_cli_error("%s", err->msg);
	else
		lm_cli_error("%s", strerror(-rc));
	return lm_cli_exit_code(rc);
}

int lm_cli_store(const struct lm_cli *c, bool create, struct lm_store **st)
{
	struct lm_err err = { "" };
	char path[4096];
	int rc;

	if (c->store) {
		snprintf(path, sizeof(path), "%s", c->store);
	} else if ((rc = lm_store_default_path(path, sizeof(path)))) {
		lm_cli_error("no default store (HOME is not set): pass --store DIR");
		return LM_EXIT_USAGE;
	}
	rc = lm_store_open(path, create, st, &err);
	return rc ? lm_cli_fail(rc, &err) : 0;
}

bool lm_cli_common(struct lm_cli *c, int opt, const char *arg)
{
	switch (opt) {
	case LM_CLI_OPT_STORE:
		c->store = arg;
		return true;
	case LM_CLI_OPT_JSON:
		c->json = true;
		return true;
	}
	return false;
}

bool lm_cli_secret_opt(struct lm_cli_secret_src *src, int opt, const char *arg)
{
	switch (opt) {
	case LM_CLI_OPT_KEYFILE:
		src->key_file = arg;
		return true;
	case LM_CLI_OPT_PASSFILE:
		src->passphrase_file = arg;
		return true;
	}
	return false;
}

int lm_cli_exact_opts(int argc, char **argv, const struct option *opts)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t n;
		bool known = false;

		if (!strcmp(a, "--"))
			break;
		if (strncmp(a, "--", 2))
			continue;
		n = strcspn(a + 2, "=");
		for (const struct option *o = opts; o->name; o++) {
			if (strlen(o->name) == n && !strncmp(o->name, a + 2, n)) {
				known = true;
				/* Its value is the next argument: skip it. */
				if (o->has_arg == required_argument && !a[2 + n])
					i++;
				break;
			}
		}
		if (!known) {
			lm_cli_error("%s: unknown option --%.*s (see --help)", argv[0],
				     (int)n, a + 2);
			return LM_EXIT_USAGE;
		}
	}
	return 0;
}

/* ---- secrets ---------------------------------------------------------- */

static struct termios tty_saved;
static int tty_fd = -1;

static void tty_restore(int sig)
{
	if (tty_fd >= 0)
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	if (sig) {
		(void)!write(STDERR_FILENO, "\n", 1);
		_exit(128 + sig);
	}
}

/* Reads one line from the terminal without echo into @buf (@cap bytes);
 * returns its length, or -1 when there is no terminal or no line. */
static ssize_t tty_read_secret(int fd, const char *prompt, unsigned char *buf,
			       size_t cap)
{
	struct sigaction sa = { .sa_handler = tty_restore }, oint, oterm;
	struct termios t;
	size_t n = 0;
	char c;

	if (tcgetattr(fd, &tty_saved) < 0)
		return -1;
	t = tty_saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	t.c_lflag |= ICANON;
	tty_fd = fd;
	sigaction(SIGINT, &sa, &oint);
	sigaction(SIGTERM, &sa, &oterm);
	(void)!write(fd, prompt, strlen(prompt));
	tcsetattr(fd, TCSAFLUSH, &t);
	while (read(fd, &c, 1) == 1 && c != '\n') {
		if (n < cap)
			buf[n] = (unsigned char)c;
		n++;
	}
	lm_crypt_wipe(&c, 1);
	tty_restore(0);
	tty_fd = -1;
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGTERM, &oterm, NULL);
	(void)!write(fd, "\n", 1);
	return n > cap ? (ssize_t)cap + 1 : (ssize_t)n;
}

static int secret_prompt(const char *tenant, bool confirm, struct lm_cli_secret *s)
{
	unsigned char *again = lm_secret_alloc(LM_PASSPHRASE_MAX + 1);
	char prompt[160];
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC), rc = 0;
	ssize_t n, m;

	if (!again || fd < 0 || !isatty(fd)) {
		lm_cli_error("no tenant secret: pass --key-file FILE or --passphrase-file FILE, or set LAMINA_PASSPHRASE_FILE (there is no terminal to ask on)");
		rc = LM_EXIT_USAGE;
		goto out;
	}
	snprintf(prompt, sizeof(prompt), "Passphrase for tenant %s: ", tenant);
	n = tty_read_secret(fd, prompt, s->buf, LM_PASSPHRASE_MAX);
	if (n <= 0 || n > (ssize_t)LM_PASSPHRASE_MAX) {
		lm_cli_error(n <= 0 ? "empty passphrase" : "passphrase longer than %u bytes",
			     LM_PASSPHRASE_MAX);
		rc = LM_EXIT_USAGE;
		goto out;
	}
	if (confirm) {
		snprintf(prompt, sizeof(prompt), "Passphrase for tenant %s, again: ", tenant);
		m = tty_read_secret(fd, prompt, again, LM_PASSPHRASE_MAX);
		if (m != n || memcmp(again, s->buf, (size_t)n)) {
			lm_cli_error("the passphrases do not match");
			rc = LM_EXIT_USAGE;
			goto out;
		}
	}
	s->sec.kind = LM_SECRET_PASSPHRASE;
	s->sec.len = (size_t)n;
out:
	if (fd >= 0)
		close(fd);
	lm_secret_free(again);
	return rc;
}

static int secret_file(const char *path, bool keyfile, struct lm_cli_secret *s)
{
	struct lm_err err = { "" };
	size_t len, cap = keyfile ? LM_KEYFILE_BYTES + 1 : LM_PASSPHRASE_MAX + 2;
	const char *kind = keyfile ? "key file" : "passphrase file";
	char what[PATH_MAX + 32];
	int rc = lm_secret_file_read(path, kind, s->buf, cap, &len, &err);

	if (rc == -EFBIG && keyfile)
		len = cap;
	else if (rc)
		return lm_cli_fail(rc, &err);
	snprintf(what, sizeof(what), "%s %s", kind, path);
	rc = lm_secret_check(keyfile, what, s->buf, &len, &err);
	if (rc)
		return lm_cli_fail(rc, &err);
	s->sec.kind = keyfile ? LM_SECRET_KEYFILE : LM_SECRET_PASSPHRASE;
	s->sec.len = len;
	return 0;
}

int lm_cli_secret_get(const struct lm_cli_secret_src *src, const char *tenant,
		      bool confirm, struct lm_cli_secret *out)
{
	const char *env = getenv("LAMINA_PASSPHRASE_FILE");
	int rc;

	memset(out, 0, sizeof(*out));
	if (src->key_file && src->passphrase_file) {
		lm_cli_error("give either --key-file or --passphrase-file, not both");
		return LM_EXIT_USAGE;
	}
	out->buf = lm_secret_alloc(LM_PASSPHRASE_MAX + 2);
	if (!out->buf) {
		lm_cli_error("cannot allocate locked memory for the secret");
		return LM_EXIT_FAIL;
	}
	out->sec.bytes = out->buf;
	if (src->key_file)
		rc = secret_file(src->key_file, true, out);
	else if (src->passphrase_file)
		rc = secret_file(src->passphrase_file, false, out);
	else if (env && *env)
		rc = secret_file(env, false, out);
	else
		rc = secret_prompt(tenant, confirm, out);
	if (rc)
		lm_cli_secret_free(out);
	return rc;
}

void lm_cli_secret_free(struct lm_cli_secret *s)
{
	lm_secret_free(s->buf);
	memset(s, 0, sizeof(*s));
}

int lm_cli_tenant_check(struct lm_store *st, const char *name,
			const struct lm_cli_secret_src *src)
{
	struct lm_err err = { "" };
	struct lm_tenant_info in;
	int rc = lm_tenant_info(st, name, &in, &err);
	char when[32];

	if (rc)
		return lm_cli_fail(rc, &err);
	if (in.shredded) {
		lm_cli_time(when, sizeof(when), in.shredded_at);
		lm_cli_error("tenant %s was shredded on %s: its keys are destroyed and its data cannot be read",
			     name, when);
		rc = LM_EXIT_SHREDDED;
	} else if (in.rec.secret == LM_SECRET_KEYFILE && !src->key_file) {
		lm_cli_error("tenant %s is protected by a key file: pass --key-file FILE", name);
		rc = LM_EXIT_USAGE;
	} else if (in.rec.secret == LM_SECRET_PASSPHRASE && src->key_file) {
		lm_cli_error("tenant %s is protected by a passphrase, not a key file", name);
		rc = LM_EXIT_KEY;
	}
	lm_tenant_info_release(&in);
	return rc;
}

bool lm_cli_confirm(const char *question)
{
	char line[16];
	FILE *tty = fopen("/dev/tty", "r+");
	bool yes = false;

	if (!tty)
		return false;
	fprintf(tty, "%s [y/N] ", question);
	fflush(tty);
	if (fgets(line, sizeof(line), tty))
		yes = line[0] == 'y' || line[0] == 'Y';
	fclose(tty);
	return yes;
}

/* ---- output ----------------------------------------------------------- */

void lm_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

void lm_cli_time(char *out, size_t size, uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) ||
	    !strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, size, "-");
}

int lm_cli_dispatch(struct lm_cli *c, int argc, char **argv, const char *noun,
		    const char *usage, const struct lm_cli_verb *verbs)
{
	if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") ||
	    !strcmp(argv[0], "help")) {
		fputs(usage, argc < 1 ? stderr : stdout);
		return argc < 1 ? LM_EXIT_USAGE : 0;
	}
	for (const struct lm_cli_verb *v = verbs; v->name; v++)
		if (!strcmp(argv[0], v->name))
			return v->run(c, argc, argv);
	lm_cli_error("unknown verb '%s %s' (see lamina %s --help)", noun, argv[0], noun);
	return LM_EXIT_USAGE;
}

/* "h" and the short form of every option whose value is a letter. */
static void short_opts(char *out, size_t size, const struct option *opts)
{
	size_t n = 0;

	out[n++] = 'h';
	for (; opts->name && n + 3 < size; opts++) {
		if (opts->val == 'h' || opts->val > 'z' || opts->val < 'A' ||
		    (opts->val > 'Z' && opts->val < 'a'))
			continue;
		out[n++] = (char)opts->val;
		if (opts->has_arg == required_argument)
			out[n++] = ':';
	}
	out[n] = '\0';
}

int lm_cli_getopt(struct lm_cli *c, int argc, char **argv, const struct option *opts,
		  const char *usage, bool (*own)(void *ctx, int opt, const char *arg),
		  void *ctx)
{
	char shorts[32];
	int opt;

	if (lm_cli_exact_opts(argc, argv, opts))
		return LM_EXIT_USAGE;
	short_opts(shorts, sizeof(shorts), opts);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		if (lm_cli_common(c, opt, optarg))
			continue;
		if (opt == 'h') {
			fputs(usage, stdout);
			return -1;
		}
		if (own && own(ctx, opt, optarg))
			continue;
		lm_cli_error("%s: unknown option or missing value: %s (see --help)",
			     argv[0], argv[optind - 1]);
		return LM_EXIT_USAGE;
	}
	return 0;
}

int lm_cli_parse(struct lm_cli *c, int argc, char **argv, const char *usage,
		 const struct option *extra,
		 bool (*own)(void *ctx, int opt, const char *arg), void *ctx,
		 int nargs, const char *args)
{
	struct option opts[16] = { LM_CLI_COMMON_OPTS };
	size_t n = 3;
	int rc;

	for (; extra && extra->name && n + 1 < sizeof(opts) / sizeof(opts[0]); extra++)
		opts[n++] = *extra;
	rc = lm_cli_getopt(c, argc, argv, opts, usage, own, ctx);
	if (rc)
		return rc;
	if (argc - optind != nargs) {
		lm_cli_error(nargs ? "%s needs %s (see --help)" : "%s takes no arguments (see --help)",
			     argv[0], args);
		return LM_EXIT_USAGE;
	}
	return 0;
}
