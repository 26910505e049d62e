#!/bin/bash
# scan_markers_selftest: the at-rest marker scanner (scan_markers.sh) finds
# what it must and only that, so an at-rest test built on it cannot pass
# for the wrong reason.
#   - each case directory holds one marker in one place and one encoding:
#     file contents (raw, hex, HEX, base64 and base64url at the three
#     alignments, base64 wrapped over lines, at the very end of a file in a
#     deep directory with a space in its name, in the middle of a big random
#     file), a file name (raw) and a directory name (base64url), symlink
#     targets (raw, HEX), xattr names, xattr values (raw, base64, binary
#     around the marker), a symlink's own xattr; the scan returns 1 and
#     names that encoding, place and file
#   - all cases in one tree, two markers at once: every case is reported
#   - a clean tree of the same shape (with near misses: the marker less a
#     byte, one byte changed, and a FIFO) returns 0 and prints nothing
#   - usage errors return 2: no such directory, a marker under 8 bytes
#   - speed: LM_SCAN_BIG_MB (default 150) MB of random data in 15 files,
#     scanned in under 60 s (the time is logged)
# Needs neither root nor FUSE (the symlink-xattr case needs root for
# trusted.*; without root it is left out, and says so).
. "$(dirname "$0")/check.sh"
. "$(dirname "$0")/scan_markers.sh"

for tool in getfattr setfattr base64 od; do
	command -v "$tool" >/dev/null || lm_die "$tool not found (packages: attr, coreutils)"
done
T=$(mktemp -d "${TMPDIR:-/tmp}/lamina-it.$LM_NAME.XXXXXX") || lm_die "mktemp failed"
trap 'rm -rf "$T"' EXIT

M1='LAMINA-at-rest-7f3a9c1e'
M2='secret??>>??>>??>>-2' # base64 and base64url differ at every alignment
C=$T/cases

# b64 K MARKER [url] — base64 of K random bytes, MARKER, 5 random bytes.
b64() {
	{ head -c "$1" /dev/urandom; printf '%s' "$2"; head -c 5 /dev/urandom; } | base64 -w0 |
		if [ "${3:-}" = url ]; then tr '+/' '-_'; else cat; fi
}
hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# noise N — N random bytes on stdout.
noise() { head -c "$1" /dev/urandom; }

# case_dir NAME — make and print the directory of one case.
case_dir() {
	mkdir -p "$C/$1" && printf '%s' "$C/$1"
}

# content NAME DATA... — a case whose file "f" holds noise, DATA, noise.
content() {
	local d
	d=$(case_dir "$1")
	shift
	{ noise 1000; printf '%s' "$@"; noise 1000; } >"$d/f"
}

content raw "$M1"
content hex "$(hexof "$M1")"
content HEX "$(hexof "$M1" | tr a-f A-F)"
for k in 0 1 2; do
	content "b64-$k" "$(b64 "$k" "$M2")"
	content "b64url-$k" "$(b64 "$k" "$M2" url)"
done
# 51 bytes before the marker (alignment 0): its encoding straddles
# column 76.
d=$(case_dir wrapped)
{ noise 51; printf '%s' "$M1"; noise 50; } | base64 -w 76 >"$d/f"
d=$(case_dir deep)
mkdir -p "$d/a b/c/d"
{ noise 5000; printf '%s' "$M1"; } >"$d/a b/c/d/end"
d=$(case_dir big)
{ noise 10000001; printf '%s' "$M1"; noise 9999999; } >"$d/f"
d=$(case_dir name)
: >"$d/x-$M1-y"
d=$(case_dir dirname-b64url)
mkdir "$d/$(b64 1 "$M2" url)"
d=$(case_dir symlink)
ln -s "/nowhere/$M1/target" "$d/l"
d=$(case_dir symlink-HEX)
ln -s "$(hexof "$M1" | tr a-f A-F)" "$d/l"
d=$(case_dir xattr-name)
: >"$d/f"
setfattr -n "user.$M1" -v 1 "$d/f" || lm_die "setfattr failed: no user xattrs on $T's filesystem?"
d=$(case_dir xattr-value)
: >"$d/f"
setfattr -n user.v -v "pre-$M1-post" "$d/f"
d=$(case_dir xattr-value-b64)
mkdir "$d/sub"
setfattr -n user.v -v "$(b64 1 "$M2")" "$d/sub"
d=$(case_dir xattr-value-binary)
: >"$d/f"
setfattr -n user.bin -v "0x00ff01$(hexof "$M1")fe0a0d" "$d/f"
if [ "$(id -u)" -eq 0 ]; then
	d=$(case_dir xattr-symlink)
	ln -s target "$d/l"
	setfattr -h -n trusted.t -v "$M1" "$d/l"
else
	lm_log "not root: the case of a symlink's own xattr (trusted.*) is left out"
fi

# CASE  ENCODING-LABEL  PLACE  FILE (relative to the case dir)
EXPECT="
raw;raw;content;f
hex;hex;content;f
HEX;HEX;content;f
b64-0;base64/0;content;f
b64-1;base64/1;content;f
b64-2;base64/2;content;f
b64url-0;base64url/0;content;f
b64url-1;base64url/1;content;f
b64url-2;base64url/2;content;f
wrapped;base64|base64url/0;content (unwrapped);f
deep;raw;content;a b/c/d/end
big;raw;content;f
name;raw;name;x-$M1-y
dirname-b64url;base64url/1;name;$(ls "$C/dirname-b64url" 2>/dev/null)
symlink;raw;symlink target;l
symlink-HEX;HEX;symlink target;l
xattr-name;raw;xattr name;f
xattr-value;raw;xattr value;f
xattr-value-b64;base64/1;xattr value;sub
xattr-value-binary;raw;xattr value;f
xattr-symlink;raw;xattr value;l
"

# Each case alone.
ncases=0
while IFS=';' read -r name enc place file; do
	[ -n "$name" ] || continue
	[ -d "$C/$name" ] || continue
	ncases=$((ncases + 1))
	scan_markers "$C/$name" "$M1" "$M2" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne 1 ]; then
		lm_fail "case $name: scan_markers returned $rc, not 1: $(cat "$T/out" "$T/err")"
		continue
	fi
	# The marker text, encoding and place as expected; the path ends with
	# the planted file (getfattr prints absolute paths, find relative ones).
	want="as $enc in $place: "
	if ! grep -F -- "$want" "$T/out" | grep -q -F -- "$file"; then
		lm_fail "case $name: no line with '$want...$file' in:"
		cat "$T/out"
	fi
done <<<"$EXPECT"
lm_log "$ncases single cases checked"

# All at once, both markers.
scan_markers "$C" "$M1" "$M2" >"$T/out" 2>"$T/err"
rc=$?
lm_check "all cases in one tree: status" 1 "$rc"
for d in "$C"/*; do
	# Contents and xattrs print "$C/CASE/...", names and links "CASE/...".
	grep -q -e "/${d##*/}/" -e ": ${d##*/}/" "$T/out" ||
		lm_fail "all cases in one tree: nothing reported for ${d##*/}"
done
lm_log "one tree: $(wc -l <"$T/out") hits"

# A clean tree of the same shape, with near misses.
K=$T/clean
mkdir -p "$K/a b/c" "$K/sub"
{ noise 100000; printf '%s' "${M1%?}"; noise 10; printf '%s' "${M1/rest/rust}"; } >"$K/a b/c/f"
{ noise 50; printf '%s' "${M2%??}"; noise 50; } | base64 -w 76 >"$K/wrapped"
: >"$K/x-${M1%?}"
ln -s "/nowhere/${M1:1}" "$K/l"
ln -s "$(hexof "${M1%?}")" "$K/l2"
setfattr -n user.v -v "${M1%?}" "$K/sub"
setfattr -n user.b -v "$(hexof "$M1" | cut -c3-)" "$K/sub"
mkfifo "$K/fifo"
# In a child with a time limit: a scanner that opened the FIFO would hang.
out=$(timeout 30 bash -c '. "$1"; scan_markers "$2" "$3" "$4"' _ \
	"$(dirname "$0")/scan_markers.sh" "$K" "$M1" "$M2" 2>&1)
rc=$?
lm_check "clean tree: status" 0 "$rc"
lm_check "clean tree: output" "" "$out"

# Usage errors.
scan_markers "$T/no-such-dir" "$M1" >/dev/null 2>&1
lm_check "missing directory: status" 2 "$?"
scan_markers "$K" short >/dev/null 2>&1
lm_check "marker under 8 bytes: status" 2 "$?"
scan_markers "$K" >/dev/null 2>&1
lm_check "no marker: status" 2 "$?"

# Speed.
MB=${LM_SCAN_BIG_MB:-150}
B=$T/bigtree
mkdir -p "$B"
for i in $(seq 1 15); do noise $((MB * 1024 * 1024 / 15)) >"$B/f$i"; done
start=${EPOCHREALTIME/./}
scan_markers "$B" "$M1" "$M2" >"$T/out" 2>&1
rc=$?
usecs=$((${EPOCHREALTIME/./} - start))
secs=$((usecs / 1000000)).$(printf '%06d' $((usecs % 1000000)) | cut -c1-2)
lm_check "$MB MB of random data: status" 0 "$rc"
printf '%s' "$M1" >>"$B/f15"
scan_markers "$B" "$M1" "$M2" >"$T/out" 2>&1
lm_check "$MB MB with a marker at the end: status" 1 "$?"
lm_log "clean scan of $MB MB: ${secs} s"
[ "$usecs" -lt 60000000 ] || lm_fail "scanning $MB MB took $secs s (limit 60)"

lm_finish
