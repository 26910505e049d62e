# benchmarks/lib.sh - shared parts of the benchmark scripts (run.sh, vault.sh,
# sealed.sh).
# Sourced, not run.  The sourcing script sets BENCH_NAME (for messages) and,
# before calling the scratch/mount helpers, BENCH_DIR, BENCH_FS, BENCH_IMG.
# shellcheck shell=bash disable=SC2034 # globals read by the sourcing script

BENCH_NAME=${BENCH_NAME:-bench}
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_SAVED=""
IMG_MOUNTED=0
BENCH_LOCKED=0
CHECK_FAILURES=()
declare -A DAEMON_PID=() # mountpoint -> FUSE daemon pid

# ---------------------------------------------------------------- logging --

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf '%s: error: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }
check_fail() {
	log "CHECK FAILED: $*"
	CHECK_FAILURES+=("$*")
}

# ------------------------------------------------------------ arithmetic --

now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
fmt_count() { printf '%d' "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }

median() { # median of the arguments
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print ""; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { # ratio A B -> A/B with 2 decimals, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

mb_per_s() { # mb_per_s BYTES T0 T1 -> MB/s (10^6 bytes per second)
	awk -v b="$1" -v a="$2" -v c="$3" 'BEGIN { printf "%.3f", b / (c - a) / 1e6 }'
}

bin_version() { # first lines of BIN --version, on one line
	{ timeout 5 "$1" --version 2>&1 </dev/null || true; } | grep -iv 'unknown argument' | head -n3 | paste -sd';' | sed 's/;/; /g'
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# --------------------------------------------------------------- options --

# bench_args ARGS...: the options every script takes (see their --help)
# into QUICK, FRESH_DATA, URING (on, or keep with --no-uring) and ONLY.
# An option of the script's own goes to its bench_arg ARG, when it defines
# one, which returns 1 for an option it does not know either.  --help
# prints the script's usage.
bench_args() {
	local arg
	QUICK=0 FRESH_DATA=0 URING=on ONLY=""
	for arg in "$@"; do
		case "$arg" in
		--quick) QUICK=1 ;;
		--fresh-data) FRESH_DATA=1 ;;
		--no-uring) URING=keep ;;
		--only=*) ONLY=${arg#--only=} ;;
		-h | --help) usage; exit 0 ;;
		*)
			if ! declare -F bench_arg >/dev/null || ! bench_arg "$arg"; then
				usage >&2
				die "unknown argument: $arg"
			fi
			;;
		esac
	done
}

# bench_runs DEFAULT: RUNS (runs per measurement) from the environment,
# else DEFAULT; dies unless it is a positive integer.
bench_runs() {
	RUNS=${RUNS:-$1}
	[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
}

# -------------------------------------------------------------- preflight --

[[ -n ${BASH_VERSION:-} ]] || { echo "lib.sh needs bash" >&2; return 1; }

MISSING=()
MISSING_HINTS=()
need() { # need CMD DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || { MISSING+=("$1"); MISSING_HINTS+=("$2"); }
}
need_report() { # dies listing what need() found missing, with the apt-get line
	((${#MISSING[@]})) || return 0
	die "missing tools: ${MISSING[*]}
  install them with:  apt-get install $(printf '%s\n' "${MISSING_HINTS[@]}" | sort -u | tr '\n' ' ')"
}

# need_root "$@": the scripts mount file systems and drop caches.
need_root() {
	[[ $EUID -eq 0 ]] || die "must run as root (it mounts file systems and writes /proc/sys/vm/drop_caches); try: sudo $0 $*"
	[[ -e /dev/fuse ]] || die "/dev/fuse is missing (modprobe fuse?)"
	[[ -w /proc/sys/vm/drop_caches ]] || die "/proc/sys/vm/drop_caches is not writable; cold measurements need it"
}

# Makes BENCH_DIR absolute and checks it can go into mount options.
check_bench_dir() {
	case "$BENCH_DIR" in
	/*) ;;
	*) BENCH_DIR="$PWD/$BENCH_DIR" ;;
	esac
	[[ $BENCH_DIR =~ ^[A-Za-z0-9._/+-]+$ ]] ||
		die "BENCH_DIR may only contain letters, digits and . _ / + - (it goes into mount options): '$BENCH_DIR'"
	BENCH_DIR=${BENCH_DIR%/}
	[[ -n $BENCH_DIR && $BENCH_DIR != / ]] || die "BENCH_DIR must not be /"
	[[ $BENCH_FS == image || $BENCH_FS == dir ]] || die "BENCH_FS must be image or dir (got '$BENCH_FS')"
}

# The laminafs binary: $LAMINAFS, else the repository's build, else PATH.
find_laminafs() { # find_laminafs REPO_ROOT HINT
	if [[ -n ${LAMINAFS:-} ]]; then
		if [[ $LAMINAFS == */* ]]; then
			[[ -x $LAMINAFS ]] || die "LAMINAFS=$LAMINAFS is not an executable file"
			LAMINAFS=$(cd -- "$(dirname -- "$LAMINAFS")" && pwd)/$(basename -- "$LAMINAFS")
		else
			LAMINAFS=$(command -v "$LAMINAFS" || true)
			[[ -n $LAMINAFS ]] || die "LAMINAFS: command not found"
		fi
	elif [[ -x $1/build/driver/laminafs ]]; then
		LAMINAFS=$1/build/driver/laminafs
	elif command -v laminafs >/dev/null 2>&1; then
		LAMINAFS=$(command -v laminafs)
	else
		die "laminafs not found: build it (scripts/build.sh build), set LAMINAFS=/path/to/laminafs$2"
	fi
}

# ------------------------------------------------------ mounts & cleanup --

# Mount points under BENCH_DIR that are currently mounted, deepest first.
mounts_under_bench() {
	awk -v pre="$BENCH_DIR/" 'index($2, pre) == 1 { print $2 }' /proc/mounts | sort -r
}

mnt_fstype() {
	awk -v m="$1" '$2 == m { t = $3 } END { print t }' /proc/mounts
}

# Waits until a FUSE daemon just started has MNT live, and remembers its pid.
wait_fuse_mount() { # wait_fuse_mount WHO MNT LOGFILE
	local i pid
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$2" && break
		sleep 0.1
	done
	mountpoint -q "$2" || die "$1: $2 did not become a mount point within 10 s (see $3)"
	pid=$(pgrep -f -- " ${2}\$" | head -n1 || true)
	if [[ -n $pid ]]; then DAEMON_PID[$2]=$pid; fi
}

# pid_alive PID: true while PID runs (a zombie, which `kill -0` still finds
# until its parent reaps it, is not running).
pid_alive() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	read -r st </proc/"$1"/stat 2>/dev/null || return 1
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}

# Unmount one mount point: FUSE with fusermount3 -u, anything else with
# umount, and umount -l if that fails.  Waits for a FUSE daemon to exit so the
# next mount of the same directories does not race with it.
unmount_one() {
	local mnt=$1 type pid i
	if mountpoint -q "$mnt"; then
		type=$(mnt_fstype "$mnt")
		if [[ $type == fuse* ]]; then
			fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || umount -l "$mnt" || true
		else
			umount "$mnt" 2>/dev/null || umount -l "$mnt" || true
		fi
	fi
	pid=${DAEMON_PID[$mnt]:-}
	if [[ -n $pid ]]; then
		for ((i = 0; i < 100; i++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
		pid_alive "$pid" && log "warning: daemon $pid for $mnt still running 10 s after unmount"
		unset 'DAEMON_PID[$mnt]'
	fi
	return 0
}

unmount_leftovers() { # mounts under BENCH_DIR left by a run killed hard
	local m
	for m in $(mounts_under_bench); do
		log "unmounting leftover mount $m"
		unmount_one "$m"
	done
}

# Holds a lock on BENCH_DIR for the life of the script, so that two benchmark
# runs never share (and unmount or delete) each other's scratch space.
lock_bench_dir() {
	exec {BENCH_LOCK_FD}>"$BENCH_DIR.lock" || die "cannot open $BENCH_DIR.lock"
	flock -n "$BENCH_LOCK_FD" || die "another benchmark is using $BENCH_DIR (lock $BENCH_DIR.lock)"
	BENCH_LOCKED=1
}

# BENCH_FS=image: mount the dedicated ext4 image on BENCH_DIR, making it the
# first time.  The inode tables and journal are written by mkfs, so no lazy
# initialisation runs in the background of the first measurements.
# BENCH_LOOP_DIO=1: the loop device reads the image with O_DIRECT.  A plain
# loop device reads its backing file through the host's page cache, with
# readahead: after drop_caches, 4 KiB random reads of a file then pull in
# 128 KiB or more of the image each, and a "cold" random read test ends up
# reading the file from memory (fio measured 170k IOPS cold on a 256 MiB file
# here, and 11k with O_DIRECT, the same as 4 KiB reads from the disk).
setup_bench_fs() {
	local dev
	mkdir -p "$BENCH_DIR"
	if [[ $BENCH_FS == image ]] && ! mountpoint -q "$BENCH_DIR"; then
		if [[ ! -f $BENCH_IMG ]]; then
			log "making the benchmark file system: ext4 in $BENCH_IMG ($BENCH_IMG_SIZE sparse)"
			truncate -s "$BENCH_IMG_SIZE" "$BENCH_IMG"
			mkfs.ext4 -q -F -L lamina-bench -E lazy_itable_init=0,lazy_journal_init=0 "$BENCH_IMG" ||
				{ rm -f "$BENCH_IMG"; die "mkfs.ext4 $BENCH_IMG failed"; }
		fi
		if ((${BENCH_LOOP_DIO:-0})); then
			dev=$(losetup --direct-io=on --find --show "$BENCH_IMG") || die "cannot attach $BENCH_IMG to a loop device"
			mount "$dev" "$BENCH_DIR" || { losetup -d "$dev"; die "cannot mount $BENCH_IMG ($dev) on $BENCH_DIR"; }
			# Detaching a mounted loop device frees it at the unmount.
			losetup -d "$dev" || true
		else
			mount -o loop "$BENCH_IMG" "$BENCH_DIR" || die "cannot mount $BENCH_IMG on $BENCH_DIR"
		fi
		IMG_MOUNTED=1
	fi
	BENCH_FSTYPE=$(stat -f -c %T "$BENCH_DIR")
	case "$BENCH_FSTYPE" in
	tmpfs | ramfs | overlayfs | overlay | fuseblk | fuse)
		log "warning: BENCH_DIR is on $BENCH_FSTYPE; cold numbers mean little there"
		;;
	esac
}

# URING=on: set fuse.enable_uring to Y for the run (cleanup_bench restores it).
setup_uring() {
	if [[ $URING == on ]]; then
		if [[ -w $URING_PARAM ]]; then
			URING_SAVED=$(cat "$URING_PARAM")
			echo Y >"$URING_PARAM"
		else
			log "note: this kernel has no FUSE over io_uring ($URING_PARAM); laminafs uses /dev/fuse"
		fi
	fi
	[[ -r $URING_PARAM ]] && log "fuse.enable_uring=$(cat "$URING_PARAM")"
	return 0
}

# cleanup_bench SCRATCH: unmount everything under BENCH_DIR, remove SCRATCH
# if nothing is left mounted, unmount the image, restore fuse.enable_uring.
# Does nothing unless this script holds the lock on BENCH_DIR: the mounts
# there are then another run's.
# install_cleanup SCRATCH: on exit, whatever the cause, cleanup_bench
# SCRATCH runs once and the exit status is kept; INT and TERM say so.
install_cleanup() {
	BENCH_SCRATCH=$1
	BENCH_CLEANED=0
	trap bench_on_exit EXIT
	trap 'log "interrupted"; exit 130' INT
	trap 'log "terminated"; exit 143' TERM
}

bench_on_exit() {
	local rc=$?
	((BENCH_CLEANED)) && return
	BENCH_CLEANED=1
	trap - INT TERM
	cleanup_bench "$BENCH_SCRATCH"
	exit "$rc"
}

# data_is_current: true (and says so) when $DATA_DIR holds data of
# $DATA_STAMP and --fresh-data was not given; else empties $DATA_DIR for
# new data and returns false.
data_is_current() {
	if [[ $FRESH_DATA -eq 0 && -f $DATA_DIR/stamp && $(<"$DATA_DIR/stamp") == "$DATA_STAMP" ]]; then
		log "reusing test data in $DATA_DIR (--fresh-data regenerates it)"
		return 0
	fi
	log "generating test data in $DATA_DIR"
	rm -rf --one-file-system "$DATA_DIR"
	return 1
}

cleanup_bench() {
	local scratch=$1 m
	((BENCH_LOCKED)) || return 0
	if [[ -d $BENCH_DIR ]]; then
		for m in $(mounts_under_bench); do
			log "cleanup: unmounting $m"
			unmount_one "$m"
		done
		# Anything still listed (e.g. a busy mount) gets a lazy unmount.
		for m in $(mounts_under_bench); do
			umount -l "$m" 2>/dev/null || true
		done
		if [[ -z $(mounts_under_bench) ]]; then
			rm -rf --one-file-system "$scratch"
		else
			log "warning: could not unmount everything under $BENCH_DIR; left $scratch in place"
		fi
	fi
	if ((IMG_MOUNTED)); then
		umount "$BENCH_DIR" 2>/dev/null || umount -l "$BENCH_DIR" || true
		IMG_MOUNTED=0
	fi
	if [[ -n $URING_SAVED ]]; then
		echo "$URING_SAVED" >"$URING_PARAM" 2>/dev/null || true
		URING_SAVED=""
	fi
}

# ------------------------------------------------------------ test data --

# Fills a variable named FILLER with 8 KiB of printable pseudo-random text.
make_filler() {
	local s="" i h
	RANDOM=4242
	while ((${#s} < 8192)); do
		for ((i = 0; i < 64; i++)); do
			printf -v h '%04x' $RANDOM
			s+=$h
		done
	done
	FILLER=${s:0:8192}
}

# gen_files DIR COUNT [MAX]: COUNT files named f000.. of 0-MAX bytes (default
# 8 KiB, at most 8 KiB; bash builtins only, no fork per file).  Uses the
# shell's seeded RANDOM, so output is repeatable.
gen_files() {
	local dir=$1 n=$2 max=${3:-8192} i size name
	mkdir -p "$dir"
	for ((i = 0; i < n; i++)); do
		size=$(((RANDOM * 32768 + RANDOM) % (max + 1)))
		printf -v name 'f%03d' "$i"
		printf '%s' "${FILLER:0:size}" >"$dir/$name"
	done
}

# gen_text FILE MIB SEED: exactly MIB MiB of text-like lines, the same for a
# SEED on every machine and awk (its own integer generator, not awk's
# rand()).  Each line joins two of 320 fixed word sequences with two random
# numbers: lz4 shrinks it about 2x in 64 KiB blocks, like text and program
# files, and no two 64 KiB stretches are alike, so a chunk store's
# deduplication finds nothing to share.
gen_text() {
	awk -v want="$(($2 * 1048576))" -v seed="$3" '
	function rnd(n) { s = (s * 48271) % 2147483647; return s % n }
	BEGIN {
		nv = split("the of and to in a is that for it as was with be by on not he this are " \
			"or his from at which but have an they you were her she there been one all we " \
			"their has would when if so no out its more into time other only some could them " \
			"these two may then first any like now my over such our man me even most made " \
			"after also did many before must through back years where much your way well down " \
			"should because each just those people how too little state good very make world " \
			"still own see men work long here get both between life being under never day same " \
			"another know while last might us great old year off come since against go came " \
			"right used take three", V, " ")
		s = seed % 2147483646 + 1
		for (p = 0; p < 320; p++) {
			w = 3 + rnd(6)
			line = V[1 + rnd(nv)]
			for (i = 1; i < w; i++) line = line " " V[1 + rnd(nv)]
			P[p] = line
		}
		for (n = 0; n < want; n += length(line) + 1) {
			line = P[rnd(320)] " " rnd(1000000) " " P[rnd(320)] " " rnd(65536)
			if (n + length(line) + 1 > want) {
				printf "%s", substr(line "\n", 1, want - n)
				break
			}
			print line
		}
	}' >"$1"
}

# make_untar_tarball TARBALL DIRS FILES: DIRS directories (25 to a parent) of
# FILES small files (0-8 KiB) each, from a fixed seed: the same tarball on
# every machine and for every script.
make_untar_tarball() {
	local tarball=$1 dirs=$2 files=$3 d stage
	stage=$(dirname -- "$tarball")/untar-stage
	[[ -n ${FILLER:-} ]] || make_filler
	rm -rf "$stage"
	RANDOM=2
	for ((d = 0; d < dirs; d++)); do
		gen_files "$stage/x$((d / 25))/y$d" "$files"
	done
	tar cf "$tarball" -C "$stage" .
	rm -rf "$stage"
}

# --------------------------------------------------------- mounts, procs --

# mounted_now MNT: true when MNT is in the mount table, without a fork (for
# polling a mount that is about to go live, where a fork per look would blur
# a time of a few milliseconds).  BENCH_DIR paths hold no characters that
# /proc/mounts escapes.
mounted_now() {
	local _dev m _rest
	while read -r _dev m _rest; do
		[[ $m == "$1" ]] && return 0
	done </proc/mounts
	return 1
}

# guarded SECS CMD...: runs CMD; when it is still running after SECS seconds,
# SIGKILLs the FUSE daemon GUARD_PID (if set), which fails every request
# waiting on it, so a daemon that hangs (a reader that never answers) costs
# SECS seconds and a check failure instead of the whole run.  Returns CMD's
# status, or 1 after a check failure when the daemon is gone (killed here,
# or crashed); GUARD_TRIPPED is then 1 until the next mount resets it.
GUARD_TRIPPED=0
guarded() {
	local secs=$1 pid=${GUARD_PID:-} wd st=0
	shift
	if [[ -z $pid ]]; then
		"$@"
		return
	fi
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$secs" &
		s=$!
		wait "$s"
		log "watchdog: '$*' still running after $secs s; killing daemon $pid"
		kill -KILL "$pid" 2>/dev/null
	) >/dev/null &
	wd=$!
	"$@" || st=$?
	kill "$wd" 2>/dev/null || true
	wait "$wd" 2>/dev/null || true
	if ! pid_alive "$pid"; then
		check_fail "${CUR_PEER:-?}: the daemon (pid $pid) died or hung during '$*'"
		GUARD_PID=""
		GUARD_TRIPPED=1
		return 1
	fi
	return "$st"
}

# proc_status_kib PID FIELD: FIELD (VmHWM, VmRSS...) of /proc/PID/status in
# KiB, or empty when the process is gone.
proc_status_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# --------------------------------------------------------------- fio -----

# fio_terse FIO-ARGS...: runs fio with terse v3 output.  Sets FIO_LINE to the
# job line (fields split on ';'), or fails with FIO_ERR set.
fio_terse() {
	local out
	FIO_LINE="" FIO_ERR=""
	if ! out=$(fio "$@" --output-format=terse --terse-version=3 2>&1); then
		FIO_ERR=$out
		return 1
	fi
	FIO_LINE=$(printf '%s\n' "$out" | grep '^3;' | tail -n1)
	[[ -n $FIO_LINE ]] || { FIO_ERR="no terse output: $out"; return 1; }
	local err
	err=$(printf '%s' "$FIO_LINE" | cut -d';' -f5)
	[[ $err == 0 ]] || { FIO_ERR="fio reported error '$err'"; return 1; }
}

# fio_field N: field N of FIO_LINE (terse v3: 8 = read IOPS, 49 = write IOPS).
fio_field() { printf '%s' "$FIO_LINE" | cut -d';' -f"$1"; }

# --------------------------------------------------------------- report --

# record METRIC PEER VALUE: one run's value, into VALUES["METRIC|PEER"]
# (space separated), and a progress line with the metric's M_LABEL, M_FMT
# and M_UNIT.
record() {
	VALUES["$1|$2"]+="${VALUES["$1|$2"]:+ }$3"
	# shellcheck disable=SC2059 # the format comes from M_FMT
	log "    ${M_LABEL[$1]}: $(printf "${M_FMT[$1]}" "$3") ${M_UNIT[$1]}"
}

# med METRIC PEER: the median of the recorded values, empty when none.
med() {
	local -a vals
	read -r -a vals <<<"${VALUES["$1|$2"]:-}"
	((${#vals[@]})) || return 0
	median "${vals[@]}"
}

# values_csv: the CSV of every recorded value, one line per METRICS x PEERS
# pair that has values: metric,label,unit,better,peer,median,run1,...,runN.
values_csv() {
	local m p v line hdr r
	local -a vals
	hdr="metric,label,unit,better,peer,median"
	for ((r = 1; r <= RUNS; r++)); do hdr+=",run$r"; done
	echo "$hdr"
	for m in "${METRICS[@]}"; do
		for p in "${PEERS[@]}"; do
			read -r -a vals <<<"${VALUES["$m|$p"]:-}"
			((${#vals[@]})) || continue
			line="$m,\"${M_LABEL[$m]}\",${M_UNIT[$m]},${M_BETTER[$m]},$p,$(median "${vals[@]}")"
			for v in "${vals[@]}"; do line+=",$v"; done
			echo "$line"
		done
	done
}

# goal_met GOAL VALUE -> pass, FAIL or n/a.  GOAL is "OP TARGET" with OP one
# of >= <= > <; VALUE a ratio or a measurement, or n/a / empty.
goal_met() {
	awk -v g="$1" -v r="$2" 'BEGIN {
		if (r == "n/a" || r == "" || g == "") { print "n/a"; exit }
		split(g, a, " ")
		if (a[1] == ">=") ok = r + 0 >= a[2] + 0
		else if (a[1] == "<=") ok = r + 0 <= a[2] + 0
		else if (a[1] == ">") ok = r + 0 > a[2] + 0
		else ok = r + 0 < a[2] + 0
		print ok ? "pass" : "FAIL" }'
}

host_lines() { # the host / load lines of a result file
	echo "- host: $(uname -srm), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
	echo "- load average (1/5/15 min) at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- BENCH_DIR: $BENCH_DIR ($BENCH_FSTYPE$( ((IMG_MOUNTED)) && echo ", dedicated image $BENCH_IMG"))"
	[[ -r $URING_PARAM ]] && echo "- fuse.enable_uring: $(cat "$URING_PARAM") (laminafs serves from io_uring queues when Y)"
	return 0
}

check_failure_lines() {
	((${#CHECK_FAILURES[@]})) || return 0
	echo
	echo "## Check failures"
	echo
	printf -- '- %s\n' "${CHECK_FAILURES[@]}"
}
