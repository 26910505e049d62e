#!/bin/bash
# podman_layers: an image of three layers and a container laid out exactly
# as containers-storage lays them out for its mount_program:
#   storage/overlay/<layer-id>/{diff,link,lower,work}, storage/overlay/l/<short>
#   symlinks to ../<layer-id>/diff, lowerdir=<...>/l/<short>:... (top
#   first), upperdir=<container-id>/diff, workdir=<container-id>/work, plus
#   storage.conf's usual mountopt "nodev,fsync=0"
# The layers carry whiteouts the way an unprivileged unpack writes them
# (`.wh.NAME` files, `.wh..wh..opq` opaque markers) mixed with char-device
# 0/0 whiteouts.  Kernel overlayfs gets the same storage with the
# char-device/xattr spelling.  Compared: the merged tree before and after
# what a container typically does (edit /etc/passwd, remove a hard link,
# recreate a removed directory, write logs, rename, chmod), the upper, and
# the tree after a remount.
#
# fuse-overlayfs 1.10: passes every check here.
. "$(dirname "$0")/lib.sh"
LM_KINDEX=on

# make_layer STORAGE ID SHORT [LOWER-SHORTS] — the directories of one layer.
make_layer() {
	local st=$1 id=$2 short=$3 lower=${4:-}
	mkdir -p "$st/overlay/$id/diff" "$st/overlay/$id/work" "$st/overlay/l"
	echo -n "$short" >"$st/overlay/$id/link"
	[ -n "$lower" ] && echo -n "$lower" >"$st/overlay/$id/lower"
	ln -s "../$id/diff" "$st/overlay/l/$short"
}

ST=$T/src/storage
L0=7f3a9c0e1d2b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f
L1=1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d
L2=9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d
C0=5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c
make_layer "$ST" $L0 AAAAAAAAAAAAAAAAAAAAAAAAAA
make_layer "$ST" $L1 BBBBBBBBBBBBBBBBBBBBBBBBBB l/AAAAAAAAAAAAAAAAAAAAAAAAAA
make_layer "$ST" $L2 CCCCCCCCCCCCCCCCCCCCCCCCCC l/BBBBBBBBBBBBBBBBBBBBBBBBBB:l/AAAAAAAAAAAAAAAAAAAAAAAAAA
make_layer "$ST" $C0 DDDDDDDDDDDDDDDDDDDDDDDDDD l/CCCCCCCCCCCCCCCCCCCCCCCCCC:l/BBBBBBBBBBBBBBBBBBBBBBBBBB:l/AAAAAAAAAAAAAAAAAAAAAAAAAA
rm "$ST/overlay/l/DDDDDDDDDDDDDDDDDDDDDDDDDD"

# Base layer: a small root filesystem.
B=$ST/overlay/$L0/diff
mkdir -p "$B"/etc "$B"/usr/bin "$B"/usr/lib "$B"/usr/share/doc/pkg "$B"/var/cache/apt/archives "$B"/var/log "$B"/tmp "$B"/root
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$B"/etc/passwd
printf '127.0.0.1 localhost\n' >"$B"/etc/hosts
printf 'ID=base\n' >"$B"/etc/os-release
printf '#!/bin/sh\necho tool\n' >"$B"/usr/bin/tool && chmod 0755 "$B"/usr/bin/tool
ln "$B"/usr/bin/tool "$B"/usr/bin/tool-alias
install -m 4755 /dev/null "$B"/usr/bin/su
ln -s tool "$B"/usr/bin/sh
echo libx1 >"$B"/usr/lib/libx.so.1 && ln -s libx.so.1 "$B"/usr/lib/libx.so
echo old >"$B"/usr/lib/old.so
echo readme >"$B"/usr/share/doc/pkg/README
echo a >"$B"/var/cache/apt/a && echo pkg >"$B"/var/cache/apt/archives/pkg.deb
chmod 1777 "$B"/tmp && chmod 0700 "$B"/root
setfattr -n user.label -v base "$B"/usr/bin/tool
chown 33:33 "$B"/var/log

# Layer 1 ("RUN apt-get ..."): deletions in both spellings.
D=$ST/overlay/$L1/diff
mkdir -p "$D"/etc "$D"/usr/lib "$D"/usr/share "$D"/usr/bin "$D"/var/cache/apt
touch "$D"/etc/.wh.hosts                  # file whiteout, podman spelling
mknod "$D"/usr/lib/old.so c 0 0            # char-device whiteout
touch "$D"/usr/share/.wh.doc               # directory whiteout
touch "$D"/var/cache/apt/.wh..wh..opq      # opaque directory
echo c >"$D"/var/cache/apt/c
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$D"/etc/passwd
echo libx2 >"$D"/usr/lib/libx.so.2 && ln -s libx.so.2 "$D"/usr/lib/libx.so
printf '#!/bin/sh\necho new\n' >"$D"/usr/bin/new && chmod 0755 "$D"/usr/bin/new

# Layer 2 ("COPY ..."): re-creates a directory deleted below it, deletes a
# file from layer 1 and one from the base.
E=$ST/overlay/$L2/diff
mkdir -p "$E"/usr/share/doc "$E"/usr/bin "$E"/etc
echo other >"$E"/usr/share/doc/other
touch "$E"/usr/bin/.wh.new
mknod "$E"/etc/os-release c 0 0
echo hosts-again >"$E"/etc/hosts.d

LOWERS="l/CCCCCCCCCCCCCCCCCCCCCCCCCC l/BBBBBBBBBBBBBBBBBBBBBBBBBB l/AAAAAAAAAAAAAAAAAAAAAAAAAA"
for side in fs ko; do
	cp -a "$ST" "$T/$side-storage" || lm_die "cp -a storage failed"
	o=$T/$side-storage/overlay
	lo=
	for l in $LOWERS; do lo="$lo${lo:+:}$o/$l"; done
	opts="lowerdir=$lo,upperdir=$o/$C0/diff,workdir=$o/$C0/work"
	mkdir -p "$o/$C0/merged"
	if [ "$side" = ko ]; then
		for id in $L0 $L1 $L2; do lm_kernel_spelling "$o/$id/diff"; done
		lm_kmount "$o/$C0/merged" "$opts" || lm_die "kernel overlay mount failed"
		KOM=$o/$C0/merged KOU=$o/$C0/diff KOOPTS=$opts LM_KO_LOWERS=${lo//:/ }
	else
		lm_mount "$o/$C0/merged" "$opts,nodev,fsync=0" || lm_die "laminafs mount failed"
		FSM=$o/$C0/merged FSU=$o/$C0/diff FSOPTS="$opts,nodev,fsync=0" LM_FS_LOWERS=${lo//:/ }
	fi
done

lm_compare_merged "image as mounted"
lm_both "what the image looks like" '
cat etc/passwd; ls -a etc usr/share usr/share/doc usr/lib var/cache/apt usr/bin
readlink usr/lib/libx.so; cat usr/lib/libx.so; stat -c "%n %a %u %g %h" usr/bin/tool usr/bin/tool-alias usr/bin/su tmp root var/log
cat etc/hosts 2>&1; cat usr/lib/old.so 2>&1; ls usr/share/doc/pkg 2>&1; ls var/cache/apt/archives 2>&1; true'

lm_both "what a container does" '
set -e
echo "daemon:x:2:2::/:/bin/false" >> etc/passwd
rm usr/bin/tool-alias
rm -r var/cache/apt && mkdir -p var/cache/apt && echo fresh > var/cache/apt/fresh
mkdir -p var/log/app && echo started > var/log/app/log
echo tmpfile > tmp/x
chmod 0700 usr/bin/su
mv etc/passwd etc/passwd.orig && cp etc/passwd.orig etc/passwd
ln -s / root/link
mkdir usr/share/doc/pkg && echo mine > usr/share/doc/pkg/README
echo ok'
lm_compare_merged "after the container's changes"
lm_compare_upper "after the container's changes"

lm_log "remount"
lm_umount "$FSM"
lm_umount "$KOM"
lm_mount "$FSM" "$FSOPTS" || lm_die "laminafs remount failed"
lm_kmount "$KOM" "$KOOPTS" || lm_die "kernel remount failed"
lm_compare_merged "after remount"
lm_both "lookups after remount" 'for p in etc/hosts usr/lib/old.so usr/share/doc/pkg/README var/cache/apt/a var/cache/apt/archives usr/bin/new etc/os-release usr/bin/tool-alias; do stat -c "%n %F" $p 2>&1; done; true'

lm_finish
