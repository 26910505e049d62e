#!/usr/bin/env bash
# The main job on built-in defaults: installs what is missing, builds,
# makes a small busybox root filesystem as two image layers, mounts it
# through laminafs with a writable upper layer, runs commands inside it
# with chroot, and shows where the writes went. Leaves nothing mounted.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it mounts a filesystem and uses chroot)" >&2
  exit 1
fi
scripts/deps.sh
[ -e /dev/fuse ] || modprobe fuse
scripts/build.sh build

LAMINAFS=$PWD/build/driver/laminafs
work=$(mktemp -d /tmp/lamina-demo.XXXXXX)
mnt=$work/merged
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; }
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building two image layers in $work"
base=$work/layers/base app=$work/layers/app
mkdir -p "$base"/{bin,etc,tmp,root} "$app"/etc "$work"/{upper,work} "$mnt"
cp /bin/busybox "$base/bin/busybox"
for c in sh ls cat echo rm mkdir mv id uname head wc; do ln -s busybox "$base/bin/$c"; done
echo "lamina demo base layer" > "$base/etc/motd"
echo "root:x:0:0:root:/root:/bin/sh" > "$base/etc/passwd"
echo "greeting=hello from the app layer" > "$app/etc/app.conf"
mknod "$app/etc/motd" c 0 0          # the app layer deletes /etc/motd (a whiteout)
ls -l "$base/etc" "$app/etc"

say "mounting with laminafs (fuse-overlayfs argv)"
echo "$LAMINAFS -o lowerdir=$app:$base,upperdir=$work/upper,workdir=$work/work $mnt"
"$LAMINAFS" -o "lowerdir=$app:$base,upperdir=$work/upper,workdir=$work/work" "$mnt"
grep " $mnt " /proc/mounts

say "running a container command inside it (chroot)"
chroot "$mnt" /bin/sh -c '
  echo "inside: $(uname -s), uid $(id -u)"
  echo "/etc holds: $(ls /etc)"
  cat /etc/app.conf
  echo "written by the container" > /root/notes.txt
  echo "changed" >> /etc/passwd
  rm /etc/app.conf
  ls -l /root /etc
'

say "where the writes went: the upper layer"
(cd "$work/upper" && find . -printf '%M %u %s %p\n' | sort -k4)
say "the image layers are untouched"
cat "$base/etc/passwd"; ls -l "$app/etc"

fusermount3 -u "$mnt"
say "unmounted; demo done"
