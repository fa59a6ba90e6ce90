#!/bin/sh
# mm-serve: the verified models of this machine, read-only, by sha256, over
# real HTTP on loopback: whole files, ranges and HEAD byte for byte; every
# other path, method and spelling refused; a file changed since it was
# verified not served; the bearer token; the connection limits under 10,000
# idle connections; the rate limit; the URL advertised in Redis and
# withdrawn on SIGTERM.
. tests/lib.sh
need curl python3

export MM_ROOT="$T/root"
m=$MM_ROOT/models
mkdir -p "$m/loras" "$m/unet"

# rand FILE SIZE: SIZE pseudo-random bytes.
rand() {
	python3 -c 'import os, sys; open(sys.argv[1], "wb").write(os.urandom(int(sys.argv[2])))' "$1" "$2"
}
rand "$m/loras/a.safetensors" 3000000
rand "$m/unet/b.safetensors" 200000
rand "$m/unet/c.safetensors" 5000
rand "$m/loras/unverified.safetensors" 4000
ha=$(sha256_of "$m/loras/a.safetensors")
hb=$(sha256_of "$m/unet/b.safetensors")
hc=$(sha256_of "$m/unet/c.safetensors")
hu=$(sha256_of "$m/loras/unverified.safetensors")
# Verified: a, b and c; the fourth file is not (it is added after the scan).
mv "$m/loras/unverified.safetensors" "$T/unverified"
exit_is 0 "mm-verify --scan --hash records the digests" mm mm-verify --scan --hash -q
mv "$T/unverified" "$m/loras/unverified.safetensors"

# start_serve LOG [ARGS…]: mm-serve on a free port of 127.0.0.1; sets PID, PORT, URL.
start_serve() {
	_log=$1
	shift
	"$MM_BIN/mm-serve" -v --listen 127.0.0.1:0 "$@" < /dev/null > /dev/null 2> "$_log" &
	PID=$!
	track_pid "$PID"
	wait_until 20 grep -q 'serving .* on http://' "$_log" || {
		fail "mm-serve starts" "$(cat "$_log")"
		return 1
	}
	PORT=$(sed -n 's|.* on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$_log" | head -n 1)
	URL=http://127.0.0.1:$PORT
}

stop_serve() {
	kill -TERM "$PID" 2> /dev/null
	wait "$PID"
}

# code [CURL ARGS…]: the status code (000 when no answer); body in $T/body, headers in $T/hdr.
code() {
	curl -s --path-as-is -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@"
}

# hdr NAME: a header of the last answer.
hdr() {
	grep -i "^$1:" "$T/hdr" | head -n 1 | cut -d ' ' -f 2- | tr -d '\r'
}

start_serve "$T/s1.log"
like "$(cat "$T/s1.log")" "serving 3 verified files" "the three verified files are indexed, the unverified one is not"

# ---------------------------------------------------------------- bytes
is "$(code "$URL/sha256/$ha")" 200 "GET of a verified file: 200"
check "the whole file, byte for byte" cmp "$T/body" "$m/loras/a.safetensors"
is "$(hdr content-length)" 3000000 "Content-Length"
is "$(hdr accept-ranges)" bytes "Accept-Ranges: bytes"
is "$(hdr etag)" "\"$ha\"" "the ETag is the sha256"
is "$(code "$URL/sha256/$hc")" 200 "a second file"
check "its bytes" cmp "$T/body" "$m/unet/c.safetensors"

is "$(code -r 0-99 "$URL/sha256/$ha")" 206 "Range 0-99: 206"
head -c 100 "$m/loras/a.safetensors" > "$T/want"
check "the first 100 bytes" cmp "$T/body" "$T/want"
is "$(hdr content-range)" "bytes 0-99/3000000" "Content-Range of 0-99"
is "$(code -r 1000000-1999999 "$URL/sha256/$ha")" 206 "a range in the middle: 206"
dd if="$m/loras/a.safetensors" bs=1000000 skip=1 count=1 2> /dev/null > "$T/want"
check "its bytes" cmp "$T/body" "$T/want"
is "$(code -r 2999000- "$URL/sha256/$ha")" 206 "an open range to the end: 206"
tail -c 1000 "$m/loras/a.safetensors" > "$T/want"
check "the last 1000 bytes" cmp "$T/body" "$T/want"
is "$(code -r -500 "$URL/sha256/$ha")" 206 "a suffix range: 206"
tail -c 500 "$m/loras/a.safetensors" > "$T/want"
check "the last 500 bytes" cmp "$T/body" "$T/want"
is "$(hdr content-range)" "bytes 2999500-2999999/3000000" "its Content-Range"
is "$(code -r 2999990-5000000 "$URL/sha256/$ha")" 206 "a range past the end is cut to the end"
is "$(hdr content-range)" "bytes 2999990-2999999/3000000" "its Content-Range"
is "$(code -r 3000000- "$URL/sha256/$ha")" 416 "a range starting at the end: 416"
is "$(hdr content-range)" "bytes */3000000" "416 says the size"
is "$(code -r 0-1,5-9 "$URL/sha256/$ha")" 416 "two ranges: 416 (one range only)"
is "$(code -r 9-5 "$URL/sha256/$ha")" 416 "a backwards range: 416"
is "$(code -H 'Range: bytes=abc' "$URL/sha256/$ha")" 416 "a malformed byte range: 416"
is "$(code -H 'Range: pages=1-2' "$URL/sha256/$ha")" 200 "another range unit is ignored: 200, the whole file"
check "and its bytes" cmp "$T/body" "$m/loras/a.safetensors"

is "$(code -I "$URL/sha256/$hb")" 200 "HEAD: 200"
is "$(hdr content-length)" 200000 "HEAD: Content-Length"
check "HEAD: no body (nothing after the headers)" cmp "$T/body" "$T/hdr"
is "$(code -I -r 10-19 "$URL/sha256/$hb")" 206 "HEAD with a Range: 206"
is "$(hdr content-range)" "bytes 10-19/200000" "HEAD with a Range: Content-Range"

# ---------------------------------------------------------------- refusals
is "$(code "$URL/sha256/$hu")" 404 "a file on disk that was never verified: 404"
is "$(code "$URL/sha256/$(printf '%064d' 0)")" 404 "a sha256 not served: 404"
like "$(cat "$T/body")" "no verified file" "404 says why"
n=0
for p in "/sha256/../x" "/sha256/../../etc/passwd" "/sha256/%2e%2e/%2e%2e/etc/passwd" \
	"/sha256/..%2f..%2fetc%2fpasswd" "/etc/passwd" "//etc/passwd" "/models/loras/a.safetensors" \
	"/sha256/$ha/../$hb" "/sha256/$ha/" "/sha256/./$ha" "/sha256//$ha" "/sha256/$ha%00" \
	"/sha256/$ha/x" "/sha256/" "/" "/sha256" "/SHA256/$ha" "/sha256/%2fetc%2fpasswd" \
	"/sha256/$(printf '%s' "$ha" | cut -c 1-63)" "/sha256/${ha}0" \
	"/sha256/$(printf '%s' "$ha" | tr a-f A-F)" "/sha256/$(printf '%s' "$ha" | cut -c 1-63)g" \
	"/sha256/sha256:$ha"; do
	c=$(code "$URL$p")
	[ "$c" = 404 ] || fail "$p is refused with 404" "got $c"
	n=$((n + 1))
done
is "$(code "$URL/sha256/$ha?download=1")" 200 "a query string is ignored"
pass "$n traversal, absolute, malformed (63 and 65 digits, uppercase, not hex) paths: all 404"
c=$(curl -s -o /dev/null -w '%{http_code}' --request-target "http://127.0.0.1:$PORT/../../etc/passwd" "$URL/")
is "$c" 404 "an absolute-form request-target with ..: 404"
for meth in POST PUT DELETE PATCH OPTIONS TRACE; do
	is "$(code -X "$meth" --data x "$URL/sha256/$ha")" 405 "$meth: 405"
done
is "$(hdr allow)" "GET, HEAD" "405 says Allow: GET, HEAD"

# A file changed after it was verified is not served, without any rescan.
printf 'x' | dd of="$m/unet/b.safetensors" bs=1 seek=100 conv=notrunc 2> /dev/null
is "$(code "$URL/sha256/$hb")" 404 "a file rewritten in place after verification: 404"
printf 'more' >> "$m/unet/c.safetensors"
is "$(code "$URL/sha256/$hc")" 404 "a file grown after verification: 404"
touch "$m/loras/a.safetensors"
is "$(code "$URL/sha256/$ha")" 404 "a file merely touched after verification: 404"
is "$(code -r 0-9 "$URL/sha256/$ha")" 404 "nor any range of it"
# Verified again, and picked up by a rescan (SIGHUP).
exit_is 0 "mm-verify --scan --hash again" mm mm-verify --scan --hash -q
kill -HUP "$PID"
wait_until 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $URL/sha256/$ha)\" = 200 ]" &&
	pass "re-verified and rescanned (SIGHUP): served again" || fail "re-verified and rescanned (SIGHUP): served again"
is "$(code "$URL/sha256/$hu")" 200 "the file verified meanwhile is served after the rescan"
is "$(code "$URL/sha256/$hb")" 404 "the old digest of the rewritten file is not"
hb=$(sha256_of "$m/unet/b.safetensors")
is "$(code "$URL/sha256/$hb")" 200 "its new digest is"
check "and its bytes" cmp "$T/body" "$m/unet/b.safetensors"

# A verified file swapped for a symlink to it is not followed.
mv "$m/loras/a.safetensors" "$MM_ROOT/a.moved"
ln -s "$MM_ROOT/a.moved" "$m/loras/a.safetensors"
is "$(code "$URL/sha256/$ha")" 404 "a verified file replaced by a symlink (even to the same inode): 404"
rm "$m/loras/a.safetensors"
mv "$MM_ROOT/a.moved" "$m/loras/a.safetensors"
stop_serve
is "$?" 143 "SIGTERM: exit 143"

# ---------------------------------------------------------------- token
exit_is 0 "mm-verify --scan --hash" mm mm-verify --scan --hash -q
tok=serve-secret-7f3a9c
MM_SERVE_TOKEN=$tok start_serve "$T/s2.log"
is "$(code "$URL/sha256/$ha")" 401 "token required, none sent: 401"
is "$(hdr www-authenticate)" Bearer "401 says WWW-Authenticate: Bearer"
is "$(code -H "Authorization: Bearer wrong" "$URL/sha256/$ha")" 401 "a wrong token: 401"
is "$(code -H "Authorization: Bearer ${tok}x" "$URL/sha256/$ha")" 401 "the token and more: 401"
is "$(code -H "Authorization: Bearer serve-secret" "$URL/sha256/$ha")" 401 "a prefix of the token: 401"
is "$(code -H "Authorization: Basic $tok" "$URL/sha256/$ha")" 401 "the token as another scheme: 401"
is "$(code -H "Authorization: Bearer $tok" "$URL/sha256/$(printf '%064d' 0)")" 404 "the token, a sha256 not served: 404"
is "$(code "$URL/sha256/$(printf '%064d' 0)")" 401 "no token, a sha256 not served: 401 (nothing to probe)"
is "$(code -H "Authorization: Bearer $tok" "$URL/sha256/$ha")" 200 "the right token: 200"
check "the bytes" cmp "$T/body" "$m/loras/a.safetensors"
stop_serve
no_leak "$tok" "the token is in no log (mm-serve -v)" "$T/s2.log"

# ---------------------------------------------------------------- limits
# idle.py N SRC PORT READY SECONDS: open N idle connections from SRC, hold
# them SECONDS, then print how many the server had closed by then.
cat > "$T/idle.py" << 'EOF'
import resource, socket, sys, time
n, src, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
socks = []
for i in range(n):
    s = socket.socket()
    s.bind((src, 0))
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))   # not waiting: past the limit, they wait in the backlog
    socks.append(s)
open(sys.argv[4], "w").write("open\n")
time.sleep(float(sys.argv[5]))
closed = 0
for s in socks:
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print(closed)
EOF
# fds PID / rss PID: the server's open descriptors and resident KiB.
fds() { ls "/proc/$1/fd" | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

MM_SERVE_PER_CLIENT=2 start_serve "$T/s3.log"
python3 "$T/idle.py" 2 127.0.0.1 "$PORT" "$T/idle.ready" 4 > "$T/idle.out" &
idle=$!
wait_until 10 test -s "$T/idle.ready"
sleep 0.3
is "$(code --max-time 5 "$URL/sha256/$ha")" 000 "per-client limit 2, two idle connections held: a third from the same address gets no answer"
is "$(code --max-time 5 --interface 127.0.0.2 "$URL/sha256/$ha")" 200 "another client is served meanwhile"
wait "$idle"
is "$(code "$URL/sha256/$ha")" 200 "once they are gone, the first client is served again"
stop_serve

MM_SERVE_CONNECTIONS=50 MM_SERVE_PER_CLIENT=1000 start_serve "$T/s4.log"
fd0=$(fds "$PID")
rss0=$(rss "$PID")
rm -f "$T/idle.ready"
python3 "$T/idle.py" 10000 127.0.0.1 "$PORT" "$T/idle.ready" 2 > "$T/idle.out" &
idle=$!
wait_until 20 test -s "$T/idle.ready" && pass "10,000 idle connections opened" || fail "10,000 idle connections opened"
sleep 0.5
fd1=$(fds "$PID")
rss1=$(rss "$PID")
wait "$idle"
diag "descriptors $fd0 -> $fd1, RSS $rss0 -> $rss1 KiB"
[ "$((fd1 - fd0))" -le 55 ] && pass "10,000 idle connections hold at most the 50 allowed (+5) descriptors ($fd0 -> $fd1)" ||
	fail "10,000 idle connections hold at most the 50 allowed descriptors" "$fd0 -> $fd1"
[ "$((rss1 - rss0))" -le 16384 ] && pass "and under 16 MiB more memory ($rss0 -> $rss1 KiB)" ||
	fail "and under 16 MiB more memory" "$rss0 -> $rss1 KiB"
wait_until 10 sh -c "[ \$(ls /proc/$PID/fd | wc -l) -le $((fd0 + 2)) ]" &&
	pass "the descriptors are given back" || fail "the descriptors are given back" "$(fds "$PID")"
is "$(code "$URL/sha256/$ha")" 200 "and the server still serves"
stop_serve

MM_SERVE_TIMEOUT=1 start_serve "$T/s5.log"
rm -f "$T/idle.ready"
python3 "$T/idle.py" 3 127.0.0.1 "$PORT" "$T/idle.ready" 3 > "$T/idle.out" &
idle=$!
wait "$idle"
is "$(cat "$T/idle.out")" 3 "MM_SERVE_TIMEOUT=1: idle connections closed within 3 s"
stop_serve

# The rate: 3,000,000 bytes at 1 MiB/s take more than 2 s (a burst of 1/10 s first).
MM_SERVE_RATE=1M start_serve "$T/s6.log"
t0=$(date +%s%N)
is "$(code "$URL/sha256/$ha")" 200 "MM_SERVE_RATE=1M: 200"
t1=$(date +%s%N)
check "the paced body, byte for byte" cmp "$T/body" "$m/loras/a.safetensors"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -ge 2400 ] && [ "$ms" -le 8000 ] && pass "3 MB at 1 MiB/s took $ms ms" || fail "3 MB at 1 MiB/s took 2.4 to 8 s" "$ms ms"
# Two at once share the rate: together they take as long as one of twice the size.
t0=$(date +%s%N)
curl -s -o "$T/p1" -r 0-1499999 "$URL/sha256/$ha" &
p1=$!
curl -s -o "$T/p2" --interface 127.0.0.2 -r 1500000- "$URL/sha256/$ha" &
p2=$!
wait "$p1" "$p2"
t1=$(date +%s%N)
cat "$T/p1" "$T/p2" > "$T/both"
check "two paced ranges at once, byte for byte" cmp "$T/both" "$m/loras/a.safetensors"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -ge 2400 ] && pass "two clients share the rate ($ms ms for 3 MB together)" || fail "two clients share the rate" "$ms ms"
is "$(code -I "$URL/sha256/$ha")" 200 "HEAD under a rate: 200"
stop_serve

# ---------------------------------------------------------------- usage
exit_is 2 "--listen without a port: 2" mm mm-serve --listen 127.0.0.1
like "$(cat "$T/err")" "ADDR:PORT" "it says the form"
exit_is 2 "--listen with a host name: 2" mm mm-serve --listen localhost:8190
exit_is 2 "--listen with port 70000: 2" mm mm-serve --listen 127.0.0.1:70000
exit_is 2 "MM_SERVE_RATE=fast: 2" env MM_SERVE_RATE=fast "$MM_BIN/mm-serve" --listen 127.0.0.1:0
like "$(cat "$T/err")" "MM_SERVE_RATE" "it names the variable"
exit_is 2 "MM_SERVE_CONNECTIONS=0: 2" env MM_SERVE_CONNECTIONS=0 "$MM_BIN/mm-serve" --listen 127.0.0.1:0
exit_is 2 "an extra argument: 2" mm mm-serve /etc
start_serve "$T/s7.log"
exit_is 4 "an address already in use: 4" mm mm-serve --listen "127.0.0.1:$PORT"
like "$(cat "$T/err")" "cannot listen on 127.0.0.1:$PORT" "it says where"
like "$(cat "$T/s7.log")" "REDIS_URL is not set: serving without advertising" "without REDIS_URL it serves and says it does not advertise"
stop_serve

# ---------------------------------------------------------------- Redis
start_redis
export MACHINE_ID=peer-1
start_serve "$T/s8.log"
adv() { rcli hget machine:peer-1:models serve_url; }
wait_until 10 sh -c "[ -n \"\$(redis-cli -s $REDIS_SOCK hget machine:peer-1:models serve_url)\" ]"
is "$(adv)" "$URL" "the bound address is advertised in machine:<id>:models serve_url"
exit_is 0 "mm-report writes the inventory meanwhile" mm mm-report < /dev/null
is "$(adv)" "$URL" "a report leaves the URL in place"
like "$(rcli hget machine:peer-1:models models)" "a.safetensors" "next to the models"
stop_serve
is "$?" 143 "SIGTERM: exit 143"
is "$(adv)" "" "SIGTERM withdraws the URL"
like "$(rcli hget machine:peer-1:models models)" "a.safetensors" "and leaves the inventory alone"

MM_SERVE_URL=http://peer-1.example:8190 start_serve "$T/s9.log"
wait_until 10 sh -c "[ -n \"\$(redis-cli -s $REDIS_SOCK hget machine:peer-1:models serve_url)\" ]"
is "$(adv)" "http://peer-1.example:8190" "MM_SERVE_URL is advertised instead"
kill -INT "$PID"
wait "$PID"
is "$?" 130 "SIGINT: exit 130"
is "$(adv)" "" "SIGINT withdraws it too"

# Listening on every address: the address toward Redis is advertised, not 0.0.0.0.
REDIS_URL=redis://127.0.0.1:$REDIS_PORT "$MM_BIN/mm-serve" --listen 0.0.0.0:0 < /dev/null > /dev/null 2> "$T/s10.log" &
PID=$!
track_pid "$PID"
wait_until 10 sh -c "[ -n \"\$(redis-cli -s $REDIS_SOCK hget machine:peer-1:models serve_url)\" ]"
like "$(adv)" "^http://127\\.0\\.0\\.1:[0-9]+\$" "bound to 0.0.0.0: the address toward Redis is advertised"
stop_serve
is "$(adv)" "" "and withdrawn"

done_testing
