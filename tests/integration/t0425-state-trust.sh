#!/bin/sh
# A co-tenant who can write MM_ROOT cannot make mm write or move anything
# through the state directory: one that is not ours, is writable by others or
# holds a symlink is refused (exit 2, saying how to fix it); one mm makes is
# 0700.  Each attack is planted as the co-tenant (uid 65534) would plant it,
# then the real tool runs as root.
. tests/lib.sh

need setpriv
[ "$(id -u)" = 0 ] || skip_all "needs root, to run as a co-tenant"

# The co-tenant: another uid that can write MM_ROOT, and nothing else here.
tenant() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c "$1"
}

chmod 755 "$T"
export MM_ROOT="$T/root"
R=$MM_ROOT
S=$R/.mm
mkdir -p "$R/models" "$T/outside"
chmod 777 "$R" "$R/models"
chown 65534:65534 "$T/outside"
printf 'precious\n' > "$T/victim"
cp "$T/victim" "$T/victim.orig"

good=$(printf 'good bytes\n' | sha256sum | cut -d ' ' -f 1)
cat > "$T/m.json" <<EOF
{"models": [{"name": "x.bin", "downloadUrl": "http://127.0.0.1:9/x.bin",
  "saveTo": "models/x.bin", "hash": "$good"}]}
EOF
# A model file of root's that fails verification: --quarantine moves it.
corrupt() {
	rm -f "$R/models/x.bin"
	printf 'corrupt\n' > "$R/models/x.bin"
}
victim_intact() {
	check "$1" cmp "$T/victim" "$T/victim.orig"
}
model_stays() {
	check "$1" sh -c "printf 'corrupt\\n' | cmp - '$R/models/x.bin'"
	is "$(find "$T/outside" -mindepth 1 | wc -l)" 0 "nothing reached the co-tenant's folder"
}

# 1. quarantine/…/x.bin.why -> a file outside: the note would overwrite it.
corrupt
tenant "mkdir -p '$S/quarantine/models' && ln -s '$T/victim' '$S/quarantine/models/x.bin.why'"
exit_is 2 "a state directory the co-tenant made is refused" mm mm-verify --quarantine "$T/m.json"
like "$(cat "$T/err")" "^mm-verify: state directory '$S' is owned by uid 65534, not by uid 0 that mm runs as; move it aside and let mm make a new one: mv '$S' '$S.untrusted'" \
	"saying whose it is and how to fix it"
victim_intact "the file the note link names is untouched"
model_stays "the model was not moved"

# 2. .mm/quarantine -> the co-tenant's folder: the model would leave MM_ROOT.
rm -rf "$S"
corrupt
tenant "mkdir '$S' && ln -s '$T/outside' '$S/quarantine'"
exit_is 2 "a co-tenant's quarantine link is refused" mm mm-verify --quarantine "$T/m.json"
model_stays "the model did not leave MM_ROOT"

# 3. verified.<pid>.tmp for the next pids -> a file outside: the cache would overwrite it.
rm -rf "$S"
tenant "mkdir '$S' && last=\$(cat /proc/sys/kernel/ns_last_pid) &&
	for p in \$(seq \$((last + 1)) \$((last + 400))); do ln -s '$T/victim' '$S/verified.'\$p.tmp; done"
printf 'good bytes\n' > "$R/models/x.bin"
exit_is 2 "a co-tenant's state directory is refused for the verified cache too" mm mm-verify "$T/m.json"
victim_intact "the file the planted temporary names lead to is untouched"

# 4. .mm itself a co-tenant's symlink to a folder of root's outside MM_ROOT.
rm -rf "$S"
mkdir -m 700 "$T/rootdir"
tenant "ln -s '$T/rootdir' '$S'"
exit_is 2 "a state directory that is a co-tenant's symlink is refused" mm mm-verify "$T/m.json"
like "$(cat "$T/err")" "'$S' is a symlink owned by uid 65534" "saying so"
is "$(find "$T/rootdir" -mindepth 1 | wc -l)" 0 "nothing was written where it leads"
rm -f "$S"

# 5. Ours, but world-writable (a chmod -R 777 of the volume): the co-tenant planted links in it.
mkdir "$S"
chmod 777 "$S"
corrupt
tenant "mkdir -p '$S/quarantine/models' && ln -s '$T/victim' '$S/quarantine/models/x.bin.why'"
exit_is 2 "a world-writable state directory is refused" mm mm-verify --quarantine "$T/m.json"
like "$(cat "$T/err")" "^mm-verify: state directory '$S' is writable by others \\(mode 0777\\); run: chmod 700 '$S'\$" \
	"the message says how to fix it"
victim_intact "the note link was not followed"
model_stays "the model stays"
chmod 700 "$S"
exit_is 2 "after the chmod, the co-tenant's folder in it is still refused" \
	mm mm-verify --quarantine "$T/m.json"
like "$(cat "$T/err")" "state directory '$S/quarantine' is owned by uid 65534" "naming that folder"
mv "$S/quarantine" "$T/quarantine.untrusted"
exit_is 1 "once it is moved aside, the quarantine works" mm mm-verify --quarantine "$T/m.json"
check "the model is in the quarantine" test -f "$S/quarantine/models/x.bin"
like "$(cat "$S/quarantine/models/x.bin.why")" "^saveTo: models/x.bin" "with its note"
victim_intact "and the old link's target is untouched"
is "$(stat -c %a "$S/quarantine" "$S/quarantine/models" | tr '\n' ' ')" "700 700 " \
	"folders mm makes in it are 0700"

# 6. A fresh MM_ROOT: mm makes the state directory 0700, so the co-tenant cannot plant anything.
rm -rf "$S"
corrupt
exit_is 1 "with no state directory" mm mm-verify --quarantine "$T/m.json"
is "$(stat -c '%a %u' "$S")" "700 0" "mm makes it 0700, owned by the user it runs as"
check "and the quarantine works" test -f "$S/quarantine/models/x.bin"
tenant "ln -s '$T/victim' '$S/planted'" 2> /dev/null &&
	fail "the co-tenant can write in it" || pass "the co-tenant cannot write in it"

rm -rf "$S"
mm mm-fetch --attempts 1 "$T/m.json" > /dev/null 2>&1
is "$(stat -c %a "$S" "$S/locks" | tr '\n' ' ')" "700 700 " "mm-fetch makes it, and its locks/, 0700 too"

# 7. mm-fetch: locks/ -> the co-tenant's folder would put lock files outside.
rm -rf "$S"
rm -f "$R/models/x.bin"
tenant "mkdir '$S' && ln -s '$T/outside' '$S/locks'"
exit_is 2 "mm-fetch refuses the co-tenant's state directory" mm mm-fetch "$T/m.json"
like "$(cat "$T/err")" "^mm-fetch: state directory '$S' is owned by uid 65534" "saying why"
is "$(find "$T/outside" -mindepth 1 | wc -l)" 0 "no lock file was made outside"
rm -rf "$S"
mkdir -m 700 "$S"
ln -s "$T/outside" "$S/locks"
exit_is 2 "mm-fetch refuses a symlinked locks/ in a state directory of ours" mm mm-fetch "$T/m.json"
like "$(cat "$T/err")" "'$S/locks' is a symlink, and nothing in the state directory may be one; run: rm '$S/locks'" \
	"saying how to fix it"

# 8. mm-discover: api/ -> the co-tenant's folder, holding a poisoned answer.
rm -rf "$S"
tenant "mkdir -p '$S' '$T/outside/workflows/name' && ln -s '$T/outside' '$S/api' &&
	printf '%s\n' '{\"data\":{\"name\":\"wf\",\"models\":[{\"name\":\"evil.bin\",\"downloadUrl\":\"http://127.0.0.1:9/evil.bin\",\"saveTo\":\"models/evil.bin\"}]},\"error\":null}' \
	> '$T/outside/workflows/name/wf.json'"
exit_is 2 "mm-discover --offline refuses the co-tenant's cache" mm mm-discover --offline -w wf
unlike "$(cat "$T/out")" "evil" "and serves nothing from it"

done_testing
