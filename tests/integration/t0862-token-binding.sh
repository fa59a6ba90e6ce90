#!/bin/sh
# A token is bound to hosts and goes only over https: a manifest cannot send
# REDIS_URL or a cloud key as a bearer token, a Hugging Face name in a URL's
# path is not Hugging Face, MM_AUTH_HOSTS and HF_ENDPOINT bind hosts (with
# their subdomains, never a look-alike), plain http needs MM_ALLOW_HTTP_AUTH,
# and a refused model fails before any request (HEAD, GET or --dry-run).
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
make_file files/a.bin 20000
make_file files/b.bin 20000
make_file mirror/.huggingface.co/x 20000
A=$FIX_ROOT/files/a.bin
HFV=hf_BiNdInG_5e1c0a77d2
REDV=RedisPassw0rd_BiNdInG_9f
AWSV=AwsSecret_BiNdInG_3c4d5e6f
MYV=my_BiNdInG_81b2c3
REDIS_URL="redis://default:$REDV@127.0.0.1:6399/0"
AWS_SECRET_ACCESS_KEY=$AWSV MY_TOKEN=$MYV HF_TOKEN=$HFV
export REDIS_URL AWS_SECRET_ACCESS_KEY MY_TOKEN HF_TOKEN

# manifest URL [VAR] [SIZE]: $T/in.json with a model at URL that needs VAR
# (isAuthReq without authEnvVar when VAR is "-"), and a public model b.bin.
manifest() {
	_auth='"isAuthReq": false'
	case ${2:-} in
	'') ;;
	-) _auth='"isAuthReq": true' ;;
	*) _auth="\"isAuthReq\": true, \"authEnvVar\": \"$2\"" ;;
	esac
	_size=
	[ -n "${3:-}" ] && _size="\"fileSize\": $3,"
	cat > "$T/in.json" <<EOF
{"models": [
 {"name": "a.bin", "downloadUrl": "$1", "saveTo": "models/a.bin", $_size $_auth},
 {"name": "b.bin", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/b.bin", "fileSize": 20000}]}
EOF
	rm -rf "$MM_ROOT"
	fix_reset
}
# secrets DESC: no token value in mm-fetch's stdout or stderr.
secrets() {
	for _v in "$HFV" "$REDV" "$AWSV" "$MYV"; do
		if grep -qF -- "$_v" "$T/res" "$T/log"; then
			fail "$1: a token value is in mm-fetch's output"
			return
		fi
	done
	pass "$1: no token value in any output"
}
# refused DESC VAR ERE: model 0 refused before any request, naming VAR and ERE.
refused() {
	is "$(st 0)" unauthorized "$1: fetch.status is unauthorized"
	like "$(fe 0)" "$2.*$3" "$1: the error names $2 and $3"
	like "$(cat "$T/log")" "a\.bin: $2" "$1: and so does stderr"
	is "$(fix_count '/files/a.bin')$(fix_count '/mirror/*')" 00 "$1: no request for it"
	unlike "$(fix_log)" '"authorization"' "$1: no Authorization header anywhere"
	is "$(st 1)" "$4" "$1: the other model goes on"
	secrets "$1"
}

# -------------------------------------------------------- unbound variables
export MM_ALLOW_HTTP_AUTH=1
manifest "$FIX_URL/files/a.bin" REDIS_URL 20000
fetch 1 "authEnvVar REDIS_URL: exit 1" "$T/in.json"
refused "REDIS_URL" REDIS_URL MM_AUTH_HOSTS downloaded
is "$(fix_count --host 127.0.0.1 /files/b.bin)" 1 "the public model was fetched"

manifest "$FIX_ALT_URL/files/a.bin" AWS_SECRET_ACCESS_KEY
fetch 1 "authEnvVar AWS_SECRET_ACCESS_KEY (no size: HEAD first): exit 1" "$T/in.json"
refused "AWS_SECRET_ACCESS_KEY" AWS_SECRET_ACCESS_KEY MM_AUTH_HOSTS downloaded

manifest "$FIX_URL/files/a.bin" REDIS_URL
fetch 1 "a dry run with authEnvVar REDIS_URL: exit 1" --dry-run "$T/in.json"
refused "REDIS_URL, dry run" REDIS_URL MM_AUTH_HOSTS would-download

# A bound variable's name only binds it: REDIS_URL to HF's hosts is refused.
manifest "https://huggingface.co/x/a.bin" REDIS_URL 20000
fetch 1 "REDIS_URL to huggingface.co: exit 1" --attempts 1 "$T/in.json"
refused "REDIS_URL to huggingface.co" REDIS_URL MM_AUTH_HOSTS downloaded

# ------------------------------------------------- the host, parsed, not text
manifest "$FIX_URL/mirror/.huggingface.co/x" - 20000
fetch 0 "a Hugging Face name in the path: downloaded" "$T/in.json"
exit_is 1 "no HF_TOKEN for /mirror/.huggingface.co/x" fix_header /mirror/.huggingface.co/x authorization
unlike "$(cat "$T/res")" '"authEnvVar"' "no authEnvVar is guessed for it"
secrets "mirror path"

manifest "http://huggingface.co@127.0.0.1:$FIX_PORT/files/a.bin" HF_TOKEN 20000
fetch 1 "HF_TOKEN to huggingface.co@127.0.0.1: exit 1" "$T/in.json"
refused "user info that looks like a host" HF_TOKEN "127\.0\.0\.1.*MM_AUTH_HOSTS" downloaded

manifest "http://evilhuggingface.co:$FIX_PORT/files/a.bin" HF_TOKEN 20000
fetch 1 "HF_TOKEN to evilhuggingface.co: exit 1" --attempts 1 "$T/in.json"
refused "evilhuggingface.co" HF_TOKEN "evilhuggingface\.co.*MM_AUTH_HOSTS" downloaded

# ---------------------------------------------------------------- MM_AUTH_HOSTS
manifest "http://sub.localhost:$FIX_PORT/files/a.bin" MY_TOKEN
fix_rule "{\"path\": \"/files/a.bin\", \"require_token\": \"$MYV\"}"
MM_AUTH_HOSTS="HF_TOKEN=127.0.0.2 MY_TOKEN=example.org,localhost" \
	fetch 0 "MY_TOKEN bound to localhost reaches sub.localhost" "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
is "$(fix_header --method GET /files/a.bin authorization)" "Bearer $MYV" "the bound token was sent"
secrets "subdomain"

manifest "http://localhost:$FIX_PORT/files/a.bin" MY_TOKEN 20000
MM_AUTH_HOSTS="MY_TOKEN=host" fetch 1 "MY_TOKEN bound to 'host' does not reach 'localhost'" "$T/in.json"
refused "look-alike" MY_TOKEN "localhost.*MM_AUTH_HOSTS" downloaded

manifest "$FIX_URL/files/a.bin" HF_TOKEN 20000
MM_AUTH_HOSTS="HF_TOKEN=127.0.0.2" fetch 1 "MM_AUTH_HOSTS replaces HF_TOKEN's hosts" "$T/in.json"
refused "replaced binding" HF_TOKEN "127\.0\.0\.1.*bound to 127\.0\.0\.2.*MM_AUTH_HOSTS" downloaded

manifest "$FIX_ALT_URL/files/a.bin" HF_TOKEN 20000
MM_AUTH_HOSTS="HF_TOKEN=127.0.0.2" fetch 0 "and binds it to 127.0.0.2" "$T/in.json"
is "$(fix_header --host 127.0.0.2 /files/a.bin authorization)" "Bearer $HFV" "HF_TOKEN went to 127.0.0.2"
secrets "replaced binding"

for bad in "HF_TOKEN" "MY_TOKEN=" "MY_TOKEN=https://example.org" "MY_TOKEN=example.org:443" \
	"MY_TOKEN=*.example.org" "1X=example.org" "MY_TOKEN=a,,b" "MY_TOKEN=a..b"; do
	manifest "$FIX_URL/files/a.bin" MY_TOKEN 20000
	MM_AUTH_HOSTS=$bad fetch 2 "MM_AUTH_HOSTS='$bad': exit 2" "$T/in.json"
	like "$(cat "$T/log")" "MM_AUTH_HOSTS: entry 1 '" "MM_AUTH_HOSTS='$bad': the message says which entry"
	is "$(fix_count '/files/*')" 0 "MM_AUTH_HOSTS='$bad': no request"
done
MM_AUTH_HOSTS="MY_TOKEN=localhost oops" fetch 2 "a second bad entry: exit 2" "$T/in.json"
like "$(cat "$T/log")" "entry 2 'oops' has no '='" "it is named"

# ------------------------------------------------------------------ HF_ENDPOINT
manifest "$FIX_URL/files/a.bin" HF_TOKEN 20000
HF_ENDPOINT=$FIX_URL fetch 0 "HF_ENDPOINT's host gets HF_TOKEN" "$T/in.json"
is "$(fix_header /files/a.bin authorization)" "Bearer $HFV" "HF_TOKEN went to HF_ENDPOINT's host"
manifest "$FIX_ALT_URL/files/a.bin" HF_TOKEN 20000
HF_ENDPOINT=$FIX_URL fetch 1 "but not another host" "$T/in.json"
refused "HF_ENDPOINT, other host" HF_TOKEN "127\.0\.0\.2.*MM_AUTH_HOSTS" downloaded
HF_ENDPOINT="ftp://user:EndpointPw@mirror.example" fetch 2 "an HF_ENDPOINT that is no http(s) URL: exit 2" "$T/in.json"
like "$(cat "$T/log")" "HF_ENDPOINT" "the message names it"
unlike "$(cat "$T/log")" "EndpointPw" "without its value"

# ------------------------------------------------------------ https only
unset MM_ALLOW_HTTP_AUTH
export HF_ENDPOINT="$FIX_URL"
manifest "$FIX_URL/files/a.bin" HF_TOKEN 20000
fetch 1 "HF_TOKEN over plain http (GET): exit 1" "$T/in.json"
refused "http GET" HF_TOKEN MM_ALLOW_HTTP_AUTH downloaded
manifest "$FIX_URL/files/a.bin" HF_TOKEN
fetch 1 "HF_TOKEN over plain http (no size: HEAD first): exit 1" "$T/in.json"
refused "http HEAD" HF_TOKEN MM_ALLOW_HTTP_AUTH downloaded
manifest "$FIX_URL/files/a.bin" HF_TOKEN
fetch 1 "HF_TOKEN over plain http, dry run: exit 1" --dry-run "$T/in.json"
refused "http dry run" HF_TOKEN MM_ALLOW_HTTP_AUTH would-download
manifest "$FIX_URL/files/a.bin" HF_TOKEN
MM_ALLOW_HTTP_AUTH=1 fetch 0 "MM_ALLOW_HTTP_AUTH=1 allows http" "$T/in.json"
is "$(fix_header --method GET /files/a.bin authorization)" "Bearer $HFV" "the token went over http"
secrets "MM_ALLOW_HTTP_AUTH"

export CURL_CA_BUNDLE="$FIX_CA" HF_ENDPOINT="$FIX_TLS_URL"
manifest "$FIX_TLS_URL/files/a.bin" HF_TOKEN
fetch 0 "https needs no MM_ALLOW_HTTP_AUTH" "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
is "$(fix_header --scheme https --method GET /files/a.bin authorization)" "Bearer $HFV" "the token went over https"
secrets "https"

# -------------------------------------------- redirects: never another host
manifest "$FIX_TLS_URL/files/a.bin" HF_TOKEN 20000
fix_rule '{"path": "/files/a.bin", "host": "127.0.0.1", "redirect": "https://127.0.0.2:{tls_alt_port}/files/a.bin"}'
MM_AUTH_HOSTS="HF_TOKEN=127.0.0.1,127.0.0.2" fetch 0 "a redirect to another bound host completes" "$T/in.json"
is "$(fix_header --host 127.0.0.1 /files/a.bin authorization)" "Bearer $HFV" "the first host got the token"
exit_is 1 "the redirect target did not, though bound too" fix_header --host 127.0.0.2 /files/a.bin authorization

manifest "$FIX_URL/files/a.bin" HF_TOKEN 20000
fix_rule '{"path": "/files/a.bin", "scheme": "http", "redirect": "https://127.0.0.1:{tls_port}/files/a.bin"}'
MM_ALLOW_HTTP_AUTH=1 fetch 0 "a redirect to another port and scheme completes" "$T/in.json"
is "$(fix_header --scheme http /files/a.bin authorization)" "Bearer $HFV" "the http URL got the token"
exit_is 1 "the https port of the same host did not" fix_header --scheme https /files/a.bin authorization
secrets "redirects"
done_testing
