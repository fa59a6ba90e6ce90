#!/bin/sh
# A file server that lies in its headers: a Content-Range that is not the
# range asked for, a total that changes, an ETag of 5000 bytes, a
# Content-Type of JSON for a model.  mm-fetch never puts wrong bytes at a
# final path, whatever the headers say.
. tests/lib.sh
. tests/lib-fetch.sh
. tests/lib-fault.sh

[ -x "$MM_BIN/mm-fetch" ] || skip_all "mm-fetch is not built"
start_fixture
export MM_ROOT="$T/root"
make_file files/a.bin 300000
cat > "$T/in.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "hash": "$(sha256_of "$FIX_ROOT/files/a.bin")"}]}
EOF2
fresh() {
	rm -rf "$MM_ROOT"
	fix_reset
}
# resumed_with HEADERS_JSON: the first GET drops after 100000 bytes; the
# ranged request that follows is answered with HEADERS_JSON added.
resumed_with() {
	fresh
	fix_rule '{"path": "/files/a.bin", "method": "GET", "drop_after": 100000, "times": 1}'
	fix_rule "{\"path\": \"/files/a.bin\", \"method\": \"GET\", \"headers\": $1, \"times\": 1}"
}

resumed_with '{"Content-Range": "bytes 0-199999/300000"}'
fetch_any() { mm mm-fetch --retry-delay 0.05 "$T/in.json" > "$T/res" 2> "$T/log"; echo $?; }
rc=$(fetch_any)
like "$rc" '^[01]$' "a Content-Range that is not the range asked for: exit 0 or 1 ($rc)"
end_state "a Content-Range for other bytes" "$T/res"

resumed_with '{"Content-Range": "bytes 100000-299999/999999"}'
rc=$(fetch_any)
like "$rc" '^[01]$' "a Content-Range whose total changed: exit 0 or 1 ($rc)"
end_state "a total that changes between requests" "$T/res"

resumed_with '{"Content-Range": "bytes 99999999999999999999-1/2"}'
rc=$(fetch_any)
like "$rc" '^[01]$' "a Content-Range beyond any integer: exit 0 or 1 ($rc)"
end_state "a Content-Range of overflowing numbers" "$T/res"

etag=$(python3 -c 'print("\"" + "e" * 5000 + "\"")')
resumed_with "{\"ETag\": \"$(printf '%s' "$etag" | sed 's/"/\\"/g')\"}"
rc=$(fetch_any)
like "$rc" '^[01]$' "an ETag of 5000 bytes: exit 0 or 1 ($rc)"
end_state "an ETag of 5000 bytes" "$T/res"

fresh
fix_rule '{"path": "/files/a.bin", "method": "GET", "drop_after": 100000, "times": 1, "headers": {"ETag": "\"a\\r\\nX-Evil: 1\"", "Content-Type": "application/json"}}'
rc=$(fetch_any)
like "$rc" '^[01]$' "an ETag holding CR/LF and a JSON Content-Type: exit 0 or 1 ($rc)"
end_state "an ETag holding CR/LF" "$T/res"
unlike "$(fix_log --method GET /files/a.bin)" '"x-evil"' "the server's CR/LF never became a request header"

done_testing
