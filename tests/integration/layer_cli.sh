#!/bin/bash
# layer_cli: `lamina layer` as an admin uses it (the built binary in
# $LAMINA; FUSE, with $LAMINAFS, only for rm of a mounted layer).
#   - --help on the noun and every verb, unknown verb
#   - a real rootfs (busybox-static, xattrs user.* and security.capability,
#     hard links, setuid/setgid/sticky, a fifo, devices as root, a 255-byte
#     name, a sparse file, 5 MB of random bytes, an empty file, owners and
#     nanosecond mtimes) tarred by GNU tar (plain with sparse entries, gzip,
#     zstd); each imported plain and encrypted; ls, inspect and verify pass;
#     export matches the source entry by entry (layer_tar.py compare)
#   - a plain import is deterministic (whatever --threads); a directory
#     imports the same entries as its tarball (the digest differs: see
#     docs/layers.md)
#   - OCI whiteouts and opaque directories survive import and export, and a
#     directory's overlay spellings (char device 0/0, trusted.overlay.opaque)
#   - hostile archives are refused with one line, or contained, and nothing
#     is written anywhere but the store (no temporary file left in layers/)
#   - verify finds a flipped byte in a chunk, the index, the metadata and
#     the superblock, and a layer renamed to another digest (exit 6)
#   - rm removes the layer and its slot file; a wrong secret is exit 4; a
#     tenant rotation rewraps a layer's key, a shred makes it unreadable
#   - rm of a layer a laminafs mount serves (plain and encrypted) is refused
#     with one line, exit 1, and removes nothing, while ls, inspect, verify
#     and export still run; after the unmount rm removes it (this part
#     needs root, /dev/fuse and $LAMINAFS, and is skipped without them)
#   - the temporary file of an import killed with SIGKILL is removed by the
#     next import, with one warning; one a live process holds locked is
#     kept (and never listed) until it lets go, then ls removes it
set -u
# With root, /dev/fuse and $LAMINAFS, lib.sh (lm_init: $T, and a trap that
# unmounts everything under it and ends its daemons on any exit); without,
# only the checking vocabulary, and no mount.
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] && [ -n "${LAMINAFS:-}" ]; then
	. "$(dirname "$0")/lib.sh"
	MOUNTS=1
else
	. "$(dirname "$0")/check.sh"
	MOUNTS=0
fi
HERE=$(cd "$(dirname "$0")" && pwd)
TARPY="$HERE/layer_tar.py"

[ -n "${LAMINA:-}" ] && [ -x "$LAMINA" ] || lm_die "LAMINA must name the lamina binary"
command -v "$PY" >/dev/null || lm_die "python3 is needed"
BUSYBOX=$(command -v busybox) || lm_skip "busybox (busybox-static) is not installed"
command -v zstd >/dev/null || lm_skip "zstd is not installed"
command -v flock >/dev/null || lm_die "flock (util-linux) is needed"
[ $MOUNTS -eq 1 ] || lm_tmpdir
unset LAMINA_PASSPHRASE_FILE LAMINA_STORE SOURCE_DATE_EPOCH
S=$T/store
ROOT=0; [ "$(id -u)" -eq 0 ] && ROOT=1
L() { "$LAMINA" --store "$S" "$@"; }

# json FILE EXPR — evaluates EXPR with d = the JSON in FILE.
json() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
compare() { "$PY" "$TARPY" compare "$1" "$2" >"$T/cmp" 2>&1 || lm_fail "$3: $(tail -20 "$T/cmp")"; }
no_tmp_left() {
	local left
	left=$(cd "$S/layers" && ls -A | grep -v '^[0-9a-f]\{64\}$')
	[ -z "$left" ] || lm_fail "$1: left in layers/: $left"
}

# ---- help ------------------------------------------------------------------
for v in "" import ls inspect verify export rm; do
	# shellcheck disable=SC2086
	out=$("$LAMINA" layer $v --help 2>&1)
	lm_check "lamina layer $v --help exit" 0 $?
	[ -n "$out" ] || lm_fail "lamina layer $v --help printed nothing"
done
"$LAMINA" --help | grep -q "layer import" || lm_fail "lamina --help lacks the layer noun"
lm_expect_fail "unknown verb" 2 "unknown verb 'layer frob'" "$LAMINA" layer frob
lm_expect_fail "bad chunk size" 2 "chunk-size" L layer import /dev/null --chunk-size 3000
lm_expect_fail "cipher without tenant" 2 "needs --tenant" L layer import /dev/null --cipher aes256gcm

# ---- a rootfs ----------------------------------------------------------------
R=$T/rootfs
mkdir -p "$R/bin" "$R/etc/sub" "$R/dev" "$R/tmp" "$R/data" "$R/shared"
cp "$BUSYBOX" "$R/bin/busybox"
"$R/bin/busybox" --install -s "$R/bin" || lm_die "busybox --install"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
cp "$BUSYBOX" "$R/bin/ping"
setfattr -n user.comment -v "pings things" "$R/bin/ping" || lm_die "setfattr user.*"
setfattr -n user.bin -v 0x00ff10 "$R/etc/passwd"
if [ $ROOT -eq 1 ]; then
	# cap_net_raw, effective (VFS_CAP_REVISION_2).
	setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 "$R/bin/ping" ||
		lm_fail "cannot set security.capability"
fi
echo "linked" >"$R/etc/hl1"; ln "$R/etc/hl1" "$R/etc/hl2"; ln "$R/etc/hl1" "$R/etc/sub/hl3"
cp "$BUSYBOX" "$R/bin/su"; chmod 4755 "$R/bin/su"
chmod 2775 "$R/shared"; chmod 1777 "$R/tmp"
mkfifo "$R/tmp/fifo"
if [ $ROOT -eq 1 ]; then
	mknod "$R/dev/null" c 1 3; mknod "$R/dev/sda" b 8 0
	chown 1234:5678 "$R/etc/hl1"; chown -h 4321:8765 "$R/bin/sh"
fi
echo long >"$R/data/$(printf 'n%.0s' $(seq 255))"
truncate -s 8M "$R/data/sparse"; echo middle | dd of="$R/data/sparse" bs=1 seek=4194304 conv=notrunc status=none
head -c 5M /dev/urandom >"$R/data/random"
: >"$R/data/empty"
touch -d "2020-01-02 03:04:05.123456789" "$R/data/empty"
touch -h -d "2019-05-06 07:08:09.987654321" "$R/bin/sh"
TAR=(tar --format=posix --xattrs "--xattrs-include=*" --numeric-owner -C "$R")
"${TAR[@]}" -S -cf "$T/r.tar" . || lm_die "tar"
gzip -c "$T/r.tar" >"$T/r.tar.gz"
zstd -q -c "$T/r.tar" >"$T/r.tar.zst"
"${TAR[@]}" -cf "$T/r-full.tar" .   # the reference: no sparse entries

# ---- import, ls, inspect, verify, export -----------------------------------
lm_mkkey "$T/ka"; lm_mkkey "$T/kb"
L tenant create acme --key-file "$T/ka" >/dev/null || lm_die "tenant acme"
L tenant create beta --key-file "$T/kb" >/dev/null || lm_die "tenant beta"
declare -A DIG
for src in r.tar r.tar.gz r.tar.zst; do
	for mode in plain enc; do
		args=(); [ $mode = enc ] && args=(--tenant acme --key-file "$T/ka")
		L layer import "$T/$src" "${args[@]}" --json >"$T/imp.json" 2>"$T/err" ||
			{ lm_fail "import $src $mode: $(cat "$T/err")"; continue; }
		[ -s "$T/err" ] && lm_fail "import $src $mode printed: $(cat "$T/err")"
		d=$(json "$T/imp.json" 'd["digest"]'); DIG[$src.$mode]=$d
		lm_log "import $src ($mode): $d in $(json "$T/imp.json" 'd["seconds"]') s, $(json "$T/imp.json" 'd["entries"]') entries, $(json "$T/imp.json" 'd["chunks"]') chunks, $(json "$T/imp.json" 'd["dedup"]') deduplicated"
		L layer verify "${d:0:8}" "${args[@]}" >"$T/out" 2>&1 || lm_fail "verify $src $mode: $(cat "$T/out")"
		L layer export "${d:0:10}" "${args[@]}" -o "$T/x.tar" 2>"$T/err" ||
			{ lm_fail "export $src $mode: $(cat "$T/err")"; continue; }
		compare "$T/r-full.tar" "$T/x.tar" "export of $src ($mode)"
	done
done
L layer ls --json >"$T/ls.json" || lm_fail "ls"
lm_check "ls: layers" "$(printf '%s\n' "${DIG[@]}" | sort -u | wc -l)" "$(json "$T/ls.json" 'len(d)')"
lm_check "ls: encrypted ones" 3 "$(json "$T/ls.json" 'sum(1 for x in d if x["tenant"] == "acme")')"
L layer ls | grep -q "^${DIG[r.tar.plain]:0:12} .* plain " || lm_fail "ls text: $(L layer ls)"
d=${DIG[r.tar.plain]}
L layer inspect "$d" --json >"$T/in.json" || lm_fail "inspect"
lm_check "inspect: plain" False "$(json "$T/in.json" 'd["encrypted"]')"
lm_check "inspect: chunk size" 65536 "$(json "$T/in.json" 'd["chunk_size"]')"
lm_check "inspect: hard-linked inodes" 1 "$(json "$T/in.json" 'd["entries"]["hardlinked"]')"
[ "$(json "$T/in.json" 'd["entries"]["holes"] >= 60')" = True ] || lm_fail "inspect: the sparse file's holes"
L layer inspect "${DIG[r.tar.enc]}" >"$T/out" || lm_fail "inspect encrypted"
grep -q "tenant acme" "$T/out" && grep -q "objects/layer-" "$T/out" || lm_fail "inspect encrypted: $(cat "$T/out")"

# ---- determinism, existing digests, directories ----------------------------
d2=$(L layer import "$T/r.tar" --json 2>/dev/null)
lm_check "the same tarball twice: digest" "$d" "$(echo "$d2" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["digest"])')"
lm_check "the same tarball twice: existed" True "$(echo "$d2" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["existed"])')"
for n in 1 5; do
	d3=$(L layer import "$T/r.tar" --threads $n --json 2>/dev/null)
	lm_check "--threads $n: the same digest" "$d" "$(echo "$d3" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["digest"])')"
done
rc=0; L layer import "$T/r.tar" --threads 0 >"$T/out" 2>&1 || rc=$?
lm_check "--threads 0: a usage error" 2 "$rc"
grep -q "invalid --threads '0'" "$T/out" || lm_fail "--threads 0: $(cat "$T/out")"
slots=$(ls "$S/objects" | grep -c '^layer-')
L layer import "$T/r.tar" --chunk-size 16K --compress lz4hc >"$T/out" 2>&1 || lm_fail "import 16K lz4hc: $(cat "$T/out")"
L layer import "$T/r.tar" --chunk-size 1M --compress none >"$T/out" 2>&1 || lm_fail "import 1M none: $(cat "$T/out")"
L layer verify "$(cat "$T/out")" >/dev/null || lm_fail "verify 1M none"
lm_check "slot files of tenant layers" 3 "$slots"
L layer import "$R" --json >"$T/dir.json" 2>"$T/err" || lm_fail "import dir: $(cat "$T/err")"
dd_=$(json "$T/dir.json" 'd["digest"]')
L layer export "$dd_" >"$T/xd.tar" || lm_fail "export dir layer"
compare "$T/r-full.tar" "$T/xd.tar" "directory import against its tarball"
cat "$R/bin/busybox" | L layer import - >"$T/out" 2>&1 && lm_fail "a binary from stdin was imported"
L layer import - <"$T/r.tar.gz" >"$T/out" 2>&1 || lm_fail "import from stdin: $(cat "$T/out")"

# ---- whiteouts and opaque directories ----------------------------------------
"$PY" "$TARPY" whiteouts "$T/wh.tar"
w=$(L layer import "$T/wh.tar") || lm_fail "import whiteouts"
L layer inspect "$w" --json >"$T/in.json"
lm_check "whiteouts counted" 2 "$(json "$T/in.json" 'd["entries"]["whiteouts"]')"
lm_check "opaque counted" 1 "$(json "$T/in.json" 'd["entries"]["opaque"]')"
L layer export "$w" >"$T/xw.tar" || lm_fail "export whiteouts"
compare "$T/wh.tar" "$T/xw.tar" "whiteouts and opaque dirs"
if [ $ROOT -eq 1 ]; then
	O=$T/upper; mkdir -p "$O/d/sub" "$O/e"
	echo x >"$O/d/sub/f"; mknod "$O/d/gone" c 0 0
	setfattr -n trusted.overlay.opaque -v y "$O/e"; echo y >"$O/e/f"
	setfattr -n user.overlay.opaque -v y "$O/d/sub"
	"$PY" -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$O/sock"
	u=$(L layer import "$O") || lm_fail "import an overlay upper"
	L layer inspect "$u" --json >"$T/in.json"
	lm_check "upper: the socket kept" 1 "$(json "$T/in.json" 'd["entries"]["other"]')"
	lm_check "upper: whiteouts" 1 "$(json "$T/in.json" 'd["entries"]["whiteouts"]')"
	lm_check "upper: opaque" 2 "$(json "$T/in.json" 'd["entries"]["opaque"]')"
	L layer export "$u" 2>"$T/err" >"$T/xu.tar" || lm_fail "export upper"
	grep -q "1 sockets left out" "$T/err" || lm_fail "export upper: no word of the socket: $(cat "$T/err")"
	"$PY" "$TARPY" names "$T/xu.tar" >"$T/names"
	for n in d/.wh.gone e/.wh..wh..opq d/sub/.wh..wh..opq e/f; do
		grep -qx "$n" "$T/names" || lm_fail "upper: $n missing in $(tr '\n' ' ' <"$T/names")"
	done
	tar --xattrs --xattrs-include='*' -tvvf "$T/xu.tar" 2>&1 | grep -q overlay &&
		lm_fail "an overlay xattr was exported"
fi

# ---- hostile archives ----------------------------------------------------------
H=$T/hostile; W=$T/work/deep/er; mkdir -p "$W" "$T/tmp"
"$PY" "$TARPY" hostile "$H"
[ -e /etc/x ] || [ -e /x ] && lm_skip "/etc/x or /x exists on this host: cannot check for escapes"
# Every file of $T but the store and this script's own scratch files.
snapshot() { find "$T" -path "$S" -prune -o -print | grep -Ev "^$T/(out|err|hout|names|dup\.tar)\$" | sort; }
before=$(snapshot)
for c in "dotdot.tar:'\\.\\.' component" "dotdot_mid.tar:'\\.\\.' component" \
	"link_missing.tar:not an earlier entry" "link_later.tar:not an earlier entry" \
	"link_escape.tar:hard link target '\\.\\./\\.\\./etc/passwd'" "link_dir.tar:which is a directory" \
	"symlink_parent.tar:a/passwd.*symlink or not a directory" \
	"symlink_parent_rel.tar:a/x.*symlink or not a directory" \
	"longname.tar:longer than 255" "truncated.tar:[Tt]runcated" "badsize.tar:refused" \
	"hugesize.tar:[Tt]runcated" "negsize.tar:negative size" "garbage.tar.gz:refused"; do
	(cd "$W" && TMPDIR=$T/tmp lm_expect_fail "hostile ${c%%:*}" 1 "${c#*:}" \
		"$LAMINA" --store "$S" layer import "$H/${c%%:*}") >"$T/hout"
	cat "$T/hout"
	grep -q "FAIL" "$T/hout" && LM_FAILS=$((LM_FAILS + 1))
done
(cd "$W" && L layer import "$H/absolute.tar") >"$T/out" 2>"$T/err" || lm_fail "absolute names: $(cat "$T/err")"
lm_check "absolute: one warning" 1 "$(grep -c "absolute names were made relative" "$T/err")"
L layer export "$(cat "$T/out")" | "$PY" -c 'import tarfile,sys; print(" ".join(m.name for m in tarfile.open(fileobj=sys.stdin.buffer, mode="r|")))' >"$T/names"
grep -q "etc/x" "$T/names" || lm_fail "absolute: etc/x not in the layer: $(cat "$T/names")"
(cd "$W" && L layer import "$H/duplicate.tar") >"$T/out" 2>"$T/err" || lm_fail "duplicates: $(cat "$T/err")"
lm_check "duplicates: one warning line" 1 "$(wc -l <"$T/err")"
grep -q "^lamina: warning: 1 entries" "$T/err" || lm_fail "duplicates: $(cat "$T/err")"
L layer export "$(cat "$T/out")" -o "$T/dup.tar"
"$PY" -c 'import tarfile,sys; t=tarfile.open(sys.argv[1]); assert t.extractfile("f").read() == b"second"' "$T/dup.tar" ||
	lm_fail "duplicates: the later entry did not win"
after=$(snapshot)
[ "$before" = "$after" ] || lm_fail "hostile imports wrote outside the store: $(diff <(echo "$before") <(echo "$after") | head)"
[ -e /etc/x ] || [ -e /x ] || [ -e "$T/x" ] || [ -e "$T/work/x" ] && lm_fail "a hostile archive escaped"
no_tmp_left "after the hostile imports"

# ---- verify: damage ------------------------------------------------------------
d=${DIG[r.tar.plain]}
cp "$S/layers/$d" "$T/good"
L layer inspect "$d" --json >"$T/in.json"
ioff=$(json "$T/in.json" 'd["index"]["offset"]'); moff=$(json "$T/in.json" 'd["metadata"]["offset"]')
for c in "chunk:300:chunk [0-9]" "index:$((ioff + 60)):index" "metadata:$((moff + 3)):metadata" \
	"superblock-hash:170:superblock" "superblock-reserved:14:superblock"; do
	IFS=: read -r what off pat <<<"$c"
	cp "$T/good" "$S/layers/$d"
	"$PY" "$TARPY" flip "$S/layers/$d" "$off"
	L layer verify "$d" >"$T/out" 2>&1
	lm_check "verify with a flipped byte in the $what: exit" 6 $?
	grep -q "$pat" "$T/out" || lm_fail "verify $what: $(cat "$T/out")"
	lm_log "flipped $what: $(head -1 "$T/out")"
done
cp "$T/good" "$S/layers/$d"
L layer verify "$d" >/dev/null || lm_fail "verify after the repair"
other=$(printf 'ab%.0s' $(seq 32))
cp "$T/good" "$S/layers/$other"
L layer verify "$other" >"$T/out" 2>&1
lm_check "verify a renamed layer: exit" 6 $?
grep -q "superblock: its digest is $d, not the file's name" "$T/out" || lm_fail "verify a renamed layer: $(cat "$T/out")"
lm_expect_fail "export a renamed layer" 6 "not its name" L layer export "$other" -o "$T/no.tar"
[ -e "$T/no.tar" ] && lm_fail "export of a renamed layer wrote a file"
rm -f "$S/layers/$other"
e=${DIG[r.tar.enc]}
cp "$S/layers/$e" "$T/goode"
"$PY" "$TARPY" flip "$S/layers/$e" 1000
L layer verify "$e" >"$T/out" 2>&1; lm_check "encrypted, flipped chunk, no key: exit" 6 $?
L layer verify "$e" --tenant acme --key-file "$T/ka" >"$T/out" 2>&1; lm_check "encrypted, flipped chunk, key: exit" 6 $?
grep -q "chunk [0-9]" "$T/out" || lm_fail "encrypted flipped chunk: $(cat "$T/out")"
cp "$T/goode" "$S/layers/$e"

# ---- keys and rm ------------------------------------------------------------------
lm_expect_fail "export with another tenant's key" 4 "wrong key file|tenant acme" L layer export "$e" --key-file "$T/kb" -o "$T/no.tar"
lm_expect_fail "verify as another tenant" 4 "belongs to tenant acme" L layer verify "$e" --tenant beta --key-file "$T/kb"
lm_expect_fail "ambiguous or short prefix" 2 "hex digits" L layer inspect abc
lm_expect_fail "no such layer" 3 "no layer" L layer inspect 0000000
lid=$(L layer inspect "$e" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["layer_id"])')
[ -f "$S/objects/layer-$lid.slots" ] || lm_fail "slot file of $e missing"
L layer rm "$e" >/dev/null || lm_fail "rm encrypted"
[ -e "$S/layers/$e" ] && lm_fail "rm left the layer file"
[ -e "$S/objects/layer-$lid.slots" ] && lm_fail "rm left the slot file"
L layer rm "${DIG[r.tar.plain]}" >/dev/null || lm_fail "rm plain"
b=$(L layer import "$T/r.tar.gz" --tenant beta --key-file "$T/kb") || lm_fail "import for beta"
L tenant rotate beta --key-file "$T/kb" >"$T/out" 2>&1 || lm_fail "rotate beta: $(cat "$T/out")"
grep -q "1 object rewrapped" "$T/out" || lm_fail "rotate did not rewrap the layer's slot file: $(cat "$T/out")"
L layer verify "$b" --tenant beta --key-file "$T/kb" >/dev/null 2>&1 || lm_fail "verify after a rotation"
L tenant shred beta --yes >/dev/null 2>&1 || lm_fail "shred beta"
lm_expect_fail "export of a shredded tenant's layer" 5 "shredded" L layer export "$b" --key-file "$T/kb" -o "$T/no.tar"

# ---- rm of a layer in use ----------------------------------------------------------
# exists LABEL FILE... — fail when a FILE is missing.
exists() { local l=$1 f; shift; for f in "$@"; do [ -e "$f" ] || lm_fail "$l: $f is gone"; done; }
gone() { local l=$1 f; shift; for f in "$@"; do [ -e "$f" ] && lm_fail "$l: $f is still there"; done; }
if [ $MOUNTS -eq 1 ]; then
	P=$(L layer import "$T/r.tar") || lm_die "import of the layer to mount"
	E=$(L layer import "$T/r.tar.zst" --tenant acme --key-file "$T/ka") || lm_die "encrypted import to mount"
	elid=$(L layer inspect "$E" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["layer_id"])')
	ES=$S/objects/layer-$elid.slots
	exists "before the mounts" "$S/layers/$P" "$S/layers/$E" "$ES"
	lm_mount "$T/mp" "lowerdir=sealed:$P,store=$S" || lm_die "mount of plain layer $P"
	lm_mount "$T/me" "lowerdir=sealed:$E,store=$S,tenant=acme,keyfile=$T/ka" ||
		lm_die "mount of encrypted layer $E"
	lm_expect_fail "rm of a mounted layer" 1 "^lamina: layer ${P:0:12} is in use by a laminafs mount: unmount it first\$" \
		L layer rm "$P"
	lm_expect_fail "rm of a mounted encrypted layer" 1 "^lamina: layer ${E:0:12} is in use by a laminafs mount: unmount it first\$" \
		L layer rm "${E:0:8}" --json
	[ -s "$T/out" ] && lm_fail "rm --json of a mounted layer printed: $(cat "$T/out")"
	exists "refused rm" "$S/layers/$P" "$S/layers/$E" "$ES"
	cmp -s "$R/data/random" "$T/mp/data/random" || lm_fail "the plain mount after a refused rm"
	cmp -s "$R/data/random" "$T/me/data/random" || lm_fail "the encrypted mount after a refused rm"
	# The readers neither wait for a mount nor for each other.
	L layer verify "$E" --tenant acme --key-file "$T/ka" >"$T/v1" 2>&1 & v1=$!
	L layer export "$P" -o "$T/xm.tar" 2>"$T/v2" & v2=$!
	L layer verify "$P" >"$T/v3" 2>&1 & v3=$!
	wait $v1 || lm_fail "verify of a mounted encrypted layer: $(cat "$T/v1")"
	wait $v2 || lm_fail "export of a mounted layer: $(cat "$T/v2")"
	wait $v3 || lm_fail "verify of a mounted layer: $(cat "$T/v3")"
	compare "$T/r-full.tar" "$T/xm.tar" "export of a mounted layer"
	L layer inspect "$E" >/dev/null || lm_fail "inspect of a mounted layer"
	L layer ls | grep -q "^${P:0:12} " || lm_fail "ls while mounted: $(L layer ls)"
	lm_umount "$T/mp"
	lm_umount "$T/me"
	L layer rm "$P" >"$T/out" 2>&1 || lm_fail "rm after the unmount: $(cat "$T/out")"
	L layer rm "$E" >"$T/out" 2>&1 || lm_fail "rm of the encrypted layer after the unmount: $(cat "$T/out")"
	gone "rm after the unmount" "$S/layers/$P" "$S/layers/$E" "$ES"
else
	lm_log "*** SKIPPED: rm of a mounted layer (needs root, /dev/fuse and LAMINAFS) ***"
fi

# ---- temporary files of killed imports ---------------------------------------------
# An import from a fifo that never ends, killed with SIGKILL: no handler runs.
no_tmp_left "before the killed import"
mkfifo "$T/fifo"
"$LAMINA" --store "$S" layer import - <"$T/fifo" >"$T/killed" 2>&1 &
ipid=$!
exec 7>"$T/fifo"
head -c 1M "$T/r.tar" >&7
for _ in $(seq 100); do compgen -G "$S/layers/.import-*" >/dev/null && break; sleep 0.1; done
KT=$(compgen -G "$S/layers/.import-*")
[ -n "$KT" ] && [ "$(echo "$KT" | wc -l)" -eq 1 ] || lm_die "the import's temporary file: '$KT'"
# Tried until it fails: the file appears a moment before it is locked.
for _ in $(seq 50); do flock -n "$KT" true || break; sleep 0.1; done
flock -n "$KT" true && lm_fail "a live import does not hold its temporary file's lock"
L layer ls >/dev/null 2>"$T/err" || lm_fail "ls during an import: $(cat "$T/err")"
[ -s "$T/err" ] && lm_fail "ls during an import said: $(cat "$T/err")"
exists "ls during an import" "$KT"
kill -KILL $ipid
wait $ipid 2>/dev/null # (not "Killed" in the log)
lm_check "the killed import: exit" 137 $?
exec 7>&-
exists "after SIGKILL" "$KT"
# One a live process holds (a concurrent import, as far as anyone can
# tell): a subshell that locks it with flock(1), then becomes the sleep.
LT=$S/layers/.import-0123456789abcdef.lmtmp
( exec 9>"$LT" && flock 9 && : >"$T/held" && exec sleep 120 ) &
hpid=$!
for _ in $(seq 100); do [ -e "$T/held" ] && break; sleep 0.1; done
[ -e "$T/held" ] || lm_die "the holder of $LT did not start"
L layer import "$T/wh.tar" >"$T/out" 2>"$T/err" || lm_fail "import after a killed one: $(cat "$T/err")"
lm_check "import after a killed one: lines on stderr" 1 "$(wc -l <"$T/err")"
grep -qx "lamina: warning: removed $KT, left by an import that did not finish" "$T/err" ||
	lm_fail "import after a killed one: $(cat "$T/err")"
gone "the next import" "$KT"
exists "the next import, a held temporary file" "$LT"
L layer ls >"$T/out" 2>"$T/err" || lm_fail "ls with a held temporary file"
grep -q "import" "$T/out" && lm_fail "ls lists a temporary file: $(cat "$T/out")"
[ -s "$T/err" ] && lm_fail "ls with a held temporary file said: $(cat "$T/err")"
exists "ls, a held temporary file" "$LT"
kill $hpid
wait $hpid 2>/dev/null
L layer ls --json >"$T/out" 2>"$T/err" || lm_fail "ls after the holder let go"
lm_check "ls after the holder let go: lines on stderr" 1 "$(wc -l <"$T/err")"
grep -qx "lamina: warning: removed $LT, left by an import that did not finish" "$T/err" ||
	lm_fail "ls after the holder let go: $(cat "$T/err")"
gone "ls after the holder let go" "$LT"
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" || lm_fail "ls --json with a warning: not JSON"

L audit show | grep -q "layer.rm" || lm_fail "no layer.rm audit record"
L audit show | grep -q "layer.import" || lm_fail "no layer.import audit record"
L audit verify >/dev/null || lm_fail "audit verify"
no_tmp_left "at the end"
lm_finish
