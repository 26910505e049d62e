/* lamina: the admin CLI. `lamina [GLOBAL OPTIONS] NOUN VERB [OPTIONS]`;
 * one file per noun (tenant.c, audit.c, volume.c with its mounting in
 * volume_mount.c, layer.c with its inspect, verify and export beside it),
 * shared helpers in cli.c. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cli.h"

static void usage(FILE *f)
{
	fputs("Usage: lamina [--store DIR] [--json] COMMAND VERB [OPTIONS]\n"
	      "\n"
	      "Manage lamina's tenants, keys, volumes, image layers and audit log.\n"
	      "\n"
	      "Commands:\n"
	      "  tenant create NAME     create a tenant and its first key version\n"
	      "  tenant list            list the tenants of the store\n"
	      "  tenant show NAME       show a tenant's key versions and objects\n"
	      "  tenant rotate NAME     new key version; rewrap every key slot; retire the old\n"
	      "  tenant shred NAME      destroy every key version of a tenant\n"
	      "  volume create NAME     create an encrypted volume of a tenant\n"
	      "  volume ls              list the volumes of the store\n"
	      "  volume inspect NAME    show a volume's header, key slots and mount\n"
	      "  volume rm NAME         remove a volume and its data\n"
	      "  volume mount NAME DIR  mount a volume with laminafs\n"
	      "  volume umount DIR|NAME unmount a volume\n"
	      "  layer import SOURCE    import an OCI layer tarball or directory as a sealed layer\n"
	      "  layer ls               list the layers of the store\n"
	      "  layer inspect DIGEST   show a layer's superblock, chunks and key slot file\n"
	      "  layer verify DIGEST    check every byte of a layer (and its boxes, with the key)\n"
	      "  layer export DIGEST    write a layer back as an OCI layer tarball\n"
	      "  layer rm DIGEST        remove a layer and its key slot file\n"
	      "  audit show             print the audit log\n"
	      "  audit verify           check the audit log's chain and MACs\n"
	      "\n"
	      "Options (also accepted after the verb):\n"
	      "  --store DIR   the store (default: $LAMINA_STORE, else /var/lib/lamina as\n"
	      "                root, else $XDG_DATA_HOME/lamina or ~/.local/share/lamina)\n"
	      "  --json        machine-readable output\n"
	      "  -h, --help    this help; `lamina COMMAND VERB --help` for a verb's\n"
	      "  -V, --version print the version\n"
	      "\n"
	      "Tenant secrets are never taken from the command line: --key-file FILE\n"
	      "(exactly 32 random bytes, mode 0600), --passphrase-file FILE, the file named\n"
	      "by LAMINA_PASSPHRASE_FILE, or a prompt on the terminal.\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success\n"
	      "  1  the operation failed (I/O error, permissions, already exists)\n"
	      "  2  usage error: bad command, option or argument\n"
	      "  3  no such store, tenant, volume or object\n"
	      "  4  key rejected: wrong passphrase or key file, or another tenant's object\n"
	      "  5  the tenant was shredded\n"
	      "  6  integrity failure: damaged or tampered keystore, key slots, audit log or\n"
	      "     layer\n",
	      f);
}

/* Core dumps of a process holding keys would put them on disk. */
static void harden(void)
{
	struct rlimit rl = { 0, 0 };

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &rl);
}

int main(int argc, char **argv)
{
	struct lm_cli c = { 0 };
	int i = 1;

	harden();
	if (lm_crypt_init()) {
		lm_cli_error("cannot initialise libsodium");
		return LM_EXIT_FAIL;
	}
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("lamina %s\n", LAMINA_VERSION);
			return 0;
		} else if (!strcmp(a, "--json")) {
			c.json = true;
		} else if (!strcmp(a, "--store") && i + 1 < argc) {
			c.store = argv[++i];
		} else if (!strncmp(a, "--store=", 8)) {
			c.store = a + 8;
		} else {
			lm_cli_error("unknown option %s (see lamina --help)", a);
			return LM_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return LM_EXIT_USAGE;
	}
	if (!strcmp(argv[i], "tenant"))
		return lm_cmd_tenant(&c, argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "audit"))
		return lm_cmd_audit(&c, argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "volume"))
		return lm_cmd_volume(&c, argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "layer"))
		return lm_cmd_layer(&c, argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "help")) {
		usage(stdout);
		return 0;
	}
	lm_cli_error("unknown command '%s' (see lamina --help)", argv[i]);
	return LM_EXIT_USAGE;
}
