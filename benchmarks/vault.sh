#!/usr/bin/env bash
# benchmarks/vault.sh - compare a laminafs vault volume with gocryptfs (and
# the plain backing directory) on the same file system.  See
# benchmarks/README.md.
#
# Runs as root.  Prints progress on stderr, the Markdown table of medians on
# stdout, and writes benchmarks/results/vault-<timestamp>.{csv,md}.

set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
RESULTS_DIR="$SCRIPT_DIR/results"
BENCH_NAME=vault.sh
# shellcheck source=benchmarks/lib.sh
source "$SCRIPT_DIR/lib.sh"

ALL_CIPHERS=(aes256gcm xchacha20poly1305)
declare -A CIPHER_TITLE=([aes256gcm]="AES-256-GCM" [xchacha20poly1305]="XChaCha20-Poly1305")
declare -A CIPHER_SHORT=([aes256gcm]="AES-GCM" [xchacha20poly1305]="XChaCha")

usage() {
	cat <<'EOF'
Usage: sudo benchmarks/vault.sh [--quick] [--ciphers=LIST] [--only=LIST] [--fresh-data] [--no-uring] [--help]

Measures a laminafs vault volume (laminafs -o upperdir=V,tenant=T: an
encrypted writable directory) against gocryptfs with its default options,
and the plain backing directory (native) as the reference, all on the same
file system.  Prints a Markdown table of the medians with the ratio
vault / gocryptfs and whether each goal is met, and writes
benchmarks/results/vault-<timestamp>.csv and .md.

Measurements (each run on a fresh, empty volume):
  sequential write of a random file (dd bs=1M conv=fsync)     MB/s
  sequential read of it, cold (remount + drop_caches), then warm  MB/s
  random 4 KiB reads, warm, fio psync, 1 job                  IOPS
  random 4 KiB writes, fio psync, 1 job, fsync at the end     IOPS
  untar of small files + sync of the volume                   s

Options:
  --quick          256 MiB instead of 1 GiB, 2,000 files instead of 10,000,
                   3 s fio runs instead of 20 s, one cipher (a smoke run,
                   about 2.5 min)
  --ciphers=LIST   vault ciphers to measure, comma-separated, from:
                   aes256gcm (alias: aes), xchacha20poly1305 (alias: xchacha)
                   default: both, or aes256gcm only with --quick
                   (xchacha20poly1305 only if the CPU has no AES-NI)
  --only=LIST      peers to run, comma-separated, from: native, vault
                   (alias: lamina), gocryptfs (alias: gcfs); default: all
  --fresh-data     regenerate the test data even if a matching copy exists
  --no-uring       leave fuse.enable_uring as it is (by default the run sets
                   it to Y, so laminafs serves requests from io_uring queues,
                   and restores it afterwards; gocryptfs never uses them)
  -h, --help       this text

Environment:
  LAMINAFS=PATH    laminafs daemon (default: build/driver/laminafs in the
                   repo, else `laminafs` on PATH)
  LAMINA=PATH      lamina tool, makes the tenant (default: tools/lamina next
                   to the daemon's build directory, else `lamina` on PATH)
  GOCRYPTFS=PATH   gocryptfs binary (default: gocryptfs on PATH)
  BENCH_DIR=DIR    scratch directory (default /var/tmp/lamina-vault-bench)
  BENCH_FS=image|dir  image (default): BENCH_DIR is a dedicated ext4 file
                   system in BENCH_IMG, mounted for the run (see run.sh --help);
                   dir: use BENCH_DIR as it is (a disk file system, not tmpfs)
  BENCH_IMG=FILE   the image (default /var/tmp/lamina-vault-bench.img, 16 GiB
                   sparse)
  RUNS=N           runs per measurement; the table shows medians (default 3)

Needs root, fio, gocryptfs, fusermount3.
Ctrl-C or kill -TERM unmounts everything and restores fuse.enable_uring.
EOF
}

# ---------------------------------------------------------------- options --

CIPHERS_ARG=""
bench_arg() { # the option only vault.sh takes (see bench_args)
	case "$1" in
	--ciphers=*) CIPHERS_ARG=${1#--ciphers=} ;;
	*) return 1 ;;
	esac
}
bench_args "$@"
bench_runs 3
BENCH_DIR=${BENCH_DIR:-/var/tmp/lamina-vault-bench}
BENCH_FS=${BENCH_FS:-image}
BENCH_IMG=${BENCH_IMG:-/var/tmp/lamina-vault-bench.img}
BENCH_IMG_SIZE=16G

HAVE_AESNI=0
grep -qw aes /proc/cpuinfo && HAVE_AESNI=1
CIPHERS=()
if [[ -z $CIPHERS_ARG ]]; then
	# Both ciphers for a full run, one (AES-GCM, gocryptfs's cipher) for --quick.
	if ((HAVE_AESNI == 0)); then
		CIPHERS=(xchacha20poly1305)
	elif ((QUICK)); then
		CIPHERS=(aes256gcm)
	else
		CIPHERS=("${ALL_CIPHERS[@]}")
	fi
else
	IFS=',' read -r -a req <<<"$CIPHERS_ARG"
	for c in "${req[@]}"; do
		case "$c" in
		aes | aes256gcm | aes-256-gcm | aes-gcm) c=aes256gcm ;;
		xchacha | xchacha20poly1305 | xchacha20-poly1305) c=xchacha20poly1305 ;;
		"") continue ;;
		*) die "unknown cipher '$c' in --ciphers (use aes256gcm, xchacha20poly1305)" ;;
		esac
		[[ " ${CIPHERS[*]} " == *" $c "* ]] || CIPHERS+=("$c")
	done
fi

want_native=1 want_vault=1 want_gcfs=1
if [[ -n $ONLY ]]; then
	want_native=0 want_vault=0 want_gcfs=0
	IFS=',' read -r -a req <<<"$ONLY"
	for p in "${req[@]}"; do
		case "$p" in
		native) want_native=1 ;;
		vault | lamina | laminafs) want_vault=1 ;;
		gocryptfs | gcfs) want_gcfs=1 ;;
		"") ;;
		*) die "unknown peer '$p' in --only (use native, vault, gocryptfs)" ;;
		esac
	done
fi
((want_vault)) || CIPHERS=()
((want_vault == 0 || ${#CIPHERS[@]})) || die "--ciphers selected no cipher"

# Peers: the vault once per cipher (vault-<cipher>), gocryptfs, native.
PEERS=()
for c in "${CIPHERS[@]}"; do PEERS+=("vault-$c"); done
((want_gcfs)) && PEERS+=(gocryptfs)
((want_native)) && PEERS+=(native)
((${#PEERS[@]})) || die "--only selected no peer"
has_peer() {
	local p
	for p in "${PEERS[@]}"; do [[ $p == "$1" ]] && return 0; done
	return 1
}
peer_title() {
	case "$1" in
	vault-*) printf 'lamina vault, %s' "${CIPHER_TITLE[${1#vault-}]}" ;;
	gocryptfs) printf 'gocryptfs' ;;
	native) printf 'native (reference)' ;;
	esac
}

# ------------------------------------------------------------------ sizes --

if ((QUICK)); then
	MODE=quick
	BIG_MIB=256
	FIO_RUNTIME=3
	UNTAR_DIRS=100 UNTAR_FILES=20 # 2,000 files
else
	MODE=full
	BIG_MIB=1024
	FIO_RUNTIME=20
	UNTAR_DIRS=500 UNTAR_FILES=20 # 10,000 files
fi
UNTAR_NFILES=$((UNTAR_DIRS * UNTAR_FILES))
BIG_BYTES=$((BIG_MIB * 1024 * 1024))
DATA_STAMP="lamina-vault-bench-data v1 big=${BIG_MIB}M untar=${UNTAR_DIRS}x${UNTAR_FILES}"
if ((BIG_MIB % 1024 == 0)); then BIG_LABEL="$((BIG_MIB / 1024)) GiB"; else BIG_LABEL="${BIG_MIB} MiB"; fi

# Metric table: id, label, unit, which direction is better, printf format,
# and the goal on the ratio vault / gocryptfs (">= X", "<= X" or empty).
METRICS=(seq_write seq_cold seq_warm rand_read rand_write untar)
declare -A M_LABEL=(
	[seq_write]="Seq write ${BIG_LABEL} + fsync"
	[seq_cold]="Seq read ${BIG_LABEL}, cold"
	[seq_warm]="Seq read ${BIG_LABEL}, warm"
	[rand_read]="Rand read 4 KiB, warm"
	[rand_write]="Rand write 4 KiB + fsync"
	[untar]="untar $(fmt_count $UNTAR_NFILES) files + sync"
)
declare -A M_UNIT=(
	[seq_write]="MB/s" [seq_cold]="MB/s" [seq_warm]="MB/s"
	[rand_read]="IOPS" [rand_write]="IOPS" [untar]="s"
)
declare -A M_BETTER=(
	[seq_write]="higher" [seq_cold]="higher" [seq_warm]="higher"
	[rand_read]="higher" [rand_write]="higher" [untar]="lower"
)
declare -A M_FMT=(
	[seq_write]="%.0f" [seq_cold]="%.0f" [seq_warm]="%.0f"
	[rand_read]="%.0f" [rand_write]="%.0f" [untar]="%.3f"
)
declare -A M_GOAL=(
	[seq_write]=">= 1.5" [seq_cold]="" [seq_warm]=">= 8"
	[rand_read]=">= 8" [rand_write]="" [untar]="<= 0.5"
)
declare -A VALUES=() # "metric|peer" -> space-separated per-run values

# ----------------------------------------------------------- preflight ----

need_root "$@"
check_bench_dir

need fio fio
need fusermount3 fuse3
need mountpoint util-linux
need flock util-linux
need pgrep procps
need tar tar
need cmp diffutils
need awk gawk
need dd coreutils
if has_peer gocryptfs; then
	GOCRYPTFS=${GOCRYPTFS:-$(command -v gocryptfs || true)}
	if [[ -z $GOCRYPTFS || ! -x $GOCRYPTFS ]]; then
		MISSING+=(gocryptfs)
		MISSING_HINTS+=(gocryptfs)
	fi
fi
need_report

if ((${#CIPHERS[@]})); then
	find_laminafs "$REPO_ROOT" ", or leave it out with --only=native,gocryptfs"
	if [[ -z ${LAMINA:-} ]]; then
		LAMINA=$(dirname -- "$LAMINAFS")/../tools/lamina
		if [[ -x $LAMINA ]]; then
			LAMINA=$(cd -- "$(dirname -- "$LAMINA")" && pwd)/lamina
		else
			LAMINA=$(command -v lamina || true)
		fi
	fi
	[[ -n $LAMINA && -x $LAMINA ]] || die "the lamina tool was not found (set LAMINA=/path/to/lamina)"
	if [[ " ${CIPHERS[*]} " == *" aes256gcm "* ]] && ((HAVE_AESNI == 0)); then
		log "warning: the CPU has no AES-NI; the aes256gcm vault may be refused"
	fi
fi

# ------------------------------------------------------ mounts & cleanup --

PEERS_DIR="$BENCH_DIR/peers"
DATA_DIR="$BENCH_DIR/data-$MODE"
SRC="$DATA_DIR/src.bin"
UNTAR_TARBALL="$DATA_DIR/untar.tar"
STORE="$PEERS_DIR/lamina-store"
KEYFILE="$PEERS_DIR/lamina.key"
PASSFILE="$PEERS_DIR/gocryptfs.pass"
TENANT=bench

install_cleanup "$PEERS_DIR"

# ------------------------------------------------------------- helpers ----

generate_data() {
	data_is_current && return
	mkdir -p "$DATA_DIR"
	log "  ${BIG_LABEL} random file src.bin (the source of the sequential write)"
	dd if=/dev/urandom of="$SRC" bs=1M count="$BIG_MIB" status=none
	log "  untar tarball: $(fmt_count $UNTAR_NFILES) files (0-8 KiB) in $(fmt_count $UNTAR_DIRS) dirs"
	make_untar_tarball "$UNTAR_TARBALL" "$UNTAR_DIRS" "$UNTAR_FILES"
	sync
	printf '%s\n' "$DATA_STAMP" >"$DATA_DIR/stamp"
}

# One tenant and its key for the whole run, and the gocryptfs password.
setup_secrets() {
	mkdir -p "$PEERS_DIR"
	if ((${#CIPHERS[@]})); then
		(umask 077 && head -c 32 /dev/urandom >"$KEYFILE")
		"$LAMINA" --store "$STORE" tenant create "$TENANT" --key-file "$KEYFILE" >/dev/null ||
			die "lamina tenant create failed"
	fi
	if has_peer gocryptfs; then
		(umask 077 && head -c 24 /dev/urandom | base64 >"$PASSFILE")
	fi
}

peer_dir() { printf '%s' "$PEERS_DIR/$1"; }

# Sets WDIR: where the peer's files are read and written (its mount point,
# or for native the plain directory).
mount_peer() {
	local peer=$1 pd
	pd=$(peer_dir "$peer")
	if [[ $peer == native ]]; then
		WDIR=$pd/plain
		return
	fi
	WDIR=$pd/mnt
	mountpoint -q "$WDIR" && die "$WDIR is already mounted"
	case "$peer" in
	vault-*)
		"$LAMINAFS" -o "upperdir=$pd/backing,tenant=$TENANT,store=$STORE,keyfile=$KEYFILE,cipher=${peer#vault-}" \
			"$WDIR" >>"$pd/daemon.log" 2>&1 ||
			die "$peer: laminafs failed to mount (see $pd/daemon.log)"
		;;
	gocryptfs)
		"$GOCRYPTFS" -q -nosyslog -passfile "$PASSFILE" "$pd/backing" "$WDIR" >>"$pd/daemon.log" 2>&1 ||
			die "$peer: gocryptfs failed to mount (see $pd/daemon.log)"
		;;
	esac
	wait_fuse_mount "$peer" "$WDIR" "$pd/daemon.log"
}

umount_peer() {
	[[ $1 == native ]] && return 0
	unmount_one "$(peer_dir "$1")/mnt"
}

# Cold state: unmount (so the daemon and its caches go away), drop the
# kernel's page, dentry and inode caches, mount again.
cold_remount() {
	umount_peer "$1"
	drop_caches
	mount_peer "$1"
}

# An empty volume: a fresh backing directory (for gocryptfs, initialised).
fresh_peer() {
	local peer=$1 pd
	pd=$(peer_dir "$peer")
	umount_peer "$peer"
	rm -rf --one-file-system "$pd"
	mkdir -p "$pd"
	case "$peer" in
	native) mkdir -p "$pd/plain" ;;
	vault-*) mkdir -p "$pd/backing" "$pd/mnt" ;;
	gocryptfs)
		mkdir -p "$pd/backing" "$pd/mnt"
		"$GOCRYPTFS" -q -init -passfile "$PASSFILE" "$pd/backing" >>"$pd/daemon.log" 2>&1 ||
			die "gocryptfs -init failed (see $pd/daemon.log)"
		;;
	esac
}

# Flushes the peer's writes to disk: its mount (dirty pages of a FUSE file
# system go to the daemon), then the file system under BENCH_DIR, which holds
# every backing directory.  Unlike a plain `sync`, other file systems' dirty
# data (other users of the machine) are left alone.
sync_peer() {
	sync -f "$WDIR"
	sync -f "$BENCH_DIR"
}

# dd_read FILE: reads FILE with dd bs=1M; sets RES to MB/s.
dd_read() {
	local f=$1 t0 t1 out bytes
	t0=$(now)
	out=$(dd if="$f" of=/dev/null bs=1M 2>&1) || check_fail "$CUR_PEER: dd read of $f failed: $out"
	t1=$(now)
	bytes=$(printf '%s\n' "$out" | awk '/bytes/ { b = $1 } END { print b + 0 }')
	[[ $bytes -eq $BIG_BYTES ]] || check_fail "$CUR_PEER: dd read $bytes bytes of $f, expected $BIG_BYTES"
	RES=$(mb_per_s "$bytes" "$t0" "$t1")
}

# fio_rand RW FILE: 4 KiB random reads or writes on FILE, 1 job, psync,
# time based; sets RES to the IOPS (0 on failure).  Writes end with an fsync,
# which fio counts in the run time.
fio_rand() {
	local rw=$1 f=$2 field=8
	local args=(--name="$rw" --filename="${f//:/\\:}" --rw="$rw" --bs=4k --size="${BIG_MIB}m"
		--ioengine=psync --numjobs=1 --time_based --runtime="$FIO_RUNTIME" --invalidate=0
		--randrepeat=1 --fallocate=none)
	if [[ $rw == randread ]]; then args+=(--readonly); else args+=(--end_fsync=1); field=49; fi
	if ! fio_terse "${args[@]}"; then
		check_fail "$CUR_PEER: fio $rw failed: $FIO_ERR"
		RES=0
		return 0
	fi
	RES=$(fio_field "$field")
}

bench_peer_run() {
	local peer=$1 run=$2 t0 t1 n st size
	CUR_PEER=$peer
	log "run $run/$RUNS: $(peer_title "$peer")"
	fresh_peer "$peer"
	mount_peer "$peer"
	[[ $peer == vault-* ]] && log "  laminafs pid ${DAEMON_PID[$WDIR]:-?}"

	# 1. sequential write of the random source file, fsync at the end.  The
	#    source is in the page cache and pending writes are synced first.
	cat "$SRC" >/dev/null
	sync_peer
	t0=$(now)
	dd if="$SRC" of="$WDIR/big.bin" bs=1M conv=fsync status=none || die "$peer: dd write of $WDIR/big.bin failed"
	t1=$(now)
	record seq_write "$peer" "$(mb_per_s "$BIG_BYTES" "$t0" "$t1")"

	# 2. sequential read, cold (first read after remount + drop_caches),
	#    then warm (the second read, right after).
	cold_remount "$peer"
	dd_read "$WDIR/big.bin"
	record seq_cold "$peer" "$RES"
	dd_read "$WDIR/big.bin"
	record seq_warm "$peer" "$RES"
	cmp -s "$SRC" "$WDIR/big.bin" || check_fail "$peer: big.bin reads back different from what was written"

	# 3. random 4 KiB reads, warm: the file was just read three times
	#    through this mount, and fio runs with invalidate=0.
	fio_rand randread "$WDIR/big.bin"
	record rand_read "$peer" "$RES"

	# 4. random 4 KiB writes into the same file, fsync at the end.
	fio_rand randwrite "$WDIR/big.bin"
	record rand_write "$peer" "$RES"
	# The file must still read whole from disk (every block authenticates).
	cold_remount "$peer"
	size=$(stat -c %s "$WDIR/big.bin")
	[[ $size -eq $BIG_BYTES ]] || check_fail "$peer: big.bin is $size bytes after the random writes, expected $BIG_BYTES"
	n=$(dd if="$WDIR/big.bin" bs=1M 2>/dev/null | wc -c) || true
	[[ $n -eq $BIG_BYTES ]] || check_fail "$peer: after the random writes only $n of $BIG_BYTES bytes of big.bin could be read"

	# 5. untar of small files, then sync (tarball read into the page cache
	#    and pending writes synced before timing starts).
	cat "$UNTAR_TARBALL" >/dev/null
	mkdir -p "$WDIR/untar"
	sync_peer
	t0=$(now)
	tar xf "$UNTAR_TARBALL" -C "$WDIR/untar" || die "$peer: tar xf into $WDIR/untar failed"
	sync_peer
	t1=$(now)
	record untar "$peer" "$(elapsed "$t0" "$t1")"
	n=$(find "$WDIR/untar" -type f | wc -l)
	[[ $n -eq $UNTAR_NFILES ]] || check_fail "$peer: untar left $n files, expected $UNTAR_NFILES"
	st=0
	tar df "$UNTAR_TARBALL" -C "$WDIR/untar" >/dev/null 2>&1 || st=$?
	((st == 0)) || check_fail "$peer: the untarred files differ from the tarball (tar --compare status $st)"

	umount_peer "$peer"
	rm -rf --one-file-system "$(peer_dir "$peer")"
}

# --------------------------------------------------------------- main -----

START=$(now)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STAMP=$(date +%Y%m%d-%H%M%S)
log "lamina vault benchmark ($MODE): peers: ${PEERS[*]}; RUNS=$RUNS; BENCH_DIR=$BENCH_DIR"
((${#CIPHERS[@]})) && log "laminafs: $LAMINAFS; lamina: $LAMINA"
has_peer gocryptfs && log "gocryptfs: $GOCRYPTFS"

lock_bench_dir
setup_bench_fs
setup_uring
unmount_leftovers
rm -rf --one-file-system "$PEERS_DIR"
generate_data
setup_secrets

# Peers take turns; the order rotates each run so that no peer always comes
# right after the same neighbour.
NPEERS=${#PEERS[@]}
for ((run = 1; run <= RUNS; run++)); do
	for ((k = 0; k < NPEERS; k++)); do
		bench_peer_run "${PEERS[(k + run - 1) % NPEERS]}" "$run"
	done
done

# ------------------------------------------------------------- report -----

mkdir -p "$RESULTS_DIR"
CSV="$RESULTS_DIR/vault-$STAMP.csv"
MD="$RESULTS_DIR/vault-$STAMP.md"

values_csv >"$CSV"

# Columns: each vault cipher, gocryptfs, the ratio of each vault cipher to
# gocryptfs, the goal and whether it is met (one word per cipher), native.
WITH_RATIO=0
((${#CIPHERS[@]})) && has_peer gocryptfs && WITH_RATIO=1
GOALS_MET=0 GOALS_ALL=0
TABLE=$(
	h="| Measurement |" s="|---|"
	for c in "${CIPHERS[@]}"; do h+=" $(peer_title "vault-$c") |"; s+="---:|"; done
	has_peer gocryptfs && { h+=" gocryptfs |"; s+="---:|"; }
	if ((WITH_RATIO)); then
		met_hdr=""
		for c in "${CIPHERS[@]}"; do
			h+=" vault ${CIPHER_SHORT[$c]} / gocryptfs |"
			s+="---:|"
			met_hdr+="${met_hdr:+ / }${CIPHER_SHORT[$c]}"
		done
		h+=" goal (ratio) | goal met ($met_hdr) |"
		s+=":---:|:---:|"
	fi
	has_peer native && { h+=" native (reference) |"; s+="---:|"; }
	echo "$h"
	echo "$s"
	for m in "${METRICS[@]}"; do
		declare -A med=()
		for p in "${PEERS[@]}"; do
			read -r -a vals <<<"${VALUES["$m|$p"]:-}"
			med[$p]=$(median "${vals[@]}")
		done
		row="| ${M_LABEL[$m]} (${M_UNIT[$m]}, ${M_BETTER[$m]} is better) |"
		# shellcheck disable=SC2059 # the format comes from M_FMT
		for c in "${CIPHERS[@]}"; do row+=" $(printf "${M_FMT[$m]}" "${med[vault-$c]}") |"; done
		# shellcheck disable=SC2059
		has_peer gocryptfs && row+=" $(printf "${M_FMT[$m]}" "${med[gocryptfs]}") |"
		if ((WITH_RATIO)); then
			met=""
			for c in "${CIPHERS[@]}"; do
				r=$(ratio "${med[vault-$c]}" "${med[gocryptfs]}")
				row+=" $r |"
				if [[ -n ${M_GOAL[$m]} ]]; then
					met+="${met:+ / }$(goal_met "${M_GOAL[$m]}" "$r")"
				fi
			done
			if [[ -n ${M_GOAL[$m]} ]]; then
				goal=${M_GOAL[$m]/>=/≥}
				row+=" ${goal/<=/≤}x | $met |"
			else
				row+=" — | — |"
			fi
		fi
		# shellcheck disable=SC2059
		has_peer native && row+=" $(printf "${M_FMT[$m]}" "${med[native]}") |"
		echo "$row"
		unset med
	done
)
if ((WITH_RATIO)); then
	GOALS_ALL=$(grep -o -E 'pass|FAIL' <<<"$TABLE" | wc -l)
	GOALS_MET=$(grep -o -E 'pass' <<<"$TABLE" | wc -l)
fi

TOTAL=$(elapsed "$START" "$(now)")
{
	echo "# lamina vault benchmark, $MODE run, $STAMP"
	echo
	echo "Medians of $RUNS runs. Generated by \`benchmarks/vault.sh\` in $(printf '%.0f' "$TOTAL") s."
	echo
	echo "$TABLE"
	echo
	echo "Ratios are the vault's median divided by gocryptfs's: above 1 is better for"
	echo "the vault on MB/s and IOPS rows, below 1 is better on the seconds row."
	((WITH_RATIO)) && echo "Goals met: $GOALS_MET of $GOALS_ALL."
	echo
	host_lines
	((${#CIPHERS[@]})) && echo "- laminafs: $LAMINAFS ($(bin_version "$LAMINAFS")); vault volume: \`laminafs -o upperdir=B,tenant=T,store=S,keyfile=K,cipher=C MNT\`"
	has_peer gocryptfs && echo "- gocryptfs: $GOCRYPTFS ($("$GOCRYPTFS" -version 2>&1 | head -n1)); default options (\`-init\` and mount with \`-passfile\` only: AES-256-GCM)"
	echo "- fio: $(fio --version); random I/O: bs=4k psync, 1 job, time_based ${FIO_RUNTIME} s, invalidate=0, writes with end_fsync=1"
	echo "- data: $DATA_STAMP"
	check_failure_lines
} >"$MD"

echo "$TABLE"
((WITH_RATIO)) && log "goals met: $GOALS_MET of $GOALS_ALL"
log "done in $(printf '%.0f' "$TOTAL") s; results: $MD and $CSV"
if ((${#CHECK_FAILURES[@]})); then
	log "${#CHECK_FAILURES[@]} check(s) failed; see $MD"
	exit 1
fi
