#!/bin/sh
# mm-fetch continues interrupted downloads from the bytes on disk — after a
# dropped connection, kill -9 or SIGTERM — and starts over when the file
# changed upstream or the server refuses the range.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
SIZE=3000000
make_file files/a.bin $SIZE
A=$FIX_ROOT/files/a.bin
manifest() {
	cat > "$T/in.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "hash": "$(sha256_of "$A")"}]}
EOF2
}
manifest
STATE=$MM_ROOT/models/.a.bin.mm-state
PART=$MM_ROOT/models/.a.bin.mm-part

# A connection dropped mid-body is continued in the same run.
fix_rule '{"path": "/files/a.bin", "method": "GET", "drop_after": 1000000, "times": 1}'
fetch 0 "a dropped download completes" --retry-delay 0 "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
like "$(fix_header --method GET /files/a.bin range)" '^bytes=1000000-' "the retry asks for the rest with Range"
isnt "$(fix_header --method GET /files/a.bin if-range)" "" "and If-Range"
is "$(ff 0 attempts)" 2 "two attempts are reported"

# interrupt SIGNAL: start a download that stalls after 1 MiB, wait until the
# resume state records bytes on disk, then send SIGNAL.
interrupt() {
	rm -f "$MM_ROOT/models/a.bin"
	fix_reset
	fix_rule '{"path": "/files/a.bin", "method": "GET", "stall_after": 1048576, "stall_seconds": 30, "times": 1}'
	"$MM_BIN/mm-fetch" --progress none "$T/in.json" > "$T/res" 2> "$T/log" &
	pid=$!
	track_pid "$pid"
	fix_wait --bytes 1048576 /files/a.bin
	wait_until 10 grep -q '^piece 0 3000000 [1-9]' "$STATE"
	kill "-$1" "$pid"
	wait "$pid"
	echo $? > "$T/rc"
}

interrupt KILL
check "kill -9 keeps the part file" test -s "$PART"
check "nothing at the final path" test ! -e "$MM_ROOT/models/a.bin"
fix_reset
fetch 0 "the next run completes" "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
is "$(fix_count --method GET /files/a.bin)" 1 "one request"
like "$(fix_header --method GET /files/a.bin range)" '^bytes=[1-9][0-9]*-' "it resumes with Range"
check "resumedFrom says from where" test "$(ff 0 resumedFrom)" -ge 1048576
check "the state file is gone" test ! -e "$STATE"

interrupt TERM
is "$(cat "$T/rc")" 143 "SIGTERM exits 143"
is "$(st 0)" failed "the manifest printed says failed"
is "$(fe 0)" interrupted "because it was interrupted"
check "the part file is kept" test -s "$PART"
check "nothing at the final path" test ! -e "$MM_ROOT/models/a.bin"
fix_reset
fetch 0 "the next run completes" "$T/in.json"
like "$(fix_header --method GET /files/a.bin range)" '^bytes=[1-9][0-9]*-' "it resumes with Range"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"

interrupt INT
is "$(cat "$T/rc")" 130 "SIGINT exits 130"

# The file changed upstream: If-Range gets the whole new file, no stitching.
sleep 1
make_file files/a.bin $SIZE other-seed
manifest
fix_reset
fetch 0 "a changed file downloads whole" "$T/in.json"
check "the new bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
is "$(fix_header --method GET --index -1 /files/a.bin range)" "" "the last request has no Range"

# stale_part: a 12 MiB part file whose state names an old validator, so the
# hashing threads are still reading old bytes when the server's 200 says the
# file changed.  None of those bytes may reach the new file's hash.
stale_part() {
	rm -f "$MM_ROOT/models/a.bin"
	head -c 12582912 /dev/urandom > "$PART"
	python3 - "$STATE" "$FIX_URL/files/a.bin" <<'PY'
import sys
h = 1469598103934665603
for c in sys.argv[2].encode():
    h = ((h ^ c) * 1099511628211) & (2**64 - 1)
open(sys.argv[1], "w").write("mm-state 1\nurl %016x\nsize 16777216\n"
    "validator \"old\"\nsegmented 0\npiece 0 16777216 12582912\n" % h)
PY
}
for i in 1 2 3 4 5; do
	stale_part
	fetch 0 "restart $i after hashing old bytes: the file verifies" "$T/in.json"
	like "$(cat "$T/log")" 'changed on the server; starting over' "restart $i: it started over"
	check "restart $i: the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
done

# A 416 for the part file: start over, not stuck at 99%.
interrupt KILL
fix_reset
fix_rule '{"path": "/files/a.bin", "method": "GET", "status": 416, "headers": {"Content-Range": "bytes */3000000"}, "times": 1}'
fetch 0 "a 416 restarts cleanly" "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
is "$(fix_count --method GET /files/a.bin)" 2 "two requests: the refused range, then the whole file"
done_testing
