# shellcheck shell=bash
# Helpers of the vault tests (vault_*.sh): a lamina store in the test's temp
# dir, tenants with key files, volume and encrypted-upper mounts, the audit
# log's integrity records.  Source it instead of lib.sh:
#
#   . "$(dirname "$0")/vault_lib.sh"
#
# Needs $LAMINAFS (lib.sh) and $LAMINA, the lamina admin CLI.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -n "${LAMINA:-}" ] && [ -x "$LAMINA" ] || lm_die "LAMINA must name the lamina binary"
LAMINA=$(readlink -f "$LAMINA")
unset LAMINA_PASSPHRASE_FILE LAMINA_STORE

VT_STORE=$T/store
VT_BLK=4096
VT_BOX=4137        # a sealed block: 4096 + the AEAD overhead (41)
VT_HEAD=80         # the file header before block 0

# vt_key FILE — 32 random bytes, mode 0600.
vt_key() {
	head -c 32 /dev/urandom >"$1" && chmod 600 "$1"
}

# vt_tenant NAME — create tenant NAME with key file $T/key.NAME.
vt_tenant() {
	vt_key "$T/key.$1" || lm_die "cannot write $T/key.$1"
	"$LAMINA" --store "$VT_STORE" tenant create "$1" --key-file "$T/key.$1" >"$T/out" 2>&1 ||
		lm_die "lamina tenant create $1: $(cat "$T/out")"
}

# vt_opts TENANT [KEYFILE] — the tenant= options of a mount.
vt_opts() {
	printf 'tenant=%s,store=%s,keyfile=%s' "$1" "$VT_STORE" "${2:-$T/key.$1}"
}

# vt_mount_volume MNT DIR TENANT [KEYFILE] — mount the vault in DIR alone.
vt_mount_volume() {
	mkdir -p "$2"
	lm_mount "$1" "upperdir=$2,$(vt_opts "$3" "${4:-}")"
}

# vt_integrity_count — the number of vault.integrity records in the audit log.
vt_integrity_count() {
	"$LAMINA" --store "$VT_STORE" audit show --json |
		"$PY" -c 'import json, sys; print(sum(r["op"] == "vault.integrity" for r in json.load(sys.stdin)))'
}

# vt_host_size BYTES — the size of the host file of a vault file of BYTES.
vt_host_size() {
	local n=$1 full=$(($1 / VT_BLK)) r=$(($1 % VT_BLK))
	if [ "$r" -eq 0 ] && [ "$n" -gt 0 ]; then
		full=$((full - 1)) r=$VT_BLK
	fi
	echo $((VT_HEAD + full * VT_BOX + r + VT_BOX - VT_BLK))
}

# vt_host_file DIR BYTES — the one host file under DIR of a vault file of
# BYTES plaintext bytes; dies unless exactly one has that size.
vt_host_file() {
	local size hits
	size=$(vt_host_size "$2")
	hits=$(find "$1" -path "$1/lamina.work" -prune -o -type f -size "${size}c" -print)
	[ "$(printf '%s' "$hits" | grep -c '^')" -eq 1 ] ||
		lm_die "expected one host file of $size bytes under $1, found: ${hits:-none}"
	printf '%s' "$hits"
}

# vt_mkdata FILE BYTES SEED [MARKER] — deterministic contents: lines of
# MARKER (if given), SEED and the line number, so that no two 4 KiB blocks
# of any file are alike.
vt_mkdata() {
	"$PY" - "$@" <<'EOF'
import sys
path, size, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
marker = sys.argv[4] if len(sys.argv) > 4 else ''
out, n, i = [], 0, 0
while n < size:
    line = ('%s %s line %09d\n' % (marker, seed, i)).encode()
    out.append(line)
    n += len(line)
    i += 1
with open(path, 'wb') as f:
    f.write(b''.join(out)[:size])
EOF
}

# vt_blocks FILE REFERENCE [random] — read FILE one 4 KiB block at a time
# (each with its own open) and print, per block of REFERENCE: "i:ok" (same
# bytes), "i:EIO", "i:BAD" (other bytes), "i:SHORT" (fewer bytes, or end of
# file), or "i:ERRNO"; an open that fails prints "open:ERRNO".  The file's
# cached pages are dropped first.  With "random" the reads are advised
# POSIX_FADV_RANDOM: each one asks the daemon for its block alone; without,
# the kernel reads ahead (one request spans the next blocks too), as it
# does for ordinary programs.
vt_blocks() {
	lm_t 60 "$PY" - "$1" "$2" "${3:-}" <<'EOF'
import errno, os, sys
path, ref, mode = sys.argv[1], open(sys.argv[2], 'rb').read(), sys.argv[3]
out = []
nblk = (len(ref) + 4095) // 4096
try:
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
except OSError as e:
    print('open:' + errno.errorcode.get(e.errno, str(e.errno)))
    sys.exit(0)
for i in range(nblk):
    want = ref[i * 4096:(i + 1) * 4096]
    fd = os.open(path, os.O_RDONLY)
    if mode == 'random':
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    try:
        got = os.pread(fd, 4096, i * 4096)
        r = 'ok' if got == want else 'SHORT' if want.startswith(got) else 'BAD'
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    finally:
        os.close(fd)
    out.append('%d:%s' % (i, r))
print(' '.join(out))
EOF
}
