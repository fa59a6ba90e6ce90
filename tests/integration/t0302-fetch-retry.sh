#!/bin/sh
# mm-fetch retries what may succeed (5xx, 429, 408, dropped or stalled
# connections) with backoff and Retry-After, and nothing else.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
make_file files/a.bin 200000
A=$FIX_ROOT/files/a.bin
cat > "$T/in.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "fileSize": 200000, "hash": "$(sha256_of "$A")"}]}
EOF2
now() { python3 -c 'import time; print(time.time())'; }
# elapsed T0: seconds since T0, as a whole number of tenths.
tenths() { python3 -c 'import sys, time; print(int((time.time() - float(sys.argv[1])) * 10))' "$1"; }
again() { rm -f "$MM_ROOT/models/a.bin"; fix_reset; }

fix_rule '{"path": "/files/a.bin", "status": 500}'
fetch 1 "a file that always answers 500 fails" --retry-delay 0.1 "$T/in.json"
is "$(fix_count --method GET /files/a.bin)" 3 "after 3 attempts (the default)"
like "$(fe 0)" 'HTTP 500.*after 3 attempts' "the error says what and how often"
check "nothing at the final path" test ! -e "$MM_ROOT/models/a.bin"

again
fix_rule '{"path": "/files/a.bin", "status": 500}'
MODEL_DOWNLOAD_RETRY_ATTEMPTS=5 fetch 1 "MODEL_DOWNLOAD_RETRY_ATTEMPTS=5" --retry-delay 0.05 "$T/in.json"
is "$(fix_count --method GET /files/a.bin)" 5 "5 attempts"
again
fix_rule '{"path": "/files/a.bin", "status": 500}'
MODEL_DOWNLOAD_RETRY_ATTEMPTS=5 fetch 1 "--attempts overrides it" --attempts 1 "$T/in.json"
is "$(fix_count --method GET /files/a.bin)" 1 "1 attempt"

again
fix_rule '{"path": "/files/a.bin", "status": 500, "times": 2}'
t0=$(now)
fetch 0 "two 500s, then the file" --retry-delay 0.5 "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
is "$(fix_count --method GET /files/a.bin)" 3 "three requests"
is "$(ff 0 attempts)" 3 "attempts: 3"
check "backoff: at least 0.5/2 + 1.0/2 s of waiting" test "$(tenths "$t0")" -ge 7

again
fix_rule '{"path": "/files/a.bin", "status": 503, "retry_after": "1", "times": 2}'
t0=$(now)
fetch 0 "503 with Retry-After, twice" --retry-delay 0.01 "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
check "Retry-After is honoured (2 s at least)" test "$(tenths "$t0")" -ge 20

again
fix_rule '{"path": "/files/a.bin", "status": 429, "retry_after": "1", "times": 1}'
t0=$(now)
fetch 0 "429 with Retry-After" --retry-delay 0.01 "$T/in.json"
check "Retry-After is honoured (1 s at least)" test "$(tenths "$t0")" -ge 10
like "$(cat "$T/log")" 'HTTP 429.*retrying in 1\.0 s' "the wait is announced"

again
fix_rule '{"path": "/files/a.bin", "status": 503, "times": 1}'
fetch 0 "--progress none: a 503 is retried" --progress none --retry-delay 0.01 "$T/in.json"
like "$(cat "$T/log")" 'warning: a\.bin: .*503.*retrying in' "--progress none still says why it retries"
unlike "$(cat "$T/log")" 'downloading' "but prints no progress"
again
fix_rule '{"path": "/files/a.bin", "status": 503, "times": 1}'
fetch 0 "-q: a 503 is retried" -q --retry-delay 0.01 "$T/in.json"
is "$(cat "$T/log")" "" "-q prints nothing when all ends well"

again
fix_rule '{"path": "/files/a.bin", "status": 408, "times": 1}'
fetch 0 "408 is retried" --retry-delay 0.01 "$T/in.json"

for code in 400 403 410; do
	again
	fix_rule "{\"path\": \"/files/a.bin\", \"status\": $code}"
	fetch 1 "$code fails" --retry-delay 0.01 "$T/in.json"
	is "$(fix_count --method GET /files/a.bin)" 1 "$code is not retried"
done

again
fix_rule '{"path": "/files/a.bin", "close": true, "times": 2}'
fetch 0 "closed connections are retried" --retry-delay 0.01 "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"

again
fix_rule '{"path": "/files/a.bin", "stall_after": 50000, "stall_seconds": 20, "times": 1}'
fetch 0 "a stalled transfer is retried" --retry-delay 0.01 --stall-timeout 1 "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
like "$(cat "$T/log")" 'stalled: no data for 1 s' "the stall is named as such"
like "$(fix_header --method GET /files/a.bin range)" '^bytes=50000-' "and the retry resumes"

# The per-file limit is not a stall: a slow but steady file that passes it
# fails at once and keeps its part file for the next run.
make_file files/slow.bin 3000000
cat > "$T/slow.json" <<EOF2
{"models": [{"name": "slow.bin", "downloadUrl": "$FIX_URL/files/slow.bin", "saveTo": "models/slow.bin",
  "fileSize": 3000000}]}
EOF2
fix_rule '{"path": "/files/slow.bin", "rate": 200000}'
fetch 1 "a file over the per-file limit fails" --timeout 0.03 --stall-timeout 1 "$T/slow.json"
like "$(fe 0)" 'timed out: the file took longer than 2 s' "the error names the limit"
is "$(fix_count --method GET /files/slow.bin)" 1 "it is not retried"
check "the part file is kept" test -s "$MM_ROOT/models/.slow.bin.mm-part"
check "nothing at the final path" test ! -e "$MM_ROOT/models/slow.bin"

# Without ranges a dropped body cannot be kept: every drop counts.
again
fix_rule '{"path": "/files/a.bin", "no_range": true, "drop_after": 100000}'
fetch 1 "a server without ranges that always drops" --retry-delay 0.01 "$T/in.json"
is "$(fix_count --method GET /files/a.bin)" 3 "gives up after 3 attempts"
check "nothing at the final path" test ! -e "$MM_ROOT/models/a.bin"

# A server that can resume: each dropped try keeps its bytes, so it does not
# count against --attempts, and the file arrives in more tries than that.
again
fix_rule '{"path": "/files/a.bin", "drop_after": 50000}'
fetch 0 "a resumable server that drops every 50000 bytes, --attempts 2" \
	--retry-delay 0.01 --attempts 2 "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
check "in more requests than --attempts" test "$(fix_count --method GET /files/a.bin)" -ge 4
# mm-fetch(1) says both halves of the rule.
like "$(tr '\n' ' ' < "$MM_TOP/man/mm-fetch.1")" \
	'A try that received bytes the next try can keep .* does not count against .Fl -attempts ; a try whose bytes are lost .* does' \
	"the page says which tries count"
done_testing
