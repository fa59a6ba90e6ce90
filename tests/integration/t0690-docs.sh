#!/bin/sh
# Every tool answers --help and --version, and has a manual page that
# documents every option its --help lists, with the sections a reader
# looks for.
. tests/lib.sh
need mandoc

for bin in "$MM_BIN"/mm-* "$MM_TOP/scripts/mm-entrypoint"; do
	[ -x "$bin" ] || continue
	name=${bin##*/}
	exit_is 0 "$name --help exits 0" "$bin" --help
	like "$(head -n 1 "$T/out")" "^usage: $name( |\$)" "$name --help prints its usage on stdout"
	opts=$(grep -oE -- '--[a-z][a-z-]*' "$T/out" | sort -u)
	exit_is 0 "$name --version exits 0" "$bin" --version
	like "$(cat "$T/out")" "^$name [0-9]+\\.[0-9]+\\.[0-9]+\$" "$name --version prints its version"
	exit_is 2 "$name with an unknown option exits 2" "$bin" --no-such-option
	page=
	for p in "$MM_TOP/man/$name.1" "$MM_TOP/man/$name.8"; do
		[ -f "$p" ] && page=$p
	done
	if [ -z "$page" ]; then
		skip "$name has a manual page" "man/$name.1 is not written yet"
		continue
	fi
	pass "$name has a manual page (${page##*/})"
	for sec in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" EXAMPLES "SEE ALSO"; do
		if grep -q "^\\.Sh $sec\$" "$page"; then
			pass "${page##*/} has $sec"
		else
			fail "${page##*/} has $sec"
		fi
	done
	undocumented=
	for o in $opts; do
		grep -qE -- "Fl -${o#--}( |\$)" "$page" || undocumented="$undocumented $o"
	done
	is "$undocumented" "" "${page##*/} documents every option of $name --help"
done
exit_is 0 "mm-manifest(5) exists and is lint-clean" mandoc -Tlint -Wwarning "$MM_TOP/man/mm-manifest.5"

done_testing
