#!/bin/sh
# kill -9 of mm-fetch at 20 random points of a three-file download, each
# followed by a rerun: no final path ever holds a wrong or partial file,
# every rerun ends with all three files correct, and it resumes what the
# killed run left on disk (a Range request from the recorded offset)
# rather than starting over.
. tests/lib.sh
. tests/lib-fetch.sh
. tests/lib-fault.sh

[ -x "$MM_BIN/mm-fetch" ] || skip_all "mm-fetch is not built"
start_fixture
export MM_ROOT="$T/root"
SIZE=1500000
for f in a b c; do make_file "files/$f.bin" $SIZE; done
python3 - "$FIX_ROOT" "$FIX_URL" > "$T/in.json" <<'PY'
import hashlib, json, sys
fix, url = sys.argv[1:3]
print(json.dumps({"models": [
    {"name": n + ".bin", "downloadUrl": "%s/files/%s.bin" % (url, n), "saveTo": "models/%s.bin" % n,
     "hash": hashlib.sha256(open("%s/files/%s.bin" % (fix, n), "rb").read()).hexdigest()}
    for n in "abc"]}))
PY
SEED=${MM_FAULT_SEED:-$(date +%s)}
diag "MM_FAULT_SEED=$SEED"

# recorded F: the bytes the resume state of models/F.bin says are on disk
# (0 when there is no state).
recorded() {
	python3 - "$MM_ROOT/models/.$1.bin.mm-state" <<'PY'
import sys
n = 0
try:
    for line in open(sys.argv[1]):
        w = line.split()
        if w[:1] == ["piece"] and len(w) == 4:
            n += int(w[3])
except OSError:
    pass
print(n)
PY
}

# first_range F: the Range header of the first GET of F since the last reset.
first_range() {
	fix_header --method GET --index 1 "/files/$1.bin" range || echo none
}

resumed=0
# Fewer points under the sanitizer build: the plain run covers twenty.
points=20
[ "${MM_SAN:-0}" = 1 ] && points=6
i=0
while [ "$i" -lt "$points" ]; do
	i=$((i + 1))
	rm -rf "$MM_ROOT"
	fix_reset
	# Slow enough to be caught mid-body, and past the first save of the
	# resume state (once a second): 1.5 MB per file at 700 KB/s.
	fix_rule '{"prefix": "/files/", "method": "GET", "rate": 700000}'
	pick=$(python3 -c 'import random, sys; r = random.Random(sys.argv[1]); print(r.choice("abc"), r.randint(1, 1400000))' "$SEED-$i")
	victim=${pick% *} at=${pick#* }
	"$MM_BIN/mm-fetch" --progress none "$T/in.json" > /dev/null 2> "$T/kill.err" &
	pid=$!
	track_pid "$pid"
	fix_wait --bytes "$at" --timeout 20 "/files/$victim.bin"
	kill -9 "$pid" 2> /dev/null
	wait "$pid" 2> /dev/null
	# Whatever is at a final path now is whole.
	bad=
	for f in a b c; do
		if [ -e "$MM_ROOT/models/$f.bin" ] && ! cmp -s "$MM_ROOT/models/$f.bin" "$FIX_ROOT/files/$f.bin"; then
			bad="$bad $f"
		fi
	done
	is "$bad" "" "point $i ($victim.bin at byte $at): no wrong file at a final path after kill -9"
	for f in a b c; do
		eval "rec_$f=$(recorded "$f")"
	done
	fix_reset
	fetch 0 "point $i: the rerun succeeds" "$T/in.json"
	end_state "kill -9 at point $i, then a rerun" "$T/res"
	# Every file with bytes recorded on disk is continued from them.
	for f in a b c; do
		rec=0
		eval "rec=\$rec_$f"
		[ "$rec" -gt 0 ] || continue
		[ -e "$MM_ROOT/models/$f.bin" ] || continue
		r=$(first_range "$f")
		case $r in
		bytes=0-*|none) fail "point $i: $f.bin resumed from byte $rec" "first request: Range $r" ;;
		bytes=*) resumed=$((resumed + 1)) ;;
		esac
	done
	is "$(nfiles "$MM_ROOT" '*.mm-part')$(nfiles "$MM_ROOT" '*.mm-state')" 00 "point $i: no part or state file is left"
done
diag "downloads resumed after kill -9: $resumed"
check "at least one download was resumed" test "$resumed" -gt 0
done_testing
