#!/usr/bin/env bash
# The main job on built-in defaults: installs what is missing, builds,
# makes a small busybox root filesystem as two image layers, creates a
# tenant, imports the layers as sealed layers (the base one plain, the app
# one encrypted for the tenant), mounts them through laminafs with an
# encrypted writable upper layer (a vault) as a container root, runs
# commands inside it with chroot, and shows that the writes reached the host
# as ciphertext only.
# Leaves nothing mounted.
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
LAMINA=$PWD/build/tools/lamina
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

say "a tenant for the container: its keys live in a store, sealed by a key file"
store=$work/store key=$work/tenant.key
head -c 32 /dev/urandom > "$key"
chmod 600 "$key"
"$LAMINA" --store "$store" tenant create clinic --key-file "$key"

say "importing the layers as sealed layers: the base plain, the app layer encrypted for the tenant"
BASE=$("$LAMINA" --store "$store" layer import "$base")
APP=$("$LAMINA" --store "$store" layer import "$app" --tenant clinic --key-file "$key")
"$LAMINA" --store "$store" layer ls

say "mounting with laminafs (fuse-overlayfs argv, sealed layers, the tenant for the encrypted ones)"
opts="lowerdir=sealed:$APP:sealed:$BASE,upperdir=$work/upper,workdir=$work/work"
opts="$opts,tenant=clinic,store=$store,keyfile=$key"
echo "$LAMINAFS -o $opts $mnt"
"$LAMINAFS" -o "$opts" "$mnt"
grep " $mnt " /proc/mounts

say "running a container command inside it (chroot)"
chroot "$mnt" /bin/sh -c '
  echo "inside: $(uname -s), uid $(id -u)"
  echo "/etc holds: $(ls /etc)"
  cat /etc/app.conf
  echo "patient 4711: blood pressure 120/80" > /root/notes.txt
  echo "changed" >> /etc/passwd
  rm /etc/app.conf
  ls -l /root /etc
'

say "where the writes went: the upper layer holds ciphertext only"
(cd "$work/upper" && find . -printf '%M %u %8s %p\n' | sort -k4 | cut -c1-140)
echo "the first bytes of the largest file there:"
big=$(find "$work/upper" -type f ! -name 'lamina.*' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
head -c 160 "$big" | od -A d -t x1 | head -4
if grep -r -a -q -e "patient 4711" -e notes.txt "$work/upper" "$work/work"; then
  echo "demo: plaintext found on the host" >&2; exit 1
fi
echo "no trace of 'patient 4711' or 'notes.txt' anywhere under the upper and work directories"
if grep -a -q "hello from the app layer" "$store/layers/$APP"; then
  echo "demo: plaintext found in the encrypted layer" >&2; exit 1
fi
echo "no trace of the app layer's 'hello from the app layer' in its sealed file either"
say "the image layers are untouched"
"$LAMINA" --store "$store" layer verify "$BASE"
"$LAMINA" --store "$store" layer verify "$APP" --tenant clinic --key-file "$key"

fusermount3 -u "$mnt"
say "mounted again with the tenant's key: the container's files are back"
"$LAMINAFS" -o "$opts" "$mnt"
cat "$mnt/root/notes.txt"
fusermount3 -u "$mnt"
"$LAMINA" --store "$store" audit show | tail -n 3
say "unmounted; demo done"
