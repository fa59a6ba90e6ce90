#!/bin/sh
# Every tool that reads a manifest says the same about a manifest file that
# is not there: exit 2 (a usage error: the name given is wrong, as for a
# missing setting) and "cannot open 'FILE'"; a file that is there but
# cannot be read, or is empty, is bad input (3).
. tests/lib.sh

export MM_ROOT="$T/root" MM_STATE_DIR="$T/state" MACHINE_ID=m1
for cmd in "mm-fetch" "mm-verify" "mm-report --dry-run" "mm-discover --validate"; do
	# shellcheck disable=SC2086 # the command and its option
	exit_is 2 "$cmd with a missing manifest file exits 2" mm $cmd "$T/none.json"
	like "$(cat "$T/err")" "cannot open '$T/none.json': No such file or directory" \
		"$cmd says which file and why"
	is "$(cat "$T/out")" "" "$cmd prints nothing on stdout"
	# shellcheck disable=SC2086
	exit_is 3 "$cmd with a directory for a manifest exits 3" mm $cmd "$T"
done
done_testing
