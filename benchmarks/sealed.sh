#!/usr/bin/env bash
# benchmarks/sealed.sh - sealed layers (lamina layer import, mounted by
# laminafs) against their peers on one generated tree: the same tree as a
# dir layer in laminafs, fuse-overlayfs, squashfuse on an lz4 squashfs image,
# kernel overlayfs and the plain directory.  See benchmarks/README.md.
#
# Runs as root.  Prints progress on stderr, the Markdown table of medians on
# stdout, and writes benchmarks/results/sealed-<timestamp>.{csv,md}.

set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
RESULTS_DIR="$SCRIPT_DIR/results"
BENCH_NAME=sealed.sh
# shellcheck source=benchmarks/lib.sh
source "$SCRIPT_DIR/lib.sh"

ALL_PEERS=(sealed sealed-enc lamina-dir fuse-overlayfs squashfuse overlay native)
declare -A PEER_TITLE=(
	[sealed]="sealed, lz4 64 KiB"
	[sealed-enc]="sealed, encrypted"
	[lamina-dir]="laminafs, dir layer"
	[fuse-overlayfs]="fuse-overlayfs"
	[squashfuse]="squashfuse, lz4 image"
	[overlay]="kernel overlay"
	[native]="native (reference)"
)
declare -A PEER_SHORT=([sealed]="plain" [sealed-enc]="enc")
SEALED_PEERS=(sealed sealed-enc)
ALL_GROUPS=(seq rand walk import io mem open)
IO_BACKENDS=(uring shared pread)

usage() {
	cat <<'EOF'
Usage: sudo benchmarks/sealed.sh [--quick] [--only=LIST] [--fresh-data] [--no-uring] [--help]

Measures sealed layers against their peers on the same generated tree, in one
run, prints a Markdown table of the medians with each goal and whether it is
met, and writes benchmarks/results/sealed-<timestamp>.csv and .md.

Peers (all read-only views of the same tree):
  sealed          lamina layer import DIR (lz4, 64 KiB chunks), mounted with
                  laminafs -o lowerdir=sealed:DIGEST,store=S
  sealed-enc      the same, encrypted for a tenant (AES-256-GCM by default),
                  mounted with tenant=T,keyfile=K
  lamina-dir      laminafs -o lowerdir=DIR
  fuse-overlayfs  fuse-overlayfs -o lowerdir=DIR
  squashfuse      squashfuse on mksquashfs DIR IMG -comp lz4
  overlay         mount -t overlay -o lowerdir=DIR:EMPTY
  native          DIR itself (the reference)

Rows (groups for --only in brackets):
  [seq]    sequential read of a compressible file, cold and warm      MB/s
  [rand]   random 4 KiB reads, fio psync, 1 and 8 jobs, cold: 1/8 of
           the file's blocks in all, so nearly all miss every cache     IOPS
  [walk]   find MNT | wc -l and tar cf /dev/null -C MNT ., cold        s
  [import] lamina layer import (dir, encrypted dir, tar) and
           mksquashfs -comp lz4 (s); size of the layers and the image   MiB
  [io]     io=uring, io=shared, io=pread for the sealed layers, on the
           cold sequential read and cold random reads with 8 jobs
  [mem]    laminafs VmHWM and VmRSS with a 100k-entry layer mounted
           (cache_size=64M), after find and after reading every file,
           minus the cache size                                          MiB
  [open]   laminafs mount time of the 100k-entry layer and of a tiny
           one (start until the mount point is live, median of 5)      ms

Options:
  --quick          256 MiB files instead of 1 GiB, a 10,000-file tree instead
                   of 50,000, RUNS=1 (a smoke run of a few minutes; its
                   numbers mean little)
  --only=LIST      comma-separated peers and/or row groups from the lists
                   above (aliases: plain, enc, encrypted, dir, fuse, squash,
                   kernel); no peer named: every peer, no group named: every
                   group
  --fresh-data     regenerate the test data even if a matching copy exists
  --no-uring       leave fuse.enable_uring as it is (by default the run sets
                   it to Y, so laminafs serves requests from io_uring queues,
                   and restores it afterwards)
  -h, --help       this text

Environment:
  LAMINAFS=PATH    laminafs daemon (default: build/driver/laminafs in the
                   repo, else `laminafs` on PATH)
  LAMINA=PATH      lamina tool, makes the tenant and imports the layers
                   (default: tools/lamina next to the daemon's build
                   directory, else `lamina` on PATH)
  FUSE_OVERLAYFS=PATH, SQUASHFUSE=PATH, MKSQUASHFS=PATH  the peers' binaries
                   (default: on PATH)
  BENCH_DIR=DIR    scratch directory (default /var/tmp/lamina-sealed-bench)
  BENCH_FS=image|dir  image (default): BENCH_DIR is a dedicated ext4 file
                   system in BENCH_IMG, mounted for the run (see run.sh --help);
                   dir: use BENCH_DIR as it is (a disk file system, not tmpfs)
  BENCH_IMG=FILE   the image (default /var/tmp/lamina-sealed-bench.img, 24 GiB
                   sparse)
  RUNS=N           runs per measurement; the table shows medians (default 3,
                   1 with --quick)

Needs root, fio, fuse-overlayfs, squashfuse, squashfs-tools, fusermount3 and
the kernel overlay module.
Ctrl-C or kill -TERM unmounts everything and restores fuse.enable_uring.
EOF
}

# ---------------------------------------------------------------- options --

bench_args "$@"
bench_runs $((QUICK ? 1 : 3))
BENCH_DIR=${BENCH_DIR:-/var/tmp/lamina-sealed-bench}
BENCH_FS=${BENCH_FS:-image}
BENCH_IMG=${BENCH_IMG:-/var/tmp/lamina-sealed-bench.img}
BENCH_IMG_SIZE=24G
BENCH_LOOP_DIO=1 # cold random reads must reach the disk (see lib.sh)

declare -A want_peer=() want_group=()
if [[ -n $ONLY ]]; then
	IFS=',' read -r -a req <<<"$ONLY"
	for p in "${req[@]}"; do
		case "$p" in
		sealed | plain | sealed-plain) want_peer[sealed]=1 ;;
		sealed-enc | enc | encrypted | sealed-encrypted) want_peer[sealed-enc]=1 ;;
		lamina-dir | dir | laminafs | lamina) want_peer[lamina-dir]=1 ;;
		fuse-overlayfs | fuse) want_peer[fuse-overlayfs]=1 ;;
		squashfuse | squash | squashfs) want_peer[squashfuse]=1 ;;
		overlay | kernel | overlayfs) want_peer[overlay]=1 ;;
		native) want_peer[native]=1 ;;
		seq | rand | walk | import | io | mem | open) want_group[$p]=1 ;;
		"") ;;
		*) die "unknown peer or row group '$p' in --only (peers: ${ALL_PEERS[*]}; groups: ${ALL_GROUPS[*]})" ;;
		esac
	done
fi
PEERS=()
for p in "${ALL_PEERS[@]}"; do
	if ((${#want_peer[@]} == 0)) || [[ -n ${want_peer[$p]:-} ]]; then PEERS+=("$p"); fi
done
GROUPS_SEL=()
for g in "${ALL_GROUPS[@]}"; do
	if ((${#want_group[@]} == 0)) || [[ -n ${want_group[$g]:-} ]]; then GROUPS_SEL+=("$g"); fi
done
has_peer() {
	local p
	for p in "${PEERS[@]}"; do [[ $p == "$1" ]] && return 0; done
	return 1
}
has_group() {
	local g
	for g in "${GROUPS_SEL[@]}"; do [[ $g == "$1" ]] && return 0; done
	return 1
}
is_sealed() { [[ $1 == sealed || $1 == sealed-enc ]]; }
uses_laminafs() { is_sealed "$1" || [[ $1 == lamina-dir ]]; }

# ------------------------------------------------------------------ sizes --

if ((QUICK)); then
	MODE=quick
	BIG_MIB=256
	TREE_L1=5 TREE_L2=5 TREE_L3=20 TREE_FILES=20   # 500 leaf dirs, 10,000 files
else
	MODE=full
	BIG_MIB=1024
	TREE_L1=10 TREE_L2=10 TREE_L3=25 TREE_FILES=20 # 2,500 leaf dirs, 50,000 files
fi
# Cold random reads: one eighth of the file's 4 KiB blocks in all, split
# between the jobs, each block at most once per job.  Few enough that
# nearly every read misses every cache (a time-based run of a few seconds
# reads the file several times over and measures the page cache).
RAND_IOS=$((BIG_MIB * 256 / 8))
# The 100k-entry layer of the memory and open rows is the same in both modes:
# its goals are stated for that size.  Files of 0-2 KiB, about 100 MB in
# all, so reading every file runs more than the 64 MiB cache through it.
MANY_L1=20 MANY_L2=20 MANY_FILES=250 MANY_MAX=2048
CACHE_MIB=64
OPEN_TRIES=5
TREE_NFILES=$((TREE_L1 * TREE_L2 * TREE_L3 * TREE_FILES))
MANY_NFILES=$((MANY_L1 * MANY_L2 * MANY_FILES))
MANY_ENTRIES=$((1 + MANY_L1 + MANY_L1 * MANY_L2 + MANY_NFILES))
BIG_BYTES=$((BIG_MIB * 1024 * 1024))
DATA_STAMP="lamina-sealed-bench-data v1 text=${BIG_MIB}M tree=${TREE_L1}x${TREE_L2}x${TREE_L3}x${TREE_FILES} many=${MANY_L1}x${MANY_L2}x${MANY_FILES}x${MANY_MAX}"
if ((BIG_MIB % 1024 == 0)); then BIG_LABEL="$((BIG_MIB / 1024)) GiB"; else BIG_LABEL="${BIG_MIB} MiB"; fi
NFILES_LABEL=$(fmt_count "$TREE_NFILES")
MANY_LABEL="$(fmt_count "$MANY_ENTRIES")-entry"

# Metric table: label, unit, which direction is better, printf format, the
# row group, and which peers measure it ("all" or a list).
METRICS=(seq_cold seq_warm rand_j1 rand_j8 find_cold tar_cold
	import_dir import_tar size_disk size_apparent
	io_seq_uring io_seq_shared io_seq_pread io_rand_uring io_rand_shared io_rand_pread
	mem_find_hwm mem_find_rss mem_read_hwm mem_read_rss open_many open_tiny)
declare -A M_LABEL=(
	[seq_cold]="Seq read ${BIG_LABEL}, cold"
	[seq_warm]="Seq read ${BIG_LABEL}, warm"
	[rand_j1]="Rand read 4 KiB, 1 job, cold"
	[rand_j8]="Rand read 4 KiB, 8 jobs, cold"
	[find_cold]="find, whole tree (${NFILES_LABEL} files), cold"
	[tar_cold]="tar cf /dev/null, whole tree, cold"
	[import_dir]="Import the tree from its directory (mksquashfs for squashfuse)"
	[import_tar]="Import the tree from a tar"
	[size_disk]="Size on disk (du)"
	[size_apparent]="Size, apparent (du --apparent-size)"
	[io_seq_uring]="Seq read, cold, io=uring"
	[io_seq_shared]="Seq read, cold, io=shared"
	[io_seq_pread]="Seq read, cold, io=pread"
	[io_rand_uring]="Rand read 4 KiB, 8 jobs, cold, io=uring"
	[io_rand_shared]="Rand read 4 KiB, 8 jobs, cold, io=shared"
	[io_rand_pread]="Rand read 4 KiB, 8 jobs, cold, io=pread"
	[mem_find_hwm]="Daemon VmHWM - ${CACHE_MIB} MiB cache, ${MANY_LABEL} layer, after find"
	[mem_find_rss]="Daemon VmRSS - ${CACHE_MIB} MiB cache, ${MANY_LABEL} layer, after find"
	[mem_read_hwm]="Daemon VmHWM - ${CACHE_MIB} MiB cache, ${MANY_LABEL} layer, after reading all"
	[mem_read_rss]="Daemon VmRSS - ${CACHE_MIB} MiB cache, ${MANY_LABEL} layer, after reading all"
	[open_many]="Mount (open) the ${MANY_LABEL} layer"
	[open_tiny]="Mount (open) a 1-file layer"
)
declare -A M_UNIT=(
	[seq_cold]="MB/s" [seq_warm]="MB/s" [rand_j1]="IOPS" [rand_j8]="IOPS"
	[find_cold]="s" [tar_cold]="s" [import_dir]="s" [import_tar]="s"
	[size_disk]="MiB" [size_apparent]="MiB"
	[io_seq_uring]="MB/s" [io_seq_shared]="MB/s" [io_seq_pread]="MB/s"
	[io_rand_uring]="IOPS" [io_rand_shared]="IOPS" [io_rand_pread]="IOPS"
	[mem_find_hwm]="MiB" [mem_find_rss]="MiB" [mem_read_hwm]="MiB" [mem_read_rss]="MiB"
	[open_many]="ms" [open_tiny]="ms"
)
declare -A M_BETTER=(
	[seq_cold]="higher" [seq_warm]="higher" [rand_j1]="higher" [rand_j8]="higher"
	[find_cold]="lower" [tar_cold]="lower" [import_dir]="lower" [import_tar]="lower"
	[size_disk]="lower" [size_apparent]="lower"
	[io_seq_uring]="higher" [io_seq_shared]="higher" [io_seq_pread]="higher"
	[io_rand_uring]="higher" [io_rand_shared]="higher" [io_rand_pread]="higher"
	[mem_find_hwm]="lower" [mem_find_rss]="lower" [mem_read_hwm]="lower" [mem_read_rss]="lower"
	[open_many]="lower" [open_tiny]="lower"
)
declare -A M_FMT=(
	[seq_cold]="%.0f" [seq_warm]="%.0f" [rand_j1]="%.0f" [rand_j8]="%.0f"
	[find_cold]="%.3f" [tar_cold]="%.3f" [import_dir]="%.2f" [import_tar]="%.2f"
	[size_disk]="%.1f" [size_apparent]="%.1f"
	[io_seq_uring]="%.0f" [io_seq_shared]="%.0f" [io_seq_pread]="%.0f"
	[io_rand_uring]="%.0f" [io_rand_shared]="%.0f" [io_rand_pread]="%.0f"
	[mem_find_hwm]="%.1f" [mem_find_rss]="%.1f" [mem_read_hwm]="%.1f" [mem_read_rss]="%.1f"
	[open_many]="%.1f" [open_tiny]="%.1f"
)
declare -A M_GROUP=(
	[seq_cold]=seq [seq_warm]=seq [rand_j1]=rand [rand_j8]=rand
	[find_cold]=walk [tar_cold]=walk [import_dir]=import [import_tar]=import
	[size_disk]=import [size_apparent]=import
	[io_seq_uring]=io [io_seq_shared]=io [io_seq_pread]=io
	[io_rand_uring]=io [io_rand_shared]=io [io_rand_pread]=io
	[mem_find_hwm]=mem [mem_find_rss]=mem [mem_read_hwm]=mem [mem_read_rss]=mem
	[open_many]=open [open_tiny]=open
)
# Goals: "A OP T" (a median against a number) or "A / B OP T" (a ratio of two
# medians), A and B written METRIC:PEER; several goals of a row separated by
# ';'.  M_GOAL_TEXT is how the goal column shows them.
declare -A M_GOAL=(
	[seq_cold]="seq_cold:sealed-enc / seq_cold:squashfuse >= 1.5"
	[seq_warm]="seq_warm:sealed / seq_warm:fuse-overlayfs >= 0.9;seq_warm:sealed-enc / seq_warm:fuse-overlayfs >= 0.9"
	[find_cold]="find_cold:sealed / find_cold:overlay <= 1.5;find_cold:sealed-enc / find_cold:overlay <= 1.5"
	[tar_cold]="tar_cold:sealed / tar_cold:overlay <= 1.5;tar_cold:sealed-enc / tar_cold:overlay <= 1.5"
	[io_rand_uring]="io_rand_uring:sealed / io_rand_pread:sealed >= 1.2;io_rand_uring:sealed-enc / io_rand_pread:sealed-enc >= 1.2"
	[mem_find_hwm]="mem_find_hwm:sealed < 64;mem_find_hwm:sealed-enc < 64"
	[mem_read_hwm]="mem_read_hwm:sealed < 64;mem_read_hwm:sealed-enc < 64"
	[open_many]="open_many:sealed < 100;open_many:sealed-enc < 100"
)
declare -A M_GOAL_TEXT=(
	[seq_cold]="encrypted / squashfuse ≥ 1.5x"
	[seq_warm]="sealed / fuse-overlayfs ≥ 0.9x"
	[find_cold]="sealed / kernel overlay ≤ 1.5x"
	[tar_cold]="sealed / kernel overlay ≤ 1.5x"
	[io_rand_uring]="io=uring / io=pread ≥ 1.2x"
	[mem_find_hwm]="< 64 MiB"
	[mem_read_hwm]="< 64 MiB"
	[open_many]="< 100 ms"
)
declare -A VALUES=() # "metric|peer" -> space-separated per-run values

# metric_peers METRIC: the selected peers that measure METRIC.
metric_peers() {
	local p
	case "$1" in
	import_dir) for p in sealed sealed-enc squashfuse; do has_peer "$p" && echo "$p"; done ;;
	import_tar) has_peer sealed && echo sealed ;;
	size_*) for p in sealed sealed-enc squashfuse native; do has_peer "$p" && echo "$p"; done ;;
	io_* | mem_* | open_*) for p in "${SEALED_PEERS[@]}"; do has_peer "$p" && echo "$p"; done ;;
	*) printf '%s\n' "${PEERS[@]}" ;;
	esac
	return 0
}

# ----------------------------------------------------------- preflight ----

need_root "$@"
check_bench_dir

need fio fio
need fusermount3 fuse3
need mountpoint util-linux
need flock util-linux
need pgrep procps
need tar tar
need find findutils
need cmp diffutils
need awk gawk
need dd coreutils
[[ $BENCH_FS == image ]] && need losetup mount
FUSE_OVERLAYFS=${FUSE_OVERLAYFS:-$(command -v fuse-overlayfs || true)}
SQUASHFUSE=${SQUASHFUSE:-$(command -v squashfuse || true)}
MKSQUASHFS=${MKSQUASHFS:-$(command -v mksquashfs || true)}
if has_peer fuse-overlayfs && [[ -z $FUSE_OVERLAYFS || ! -x $FUSE_OVERLAYFS ]]; then
	MISSING+=(fuse-overlayfs)
	MISSING_HINTS+=(fuse-overlayfs)
fi
if has_peer squashfuse; then
	if [[ -z $SQUASHFUSE || ! -x $SQUASHFUSE ]]; then
		MISSING+=(squashfuse)
		MISSING_HINTS+=(squashfuse)
	fi
	if [[ -z $MKSQUASHFS || ! -x $MKSQUASHFS ]]; then
		MISSING+=(mksquashfs)
		MISSING_HINTS+=(squashfs-tools)
	fi
fi
need_report
if has_peer overlay && ! grep -qw overlay /proc/filesystems; then
	modprobe overlay 2>/dev/null || true
	grep -qw overlay /proc/filesystems || die "kernel overlayfs is not available (modprobe overlay failed); use --only to leave out the 'overlay' peer"
fi

NEED_LAMINAFS=0 NEED_LAMINA=0
for p in "${PEERS[@]}"; do
	uses_laminafs "$p" && NEED_LAMINAFS=1
	is_sealed "$p" && NEED_LAMINA=1
done
if ((NEED_LAMINAFS)); then
	find_laminafs "$REPO_ROOT" ",
  or leave the lamina peers out with --only=fuse-overlayfs,squashfuse,overlay,native"
fi
if ((NEED_LAMINA)); then
	if [[ -z ${LAMINA:-} ]]; then
		LAMINA=$(dirname -- "$LAMINAFS")/../tools/lamina
		if [[ -x $LAMINA ]]; then
			LAMINA=$(cd -- "$(dirname -- "$LAMINA")" && pwd)/lamina
		else
			LAMINA=$(command -v lamina || true)
		fi
	fi
	[[ -n $LAMINA && -x $LAMINA ]] || die "the lamina tool was not found (set LAMINA=/path/to/lamina)"
	"$LAMINA" layer --help >/dev/null 2>&1 ||
		die "$LAMINA has no 'layer' command (build a tree with the layer CLI, or leave the sealed peers out with --only)"
fi

# ------------------------------------------------------ mounts & cleanup --

PEERS_DIR="$BENCH_DIR/peers"
DATA_DIR="$BENCH_DIR/data-$MODE"
TREE="$DATA_DIR/tree"           # the tree every peer shows
SEQ_REL=text/seq.txt            # the sequential read file, in TREE
RAND_REL=text/rand.txt          # the random read file, in TREE
TREE_TAR="$DATA_DIR/tree.tar"   # TREE as a tar, for the import from a tar
MANY="$DATA_DIR/many"           # the 100k-entry tree
TINY="$DATA_DIR/tiny"           # a tree of one small file
EMPTY="$PEERS_DIR/empty"        # the kernel overlay's second, empty lower
STORE="$PEERS_DIR/store"        # the sealed layers of TREE, new each timed import
STORE_FIXED="$PEERS_DIR/store-fixed" # the 100k-entry and tiny layers, made once
SQUASH_IMG="$PEERS_DIR/tree.squashfs"
KEYFILE="$PEERS_DIR/lamina.key"
TENANT=bench

install_cleanup "$PEERS_DIR"

# ------------------------------------------------------------- helpers ----

generate_data() {
	data_is_current && return
	local t0 a b c
	t0=$(now)
	mkdir -p "$TREE/text"
	log "  two ${BIG_LABEL} text files (lz4 about 2x): tree/$SEQ_REL, tree/$RAND_REL"
	gen_text "$TREE/$SEQ_REL" "$BIG_MIB" 1
	gen_text "$TREE/$RAND_REL" "$BIG_MIB" 2

	make_filler
	RANDOM=1
	log "  tree/walk: $NFILES_LABEL files (0-8 KiB) in $(fmt_count $((TREE_L1 * TREE_L2 * TREE_L3))) leaf dirs, 3 levels"
	for ((a = 0; a < TREE_L1; a++)); do
		for ((b = 0; b < TREE_L2; b++)); do
			for ((c = 0; c < TREE_L3; c++)); do
				gen_files "$TREE/walk/a$a/b$b/c$c" "$TREE_FILES"
			done
		done
	done

	log "  tree.tar: the tree as a tar"
	tar cf "$TREE_TAR" -C "$TREE" .

	log "  many: $(fmt_count "$MANY_ENTRIES") entries, files of 0-$((MANY_MAX / 1024)) KiB"
	RANDOM=3
	for ((a = 0; a < MANY_L1; a++)); do
		for ((b = 0; b < MANY_L2; b++)); do
			gen_files "$MANY/m$a/n$b" "$MANY_FILES" "$MANY_MAX"
		done
	done
	mkdir -p "$TINY"
	printf 'one small file\n' >"$TINY/hello"

	sync
	printf '%s\n' "$DATA_STAMP" >"$DATA_DIR/stamp"
	log "  data ready in $(elapsed "$t0" "$(now)") s"
}

# lamina_import DIGEST-VAR STORE SOURCE [ARGS...]: imports SOURCE into STORE
# with lz4 and 64 KiB chunks (the defaults, said explicitly); the digest it
# prints goes into DIGEST-VAR.  Dies on failure: no sealed peer can run then.
lamina_import() {
	local -n out=$1
	local store=$2 src=$3 digest
	shift 3
	digest=$("$LAMINA" --store "$store" layer import "$src" --chunk-size 64K --compress lz4 "$@" \
		2>>"$PEERS_DIR/lamina.log") ||
		die "lamina --store $store layer import $src $* failed (see $PEERS_DIR/lamina.log)"
	digest=${digest##*$'\n'}
	[[ $digest =~ ^[0-9a-f]{64}$ ]] || die "lamina layer import $src printed '$digest', not a digest"
	out=$digest
}

make_store() { # make_store DIR: a store with tenant $TENANT (key file $KEYFILE)
	rm -rf --one-file-system "$1"
	"$LAMINA" --store "$1" tenant create "$TENANT" --key-file "$KEYFILE" >/dev/null 2>>"$PEERS_DIR/lamina.log" ||
		die "lamina --store $1 tenant create failed (see $PEERS_DIR/lamina.log)"
}

# layer_file STORE DIGEST: the path of the layer file in the store.
layer_file() {
	local f=$1/layers/$2
	[[ -f $f ]] || f=$(find "$1" -type f -name "$2*" -print -quit)
	[[ -n $f && -f $f ]] || die "layer $2 not found in $1"
	printf '%s' "$f"
}

# timed_build METRIC PEER CMD...: runs CMD from a cold page cache and until
# its output is on disk; records the seconds when the import rows are asked
# for.
timed_build() {
	local metric=$1 peer=$2 t0 t1
	shift 2
	drop_caches
	t0=$(now)
	"$@"
	sync -f "$BENCH_DIR"
	t1=$(now)
	if has_group import; then record "$metric" "$peer" "$(elapsed "$t0" "$t1")"; fi
}

build_squashfs() {
	"$MKSQUASHFS" "$TREE" "$SQUASH_IMG" -comp lz4 -noappend -no-progress -quiet >>"$PEERS_DIR/mksquashfs.log" 2>&1 ||
		die "mksquashfs $TREE $SQUASH_IMG -comp lz4 failed (see $PEERS_DIR/mksquashfs.log)"
}

# The sealed layers of the tree and the squashfs image: made (and timed) at
# the first run, and again at each run when the import rows are asked for.
# Sets DIGEST[sealed] and DIGEST[sealed-enc].
declare -A DIGEST=()
build_images() {
	local d tarstore f p
	if has_peer sealed || has_peer sealed-enc; then
		make_store "$STORE"
		if has_peer sealed; then
			log "  import the tree, plain"
			timed_build import_dir sealed lamina_import d "$STORE" "$TREE"
			DIGEST[sealed]=$d
		fi
		if has_peer sealed-enc; then
			log "  import the tree, encrypted for tenant $TENANT"
			timed_build import_dir sealed-enc lamina_import d "$STORE" "$TREE" --tenant "$TENANT" --key-file "$KEYFILE"
			DIGEST[sealed-enc]=$d
		fi
		if has_peer sealed && has_group import; then
			# Into a store of its own, so it neither meets the layer above
			# nor stays on disk.
			log "  import the tree from tree.tar, plain"
			tarstore=$PEERS_DIR/store-tar
			mkdir -p "$tarstore"
			timed_build import_tar sealed lamina_import d "$tarstore" "$TREE_TAR"
			rm -rf --one-file-system "$tarstore"
		fi
	fi
	if has_peer squashfuse; then
		log "  mksquashfs -comp lz4"
		timed_build import_dir squashfuse build_squashfs
	fi
	has_group import || return 0
	for p in "${SEALED_PEERS[@]}"; do
		has_peer "$p" || continue
		f=$(layer_file "$STORE" "${DIGEST[$p]}")
		record_size "$p" "$f"
	done
	if has_peer squashfuse; then record_size squashfuse "$SQUASH_IMG"; fi
	if has_peer native; then record_size native "$TREE"; fi
}

record_size() { # record_size PEER PATH: allocated and apparent size, MiB
	log "  size of $2 (${PEER_TITLE[$1]})"
	record size_disk "$1" "$(du -s -B1 "$2" | awk '{ printf "%.3f", $1 / 1048576 }')"
	record size_apparent "$1" "$(du -s -b "$2" | awk '{ printf "%.3f", $1 / 1048576 }')"
}

# The 100k-entry and the tiny layer, plain and encrypted, in a store of their
# own: made once per script run, untimed.
declare -A MANY_DIGEST=() TINY_DIGEST=()
build_fixed_layers() {
	local p d
	local -a enc_args
	make_store "$STORE_FIXED"
	for p in "${SEALED_PEERS[@]}"; do
		has_peer "$p" || continue
		enc_args=()
		[[ $p == sealed-enc ]] && enc_args=(--tenant "$TENANT" --key-file "$KEYFILE")
		log "  import the $MANY_LABEL tree and the tiny one (${PEER_SHORT[$p]})"
		lamina_import d "$STORE_FIXED" "$MANY" "${enc_args[@]}"
		MANY_DIGEST[$p]=$d
		lamina_import d "$STORE_FIXED" "$TINY" "${enc_args[@]}"
		TINY_DIGEST[$p]=$d
	done
}

peer_dir() { printf '%s' "$PEERS_DIR/$1"; }

# peer_cmd PEER LAYER EXTRA: sets CMD (an array) to the command that mounts
# PEER's view of LAYER (tree, many or tiny) on $MNT; EXTRA are more laminafs
# options (io=, cache_size=).  Empty CMD for the kernel overlay and native.
peer_cmd() {
	local peer=$1 layer=$2 extra=$3 opts store digest
	CMD=()
	case "$peer" in
	sealed | sealed-enc)
		case "$layer" in
		tree) store=$STORE digest=${DIGEST[$peer]} ;;
		many) store=$STORE_FIXED digest=${MANY_DIGEST[$peer]} ;;
		tiny) store=$STORE_FIXED digest=${TINY_DIGEST[$peer]} ;;
		esac
		opts="lowerdir=sealed:$digest,store=$store"
		[[ $peer == sealed-enc ]] && opts+=",tenant=$TENANT,keyfile=$KEYFILE"
		CMD=("$LAMINAFS" -o "$opts${extra:+,$extra}" "$MNT")
		;;
	lamina-dir) CMD=("$LAMINAFS" -o "lowerdir=$TREE${extra:+,$extra}" "$MNT") ;;
	fuse-overlayfs) CMD=("$FUSE_OVERLAYFS" -o "lowerdir=$TREE" "$MNT") ;;
	squashfuse) CMD=("$SQUASHFUSE" "$SQUASH_IMG" "$MNT") ;;
	esac
}

# mount_peer PEER [LAYER [EXTRA]]: mounts PEER's view of LAYER (default the
# tree) and sets MNT to where it is.  Returns 1 (after a log line) when a
# mount with EXTRA options fails, so that an io back end this host lacks
# leaves its rows empty; any other failure stops the run.
mount_peer() {
	local peer=$1 layer=${2:-tree} extra=${3:-} pd
	pd=$(peer_dir "$peer")
	GUARD_PID="" GUARD_TRIPPED=0
	if [[ $peer == native ]]; then
		MNT=$TREE
		return 0
	fi
	MNT=$pd/mnt
	mkdir -p "$MNT"
	mountpoint -q "$MNT" && die "$MNT is already mounted"
	if [[ $peer == overlay ]]; then
		mount -t overlay overlay -o "lowerdir=$TREE:$EMPTY" "$MNT" || die "mount -t overlay failed"
		return 0
	fi
	peer_cmd "$peer" "$layer" "$extra"
	if ! "${CMD[@]}" >>"$pd/daemon.log" 2>&1; then
		if [[ -n $extra ]]; then
			log "  note: '${CMD[*]}' failed (see $pd/daemon.log); no value for -o $extra"
			return 1
		fi
		die "$peer: '${CMD[*]}' failed (see $pd/daemon.log)"
	fi
	wait_fuse_mount "$peer" "$MNT" "$pd/daemon.log"
	GUARD_PID=${DAEMON_PID[$MNT]:-}
}

umount_peer() {
	[[ $1 == native ]] && return 0
	unmount_one "$(peer_dir "$1")/mnt"
}

# Cold state: unmount (so a FUSE daemon and its caches go away), drop the
# kernel's page, dentry and inode caches, mount again.  The native peer only
# gets the drop.
cold_mount() { # cold_mount PEER [LAYER [EXTRA]]
	umount_peer "$1"
	drop_caches
	mount_peer "$@"
}

# Seconds a step may take before the daemon counts as hung: reads at 5 MB/s,
# fio's run time, a walk.
READ_LIMIT=$((BIG_MIB / 5 + 60))
FIO_LIMIT=$((RAND_IOS / 100 + 120))
WALK_LIMIT=600

# dd_read FILE: reads FILE with dd bs=1M; sets RES to MB/s.  Returns 1 when
# the daemon died or hung (no value then).
dd_read() {
	local f=$1 t0 t1 out="" bytes st=0
	t0=$(now)
	guarded "$READ_LIMIT" dd_to_var out if="$f" of=/dev/null bs=1M || st=$?
	t1=$(now)
	((GUARD_TRIPPED == 0)) || return 1
	((st == 0)) || check_fail "$CUR_PEER: dd read of $f failed: $out"
	bytes=$(printf '%s\n' "$out" | awk '/bytes/ { b = $1 } END { print b + 0 }')
	[[ $bytes -eq $BIG_BYTES ]] || check_fail "$CUR_PEER: dd read $bytes bytes of $f, expected $BIG_BYTES"
	RES=$(mb_per_s "$bytes" "$t0" "$t1")
}

dd_to_var() { # dd_to_var VAR DD-ARGS...: dd's messages into VAR
	local -n dd_out=$1
	shift
	# shellcheck disable=SC2034 # sets the caller's variable
	dd_out=$(dd "$@" 2>&1)
}

# fio_randread FILE JOBS: RAND_IOS 4 KiB random reads in all, psync, page
# cache allowed (direct=0), fio's default random map (no block twice in a
# job) and seeds (a different sequence per job, the same every run); sets
# RES to the IOPS (0 on failure).  The caller makes the cache cold first;
# invalidate=0 leaves that to it.
fio_randread() {
	local f=$1 jobs=$2
	if ! guarded "$FIO_LIMIT" fio_terse --name=randread --filename="${f//:/\\:}" --readonly --rw=randread \
		--bs=4k --size="${BIG_MIB}m" --ioengine=psync --direct=0 --numjobs="$jobs" \
		--group_reporting --number_ios=$((RAND_IOS / jobs)) --invalidate=0 \
		--randrepeat=1; then
		((GUARD_TRIPPED == 0)) || return 1
		check_fail "$CUR_PEER: fio numjobs=$jobs failed: $FIO_ERR"
		RES=0
		return 0
	fi
	RES=$(fio_field 8)
}

count_entries() { # count_entries DIR: prints the number of entries find sees
	find "$1" | wc -l
}
count_entries_to() { # count_entries_to VAR DIR: the same, into VAR
	local -n ce_out=$1
	# shellcheck disable=SC2034 # sets the caller's variable
	ce_out=$(find "$2" | wc -l)
}

bench_seq_rand_walk() {
	local peer=$1 n t0 t1 st
	if has_group seq; then
		cold_mount "$peer"
		if dd_read "$MNT/$SEQ_REL"; then
			record seq_cold "$peer" "$RES"
			if dd_read "$MNT/$SEQ_REL"; then
				record seq_warm "$peer" "$RES"
				[[ $peer == native ]] || guarded "$READ_LIMIT" cmp -s "$TREE/$SEQ_REL" "$MNT/$SEQ_REL" ||
					check_fail "$peer: $SEQ_REL reads different from the tree's"
			fi
		fi
	fi
	if has_group rand; then
		cold_mount "$peer"
		if fio_randread "$MNT/$RAND_REL" 1; then record rand_j1 "$peer" "$RES"; fi
		cold_mount "$peer"
		if fio_randread "$MNT/$RAND_REL" 8; then record rand_j8 "$peer" "$RES"; fi
	fi
	if has_group walk; then
		cold_mount "$peer"
		t0=$(now)
		if guarded "$WALK_LIMIT" count_entries_to n "$MNT"; then
			t1=$(now)
			record find_cold "$peer" "$(elapsed "$t0" "$t1")"
			[[ $n -eq $TREE_ENTRIES ]] || check_fail "$peer: find saw $n entries, expected $TREE_ENTRIES"
		fi
		# GNU tar writing to /dev/null stats every entry and reads no data.
		cold_mount "$peer"
		t0=$(now)
		st=0
		guarded "$WALK_LIMIT" tar cf /dev/null -C "$MNT" . || st=$?
		t1=$(now)
		if ((GUARD_TRIPPED == 0)); then
			record tar_cold "$peer" "$(elapsed "$t0" "$t1")"
			((st <= 1)) || check_fail "$peer: tar cf /dev/null of the tree exited with status $st"
		fi
	fi
	return 0
}

# The io back ends of the sealed reader, each on a cold mount.
bench_io() {
	local peer=$1 io
	for io in "${IO_BACKENDS[@]}"; do
		if cold_mount "$peer" tree "io=$io" && dd_read "$MNT/$SEQ_REL"; then
			record "io_seq_$io" "$peer" "$RES"
		fi
		if cold_mount "$peer" tree "io=$io" && fio_randread "$MNT/$RAND_REL" 8; then
			record "io_rand_$io" "$peer" "$RES"
		fi
	done
	umount_peer "$peer"
}

tar_bytes_to() { # tar_bytes_to VAR DIR: bytes of a tar of DIR, into VAR
	local -n tb_out=$1
	# shellcheck disable=SC2034 # sets the caller's variable
	tb_out=$(tar cf - -C "$2" . | wc -c) || true
}

# mem_mib PID FIELD: FIELD of the daemon's status in MiB, minus the cache.
mem_mib() {
	local kib
	kib=$(proc_status_kib "$1" "$2")
	[[ -n $kib ]] || { check_fail "$CUR_PEER: no $2 for laminafs pid $1"; echo 0; return 0; }
	awk -v k="$kib" -v c="$CACHE_MIB" 'BEGIN { printf "%.3f", k / 1024 - c }'
}

# Daemon memory with the 100k-entry layer: after a find of every entry, and
# after reading every file (tar through a pipe reads the data).
bench_mem() {
	local peer=$1 pid n
	cold_mount "$peer" many "cache_size=${CACHE_MIB}M" || die "$peer: cannot mount the $MANY_LABEL layer"
	pid=${DAEMON_PID[$MNT]:-}
	[[ -n $pid ]] || { check_fail "$peer: no pid for the laminafs of $MNT"; umount_peer "$peer"; return 0; }
	guarded "$WALK_LIMIT" count_entries_to n "$MNT" || { umount_peer "$peer"; return 0; }
	[[ $n -eq $MANY_ENTRIES ]] || check_fail "$peer: find saw $n entries in the $MANY_LABEL layer, expected $MANY_ENTRIES"
	log "    laminafs pid $pid after find: $(proc_status_kib "$pid" VmHWM) KiB VmHWM, $(proc_status_kib "$pid" VmRSS) KiB VmRSS"
	record mem_find_hwm "$peer" "$(mem_mib "$pid" VmHWM)"
	record mem_find_rss "$peer" "$(mem_mib "$pid" VmRSS)"
	guarded "$WALK_LIMIT" tar_bytes_to n "$MNT" || { umount_peer "$peer"; return 0; }
	[[ $n -eq $MANY_TAR_BYTES ]] || check_fail "$peer: tar of the $MANY_LABEL layer gave $n bytes, of the directory $MANY_TAR_BYTES"
	log "    laminafs pid $pid after reading all: $(proc_status_kib "$pid" VmHWM) KiB VmHWM, $(proc_status_kib "$pid" VmRSS) KiB VmRSS"
	record mem_read_hwm "$peer" "$(mem_mib "$pid" VmHWM)"
	record mem_read_rss "$peer" "$(mem_mib "$pid" VmRSS)"
	umount_peer "$peer"
}

# open_ms PEER LAYER: milliseconds from the start of laminafs until the mount
# point is live, median of OPEN_TRIES mounts after one untimed mount (which
# brings the binary and the layer file into the page cache: this is the
# daemon's own work of opening the layer, not the disk's).
open_ms() {
	local peer=$1 layer=$2 i w t0 t1 pd
	local -a times=()
	pd=$(peer_dir "$peer")
	for ((i = 0; i <= OPEN_TRIES; i++)); do
		umount_peer "$peer"
		MNT=$pd/mnt
		mkdir -p "$MNT"
		peer_cmd "$peer" "$layer" ""
		t0=$(now)
		"${CMD[@]}" >>"$pd/daemon.log" 2>&1 || die "$peer: '${CMD[*]}' failed (see $pd/daemon.log)"
		# laminafs returns once the mount is live; the loop is for a daemon
		# that does not.
		for ((w = 0; w < 10000; w++)); do
			mounted_now "$MNT" && break
			sleep 0.001
		done
		mounted_now "$MNT" || die "$peer: $MNT not live 10 s after laminafs started"
		t1=$(now)
		wait_fuse_mount "$peer" "$MNT" "$pd/daemon.log"
		((i)) && times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
	done
	umount_peer "$peer"
	RES=$(median "${times[@]}")
	log "    $layer layer mounts: ${times[*]} ms"
}

bench_peer_run() {
	local peer=$1 run=$2
	CUR_PEER=$peer
	log "run $run/$RUNS: ${PEER_TITLE[$peer]}"
	umount_peer "$peer"
	rm -rf --one-file-system "$(peer_dir "$peer")"
	mkdir -p "$(peer_dir "$peer")"
	bench_seq_rand_walk "$peer"
	if is_sealed "$peer"; then
		if has_group io; then bench_io "$peer"; fi
		if has_group mem; then bench_mem "$peer"; fi
		if has_group open; then
			open_ms "$peer" many
			record open_many "$peer" "$RES"
			open_ms "$peer" tiny
			record open_tiny "$peer" "$RES"
		fi
	fi
	umount_peer "$peer"
}

# goal_cell METRIC: the "goal met" cell of a row: each goal's pass/FAIL with
# the value it judged, named plain/enc when the row has goals for both
# sealed peers.
goal_cell() {
	local spec a op t b va vb v res cell="" name
	local -a specs parts
	IFS=';' read -r -a specs <<<"${M_GOAL[$1]}"
	for spec in "${specs[@]}"; do
		read -r -a parts <<<"$spec"
		a=${parts[0]}
		if [[ ${parts[1]} == / ]]; then
			b=${parts[2]} op=${parts[3]} t=${parts[4]}
		else
			b="" op=${parts[1]} t=${parts[2]}
		fi
		has_peer "${a#*:}" || continue
		[[ -z $b ]] || has_peer "${b#*:}" || continue
		va=$(med "${a%%:*}" "${a#*:}")
		if [[ -n $b ]]; then
			vb=$(med "${b%%:*}" "${b#*:}")
			v=$(ratio "$va" "$vb")
		else
			v=${va:-n/a}
			[[ $v == n/a ]] || v=$(printf '%.1f' "$v")
		fi
		res=$(goal_met "$op $t" "$v")
		res=${res^^}
		[[ $res == N/A ]] && res=n/a
		[[ $v == n/a ]] || res+=" ($v$([[ -n $b ]] && echo x))"
		name=""
		((${#specs[@]} > 1)) && name="${PEER_SHORT[${a#*:}]:-${a#*:}}: "
		cell+="${cell:+, }$name$res"
	done
	printf '%s' "${cell:-n/a}"
}

# --------------------------------------------------------------- main -----

START=$(now)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STAMP=$(date +%Y%m%d-%H%M%S)
log "lamina sealed benchmark ($MODE): peers: ${PEERS[*]}; rows: ${GROUPS_SEL[*]}; RUNS=$RUNS; BENCH_DIR=$BENCH_DIR"
((NEED_LAMINAFS)) && log "laminafs: $LAMINAFS"
((NEED_LAMINA)) && log "lamina: $LAMINA"

lock_bench_dir
setup_bench_fs
setup_uring
unmount_leftovers
rm -rf --one-file-system "$PEERS_DIR"
mkdir -p "$PEERS_DIR" "$EMPTY"
generate_data
TREE_ENTRIES=$(count_entries "$TREE")
if ((NEED_LAMINA)); then
	(umask 077 && head -c 32 /dev/urandom >"$KEYFILE")
	if has_group mem || has_group open; then
		MANY_TAR_BYTES=$(tar cf - -C "$MANY" . | wc -c)
		build_fixed_layers
	fi
fi

# Peers take turns; the order rotates each run so that no peer always comes
# right after the same neighbour.
NPEERS=${#PEERS[@]}
for ((run = 1; run <= RUNS; run++)); do
	if ((run == 1)) || has_group import; then
		log "run $run/$RUNS: layers and image"
		build_images
	fi
	for ((k = 0; k < NPEERS; k++)); do
		bench_peer_run "${PEERS[(k + run - 1) % NPEERS]}" "$run"
	done
done

# ------------------------------------------------------------- report -----

mkdir -p "$RESULTS_DIR"
CSV="$RESULTS_DIR/sealed-$STAMP.csv"
MD="$RESULTS_DIR/sealed-$STAMP.md"
values_csv >"$CSV"

TABLE=$(
	h="| Measurement |" s="|---|"
	for p in "${PEERS[@]}"; do h+=" ${PEER_TITLE[$p]} |"; s+="---:|"; done
	h+=" goal | goal met |"
	s+=":---:|:---:|"
	echo "$h"
	echo "$s"
	for m in "${METRICS[@]}"; do
		has_group "${M_GROUP[$m]}" || continue
		mapfile -t mp < <(metric_peers "$m")
		((${#mp[@]})) || continue
		row="| ${M_LABEL[$m]} (${M_UNIT[$m]}, ${M_BETTER[$m]} is better) |"
		for p in "${PEERS[@]}"; do
			v=""
			[[ " ${mp[*]} " == *" $p "* ]] && v=$(med "$m" "$p")
			# shellcheck disable=SC2059 # the format comes from M_FMT
			if [[ -n $v ]]; then row+=" $(printf "${M_FMT[$m]}" "$v") |"; else row+=" — |"; fi
		done
		if [[ -n ${M_GOAL[$m]:-} ]]; then
			row+=" ${M_GOAL_TEXT[$m]} | $(goal_cell "$m") |"
		else
			row+=" — | — |"
		fi
		echo "$row"
	done
)
GOALS_ALL=$(grep -o -E 'PASS|FAIL' <<<"$TABLE" | wc -l || true)
GOALS_MET=$(grep -o -E 'PASS' <<<"$TABLE" | wc -l || true)

TOTAL=$(elapsed "$START" "$(now)")
{
	echo "# lamina sealed layer benchmark, $MODE run, $STAMP"
	echo
	echo "Medians of $RUNS runs. Generated by \`benchmarks/sealed.sh\` in $(printf '%.0f' "$TOTAL") s."
	echo
	echo "$TABLE"
	echo
	echo "Goals met: $GOALS_MET of $GOALS_ALL. A ratio in the goal column is the first"
	echo "peer's median divided by the second's; the memory rows are the daemon's"
	echo "VmHWM / VmRSS minus the ${CACHE_MIB} MiB of chunk cache it was given (below 0: it"
	echo "used less than its cache may hold)."
	echo
	host_lines
	((NEED_LAMINAFS)) && echo "- laminafs: $LAMINAFS ($(bin_version "$LAMINAFS"))"
	((NEED_LAMINA)) && echo "- lamina: $LAMINA; layers: \`lamina layer import SRC --chunk-size 64K --compress lz4 [--tenant $TENANT --key-file K]\`, mounted with \`laminafs -o lowerdir=sealed:DIGEST,store=S[,tenant=$TENANT,keyfile=K][,io=...]\` (default io otherwise)"
	has_peer fuse-overlayfs && echo "- fuse-overlayfs: $FUSE_OVERLAYFS ($(bin_version "$FUSE_OVERLAYFS")), \`-o lowerdir=DIR\`"
	has_peer squashfuse && echo "- squashfuse: $SQUASHFUSE ($("$SQUASHFUSE" --version 2>&1 | head -n1)); image: \`$(basename -- "$MKSQUASHFS") DIR IMG -comp lz4 -noappend\` ($("$MKSQUASHFS" -version 2>&1 | head -n1))"
	echo "- fio: $(fio --version); randread bs=4k psync direct=0, $(fmt_count "$RAND_IOS") reads in all (number_ios per job), each on a fresh mount after drop_caches"
	echo "- data: $DATA_STAMP; the tree: $(fmt_count "$TREE_ENTRIES") entries"
	check_failure_lines
} >"$MD"

echo "$TABLE"
log "goals met: $GOALS_MET of $GOALS_ALL"
log "done in $(printf '%.0f' "$TOTAL") s; results: $MD and $CSV"
if ((${#CHECK_FAILURES[@]})); then
	log "${#CHECK_FAILURES[@]} check(s) failed; see $MD"
	exit 1
fi
