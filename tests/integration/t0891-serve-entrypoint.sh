#!/bin/sh
# mm-entrypoint starts mm-serve only with MM_SERVE=1: the models it just
# verified are then served and the URL advertised while the command runs,
# and withdrawn once it exits.
. tests/lib.sh
. tests/lib-entry.sh
need curl

entry_setup
adv() { rcli hget machine:test-machine:models serve_url; }
ha=$(sha256_of "$FIX_ROOT/files/a.safetensors")

boot 0 "without MM_SERVE: the command runs"
is "$(adv)" "" "no serving URL is advertised"
unlike "$(cat "$T/boot.err")" "mm-serve: serving" "mm-serve is not started"

port=$((30000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
MM_SERVE=1 MM_SERVE_LISTEN=127.0.0.1:$port COMFY_SECONDS=8 sh "$ENTRY" "$T/comfy" > /dev/null 2> "$T/boot2.err" &
b=$!
wait_until 30 sh -c "[ -n \"\$(redis-cli -s $REDIS_SOCK hget machine:test-machine:models serve_url)\" ]"
is "$(adv)" "http://127.0.0.1:$port" "with MM_SERVE=1 the URL is advertised while the command runs"
is "$(curl -s -o "$T/a" -w '%{http_code}' "http://127.0.0.1:$port/sha256/$ha")" 200 "a model verified at boot is served"
check "byte for byte" cmp "$T/a" "$FIX_ROOT/files/a.safetensors"
wait "$b"
sed 's/^ok [0-9]* - /# /; s/^not ok [0-9]* - /# FAILED: /'
grep -q '^not ok' "$T/boot2.tap" && fail "the boot with MM_SERVE=1" || pass "the boot with MM_SERVE=1"
wait_until 10 sh -c "[ -z \"\$(redis-cli -s $REDIS_SOCK hget machine:test-machine:models serve_url)\" ]" &&
	pass "the URL is withdrawn once the command exits" || fail "the URL is withdrawn once the command exits"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/sha256/$ha")" 000 "and mm-serve is gone"

done_testing
