#!/bin/sh
# A server's Retry-After cannot hold a machine's boot hostage: a 503 asking
# for a day's wait is retried within half the time the file has left, so the
# file still arrives inside a 12-second per-file limit.
. tests/lib.sh
. tests/lib-fetch.sh

[ -x "$MM_BIN/mm-fetch" ] || skip_all "mm-fetch is not built"
start_fixture
export MM_ROOT="$T/root"
make_file files/a.bin 1000
cat > "$T/in.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin"}]}
EOF2
fix_rule '{"path": "/files/a.bin", "method": "GET", "status": 503, "retry_after": "86400", "times": 1}'
fetch 0 "a 503 with Retry-After: 86400 still ends in the file" --timeout 0.2 "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$FIX_ROOT/files/a.bin"
unlike "$(cat "$T/log")" 'retrying in 86400' "the day-long wait is not taken at its word"
is "$(fix_count --method GET /files/a.bin)" 2 "one refusal, one retry"
done_testing
