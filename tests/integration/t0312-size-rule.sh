#!/bin/sh
# mm-fetch and mm-verify judge a file's size by one rule (lib/size.h): the
# same files, the same manifest, through both tools, agree case by case —
# byte counts ("1024B", 1024, sizeBytes with fileSize null or missing) to the
# byte, rounded hints ("1KB", "1.5GB", "17.2GB") within 10% plus half a digit,
# just inside and just outside; and with a hash, the hash decides for both.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
mkdir -p "$MM_ROOT/models"

# Each case: the file's size, the manifest's size fields, and whether the
# rule says the file fits ("y") or not ("n").  Files are sparse: only their
# size is looked at.  The URL is a 404, so a file mm-fetch does not take as
# present fails instead of being replaced.
cases='1024 "fileSize": "1024B" y
1025 "fileSize": "1024B" n
1023 "fileSize": "1024" n
1024 "fileSize": 1024 y
1000 "fileSize": 1024 n
5000 "sizeBytes": 5000, "fileSize": null y
5001 "sizeBytes": 5000, "fileSize": null n
5000 "sizeBytes": 5000 y
4999 "sizeBytes": 5000 n
7 "fileSize": null y
1024 "fileSize": "1KB" y
410 "fileSize": "1KB" y
409 "fileSize": "1KB" n
1638 "fileSize": "1KB" y
1639 "fileSize": "1KB" n
1395864372 "fileSize": "1.5GB" y
1395864371 "fileSize": "1.5GB" n
1825361100 "fileSize": "1.5GB" y
1825361101 "fileSize": "1.5GB" n
1048576 "fileSize": "17.2GB" n
16567836344 "fileSize": "17.2GB" y'

i=0
sep=
printf '{"models": [' > "$T/in.json"
echo "$cases" | while read -r size fields; do
	want=${fields##* }
	fields=${fields% *}
	truncate -s "$size" "$MM_ROOT/models/c$i.bin"
	printf '%s\n {"name": "c%d", "saveTo": "models/c%d.bin", "downloadUrl": "%s/gone/c%d.bin", %s}' \
		"$sep" "$i" "$i" "$FIX_URL" "$i" "$fields" >> "$T/in.json"
	echo "$want" >> "$T/want"
	sep=,
	i=$((i + 1))
done
printf ']}\n' >> "$T/in.json"
n=$(wc -l < "$T/want" | tr -d ' ')

# The tools' verdicts as one letter per case: y = fits, n = does not.
verdicts() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["models"]
ok = {"fetch": ("present",), "verify": ("ok", "unverified")}[sys.argv[2]]
print("".join("y" if x.get(sys.argv[2], {}).get("status") in ok else "n" for x in m))' "$@"
}
want=$(tr -d '\n' < "$T/want")

fetch 1 "mm-fetch: the files that do not fit are fetched (and fail: 404)" \
	--attempts 1 --progress none "$T/in.json"
cp "$T/res" "$T/fetched.json"
fetched=$(verdicts "$T/fetched.json" fetch)
is "$fetched" "$want" "mm-fetch takes as present exactly the files the rule says fit"
exit_is 1 "mm-verify on the manifest: the files that do not fit are mismatches" mm mm-verify "$T/in.json"
verified=$(verdicts "$T/out" verify)
is "$verified" "$want" "mm-verify passes exactly the same files"
is "$fetched" "$verified" "the two tools agree on every case"
exit_is 1 "mm-verify on what mm-fetch printed" mm mm-verify "$T/fetched.json"
is "$(verdicts "$T/out" verify)" "$want" "the same verdicts: sizeBytes written back does not make a hint exact"
is "$(json_get models.# "$T/out")" "$n" "every case was judged"

# With a hash the hash decides, in both tools: a right file under a wrong
# hint is kept (not fetched again), a wrong file under a right size is not
# passed by mm-verify.
printf 'abc' > "$MM_ROOT/models/h.bin"
cat > "$T/hash.json" <<EOF2
{"models": [{"name": "h", "saveTo": "models/h.bin", "downloadUrl": "$FIX_URL/gone/h.bin",
  "fileSize": "17.2GB", "hash": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}]}
EOF2
fetch 0 "a file whose hash matches under a wrong size hint" --attempts 1 --progress none "$T/hash.json"
is "$(st 0)" present "mm-fetch keeps it (present)"
is "$(fix_count /gone/h.bin)" 0 "without a request"
exit_is 0 "mm-verify passes it too" mm mm-verify "$T/hash.json"
is "$(json_get models.0.verify.status "$T/out")" ok "ok"
done_testing
