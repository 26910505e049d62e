#!/bin/bash
# fsx: random file operations on laminafs, each compared with the same
# operation on a reference file on the host (tests/helpers/lm_fsx.c: pwrite,
# pread, truncate up and down, O_APPEND writes, shared mmap writes + msync,
# mmap reads, fsync, fallocate, punch hole, close and reopen).
#   - LM_FSX_SEEDS (default 4 seeds) x LM_FSX_OPS (default 25,000)
#     operations, each seed on its own new file in the mount: every return
#     value, every byte read and the size after every operation match the
#     reference
#   - one run on a file that starts in the lower layer (sparse, in a lower
#     subdirectory): the first open for writing copies it up whole, and the
#     run then matches a reference made as a copy of it
#   - the daemon is alive after each run
#   - after unmounting: the lower layer is untouched; on a plain upper, the
#     upper's files equal the references byte for byte; after a remount the
#     merged files still read the same as the references
#
# Environment (so the same test runs on other mount kinds):
#   LM_FSX_MOUNT_OPTS  extra laminafs -o options appended to the plain
#                      lower/upper mount, e.g. "writeback=1" or the options
#                      of an encrypted upper.  When set, the upper's files
#                      are not compared with the references directly (they
#                      need not be plain copies), only through a remount.
#   LM_FSX_VAULT=1     the upper is a vault (encrypted): a tenant is made
#                      in a store under the test directory with $LAMINA
#                      and its options are added to LM_FSX_MOUNT_OPTS
#   LM_FSX_ARGS        extra lm_fsx arguments, e.g. "-M" (no mmap) or "-l 64k"
#   LM_FSX_SEEDS       seeds of the new-file runs (default "1 2 3 4")
#   LM_FSX_OPS         operations per seed (default 25000)
#   LM_FSX             the lm_fsx binary (CTest sets it)
# A failing run prints its seed and a replay command line.
. "$(dirname "$0")/lib.sh"

[ -n "${LM_FSX:-}" ] && [ -x "$LM_FSX" ] || lm_die "LM_FSX is not set to the lm_fsx binary"
SEEDS=${LM_FSX_SEEDS:-1 2 3 4}
OPS=${LM_FSX_OPS:-25000}
EXTRA=${LM_FSX_MOUNT_OPTS:-}
if [ "${LM_FSX_VAULT:-0}" = 1 ]; then
	[ -n "${LAMINA:-}" ] && [ -x "$LAMINA" ] || lm_die "LAMINA is not set to the lamina binary"
	head -c 32 /dev/urandom >"$T/key" && chmod 600 "$T/key"
	"$LAMINA" --store "$T/store" tenant create fsx --key-file "$T/key" >/dev/null ||
		lm_die "tenant create failed"
	EXTRA="tenant=fsx,store=$T/store,keyfile=$T/key${EXTRA:+,$EXTRA}"
fi
read -r -a ARGS <<<"${LM_FSX_ARGS:-}"
COPYUP_SEED=5
COPYUP_OPS=10000

L=$T/l1 U=$T/upper W=$T/work M=$T/mnt R=$T/ref
mkdir -p "$L/sub" "$U" "$W" "$R"
# The copy-up file: 180 KiB with a hole from 64 KiB to 150 KiB.
"$PY" - "$L/sub/lower.bin" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, os.urandom(64 << 10), 0)
os.pwrite(fd, os.urandom(30 << 10), 150 << 10)
os.close(fd)
EOF
cp --sparse=always "$L/sub/lower.bin" "$R/lower.bin"
LOWER_SUM=$(lm_tree_sum "$L")
OPTS="lowerdir=$L,upperdir=$U,workdir=$W${EXTRA:+,$EXTRA}"
lm_log "mount options: $OPTS"
lm_mount "$M" "$OPTS" || lm_die "mount failed"

# fsx_run LABEL SEED NOPS TESTFILE REFFILE
fsx_run() {
	local label=$1 seed=$2 nops=$3 log=$T/fsx.$1.log rc
	lm_t 150 "$LM_FSX" -s "$seed" -n "$nops" ${ARGS[@]+"${ARGS[@]}"} "$4" "$5" >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		tail -n 1 "$log" | sed "s/^/[$LM_NAME] /"
	else
		lm_fail "$label: lm_fsx exited with $rc:"
		cut -c1-240 "$log" | head -n 80
	fi
	lm_alive "$M" "after the $label run"
}

START=$SECONDS
total=0
for s in $SEEDS; do
	fsx_run "seed-$s" "$s" "$OPS" "$M/fsx.$s" "$R/fsx.$s"
	total=$((total + OPS))
done
fsx_run copy-up "$COPYUP_SEED" "$COPYUP_OPS" "$M/sub/lower.bin" "$R/lower.bin"
total=$((total + COPYUP_OPS))
lm_log "$total operations in $((SECONDS - START)) s"
lm_umount "$M"

lm_check "lower layer unchanged" "$LOWER_SUM" "$(lm_tree_sum "$L")"
NAMES="sub/lower.bin"
for s in $SEEDS; do NAMES="$NAMES fsx.$s"; done
if [ -z "$EXTRA" ]; then
	for n in $NAMES; do
		cmp "$U/$n" "$R/${n#sub/}" || lm_fail "upper $n differs from the reference"
	done
fi
lm_mount "$M" "$OPTS" || lm_die "remount failed"
for n in $NAMES; do
	cmp "$M/$n" "$R/${n#sub/}" || lm_fail "after a remount, $n differs from the reference"
done
lm_umount "$M"

lm_finish
