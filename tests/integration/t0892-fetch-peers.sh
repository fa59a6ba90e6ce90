#!/bin/sh
# mm-fetch takes a model from a fleet peer before the origin: a live machine
# (real mm-serve, real redis-server) that holds the sha256; a stale
# heartbeat, this machine itself and MM_PEERS=0 leave the origin; a peer
# that vanished, refuses, redirects or drops mid-file hands over to the next
# source, keeping the bytes on disk; a peer that sends wrong bytes is named,
# skipped for the rest of the run, and the file is still right; a peer gets
# MM_SERVE_TOKEN and never a model token; Redis out of reach costs the peers,
# never the run.
. tests/lib.sh
. tests/lib-fetch.sh
need curl python3

start_fixture
start_redis
make_file files/a.bin 3000000
make_file files/c.bin 400000
make_file files/m.bin 200000
ha=$(sha256_of "$FIX_ROOT/files/a.bin")
hc=$(sha256_of "$FIX_ROOT/files/c.bin")
hm=$(sha256_of "$FIX_ROOT/files/m.bin")
mm5=$(md5_of "$FIX_ROOT/files/m.bin")
# a.bin and c.bin known by their sha256; m.bin by its md5 only (origin only).
cat > "$T/in.json" <<EOF
{"models": [
 {"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/loras/a.bin", "hash": "$ha"},
 {"name": "c.bin", "downloadUrl": "$FIX_URL/files/c.bin", "saveTo": "models/loras/c.bin", "hash": "$hc"},
 {"name": "m.bin", "downloadUrl": "$FIX_URL/files/m.bin", "saveTo": "models/loras/m.bin", "hash": "md5:$mm5"}]}
EOF
export REDIS_URL

# bf N KIND: bytes of model N that came from KIND.
bf() {
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["models"][int(sys.argv[2])]
print(m.get("fetch", {}).get("bytesFrom", {}).get(sys.argv[3], ""))' "$T/res" "$1" "$2"
}
gets() { fix_count --method GET "$1"; }

# ------------------------------------------------- machine A: origin, then serve
MM_ROOT=$T/a MACHINE_ID=peer-a sh -c \
	'"$MM_BIN/mm-fetch" -q "$1" | "$MM_BIN/mm-verify" -q | "$MM_BIN/mm-report" -q' sh "$T/in.json" \
	> /dev/null 2> "$T/a.err"
is "$?" 0 "machine A fetches, verifies and reports"
like "$(rcli hget machine:peer-a:models models)" "$ha" "its inventory carries the sha256"
MM_ROOT=$T/a MACHINE_ID=peer-a "$MM_BIN/mm-serve" -v --listen 127.0.0.2:0 < /dev/null > /dev/null 2> "$T/serve.log" &
SPID=$!
track_pid "$SPID"
wait_until 20 sh -c "[ -n \"\$(redis-cli -s $REDIS_SOCK hget machine:peer-a:models serve_url)\" ]" ||
	fail "mm-serve advertises its URL" "$(cat "$T/serve.log")"
like "$(rcli hget machine:peer-a:models serve_url)" "^http://127\\.0\\.0\\.2:" "A serves on 127.0.0.2"
served() { grep -c "GET /sha256/$1" "$T/serve.log"; }

# ------------------------------------------------- machine B takes it from A
mkdir "$T/mb" "$T/mx"
fix_reset
MM_ROOT=$T/b MACHINE_ID=gpu-b fetch 0 "machine B: exit 0" --metrics-dir "$T/mb" "$T/in.json"
check "a.bin: the right bytes" cmp "$T/b/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
check "c.bin: the right bytes" cmp "$T/b/models/loras/c.bin" "$FIX_ROOT/files/c.bin"
check "m.bin: the right bytes" cmp "$T/b/models/loras/m.bin" "$FIX_ROOT/files/m.bin"
is "$(gets /files/a.bin)" 0 "the origin got no request for a.bin"
is "$(gets /files/c.bin)" 0 "nor for c.bin"
is "$(gets /files/m.bin)" 1 "m.bin, known by md5 alone, comes from its origin"
is "$(served "$ha")" 1 "A served a.bin"
is "$(served "$hm")" 0 "A was not asked for m.bin"
is "$(ff 0 source)" "peer peer-a" "a.bin's fetch object names the peer"
is "$(bf 0 peer)" 3000000 "bytesFrom.peer"
is "$(bf 0 origin)" 0 "bytesFrom.origin"
is "$(ff 2 source)" "" "m.bin: no source beyond its origin"
like "$(cat "$T/log")" "a.bin: downloading from peer peer-a" "the progress says where from"
like "$(cat "$T/log")" "bytes from peers 3\\.2 ?MB, mirrors 0" "the summary counts the peers' bytes"
unlike "$(cat "$T/log")" "$(rcli hget machine:peer-a:models serve_url)" "and shows no URL"
is "$(grep '^mm_fetch_bytes_from_total{' "$T/mb/mm_fetch.prom" | tr '\n' ' ')" \
	'mm_fetch_bytes_from_total{from="mirror"} 0 mm_fetch_bytes_from_total{from="origin"} 200000 mm_fetch_bytes_from_total{from="peer"} 3400000 ' \
	"metrics: bytes by kind of source"

# ------------------------------------------------- who is not a peer
fix_reset
MM_ROOT=$T/self MACHINE_ID=peer-a fetch 0 "A itself, on a fresh root: exit 0" "$T/in.json"
is "$(gets /files/a.bin)" 1 "a machine does not take from itself: the origin"
is "$(ff 0 bytesFrom)" "" "no source but the origin: the fetch object as before"

fix_reset
MM_PEERS=0 MM_ROOT=$T/off MACHINE_ID=gpu-b fetch 0 "MM_PEERS=0: exit 0" "$T/in.json"
is "$(gets /files/a.bin)" 1 "MM_PEERS=0: the origin"
is "$(ff 0 bytesFrom)" "" "and a fetch object as before (no bytesFrom)"
MM_PEERS=maybe MM_ROOT=$T/off2 fetch 2 "MM_PEERS=maybe: exit 2" "$T/in.json"
like "$(cat "$T/log")" "MM_PEERS takes 1 or 0" "it says why"

fix_reset
now=$(rcli time | head -n 1)
rcli zadd machines:models:heartbeat $((now - 1000)) peer-a > /dev/null
MM_ROOT=$T/stale MACHINE_ID=gpu-b fetch 0 "A's heartbeat is stale: exit 0" "$T/in.json"
is "$(gets /files/a.bin)" 1 "a stale peer is passed over: the origin"
is "$(served "$ha")" 1 "A got no new request"
rcli zadd machines:models:heartbeat "$now" peer-a > /dev/null

fix_reset
REDIS_URL=redis://127.0.0.1:1 MM_ROOT=$T/nored MACHINE_ID=gpu-b fetch 0 "Redis out of reach: exit 0" "$T/in.json"
check "the file is there" cmp "$T/nored/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
is "$(grep -c 'no peers' "$T/log")" 1 "it warns once"
is "$(gets /files/a.bin)" 1 "and takes the origin"

# ------------------------------------------------- a fake peer on the fixture
# fake ID URL [AGE] SHA…: machine ID in the inventory, serving at URL, holding the digests.
fake() {
	_id=$1 _url=$2 _age=$3
	shift 3
	_m=
	for _h in "$@"; do
		_m="$_m${_m:+,}{\"name\":\"x\",\"saveTo\":\"models/x\",\"size\":1,\"sha256\":\"$_h\"}"
	done
	rcli hset "machine:$_id:models" serve_url "$_url" models "[$_m]" > /dev/null
	rcli zadd machines:models:heartbeat $(($(rcli time | head -n 1) - _age)) "$_id" > /dev/null
}
unfake() {
	rcli del "machine:$1:models" > /dev/null
	rcli zrem machines:models:heartbeat "$1" > /dev/null
}
mkdir -p "$FIX_ROOT/pf/sha256"
cp "$FIX_ROOT/files/a.bin" "$FIX_ROOT/pf/sha256/$ha"
cp "$FIX_ROOT/files/c.bin" "$FIX_ROOT/pf/sha256/$hc"

# A vanished (killed without withdrawing its URL): the origin takes over.
kill -KILL "$SPID"
wait "$SPID" 2> /dev/null
fix_reset
MM_ROOT=$T/gone MACHINE_ID=gpu-b fetch 0 "A was killed: exit 0" "$T/in.json"
check "a.bin is right" cmp "$T/gone/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
like "$(cat "$T/log")" "a.bin: peer peer-a: .*; next: origin" "the failed peer is named, and who takes over"
is "$(ff 0 source)" "origin" "source: origin"
unfake peer-a

# Tokens: the peer gets MM_SERVE_TOKEN alone, the origin the model's.
fake peer-f "$FIX_ALT_URL/pf/" 0 "$ha" "$hc"
fix_reset
cat > "$T/tok.json" <<EOF
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/loras/a.bin",
  "hash": "$ha", "isAuthReq": true, "authEnvVar": "MODEL_TOKEN"}]}
EOF
MODEL_TOKEN=model-secret-1 HF_TOKEN=hf-secret-2 CIVITAI_TOKEN=cv-secret-3 MM_SERVE_TOKEN=serve-tok \
	MM_AUTH_HOSTS=MODEL_TOKEN=127.0.0.1 MM_ALLOW_HTTP_AUTH=1 \
	MM_ROOT=$T/tok MACHINE_ID=gpu-b fetch 0 "a model with a token, from a peer: exit 0" "$T/tok.json"
check "the right bytes" cmp "$T/tok/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
is "$(ff 0 source)" "peer peer-f" "from the peer"
is "$(fix_header --host 127.0.0.2 "/pf/sha256/$ha" authorization)" "Bearer serve-tok" \
	"the peer got MM_SERVE_TOKEN as a bearer"
fix_log --host 127.0.0.2 > "$T/reqlog.json"
unlike "$(cat "$T/reqlog.json")" "model-secret-1|hf-secret-2|cv-secret-3" "no model token reached the peer"
is "$(gets /files/a.bin)" 0 "the origin was not asked"
fix_reset
fix_rule "{\"path\": \"/pf/sha256/$ha\", \"status\": 404}"
fix_rule '{"path": "/files/a.bin", "require_token": "model-secret-1"}'
MODEL_TOKEN=model-secret-1 HF_TOKEN=hf-secret-2 CIVITAI_TOKEN=cv-secret-3 MM_SERVE_TOKEN=serve-tok \
	MM_AUTH_HOSTS=MODEL_TOKEN=127.0.0.1 MM_ALLOW_HTTP_AUTH=1 \
	MM_ROOT=$T/tok2 MACHINE_ID=gpu-b fetch 0 "the peer 404s: exit 0" "$T/tok.json"
is "$(fix_header --method GET /files/a.bin authorization)" "Bearer model-secret-1" "the origin got the model's token"
is "$(fix_header --host 127.0.0.2 "/pf/sha256/$ha" authorization)" "Bearer serve-tok" "the peer MM_SERVE_TOKEN"
fix_log --host 127.0.0.2 > "$T/reqlog.json"
unlike "$(cat "$T/reqlog.json")" "secret" "and no model token"

fix_reset
MM_ROOT=$T/notok MACHINE_ID=gpu-b fetch 0 "without MM_SERVE_TOKEN: exit 0" "$T/in.json"
fix_header --host 127.0.0.2 "/pf/sha256/$ha" authorization > /dev/null
is "$?" 1 "the peer gets no Authorization at all"

# A peer that drops mid-file: the origin continues from where it stopped.
fix_reset
fix_rule "{\"path\": \"/pf/sha256/$ha\", \"method\": \"GET\", \"drop_after\": 1000000}"
MM_ROOT=$T/drop MACHINE_ID=gpu-b fetch 0 "the peer drops after 1 MB: exit 0" --segments 1 "$T/in.json"
check "a.bin is right" cmp "$T/drop/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
like "$(fix_header --method GET /files/a.bin range)" "^bytes=1[0-9]{6}-" "the origin is asked for the rest only"
is "$(bf 0 peer)" 1000000 "bytesFrom.peer: what the peer sent"
is "$(bf 0 origin)" 2000000 "bytesFrom.origin: the rest"
is "$(ff 0 source)" "origin" "source: the one that finished it"

# A peer that refuses or redirects: the next source.
for rule in '"status": 404' '"status": 503' '"redirect": "http://127.0.0.1:{port}/files/a.bin"'; do
	fix_reset
	fix_rule "{\"path\": \"/pf/sha256/$ha\", $rule}"
	rm -rf "$T/ref"
	MM_ROOT=$T/ref MACHINE_ID=gpu-b fetch 0 "the peer answers {$rule}: exit 0" "$T/in.json"
	check "  a.bin is right" cmp "$T/ref/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
	is "$(ff 0 source)" "origin" "  from the origin"
	is "$(fix_count --host 127.0.0.2 "/pf/sha256/$ha")" 1 "  the peer was asked once"
done
like "$(cat "$T/log")" "peer peer-f: HTTP 302; next: origin" "a redirect is not followed"

# A liar: bytes that fail the hash.  Named, skipped for c.bin too, file right.
unfake peer-f
fake liar-1 "$FIX_ALT_URL/pf" 0 "$ha" "$hc"
fix_reset
fix_rule "{\"path\": \"/pf/sha256/$ha\", \"corrupt_at\": 1234567}"
MM_ROOT=$T/liar MACHINE_ID=gpu-b fetch 0 "a lying peer: exit 0" -j 1 --metrics-dir "$T/mx" "$T/in.json"
check "a.bin is still right" cmp "$T/liar/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
check "c.bin too" cmp "$T/liar/models/loras/c.bin" "$FIX_ROOT/files/c.bin"
like "$(cat "$T/log")" "a.bin: peer liar-1 sent bytes that fail the hash: it is skipped for the rest of the run" \
	"the liar is named"
is "$(ff 0 liars)" "['peer liar-1']" "a.bin's fetch object names it"
is "$(ff 0 source)" "origin" "a.bin came from the origin after all"
is "$(ff 0 status)" "downloaded" "downloaded"
is "$(fix_count --host 127.0.0.2 "/pf/sha256/$hc")" 0 "c.bin was not asked of the liar"
is "$(gets /files/c.bin)" 1 "c.bin came from its origin"
like "$(cat "$T/log")" "1 source named for bytes that failed the hash" "the summary counts it"
is "$(nfiles "$T/liar" '*.mm-part')" 0 "no part file left"
is "$(grep '^mm_fetch_liars_total{' "$T/mx/mm_fetch.prom")" 'mm_fetch_liars_total{kind="peer"} 1' \
	"metrics: one lying peer"
like "$(grep '^mm_fetch_bytes_from_total{' "$T/mx/mm_fetch.prom" | tr '\n' ' ')" \
	'from="origin"} 3600000 .*from="peer"} 3000000' "metrics: bytes from the peer (the lie) and from the origin"

# Several holders: a few are tried, spread by machine id.
unfake liar-1
for p in p1 p2 p3 p4 p5; do fake "$p" "$FIX_ALT_URL/$p" 0 "$ha"; done
fix_reset
MM_ROOT=$T/many MACHINE_ID=gpu-b fetch 0 "five peers that all 404: exit 0" "$T/in.json"
is "$(fix_count --host 127.0.0.2 '/p*')" 3 "three of them are tried"
check "a.bin is right" cmp "$T/many/models/loras/a.bin" "$FIX_ROOT/files/a.bin"
: > "$T/firsts"
for id in gpu-1 gpu-2 gpu-3 gpu-4 gpu-5 gpu-6; do
	fix_reset
	MM_ROOT=$T/many-$id MACHINE_ID=$id "$MM_BIN/mm-fetch" -q "$T/in.json" > /dev/null 2>&1
	fix_log --host 127.0.0.2 '/p*' | json_get 0.path | cut -d / -f 2 >> "$T/firsts"
done
n=$(sort -u "$T/firsts" | wc -l)
check "six new machines do not all ask the same peer first ($(tr '\n' ' ' < "$T/firsts"))" [ "$n" -ge 2 ]

done_testing
