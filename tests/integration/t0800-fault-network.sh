#!/bin/sh
# Network faults against mm-fetch: connections reset at random offsets,
# bodies cut short under a correct Content-Length, stalls, wrong bytes,
# 500/503/429 storms, a redirect loop, a host that does not resolve, a
# refused connection and a certificate nobody trusts.  Every model ends
# either correct at its final path or absent with an error that says why.
. tests/lib.sh
. tests/lib-fetch.sh
. tests/lib-fault.sh

[ -x "$MM_BIN/mm-fetch" ] || skip_all "mm-fetch is not built"
start_fixture
export MM_ROOT="$T/root"
make_file files/a.bin 400000
make_file files/b.bin 300000
make_file files/c.bin 200000
# Offsets are random but repeatable: MM_FAULT_SEED picks them.
SEED=${MM_FAULT_SEED:-$(date +%s)}
diag "MM_FAULT_SEED=$SEED"

# manifest FILE URL_A URL_B URL_C: the three models, with their sha256.
manifest() {
	python3 - "$@" "$FIX_ROOT" <<'PY'
import hashlib, json, sys
out, ua, ub, uc, fix = sys.argv[1:6]
models = []
for n, u in (("a", ua), ("b", ub), ("c", uc)):
    h = hashlib.sha256(open("%s/files/%s.bin" % (fix, n), "rb").read()).hexdigest()
    models.append({"name": n + ".bin", "downloadUrl": u, "saveTo": "models/%s.bin" % n, "hash": h})
json.dump({"models": models}, open(out, "w"))
PY
}
manifest "$T/in.json" "$FIX_URL/files/a.bin" "$FIX_URL/files/b.bin" "$FIX_URL/files/c.bin"

# scenario NAME WANT [MANIFEST]: a fresh MM_ROOT, mm-fetch under the rules
# already set, exit WANT, then the end state.
scenario() {
	fetch "$2" "$1: exits $2" --retry-delay 0.05 --stall-timeout 1 "${3:-$T/in.json}"
	end_state "$1" "$T/res"
}
fresh() {
	rm -rf "$MM_ROOT"
	fix_reset
}

# rnd LO HI: a repeatable random number from the seed and a counter.
_rn=0
rnd() {
	_rn=$((_rn + 1))
	python3 -c 'import random, sys; r = random.Random("%s-%s" % (sys.argv[1], sys.argv[2])); print(r.randint(int(sys.argv[3]), int(sys.argv[4])))' \
		"$SEED" "$_rn" "$1" "$2"
}

for i in 1 2 3 4 5; do
	fresh
	fix_rule "{\"path\": \"/files/a.bin\", \"method\": \"GET\", \"drop_after\": $(rnd 1 399999), \"reset\": true, \"times\": 1}"
	fix_rule "{\"path\": \"/files/b.bin\", \"method\": \"GET\", \"drop_after\": $(rnd 1 299999), \"reset\": true, \"times\": 2}"
	fix_rule "{\"path\": \"/files/c.bin\", \"method\": \"GET\", \"drop_after\": $(rnd 0 199999), \"reset\": true, \"times\": 1}"
	scenario "connections reset at random offsets ($i)" 0
done
like "$(fix_log --method GET /files/b.bin)" '"range": "bytes=[1-9][0-9]*-' "a reset download resumes with Range"

fresh
fix_rule '{"prefix": "/files/", "method": "GET", "drop_after": 150000, "times": 2}'
scenario "bodies cut short under a correct Content-Length" 0

fresh
fix_rule '{"path": "/files/a.bin", "method": "GET", "stall_after": 100000, "stall_seconds": 30, "times": 1}'
fix_rule '{"path": "/files/b.bin", "method": "GET", "stall_after": 0, "stall_seconds": 30, "times": 1}'
scenario "servers that stall mid-body and before the first byte" 0
like "$(cat "$T/log")" 'stalled' "the stall is named"

fresh
fix_rule '{"path": "/files/a.bin", "corrupt_at": 12345}'
scenario "a server that always sends one wrong byte" 1
is "$(st 0)" failed "that model failed"
like "$(fe 0)" '[Hh]ash|digest|mismatch|sha256' "its error says the digest is wrong"
is "$(st 1) $(st 2)" "downloaded downloaded" "the others did not suffer"

fresh
fix_rule '{"path": "/files/c.bin", "method": "GET", "corrupt_at": 199999, "times": 1}'
scenario "wrong bytes once, at the last offset" 1
like "$(fe 2)" 'hash mismatch' "a digest mismatch fails the file at once"
fetch 0 "the next run downloads it again" --retry-delay 0.05 "$T/in.json"
end_state "wrong bytes once, then a rerun" "$T/res"

fresh
fix_rule '{"path": "/files/b.bin", "status": 500}'
scenario "a 500 storm on one file" 1
is "$(st 1)" failed "b failed"
like "$(fe 1)" 'HTTP 500' "with the status in its error"

fresh
fix_rule '{"prefix": "/files/", "method": "GET", "status": 503, "retry_after": "0", "times": 4}'
scenario "a 503 storm that passes" 0

fresh
fix_rule '{"prefix": "/files/", "method": "GET", "status": 429, "retry_after": "1", "times": 3}'
scenario "a 429 storm with Retry-After" 0

fresh
fix_rule '{"prefix": "/files/", "method": "GET", "status": 502}'
scenario "every file answering 502 forever" 1
is "$(st 0) $(st 1) $(st 2)" "failed failed failed" "all three failed"

fresh
fix_rule '{"path": "/files/a.bin", "redirect": "http://127.0.0.1:{port}/files/a.bin"}'
scenario "a redirect loop" 1
like "$(fe 0)" '[Rr]edirect' "the error names the redirects"
isnt "$(fix_count /files/a.bin)" 0 "it was tried"

fresh
fix_rule '{"path": "/files/a.bin", "host": "127.0.0.1", "redirect": "http://127.0.0.2:{alt_port}/files/a.bin"}'
fix_rule '{"path": "/files/b.bin", "host": "127.0.0.1", "redirect": "http://127.0.0.2:{alt_port}/files/b.bin", "code": 307}'
scenario "redirects to another host" 0

fresh
manifest "$T/dns.json" "http://mm-test-nowhere.invalid/files/a.bin" "$FIX_URL/files/b.bin" "$FIX_URL/files/c.bin"
scenario "a host name that does not resolve" 1 "$T/dns.json"
like "$(fe 0)" '[Rr]esolve|mm-test-nowhere\.invalid' "the error names the host"

fresh
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
manifest "$T/refused.json" "$FIX_URL/files/a.bin" "http://127.0.0.1:$port/files/b.bin" "$FIX_URL/files/c.bin"
scenario "a refused connection" 1 "$T/refused.json"
like "$(fe 1)" '[Cc]onnect|refused' "the error says the connection was refused"

fresh
fix_rule '{"path": "/files/c.bin", "close": true}'
scenario "a server that closes without answering" 1
is "$(st 2)" failed "c failed"

# TLS: an https server with a self-signed certificate.
if command -v openssl > /dev/null 2>&1; then
	openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -days 2 \
		-keyout "$T/key.pem" -out "$T/cert.pem" > /dev/null 2>&1
	python3 - "$T/cert.pem" "$T/key.pem" "$FIX_ROOT" "$T/tls.port" <<'PY' > "$T/tls.log" 2>&1 &
import functools, http.server, os, ssl, sys
cert, key, root, portfile = sys.argv[1:5]
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(H, directory=root))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
	track_pid $!
	wait_until 10 test -s "$T/tls.port"
	TLS_URL=https://127.0.0.1:$(cat "$T/tls.port")
	manifest "$T/tls.json" "$TLS_URL/files/a.bin" "$FIX_URL/files/b.bin" "$FIX_URL/files/c.bin"
	fresh
	fetch 1 "a self-signed certificate: exits 1" --retry-delay 0.05 "$T/tls.json"
	end_state "a certificate nobody trusts" "$T/res" "$TLS_URL"
	like "$(fe 0)" '[Cc]ertificate|SSL|TLS' "the error names the certificate"
	fresh
	CURL_CA_BUNDLE=$T/cert.pem fetch 0 "the same certificate, trusted through CURL_CA_BUNDLE: exits 0" \
		--retry-delay 0.05 "$T/tls.json"
	end_state "a certificate trusted through CURL_CA_BUNDLE" "$T/res" "$TLS_URL"
	check "the https file is right" cmp "$MM_ROOT/models/a.bin" "$FIX_ROOT/files/a.bin"
else
	skip "TLS scenarios" "openssl is not installed"
fi

done_testing
