#!/bin/sh
# A machine that boots while a fleet peer is already fetching the same file
# waits for that peer instead of going to the origin too: the serving
# machine holds a lease in Redis (mm:fetching:<sha256>, its machine id, a
# TTL it renews), the newcomer sees it, waits, and takes the file from the
# peer once it serves it, so the slow origin sends it once.  MM_PEER_WAIT=0
# never waits; MM_PEER_WAIT caps the wait; a holder that dies is waited for
# no longer than its lease's TTL; a machine that does not serve takes no
# lease, so no one waits for it; a failed fetch drops its lease; Redis out
# of reach costs the wait, never the run.
# Real mm-fetch, mm-report and mm-serve, a real redis-server, a fixture
# origin capped in bytes per second over loopback.
. tests/lib.sh
. tests/lib-fetch.sh
need curl python3

start_fixture
start_redis
export REDIS_URL
size=6000000
for f in f1 f2 f3 f4 f6; do
	make_file "files/$f.bin" "$size"
	# The origin: 1.5 MB/s for all its connections together (4 s a file).
	fix_rule "{\"path\": \"/files/$f.bin\", \"method\": \"GET\", \"rate_shared\": 1500000}"
done
fix_rule '{"path": "/files/f5.bin", "status": 404}'
sha() { sha256_of "$FIX_ROOT/files/$1.bin"; }
h1=$(sha f1) h2=$(sha f2) h3=$(sha f3) h4=$(sha f4) h6=$(sha f6)
h5=5555555555555555555555555555555555555555555555555555555555555555
# manifest F SHA: the manifest of file F.
manifest() {
	cat > "$T/$1.json" <<EOF
{"models": [{"name": "$1.bin", "downloadUrl": "$FIX_URL/files/$1.bin", "saveTo": "models/loras/$1.bin",
  "hash": "$2"}]}
EOF
}
manifest f1 "$h1"
manifest f2 "$h2"
manifest f3 "$h3"
manifest f4 "$h4"
manifest f5 "$h5"
manifest f6 "$h6"

# bf KIND: bytes of the model that came from KIND ($T/res).
bf() {
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["models"][0]
print(m.get("fetch", {}).get("bytesFrom", {}).get(sys.argv[2], ""))' "$T/res" "$1"
}
gets() { fix_count --method GET "/files/$1.bin"; }
lease() { rcli get "mm:fetching:$1"; }
# boot ID ADDR F: machine ID boots in the background as a fleet machine
# does: mm-fetch, mm-verify, mm-report, then mm-serve on ADDR (its log in
# $T/ID.serve); it says it serves (MM_SERVE=1).  Sets BOOT to its pid.
boot() {
	MM_SERVE=1 MM_ROOT=$T/$1 MACHINE_ID=$1 sh -c '
		"$MM_BIN/mm-fetch" -q "$1" | "$MM_BIN/mm-verify" -q | "$MM_BIN/mm-report" -q
		exec "$MM_BIN/mm-serve" -v --listen "$2:0" < /dev/null > /dev/null 2> "$3"' \
		sh "$T/$3.json" "$2" "$T/$1.serve" > /dev/null 2> "$T/$1.err" &
	BOOT=$!
	track_pid "$BOOT"
}

# ------------------------------------------------- B waits for A, takes it from A
boot peer-a 127.0.0.2 f1
fix_wait --method GET --bytes 300000 /files/f1.bin || fail "A starts its download" "$(cat "$T/peer-a.err")"
is "$(lease "$h1")" peer-a "A, a serving machine, holds the lease mm:fetching:<sha256> while it downloads"
ttl=$(rcli pttl "mm:fetching:$h1")
check "the lease has a TTL of at most 15 s ($ttl ms)" [ "${ttl:-0}" -gt 0 -a "${ttl:-0}" -le 15000 ]
t0=$(date +%s)
MM_ROOT=$T/b MACHINE_ID=gpu-b fetch 0 "machine B, booted during A's download: exit 0" "$T/f1.json"
t1=$(date +%s)
check "B has the right bytes" cmp "$T/b/models/loras/f1.bin" "$FIX_ROOT/files/f1.bin"
is "$(ff 0 source)" "peer peer-a" "B took the file from A"
is "$(bf peer)" "$size" "bytesFrom.peer: the whole file"
is "$(bf origin)" 0 "bytesFrom.origin: nothing"
is "$(gets f1)" 1 "the origin sent the file once (A's request)"
is "$(grep -c "GET /sha256/$h1" "$T/peer-a.serve")" 1 "A's mm-serve served it to B"
like "$(cat "$T/log")" "waiting .*peer-a" "B says it waits for A"
check "B waited no longer than A needed ($((t1 - t0)) s)" [ $((t1 - t0)) -lt 15 ]
wait_until 20 sh -c "[ -z \"\$(redis-cli -s $REDIS_SOCK get mm:fetching:$h1)\" ]"
is "$(lease "$h1")" "" "the lease is gone once A is done"

# ------------------------------------------------- MM_PEER_WAIT=0: no wait
boot peer-a2 127.0.0.3 f2
fix_wait --method GET --bytes 300000 /files/f2.bin || fail "A2 starts its download"
is "$(lease "$h2")" peer-a2 "A2 holds the lease"
MM_PEER_WAIT=0 MM_ROOT=$T/b2 MACHINE_ID=gpu-b2 fetch 0 "MM_PEER_WAIT=0: exit 0" "$T/f2.json"
check "the right bytes" cmp "$T/b2/models/loras/f2.bin" "$FIX_ROOT/files/f2.bin"
is "$(gets f2)" 2 "MM_PEER_WAIT=0: B2 went to the origin at once"
unlike "$(cat "$T/log")" "waiting" "and did not wait"
MM_PEER_WAIT=soon MM_ROOT=$T/b2x fetch 2 "MM_PEER_WAIT=soon: exit 2" "$T/f2.json"
like "$(cat "$T/log")" "MM_PEER_WAIT" "it names the variable"

# ------------------------------------------------- the holder dies: its TTL, not forever
MM_SERVE=1 MM_ROOT=$T/a3 MACHINE_ID=peer-a3 "$MM_BIN/mm-fetch" -q "$T/f3.json" > /dev/null 2> "$T/a3.err" &
A3=$!
track_pid "$A3"
fix_wait --method GET --bytes 300000 /files/f3.bin || fail "A3 starts its download"
is "$(lease "$h3")" peer-a3 "A3 holds the lease"
kill -KILL "$A3"
wait "$A3" 2> /dev/null
t0=$(date +%s)
MM_ROOT=$T/b3 MACHINE_ID=gpu-b3 fetch 0 "A3 died (SIGKILL): B3 still ends, exit 0" "$T/f3.json"
t1=$(date +%s)
check "the right bytes" cmp "$T/b3/models/loras/f3.bin" "$FIX_ROOT/files/f3.bin"
like "$(cat "$T/log")" "waiting .*peer-a3" "B3 waited for A3"
check "until the lease ran out, at most its TTL and the download ($((t1 - t0)) s)" [ $((t1 - t0)) -le 25 ]
is "$(ff 0 source)" "" "then took the origin"

# A lease that outlives MM_PEER_WAIT: the wait is capped.
rcli set "mm:fetching:$h6" ghost PX 60000 > /dev/null
t0=$(date +%s)
MM_PEER_WAIT=2 MM_ROOT=$T/b6 MACHINE_ID=gpu-b6 fetch 0 "a 60 s lease, MM_PEER_WAIT=2: exit 0" "$T/f6.json"
t1=$(date +%s)
like "$(cat "$T/log")" "waiting .*ghost" "B6 waited"
check "for about MM_PEER_WAIT, then the origin ($((t1 - t0)) s)" [ $((t1 - t0)) -ge 2 -a $((t1 - t0)) -le 12 ]
is "$(lease "$h6")" ghost "a lease held by another machine is left alone"
rcli del "mm:fetching:$h6" > /dev/null

# ------------------------------------------------- a machine that does not serve takes no lease
MM_ROOT=$T/a4 MACHINE_ID=worker-a4 "$MM_BIN/mm-fetch" -q "$T/f4.json" > /dev/null 2> "$T/a4.err" &
A4=$!
track_pid "$A4"
fix_wait --method GET --bytes 300000 /files/f4.bin || fail "A4 starts its download"
is "$(rcli exists "mm:fetching:$h4")" 0 "a machine without a serve URL takes no lease"
MM_ROOT=$T/b4 MACHINE_ID=gpu-b4 fetch 0 "B4, during A4's download: exit 0" "$T/f4.json"
unlike "$(cat "$T/log")" "waiting" "B4 does not wait for a machine that will never serve"
is "$(gets f4)" 2 "B4 went to the origin"
wait "$A4"

# ------------------------------------------------- a failed fetch drops its lease
MM_SERVE=1 MM_ROOT=$T/a5 MACHINE_ID=peer-a5 fetch 1 "a serving machine whose origin 404s: exit 1" "$T/f5.json"
is "$(rcli exists "mm:fetching:$h5")" 0 "its lease is dropped at once"

# ------------------------------------------------- Redis out of reach
t0=$(date +%s)
MM_SERVE=1 REDIS_URL=redis://127.0.0.1:1 MM_ROOT=$T/nored MACHINE_ID=gpu-x fetch 0 \
	"Redis out of reach, serving: exit 0" "$T/f1.json"
t1=$(date +%s)
check "the right bytes" cmp "$T/nored/models/loras/f1.bin" "$FIX_ROOT/files/f1.bin"
unlike "$(cat "$T/log")" "waiting" "no wait"
check "no delay beyond the download ($((t1 - t0)) s)" [ $((t1 - t0)) -le 10 ]

done_testing
