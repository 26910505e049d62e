#!/bin/bash
# vault_tenants: tenants' vaults stay apart, shredding ends a vault, and
# rotation under a live writer loses nothing.
#   - isolation: tenants alpha and beta each have a volume; mounting beta's
#     volume with alpha's secret (as tenant alpha, and as tenant beta with
#     alpha's key file) fails with a non-zero exit, no mount, a message that
#     names tenant beta, and beta's volume unchanged; each tenant's own
#     mount works
#   - shred: after `lamina tenant shred beta` mounting beta's volume fails
#     (with beta's key file, and with alpha's) and says it was shredded;
#     alpha's volume still mounts and reads right
#   - rotation under load: a writer (new files of random sizes, appends to
#     a journal, overwrites inside existing files, renames) runs on alpha's
#     mounted volume (in the store's volumes/) while `lamina tenant rotate
#     alpha` runs twice; alpha's container upper outside the store (a
#     registered vault, not mounted) is rotated too.  Afterwards only the
#     newest key version is active, the writer saw no error, and after a
#     remount every file has the checksum the writer recorded; the container
#     upper mounts and reads right
. "$(dirname "$0")/vault_lib.sh"

vt_tenant alpha
vt_tenant beta
VA=$T/va VB=$T/vb M=$T/mnt

for t in alpha beta; do
	d=$T/v${t:0:1}
	vt_mount_volume "$M" "$d" "$t" || lm_die "cannot mount $t's volume"
	printf '%s data\n' "$t" >"$M/file" || lm_fail "write on $t's volume"
	lm_umount "$M"
done

# mount_fails DESC PATTERN DIR OPTS — laminafs must refuse the mount, with
# a message on stderr matching PATTERN; DIR (a vault) stays unchanged.
mount_fails() {
	local desc=$1 pat=$2 dir=$3 opts=$4 rc before
	before=$(lm_tree_sum "$dir")
	mkdir -p "$M"
	LM_MOUNTS+=("$M")
	lm_t 30 "$LAMINAFS" -o "$opts" "$M" >"$T/out" 2>&1 </dev/null
	rc=$?
	[ "$rc" -ne 0 ] || lm_fail "$desc: laminafs exited 0"
	if lm_is_fuse_mount "$M"; then
		lm_fail "$desc: the vault was mounted"
		lm_umount "$M"
	fi
	grep -Eq -- "$pat" "$T/out" || lm_fail "$desc: message '$(cat "$T/out")' does not match '$pat'"
	[ "$before" = "$(lm_tree_sum "$dir")" ] || lm_fail "$desc: the vault in $dir changed"
	lm_log "$desc: exit $rc: $(head -c 300 "$T/out")"
}

# reads_back DESC DIR TENANT CONTENT — the volume mounts and holds CONTENT.
reads_back() {
	if vt_mount_volume "$M" "$2" "$3"; then
		lm_check "$1" "$4" "$(cat "$M/file" 2>&1)"
		lm_umount "$M"
	else
		lm_fail "$1: cannot mount $2 as $3"
	fi
}

# ---- isolation --------------------------------------------------------------
mount_fails "beta's volume as alpha" "beta" "$VB" "upperdir=$VB,$(vt_opts alpha)"
mount_fails "beta's volume as beta with alpha's key file" "beta" "$VB" \
	"upperdir=$VB,$(vt_opts beta "$T/key.alpha")"
reads_back "alpha's volume as alpha" "$VA" alpha "alpha data"
reads_back "beta's volume as beta" "$VB" beta "beta data"

# ---- shred ------------------------------------------------------------------
"$LAMINA" --store "$VT_STORE" tenant shred beta --yes >"$T/out" 2>&1 ||
	lm_fail "lamina tenant shred beta: $(cat "$T/out")"
mount_fails "beta's volume after shred" "beta.*shredded|shredded.*beta" "$VB" \
	"upperdir=$VB,$(vt_opts beta)"
mount_fails "beta's volume after shred, as alpha" "beta.*shredded|shredded.*beta" "$VB" \
	"upperdir=$VB,$(vt_opts alpha)"
reads_back "alpha's volume after beta's shred" "$VA" alpha "alpha data"

# ---- rotation under load ----------------------------------------------------
# alpha's container upper outside the store, made and left unmounted.
L=$T/lower U=$T/upper W=$T/work CM=$T/cmnt
mkdir -p "$L" "$U" "$W"
echo lower >"$L/lowerfile"
lm_mount "$CM" "lowerdir=$L,upperdir=$U,workdir=$W,$(vt_opts alpha)" ||
	lm_die "cannot mount alpha's container upper"
echo upper >"$CM/upperfile" && echo more >>"$CM/lowerfile" || lm_fail "writes on the container mount"
lm_umount "$CM"

VS=$VT_STORE/volumes/data
mkdir -p "$VS"
chmod 700 "$VT_STORE/volumes"
vt_mount_volume "$M" "$VS" alpha || lm_die "cannot mount the volume in the store"
"$PY" - "$M" "$T/stop" "$T/manifest" >"$T/writer.log" 2>&1 <<'EOF' &
import hashlib, os, random, sys, time
root, stop, manifest = sys.argv[1:4]
rnd = random.Random(7)
files = {}          # relative path -> bytearray of the expected contents
errors = 0
ops = 0
os.mkdir(os.path.join(root, 'w'))
journal = os.path.join(root, 'journal')
files['journal'] = bytearray()
def put(rel, data):
    with open(os.path.join(root, rel), 'wb') as f:
        f.write(data)
    files[rel] = bytearray(data)
i = 0
while not os.path.exists(stop):
    try:
        rel = 'w/f%05d' % i
        put(rel, os.urandom(rnd.choice([0, 1, 4095, 4096, 4097, rnd.randrange(1, 300000)])))
        line = b'entry %d of the journal\n' % i
        with open(journal, 'ab') as f:
            f.write(line)
        files['journal'] += line
        if i % 3 == 2:
            # Overwrite a range inside an earlier file (may grow it).
            rel = rnd.choice(sorted(k for k in files if k.startswith('w/')))
            data = os.urandom(rnd.randrange(1, 20000))
            off = rnd.randrange(len(files[rel]) + 1)
            with open(os.path.join(root, rel), 'r+b') as f:
                f.seek(off)
                f.write(data)
            buf = files[rel]
            buf[off:off + len(data)] = data
        if i % 7 == 6:
            old = rnd.choice(sorted(k for k in files if k.startswith('w/f') and '.' not in k))
            new = old + '.renamed'
            os.rename(os.path.join(root, old), os.path.join(root, new))
            files[new] = files.pop(old)
        ops += 1
    except OSError as e:
        errors += 1
        print('writer: %s' % e, flush=True)
        if errors > 20:
            break
    i += 1
with open(manifest, 'w') as m:
    for rel, data in sorted(files.items()):
        m.write('%s  %s\n' % (hashlib.sha256(data).hexdigest(), rel))
print('writer: %d rounds, %d files, %d errors' % (ops, len(files), errors))
sys.exit(1 if errors else 0)
EOF
WRITER=$!
for r in 1 2; do
	sleep 1.5
	if "$LAMINA" --store "$VT_STORE" tenant rotate alpha --key-file "$T/key.alpha" >"$T/out" 2>&1; then
		lm_log "rotation $r under load: $(cat "$T/out")"
	else
		lm_fail "rotation $r under load failed: $(cat "$T/out")"
	fi
done
sleep 1.5
touch "$T/stop"
wait "$WRITER"
rc=$?
lm_log "$(tail -n 1 "$T/writer.log")"
lm_check "writer during rotation: exit status (log: $(head -c 500 "$T/writer.log"))" 0 "$rc"
lm_alive "$M" "after rotation under load" || true
lm_umount "$M"

# Only the newest key version is left.
got=$("$LAMINA" --store "$VT_STORE" tenant show alpha --json | "$PY" -c '
import json, sys
t = json.load(sys.stdin)
print(" ".join("v%d:%s" % (v["version"], v["state"]) for v in t["key_versions"]), "current=v%d" % t["current_version"])')
lm_check "alpha's key versions after two rotations" "v1:retired v2:retired v3:active current=v3" "$got"

if vt_mount_volume "$M" "$VS" alpha; then
	got=$(cd "$M" && lm_t 120 sha256sum -c --quiet "$T/manifest" 2>&1 | head -n 10)
	lm_check "every file written during rotation, after a remount" "" "$got"
	n=$(grep -c . "$T/manifest")
	lm_check "files on the volume" "$n" "$(cd "$M" && find . -path ./lamina.work -prune -o -type f -print | grep -c .)"
	lm_log "$n files verified"
	[ "$n" -ge 20 ] || lm_fail "the writer wrote only $n files: too little load"
	lm_umount "$M"
else
	lm_fail "cannot remount the volume after rotation"
fi
if lm_mount "$CM" "lowerdir=$L,upperdir=$U,workdir=$W,$(vt_opts alpha)"; then
	lm_check "container upper after rotation" "upper lower more" \
		"$(cat "$CM/upperfile" "$CM/lowerfile" | tr '\n' ' ' | sed 's/ $//')"
	lm_umount "$CM"
else
	lm_fail "cannot mount alpha's container upper after rotation"
fi
reads_back "alpha's first volume after rotation" "$VA" alpha "alpha data"

"$LAMINA" --store "$VT_STORE" audit verify >"$T/out" 2>&1 || lm_fail "audit verify: $(cat "$T/out")"
lm_finish
