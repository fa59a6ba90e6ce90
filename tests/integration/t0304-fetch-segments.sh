#!/bin/sh
# mm-fetch splits large files over several ranged connections when the
# server allows it, hashes them as they arrive, and resumes them piece by piece.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
SIZE=20000000
make_file files/big.bin $SIZE
BIG=$FIX_ROOT/files/big.bin
cat > "$T/in.json" <<EOF2
{"models": [{"name": "big.bin", "downloadUrl": "$FIX_URL/files/big.bin", "saveTo": "models/big.bin",
  "fileSize": $SIZE, "hash": "$(sha256_of "$BIG")"}]}
EOF2
ranges() { fix_log --method GET /files/big.bin | python3 -c 'import json, sys
print(sum(1 for e in json.load(sys.stdin) if e["headers"].get("range")))'; }

fetch 0 "a segmented download" --segments 4 --segment-min 1MB "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/big.bin" "$BIG"
check "several ranged requests" test "$(ranges)" -ge 4
is "$(fix_count --method GET --status 200 /files/big.bin)" 1 "one request without a range (the first)"

# at_once: the most ranged GET requests for big.bin that were answering at
# one time.  The first request (no range) is left out: mm-fetch hangs up on
# it at the end of the first piece, and the server goes on writing into the
# dead connection for a while.  A request counts as ended 0.1 s before the
# server logged it done, which it does only after the client has read the
# last byte and may already have asked for the next piece.
at_once() { fix_log --method GET /files/big.bin | python3 -c 'import json, sys, time
ev = []
for e in json.load(sys.stdin):
    if not e["headers"].get("range"):
        continue
    ev += [(e["time"], 1), (max(e["time"], (e["done"] or time.time()) - 0.1), -1)]
n = top = 0
for _, d in sorted(ev, key=lambda t: (t[0], t[1])):
    n += d
    top = max(top, n)
print(top)'; }

# Without --segments, more connections open only when they bring more bytes.
rm -rf "$MM_ROOT"
fix_reset
fix_rule '{"path": "/files/big.bin", "method": "GET", "rate": 3000000}'
fetch 0 "a server that caps each connection" --segment-min 1MB "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/big.bin" "$BIG"
is "$(at_once)" 4 "gets all 4 connections (the default) once two beat one"

rm -rf "$MM_ROOT"
fix_reset
fix_rule '{"path": "/files/big.bin", "method": "GET", "rate_shared": 6000000}'
fetch 0 "a link that caps the whole transfer" --segment-min 1MB -v "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/big.bin" "$BIG"
check "tries a second connection, and opens no more" test "$(at_once)" -le 2
like "$(cat "$T/log")" 'big\.bin: one connection .*, two .*: 1 connection' "-v says what it measured"

rm -rf "$MM_ROOT"
fix_reset
fix_rule '{"path": "/files/big.bin", "method": "GET", "rate_shared": 6000000}'
fetch 0 "an explicit --segments" --segments 3 --segment-min 1MB "$T/in.json"
is "$(at_once)" 3 "opens that many at once, without measuring"

rm -rf "$MM_ROOT"
fix_reset
fetch 0 "below --segment-min, one connection" --segments 4 --segment-min 100MB "$T/in.json"
is "$(fix_count --method GET /files/big.bin)" 1 "one request"

rm -rf "$MM_ROOT"
fix_reset
fix_rule '{"path": "/files/big.bin", "no_range": true}'
fetch 0 "a server without ranges" --segments 4 --segment-min 1MB "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/big.bin" "$BIG"
is "$(fix_count --method GET /files/big.bin)" 1 "gets one plain request"

rm -rf "$MM_ROOT"
fix_reset
fix_rule '{"path": "/files/big.bin", "method": "GET", "drop_after": 300000, "times": 3}'
fetch 0 "dropped pieces are fetched again" --segments 4 --segment-min 1MB --retry-delay 0.01 "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/big.bin" "$BIG"

rm -rf "$MM_ROOT"
fix_reset
fix_rule '{"path": "/files/big.bin", "corrupt_at": 15000000}'
fetch 1 "a wrong byte in a later piece is caught" --segments 4 --segment-min 1MB "$T/in.json"
like "$(fe 0)" 'hash mismatch' "as a hash mismatch"
check "nothing at the final path" test ! -e "$MM_ROOT/models/big.bin"

# started_pieces N: at least N pieces have bytes on disk, says the resume state.
started_pieces() {
	_n=$(grep -c '^piece [0-9]* [0-9]* [1-9]' "$MM_ROOT/models/.big.bin.mm-state" 2>/dev/null)
	[ "${_n:-0}" -ge "$1" ]
}

# kill -9 in the middle of a segmented download, then resume.
rm -rf "$MM_ROOT"
fix_reset
fix_rule '{"path": "/files/big.bin", "method": "GET", "stall_after": 1048576, "stall_seconds": 30}'
"$MM_BIN/mm-fetch" --progress none --segments 4 --segment-min 1MB "$T/in.json" > "$T/res" 2> "$T/log" &
pid=$!
track_pid "$pid"
wait_until 10 started_pieces 2
kill -9 "$pid"
wait "$pid" 2>/dev/null
check "the part file is kept" test -s "$MM_ROOT/models/.big.bin.mm-part"
fix_reset
fetch 0 "the segmented download resumes" --segments 4 --segment-min 1MB "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/big.bin" "$BIG"
is "$(fix_count --method GET --status 200 /files/big.bin)" 0 "every request is ranged"
check "resumedFrom counts the bytes kept" test "$(ff 0 resumedFrom)" -ge 2097152
done_testing
