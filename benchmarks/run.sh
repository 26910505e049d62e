#!/usr/bin/env bash
# benchmarks/run.sh - compare laminafs with native, kernel overlayfs and
# fuse-overlayfs on identical generated data.  See benchmarks/README.md.
#
# Runs as root.  Prints progress on stderr, the Markdown table of medians on
# stdout, and writes benchmarks/results/<timestamp>.{csv,md}.

set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
RESULTS_DIR="$SCRIPT_DIR/results"
BENCH_NAME=run.sh
# shellcheck source=benchmarks/lib.sh
source "$SCRIPT_DIR/lib.sh"

ALL_PEERS=(native overlay fuse-overlayfs laminafs)
declare -A PEER_TITLE=(
	[native]="native"
	[overlay]="kernel overlay"
	[fuse-overlayfs]="fuse-overlayfs"
	[laminafs]="laminafs"
)

usage() {
	cat <<'EOF'
Usage: sudo benchmarks/run.sh [--quick] [--only=PEER[,PEER...]] [--fresh-data] [--help]

Measures laminafs against the plain directory (native), kernel overlayfs and
fuse-overlayfs on the same generated data, prints a Markdown table of the
medians and writes benchmarks/results/<timestamp>.csv and .md.

Options:
  --quick          smaller data and shorter fio runs (a smoke run, ~2-3 min)
  --only=LIST      comma-separated peers to run, from:
                     native, overlay (alias: kernel), fuse-overlayfs (alias: fuse),
                     laminafs (alias: lamina)
                   default: all four
  --fresh-data     regenerate the test data even if a matching copy exists
  --no-uring       leave fuse.enable_uring as it is (by default the run sets
                   it to Y, so laminafs serves requests from per-CPU io_uring
                   queues, and restores it afterwards; fuse-overlayfs, on
                   libfuse 3.14, never asks for them)
  -h, --help       this text

Environment:
  LAMINAFS=PATH    the laminafs daemon (default: build/driver/laminafs in the
                   repo, else `laminafs` on PATH).  It is started exactly like
                   fuse-overlayfs: LAMINAFS -o lowerdir=L,upperdir=U,workdir=W MNT
  FUSE_OVERLAYFS=PATH  fuse-overlayfs binary (default: fuse-overlayfs on PATH)
  BENCH_DIR=DIR    scratch directory (default /var/tmp/lamina-bench)
  BENCH_FS=image|dir  image (default): BENCH_DIR is a dedicated ext4 file
                   system (default journal options) in BENCH_IMG, mounted for
                   the run, so every peer works on a fresh, ordinary ext4
                   whatever the host's root file system is and whatever it
                   went through (an ext4 without a journal, as a VM's root
                   often is, slows inode allocation after mass deletes, and
                   differently for each peer).  dir: use BENCH_DIR as it is.
  BENCH_IMG=FILE   the image (default /var/tmp/lamina-bench.img, 24 GiB sparse)
  RUNS=N           runs per measurement; the table shows medians (default 3)

Needs root, fio, fuse-overlayfs, fusermount3 and the kernel overlay module.
EOF
}

# ---------------------------------------------------------------- options --

bench_args "$@"
bench_runs 3
BENCH_DIR=${BENCH_DIR:-/var/tmp/lamina-bench}
BENCH_FS=${BENCH_FS:-image}
BENCH_IMG=${BENCH_IMG:-/var/tmp/lamina-bench.img}
BENCH_IMG_SIZE=24G

PEERS=()
if [[ -z $ONLY ]]; then
	PEERS=("${ALL_PEERS[@]}")
else
	declare -A want=()
	IFS=',' read -r -a req <<<"$ONLY"
	for p in "${req[@]}"; do
		case "$p" in
		native) want[native]=1 ;;
		overlay | kernel | kernel-overlay | overlayfs) want[overlay]=1 ;;
		fuse-overlayfs | fuse) want[fuse-overlayfs]=1 ;;
		laminafs | lamina) want[laminafs]=1 ;;
		"") ;;
		*) die "unknown peer '$p' in --only (use native, overlay, fuse-overlayfs, laminafs)" ;;
		esac
	done
	for p in "${ALL_PEERS[@]}"; do
		[[ -n ${want[$p]:-} ]] && PEERS+=("$p")
	done
	((${#PEERS[@]})) || die "--only selected no peer"
fi
has_peer() {
	local p
	for p in "${PEERS[@]}"; do [[ $p == "$1" ]] && return 0; done
	return 1
}

# ------------------------------------------------------------------ sizes --

if ((QUICK)); then
	MODE=quick
	BIG_MIB=256          # sequential / random read file
	FIO_RUNTIME=3        # seconds per fio job set
	TREE_L1=5 TREE_L2=5 TREE_L3=10 TREE_FILES=20   # 250 leaf dirs, 5,000 files
	UNTAR_DIRS=100 UNTAR_FILES=20                  # 2,000 files
	COPYUP_DIRS=4 COPYUP_FILES=50                  # 200 files
else
	MODE=full
	BIG_MIB=1024
	FIO_RUNTIME=10
	TREE_L1=10 TREE_L2=10 TREE_L3=25 TREE_FILES=20 # 2,500 leaf dirs, 50,000 files
	UNTAR_DIRS=500 UNTAR_FILES=20                  # 10,000 files
	COPYUP_DIRS=10 COPYUP_FILES=100                # 1,000 files
fi
TREE_DIRS=$((TREE_L1 * TREE_L2 * TREE_L3))
TREE_NFILES=$((TREE_DIRS * TREE_FILES))
UNTAR_NFILES=$((UNTAR_DIRS * UNTAR_FILES))
COPYUP_NFILES=$((COPYUP_DIRS * COPYUP_FILES))
COPYUP_SIZE=4096
BIG_BYTES=$((BIG_MIB * 1024 * 1024))
DATA_STAMP="lamina-bench-data v1 big=${BIG_MIB}M tree=${TREE_L1}x${TREE_L2}x${TREE_L3}x${TREE_FILES} untar=${UNTAR_DIRS}x${UNTAR_FILES} copyup=${COPYUP_DIRS}x${COPYUP_FILES}x${COPYUP_SIZE}"

if ((BIG_MIB % 1024 == 0)); then BIG_LABEL="$((BIG_MIB / 1024)) GiB"; else BIG_LABEL="${BIG_MIB} MiB"; fi

# Metric table: id, label, unit, which direction is better, printf format.
METRICS=(seq_cold seq_warm rand_j1 rand_j4 find_cold tarnull_cold tar_cold untar copyup)
declare -A M_LABEL=(
	[seq_cold]="Seq read ${BIG_LABEL}, cold"
	[seq_warm]="Seq read ${BIG_LABEL}, warm"
	[rand_j1]="Rand read 4 KiB, 1 job, warm"
	[rand_j4]="Rand read 4 KiB, 4 jobs, warm"
	[find_cold]="find, $(fmt_count $TREE_NFILES)-file tree, cold"
	[tarnull_cold]="tar cf /dev/null (stats only), $(fmt_count $TREE_NFILES)-file tree, cold"
	[tar_cold]="tar (reads data), $(fmt_count $TREE_NFILES)-file tree, cold"
	[untar]="untar $(fmt_count $UNTAR_NFILES) files + sync"
	[copyup]="copy-up $(fmt_count $COPYUP_NFILES) x 4 KiB + sync"
)
declare -A M_UNIT=(
	[seq_cold]="MB/s" [seq_warm]="MB/s" [rand_j1]="IOPS" [rand_j4]="IOPS"
	[find_cold]="s" [tarnull_cold]="s" [tar_cold]="s" [untar]="s" [copyup]="s"
)
declare -A M_BETTER=(
	[seq_cold]="higher" [seq_warm]="higher" [rand_j1]="higher" [rand_j4]="higher"
	[find_cold]="lower" [tarnull_cold]="lower" [tar_cold]="lower" [untar]="lower" [copyup]="lower"
)
declare -A M_FMT=(
	[seq_cold]="%.0f" [seq_warm]="%.0f" [rand_j1]="%.0f" [rand_j4]="%.0f"
	[find_cold]="%.3f" [tarnull_cold]="%.3f" [tar_cold]="%.3f" [untar]="%.3f" [copyup]="%.3f"
)
declare -A VALUES=() # "metric|peer" -> space-separated per-run values

# ----------------------------------------------------------- preflight ----

need_root "$@"
check_bench_dir

need fio fio
need fusermount3 fuse3
need mountpoint util-linux
need pgrep procps
need tar tar
need find findutils
need awk gawk
need dd coreutils
FUSE_OVERLAYFS=${FUSE_OVERLAYFS:-$(command -v fuse-overlayfs || true)}
if has_peer fuse-overlayfs && [[ -z $FUSE_OVERLAYFS || ! -x $FUSE_OVERLAYFS ]]; then
	MISSING+=(fuse-overlayfs)
	MISSING_HINTS+=(fuse-overlayfs)
fi
need_report
if has_peer overlay && ! grep -qw overlay /proc/filesystems; then
	modprobe overlay 2>/dev/null || true
	grep -qw overlay /proc/filesystems || die "kernel overlayfs is not available (modprobe overlay failed); use --only to skip the 'overlay' peer"
fi

if has_peer laminafs; then
	find_laminafs "$REPO_ROOT" ",
  or leave it out with --only=native,overlay,fuse-overlayfs"
fi

# ------------------------------------------------------ mounts & cleanup --

PEERS_DIR="$BENCH_DIR/peers"
DATA_DIR="$BENCH_DIR/data-$MODE"
LOWER="$DATA_DIR/lower"
UNTAR_TARBALL="$DATA_DIR/untar.tar"

install_cleanup "$PEERS_DIR"

# ------------------------------------------------------------- helpers ----

generate_data() {
	data_is_current && return
	mkdir -p "$LOWER"
	local t0 a b c d
	t0=$(now)

	log "  ${BIG_LABEL} random file lower/big.bin"
	dd if=/dev/urandom of="$LOWER/big.bin" bs=1M count="$BIG_MIB" status=none

	make_filler
	RANDOM=1
	log "  tree: $(fmt_count $TREE_NFILES) files (0-8 KiB) in $(fmt_count $TREE_DIRS) leaf dirs, 3 levels"
	for ((a = 0; a < TREE_L1; a++)); do
		for ((b = 0; b < TREE_L2; b++)); do
			for ((c = 0; c < TREE_L3; c++)); do
				gen_files "$LOWER/tree/a$a/b$b/c$c" "$TREE_FILES"
			done
		done
	done

	log "  copy-up set: $(fmt_count $COPYUP_NFILES) files of $COPYUP_SIZE bytes"
	for ((d = 0; d < COPYUP_DIRS; d++)); do
		mkdir -p "$LOWER/copyup/d$d"
		for ((a = 0; a < COPYUP_FILES; a++)); do
			printf '%s' "${FILLER:0:COPYUP_SIZE}" >"$LOWER/copyup/d$d/f$a"
		done
	done

	log "  untar tarball: $(fmt_count $UNTAR_NFILES) files (0-8 KiB) in $(fmt_count $UNTAR_DIRS) dirs"
	make_untar_tarball "$UNTAR_TARBALL" "$UNTAR_DIRS" "$UNTAR_FILES"

	sync
	printf '%s\n' "$DATA_STAMP" >"$DATA_DIR/stamp"
	log "  data ready in $(elapsed "$t0" "$(now)") s"
}

# Sets MNT (where the peer's view of the lower is) and, for the write tests,
# WDIR (where new files go).  Overlay peers: MNT == WDIR == the mount.  The
# native peer reads the lower directly and writes into its own scratch dir.
peer_dir() { printf '%s' "$PEERS_DIR/$1"; }

mount_peer() {
	local peer=$1 pd bin
	pd=$(peer_dir "$peer")
	if [[ $peer == native ]]; then
		MNT=$LOWER
		WDIR=$pd/scratch
		return
	fi
	MNT=$pd/mnt
	WDIR=$MNT
	mkdir -p "$MNT" "$pd/upper" "$pd/work"
	mountpoint -q "$MNT" && die "$MNT is already mounted"
	local opts="lowerdir=$LOWER,upperdir=$pd/upper,workdir=$pd/work"
	case "$peer" in
	overlay)
		mount -t overlay overlay -o "$opts" "$MNT" || die "mount -t overlay failed"
		;;
	fuse-overlayfs | laminafs)
		if [[ $peer == laminafs ]]; then bin=$LAMINAFS; else bin=$FUSE_OVERLAYFS; fi
		"$bin" -o "$opts" "$MNT" >>"$pd/daemon.log" 2>&1 ||
			die "$peer: '$bin -o $opts $MNT' failed (see $pd/daemon.log)"
		wait_fuse_mount "$peer" "$MNT" "$pd/daemon.log"
		;;
	esac
}

umount_peer() {
	[[ $1 == native ]] && return 0
	unmount_one "$(peer_dir "$1")/mnt"
}

# Cold state: unmount (so a FUSE daemon and its caches go away), drop the
# kernel's page, dentry and inode caches, mount again on the same upper.
cold_remount() {
	umount_peer "$1"
	drop_caches
	mount_peer "$1"
}

fresh_peer_dirs() {
	local pd
	pd=$(peer_dir "$1")
	umount_peer "$1"
	mountpoint -q "$pd/mnt" 2>/dev/null && die "$pd/mnt still mounted"
	rm -rf --one-file-system "$pd"
	mkdir -p "$pd"
	if [[ $1 == native ]]; then mkdir -p "$pd/scratch"; else mkdir -p "$pd/upper" "$pd/work" "$pd/mnt"; fi
}

# Sequential read with dd; sets RES to MB/s (10^6 bytes per second).
seq_read() {
	local f=$1 t0 t1 out bytes
	t0=$(now)
	out=$(dd if="$f" of=/dev/null bs=1M 2>&1) || true
	t1=$(now)
	bytes=$(printf '%s\n' "$out" | awk '/bytes/ { b = $1 } END { print b + 0 }')
	if [[ $bytes -ne $BIG_BYTES ]]; then
		check_fail "$CUR_PEER: dd read $bytes bytes of $f, expected $BIG_BYTES"
	fi
	RES=$(mb_per_s "$bytes" "$t0" "$t1")
}

# fio random 4 KiB reads; sets RES to the IOPS (0 on failure).
fio_randread() {
	local f=$1 jobs=$2
	if ! fio_terse --name=randread --filename="${f//:/\\:}" --readonly --rw=randread \
		--bs=4k --size="${BIG_MIB}m" --ioengine=psync --numjobs="$jobs" \
		--group_reporting --time_based --runtime="$FIO_RUNTIME" --invalidate=0 \
		--randrepeat=1; then
		check_fail "$CUR_PEER: fio numjobs=$jobs failed: $FIO_ERR"
		RES=0
		return 0
	fi
	RES=$(fio_field 8)
}

TAR_BYTES_REF=""

bench_peer_run() {
	local peer=$1 run=$2 t0 t1 n st rel
	CUR_PEER=$peer
	log "run $run/$RUNS: ${PEER_TITLE[$peer]}"
	fresh_peer_dirs "$peer"

	# 1. sequential read, cold then warm.
	#    The cold read is the first read of the file through this mount; the
	#    warm one is the second.
	cold_remount "$peer"
	seq_read "$MNT/big.bin"
	record seq_cold "$peer" "$RES"
	seq_read "$MNT/big.bin"
	record seq_warm "$peer" "$RES"

	# 2. random 4 KiB reads, warm: the file was just read twice through this
	#    mount, and fio runs with invalidate=0 so nothing is dropped first.
	fio_randread "$MNT/big.bin" 1
	record rand_j1 "$peer" "$RES"
	fio_randread "$MNT/big.bin" 4
	record rand_j4 "$peer" "$RES"

	# 3. metadata walk, cold (fresh mount + drop_caches before each).
	cold_remount "$peer"
	t0=$(now)
	n=$(find "$MNT/tree" | wc -l)
	t1=$(now)
	record find_cold "$peer" "$(elapsed "$t0" "$t1")"
	# find lists the tree root and every directory and file.
	local expect=$((1 + TREE_L1 + TREE_L1 * TREE_L2 + TREE_DIRS + TREE_NFILES))
	[[ $n -eq $expect ]] || check_fail "$peer: find saw $n entries in tree, expected $expect"

	# GNU tar writing to /dev/null stats every entry but reads no data:
	# the metadata walk the issue names.
	cold_remount "$peer"
	t0=$(now)
	st=0
	tar cf /dev/null -C "$MNT" tree || st=$?
	t1=$(now)
	record tarnull_cold "$peer" "$(elapsed "$t0" "$t1")"
	((st <= 1)) || check_fail "$peer: tar cf /dev/null of the tree exited with status $st"

	cold_remount "$peer"
	t0=$(now)
	st=0
	n=$(tar cf - -C "$MNT" tree | wc -c) || st=$?
	t1=$(now)
	record tar_cold "$peer" "$(elapsed "$t0" "$t1")"
	((st <= 1)) || check_fail "$peer: tar of the tree exited with status $st"
	if [[ -z $TAR_BYTES_REF ]]; then
		TAR_BYTES_REF=$n
	elif [[ $n != "$TAR_BYTES_REF" ]]; then
		check_fail "$peer: tar of the tree produced $n bytes, other peers $TAR_BYTES_REF"
	fi

	# 4. untar into the upper (tarball pre-read so it comes from page cache).
	cat "$UNTAR_TARBALL" >/dev/null
	sync
	mkdir -p "$WDIR/untar"
	t0=$(now)
	tar xf "$UNTAR_TARBALL" -C "$WDIR/untar" || die "$peer: tar xf into $WDIR/untar failed"
	sync
	t1=$(now)
	record untar "$peer" "$(elapsed "$t0" "$t1")"
	n=$(find "$WDIR/untar" -type f | wc -l)
	[[ $n -eq $UNTAR_NFILES ]] || check_fail "$peer: untar left $n files, expected $UNTAR_NFILES"

	# 5. copy-up: append one byte to each lower file.  The lower files are
	#    pre-read (page cache warm) and everything synced before timing.
	local target=$MNT/copyup
	if [[ $peer == native ]]; then
		cp -a "$LOWER/copyup" "$WDIR/copyup"
		target=$WDIR/copyup
	fi
	find "$LOWER/copyup" -type f -exec cat {} + >/dev/null
	sync
	t0=$(now)
	for rel in "${COPYUP_LIST[@]}"; do
		printf 'x' >>"$target/$rel"
	done
	sync
	t1=$(now)
	record copyup "$peer" "$(elapsed "$t0" "$t1")"
	n=$(find "$target" -type f -size "$((COPYUP_SIZE + 1))c" | wc -l)
	[[ $n -eq $COPYUP_NFILES ]] || check_fail "$peer: $n of $COPYUP_NFILES copied-up files have the new size"
	n=$(find "$LOWER/copyup" -type f -size "${COPYUP_SIZE}c" | wc -l)
	[[ $n -eq $COPYUP_NFILES ]] || die "$peer modified the lower layer: only $n of $COPYUP_NFILES lower files still have $COPYUP_SIZE bytes (run with --fresh-data next time)"

	umount_peer "$peer"
	rm -rf --one-file-system "$(peer_dir "$peer")"
}

# --------------------------------------------------------------- main -----

START=$(now)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STAMP=$(date +%Y%m%d-%H%M%S)
log "lamina benchmark ($MODE): peers: ${PEERS[*]}; RUNS=$RUNS; BENCH_DIR=$BENCH_DIR"
has_peer laminafs && log "laminafs: $LAMINAFS"
has_peer fuse-overlayfs && log "fuse-overlayfs: $FUSE_OVERLAYFS"

lock_bench_dir
setup_bench_fs
setup_uring
unmount_leftovers
rm -rf --one-file-system "$PEERS_DIR"
mkdir -p "$PEERS_DIR"

generate_data

COPYUP_LIST=()
for ((d = 0; d < COPYUP_DIRS; d++)); do
	for ((a = 0; a < COPYUP_FILES; a++)); do COPYUP_LIST+=("d$d/f$a"); done
done

# Peers take turns; the order rotates each run so that no peer always comes
# right after the same neighbour (the host's caches and write-back vary).
NPEERS=${#PEERS[@]}
for ((run = 1; run <= RUNS; run++)); do
	for ((k = 0; k < NPEERS; k++)); do
		bench_peer_run "${PEERS[(k + run - 1) % NPEERS]}" "$run"
	done
done

# ------------------------------------------------------------- report -----

mkdir -p "$RESULTS_DIR"
CSV="$RESULTS_DIR/$STAMP.csv"
MD="$RESULTS_DIR/$STAMP.md"

RATIO_KOVL=0 RATIO_FUSE=0
has_peer laminafs && has_peer overlay && RATIO_KOVL=1
has_peer laminafs && has_peer fuse-overlayfs && RATIO_FUSE=1

values_csv >"$CSV"

TABLE=$(
	h="| Measurement |"
	s="|---|"
	for p in "${PEERS[@]}"; do h+=" ${PEER_TITLE[$p]} |"; s+="---:|"; done
	((RATIO_KOVL)) && { h+=" laminafs / kernel overlay |"; s+="---:|"; }
	((RATIO_FUSE)) && { h+=" laminafs / fuse-overlayfs |"; s+="---:|"; }
	echo "$h"
	echo "$s"
	for m in "${METRICS[@]}"; do
		declare -A med=()
		row="| ${M_LABEL[$m]} (${M_UNIT[$m]}, ${M_BETTER[$m]} is better) |"
		for p in "${PEERS[@]}"; do
			read -r -a vals <<<"${VALUES["$m|$p"]:-}"
			med[$p]=$(median "${vals[@]}")
			# shellcheck disable=SC2059
			row+=" $(printf "${M_FMT[$m]}" "${med[$p]}") |"
		done
		((RATIO_KOVL)) && row+=" $(ratio "${med[laminafs]}" "${med[overlay]}") |"
		((RATIO_FUSE)) && row+=" $(ratio "${med[laminafs]}" "${med[fuse-overlayfs]}") |"
		echo "$row"
		unset med
	done
)

TOTAL=$(elapsed "$START" "$(now)")
{
	echo "# lamina benchmark, $MODE run, $STAMP"
	echo
	echo "Medians of $RUNS runs. Generated by \`benchmarks/run.sh\` in $(printf '%.0f' "$TOTAL") s."
	echo
	echo "$TABLE"
	echo
	echo "Ratios are laminafs divided by the peer: above 1 is better for laminafs on"
	echo "MB/s and IOPS rows, below 1 is better on seconds rows."
	echo
	host_lines
	has_peer laminafs && echo "- laminafs: $LAMINAFS ($(bin_version "$LAMINAFS"))"
	has_peer fuse-overlayfs && echo "- fuse-overlayfs: $FUSE_OVERLAYFS ($(bin_version "$FUSE_OVERLAYFS"))"
	echo "- fio: $(fio --version)"
	echo "- data: $DATA_STAMP"
	echo "- fio: randread bs=4k psync, time_based ${FIO_RUNTIME} s, invalidate=0, run right after the warm sequential reads"
	check_failure_lines
} >"$MD"

echo "$TABLE"
log "done in $(printf '%.0f' "$TOTAL") s; results: $MD and $CSV"
if ((${#CHECK_FAILURES[@]})); then
	log "${#CHECK_FAILURES[@]} check(s) failed; see $MD"
	exit 1
fi
