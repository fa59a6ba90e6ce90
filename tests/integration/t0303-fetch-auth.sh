#!/bin/sh
# mm-fetch sends a model's token to the manifest URL's host only, fails a
# model at once when its token is missing, and never shows a token.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
# The fixture is plain http on 127.0.0.1: bind HF_TOKEN to it, allow http.
export MM_AUTH_HOSTS="HF_TOKEN=127.0.0.1" MM_ALLOW_HTTP_AUTH=1
make_file files/a.bin 100000
make_file files/b.bin 100000
A=$FIX_ROOT/files/a.bin
TOKEN=hf_secretvalue0123456789
cat > "$T/in.json" <<EOF2
{"models": [
 {"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "isAuthReq": true, "authEnvVar": "HF_TOKEN", "fileSize": 100000, "hash": "$(sha256_of "$A")"},
 {"name": "b.bin", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/b.bin", "fileSize": 100000}]}
EOF2
noleak() {
	for _f in "$T/res" "$T/log"; do
		if grep -q "$TOKEN" "$_f"; then
			fail "$1: the token appears in $(basename "$_f")"
			return
		fi
	done
	pass "$1: the token appears nowhere"
}

fix_rule '{"path": "/files/a.bin", "host": "127.0.0.1", "require_token": "hf_secretvalue0123456789"}'
HF_TOKEN=$TOKEN fetch 0 "a token-protected file downloads" -v "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
is "$(fix_header /files/a.bin authorization)" "Bearer $TOKEN" "the token went to the manifest's host"
unlike "$(fix_header /files/b.bin authorization)" . "no token for a model that needs none"
noleak "download"

# A redirect to another host gets no token.
rm -rf "$MM_ROOT"
fix_reset
fix_rule '{"path": "/files/a.bin", "host": "127.0.0.1", "require_token": "hf_secretvalue0123456789", "redirect": "http://127.0.0.2:{alt_port}/files/a.bin"}'
HF_TOKEN=$TOKEN fetch 0 "a redirected download completes" "$T/in.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
is "$(fix_count --host 127.0.0.2 /files/a.bin)" 1 "the file came from the redirect target"
exit_is 1 "no Authorization at the redirect target" fix_header --host 127.0.0.2 /files/a.bin authorization
noleak "redirect"

# A missing token fails that model at once; the others go on.
rm -rf "$MM_ROOT"
fix_reset
fetch 1 "a missing token exits 1" "$T/in.json"
is "$(st 0) $(st 1)" "failed downloaded" "only the model without a token downloads"
like "$(fe 0)" 'HF_TOKEN is not set' "the error names the variable"
like "$(cat "$T/log")" 'a.bin: HF_TOKEN is not set' "and so does stderr"
is "$(fix_count /files/a.bin)" 0 "no request is made for it"

# A refused token names the variable to check.
fix_reset
fix_rule '{"path": "/files/a.bin", "require_token": "the-right-one"}'
HF_TOKEN=$TOKEN fetch 1 "a wrong token exits 1" "$T/in.json"
like "$(fe 0)" 'HTTP 403.*check HF_TOKEN' "403 says which variable to check"
is "$(fix_count --method GET /files/a.bin)" 1 "a 403 is not retried"
noleak "refused"

# A token that could inject a header is refused before any request.
fix_reset
HF_TOKEN="$(printf 'abc\r\nX-Evil: 1')" fetch 1 "a token with CR/LF exits 1" "$T/in.json"
like "$(fe 0)" 'HF_TOKEN holds a space or control character' "it is refused"
is "$(fix_count /files/a.bin)" 0 "and never sent"

# The dry run probes with the token and reports unauthorized.
fix_reset
fix_rule '{"path": "/files/a.bin", "require_token": "the-right-one"}'
HF_TOKEN=$TOKEN fetch 1 "a dry run with a wrong token exits 1" --dry-run "$T/in.json"
is "$(st 0)" unauthorized "the status is unauthorized"
noleak "dry run"
done_testing
