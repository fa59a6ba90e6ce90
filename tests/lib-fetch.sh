# shellcheck shell=sh
# tests/lib-fetch.sh — helpers for the mm-fetch tests, sourced after tests/lib.sh.

# fetch WANT DESC ARG…: run mm-fetch expecting exit WANT; its stdout is kept
# in $T/res and its stderr in $T/log (later assertions reuse $T/out).
fetch() {
	_want=$1 _desc=$2
	shift 2
	exit_is "$_want" "$_desc" mm mm-fetch "$@"
	cp "$T/out" "$T/res"
	cp "$T/err" "$T/log"
}

# ff N KEY: KEY of model N's fetch object in $T/res (empty when absent).
ff() {
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["models"][int(sys.argv[2])]
print(m.get("fetch", {}).get(sys.argv[3], ""))' "$T/res" "$1" "$2"
}
st() { ff "$1" status; }
fe() { ff "$1" error; }

# nfiles DIR PATTERN: how many names in DIR (recursively) match PATTERN.
nfiles() {
	find "$1" -name "$2" 2>/dev/null | wc -l | tr -d ' '
}
