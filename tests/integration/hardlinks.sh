#!/bin/bash
# hardlinks: hard-link groups in a lower layer and through the mount.
#   - names of one lower inode show the same st_ino and its nlink
#   - st_ino of a file is the same before and after its copy-up (metadata
#     and data copy-up), for a single file and for a hard-linked one
#   - copying up one name of a lower group keeps the group together (the
#     other names see the new content and the same st_ino and nlink)
#   - link and unlink through the mount change the nlink seen on the other
#     names, for files made in the upper and for lower groups (also when
#     the group was never copied up: rm m2 leaves m1 with nlink 1)
#   - all of it again after a remount
# The kernel oracle is mounted with index=on: without the index, kernel
# overlayfs breaks hard links on copy-up, which containers do not expect
# (and fuse-overlayfs does not do).
#
# fuse-overlayfs 1.10 fails these checks (kernel overlayfs with index=on
# passes them):
#   - "after link/unlink (merged tree)": after `chown 7:7 k2` on a lower
#     group, k1 later shows the old owner (same st_ino and nlink=2, but
#     different owners)
#   - "after remount": lower groups that were copied up fall apart: h2 and
#     dirA/g1, dirB/g2 lose the data written through h1 and dirA/g4, k1
#     loses the chown, and u2 shows nlink=1 while its other name dirA/u3
#     (same st_ino) shows nlink=2
. "$(dirname "$0")/lib.sh"
LM_KINDEX=on

S=$T/src
mkdir -p "$S"/l1/dirA "$S"/l1/dirB "$S"/l2
echo "h group" >"$S"/l1/h1 && ln "$S"/l1/h1 "$S"/l1/h2
echo "g group" >"$S"/l1/dirA/g1 && ln "$S"/l1/dirA/g1 "$S"/l1/dirB/g2 && ln "$S"/l1/dirA/g1 "$S"/l1/g3
echo "k group" >"$S"/l1/k1 && ln "$S"/l1/k1 "$S"/l1/k2
echo "m group" >"$S"/l1/m1 && ln "$S"/l1/m1 "$S"/l1/m2
echo solo >"$S"/l1/solo
echo solo2 >"$S"/l1/solo2
echo l2 >"$S"/l2/other

# Prints, for a list of names, nlink and which of them share an st_ino
# (as group letters, so kernel and laminafs outputs compare).
# shellcheck disable=SC2089,SC2090 # python source, passed through the environment
GROUPS_PY='
seen = {}
for n in sys.argv[1:]:
    try:
        st = os.lstat(n)
    except OSError as e:
        print(n, errno.errorcode[e.errno]); continue
    g = seen.setdefault(st.st_ino, "ABCDEFGHIJ"[len(seen)])
    print(n, "nlink=%d" % st.st_nlink, "ino-group=" + g)
'
# shellcheck disable=SC2090
export GROUPS_PY
groups() { echo "\$PY -c \"\$LM_PY_PRELUDE
\$GROUPS_PY\" $*"; }
export LM_PY_PRELUDE PY

lm_pair_mount l1:l2 upper
ALL="h1 h2 dirA/g1 dirB/g2 g3 k1 k2 solo solo2"
lm_both "lower groups" "$(groups $ALL)"
for m in "$FSM" "$KOM"; do
	[ "$m" = "$FSM" ] && what=laminafs || what=kernel
	lm_check "$what: h1/h2 same st_ino" "$(stat -c %i "$m/h1")" "$(stat -c %i "$m/h2")"
	lm_check "$what: g1/g2/g3 nlink" "3 3 3" "$(stat -c %h "$m/dirA/g1" "$m/dirB/g2" "$m/g3" | xargs)"
done

# st_ino across copy-up.
declare -A INO
for n in solo solo2 h1 h2 k1 k2; do INO[$n]=$(stat -c %i "$FSM/$n"); done
lm_both "copy-up of single and linked files" "
chmod 0600 solo && echo more >> solo2 && echo more-h >> h1 && chown 7:7 k2
cat h2 solo2
stat -c '%n %a %u' k1 k2
$(groups $ALL)"
for n in solo solo2 h1 h2 k1 k2; do
	lm_check "laminafs: st_ino of $n before/after copy-up" "${INO[$n]}" "$(stat -c %i "$FSM/$n")"
done

# link/unlink through the mount.
lm_both "link and unlink" "
echo u > u1 && ln u1 u2 && $(groups u1 u2) && ln u2 dirA/u3 && $(groups u1 u2 dirA/u3)
rm u1 && $(groups u2 dirA/u3)
ln dirB/g2 dirA/g4 && $(groups dirA/g1 dirB/g2 g3 dirA/g4)
rm g3 && $(groups dirA/g1 dirB/g2 dirA/g4)
rm h1 && $(groups h2)
rm m2 && $(groups m1)
ln solo solo_l && $(groups solo solo_l)
echo changed >> dirA/g4 && cat dirA/g1 dirB/g2"
lm_compare_merged "after link/unlink"

lm_pair_umount
lm_mount "$FSM" "lowerdir=$FS/l1:$FS/l2,upperdir=$FSU,workdir=$FS/work" || lm_die "remount failed"
lm_kmount "$KOM" "lowerdir=$KO/l1:$KO/l2,upperdir=$KOU,workdir=$KO/work" || lm_die "kernel remount failed"
lm_both "after remount" "$(groups u2 dirA/u3 dirA/g1 dirB/g2 dirA/g4 h2 solo solo_l k1 k2 solo2 m1); cat dirA/g1"
lm_check "laminafs: st_ino of solo after remount" "${INO[solo]}" "$(stat -c %i "$FSM/solo")"
lm_check "laminafs: st_ino of k1 after remount" "${INO[k1]}" "$(stat -c %i "$FSM/k1")"
lm_compare_merged "after remount"

lm_finish
