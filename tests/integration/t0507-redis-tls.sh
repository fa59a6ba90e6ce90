#!/bin/sh
# rediss://: Redis over TLS with a CA made now.  A good CA works for
# mm-report, mm-route and mm-report --watch, by address and by host name;
# a wrong CA, the system store, an expired certificate and a certificate
# for another host are refused at once with exit 4 saying which; a server
# that wants a client certificate gets REDIS_CLIENT_CERT/KEY and a clear
# refusal without; an ACL user and password go over TLS and never into
# any output.
. tests/lib.sh

need openssl
c=$T/tls
mkdir -p "$c"
make_ca "$c" ca
make_ca "$c" other
make_cert "$c" ca server "IP:127.0.0.1,DNS:localhost" 2
make_cert "$c" ca expired "IP:127.0.0.1,DNS:localhost" -1
make_cert "$c" ca elsewhere "DNS:redis.example" 2
make_cert "$c" ca client "DNS:mm-client" 2 clientAuth
make_cert "$c" other rogue "DNS:mm-client" 2 clientAuth

start_redis_tls "$c/server.pem" "$c/server.key" "$c/ca.pem"
export MM_ROOT="$T/root" MACHINE_ID=tls-box MM_REDIS_RETRY_SECONDS=0
mkdir -p "$MM_ROOT/models/loras" "$T/outs"
printf 'abc' > "$MM_ROOT/models/loras/a.safetensors"
url=rediss://127.0.0.1:$REDIS_PORT
n=0
# keep: save this run's output for the password check at the end.
keep() { n=$((n + 1)); cat "$T/out" "$T/err" > "$T/outs/$n"; }
# run [-u NAME] [NAME=VALUE…] BIN [ARGS…]: mm BIN with that environment.
run() (
	while :; do
		case $1 in
		-u) unset "$2"; shift 2 ;;
		*=*) export "${1?}"; shift ;;
		*) break ;;
		esac
	done
	mm "$@"
)

# ---------------------------------------------------------------- a good CA
exit_is 0 "mm-report over rediss:// with REDIS_CA_CERT" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="$url" mm-report -v
keep
is "$(rcli sismember models:index:a.safetensors tls-box)" 1 "the report landed"
like "$(cat "$T/err")" "connected \(TLSv1\.[23]\)" "the connection was TLS"
exit_is 0 "mm-route over rediss://" run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="$url" mm-route where a.safetensors
keep
is "$(tr -d ' \t\n' < "$T/out")" '["tls-box"]' "where answers over TLS"
rcli flushall > /dev/null
exit_is 0 "by host name: the certificate's DNS name, with SNI" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="rediss://localhost:$REDIS_PORT/4" mm-report
keep
is "$(rcli -n 4 sismember models:index:a.safetensors tls-box)" 1 "database 4 selected over TLS"

# ---------------------------------------------------------------- refused
exit_is 4 "a CA that did not sign the server's certificate: exit 4" \
	run REDIS_CA_CERT="$c/other.pem" REDIS_URL="$url" MM_REDIS_RETRY_SECONDS=20 mm-report
keep
like "$(cat "$T/err")" "certificate was refused: .* \(unable to verify it against REDIS_CA_CERT" \
	"the message says it could not be verified"
like "$(cat "$T/err")" "rediss://127.0.0.1:$REDIS_PORT/0" "and names the address"
unlike "$(cat "$T/err")" "gave up after" "no retries: trying again cannot help"
exit_is 4 "without REDIS_CA_CERT the system store is used, and it does not know this CA" \
	run -u REDIS_CA_CERT REDIS_URL="$url" mm-route where a.safetensors
keep
like "$(cat "$T/err")" "unable to verify" "the message says which"

rcli config set tls-cert-file "$c/elsewhere.pem" tls-key-file "$c/elsewhere.key" > /dev/null
exit_is 4 "a certificate for another host name: exit 4" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="rediss://localhost:$REDIS_PORT" mm-report
keep
like "$(cat "$T/err")" "host name mismatch \(hostname mismatch\): the certificate is not for localhost" \
	"the message says the host name does not match"
exit_is 4 "a certificate that does not name the address: exit 4" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="$url" mm-route where a.safetensors
keep
like "$(cat "$T/err")" "host name mismatch \(IP address mismatch\): the certificate is not for 127.0.0.1" \
	"the message says the address does not match"

rcli config set tls-cert-file "$c/expired.pem" tls-key-file "$c/expired.key" > /dev/null
exit_is 4 "an expired certificate: exit 4" run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="$url" mm-report
keep
like "$(cat "$T/err")" "certificate was refused: certificate has expired" "the message says it has expired"
exit_is 4 "mm-route refuses it too" run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="$url" mm-route where a.safetensors
keep
like "$(cat "$T/err")" "certificate has expired" "with the same reason"
rcli config set tls-cert-file "$c/server.pem" tls-key-file "$c/server.key" > /dev/null


# ---------------------------------------------------------------- bad files
exit_is 2 "REDIS_CA_CERT that does not exist: a configuration error" \
	run REDIS_CA_CERT="$c/nope.pem" REDIS_URL="$url" mm-report
keep
like "$(cat "$T/err")" "REDIS_CA_CERT: cannot read .*nope.pem" "the message names the variable and file"
exit_is 2 "REDIS_CA_CERT that holds no certificate" \
	run REDIS_CA_CERT="$c/server.ext" REDIS_URL="$url" mm-report
keep
like "$(cat "$T/err")" "REDIS_CA_CERT: no usable CA certificate" "the message says so"
exit_is 2 "REDIS_CLIENT_CERT without REDIS_CLIENT_KEY" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_CLIENT_CERT="$c/client.pem" REDIS_URL="$url" mm-report
keep
like "$(cat "$T/err")" "REDIS_CLIENT_CERT is set without REDIS_CLIENT_KEY" "the message says which is missing"
exit_is 2 "a client key that is not the certificate's" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_CLIENT_CERT="$c/client.pem" REDIS_CLIENT_KEY="$c/rogue.key" \
	REDIS_URL="$url" mm-report
keep
like "$(cat "$T/err")" "REDIS_CLIENT_KEY .* is not the key of REDIS_CLIENT_CERT" "the message says they do not match"

# ---------------------------------------------------------------- client certificates
rcli config set tls-auth-clients yes > /dev/null
exit_is 4 "a server that requires a client certificate, none given: exit 4" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="$url" MM_REDIS_RETRY_SECONDS=20 mm-report
keep
like "$(cat "$T/err")" "(requires|may require) a client certificate.*REDIS_CLIENT_CERT.*REDIS_CLIENT_KEY" \
	"the message says what to set"
unlike "$(cat "$T/err")" "gave up after" "no retries"
rcli flushall > /dev/null
exit_is 0 "with REDIS_CLIENT_CERT and REDIS_CLIENT_KEY" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_CLIENT_CERT="$c/client.pem" REDIS_CLIENT_KEY="$c/client.key" \
	REDIS_URL="$url" mm-report
keep
is "$(rcli sismember models:index:a.safetensors tls-box)" 1 "the report landed"
exit_is 0 "mm-route with the client certificate" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_CLIENT_CERT="$c/client.pem" REDIS_CLIENT_KEY="$c/client.key" \
	REDIS_URL="$url" mm-route where a.safetensors
keep
exit_is 4 "a client certificate from a CA the server does not trust: exit 4" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_CLIENT_CERT="$c/rogue.pem" REDIS_CLIENT_KEY="$c/rogue.key" \
	REDIS_URL="$url" mm-report
keep
# The server's alert, or (TLS 1.3) the reset that overtook it.
like "$(cat "$T/err")" "TLS: .*alert|may have refused the client certificate" \
	"the message says the server refused the client certificate"

# ---------------------------------------------------------------- ACL user over TLS
pw='Tls-s3cret/pass@word'
rcli acl setuser reporter on ">$pw" '~*' '&*' '+@all' > /dev/null
rcli config set tls-auth-clients no > /dev/null
rcli flushall > /dev/null
exit_is 0 "an ACL user and password over TLS" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="rediss://reporter:$pw@127.0.0.1:$REDIS_PORT/2" mm-report -v
keep
is "$(rcli -n 2 sismember machine:tls-box:model_names a.safetensors)" 1 "the ACL user wrote database 2"
like "$(cat "$T/err")" "rediss://reporter@127.0.0.1:$REDIS_PORT/2" "the address is shown without the password"
exit_is 2 "a wrong password over TLS is a configuration error" \
	run REDIS_CA_CERT="$c/ca.pem" REDIS_URL="rediss://reporter:${pw}x@127.0.0.1:$REDIS_PORT/2" mm-report
keep
like "$(cat "$T/err")" "authentication refused for user reporter" "the message says why"
exit_is 4 "a refused certificate with a password in the URL" \
	run REDIS_CA_CERT="$c/other.pem" REDIS_URL="rediss://reporter:$pw@127.0.0.1:$REDIS_PORT/2" mm-route where a.safetensors
keep

# ---------------------------------------------------------------- --watch
rcli flushall > /dev/null
in_index() { [ "$(rcli -n 2 sismember "models:index:$1" tls-box)" = "$2" ]; }
REDIS_CA_CERT="$c/ca.pem" REDIS_URL="rediss://reporter:$pw@127.0.0.1:$REDIS_PORT/2" \
	"$MM_BIN/mm-report" --watch --interval 0.5 < /dev/null > "$T/w.out" 2> "$T/w.err" &
pid=$!
track_pid "$pid"
wait_until 10 in_index a.safetensors 1 && pass "--watch reports over TLS" || fail "--watch reports over TLS" "$(cat "$T/w.err")"
printf 'b' > "$MM_ROOT/models/loras/b.safetensors"
wait_until 10 in_index b.safetensors 1 && pass "--watch reports a new file over TLS" || fail "--watch reports a new file over TLS"
hb1=$(rcli -n 2 zscore machines:models:heartbeat tls-box)
newer() { [ "$(rcli -n 2 zscore machines:models:heartbeat tls-box)" -gt "$hb1" ] 2>/dev/null; }
wait_until 10 newer && pass "--watch heartbeats over TLS" || fail "--watch heartbeats over TLS"
rcli client kill type normal > /dev/null
rm "$MM_ROOT/models/loras/b.safetensors"
wait_until 10 in_index b.safetensors 0 && pass "--watch reconnects over TLS after the server dropped it" \
	|| fail "--watch reconnects over TLS after the server dropped it" "$(cat "$T/w.err")"
kill -TERM "$pid"
wait "$pid"
is "$?" 143 "SIGTERM: exit 143"
is "$(rcli -n 2 exists machine:tls-box:models)" 0 "deregistered over TLS" || diag "$(cat "$T/w.err")"
cp "$T/w.out" "$T/outs/watch.out"
cp "$T/w.err" "$T/outs/watch.err"

no_leak "$pw" "the password is in no output of any run" "$T/outs"

done_testing
