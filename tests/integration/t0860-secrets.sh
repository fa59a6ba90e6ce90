#!/bin/sh
# Secrets: a token goes to the host and port it was meant for and nowhere
# else — not across a redirect to another host or port, not over plain http
# after an https redirect — and its value appears in no stdout, stderr,
# manifest, cache file, state file or Redis value, and in no process's argv.
. tests/lib.sh
. tests/lib-fetch.sh

for _b in mm-discover mm-fetch mm-verify mm-report; do
	[ -x "$MM_BIN/$_b" ] || skip_all "$_b is not built"
done
need openssl
start_fixture
start_redis
TOKEN=hf_SeCrEt_7c1d9e2f4a60
CIV=civ_SeCrEt_0b3e5a9d11
PASS=redis_SeCrEt_55aa0f
HF_TOKEN=$TOKEN CIVITAI_TOKEN=$CIV
export HF_TOKEN CIVITAI_TOKEN
# The servers are on 127.0.0.1, some over plain http.
export MM_AUTH_HOSTS="HF_TOKEN=127.0.0.1 CIVITAI_TOKEN=127.0.0.1" MM_ALLOW_HTTP_AUTH=1
export MM_ROOT="$T/root" MM_STATE_DIR="$T/state" EMPROPS_API_BASE_URL="$FIX_URL" MACHINE_ID=sec-1
O=$T/o  # every output of every run, to be searched for the secrets
S=$T/srv  # what the other servers saw
mkdir -p "$O" "$S"
for f in a b c d f; do make_file "files/$f.bin" 100000; done

# A plain server on another port of the same host, logging request headers.
python3 - "$FIX_ROOT" "$S/port.port" "$S/port.log" <<'PY' 2> "$S/port.err" &
import functools, http.server, os, sys
root, portfile, log = sys.argv[1:4]
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        with open(log, "a") as f:
            f.write("%s %s\n%s\n" % (self.command, self.path, self.headers))
        super().do_GET()
    do_HEAD = do_GET
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(H, directory=root))
open(portfile + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
track_pid $!
# An https server (a private CA the test trusts) that redirects to plain http.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-days 2 -keyout "$S/key.pem" -out "$S/cert.pem" > /dev/null 2>&1
python3 - "$S/cert.pem" "$S/key.pem" "$S/tls.port" "$S/tls.log" "$FIX_URL" <<'PY' 2> "$S/tls.err" &
import http.server, os, ssl, sys
cert, key, portfile, log, target = sys.argv[1:6]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        with open(log, "a") as f:
            f.write("%s %s\n%s\n" % (self.command, self.path, self.headers))
        self.send_response(302)
        self.send_header("Location", target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_HEAD = do_GET
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(portfile + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
track_pid $!
wait_until 10 test -s "$S/port.port" && wait_until 10 test -s "$S/tls.port" ||
	{ echo "Bail out! the extra servers did not start"; exit 1; }
PORT2=$(cat "$S/port.port")
TLS_URL=https://127.0.0.1:$(cat "$S/tls.port")
export CURL_CA_BUNDLE="$S/cert.pem"

fix_rule "{\"path\": \"/files/a.bin\", \"host\": \"127.0.0.1\", \"require_token\": \"$TOKEN\"}"
fix_rule '{"path": "/files/b.bin", "host": "127.0.0.1", "redirect": "http://127.0.0.2:{alt_port}/files/b.bin"}'
fix_rule "{\"path\": \"/files/c.bin\", \"host\": \"127.0.0.1\", \"redirect\": \"http://127.0.0.1:$PORT2/files/c.bin\"}"
fix_rule '{"path": "/files/f.bin", "require_token": "some-other-token"}'
model() {  # model NAME URL ENVVAR
	printf '{"name": "%s", "downloadUrl": "%s", "saveTo": "models/%s", "isAuthReq": true, "authEnvVar": "%s", "hash": "%s"}' \
		"$1" "$2" "$1" "$3" "$(sha256_of "$FIX_ROOT/files/$1")"
}
api_workflow sec "[$(model a.bin "$FIX_URL/files/a.bin" HF_TOKEN),
 $(model b.bin "$FIX_URL/files/b.bin" HF_TOKEN),
 $(model c.bin "$FIX_URL/files/c.bin" CIVITAI_TOKEN),
 $(model d.bin "$TLS_URL/files/d.bin" HF_TOKEN),
 $(model f.bin "$FIX_URL/files/f.bin" HF_TOKEN)]"
rcli acl setuser mmuser on ">$PASS" '~*' '&*' +@all > /dev/null
REDIS_URL=redis://mmuser:$PASS@127.0.0.1:$REDIS_PORT/0
export REDIS_URL

# The pipeline, verbose, every output kept.
mm mm-discover -v -w sec > "$O/discover.json" 2> "$O/discover.err"
is "$?" 0 "mm-discover"
mm mm-fetch -v --retry-delay 0.05 "$O/discover.json" > "$O/fetch.json" 2> "$O/fetch.err"
is "$?" 1 "mm-fetch: some models fail, as they should"
cp "$O/fetch.json" "$T/res"
is "$(st 0) $(st 1) $(st 2) $(st 3) $(st 4)" "downloaded downloaded downloaded failed failed" \
	"a, b, c downloaded; d (https to http) and f (a refused token) failed"
mm mm-verify -v "$O/fetch.json" > "$O/verify.json" 2> "$O/verify.err"
mm mm-report -v "$O/verify.json" > "$O/report.json" 2> "$O/report.err"
is "$?" 0 "mm-report with a password in REDIS_URL"
mm mm-report --dry-run -v "$O/verify.json" > "$O/dry.txt" 2> "$O/dry.err"

# Where the tokens went.
is "$(fix_header --host 127.0.0.1 --method GET /files/a.bin authorization)" "Bearer $TOKEN" \
	"the token is sent to its own host"
if h=$(fix_header --host 127.0.0.2 /files/b.bin authorization); then
	fail "but not after a redirect to another host" "127.0.0.2 got an Authorization header of ${#h} bytes"
else
	pass "but not after a redirect to another host"
fi
isnt "$(fix_count --host 127.0.0.2 /files/b.bin)" 0 "(which was followed)"
check "nor after a redirect to another port of the same host" sh -c "! grep -qi '^authorization' '$S/port.log'"
check "(which was followed)" grep -q 'GET /files/c.bin' "$S/port.log"
is "$(fix_count /files/d.bin)" 0 "an https URL redirected to plain http is not followed at all"
check "(the https host itself got its token)" grep -q "Bearer $TOKEN" "$S/tls.log"
like "$(fe 3)" '[Rr]edirect|protocol|refused' "d's error says the redirect was refused"
like "$(fe 4)" '40[13]' "f's error says the token was refused"

# Where the secrets are not.
redis_dump > "$O/redis.txt"
for s in "$TOKEN" "$CIV" "$PASS"; do
	no_leak "$s" "a secret is in no output, manifest, cache, state file or Redis value" \
		"$O" "$MM_ROOT" "$MM_STATE_DIR"
done

# No process ever has a token in its argv: watch every process while
# mm-entrypoint runs the pipeline with a download that stalls for a while.
if [ -x "$MM_TOP/scripts/mm-entrypoint" ] || [ -f "$MM_TOP/scripts/mm-entrypoint" ]; then
	rm -rf "$MM_ROOT" "$MM_STATE_DIR"
	fix_reset
	fix_rule "{\"path\": \"/files/a.bin\", \"host\": \"127.0.0.1\", \"method\": \"GET\", \"require_token\": \"$TOKEN\", \"stall_after\": 1000, \"stall_seconds\": 3, \"times\": 1}"
	fix_rule "{\"path\": \"/files/c.bin\", \"host\": \"127.0.0.1\", \"redirect\": \"http://127.0.0.1:$PORT2/files/c.bin\"}"
	PATH=$MM_BIN:$PATH WORKFLOW_IDS=sec sh "$MM_TOP/scripts/mm-entrypoint" -- true > "$O/entry.out" 2> "$O/entry.err" &
	epid=$!
	track_pid "$epid"
	: > "$T/argv"
	i=0
	while kill -0 "$epid" 2> /dev/null && [ "$i" -lt 3000 ]; do
		# Two processes a sweep, however many there are to read: a sweep
		# that forked once per process took seconds on a loaded machine
		# and could miss the whole pipeline.  One argument a line.
		cat /proc/[0-9]*/cmdline 2> /dev/null | tr '\0' '\n' >> "$T/argv"
		i=$((i + 1))
		sleep 0.05
	done
	wait "$epid"
	check "processes were seen while the pipeline ran" grep -q 'mm-fetch' "$T/argv"
	for s in "$TOKEN" "$CIV" "$PASS"; do
		no_leak "$s" "no process had a secret in its argv" "$T/argv"
	done
	redis_dump > "$O/redis2.txt"
	for s in "$TOKEN" "$CIV" "$PASS"; do
		no_leak "$s" "nor in mm-entrypoint's outputs, state or Redis" "$O" "$MM_ROOT" "$MM_STATE_DIR"
	done
	for f in "$MM_STATE_DIR"/watch-*.pid; do
		[ -s "$f" ] && track_pid "$(cat "$f")"
	done
else
	skip "argv of child processes" "mm-entrypoint is not there"
fi

done_testing
