#!/bin/sh
# Hostile API answers and manifests are refused whole, with exit 3 and a
# message, before anything is downloaded or written: path traversal in every
# form, duplicate keys, deep nesting, numbers out of range, invalid UTF-8, a
# 1 GB answer, a gzip bomb, and CR/LF header injection through a token or a
# URL.  Each refusal prints one "refused: …" line, so they can be counted.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_STATE_DIR="$T/state" MM_ROOT="$T/root" EMPROPS_API_BASE_URL="$FIX_URL"
mkdir -p "$MM_ROOT" "$T/outside"
make_file files/a.bin 1000

# refused DESC CMD…: CMD exits 3, says why on stderr, and prints no manifest.
refused() {
	_rd=$1
	shift
	exit_is 3 "refused: $_rd" "$@"
	if [ -s "$T/err" ]; then pass "$_rd: a message says why"; else fail "$_rd: a message says why"; fi
	is "$(cat "$T/out")" "" "$_rd: nothing on stdout"
}

# answer NAME SAVETO_JSON: a workflow NAME with one model saved at SAVETO_JSON
# (raw JSON text, so it can hold escapes).
answer() {
	_lib_write "$FIX_ROOT/workflows/name/$1" \
		"{\"data\":{\"models\":[{\"name\":\"a.bin\",\"downloadUrl\":\"$FIX_URL/files/a.bin\",\"saveTo\":$2}]},\"error\":null}"
}

n=0
for s in '"../../etc/passwd"' '"models/../../../x"' '"/etc/passwd"' '"//host/share/x"' \
	'"models\\\\..\\\\..\\\\x"' '"C:\\\\Windows\\\\x"' '"models/x\\u0000.bin"' '"models/.."' '"."' \
	'"models//x"' '"models/x/"' '""' '"models/x\\r\\nX-Injected: 1"' '"models/\\u001b[2Jx"' \
	'null' '42' '["models/x"]' '{"path":"models/x"}'; do
	n=$((n + 1))
	answer "t$n" "$s"
	refused "saveTo $s from the API" mm mm-discover -w "t$n"
done
long=$(python3 -c 'print("\"models/" + "a" * 256 + "\"")')
answer long "$long"
refused "a saveTo component of 256 bytes" mm mm-discover -w long
long=$(python3 -c 'print("\"" + "a/" * 2100 + "x\"")')
answer longer "$long"
refused "a saveTo of 4201 bytes" mm mm-discover -w longer
# Percent-escapes are not decoded: '%2e%2e' is a name like any other.
answer pct '"models/%2e%2e/%2e%2e/x"'
exit_is 0 "an escaped '..' is only a name inside MM_ROOT" mm mm-discover -w pct

_lib_write "$FIX_ROOT/workflows/name/dup" \
	"{\"data\":{\"models\":[{\"name\":\"a.bin\",\"downloadUrl\":\"$FIX_URL/files/a.bin\",\"saveTo\":\"models/a.bin\",\"saveTo\":\"../../x\"}]},\"error\":null}"
refused "a model with two saveTo keys" mm mm-discover -w dup

python3 -c 'print("{\"data\":{\"models\":" + "[" * 100000 + "]" * 100000 + "},\"error\":null}")' \
	> "$FIX_ROOT/workflows/name/deep"
refused "100000 levels of nesting" mm mm-discover -w deep

for v in '"sizeBytes":1e999' '"sizeBytes":-1' '"sizeBytes":"lots"' '"fileSize":"1e999GB"' '"fileSize":-5' \
	'"isAuthReq":"yes"' '"hash":"md5:xyz"' '"hash":"0123"'; do
	n=$((n + 1))
	_lib_write "$FIX_ROOT/workflows/name/t$n" \
		"{\"data\":{\"models\":[{\"name\":\"a.bin\",\"downloadUrl\":\"$FIX_URL/files/a.bin\",\"saveTo\":\"models/a.bin\",$v}]},\"error\":null}"
	refused "a model with $v" mm mm-discover -w "t$n"
done

fix_rule '{"path": "/workflows/name/utf8", "body_b64": "eyJkYXRhIjp7Im1vZGVscyI6W3sibmFtZSI6IsD/IiwiZG93bmxvYWRVcmwiOiJodHRwOi8vMTI3LjAuMC4xL2EiLCJzYXZlVG8iOiJhL2IifV19LCJlcnJvciI6bnVsbH0="}'
refused "an answer that is not UTF-8" mm mm-discover -w utf8

fix_rule '{"path": "/workflows/name/huge", "body_size": 1073741824, "body_fill": "["}'
refused "a 1 GB answer" mm mm-discover -w huge
sent=$(fix_log /workflows/name/huge | python3 -c 'import json, sys; print(max(e["bytes"] for e in json.load(sys.stdin)))')
check "the 1 GB answer was not read to its end ($sent bytes sent)" test "$sent" -lt 268435456

# A gzip bomb: 256 MiB of zeros in about 256 KB.
python3 - "$FIX_ROOT/bomb.gz" <<'PY'
import sys, zlib
c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
chunk = b"0" * (1 << 20)
with open(sys.argv[1], "wb") as f:
    f.write(c.compress(b'{"data":{"models":["'))
    for _ in range(256):
        f.write(c.compress(chunk))
    f.write(c.compress(b'"]},"error":null}'))
    f.write(c.flush())
PY
mkdir -p "$FIX_ROOT/workflows/name"
cp "$FIX_ROOT/bomb.gz" "$FIX_ROOT/workflows/name/bomb"
fix_rule '{"path": "/workflows/name/bomb", "headers": {"Content-Encoding": "gzip", "Content-Type": "application/json"}}'
refused "a gzip bomb" mm mm-discover -w bomb
like "$(cat "$T/err")" 'larger than|too large' "the bomb is named as too large"

# Manifests given to mm-fetch directly: refused before any request.
fix_reset
for s in '"../escape.bin"' '"/tmp/escape.bin"' '"models/../../escape.bin"' '"models\\\\..\\\\x"' \
	'"models/x\\u0000y"'; do
	printf '{"models":[{"name":"a.bin","downloadUrl":"%s/files/a.bin","saveTo":%s}]}\n' "$FIX_URL" "$s" > "$T/m.json"
	refused "mm-fetch of saveTo $s" mm mm-fetch "$T/m.json"
done
is "$(fix_count)" 0 "no request was made for a refused manifest"
is "$(find "$T/outside" "$T" -maxdepth 1 -name 'escape.bin' | wc -l | tr -d ' ')" 0 "nothing was written outside MM_ROOT"

# CR/LF through a token or a URL never becomes a header.
cat > "$T/auth.json" <<EOF2
{"models":[{"name":"a.bin","downloadUrl":"$FIX_URL/files/a.bin","saveTo":"models/a.bin","isAuthReq":true,"authEnvVar":"HF_TOKEN"}]}
EOF2
HF_TOKEN=$(printf 'hf_abc\r\nX-Injected: 1') MM_AUTH_HOSTS=HF_TOKEN=127.0.0.1 MM_ALLOW_HTTP_AUTH=1 \
	fetch 1 "a token holding CR/LF: the model fails" "$T/auth.json"
like "$(fe 0)" 'HF_TOKEN holds a space or control character' "the error is about the token"
unlike "$(fix_log)" 'x-injected' "no injected header reached the server"
printf '{"models":[{"name":"a.bin","downloadUrl":"%s/files/a.bin\\r\\nX-Injected: 1","saveTo":"models/b.bin"}]}\n' "$FIX_URL" > "$T/crlf.json"
rc=0
mm mm-fetch "$T/crlf.json" > "$T/res" 2> "$T/log" || rc=$?
like "$rc" '^[13]$' "a URL holding CR/LF is refused or fails ($rc)"
unlike "$(fix_log)" 'x-injected' "no injected header reached the server"
check "and nothing was saved" test ! -e "$MM_ROOT/models/b.bin"
printf '{"models":[{"name":"a.bin","downloadUrl":"file:///etc/passwd","saveTo":"models/p"}]}\n' > "$T/file.json"
rc=0
mm mm-fetch "$T/file.json" > "$T/res" 2> "$T/log" || rc=$?
like "$rc" '^[13]$' "a file:// URL is refused or fails ($rc)"
check "and /etc/passwd was not copied" test ! -e "$MM_ROOT/models/p"

done_testing
