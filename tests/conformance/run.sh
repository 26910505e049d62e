#!/usr/bin/env bash
# Conformance comparison: laminafs vs fuse-overlayfs (and optionally the
# kernel overlayfs) under the public pjdfstest (POSIX) and
# unionmount-testsuite (overlay semantics) suites.
#
# Acceptance criterion: every case that passes on fuse-overlayfs must also
# pass on laminafs.  The script mounts each peer on identical, fresh
# lower/upper/work directories, runs the suites on each peer, and prints
# per-peer totals plus the list of cases that pass on fuse-overlayfs but
# fail on laminafs ("regressions").
#
# The suites are NOT vendored; see tests/conformance/README.md.
#
# Environment:
#   PJDFSTEST_DIR   directory holding the built `pjdfstest` binary and tests/
#   UNIONMOUNT_DIR  checkout of unionmount-testsuite (contains ./run)
#   LAMINAFS        laminafs binary (default: <repo>/build/driver/laminafs)
#   FUSE_OVERLAYFS  fuse-overlayfs binary (default: from PATH)
#   PEERS           peers to run (default "fuse-overlayfs laminafs";
#                   add "kernel" for the in-kernel overlayfs as a reference,
#                   "laminafs-vault" for laminafs with an encrypted upper,
#                   "laminafs-volume" for a bare encrypted volume, pjdfstest
#                   only)
#   CAND            the peer compared with fuse-overlayfs (default laminafs)
#   LAMINA          lamina CLI, for the vault peers' tenant
#                   (default: <repo>/build/tools/lamina)
#   PJD_TESTS       optional subset of pjdfstest, relative to tests/
#                   (e.g. "chmod rename/09.t"); default: all
#   UM_TESTS        optional subset of unionmount tests (e.g. "rename-file")
#   SUITES          "pjdfstest unionmount" (default: whichever are present)
#   WORK_ROOT       where scratch dirs are made (default /var/tmp)
#   RESULTS_DIR     where per-peer results/logs go (default: inside the
#                   scratch dir, which is kept only if KEEP_WORK=1)
#   PJD_TIMEOUT     seconds per pjdfstest file (default 900)
#   UM_TIMEOUT      seconds per unionmount test (default 600)
#   PARALLEL        1 = run peers concurrently for pjdfstest (default 1)
#   REPORT_ONLY     1 = only print the comparison for an earlier RESULTS_DIR
#
# Exit status: 0 no regressions, 1 regressions found, 77 skipped
# (suites/binaries/privileges missing), 2 usage/setup error.

set -u

SELF_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$SELF_DIR/../.." && pwd)

LAMINAFS=${LAMINAFS:-$REPO_ROOT/build/driver/laminafs}
LAMINA=${LAMINA:-$REPO_ROOT/build/tools/lamina}
CAND=${CAND:-laminafs}
FUSE_OVERLAYFS=${FUSE_OVERLAYFS:-$(command -v fuse-overlayfs 2>/dev/null || true)}
PJDFSTEST_DIR=${PJDFSTEST_DIR:-}
UNIONMOUNT_DIR=${UNIONMOUNT_DIR:-}
PEERS=${PEERS:-"fuse-overlayfs laminafs"}
WORK_ROOT=${WORK_ROOT:-/var/tmp}
PJD_TIMEOUT=${PJD_TIMEOUT:-900}
UM_TIMEOUT=${UM_TIMEOUT:-600}
PARALLEL=${PARALLEL:-1}
KEEP_WORK=${KEEP_WORK:-0}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

log() {
	echo "[conformance] $*" >&2
}

# ---------------------------------------------------------------- preflight
preflight() {
[ "$(id -u)" = 0 ] || skip "must run as root (pjdfstest switches uids; mounts need privileges)"

have_pjd=0
have_um=0
if [ -n "$PJDFSTEST_DIR" ] && [ -x "$PJDFSTEST_DIR/pjdfstest" ] && [ -r "$PJDFSTEST_DIR/tests/misc.sh" ]; then
	PJDFSTEST_DIR=$(cd "$PJDFSTEST_DIR" && pwd)
	have_pjd=1
fi
if [ -n "$UNIONMOUNT_DIR" ] && [ -x "$UNIONMOUNT_DIR/run" ] && [ -d "$UNIONMOUNT_DIR/tests" ]; then
	UNIONMOUNT_DIR=$(cd "$UNIONMOUNT_DIR" && pwd)
	have_um=1
fi
if [ -z "${SUITES:-}" ]; then
	SUITES=""
	[ $have_pjd = 1 ] && SUITES="$SUITES pjdfstest"
	[ $have_um = 1 ] && SUITES="$SUITES unionmount"
fi
for s in $SUITES; do
	case "$s" in
	pjdfstest) [ $have_pjd = 1 ] || skip "pjdfstest requested but PJDFSTEST_DIR ('$PJDFSTEST_DIR') has no built pjdfstest + tests/misc.sh" ;;
	unionmount) [ $have_um = 1 ] || skip "unionmount requested but UNIONMOUNT_DIR ('$UNIONMOUNT_DIR') has no ./run + tests/" ;;
	*) echo "unknown suite '$s'" >&2; exit 2 ;;
	esac
done
if [ -z "${SUITES// /}" ]; then
	skip "conformance suites not present: set PJDFSTEST_DIR (built pjdfstest) and/or UNIONMOUNT_DIR (unionmount-testsuite checkout); see tests/conformance/README.md"
fi

for p in $PEERS; do
	case "$p" in
	laminafs) [ -x "$LAMINAFS" ] || skip "laminafs binary not found at '$LAMINAFS' (build it or set LAMINAFS)" ;;
	laminafs-vault|laminafs-volume)
		[ -x "$LAMINAFS" ] && [ -x "$LAMINA" ] || skip "laminafs or lamina not found (build them or set LAMINAFS, LAMINA)" ;;
	fuse-overlayfs) [ -n "$FUSE_OVERLAYFS" ] && [ -x "$FUSE_OVERLAYFS" ] || skip "fuse-overlayfs not installed (apt-get install fuse-overlayfs) or set FUSE_OVERLAYFS" ;;
	kernel) grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || skip "kernel overlayfs not available" ;;
	*) echo "unknown peer '$p'" >&2; exit 2 ;;
	esac
done
[ -c /dev/fuse ] || skip "/dev/fuse is missing"
command -v fusermount3 >/dev/null || skip "fusermount3 missing (apt-get install fuse3)"
if [ $have_pjd = 1 ]; then
	command -v prove >/dev/null || skip "prove missing (perl)"
	command -v openssl >/dev/null || skip "openssl missing (pjdfstest's namegen needs it)"
fi
if echo "$SUITES" | grep -qw unionmount; then
	command -v unshare >/dev/null || skip "unshare missing (util-linux)"
	command -v python3 >/dev/null || skip "python3 missing"
fi
}

if [ "${REPORT_ONLY:-0}" = 1 ]; then
	[ -n "${RESULTS_DIR:-}" ] && [ -d "$RESULTS_DIR" ] || { echo "REPORT_ONLY needs RESULTS_DIR" >&2; exit 2; }
	SUITES=${SUITES:-$(ls "$RESULTS_DIR" | sed -n 's/^\(pjdfstest\|unionmount\)\.[^.]*$/\1/p' | sort -u | tr '\n' ' ')}
else
	preflight
fi

if [ "${REPORT_ONLY:-0}" = 1 ]; then
	WORK=$(mktemp -d "$WORK_ROOT/lamina-conformance.XXXXXX") || exit 2
else
	WORK=$(mktemp -d "$WORK_ROOT/lamina-conformance.XXXXXX") || { echo "mktemp failed" >&2; exit 2; }
	RESULTS_DIR=${RESULTS_DIR:-$WORK/results}
	mkdir -p "$RESULTS_DIR"
fi

# ------------------------------------------------------------ mount tracking
MOUNTS_FILE="$WORK/.mounts"
: > "$MOUNTS_FILE"
CREATED_DIRS=""
BG_PIDS=""

unmount_one() {
	local mnt=$1
	grep -q " $mnt " /proc/mounts || return 0
	case "$(awk -v m="$mnt" '$2 == m { print $3 }' /proc/mounts | tail -1)" in
	fuse*) fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null ;;
	*) umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null ;;
	esac
	# give a FUSE daemon a moment to exit
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		grep -q " $mnt " /proc/mounts || break
		sleep 0.2
	done
	grep -q " $mnt " /proc/mounts && umount -l "$mnt" 2>/dev/null
	return 0
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in $BG_PIDS; do
		kill "$pid" 2>/dev/null
	done
	if [ -f "$MOUNTS_FILE" ]; then
		tac "$MOUNTS_FILE" | while read -r m; do
			[ -n "$m" ] && unmount_one "$m"
		done
		# catch anything left under our scratch dir
		awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
			unmount_one "$m"
		done
	fi
	for d in $CREATED_DIRS; do
		rmdir "$d" 2>/dev/null
	done
	if [ "$KEEP_WORK" = 1 ]; then
		log "scratch kept in $WORK"
	else
		case "$RESULTS_DIR" in
		"$WORK"/*) ;;
		*) rm -rf "$WORK" 2>/dev/null ;;
		esac
		case "$RESULTS_DIR" in
		"$WORK"/*) find "$WORK" -mindepth 1 -maxdepth 1 ! -name results -exec rm -rf {} + 2>/dev/null
			log "results kept in $RESULTS_DIR" ;;
		esac
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The vault peers' tenant: a store and a key file under $WORK, made once.
vault_opts() {
	if [ ! -f "$WORK/tenant/key" ]; then
		mkdir -p "$WORK/tenant"
		head -c 32 /dev/urandom > "$WORK/tenant/key"
		chmod 600 "$WORK/tenant/key"
		"$LAMINA" --store "$WORK/tenant/store" tenant create conf \
			--key-file "$WORK/tenant/key" >/dev/null || return 1
	fi
	echo "tenant=conf,store=$WORK/tenant/store,keyfile=$WORK/tenant/key"
}

# mount_peer PEER BASE: BASE has lower/ upper/ work/ mnt/
mount_peer() {
	local peer=$1 base=$2
	local opts="lowerdir=$base/lower,upperdir=$base/upper,workdir=$base/work"
	echo "$base/mnt" >> "$MOUNTS_FILE"
	case "$peer" in
	fuse-overlayfs) "$FUSE_OVERLAYFS" -o "$opts" "$base/mnt" ;;
	laminafs) "$LAMINAFS" -o "$opts" "$base/mnt" ;;
	laminafs-vault) "$LAMINAFS" -o "$opts,$(vault_opts)" "$base/mnt" ;;
	laminafs-volume) "$LAMINAFS" -o "upperdir=$base/upper,$(vault_opts)" "$base/mnt" ;;
	kernel) mount -t overlay overlay -o "$opts" "$base/mnt" ;;
	esac || return 1
	for _ in $(seq 50); do
		grep -q " $base/mnt " /proc/mounts && return 0
		sleep 0.1
	done
	return 1
}

fresh_layers() {
	local base=$1
	rm -rf "$base"
	mkdir -p "$base/lower/seed/subdir" "$base/upper" "$base/work" "$base/mnt"
	# a little lower-layer content so the union is not empty
	echo lower > "$base/lower/seed/file"
	echo lower > "$base/lower/seed/subdir/file"
	ln -s file "$base/lower/seed/link"
	chmod 755 "$base/lower" "$base/upper" "$base/mnt"
}

# ------------------------------------------------------------------- pjdfstest
pjd_list_tests() {
	local t
	if [ -n "${PJD_TESTS:-}" ]; then
		for t in $PJD_TESTS; do
			if [ -d "$PJDFSTEST_DIR/tests/$t" ]; then
				find "$PJDFSTEST_DIR/tests/$t" -name '*.t'
			else
				echo "$PJDFSTEST_DIR/tests/$t"
			fi
		done | sort
	else
		find "$PJDFSTEST_DIR/tests" -name '*.t' | sort
	fi
}

# Parse `prove -v` output of one file into "<case> <status>" lines.
# status: pass | fail | skip (SKIP directive) | todo (TODO directive, not ok)
pjd_parse() {
	local rel=$1 log=$2 rc=$3
	awk -v rel="$rel" -v rc="$rc" '
		/^1\.\.[0-9]+/ { split($0, a, /\.\.|[ \t#]/); plan = a[2] + 0; have_plan = 1; next }
		/^(not )?ok [0-9]+/ {
			notok = ($1 == "not")
			n = notok ? $3 : $2
			st = notok ? "fail" : "pass"
			if ($0 ~ /# *[Ss][Kk][Ii][Pp]/) st = "skip"
			else if ($0 ~ /# *TODO/) st = notok ? "todo" : "pass"
			res[n + 0] = st
			if (n + 0 > max) max = n + 0
			next
		}
		END {
			if (!have_plan) { print "pjdfstest/" rel "#plan fail"; exit }
			for (i = 1; i <= plan; i++) {
				s = (i in res) ? res[i] : "fail"
				print "pjdfstest/" rel "#" i " " s
			}
			if (max > plan) print "pjdfstest/" rel "#plan fail"
			if (rc == 124) print "pjdfstest/" rel "#timeout fail"
		}' "$log"
}

run_pjd_peer() {
	local peer=$1
	local base="$WORK/pjd-$peer"
	local out="$RESULTS_DIR/pjdfstest.$peer"
	local logdir="$RESULTS_DIR/pjdfstest.$peer.logs"
	mkdir -p "$logdir"
	: > "$out"
	fresh_layers "$base"
	if ! mount_peer "$peer" "$base"; then
		log "pjdfstest/$peer: mount failed"
		pjd_list_tests | while read -r f; do
			echo "pjdfstest/${f#$PJDFSTEST_DIR/tests/}#mount fail"
		done >> "$out"
		return
	fi
	mkdir -p "$base/mnt/pjd"
	local f rel lg rc
	pjd_list_tests | while read -r f; do
		rel=${f#$PJDFSTEST_DIR/tests/}
		lg="$logdir/$(echo "$rel" | tr / _).log"
		(cd "$base/mnt/pjd" && timeout -k 10 "$PJD_TIMEOUT" prove -v "$f") > "$lg" 2>&1 < /dev/null
		rc=$?
		pjd_parse "$rel" "$lg" "$rc" >> "$out"
		# If the file system died (crash/hang), remount fresh so later
		# files still get a fair run; the breakage shows up as failures.
		if ! timeout 10 stat "$base/mnt/pjd" >/dev/null 2>&1; then
			log "pjdfstest/$peer: mount unusable after $rel; remounting"
			echo "pjdfstest/$rel#mount-died fail" >> "$out"
			unmount_one "$base/mnt"
			fresh_layers "$base"
			mount_peer "$peer" "$base" && mkdir -p "$base/mnt/pjd"
		fi
	done
	unmount_one "$base/mnt"
	log "pjdfstest/$peer: done"
}

# ------------------------------------------------------------ unionmount-suite
um_list_tests() {
	if [ -n "${UM_TESTS:-}" ]; then
		echo "$UM_TESTS" | tr ' ' '\n' | grep -v '^$'
		return
	fi
	# The default list of ./run (with --xdev: rename-exdev instead of the
	# directory-rename tests, as fuse-overlayfs's own CI runs it).
	python3 - "$UNIONMOUNT_DIR/run" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
m = re.search(r'^tests = \[(.*?)\]', src, re.S | re.M)
names = re.findall(r'"([^"]+)"', m.group(1)) if m else []
if re.search(r'"rename-exdev"', src):
    names.append("rename-exdev")
for n in names:
    print(n)
EOF
}

run_um_peer() {
	local peer=$1
	local out="$RESULTS_DIR/unionmount.$peer"
	local logdir="$RESULTS_DIR/unionmount.$peer.logs"
	mkdir -p "$logdir" "$WORK/bin"
	: > "$out"
	: > "$out.why"
	local fuseopt=""
	case "$peer" in
	laminafs) ln -sf "$LAMINAFS" "$WORK/bin/laminafs"; fuseopt="--fuse=laminafs" ;;
	laminafs-vault)
		# The suite mounts with its own options: a wrapper adds the
		# tenant's. The suite also writes a "pure upper" file into the
		# upper directory before it mounts; an encrypted upper starts
		# empty, so the wrapper moves such files aside and writes them
		# in through the new mount.
		{
			echo '#!/bin/bash'
			echo "real=$LAMINAFS vopts=$(vault_opts)"
			cat "$SELF_DIR/vault_wrapper.sh"
		} > "$WORK/bin/laminafs"
		chmod 755 "$WORK/bin/laminafs"
		fuseopt="--fuse=laminafs" ;;
	laminafs-volume) echo "unionmount: laminafs-volume has no lower layers: not run" >&2; return ;;
	fuse-overlayfs) ln -sf "$FUSE_OVERLAYFS" "$WORK/bin/fuse-overlayfs"; fuseopt="--fuse=fuse-overlayfs" ;;
	kernel) fuseopt="" ;;
	esac
	local t rc lg
	for t in $(um_list_tests); do
		lg="$logdir/$t.log"
		# Each test runs in its own private mount namespace AND pid
		# namespace.  The suite mounts tmpfs on /lower and /upper and the
		# union on /mnt; none of it is visible outside.  ./run leaves the
		# union mounted when it ends, and a FUSE daemon started inside the
		# namespace would keep that namespace (and itself) alive forever;
		# the pid namespace makes the kernel kill every process of it
		# (the peer daemon included) when the wrapper shell exits, even
		# after a timeout, so nothing outlives the test.
		# mount(8) runs the FUSE helper with a sanitised PATH, so (inside
		# the namespace only) a directory holding the peer binary is
		# bind-mounted onto /usr/local/sbin, which is on that PATH; then
		# `mount -t fuse.<peer> <peer> /mnt -o lowerdir=...` finds it.
		PATH="$WORK/bin:$PATH" timeout -k 10 "$UM_TIMEOUT" \
			unshare --mount --propagation private --pid --fork --mount-proc \
			sh -c 'bin=$1; dir=$2; shift 2
				[ -d /usr/local/sbin ] && mount --bind "$bin" /usr/local/sbin
				cd "$dir" || exit 2
				python3 ./run "$@"
				rc=$?
				echo "[conformance] union at exit: $(grep " /mnt " /proc/mounts)"
				umount -l /mnt /upper /lower 2>/dev/null
				exit $rc' sh "$WORK/bin" "$UNIONMOUNT_DIR" \
			--ov $fuseopt --xdev "$t" > "$lg" 2>&1 < /dev/null
		rc=$?
		if [ $rc = 0 ]; then
			echo "unionmount/$t pass" >> "$out"
		else
			echo "unionmount/$t fail" >> "$out"
			# why: the suite prints the failing check last (on stderr)
			printf 'unionmount/%s %s\n' "$t" \
				"$(grep -v '^\[conformance\]' "$lg" | grep -v '^ *$' | tail -n 1)" >> "$out.why"
		fi
	done
	log "unionmount/$peer: done"
}

um_prepare_dirs() {
	# ./run hard-codes /lower and /upper (and /mnt) as mount points; they
	# are only mounted on inside private namespaces.
	local d
	for d in /lower /upper /mnt; do
		if [ ! -d "$d" ]; then
			mkdir "$d" && CREATED_DIRS="$CREATED_DIRS $d"
		fi
	done
}

# ----------------------------------------------------------------- reporting
report() {
	local suite peer f
	echo
	echo "================ conformance results ================"
	for suite in $SUITES; do
		for peer in $PEERS; do
			f="$RESULTS_DIR/$suite.$peer"
			[ -f "$f" ] || continue
			awk -v s="$suite" -v p="$peer" '
				{ c[$2]++; n++ }
				END { printf "%-10s %-15s cases=%d pass=%d fail=%d skip=%d todo=%d\n",
					s, p, n, c["pass"], c["fail"], c["skip"], c["todo"] }' "$f"
		done
	done
	echo
	local ref="fuse-overlayfs" cand="$CAND"
	if echo " $PEERS " | grep -q " $ref " && echo " $PEERS " | grep -q " $cand "; then
		local regs="$RESULTS_DIR/regressions.txt" gains="$RESULTS_DIR/laminafs-only-passes.txt"
		: > "$regs"; : > "$gains"
		for suite in $SUITES; do
			[ -f "$RESULTS_DIR/$suite.$ref" ] && [ -f "$RESULTS_DIR/$suite.$cand" ] || continue
			# pass on reference, anything else (or absent) on candidate
			awk 'NR == FNR { r[$1] = $2; next } { c[$1] = $2 }
			     END { for (k in r) if (r[k] == "pass" && c[k] != "pass" && c[k] != "skip") print k, "(laminafs: " ((k in c) ? c[k] : "missing") ")" }' \
				"$RESULTS_DIR/$suite.$ref" "$RESULTS_DIR/$suite.$cand" | sort -V >> "$regs"
			awk 'NR == FNR { r[$1] = $2; next }
			     $2 == "pass" && r[$1] != "pass" { print $1, "(fuse-overlayfs: " (($1 in r) ? r[$1] : "missing") ")" }' \
				"$RESULTS_DIR/$suite.$ref" "$RESULTS_DIR/$suite.$cand" | sort -V >> "$gains"
		done
		local nreg nref_pass
		nreg=$(wc -l < "$regs")
		nref_pass=$(cat "$RESULTS_DIR"/*."$ref" 2>/dev/null | awk '$2 == "pass"' | wc -l)
		echo "Cases passing on fuse-overlayfs but failing on laminafs: $nreg"
		if [ "$nreg" -gt 0 ]; then
			sed 's/^/  REGRESSION /' "$regs" | head -n "${MAX_LIST:-200}"
			[ "$nreg" -gt "${MAX_LIST:-200}" ] && echo "  ... (full list: $regs)"
			# unionmount cases: show laminafs's failing check
			if [ -s "$RESULTS_DIR/unionmount.$cand.why" ] && grep -q '^unionmount/' "$regs"; then
				echo "  laminafs failure messages (unionmount):"
				grep '^unionmount/' "$regs" | while read -r k _; do
					grep -F "$k " "$RESULTS_DIR/unionmount.$cand.why" | head -n 1 | sed 's/^/    /'
				done
			fi
		fi
		local ngain
		ngain=$(wc -l < "$gains")
		echo "Cases passing on laminafs but not on fuse-overlayfs: $ngain"
		[ "$ngain" -gt 0 ] && sed 's/^/  extra /' "$gains" | head -n 50
		echo "Results and logs: $RESULTS_DIR"
		echo
		echo "criterion: $((nref_pass - nreg)) passed, $nreg failed"
		[ "$nreg" = 0 ]
		return
	fi
	echo "Results and logs: $RESULTS_DIR"
	return 0
}

# ---------------------------------------------------------------------- main
if [ "${REPORT_ONLY:-0}" = 1 ]; then
	report
	exit $?
fi
log "suites:$SUITES; peers: $PEERS; scratch: $WORK"
case " $PEERS " in
*" laminafs-v"*) vault_opts >/dev/null || { echo "cannot make the vault peers' tenant" >&2; exit 2; } ;;
esac
for suite in $SUITES; do
	case "$suite" in
	pjdfstest)
		if [ "$PARALLEL" = 1 ]; then
			BG_PIDS=""
			for peer in $PEERS; do
				run_pjd_peer "$peer" &
				BG_PIDS="$BG_PIDS $!"
			done
			wait
			BG_PIDS=""
		else
			for peer in $PEERS; do
				run_pjd_peer "$peer"
			done
		fi
		;;
	unionmount)
		um_prepare_dirs
		for peer in $PEERS; do
			run_um_peer "$peer"
		done
		;;
	esac
done
report
