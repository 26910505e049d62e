#!/bin/bash
# podman: podman itself runs containers on laminafs, through containers-
# storage's overlay driver with mount_program = $LAMINAFS.
#   (a) a running container's root is a FUSE mount of $LAMINAFS: the merged
#       dir is in /proc/mounts as fuse.laminafs, a laminafs daemon serves it,
#       and the container's "/" is that same mount (same device number);
#       `podman rm -f` takes mount and daemon away again
#   (b) a container reads image files, writes one, deletes one, and prints
#       the right things
#   (c) `podman diff` of that container and of the image `podman commit`
#       makes from it show A/C/D entries; `podman export` agrees
#   (d) a container of the committed two-layer image: the deletion is a
#       whiteout across layers (the file stays gone; it can be made again
#       over the whiteout); a file copied up into layer 2 can be deleted
#   (e) `podman build` (FROM the imported image, RUN rm / RUN add / COPY,
#       each RUN on a laminafs mount) and a run of the result
# The image is a busybox root filesystem `podman import`ed from a tarball:
# no registry, no network (--network none).
#
# Isolation: storage (graphroot, runroot), containers.conf, events, locks
# and tmp dirs all live in the test's temp dir; podman gets its own
# CONTAINERS_STORAGE_CONF and CONTAINERS_CONF, and --root/--runroot/
# --storage-opt on every call (podman drops storage.conf's driver options
# when --root is given, so they are passed on the command line as well).
# The script runs in a private mount namespace (it re-executes itself under
# `unshare -m`), in which
#   - /dev/shm is a fresh tmpfs (podman's lock segment libpod_lock),
#   - /var/lib/containers, /run/containers, /run/crun and /var/tmp are bind
#     mounts of dirs in the temp dir (image blob-info cache, network run
#     dir, crun's state dir, and the scratch files containers-storage makes
#     in /var/tmp whatever TMPDIR says); a missing one is made for the
#     mount and removed after,
#   - on a cgroup v1/v2 "hybrid" host /sys/fs/cgroup/unified is unmounted
#     (when its v2 hierarchy has a controller, crun 1.8 refuses to start
#     any container, even with cgroups disabled),
# and HOME, XDG_*_HOME and TMPDIR point into the temp dir, so nothing of
# the host's podman state is read or written and the container mounts are
# invisible outside.  Containers run with --cgroups disabled (no cgroup
# dirs are left on the host) and with explicit rlimits (podman's defaults,
# nofile=1048576, are above the hard limit of a root that lacks
# CAP_SYS_RESOURCE, and crun's setrlimit fails).
# Teardown: podman rm -af and system reset, stray conmon/laminafs
# processes of this test ended, every mount under the temp dir unmounted
# (lib.sh), the temp dir removed.
#
# Needs podman (Debian: podman, which brings crun and conmon) and
# busybox-static; without podman the test FAILS loudly (CI installs it).
# LAMINAFS=/usr/bin/fuse-overlayfs runs it against the reference.

# Re-execute in a private mount namespace first (see above).  Not root or no
# /dev/fuse: lib.sh skips.
if [ -z "${LM_PODMAN_NS:-}" ] && [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] &&
	command -v unshare >/dev/null; then
	export LM_PODMAN_NS=1
	exec unshare --mount --propagation private -- bash "$0" "$@"
fi

. "$(dirname "$0")/lib.sh"

if ! command -v podman >/dev/null; then
	printf '\n[%s] ************************************************************\n' "$LM_NAME"
	printf '[%s] *** podman is NOT INSTALLED: cannot test laminafs under podman.\n' "$LM_NAME"
	printf '[%s] *** Install it: apt-get install -y podman  (brings crun, conmon)\n' "$LM_NAME"
	printf '[%s] ************************************************************\n\n' "$LM_NAME"
	lm_die "podman not installed"
fi
[ "${LM_PODMAN_NS:-}" = 1 ] || lm_die "not in a private mount namespace (unshare missing?)"
BUSYBOX=$(command -v busybox || true)
[ -x /bin/busybox ] && BUSYBOX=/bin/busybox
[ -n "$BUSYBOX" ] || lm_die "busybox not found (package busybox-static)"
ldd "$BUSYBOX" >/dev/null 2>&1 && lm_die "$BUSYBOX is dynamically linked (install busybox-static)"
for tool in conmon crun tar; do
	command -v "$tool" >/dev/null || lm_die "$tool not found (podman's dependencies)"
done

PM=$T/podman
# The binary under test must stay visible under the private directories
# mounted below (a build tree under /var/tmp would be hidden): a copy.
case $LAMINAFS in
/var/tmp/* | /var/lib/containers/* | /run/containers/* | /run/crun/*)
	mkdir -p "$T/bin" && cp "$LAMINAFS" "$T/bin/" || lm_die "cannot copy $LAMINAFS"
	LAMINAFS=$T/bin/$(basename "$LAMINAFS") ;;
esac
GRAPH=$PM/graph
RUNROOT=$PM/run
FSTYPE=fuse.$(basename "$LAMINAFS")
IMG=localhost/lamina-podman-test
PM_CREATED_DIRS=()
PM_PRIV_MOUNTS=()
PM_READY=
PM_GLOBAL=(--root "$GRAPH" --runroot "$RUNROOT" --tmpdir "$PM/tmp"
	--cgroup-manager cgroupfs --events-backend file
	--storage-driver overlay
	--storage-opt "overlay.mount_program=$LAMINAFS"
	--storage-opt overlay.mountopt=nodev)
PM_RUN=(--pull never --network none --cgroups disabled --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
mkdir -p "$PM"/{graph,run,tmp,netconf,priv/varlib,priv/run,priv/crun,priv/vartmp,home,ctx,rootfs} ||
	lm_die "mkdir $PM"

# --- configuration ---

cat >"$PM/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$GRAPH"
runroot = "$RUNROOT"
[storage.options.overlay]
mount_program = "$LAMINAFS"
mountopt = "nodev"
EOF
cat >"$PM/containers.conf" <<EOF
[containers]
netns = "none"
cgroups = "disabled"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PM/events.log"
runtime = "crun"
tmp_dir = "$PM/tmp"
image_copy_tmp_dir = "$PM/tmp"
static_dir = "$GRAPH/libpod"
volume_path = "$GRAPH/volumes"
[network]
network_config_dir = "$PM/netconf"
EOF
export CONTAINERS_STORAGE_CONF=$PM/storage.conf CONTAINERS_CONF=$PM/containers.conf
export HOME=$PM/home XDG_CONFIG_HOME=$PM/home/.config XDG_DATA_HOME=$PM/home/.local/share \
	XDG_CACHE_HOME=$PM/home/.cache TMPDIR=$PM/tmp
unset CONTAINER_HOST CONTAINER_CONNECTION

# --- podman cleanup, run before lib.sh's (which unmounts and removes $T) ---

# Pids of processes whose argv mentions $T/ (so this test started them).
# shellcheck disable=SC2317 # called from the EXIT trap
pm_pids_of() {
	local name=$1 p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = "$name" ] || continue
		tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -Fq -- "$T/" && echo "${p#/proc/}"
	done
}

# shellcheck disable=SC2317 # the EXIT trap
pm_cleanup() {
	trap '' INT TERM
	cd / || true
	if [ -n "$PM_READY" ]; then
		lm_t 30 podman "${PM_GLOBAL[@]}" rm -a -f -t 0 >/dev/null 2>&1
		lm_t 30 podman "${PM_GLOBAL[@]}" system reset -f >/dev/null 2>&1
	fi
	local p pids
	for name in conmon crun; do
		pids=$(pm_pids_of "$name")
		for p in $pids; do kill -TERM "$p" 2>/dev/null; done
		lm_wait_pids_gone "$pids" 3 ||
			for p in $pids; do lm_pid_alive "$p" && kill -KILL "$p" 2>/dev/null; done
	done
	# laminafs daemons of podman's mounts: lib.sh's teardown unmounts
	# everything under $T, then waits for (and if need be kills) these.
	for p in $(pm_pids_of "$(basename "$LAMINAFS")"); do LM_DAEMONS+=("$p"); done
	local i
	for ((i = ${#PM_PRIV_MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${PM_PRIV_MOUNTS[$i]}" 2>/dev/null || umount -l "${PM_PRIV_MOUNTS[$i]}" 2>/dev/null
	done
	for ((i = ${#PM_CREATED_DIRS[@]} - 1; i >= 0; i--)); do
		rmdir "${PM_CREATED_DIRS[$i]}" 2>/dev/null
	done
}
# shellcheck disable=SC2154 # pm_rc is set inside the trap itself
trap 'pm_rc=$?; pm_cleanup; (exit $pm_rc); lm_cleanup' EXIT

# --- private view of the host's podman state (mount namespace only) ---

# pm_private DIR SRC — bind SRC over DIR (creating DIR, and removing it at
# the end, when the host has none).
pm_private() {
	local dir=$1 src=$2
	if [ ! -d "$dir" ]; then
		mkdir -p "$dir" || lm_die "mkdir $dir"
		PM_CREATED_DIRS+=("$dir")
	fi
	mount --bind "$src" "$dir" || lm_die "bind mount over $dir"
	PM_PRIV_MOUNTS+=("$dir")
}
mount -t tmpfs -o mode=1777 pm-shm /dev/shm || lm_die "private /dev/shm"
PM_PRIV_MOUNTS+=(/dev/shm)
pm_private /var/lib/containers "$PM/priv/varlib"
pm_private /run/containers "$PM/priv/run"
pm_private /run/crun "$PM/priv/crun"
chmod 1777 "$PM/priv/vartmp"
pm_private /var/tmp "$PM/priv/vartmp"
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
	[ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
	lm_log "hybrid cgroup host (v2 controllers: $(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)):" \
		"unmounting /sys/fs/cgroup/unified in this namespace"
	umount /sys/fs/cgroup/unified 2>/dev/null || umount -l /sys/fs/cgroup/unified ||
		lm_die "cannot unmount /sys/fs/cgroup/unified"
fi
# From here on the podman commands of the cleanup can touch only the test's
# storage, configuration and private dirs.
PM_READY=1

# pm ARGS... — podman on the test's storage, at most 60 s.
pm() { lm_t 60 podman "${PM_GLOBAL[@]}" "$@"; }

# pm_sorted_data OUTPUT — the /data lines of a `podman diff`, sorted.
pm_sorted_data() { grep ' /data' <<<"$1" | LC_ALL=C sort; }

lm_log "podman $(podman --version | awk '{print $3}'), $(crun --version | head -n1)"
info=$(pm info 2>&1) || lm_die "podman info failed: $info"
grep -Fq "Executable: $LAMINAFS" <<<"$info" ||
	lm_die "podman info does not show mount_program $LAMINAFS:
$(grep -A8 graphOptions <<<"$info")"
grep -q 'graphDriverName: overlay' <<<"$info" || lm_die "podman's graph driver is not overlay"

# --- the image: busybox root filesystem, imported from a tarball ---

R=$PM/rootfs
mkdir -p "$R"/bin "$R"/etc "$R"/data "$R"/tmp "$R"/proc "$R"/sys "$R"/dev "$R"/root
cp "$BUSYBOX" "$R/bin/busybox" || lm_die "cp busybox"
for a in sh ls cat echo id rm mkdir sleep grep; do ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
echo hello >"$R/data/greeting"
echo doomed >"$R/data/victim"
echo keep >"$R/data/keep"
chmod 1777 "$R/tmp"
tar -C "$R" --numeric-owner -cf "$PM/rootfs.tar" . || lm_die "tar rootfs"
out=$(pm import -q "$PM/rootfs.tar" "$IMG:base" 2>&1) || lm_die "podman import failed: $out"

# --- (a) a running container sits on a laminafs mount ---

cid=$(pm run -d "${PM_RUN[@]}" "$IMG:base" sleep 30 2>&1) || lm_die "podman run -d failed: $cid"
merged=$(pm inspect --format '{{.GraphDriver.Data.MergedDir}}' "$cid" 2>&1)
st=
for _ in $(seq 100); do
	st=$(pm inspect --format '{{.State.Status}}' "$cid" 2>/dev/null)
	[ "$st" = running ] && break
	sleep 0.1
done
lm_check "(a) container state" running "$st"
case "$merged" in
"$GRAPH"/overlay/*/merged) ;;
*) lm_fail "(a) merged dir '$merged' is not under $GRAPH/overlay" ;;
esac
mline=$(awk -v m="$merged" '$2 == m' /proc/mounts)
lm_check "(a) fstype of $merged in /proc/mounts" "$FSTYPE" "$(awk '{print $3}' <<<"$mline")"
lm_log "(a) /proc/mounts: $mline"
# Not a failure: fuse-overlayfs always mounts nodev; containers-storage
# passes storage.conf's mountopt flags (nodev) to the kernel's overlay
# mount but never to a mount_program, so only the program can add it.
case ",$(awk '{print $4}' <<<"$mline")," in
*,nodev,*) ;;
*) lm_log "(a) NOTE: the container's merged dir is not mounted nodev (fuse-overlayfs's is)" ;;
esac
dpids=$(lm_daemon_pids "$merged" | tr '\n' ' ')
[ -n "$dpids" ] || lm_fail "(a) no $LAMINAFS process with $merged in its argv"
for p in $dpids; do
	lm_log "(a) daemon $p: $(tr '\0' ' ' <"/proc/$p/cmdline")"
	grep -Fq "upperdir=$GRAPH/overlay/" "/proc/$p/cmdline" ||
		lm_fail "(a) the daemon has no upperdir in $GRAPH"
done
hostdev=$(awk -v m="$merged" '$5 == m { d = $3 } END { print d }' /proc/self/mountinfo)
# Inside: the mount at "/" is the same FUSE connection (device number).
inner=$(pm exec "$cid" grep ' / / ' /proc/self/mountinfo 2>&1)
lm_check "(a) the container's / (device, fstype)" "$hostdev $FSTYPE" \
	"$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { print $3, $(i + 1); exit } }' <<<"$inner")"
out=$(pm rm -f -t 0 "$cid" 2>&1) || lm_fail "(a) podman rm -f: $out"
lm_check "(a) mount gone after podman rm -f" "" "$(awk -v m="$merged" '$2 == m' /proc/mounts)"
lm_wait_pids_gone "$dpids" 10 || lm_fail "(a) daemon(s) $dpids still alive after podman rm -f"

# --- (b) read, write, delete in a container; the output ---

script='cat /data/greeting; echo new >/data/new; echo changed >>/data/greeting
rm /data/victim; mkdir /data/dir; echo inner >/data/dir/f
ls /data; cat /data/greeting /data/new /data/dir/f
cat /data/victim 2>/dev/null || echo victim-gone; id -u'
out=$(pm run --name c1 "${PM_RUN[@]}" "$IMG:base" sh -c "$script" 2>&1)
lm_check "(b) podman run output" "hello
dir
greeting
keep
new
hello
changed
new
inner
victim-gone
0" "$out"

# --- (c) podman diff / commit / export ---

out=$(pm diff c1 2>&1)
lm_check "(c) podman diff c1 (/data entries)" "A /data/dir
A /data/dir/f
A /data/new
C /data
C /data/greeting
D /data/victim" "$(pm_sorted_data "$out")" || lm_log "podman diff c1: $out"
out=$(pm commit -q c1 "$IMG:layer2" 2>&1) || lm_fail "(c) podman commit failed: $out"
out=$(pm diff "$IMG:layer2" 2>&1)
lm_check "(c) podman diff of the committed image (/data entries)" "A /data/dir
A /data/dir/f
A /data/new
C /data
C /data/greeting
D /data/victim" "$(pm_sorted_data "$out")" || lm_log "podman diff $IMG:layer2: $out"
nl=$(pm image inspect --format '{{len .RootFS.Layers}}' "$IMG:layer2" 2>&1)
lm_check "(c) layers in the committed image" 2 "$nl"
pm export -o "$PM/c1.tar" c1 >"$PM/export.err" 2>&1 || lm_fail "(c) podman export: $(cat "$PM/export.err")"
out=$(tar -tf "$PM/c1.tar" 2>&1 | sed 's#^\./##' | grep '^data' | LC_ALL=C sort)
lm_check "(c) podman export c1 (/data)" "data/
data/dir/
data/dir/f
data/greeting
data/keep
data/new" "$out"
out=$(pm rm c1 2>&1) || lm_fail "(c) podman rm c1: $out"

# --- (d) the committed image: whiteout across layers ---

script='ls /data; cat /data/greeting /data/new /data/keep
cat /data/victim 2>/dev/null || echo victim-gone
echo reborn >/data/victim; cat /data/victim
rm /data/greeting; cat /data/greeting 2>/dev/null || echo greeting-gone
ls /data'
out=$(pm run --rm "${PM_RUN[@]}" "$IMG:layer2" sh -c "$script" 2>&1)
lm_check "(d) run of the two-layer image" "dir
greeting
keep
new
hello
changed
new
keep
victim-gone
reborn
greeting-gone
dir
keep
new
victim" "$out"
# And the image itself is unchanged by that (--rm) container.
out=$(pm run --rm "${PM_RUN[@]}" "$IMG:layer2" sh -c 'ls /data; cat /data/victim >/dev/null 2>&1 || echo victim-gone' 2>&1)
lm_check "(d) second run of the two-layer image" "dir
greeting
keep
new
victim-gone" "$out"

# --- (e) podman build, offline ---

C=$PM/ctx
cat >"$C/Containerfile" <<EOF
FROM $IMG:base
RUN grep ' / / ' /proc/self/mountinfo | grep -q ' - $FSTYPE ' && echo step-on-$FSTYPE
RUN rm /data/victim && echo built >/data/built && mkdir -p /opt/x && echo deep >/opt/x/file
COPY added.txt /data/added.txt
RUN rm -r /opt/x && rm /data/keep && cat /data/greeting /data/built /data/added.txt
EOF
echo added >"$C/added.txt"
out=$(pm build --pull=never --network none --ulimit nofile=1024:1024 \
	--ulimit nproc=4096:4096 -t "$IMG:built" "$C" 2>&1)
rc=$?
lm_check "(e) podman build exit status" 0 "$rc" || lm_log "build output: $out"
grep -qx "step-on-$FSTYPE" <<<"$out" ||
	lm_fail "(e) the RUN step's / was not a $FSTYPE mount; build output: $out"
for w in hello built added; do
	grep -qx "$w" <<<"$out" || lm_fail "(e) '$w' missing from the last RUN step's output; build output: $out"
done
out=$(pm run --rm "${PM_RUN[@]}" "$IMG:built" sh -c 'ls /data /opt; cat /data/added.txt' 2>&1)
lm_check "(e) run of the built image" "/data:
added.txt
built
greeting

/opt:
added" "$out"

lm_finish
