# shellcheck shell=bash
# Shared helpers for the laminafs integration tests.  Source it first thing:
#
#   . "$(dirname "$0")/lib.sh"
#
# Contract of every test script: exit 0 pass, 1 fail (with the differences
# printed), 77 skip (only when not root or /dev/fuse is missing).  The binary
# under test comes from $LAMINAFS; it takes fuse-overlayfs's argv, so
# LAMINAFS=/usr/bin/fuse-overlayfs runs the suite against the reference.
#
# Kernel overlayfs is the behavioural oracle.  A comparison test builds its
# layers once under $T/src and then gives each side its OWN copy (cp -a):
# laminafs gets $T/fs/{l1,l2,...,upper,work,mnt}, the kernel gets
# $T/ko/{...}; they never share an upper or a work dir.
#
# Nothing may outlive a test: every mount is recorded, and an EXIT/INT/TERM
# trap unmounts everything under $T (fusermount3 -u, umount, umount -l as a
# last resort), ends the daemons it started and removes $T.  A watchdog
# tears the mounts down if the whole test runs longer than LM_TEST_TIMEOUT,
# so a hung daemon cannot hang the suite (CTest's own TIMEOUT kills with
# SIGKILL, which would skip the trap).

. "$(dirname "${BASH_SOURCE[0]}")/check.sh"

LM_TEST_TIMEOUT=${LM_TEST_TIMEOUT:-240}
LM_MOUNTS=()     # every mountpoint we mounted, in order
LM_DAEMONS=()    # pids of laminafs processes we know of
LM_WATCHDOG=
T=

# lm_t SECONDS CMD... — run CMD with a time limit (SIGTERM, then SIGKILL 5 s
# later); returns 124 on timeout and says so.
lm_t() {
	local secs=$1 rc
	shift
	timeout -k 5 "$secs" "$@"
	rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		printf '[%s] TIMEOUT after %ss: %s\n' "$LM_NAME" "$secs" "$*" >&2
	fi
	return "$rc"
}

# Print the fstype of the topmost mount on path $1, nothing when none.
lm_fstype_at() {
	awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); break } }
		END { if (t != "") print t }' /proc/self/mountinfo
}

lm_is_fuse_mount() {
	case "$(lm_fstype_at "$1")" in
	fuse | fuse.*) return 0 ;;
	*) return 1 ;;
	esac
}

# Mountpoints under $T, deepest first.
lm_mounts_under_T() {
	[ -n "$T" ] || return 0
	awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo |
		awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

# Pids of laminafs processes whose argv holds the mountpoint $1.  The
# mountpoint lives in this test's private temp dir, so these can only be
# processes this test started.
lm_daemon_pids() {
	local mnt=$1 p exe want
	want=$(readlink -f "$LAMINAFS")
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[ "$exe" = "$want" ] || continue
		if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -Fxq -- "$mnt"; then
			echo "${p#/proc/}"
		fi
	done
}

lm_pid_alive() {
	[ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# Wait up to $2 seconds (default 10) for every pid in $1 (space separated)
# to be gone.
lm_wait_pids_gone() {
	local pids=$1 n=$((${2:-10} * 10)) p alive
	while [ "$n" -gt 0 ]; do
		alive=
		for p in $pids; do lm_pid_alive "$p" && alive=1; done
		[ -z "$alive" ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# Abort the FUSE connection behind mountpoint $1 so that every process
# blocked on it gets ENOTCONN at once.
# The fusectl filesystem is often not mounted at /sys/fs/fuse/connections
# (containers); then it is mounted privately under $T, where the teardown
# unmounts it like everything else.
lm_fuse_abort() {
	local dev ctl=/sys/fs/fuse/connections
	dev=$(awk -v m="$1" '$5 == m { d = $3 } END { print d }' /proc/self/mountinfo)
	[ -n "$dev" ] || return 0
	dev=${dev#0:}
	if [ ! -e "$ctl/$dev/abort" ]; then
		ctl=$T/.fusectl
		if [ -z "$(lm_fstype_at "$ctl")" ]; then
			mkdir -p "$ctl"
			mount -t fusectl fusectl "$ctl" 2>/dev/null || return 0
		fi
	fi
	[ -w "$ctl/$dev/abort" ] && echo 1 >"$ctl/$dev/abort" 2>/dev/null
	return 0
}

# Descendant pids of $1 (children first found, recursively).
lm_descendants() {
	local p stat rest ppid kids=()
	for p in /proc/[0-9]*; do
		stat=$(cat "$p/stat" 2>/dev/null) || continue
		rest=${stat##*) }
		ppid=$(echo "$rest" | cut -d' ' -f2)
		[ "$ppid" = "$1" ] && kids+=("${p#/proc/}")
	done
	for p in "${kids[@]}"; do
		echo "$p"
		lm_descendants "$p"
	done
}

# Unmount one mountpoint, whatever it is; returns 0 when it is gone.
lm_unmount_one() {
	local m=$1 tries=0
	while [ -n "$(lm_fstype_at "$m")" ] && [ "$tries" -lt 20 ]; do
		if lm_is_fuse_mount "$m"; then
			timeout -k 2 10 fusermount3 -u "$m" 2>/dev/null ||
				timeout -k 2 10 umount "$m" 2>/dev/null
		else
			timeout -k 2 10 umount "$m" 2>/dev/null
		fi
		tries=$((tries + 1))
		[ -n "$(lm_fstype_at "$m")" ] && sleep 0.1
		if [ "$tries" -ge 5 ] && [ -n "$(lm_fstype_at "$m")" ]; then
			lm_is_fuse_mount "$m" && lm_fuse_abort "$m"
			umount -l "$m" 2>/dev/null
		fi
	done
	[ -z "$(lm_fstype_at "$m")" ]
}

# Unmount everything under $T, end our daemons.  Used by the EXIT trap and
# by the watchdog; safe to call twice.
lm_teardown() {
	local m pids p
	pids="${LM_DAEMONS[*]:-}"
	for m in "${LM_MOUNTS[@]:-}"; do
		[ -n "$m" ] && pids="$pids $(lm_daemon_pids "$m" | tr '\n' ' ')"
	done
	# Registered mounts in reverse order, then anything else under $T.
	local i
	for ((i = ${#LM_MOUNTS[@]} - 1; i >= 0; i--)); do
		lm_unmount_one "${LM_MOUNTS[$i]}" ||
			printf '[%s] could not unmount %s\n' "$LM_NAME" "${LM_MOUNTS[$i]}" >&2
	done
	for m in $(lm_mounts_under_T); do
		lm_unmount_one "$m" ||
			printf '[%s] could not unmount %s\n' "$LM_NAME" "$m" >&2
	done
	# The daemons exit by themselves once unmounted; end stragglers.
	if ! lm_wait_pids_gone "$pids" 5; then
		for p in $pids; do
			lm_pid_alive "$p" && kill -TERM "$p" 2>/dev/null && kill -CONT "$p" 2>/dev/null
		done
		if ! lm_wait_pids_gone "$pids" 3; then
			for p in $pids; do lm_pid_alive "$p" && kill -KILL "$p" 2>/dev/null; done
		fi
	fi
}

lm_cleanup() {
	local rc=$?
	trap - EXIT
	trap '' INT TERM
	cd / || true
	if [ -n "$LM_WATCHDOG" ]; then
		kill -TERM "$LM_WATCHDOG" 2>/dev/null
		wait "$LM_WATCHDOG" 2>/dev/null
	fi
	# Background jobs of the test (workers, foreground daemons).
	local j
	for j in $(jobs -p); do kill -TERM "$j" 2>/dev/null; done
	lm_teardown
	for j in $(jobs -p); do kill -KILL "$j" 2>/dev/null; done
	wait 2>/dev/null
	# A sanitizer build of the daemon writes its reports (memory errors,
	# leaks at exit) here: the daemon's own stderr is closed.
	if [ -n "$T" ] && compgen -G "$T/sanitizer.*" >/dev/null; then
		printf '[%s] FAIL: sanitizer reports from the daemon:\n' "$LM_NAME"
		cat "$T"/sanitizer.*
		rc=1
	fi
	if [ -n "$T" ] && [ -e "$T/.watchdog-fired" ]; then
		printf '[%s] FAIL: timed out after %ss (hung mount or daemon?)\n' "$LM_NAME" "$LM_TEST_TIMEOUT"
		rc=1
	fi
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ -n "$(lm_mounts_under_T)" ]; then
			printf '[%s] NOT removing %s: still mounted:\n%s\n' "$LM_NAME" "$T" \
				"$(lm_mounts_under_T)" >&2
			rc=1
		elif [ -n "${LM_KEEP:-}" ]; then
			printf '[%s] LM_KEEP set, kept %s\n' "$LM_NAME" "$T" >&2
		else
			rm -rf --one-file-system "$T"
		fi
	fi
	exit "$rc"
}

lm_watchdog() {
	local main=$1 spid
	trap - EXIT INT TERM
	sleep "$LM_TEST_TIMEOUT" &
	spid=$!
	trap 'kill $spid 2>/dev/null; exit 0' TERM
	wait "$spid" || exit 0
	printf '[%s] WATCHDOG: test ran longer than %ss, tearing mounts down\n' \
		"$LM_NAME" "$LM_TEST_TIMEOUT" >&2
	local m p
	: >"$T/.watchdog-fired"
	kill -TERM "$main" 2>/dev/null
	for m in $(lm_mounts_under_T); do
		lm_is_fuse_mount "$m" && lm_fuse_abort "$m"
	done
	for m in $(lm_mounts_under_T); do
		umount -l "$m" 2>/dev/null
	done
	# Whatever the test runs in the foreground may sit in a FUSE request
	# that never gets an answer; SIGKILL ends such a wait.
	for p in $(lm_descendants "$main"); do
		[ "$p" = "$BASHPID" ] && continue
		grep -qx "$p" <<<"$(lm_descendants "$BASHPID"; echo "$BASHPID")" && continue
		kill -KILL "$p" 2>/dev/null
	done
	exit 0
}

lm_init() {
	if [ "$(id -u)" -ne 0 ]; then
		lm_skip "needs root (kernel overlayfs oracle, mknod, trusted.* xattrs)"
	fi
	if [ ! -c /dev/fuse ]; then
		lm_skip "/dev/fuse is missing: cannot mount FUSE filesystems here"
	fi
	[ -n "${LAMINAFS:-}" ] || lm_die "LAMINAFS is not set (path to the laminafs binary)"
	[ -x "$LAMINAFS" ] || lm_die "LAMINAFS=$LAMINAFS is not an executable file"
	LAMINAFS=$(readlink -f "$LAMINAFS")
	local tool
	for tool in fusermount3 mount.fuse3 "$PY" timeout setfattr getfattr fallocate unshare; do
		command -v "$tool" >/dev/null || lm_die "$tool not found (packages: fuse3, python3, attr, util-linux, coreutils)"
	done
	T=$(mktemp -d "${TMPDIR:-/tmp}/lamina-it.$LM_NAME.XXXXXX") || lm_die "mktemp failed"
	T=$(readlink -f "$T")
	chmod 755 "$T"
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/sanitizer"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/sanitizer"
	trap lm_cleanup EXIT
	trap 'printf "[%s] interrupted\n" "$LM_NAME" >&2; exit 130' INT
	trap 'printf "[%s] terminated\n" "$LM_NAME" >&2; exit 143' TERM
	lm_watchdog $$ &
	LM_WATCHDOG=$!
	lm_log "binary under test: $LAMINAFS; temp dir: $T"
}

# lm_mount MNT OPTS [ARGS...] — mount laminafs in daemon mode; returns only
# when MNT is a live FUSE mount.  Extra ARGS go before the mountpoint.  The
# array LM_MOUNT_WRAP, when set, is a command prefix for the daemon (it
# must exec it, e.g. bash -c 'ulimit -n 2048; exec "$@"' wrap).
# Returns non-zero (and says why) when the daemon fails or never mounts.
lm_mount() {
	local mnt=$1 opts=$2 rc n
	shift 2
	mkdir -p "$mnt"
	LM_MOUNTS+=("$mnt")
	lm_t 30 ${LM_MOUNT_WRAP[@]+"${LM_MOUNT_WRAP[@]}"} "$LAMINAFS" -o "$opts" "$@" "$mnt" </dev/null
	rc=$?
	if [ "$rc" -ne 0 ]; then
		lm_log "laminafs -o $opts $* $mnt exited with $rc"
		return 1
	fi
	n=100
	while ! lm_is_fuse_mount "$mnt"; do
		n=$((n - 1))
		if [ "$n" -le 0 ]; then
			lm_log "$mnt is not a FUSE mount 10 s after laminafs returned"
			return 1
		fi
		sleep 0.1
	done
	local p
	for p in $(lm_daemon_pids "$mnt"); do LM_DAEMONS+=("$p"); done
	return 0
}

# lm_kmount MNT OPTS — mount kernel overlayfs (the oracle).  A read-only
# merge of one lower gets an empty second lower: the kernel wants two.
lm_kmount() {
	local mnt=$1 opts=$2
	mkdir -p "$mnt"
	case ",$opts," in
	*,upperdir=*) ;;
	*)
		case "$opts" in
		*lowerdir=*:*) ;;
		*)
			mkdir -p "$mnt.empty-lower"
			opts="$opts:$mnt.empty-lower"
			;;
		esac
		;;
	esac
	# Pin the options whose kernel defaults vary between builds: no
	# redirect_dir (so renaming a lower directory is EXDEV, as in
	# fuse-overlayfs), no metacopy, no xino; index per LM_KINDEX.
	opts="$opts,redirect_dir=off,metacopy=off,xino=off,index=${LM_KINDEX:-off}"
	LM_MOUNTS+=("$mnt")
	lm_t 30 mount -t overlay overlay -o "$opts" "$mnt" ||
		{
			lm_log "mount -t overlay -o $opts $mnt failed"
			return 1
		}
}

# lm_alive MNT LABEL — fail (and return 1) when the FUSE daemon behind MNT
# has died or hung: the mount then answers ENOTCONN/ECONNABORTED or nothing.
lm_alive() {
	local err
	# opendir always reaches the daemon (stat may be served from cache).
	if ! err=$(lm_t 20 ls -a "$1" 2>&1 >/dev/null); then
		lm_fail "$2: the laminafs mount $1 no longer answers ($err): daemon crashed or hung"
		return 1
	fi
	return 0
}

# lm_umount MNT — unmount and wait for the daemon (if any) to exit, so its
# writes are complete before the test looks at the layers.
lm_umount() {
	local mnt=$1 pids
	pids=$(lm_daemon_pids "$mnt" | tr '\n' ' ')
	lm_unmount_one "$mnt" || {
		lm_fail "could not unmount $mnt"
		return 1
	}
	lm_wait_pids_gone "$pids" 10 || lm_fail "daemon(s) $pids still running 10 s after unmounting $mnt"
	return 0
}

# Kernel overlayfs does not read the `.wh.NAME` / `.wh..wh..opq` spelling
# nor user.overlay.opaque (without userxattr): rewrite tree $1 in place into
# char-device-0/0 whiteouts and trusted.overlay.opaque=y, which means the
# same thing to it.
lm_kernel_spelling() {
	"$PY" - "$1" <<'EOF'
import os, sys
root = sys.argv[1]
for d, dirs, files in os.walk(root):
    for n in list(files) + list(dirs):
        p = os.path.join(d, n)
        if n == '.wh..wh..opq':
            os.unlink(p)
            os.setxattr(d, 'trusted.overlay.opaque', b'y')
        elif n.startswith('.wh.'):
            os.unlink(p)
            os.mknod(os.path.join(d, n[4:]), 0o20000 | 0o644, os.makedev(0, 0))
    for n in [d] + [os.path.join(d, x) for x in dirs]:
        try:
            v = os.getxattr(n, 'user.overlay.opaque', follow_symlinks=False)
        except OSError:
            continue
        os.removexattr(n, 'user.overlay.opaque', follow_symlinks=False)
        os.setxattr(n, 'trusted.overlay.opaque', v, follow_symlinks=False)
EOF
}

# lm_pair_mount LOWERS [upper] [kspell]
#   LOWERS: colon list of names under $T/src, top first (e.g. "l1:l2");
#           the kernel side gets a copy, laminafs the original (moved out
#           of $T/src); both are reused on a remount.
#   upper:  also give both a fresh upper (copied from $T/src/upper if
#           present) and a fresh work dir.
#   kspell: convert the kernel's copy with lm_kernel_spelling.
# Sets FSM/KOM (merged mounts), FSU/KOU (uppers), FS/KO (side roots).
lm_pair_mount() {
	local lowers=$1 upper=${2:-} kspell=${3:-} side l lopt opts
	FS=$T/fs KO=$T/ko
	for side in "$KO" "$FS"; do
		mkdir -p "$side"
		lopt=
		for l in ${lowers//:/ }; do
			# Lowers never change under a mount: a copy made for an
			# earlier mount of this test is reused.  The kernel gets a
			# copy, laminafs the original (moved: big trees are slow to
			# copy), so $T/src/LOWER is gone afterwards: use $FS/LOWER.
			if [ ! -d "$side/$l" ]; then
				if [ "$side" = "$FS" ]; then
					mv "$T/src/$l" "$side/$l" || lm_die "mv $l failed"
				else
					cp -a "$T/src/$l" "$side/$l" || lm_die "cp -a $l failed"
				fi
			fi
			lopt="$lopt${lopt:+:}$side/$l"
		done
		opts="lowerdir=$lopt"
		if [ "$side" = "$KO" ]; then LM_KO_LOWERS=${lopt//:/ }; else LM_FS_LOWERS=${lopt//:/ }; fi
		if [ "$upper" = upper ]; then
			rm -rf "$side/upper" "$side/work"
			if [ -d "$T/src/upper" ]; then
				cp -a "$T/src/upper" "$side/upper" || lm_die "cp -a upper failed"
			else
				mkdir "$side/upper"
			fi
			mkdir "$side/work"
			opts="$opts,upperdir=$side/upper,workdir=$side/work"
		fi
		if [ "$side" = "$KO" ]; then
			if [ "$kspell" = kspell ]; then
				for l in ${lowers//:/ }; do lm_kernel_spelling "$side/$l"; done
				[ -d "$side/upper" ] && lm_kernel_spelling "$side/upper"
			fi
			lm_kmount "$side/mnt" "$opts" || lm_die "kernel overlay mount failed"
		else
			lm_mount "$side/mnt" "$opts" || lm_die "laminafs mount failed"
		fi
	done
	FSM=$FS/mnt KOM=$KO/mnt FSU=$FS/upper KOU=$KO/upper
}

lm_pair_umount() {
	lm_umount "$FSM"
	lm_umount "$KOM"
}

# Canonical listing of a tree, one line per entry, sorted by path:
#   path type mode uid gid [size nlink] [-> target | sha256 | rdev] [xattrs]
# Directory sizes and nlinks are left out (they differ legitimately).
# Mode "merged" (default) lists user.* xattrs; mode "upper" normalises an
# upper dir: whiteouts (char 0/0 or .wh.NAME) print as "whiteout", opaque
# dirs (any spelling) get "opaque", overlay-private xattrs are dropped.
# An entry that cannot be read prints "ERROR <errno>".
LM_SNAP_PY=$(
	cat <<'EOF'
import os, sys, stat, hashlib, errno
mode, root = sys.argv[1], sys.argv[2]
nonlink = 'nonlink' in sys.argv[3:]
lowers = [os.fsencode(a) for a in sys.argv[3:] if a != 'nonlink']
out = []
def _is_wh(p):
    try:
        st = os.lstat(p)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
def _opaque_dir(p):
    if os.path.lexists(os.path.join(p, b'.wh..wh..opq')):
        return True
    for n in ('trusted.overlay.opaque', 'user.overlay.opaque'):
        try:
            if os.getxattr(p, n, follow_symlinks=False) == b'y':
                return True
        except OSError:
            pass
    return False
def _visible_dirs(comps):
    # The lower dirs that make up merged directory comps (top first),
    # honouring whiteouts, opaque dirs and non-directories in the way.
    cand = list(lowers)
    for c in comps:
        nxt = []
        for parent in cand:
            p = os.path.join(parent, c)
            if os.path.lexists(os.path.join(parent, b'.wh.' + c)) or _is_wh(p):
                break
            if not os.path.lexists(p):
                continue
            if not os.path.isdir(p) or os.path.islink(p):
                break
            nxt.append(p)
            if _opaque_dir(p):
                break
        cand = nxt
        if not cand:
            break
    return cand
def in_lowers(rel, want_dir_entries=False):
    # Would the merged stack of lower layers show something at rel?  With
    # want_dir_entries: a directory with at least one visible entry.
    comps = [c for c in rel.split(b'/') if c]
    if want_dir_entries:
        hidden, seen = set(), set()
        for d in _visible_dirs(comps):
            for n in os.listdir(d):
                if n == b'.wh..wh..opq':
                    continue
                if n.startswith(b'.wh.'):
                    hidden.add(n[4:]); continue
                if n in hidden or n in seen:
                    continue
                if _is_wh(os.path.join(d, n)):
                    hidden.add(n); continue
                seen.add(n)
            if _opaque_dir(d):
                break
        return bool(seen)
    if not comps:
        return True
    for d in _visible_dirs(comps[:-1]) if len(comps) > 1 else list(lowers):
        p = os.path.join(d, comps[-1])
        if os.path.lexists(os.path.join(d, b'.wh.' + comps[-1])) or _is_wh(p):
            return False
        if os.path.lexists(p):
            return True
        if _opaque_dir(d):
            return False
    return False
def lower_file(rel):
    # The lower file the merged stack shows at rel, or None.
    comps = [c for c in rel.split(b'/') if c]
    if not comps:
        return None
    for d in _visible_dirs(comps[:-1]) if len(comps) > 1 else list(lowers):
        p = os.path.join(d, comps[-1])
        if os.path.lexists(os.path.join(d, b'.wh.' + comps[-1])) or _is_wh(p):
            return None
        if os.path.lexists(p):
            return p
        if _opaque_dir(d):
            return None
    return None
def same_as_lower(p, rel, st):
    # An upper regular file identical to the lower one it covers (the
    # kernel may keep such a copy in its index instead): not a change.
    lp = lower_file(rel[2:])
    if lp is None:
        return False
    lst = os.lstat(lp)
    if not stat.S_ISREG(lst.st_mode) or (lst.st_mode, lst.st_uid, lst.st_gid, lst.st_size) != \
            (st.st_mode, st.st_uid, st.st_gid, st.st_size):
        return False
    with open(p, 'rb') as a, open(lp, 'rb') as b:
        if a.read() != b.read():
            return False
    return xattrs(p) == xattrs(lp)
PRIV = ('user.overlay.', 'user.fuseoverlayfs.', 'user.containers.')
def q(b):
    return ''.join(chr(c) if 0x21 <= c < 0x7f and c != 0x5c else '\\x%02x' % c for c in b)
def xattrs(p):
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError as e:
        return ['xattr-ERROR:' + errno.errorcode.get(e.errno, str(e.errno))]
    r = []
    for n in sorted(names):
        if not n.startswith('user.'):
            continue
        if mode == 'upper' and n.startswith(PRIV):
            continue
        try:
            v = os.getxattr(p, n, follow_symlinks=False)
        except OSError as e:
            v = b'ERROR:' + errno.errorcode.get(e.errno, '?').encode()
        r.append('x:%s=%s' % (n, q(v)))
    return r
def add_whiteout(rel):
    # A whiteout that hides nothing (a `.wh.*` marker name, or a name no
    # lower layer has) is an implementation detail; leave it out when the
    # lowers are known.
    if os.path.basename(rel).startswith(b'.wh.'):
        return
    if lowers and not in_lowers(rel[2:]):
        return
    out.append((rel, 'whiteout'))
def opaque(p, names, rel):
    if mode != 'upper':
        return False
    # Likewise an opaque mark over nothing.
    if lowers and not in_lowers(rel[2:], True):
        return False
    if b'.wh..wh..opq' in names:
        return True
    for n in ('trusted.overlay.opaque', 'user.overlay.opaque'):
        try:
            if os.getxattr(p, n, follow_symlinks=False) == b'y':
                return True
        except OSError:
            pass
    return False
def entry(p, rel):
    try:
        st = os.lstat(p)
    except OSError as e:
        out.append((rel, 'ERROR ' + errno.errorcode.get(e.errno, str(e.errno))))
        return None
    m = st.st_mode
    t = {stat.S_IFREG: 'f', stat.S_IFDIR: 'd', stat.S_IFLNK: 'l', stat.S_IFCHR: 'c',
         stat.S_IFBLK: 'b', stat.S_IFIFO: 'p', stat.S_IFSOCK: 's'}.get(stat.S_IFMT(m), '?')
    if mode == 'upper' and t == 'c' and st.st_rdev == 0:
        add_whiteout(rel)
        return None
    if mode == 'upper' and t == 'f' and lowers and same_as_lower(p, rel, st):
        return None
    f = [t, '%04o' % stat.S_IMODE(m), str(st.st_uid), str(st.st_gid)]
    if t != 'd':
        f.append('size=%d' % st.st_size)
        if not nonlink:
            f.append('nlink=%d' % st.st_nlink)
    if t == 'l':
        try:
            f.append('-> ' + q(os.fsencode(os.readlink(p))))
        except OSError as e:
            f.append('readlink-ERROR:' + errno.errorcode.get(e.errno, '?'))
    elif t == 'f':
        h = hashlib.sha256()
        try:
            with open(p, 'rb') as fh:
                while True:
                    b = fh.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
            f.append(h.hexdigest()[:16])
        except OSError as e:
            f.append('read-ERROR:' + errno.errorcode.get(e.errno, '?'))
    elif t in 'cb':
        f.append('rdev=%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    f += xattrs(p)
    if t == 'd':
        try:
            names = sorted(os.listdir(os.fsencode(p)))
        except OSError as e:
            out.append((rel, ' '.join(f) + ' readdir-ERROR:' + errno.errorcode.get(e.errno, '?')))
            return None
        if opaque(p, names, rel):
            f.append('opaque')
        out.append((rel, ' '.join(f)))
        return names
    out.append((rel, ' '.join(f)))
    return None
def walk(p, rel):
    names = entry(p, rel)
    if names is None:
        return
    for n in names:
        if mode == 'upper' and n == b'.wh..wh..opq':
            continue
        if mode == 'upper' and n.startswith(b'.wh.'):
            add_whiteout(rel + b'/' + n[4:])
            continue
        walk(os.path.join(os.fsencode(p), n), rel + b'/' + n)
walk(os.fsencode(root), b'.')
out.sort()
for rel, desc in out:
    sys.stdout.write('%s %s\n' % (q(rel), desc))
EOF
)

# lm_snapshot DIR [merged|upper] [nonlink] [LOWERDIR...] — print the
# canonical listing.  Given the lower dirs, an upper listing leaves out
# whiteouts and opaque marks that hide nothing in them, and regular files
# identical to the lower file they cover: those are the implementation's
# choice (the kernel marks a directory opaque when it is moved,
# fuse-overlayfs when it is made; the kernel keeps a copied-up hard link in
# its index, fuse-overlayfs in the upper).
lm_snapshot() {
	local dir=$1 mode=${2:-merged}
	shift
	[ $# -gt 0 ] && shift
	lm_t 120 "$PY" -c "$LM_SNAP_PY" "$mode" "$dir" "$@"
}

# lm_diff LABEL FILE_KERNEL FILE_LAMINAFS — fail with a diff when they differ.
lm_diff() {
	if ! cmp -s "$2" "$3"; then
		lm_fail "$1: laminafs differs from kernel overlayfs (- kernel, + laminafs):"
		diff -u --label kernel-overlayfs --label laminafs "$2" "$3" | head -n 40 | cut -c1-240
		return 1
	fi
	return 0
}

# lm_compare_merged LABEL [nonlink] — snapshot both merged mounts and diff.
lm_compare_merged() {
	lm_snapshot "$KOM" merged ${2:-} >"$T/snap.ko" 2>&1
	lm_snapshot "$FSM" merged ${2:-} >"$T/snap.fs" 2>&1
	lm_diff "$1 (merged tree)" "$T/snap.ko" "$T/snap.fs"
}

# lm_compare_upper LABEL [nonlink] — diff the normalised upper dirs
# (whiteouts and opaque marks only where they hide something).
lm_compare_upper() {
	lm_snapshot "$KOU" upper ${2:-} $LM_KO_LOWERS >"$T/usnap.ko" 2>&1
	lm_snapshot "$FSU" upper ${2:-} $LM_FS_LOWERS >"$T/usnap.fs" 2>&1
	lm_diff "$1 (upper dir)" "$T/usnap.ko" "$T/usnap.fs"
}

# lm_both LABEL SCRIPT — run bash SCRIPT with the cwd at each merged mount
# (laminafs and kernel), and compare exit status, stdout and stderr.  Use
# relative paths in SCRIPT so that messages are identical.
lm_both() {
	local label=$1 script=$2 side rc
	for side in ko fs; do
		if [ "$side" = ko ]; then cd "$KOM" || lm_die "cd $KOM"; else cd "$FSM" || lm_die "cd $FSM"; fi
		lm_t 60 bash -c "$script" >"$T/both.$side" 2>&1 </dev/null
		rc=$?
		echo "exit=$rc" >>"$T/both.$side"
		cd "$T" || lm_die "cd $T"
	done
	lm_diff "$label" "$T/both.ko" "$T/both.fs"
}

# lm_both_py LABEL CODE — like lm_both, for python3 CODE run after
# LM_PY_PRELUDE (so try_/res/renameat2 are there).
lm_both_py() {
	export LM_PY_CODE="$LM_PY_PRELUDE
$2"
	lm_both "$1" "exec \"$PY\" -c \"\$LM_PY_CODE\""
	unset LM_PY_CODE
}

# Python prelude for errno-level checks.  res(f, *args) returns "OK" or the
# errno name (ENOENT, EXDEV, ...); try_(label, f, *args) prints
# "label: RESULT"; renameat2(old, new, flags) calls libc's renameat2.
LM_PY_PRELUDE=$(
	cat <<'EOF'
import os, sys, errno, ctypes, stat
_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4
def renameat2(old, new, flags):
    r = _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)
def res(f, *a, **k):
    try:
        f(*a, **k)
        return 'OK'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def try_(label, f, *a, **k):
    print('%s: %s' % (label, res(f, *a, **k)))
EOF
)

# lm_py CODE [ARGS...] — run python3 CODE after the prelude.
lm_py() {
	local code=$1
	shift
	lm_t 60 "$PY" -c "$LM_PY_PRELUDE
$code" "$@"
}

# Checksum of a whole tree (names, metadata, contents, all xattrs) — to
# prove a lower layer was left untouched.
lm_tree_sum() {
	(
		cd "$1" || exit 1
		find . -printf '%p %y %m %U %G %s %n %T@ %l\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
		getfattr -R -h -d -m - --absolute-names . 2>/dev/null
	) | sha256sum | cut -d' ' -f1
}

lm_init
