#!/bin/sh
# Two mm-fetch runs on one MM_ROOT never write the same file at once: the
# second waits (or, with --no-wait, gives up); --limit-rate caps the
# bandwidth; progress goes to stderr only.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
make_file files/a.bin 2000000
A=$FIX_ROOT/files/a.bin
cat > "$T/in.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "fileSize": 2000000, "hash": "$(sha256_of "$A")"}]}
EOF2

fix_rule '{"path": "/files/a.bin", "method": "GET", "stall_after": 500000, "stall_seconds": 5, "times": 1}'
"$MM_BIN/mm-fetch" --progress plain "$T/in.json" > "$T/res1" 2> "$T/log1" &
pid=$!
track_pid "$pid"
fix_wait --bytes 500000 /files/a.bin
fetch 1 "--no-wait gives up on a file another run holds" --no-wait "$T/in.json"
like "$(fe 0)" 'another mm-fetch is downloading' "and says why"
fetch 0 "a second run waits for the first" --progress plain "$T/in.json"
like "$(cat "$T/log")" 'waiting for another mm-fetch' "it says it waits"
is "$(st 0)" present "then finds the file present"
wait "$pid"
is "$?" 0 "the first run succeeds"
is "$(fix_count --method GET /files/a.bin)" 1 "the file was downloaded once"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"

# --limit-rate: 16 MB at 4 MB/s takes about 4 s (less the loopback socket buffers).
make_file files/c.bin 16000000
cat > "$T/c.json" <<EOF2
{"models": [{"name": "c.bin", "downloadUrl": "$FIX_URL/files/c.bin", "saveTo": "models/c.bin", "fileSize": 16000000}]}
EOF2
t0=$(date +%s)
fetch 0 "--limit-rate" --limit-rate 4M "$T/c.json"
check "takes at least 2 s" test $(($(date +%s) - t0)) -ge 2
fetch 2 "a bad --limit-rate exits 2" --limit-rate fast "$T/in.json"

# Progress: plain lines on stderr, nothing but JSON on stdout; -q is silent.
rm -rf "$MM_ROOT"
fetch 0 "--progress plain" --progress plain "$T/in.json"
like "$(cat "$T/log")" 'a.bin: downloading' "a line when a file starts"
like "$(cat "$T/log")" '1 downloaded, 0 present, 0 failed' "a summary at the end"
check "stdout is JSON" python3 -m json.tool "$T/res"
rm -rf "$MM_ROOT"
fetch 0 "--progress bar" --progress bar "$T/in.json"
like "$(cat "$T/log")" 'total:' "draws a total line"
rm -rf "$MM_ROOT"
fetch 0 "-q" -q "$T/in.json"
unlike "$(cat "$T/log")" 'mm-fetch' "-q prints nothing on success"
done_testing
