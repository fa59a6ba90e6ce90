#!/bin/sh
# A Redis password holding / ? # @ : % or base64 is read whole from REDIS_URL
# (the userinfo ends at the last '@'), logs in to a real redis-server, and no
# piece of it reaches stdout or stderr, whatever else is wrong with the URL.
. tests/lib.sh

start_redis
export MM_ROOT="$T/root" MACHINE_ID=box1 MM_REDIS_RETRY_SECONDS=0
mkdir -p "$MM_ROOT/models/loras"
printf 'abc' > "$MM_ROOT/models/loras/a.safetensors"

# Every character that delimits a URL, and two base64 passwords.
pw_all='Qw7/Er5?Ty3#Ui9@Op1:As2%Df4'
pw_b64='kT3vR9+Yq2Hw/Lz8Xn4Jc6/Pd1Gf5Bs7Ue0Wm=='
pw_b64b='7Hq/Rk2+Vt9/Nc4+Yw6/Ld8+Fs1/Gb3+Ma5/Ze0='

# raw PW: as it goes into a URL, only '%' written %25.
raw() {
	printf '%s' "$1" | sed 's/%/%25/g'
}

# enc PW: every byte but letters and digits percent-encoded.
enc() {
	python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

# no_fragment PW DESC: no 3 bytes in a row of PW in $T/out or $T/err.  The
# password itself is never printed.
no_fragment() {
	if python3 -c '
import sys
pw = sys.argv[1].encode()
text = open(sys.argv[2], "rb").read() + open(sys.argv[3], "rb").read()
sys.exit(any(pw[i:i + 3] in text for i in range(len(pw) - 2)))' "$1" "$T/out" "$T/err"; then
		pass "$2"
	else
		fail "$2" "a piece of the password is in the output; stderr has $(wc -c < "$T/err") bytes"
	fi
}

# An ACL user whose password holds every delimiter.
rcli acl setuser reporter on ">$pw_all" '~*' '&*' '+@all' > /dev/null
exit_is 0 "mm-report logs in with / ? # @ : in the password as they are" \
	env REDIS_URL="redis://reporter:$(raw "$pw_all")@127.0.0.1:$REDIS_PORT/1" "$MM_BIN/mm-report"
is "$(rcli -n 1 sismember models:index:a.safetensors box1)" 1 "the inventory landed in database 1"
no_fragment "$pw_all" "no piece of the password in its output"
exit_is 0 "mm-report logs in with the password percent-encoded" \
	env REDIS_URL="redis://reporter:$(enc "$pw_all")@127.0.0.1:$REDIS_PORT/2" "$MM_BIN/mm-report"
is "$(rcli -n 2 sismember models:index:a.safetensors box1)" 1 "the inventory landed in database 2"
is "$(redis-cli --no-auth-warning -u "redis://reporter:$(enc "$pw_all")@127.0.0.1:$REDIS_PORT/2" \
	sismember models:index:a.safetensors box1)" 1 "redis-cli reads the percent-encoded URL the same"
exit_is 0 "mm-route logs in with the password as it is" \
	env REDIS_URL="redis://reporter:$(raw "$pw_all")@127.0.0.1:$REDIS_PORT?db=1" "$MM_BIN/mm-route" where a.safetensors
is "$(tr -d ' \t\n' < "$T/out")" '["box1"]' "where answers"
exit_is 0 "a unix:// URL with the password as it is" \
	env REDIS_URL="unix://reporter:$(raw "$pw_all")@$REDIS_SOCK?db=1" "$MM_BIN/mm-route" where a.safetensors
is "$(tr -d ' \t\n' < "$T/out")" '["box1"]' "where answers over the socket"
exit_is 2 "a wrong password with the same characters is refused" \
	env REDIS_URL="redis://reporter:$(raw "$pw_b64")@127.0.0.1:$REDIS_PORT/1" "$MM_BIN/mm-report"
no_fragment "$pw_b64" "no piece of the wrong password in the message"

# requirepass: the default user, a base64 password with '/', '+' and '='.
prev=
for pw in "$pw_b64" "$pw_all"; do
	is "$(REDISCLI_AUTH=$prev rcli config set requirepass "$pw")" OK "requirepass ${#pw} bytes set"
	prev=$pw
	exit_is 0 "requirepass ${#pw} bytes: redis://:password@ as it is" \
		env REDIS_URL="redis://:$(raw "$pw")@127.0.0.1:$REDIS_PORT/3" "$MM_BIN/mm-report"
	is "$(REDISCLI_AUTH=$pw rcli -n 3 sismember models:index:a.safetensors box1)" 1 \
		"requirepass ${#pw} bytes: the inventory landed"
	no_fragment "$pw" "requirepass ${#pw} bytes: no piece of it in the output"
	exit_is 0 "requirepass ${#pw} bytes: one word before the @" \
		env REDIS_URL="redis://$(enc "$pw")@127.0.0.1:$REDIS_PORT/3" "$MM_BIN/mm-route" where a.safetensors
	exit_is 2 "requirepass ${#pw} bytes: no password is refused" \
		env REDIS_URL="redis://127.0.0.1:$REDIS_PORT/3" "$MM_BIN/mm-report"
done

# Malformed URLs holding a password: exit 2, and no piece of the password on
# stdout or stderr of either tool.
n=0
for pw in "$pw_all" "$pw_b64" "$pw_b64b" 'ab3/Xyz9Secret' '12/TopSecretPart'; do
	r=$(raw "$pw")
	for url in "redis://:$r@127.0.0.1:12ab" "redis://default:$r@127.0.0.1:99999/0" \
		"redis://u:$r@127.0.0.1:6379/x1" "redis://u:$r@127.0.0.1?db=zz" \
		"redis://u:$r%zz@127.0.0.1" "redis://u:$r@[::1:6379" "unix://:$r@relative/sock" \
		"unix://u:$r@/tmp/s?db=-1"; do
		for tool in mm-report mm-route; do
			n=$((n + 1))
			if [ "$tool" = mm-route ]; then
				set -- where a.safetensors
			else
				set --
			fi
			env REDIS_URL="$url" "$MM_BIN/$tool" "$@" > "$T/out" 2> "$T/err"
			rc=$?
			is "$rc" 2 "malformed URL $n ($tool): exit 2"
			no_fragment "$pw" "malformed URL $n ($tool): no piece of the password"
		done
	done
done

# The issue's two URLs: read whole, so the address tried is the right one.
closed=$((REDIS_PORT + 1))
exit_is 4 "redis://default:12/TopSecretPart@host:port/0: unreachable, not a bad database" \
	env REDIS_URL="redis://default:12/TopSecretPart@127.0.0.1:$closed/0" "$MM_BIN/mm-report"
like "$(cat "$T/err")" "redis://default@127.0.0.1:$closed/0" "the message names the address"
no_fragment '12/TopSecretPart' "and no piece of the password"
exit_is 4 "redis://:ab3/Xyz9Secret@host:port: unreachable, not a bad port" \
	env REDIS_URL="redis://:ab3/Xyz9Secret@127.0.0.1:$closed" "$MM_BIN/mm-route" where x
no_fragment 'ab3/Xyz9Secret' "and no piece of the password"

done_testing
