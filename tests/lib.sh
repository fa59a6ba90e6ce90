# shellcheck shell=sh
# tests/lib.sh — sourced by every integration test, from the top of the tree:
#
#	. tests/lib.sh
#
# TAP assertions, a private temporary directory $T (removed on exit, with
# every server the test started), the fixture HTTP server, a private
# redis-server, and helpers to build API answers and model files.
# tests/fixtures/README.md documents every function.

: "${MM_TOP:=$(pwd)}"
: "${MM_BIN:=$MM_TOP/bin}"
export MM_TOP MM_BIN

# A test sees only the configuration it sets itself.
unset WORKFLOW_IDS COLLECTION_IDS COLLECTIONS COMPONENTS MIGRATE_TO_WORKFLOWS \
	EMPROPS_API_BASE_URL EMPROPS_API_URL MM_ROOT COMFYUI_PATH MM_STATE_DIR \
	MODEL_DOWNLOAD_CONCURRENCY MODEL_DOWNLOAD_TIMEOUT_MINUTES \
	MODEL_DOWNLOAD_RETRY_ATTEMPTS HF_TOKEN CIVITAI_TOKEN REDIS_URL MACHINE_ID \
	MODEL_MANAGER_ENABLED MM_ON_FAILURE MM_LOG_FORMAT \
	http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
unset MM_AUTH_HOSTS MM_ALLOW_HTTP_AUTH HF_ENDPOINT CIVITAI_ENDPOINT
NO_PROXY=127.0.0.1,127.0.0.2,localhost
no_proxy=$NO_PROXY
export NO_PROXY no_proxy

# Sanitizer builds (make check-san): a memory error or leak exits 99, a
# status no mm binary uses, so `exit_is 1` cannot take it for a result.
: "${ASAN_OPTIONS:=exitcode=99:detect_leaks=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1:exitcode=99}"
export ASAN_OPTIONS UBSAN_OPTIONS

T=$(mktemp -d "${TMPDIR:-/tmp}/mm-test.XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
: > "$T/.tap"
: > "$T/.pids"

_lib_cleanup() {
	# Signal them all first, so that they stop in parallel.
	while read -r _p; do
		kill "$_p" 2>/dev/null
	done < "$T/.pids"
	while read -r _p; do
		_lib_stop_pid "$_p"
	done < "$T/.pids"
	rm -rf "$T"
}
trap _lib_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# _lib_stop_pid PID: SIGTERM, up to 5 s to go, then SIGKILL.
_lib_stop_pid() {
	kill "$1" 2>/dev/null || return 0
	_i=0
	while kill -0 "$1" 2>/dev/null && [ "$_i" -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# _lib_watch TEST_PID PID: stop PID once TEST_PID is gone.
_lib_watch() {
	while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do
		sleep 1
	done
	kill "$2" 2>/dev/null
} > /dev/null 2>&1 < /dev/null

# track_pid PID: stop this process (SIGTERM, then SIGKILL) when the test exits.
track_pid() {
	echo "$1" >> "$T/.pids"
}

# ---------------------------------------------------------------- TAP

# The results are counted in a file, so that assertions made in a subshell
# (a pipeline, a `while read` loop) still count.
_lib_result() {
	# A description ending in "# TODO why" marks a known bug: TAP counts its
	# failure as expected, and so does done_testing.
	case $2 in
	*"# TODO"*) echo "$1 todo" >> "$T/.tap" ;;
	*) echo "$1" >> "$T/.tap" ;;
	esac
	_n=$(wc -l < "$T/.tap")
	if [ "$1" = ok ]; then
		echo "ok $((_n)) - $2"
	else
		echo "not ok $((_n)) - $2"
	fi
}

# diag LINE…: print each LINE as a TAP comment (on stderr).
diag() {
	for _l in "$@"; do
		printf '%s\n' "$_l"
	done | sed 's/^/# /' >&2
}

# pass DESC / fail DESC [DETAILS…]
pass() {
	_lib_result ok "$1"
}

fail() {
	_lib_result "not ok" "$1"
	shift
	[ $# -gt 0 ] && diag "$@"
	return 1
}

# skip DESC REASON: a test that was not run.
skip() {
	_lib_result ok "$1 # SKIP ${2:-}"
}

# check DESC CMD [ARGS…]: ok when CMD exits 0.  Its output is kept in
# $T/out and $T/err and shown when it fails.
check() {
	_d=$1
	shift
	if "$@" > "$T/out" 2> "$T/err"; then
		pass "$_d"
	else
		_rc=$?
		fail "$_d" "command: $*" "exit status: $_rc" \
			"stdout: $(head -c 2000 "$T/out")" "stderr: $(head -c 2000 "$T/err")"
	fi
}

# exit_is WANT DESC CMD [ARGS…]: ok when CMD exits with status WANT.
# stdout and stderr are saved in $T/out and $T/err.
exit_is() {
	_want=$1 _d=$2
	shift 2
	"$@" > "$T/out" 2> "$T/err"
	_rc=$?
	if [ "$_rc" -eq "$_want" ]; then
		pass "$_d"
	else
		fail "$_d" "command: $*" "exit status: $_rc, wanted $_want" \
			"stdout: $(head -c 1000 "$T/out")" "stderr: $(head -c 2000 "$T/err")"
	fi
}

# is GOT WANT DESC / isnt GOT UNWANTED DESC: string comparison.
is() {
	if [ "$1" = "$2" ]; then
		pass "$3"
	else
		fail "$3" "     got: '$1'" "expected: '$2'"
	fi
}

isnt() {
	if [ "$1" != "$2" ]; then
		pass "$3"
	else
		fail "$3" "     got: '$1'" "expected anything else"
	fi
}

# like TEXT ERE DESC / unlike TEXT ERE DESC: grep -E on TEXT.
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		pass "$3"
	else
		fail "$3" "text: $1" "does not match: $2"
	fi
}

unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		fail "$3" "text: $1" "matches: $2"
	else
		pass "$3"
	fi
}

# no_leak SECRET DESC PATH…: ok when no file under the PATHs contains SECRET.
# The secret itself is never printed.
no_leak() {
	_s=$1 _d=$2
	shift 2
	_files=$(grep -rlF -- "$_s" "$@" 2>/dev/null)
	if [ -z "$_files" ]; then
		pass "$_d"
	else
		fail "$_d" "the secret is in:" "$_files"
	fi
}

# done_testing: print the plan; exit 1 when an assertion failed.
done_testing() {
	_n=$(wc -l < "$T/.tap")
	echo "1..$((_n))"
	if grep -q '^not ok$' "$T/.tap"; then
		exit 1
	fi
	exit 0
}

# skip_all REASON: this whole test cannot run here.
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

# need CMD…: skip_all unless every CMD is installed.
need() {
	for _c in "$@"; do
		command -v "$_c" > /dev/null 2>&1 || skip_all "$_c is not installed"
	done
}

# wait_until SECONDS CMD [ARGS…]: run CMD every 0.1 s until it succeeds;
# status 1 when SECONDS pass first.
wait_until() {
	_deadline=$(($1 * 10))
	shift
	_i=0
	until "$@"; do
		_i=$((_i + 1))
		[ "$_i" -ge "$_deadline" ] && return 1
		sleep 0.1
	done
	return 0
}

# json_get PATH [FILE]: print the value at PATH in the JSON document FILE
# (default: stdin).  PATH is object keys and array indices (negative from
# the end) joined by dots, e.g. models.0.fetch.status, or empty for the whole
# document; a final # gives the length of an array or object.  Strings print
# raw, other values as JSON.  Status 1 when PATH does not exist, 2 when the
# input is not JSON.
json_get() {
	python3 -c '
import json, sys
path, src = sys.argv[1], sys.argv[2]
try:
    doc = json.load(sys.stdin if src == "-" else open(src))
except (OSError, ValueError) as e:
    print("json_get: %s: %s" % (src, e), file=sys.stderr)
    sys.exit(2)
for key in path.split(".") if path else []:
    if key == "#" and isinstance(doc, (list, dict)):
        doc = len(doc)
    elif isinstance(doc, dict) and key in doc:
        doc = doc[key]
    elif isinstance(doc, list) and key.lstrip("-").isdigit() \
            and -len(doc) <= int(key) < len(doc):
        doc = doc[int(key)]
    else:
        sys.exit(1)
print(doc if isinstance(doc, str) else json.dumps(doc))' "$1" "${2:--}"
}

# ---------------------------------------------------------------- binaries

# mm BIN [ARGS…]: run $MM_BIN/BIN, under valgrind when MM_VALGRIND=1.
mm() {
	_b=$1
	shift
	if [ "${MM_VALGRIND:-0}" = 1 ]; then
		valgrind --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite -q "$MM_BIN/$_b" "$@"
	else
		"$MM_BIN/$_b" "$@"
	fi
}

# ---------------------------------------------------------------- fixture

# start_fixture: start tests/fixtures/server.py serving $FIX_ROOT over http
# and https, on 127.0.0.1 and on 127.0.0.2.  Sets FIX_ROOT, FIX_PORT,
# FIX_URL, FIX_ALT_PORT, FIX_ALT_URL, FIX_TLS_PORT, FIX_TLS_URL,
# FIX_TLS_ALT_PORT, FIX_TLS_ALT_URL, and FIX_CA (the CA that signed the
# https certificate).
start_fixture() {
	FIX_ROOT=$T/www
	mkdir -p "$FIX_ROOT"
	rm -f "$T"/fix.*
	# Started from a subshell, so that it is not a child of the test and a
	# bare `wait` in the test does not wait for it.
	(
		python3 "$MM_TOP/tests/fixtures/server.py" --root "$FIX_ROOT" \
			--parent-pid $$ --port-file "$T/fix.port" --alt-port-file "$T/fix.alt" \
			--tls-port-file "$T/fix.tls" --tls-alt-port-file "$T/fix.tlsalt" &
		echo $! > "$T/fix.pid"
	)
	_fix_pid=$(cat "$T/fix.pid")
	track_pid "$_fix_pid"
	_lib_wait_files "$_fix_pid" "the fixture server" \
		"$T/fix.port" "$T/fix.alt" "$T/fix.tls" "$T/fix.tlsalt"
	FIX_PORT=$(cat "$T/fix.port")
	FIX_ALT_PORT=$(cat "$T/fix.alt")
	FIX_TLS_PORT=$(cat "$T/fix.tls")
	FIX_TLS_ALT_PORT=$(cat "$T/fix.tlsalt")
	FIX_URL=http://127.0.0.1:$FIX_PORT
	FIX_ALT_URL=http://127.0.0.2:$FIX_ALT_PORT
	FIX_TLS_URL=https://127.0.0.1:$FIX_TLS_PORT
	FIX_TLS_ALT_URL=https://127.0.0.2:$FIX_TLS_ALT_PORT
	FIX_CA=$MM_TOP/tests/fixtures/tls/ca.pem
	export FIX_ROOT FIX_PORT FIX_URL FIX_ALT_PORT FIX_ALT_URL FIX_TLS_PORT \
		FIX_TLS_URL FIX_TLS_ALT_PORT FIX_TLS_ALT_URL FIX_CA
}

# _lib_wait_files PID WHAT FILE…: wait (10 s) until every FILE is there;
# bail out if PID exits first.
_lib_wait_files() {
	_pid=$1 _what=$2
	shift 2
	for _f in "$@"; do
		_i=0
		until [ -s "$_f" ]; do
			if ! kill -0 "$_pid" 2>/dev/null; then
				echo "Bail out! $_what exited at start"
				exit 1
			fi
			_i=$((_i + 1))
			if [ "$_i" -ge 500 ]; then
				echo "Bail out! $_what did not start within 10 s"
				exit 1
			fi
			sleep 0.02
		done
	done
}

# _fix_ctl ENDPOINT [--KEY VALUE…] [PATH [NAME]]: GET /_ctl/ENDPOINT with the
# options and arguments as its query (path=, name=, key=).
_fix_ctl() {
	_ep=$1
	shift
	_n=$# _pos=path
	while [ "$_n" -gt 0 ]; do
		case $1 in
		--*)
			if [ "$_n" -lt 2 ]; then
				echo "fix_$_ep: $1 needs a value" >&2
				return 2
			fi
			set -- "$@" --data-urlencode "${1#--}=$2"
			shift 2
			_n=$((_n - 2))
			;;
		*)
			set -- "$@" --data-urlencode "$_pos=$1"
			_pos=name
			shift
			_n=$((_n - 1))
			;;
		esac
	done
	curl -sS --fail-with-body --noproxy '*' -G "$@" "$FIX_URL/_ctl/$_ep"
}

# fix_rule JSON: append a rule (tests/fixtures/README.md).  A rule the
# server refuses is a failed test.
fix_rule() {
	if ! curl -sS --fail-with-body --noproxy '*' -o "$T/.ctl" \
		-H 'Content-Type: application/json' --data-binary "$1" "$FIX_URL/_ctl/rule"; then
		fail "fix_rule $1" "$(cat "$T/.ctl" 2>/dev/null)"
		return 1
	fi
}

# fix_reset: forget every rule and the request log.
fix_reset() {
	curl -sS --fail-with-body --noproxy '*' -o /dev/null -X POST "$FIX_URL/_ctl/reset"
}

# fix_rules: print the rules (a JSON array), each with its number of hits.
fix_rules() {
	_fix_ctl rules
}

# fix_log [FILTER] [PATH]: print the request log (a JSON array), or the part
# of it that matches.  FILTER: --host H, --scheme http|https, --method M,
# --status N.  PATH ending in '*' is a prefix.
fix_log() {
	_fix_ctl log "$@"
}

# fix_count [FILTER] [PATH]: the number of logged requests that match.
fix_count() {
	_fix_ctl count "$@"
}

# fix_header [FILTER] [--index I] PATH NAME:
# header NAME of the last (or I-th, 1-based, negative from the end) request
# that matches; status 1 when there is no such request or header.
fix_header() {
	_fix_ctl header "$@" 2> /dev/null || return 1
}

# fix_wait [FILTER] [--bytes N] [--timeout S] PATH: wait
# until a matching request was logged with at least N body bytes sent
# (default 0, timeout 10 s); status 1 on timeout.
fix_wait() {
	_fix_ctl wait "$@" > /dev/null 2>&1 || return 1
}

# ---------------------------------------------------------------- API answers

_lib_write() {
	mkdir -p "$(dirname "$1")"
	printf '%s\n' "$2" > "$1"
}

# api_workflow NAME MODELS_JSON_ARRAY
api_workflow() {
	_lib_write "$FIX_ROOT/workflows/name/$1" \
		"{\"data\":{\"name\":$(_json_str "$1"),\"models\":$2},\"error\":null}"
}

# api_model NAME MODEL_JSON_OBJECT
api_model() {
	_lib_write "$FIX_ROOT/models/name/$1" "{\"data\":$2,\"error\":null}"
}

# api_collection ID WORKFLOW_NAMES_JSON_ARRAY
api_collection() {
	_lib_write "$FIX_ROOT/collections/$1/public" "$(python3 -c '
import json, sys
names = json.loads(sys.argv[1])
print(json.dumps({"data": {"collection_node": [{"name": n} for n in names]},
                  "error": None}))' "$2")"
}

# api_deps_workflow ID NAME MODELS_JSON_ARRAY [CUSTOM_NODES_JSON_ARRAY]
# api_deps_collection ID MODELS_JSON_ARRAY [CUSTOM_NODES_JSON_ARRAY]
# The deployed API's batch answers, one entry each; api_deps_on serves them.
api_deps_workflow() {
	_lib_write "$FIX_ROOT/_deps/workflows/$1.json" \
		"{\"workflow_id\":$(_json_str "$1"),\"workflow_name\":$(_json_str "$2"),\"models\":$3,\"custom_nodes\":${4:-[]}}"
}
api_deps_collection() {
	_lib_write "$FIX_ROOT/_deps/collections/$1.json" \
		"{\"collection_id\":$(_json_str "$1"),\"models\":$2,\"custom_nodes\":${3:-[]}}"
}
api_deps_on() {
	fix_rule '{"path": "/workflows/dependencies", "method": "POST", "dependencies": "workflows"}'
	fix_rule '{"path": "/collections/dependencies", "method": "POST", "dependencies": "collections"}'
}

# _json_str TEXT: TEXT as a JSON string.
_json_str() {
	python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
}

# ---------------------------------------------------------------- files

# make_file RELPATH SIZE [SEED]: $FIX_ROOT/RELPATH with SIZE bytes of
# pseudo-random content, the same for the same RELPATH (or SEED) every time.
make_file() {
	mkdir -p "$(dirname "$FIX_ROOT/$1")"
	python3 -c '
import random, sys
path, size, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(seed)
with open(path, "wb") as f:
    while size > 0:
        n = min(size, 1 << 20)
        f.write(rng.randbytes(n))
        size -= n' "$FIX_ROOT/$1" "$2" "${3:-$1}"
}

# hf_file REPO FILE SIZE: a file of the Hugging Face stand-in, served at
# $FIX_URL/REPO/resolve/main/FILE (REPO is "org/name"); LFS from 10 KiB on.
# hf_gate REPO TOKEN: the repository answers 401 without that bearer token.
hf_file() {
	make_file "_hf/$1/$2" "$3"
}

hf_gate() {
	mkdir -p "$FIX_ROOT/_hf/$1"
	printf '%s\n' "$2" > "$FIX_ROOT/_hf/$1/.gated"
}

# civitai_file ID FILE SIZE: a file of model version ID of the Civitai
# stand-in ($FIX_URL/api/download/models/ID, $FIX_URL/api/v1/model-versions/ID).
# civitai_gate ID TOKEN: its download answers 401 without that bearer token.
civitai_file() {
	make_file "_civitai/$1/$2" "$3"
}

civitai_gate() {
	mkdir -p "$FIX_ROOT/_civitai/$1"
	printf '%s\n' "$2" > "$FIX_ROOT/_civitai/$1/.gated"
}

# sha256_of FILE / md5_of FILE: the hex digest.
sha256_of() {
	sha256sum < "$1" | cut -d ' ' -f 1
}

md5_of() {
	md5sum < "$1" | cut -d ' ' -f 1
}

# ---------------------------------------------------------------- redis

# start_redis [PORT [REDIS-ARGS…]]: a redis-server without persistence on
# $T/redis.sock and on PORT (default: a free one) on 127.0.0.1.  Sets
# REDIS_SOCK, REDIS_PORT, REDIS_URL; rcli runs redis-cli against it.
start_redis() {
	need redis-server redis-cli
	_redis_want=${1:-}
	[ $# -gt 0 ] && shift
	REDIS_SOCK=$T/redis.sock
	REDIS_URL=unix://$REDIS_SOCK
	# A port below the kernel's ephemeral range, picked at random; when it
	# is taken, redis exits at once and another is tried.
	for _try in 1 2 3 4 5; do
		REDIS_PORT=${_redis_want:-$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))}
		# Not a child of the test either (see start_fixture), and stopped
		# by a watcher if the test dies without cleaning up.
		(
			redis-server --bind 127.0.0.1 "${_redis_port_opt:---port}" "$REDIS_PORT" \
				--unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
				--save '' --appendonly no --dir "$T" --logfile "$T/redis.log" \
				--enable-debug-command local "$@" > /dev/null &
			echo $! > "$T/redis.pid"
			_lib_watch $$ $! &
			echo $! > "$T/redis.watch"
		)
		_redis_pid=$(cat "$T/redis.pid")
		track_pid "$(cat "$T/redis.watch")"
		track_pid "$_redis_pid"
		if _redis_wait; then
			export REDIS_SOCK REDIS_PORT REDIS_URL
			return 0
		fi
		[ -n "$_redis_want" ] && break
	done
	echo "Bail out! redis-server did not start: $(tail -n 2 "$T/redis.log" 2>/dev/null)"
	exit 1
}

# start_redis_tls CERT KEY CA [REDIS-ARGS…]: the same, but the TCP port
# (REDIS_PORT) speaks only TLS, with the server certificate CERT and its KEY;
# client certificates are checked against CA, and not asked for unless
# REDIS-ARGS say --tls-auth-clients yes.  The unix socket stays plain, so
# rcli works as before.
start_redis_tls() {
	_redis_tls_c=$1 _redis_tls_k=$2 _redis_tls_ca=$3
	shift 3
	_redis_port_opt=--tls-port
	start_redis "" --port 0 --tls-cert-file "$_redis_tls_c" --tls-key-file "$_redis_tls_k" \
		--tls-ca-cert-file "$_redis_tls_ca" --tls-auth-clients no "$@"
	_redis_port_opt=
}

# make_ca DIR NAME: a private CA made now with the openssl CLI, in
# DIR/NAME.pem and DIR/NAME.key.
make_ca() {
	need openssl
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/$2.key" -out "$1/$2.pem" -days 2 -subj "/CN=mm test $2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2> /dev/null ||
		{ echo "Bail out! openssl could not make the CA $2"; exit 1; }
}

# make_cert DIR CA NAME SAN DAYS [USAGE]: DIR/NAME.pem and DIR/NAME.key, a
# certificate signed by the CA DIR/CA.pem for the subjectAltName SAN (e.g.
# IP:127.0.0.1,DNS:localhost), valid from now for DAYS days (-1: it expired
# a day ago), for USAGE (default serverAuth; clientAuth for a client).
make_cert() {
	need openssl
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
		"${6:-serverAuth}" "$4" > "$1/$3.ext"
	{ openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/$3.key" -out "$1/$3.csr" -subj "/CN=$3" &&
		openssl x509 -req -in "$1/$3.csr" -CA "$1/$2.pem" -CAkey "$1/$2.key" \
			-CAcreateserial -CAserial "$1/$2.srl" -days "$5" -sha256 \
			-extfile "$1/$3.ext" -out "$1/$3.pem"; } 2> /dev/null ||
		{ echo "Bail out! openssl could not make the certificate $3"; exit 1; }
}

# _redis_wait: until it answers PING (10 s), or has exited.
_redis_wait() {
	_i=0
	while [ "$_i" -lt 500 ]; do
		kill -0 "$_redis_pid" 2>/dev/null || return 1
		[ -S "$REDIS_SOCK" ] &&
			[ "$(redis-cli -s "$REDIS_SOCK" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.02
		_i=$((_i + 1))
	done
	_lib_stop_pid "$_redis_pid"
	return 1
}

# stop_redis: stop it and wait until it is gone.
stop_redis() {
	_lib_stop_pid "$_redis_pid"
}

# restart_redis: stop it and start an empty one on the same socket and port.
restart_redis() {
	stop_redis
	start_redis "$REDIS_PORT"
}

# rcli ARGS…: redis-cli against the test's redis-server.
rcli() {
	redis-cli -s "$REDIS_SOCK" "$@"
}

# start_redis_proxy [--cut-on TEXT] [--times N]: a TCP proxy in front of
# the test's redis-server that closes a connection just before its client
# sends TEXT (first N connections only with --times): `--cut-on EXEC` is a
# client dying between MULTI and EXEC.  Sets PROXY_PORT and
# PROXY_URL=redis://127.0.0.1:$PROXY_PORT.
start_redis_proxy() {
	rm -f "$T/proxy.port"
	(
		python3 "$MM_TOP/tests/fixtures/tcpproxy.py" --target "127.0.0.1:$REDIS_PORT" \
			--port-file "$T/proxy.port" --parent-pid $$ "$@" &
		echo $! > "$T/proxy.pid"
	)
	_proxy_pid=$(cat "$T/proxy.pid")
	track_pid "$_proxy_pid"
	_lib_wait_files "$_proxy_pid" "the redis proxy" "$T/proxy.port"
	PROXY_PORT=$(cat "$T/proxy.port")
	PROXY_URL=redis://127.0.0.1:$PROXY_PORT
	export PROXY_PORT PROXY_URL
}

# stop_redis_proxy: stop it.
stop_redis_proxy() {
	_lib_stop_pid "$_proxy_pid"
}

# redis_dump: print every key with its type and contents, sorted, for
# comparing or grepping (e.g. for a token that must not be there).
redis_dump() {
	rcli --scan | sort | while IFS= read -r _k; do
		_t=$(rcli type "$_k")
		echo "$_k ($_t)"
		case $_t in
		string) rcli get "$_k" ;;
		hash) rcli hgetall "$_k" ;;
		set) rcli smembers "$_k" | sort ;;
		zset) rcli zrange "$_k" 0 -1 withscores ;;
		list) rcli lrange "$_k" 0 -1 ;;
		stream) rcli xrange "$_k" - + ;;
		esac | sed 's/^/  /'
	done
}
