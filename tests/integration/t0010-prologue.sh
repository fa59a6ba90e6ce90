#!/bin/sh
# What every binary does before its own work (cmd/prologue): -V and
# --version print "NAME VERSION", -h and --help the usage, all four exit 0,
# and a write error on stdout (a full disk) makes them exit non-zero; an
# unknown option is a usage error (2), and so is a number out of range,
# said the same way by every tool.
. tests/lib.sh

version=$(sed -n 's/^VERSION = //p' "$MM_TOP/Makefile")
full=/dev/full
[ -w "$full" ] || full=''
for b in mm-discover mm-fetch mm-verify mm-report mm-route mm-serve; do
	for v in -V --version; do
		exit_is 0 "$b $v exits 0" mm "$b" "$v"
		is "$(cat "$T/out")" "$b $version" "$b $v prints its name and version"
	done
	for h in -h --help; do
		exit_is 0 "$b $h exits 0" mm "$b" "$h"
		like "$(cat "$T/out")" "^usage: $b " "$b $h prints the usage on stdout"
	done
	exit_is 2 "$b with an unknown option is a usage error" mm "$b" --no-such-option
	like "$(cat "$T/err")" "usage: $b " "$b: the usage on stderr"
	if [ -n "$full" ]; then
		for a in --help -h --version -V; do
			mm "$b" "$a" > "$full" 2> "$T/err"
			rc=$?
			isnt "$rc" 0 "$b $a > /dev/full exits non-zero"
			like "$(cat "$T/err")" "$b: cannot write to standard output" \
				"$b $a > /dev/full says why"
		done
	else
		skip "$b > /dev/full" "no writable /dev/full"
	fi
done

# A number option out of range says so one way in every tool (mm_prologue_number).
for c in "mm-discover -j 0 1 64" "mm-fetch -j 0 1 256" "mm-verify -j 0 1 256" \
	"mm-fetch --attempts 101 1 100" "mm-route --max-scan 0 1 1000"; do
	set -- $c
	exit_is 2 "$1 $2 $3 is a usage error" mm "$1" "$2" "$3"
	like "$(cat "$T/err")" "^$1: $2 takes a number from $4 to $5, not '$3'\$" \
		"$1 $2 $3 names the option, the range and the value"
done
done_testing
