#!/bin/bash
# signals: the daemon's life cycle.
#   - foreground (-f): SIGTERM ends it with exit status 0 and the mount is
#     gone; the same for SIGINT; also with writes done just before
#   - daemon mode (no -f): the launching command returns only once the
#     mount is live (checked at once, no polling) and with stdout/stderr
#     closed (`laminafs ... 2>&1 | cat` returns); SIGTERM to the daemon then
#     unmounts and ends it, also when the mountpoint was given as a relative
#     path; `fusermount3 -u` ends it too
#
# fuse-overlayfs 1.10 fails these checks:
#   - "exit status after SIGTERM" / "after SIGINT" (foreground): it exits
#     with status 1 (the mount is removed correctly)
. "$(dirname "$0")/lib.sh"

S=$T/src
mkdir -p "$S"/l1 && echo hello >"$S"/l1/f
cp -a "$S/l1" "$T/l1"
mkdir -p "$T/upper" "$T/work" "$T/mnt"
M=$T/mnt
OPTS="lowerdir=$T/l1,upperdir=$T/upper,workdir=$T/work"

# wait_mounted MNT PID — up to 10 s, or until PID dies.
wait_mounted() {
	local n=100
	while ! lm_is_fuse_mount "$1"; do
		lm_pid_alive "$2" || return 1
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}
# wait_unmounted MNT — up to 10 s.
wait_unmounted() {
	local n=100
	while [ -n "$(lm_fstype_at "$1")" ]; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

for sig in TERM INT; do
	lm_log "foreground, SIG$sig"
	LM_MOUNTS+=("$M")
	# A background job of a script ignores SIGINT; give the daemon the
	# default dispositions back, as a terminal or a service manager would.
	env --default-signal=INT,TERM "$LAMINAFS" -f -o "$OPTS" "$M" </dev/null >"$T/fg.out" 2>&1 &
	pid=$!
	LM_DAEMONS+=("$pid")
	if ! wait_mounted "$M" "$pid"; then
		lm_fail "foreground daemon did not mount within 10 s"
		cat "$T/fg.out"
		continue
	fi
	lm_check "SIG$sig: content through the mount" hello "$(cat "$M/f")"
	echo "written before SIG$sig" >"$M/w_$sig" || lm_fail "write before SIG$sig failed"
	kill "-$sig" "$pid"
	rc=0
	timeout 15 tail --pid="$pid" -f /dev/null || lm_fail "daemon still running 15 s after SIG$sig"
	wait "$pid" || rc=$?
	lm_check "exit status after SIG$sig" 0 "$rc"
	wait_unmounted "$M" || lm_fail "$M still mounted 10 s after SIG$sig"
	lm_check "file written before SIG$sig is in the upper" "written before SIG$sig" "$(cat "$T/upper/w_$sig" 2>&1)"
	lm_unmount_one "$M"
done

lm_log "daemon mode: returns when mounted, with stdio closed"
LM_MOUNTS+=("$M")
start=$(date +%s)
out=$(timeout 30 bash -c '"$0" -o "$1" "$2" 2>&1 | cat; exit "${PIPESTATUS[0]}"' "$LAMINAFS" "$OPTS" "$M" </dev/null)
rc=$?
mounted=no
lm_is_fuse_mount "$M" && mounted=yes
lm_check "daemon mode: launcher | cat exit status (124 = stdio left open)" 0 "$rc"
lm_check "daemon mode: mounted when the launcher returned" yes "$mounted"
[ -n "$out" ] && lm_log "launcher output: $out"
lm_log "launcher took $(($(date +%s) - start)) s"
lm_check "daemon mode: content" hello "$(cat "$M/f" 2>&1)"
dpid=$(lm_daemon_pids "$M")
lm_check "daemon mode: one daemon process for the mount" 1 "$(echo "$dpid" | grep -c .)"
if [ -n "$dpid" ]; then
	for fd in 0 1 2; do
		tgt=$(readlink "/proc/$dpid/fd/$fd" 2>/dev/null || echo closed)
		case "$tgt" in
		pipe:*) lm_fail "daemon mode: fd $fd of the daemon is still the launcher's pipe ($tgt)" ;;
		esac
	done
	kill -TERM "$dpid"
	lm_wait_pids_gone "$dpid" 15 || lm_fail "daemon still running 15 s after SIGTERM"
	wait_unmounted "$M" || lm_fail "$M still mounted 10 s after SIGTERM to the daemon"
fi
lm_unmount_one "$M"

lm_log "daemon mode: a relative mountpoint is unmounted on SIGTERM"
LM_MOUNTS+=("$M")
(cd "$T" && timeout 30 "$LAMINAFS" -o "$OPTS" mnt </dev/null) || lm_fail "mount on a relative path failed"
dpid=$(lm_daemon_pids mnt)
if [ -n "$dpid" ]; then
	kill -TERM "$dpid"
	lm_wait_pids_gone "$dpid" 15 || lm_fail "daemon still running 15 s after SIGTERM"
	wait_unmounted "$M" || lm_fail "relative mountpoint: $M still mounted 10 s after SIGTERM"
else
	lm_fail "relative mountpoint: no daemon behind $M"
fi
lm_unmount_one "$M"

lm_log "daemon mode: fusermount3 -u ends the daemon"
lm_mount "$M" "$OPTS" || lm_die "mount failed"
dpid=$(lm_daemon_pids "$M")
fusermount3 -u "$M" || lm_fail "fusermount3 -u failed"
lm_wait_pids_gone "$dpid" 10 || lm_fail "daemon still running 10 s after fusermount3 -u"

lm_finish
