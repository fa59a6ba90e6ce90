#!/bin/sh
# The fixture server, the control plane and the test library behave as
# tests/fixtures/README.md says; every other integration test relies on it.
. tests/lib.sh
need curl python3

start_fixture
like "$FIX_URL" '^http://127\.0\.0\.1:[0-9]+$' "FIX_URL is set"
like "$FIX_ALT_URL" '^http://127\.0\.0\.2:[0-9]+$' "FIX_ALT_URL is set"

make_file files/a.bin 100000
F=$FIX_ROOT/files/a.bin
cp "$F" "$T/a.copy"
make_file files/a.bin 100000
check "make_file is deterministic" cmp "$F" "$T/a.copy"
is "$(wc -c < "$F" | tr -d ' ')" 100000 "make_file makes SIZE bytes"
make_file files/b.bin 100000
isnt "$(sha256_of "$F")" "$(sha256_of "$FIX_ROOT/files/b.bin")" "make_file varies with the path"
is "$(sha256_of "$F")" "$(sha256sum "$F" | cut -d ' ' -f 1)" "sha256_of"
is "$(md5_of "$F")" "$(md5sum "$F" | cut -d ' ' -f 1)" "md5_of"

# get URL [CURL ARGS…]: body to $T/body, headers to $T/hdr, prints the status.
get() {
	_u=$1
	shift
	curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@" "$_u"
}
hdr() {
	tr -d '\r' < "$T/hdr" | sed -n "s/^$1: //Ip" | tail -n 1
}
part() {  # part FIRST COUNT: bytes of a.bin
	tail -c +$(($1 + 1)) "$F" | head -c "$2"
}

# Files, ranges, validators.
is "$(get "$FIX_URL/files/a.bin")" 200 "GET a file: 200"
check "GET a file: the bytes" cmp "$T/body" "$F"
is "$(hdr content-length)" 100000 "GET a file: Content-Length"
is "$(hdr accept-ranges)" bytes "GET a file: Accept-Ranges"
is "$(hdr content-type)" application/octet-stream "GET a file: Content-Type"
etag=$(hdr etag)
lastmod=$(hdr last-modified)
like "$etag" '^"[0-9a-f-]+"$' "GET a file: ETag"
isnt "$lastmod" "" "GET a file: Last-Modified"

is "$(get "$FIX_URL/files/a.bin" -r 10-19)" 206 "Range a-b: 206"
part 10 10 > "$T/want"
check "Range a-b: the bytes" cmp "$T/body" "$T/want"
is "$(hdr content-range)" "bytes 10-19/100000" "Range a-b: Content-Range"
is "$(get "$FIX_URL/files/a.bin" -r 99990-)" 206 "Range a-: 206"
part 99990 10 > "$T/want"
check "Range a-: the bytes" cmp "$T/body" "$T/want"
is "$(get "$FIX_URL/files/a.bin" -r -5)" 206 "Range -n: 206"
is "$(hdr content-range)" "bytes 99995-99999/100000" "Range -n: Content-Range"
is "$(get "$FIX_URL/files/a.bin" -r 100000-)" 416 "Range past the end: 416"
is "$(hdr content-range)" "bytes */100000" "416: Content-Range bytes */size"

for r in 'bytes=x-1' 'bytes=5-2' 'bytes=0-1,4-5' 'items=0-1' 'bytes=-' 'bytes=²-3'; do
	is "$(get "$FIX_URL/files/a.bin" -H "Range: $r")" 200 "Range: $r is ignored"
done
is "$(get "$FIX_URL/files/a.bin" -H 'Range: bytes=-0')" 416 "Range: bytes=-0 is unsatisfiable"
is "$(get "$FIX_URL/files/a.bin" -H 'Range: bytes=99999-200000')" 206 "Range: the end is clipped"
is "$(hdr content-range)" "bytes 99999-99999/100000" "Range: the clipped Content-Range"
is "$(get "$FIX_URL/files/a.bin" -r 10- -H "If-Range: $etag")" 206 "If-Range with the ETag: 206"
is "$(get "$FIX_URL/files/a.bin" -r 10- -H 'If-Range: "other"')" 200 "If-Range with another ETag: 200"
check "If-Range mismatch: the whole file" cmp "$T/body" "$F"
is "$(get "$FIX_URL/files/a.bin" -r 10- -H "If-Range: $lastmod")" 206 "If-Range with the date: 206"
is "$(get "$FIX_URL/files/a.bin" -r 10- -H 'If-Range: Mon, 01 Jan 2001 00:00:00 GMT')" 200 \
	"If-Range with another date: 200"

is "$(get "$FIX_URL/files/a.bin" -I)" 200 "HEAD: 200"
is "$(hdr content-length)" 100000 "HEAD: Content-Length"
is "$(get "$FIX_URL/files/nope.bin")" 404 "missing file: 404"
is "$(get "$FIX_URL/files/../../../etc/passwd" --path-as-is)" 404 "path traversal: 404"
is "$(get "$FIX_URL/files")" 404 "a directory: 404"
fix_reset
is "$(curl -sS -o /dev/null -o /dev/null -w '%{http_code} %{num_connects} ' \
	"$FIX_URL/files/a.bin" "$FIX_URL/files/a.bin")" "200 1 200 0 " "keep-alive: two requests, one connection"
is "$(fix_log | json_get 0.conn)" "$(fix_log | json_get 1.conn)" "conn: the log shows the same connection"

make_file big.bin 5000000
is "$(get "$FIX_URL/big.bin")" 200 "a 5 MB file: 200"
is "$(sha256_of "$T/body")" "$(sha256_of "$FIX_ROOT/big.bin")" "a 5 MB file: the bytes"

# Concurrent range requests, as a segmented download makes them.
for i in 0 1 2 3 4 5 6 7; do
	curl -sS -o "$T/seg.$i" -r "$((i * 625000))-$((i * 625000 + 624999))" "$FIX_URL/big.bin" &
done
wait
cat "$T"/seg.[0-7] > "$T/joined"
check "eight concurrent ranges join into the file" cmp "$T/joined" "$FIX_ROOT/big.bin"

# API answers.
api_workflow wf1 '[{"name":"a.bin","downloadUrl":"x","saveTo":"models/a.bin"}]'
api_model m1 '{"name":"m1"}'
api_collection c1 '["wf1","wf2"]'
is "$(get "$FIX_URL/workflows/name/wf1")" 200 "api_workflow: served"
is "$(hdr content-type)" application/json "api_workflow: JSON Content-Type"
is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["data"]["name"], d["data"]["models"][0]["saveTo"], d["error"])' "$T/body")" \
	"wf1 models/a.bin None" "api_workflow: the envelope"
get "$FIX_URL/models/name/m1" > /dev/null
is "$(cat "$T/body")" '{"data":{"name":"m1"},"error":null}' "api_model: the envelope"
get "$FIX_URL/collections/c1/public" > /dev/null
is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(",".join(n["name"] for n in d["data"]["collection_node"]))' "$T/body")" \
	"wf1,wf2" "api_collection: collection_node names"

# Rules.
fix_reset
fix_rule '{"path": "/files/a.bin", "status": 500, "body": "boom", "times": 2}'
is "$(get "$FIX_URL/files/a.bin")" 500 "status rule: 500"
is "$(cat "$T/body")" boom "status rule: the body"
is "$(get "$FIX_URL/files/a.bin")" 500 "times 2: second request 500"
is "$(fix_rules | json_get 0.hits)" 2 "fix_rules: hits"
is "$(get "$FIX_URL/files/a.bin")" 200 "times 2: third request served"

fix_rule '{"prefix": "/busy/", "status": 429, "retry_after": 2}'
is "$(get "$FIX_URL/busy/x")" 429 "prefix rule: 429"
is "$(hdr retry-after)" 2 "retry_after: Retry-After header"
fix_rule '{"path": "/hdr", "status": 503, "headers": {"X-Test": "yes"}}'
is "$(get "$FIX_URL/hdr")" 503 "status 503 without a body"
is "$(hdr x-test)" yes "headers: extra header"
fix_rule '{"path": "/files/b.bin", "headers": {"ETag": "\"v2\"", "Last-Modified": null}}'
get "$FIX_URL/files/b.bin" > /dev/null
is "$(hdr etag)" '"v2"' "headers: replace a header"
is "$(hdr last-modified)" "" "headers: null removes a header"
is "$(get "$FIX_URL/files/b.bin" -r 1- -H 'If-Range: "v2"')" 206 "If-Range follows a replaced ETag"

fix_rule '{"path": "/post", "method": "POST", "status": 201, "body": "made"}'
is "$(get "$FIX_URL/post" -d x)" 201 "method rule: POST matches"
is "$(get "$FIX_URL/post")" 404 "method rule: GET does not"

fix_rule '{"path": "/r", "redirect": "http://127.0.0.2:{alt_port}/files/a.bin"}'
is "$(get "$FIX_URL/r")" 302 "redirect: 302"
is "$(hdr location)" "$FIX_ALT_URL/files/a.bin" "redirect: {alt_port} in Location"
is "$(get "$FIX_URL/r" -L -H 'Authorization: Bearer s3cret')" 200 "redirect: followed to the alt host"
check "redirect: the bytes" cmp "$T/body" "$F"
is "$(fix_header --host 127.0.0.2 /files/a.bin authorization)" "" \
	"curl drops Authorization on a cross-host redirect"
is "$(fix_header --host 127.0.0.1 /r authorization)" "Bearer s3cret" "fix_header: a header"
fix_rule '{"path": "/r301", "redirect": "{port}", "code": 301}'
get "$FIX_URL/r301" > /dev/null
is "$(hdr location)" "$FIX_PORT" "redirect: {port} and code"

fix_rule '{"path": "/secret.bin", "require_token": "abc"}'
make_file secret.bin 1000
is "$(get "$FIX_URL/secret.bin")" 401 "require_token: none, 401"
is "$(get "$FIX_URL/secret.bin" -H 'Authorization: Bearer xyz')" 403 "require_token: wrong, 403"
is "$(get "$FIX_URL/secret.bin" -H 'Authorization: Bearer abc')" 200 "require_token: right, 200"

fix_rule '{"path": "/files/a.bin", "drop_after": 1000, "times": 1}'
exit_is 18 "drop_after: curl sees a truncated body" curl -sS -o "$T/body" "$FIX_URL/files/a.bin"
is "$(wc -c < "$T/body" | tr -d ' ')" 1000 "drop_after: N bytes arrived"
fix_rule '{"path": "/files/a.bin", "drop_after": 0, "reset": true, "times": 1}'
exit_is 56 "drop_after with reset: connection reset" curl -sS -o "$T/body" "$FIX_URL/files/a.bin"
fix_rule '{"path": "/files/a.bin", "close": true, "times": 1}'
exit_is 52 "close: no response at all" curl -sS -o "$T/body" "$FIX_URL/files/a.bin"
is "$(get "$FIX_URL/files/a.bin" -r 1000-)" 206 "resume after a drop"

fix_rule '{"path": "/files/a.bin", "corrupt_at": 500, "times": 1}'
get "$FIX_URL/files/a.bin" > /dev/null
is "$(cmp -l "$T/body" "$F" | wc -l | tr -d ' ')" 1 "corrupt_at: exactly one byte differs"
is "$(cmp -l "$T/body" "$F" | awk '{print $1}')" 501 "corrupt_at: at the offset"

fix_rule '{"path": "/files/a.bin", "no_range": true, "times": 1}'
is "$(get "$FIX_URL/files/a.bin" -r 10-19)" 200 "no_range: Range ignored"
is "$(hdr accept-ranges)" "" "no_range: no Accept-Ranges"
fix_rule '{"path": "/files/a.bin", "no_head": true, "times": 2}'
is "$(get "$FIX_URL/files/a.bin" -I)" 405 "no_head: HEAD is 405"
is "$(get "$FIX_URL/files/a.bin")" 200 "no_head: GET is served"

fix_rule '{"path": "/api.json", "status": 200, "body": {"data": [1, 2], "error": null}, "gzip": true}'
is "$(get "$FIX_URL/api.json" --compressed)" 200 "gzip: 200"
is "$(hdr content-encoding)" gzip "gzip: Content-Encoding"
is "$(cat "$T/body")" '{"data": [1, 2], "error": null}' "gzip: decoded body; JSON body from an object"
is "$(hdr content-type)" application/json "literal JSON body: Content-Type"
get "$FIX_URL/api.json" > /dev/null
is "$(hdr content-encoding)" "" "gzip: only when the client accepts it"

fix_rule '{"path": "/fill", "body_size": 3000000, "body_fill": "ab"}'
get "$FIX_URL/fill" > /dev/null
is "$(wc -c < "$T/body" | tr -d ' ')" 3000000 "body_size: the size"
is "$(head -c 6 "$T/body")$(tail -c 2 "$T/body")" abababab "body_fill: the content"
is "$(get "$FIX_URL/fill" -r 1-4)" 206 "body_size: Range works"
is "$(cat "$T/body")" baba "body_size: ranged content"
fix_rule '{"path": "/bad.json", "status": 200, "body_b64": "/wB7"}'
get "$FIX_URL/bad.json" > /dev/null
is "$(od -An -tx1 "$T/body" | tr -d ' ')" ff007b "body_b64: raw bytes"

fix_rule '{"path": "/files/a.bin", "rate": 1000000, "times": 1}'
get "$FIX_URL/files/a.bin" > /dev/null
check "rate: the bytes" cmp "$T/body" "$F"

fix_rule '{"path": "/alt-only", "host": "127.0.0.2", "status": 418}'
is "$(get "$FIX_ALT_URL/alt-only")" 418 "host rule: matches the alt listener"
is "$(get "$FIX_URL/alt-only")" 404 "host rule: not the primary"
is "$(get "$FIX_ALT_URL/_ctl/log")" 404 "no control plane on the alt listener"

make_file files/c.bin 300000
fix_rule '{"path": "/files/c.bin", "chunked": true, "times": 1}'
is "$(get "$FIX_URL/files/c.bin")" 200 "chunked: 200"
is "$(hdr transfer-encoding)/$(hdr content-length)" chunked/ "chunked: no Content-Length"
check "chunked: the bytes" cmp "$T/body" "$FIX_ROOT/files/c.bin"
fix_rule '{"path": "/files/c.bin", "headers": {"Content-Length": "10"}, "times": 1}'
is "$(curl -sS -o "$T/body" -o /dev/null -w '%{http_code} ' "$FIX_URL/files/c.bin" "$FIX_URL/files/c.bin")" \
	"200 200 " "headers: a lying Content-Length, then a clean connection"
is "$(wc -c < "$T/body" | tr -d ' ')" 10 "headers: the client believes Content-Length"

# https, with the test CA.
is "$(get "$FIX_TLS_URL/files/a.bin" --cacert "$FIX_CA")" 200 "https: 200 with FIX_CA"
check "https: the bytes" cmp "$T/body" "$F"
is "$(get "$FIX_TLS_ALT_URL/files/a.bin" --cacert "$FIX_CA" -r 0-9)" 206 "https on the alt host"
exit_is 60 "https: the certificate is not trusted without FIX_CA" \
	curl -sS -o /dev/null "$FIX_TLS_URL/files/a.bin"
fix_rule '{"path": "/down", "scheme": "https", "redirect": "http://127.0.0.1:{port}/files/a.bin"}'
get "$FIX_TLS_URL/down" --cacert "$FIX_CA" > /dev/null
is "$(hdr location)" "$FIX_URL/files/a.bin" "redirect from https to http"
is "$(get "$FIX_URL/down")" 404 "scheme rule: not on http"
fix_rule '{"path": "/up", "redirect": "https://127.0.0.2:{tls_alt_port}/files/a.bin"}'
is "$(get "$FIX_URL/up" -L --cacert "$FIX_CA")" 200 "redirect to {tls_alt_port}"
is "$(fix_count --scheme https --host 127.0.0.2 /files/a.bin)" 2 "fix_count --scheme"

# A stall: the transfer stops at N bytes, the log shows it live, and a client
# that goes away is noticed.
fix_reset
fix_rule '{"path": "/files/b.bin", "stall_after": 4096, "stall_seconds": 30, "times": 1}'
curl -sS -o "$T/stalled" "$FIX_URL/files/b.bin" 2>/dev/null &
cpid=$!
track_pid "$cpid"
check "stall_after: fix_wait sees N bytes" fix_wait --bytes 4096 /files/b.bin
is "$(fix_log /files/b.bin | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["bytes"])')" 4096 \
	"stall_after: no more than N bytes"
kill "$cpid"
wait "$cpid" 2>/dev/null
# shellcheck disable=SC2317 # called through wait_until
aborted() {
	[ "$(fix_log /files/b.bin | json_get -1.aborted)" = true ]
}
check "stall: a client that left is noticed" wait_until 5 aborted
fix_rule '{"path": "/files/b.bin", "stall_after": 10, "stall_seconds": 0.2, "times": 1}'
get "$FIX_URL/files/b.bin" > /dev/null
check "stall: the transfer goes on afterwards" cmp "$T/body" "$FIX_ROOT/files/b.bin"

fix_rule '{"path": "/slow", "delay": 0.1, "body": "late"}'
is "$(get "$FIX_URL/slow")" 200 "delay: then the response"
is "$(cat "$T/body")" late "delay: the body"
fix_rule '{"path": "/hang", "delay": 30, "body": "never"}'
exit_is 28 "delay: a client times out first" curl -sS --max-time 1 "$FIX_URL/hang"
# shellcheck disable=SC2317 # called through wait_until
hang_aborted() {
	[ "$(fix_log /hang | json_get -1.aborted)" = true ]
}
check "delay: a client that left is noticed" wait_until 5 hang_aborted

# The control plane.
exit_is 22 "an unknown rule key is refused" curl -sS --fail-with-body -d '{"path": "/x", "stauts": 500}' "$FIX_URL/_ctl/rule"
like "$(cat "$T/out")" "unknown rule key 'stauts'" "the refusal names the key"
exit_is 22 "a path without / is refused" curl -sS --fail-with-body -d '{"path": "x"}' "$FIX_URL/_ctl/rule"
exit_is 22 "bad base64 is refused" curl -sS --fail-with-body -d '{"body_b64": "**"}' "$FIX_URL/_ctl/rule"
exit_is 22 "an unknown log filter is refused" curl -sS --fail-with-body "$FIX_URL/_ctl/count?paht=/x"
fix_reset
is "$(fix_count)" 0 "fix_reset clears the log"
is "$(fix_rules)" "[]" "fix_reset clears the rules (fix_rules)"
is "$(get "$FIX_URL/files/a.bin")" 200 "fix_reset clears the rules"
curl -sS -o /dev/null -I "$FIX_URL/files/a.bin?x=1"
curl -sS -o /dev/null "$FIX_ALT_URL/files/a.bin" -r 0-9
is "$(fix_count /files/a.bin)" 3 "fix_count PATH"
is "$(fix_count --method HEAD /files/a.bin)" 1 "fix_count --method"
is "$(fix_count --host 127.0.0.2 '/files/*')" 1 "fix_count --host, prefix"
is "$(fix_header --index 1 /files/a.bin range)" "" "fix_header --index: absent header"
is "$(fix_header /files/a.bin range)" "bytes=0-9" "fix_header: last request"
exit_is 1 "fix_header: status 1 when absent" fix_header /files/a.bin x-nope
is "$(fix_count --status 206)" 1 "fix_count --status"
check "fix_wait: a request already logged" fix_wait --bytes 10 --host 127.0.0.2 /files/a.bin
exit_is 1 "fix_wait: times out" fix_wait --timeout 0.1 /never
fix_log > "$T/log.json"
check "conn, time, done: three connections, in order" python3 -c '
import json, sys
log = json.load(open(sys.argv[1]))
assert len({e["conn"] for e in log}) == 3, log
assert all(e["time"] <= e["done"] for e in log), log
assert log[0]["time"] <= log[1]["time"] <= log[2]["time"], log' "$T/log.json"
is "$(python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))[1]
print(e["method"], e["path"], e["query"], e["host"], e["status"], e["bytes"], sorted(e["headers"])[0])' "$T/log.json")" \
	"HEAD /files/a.bin x=1 127.0.0.1 200 0 accept" "fix_log: the fields of an entry"

# Helpers.
printf '%s' '{"models": [{"name": "a", "fetch": {"status": "ok"}}, {"name": "b"}], "n": 2}' > "$T/doc.json"
is "$(json_get models.0.fetch.status "$T/doc.json")" ok "json_get: a string, raw"
is "$(json_get models.-1 < "$T/doc.json")" '{"name": "b"}' "json_get: stdin, negative index, JSON"
is "$(json_get 'models.#' "$T/doc.json")" 2 "json_get: length"
exit_is 1 "json_get: a missing path" json_get models.2 "$T/doc.json"
echo nope > "$T/nope.json"
exit_is 2 "json_get: not JSON" json_get a "$T/nope.json"
mkdir -p "$T/leak/sub"
echo "Bearer hf_secret" > "$T/leak/sub/log"
no_leak hf_other "no_leak: absent" "$T/leak"
# A failing assertion, in a test of its own.
# shellcheck disable=SC2016 # expanded by the inner shell
exit_is 1 "no_leak: present is a failure" \
	sh -c '. tests/lib.sh; no_leak hf_secret inner "$1"; done_testing' - "$T/leak"
is "$(cat "$T/out")" "$(printf 'not ok 1 - inner\n1..1')" "a failed test: not ok, the plan, status 1"
unlike "$(cat "$T/out" "$T/err")" hf_secret "no_leak: never prints the secret"
like "$(cat "$T/err")" "^# .*leak/sub/log" "no_leak: names the file in a diagnostic"

# Redis.
if command -v redis-server > /dev/null 2>&1; then
	start_redis
	is "$(rcli ping)" PONG "start_redis: answers on the socket"
	is "$(redis-cli -p "$REDIS_PORT" ping)" PONG "start_redis: answers on the TCP port"
	is "$REDIS_URL" "unix://$T/redis.sock" "REDIS_URL"
	rcli set k v > /dev/null
	rcli hset h f1 v1 > /dev/null
	rcli sadd s m2 m1 > /dev/null
	is "$(redis_dump | tr '\n' ' ')" "h (hash)   f1   v1 k (string)   v s (set)   m1   m2 " "redis_dump"
	restart_redis
	is "$(rcli ping)" PONG "restart_redis: up again"
	is "$(rcli exists k)" 0 "restart_redis: empty"

	start_redis_proxy --cut-on EXEC --times 1
	is "$PROXY_URL" "redis://127.0.0.1:$PROXY_PORT" "PROXY_URL"
	is "$(redis-cli -p "$PROXY_PORT" ping)" PONG "proxy: passes commands through"
	printf 'MULTI\nSET t 1\nEXEC\n' | redis-cli -p "$PROXY_PORT" > "$T/tx" 2>&1
	like "$(cat "$T/tx")" "QUEUED" "proxy: MULTI and SET went through"
	is "$(rcli exists t)" 0 "proxy --cut-on EXEC: the transaction never ran"
	printf 'MULTI\nSET t 1\nEXEC\n' | redis-cli -p "$PROXY_PORT" > /dev/null 2>&1
	is "$(rcli get t)" 1 "proxy --times 1: the next connection passes"
	stop_redis_proxy
	exit_is 1 "stop_redis_proxy: gone" redis-cli -p "$PROXY_PORT" ping
	stop_redis
	exit_is 1 "stop_redis: gone" redis-cli -s "$REDIS_SOCK" ping
else
	skip "redis" "redis-server is not installed"
fi

done_testing
