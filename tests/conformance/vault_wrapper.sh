# Body of the laminafs wrapper of the laminafs-vault peer (run.sh puts
# real= and vopts= before it): mount.fuse3 runs it as the peer's binary.
# Files the suite wrote into the upper directory before mounting are moved
# aside and written in through the mount, as an encrypted upper starts
# empty.
args=("$@") opts= mnt=
for ((i = 0; i < ${#args[@]}; i++)); do
	case ${args[i]} in
	-o) opts="$opts,${args[i + 1]}"; i=$((i + 1)) ;;
	-o*) opts="$opts,${args[i]#-o}" ;;
	-*) ;;
	*) mnt=${args[i]} ;;
	esac
done
upper=$(printf '%s\n' "${opts//,/$'\n'}" | sed -n 's/^upperdir=//p' | tail -n 1)
aside=
if [ -n "$upper" ] && [ ! -e "$upper/lamina.vault" ] && [ -n "$(ls -A "$upper")" ]; then
	aside=$(mktemp -d)
	mv "$upper"/* "$aside"/
fi
"$real" "$@" -o "$vopts" || exit
if [ -n "$aside" ]; then
	cp -a "$aside"/. "$mnt"/ && rm -rf "$aside"
fi
