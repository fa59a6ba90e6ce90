#!/bin/sh
# mm-entrypoint and what others can touch: its files hold no password and
# are 0600 in a 0700 state directory; a state directory a co-tenant could
# plant a symbolic link in is not written to (the command starts without
# model management, or with MM_ON_FAILURE=abort, exits 2); and the
# rollback switch works whatever else is set.
. tests/lib.sh
. tests/lib-entry.sh

entry_setup
umask 022

# mode PATH: its permission bits, in octal.
mode() {
	stat -c %a "$1" 2>/dev/null
}

# snap DIR: every path under DIR, and each file's content.
snap() {
	(cd "$1" && find . | sort && find . -type f | sort | while read -r _f; do
		printf '%s: %s\n' "$_f" "$(cat "$_f")"
	done)
}

# ------------------------------------------------ credentials at rest (4)

pw=Zq7pAssInTheUrl
EMPROPS_API_BASE_URL="http://mmuser:$pw@${FIX_URL#http://}"
boot 0 "a boot with a password in the API's address"
is "$(head -n 1 "$T/comfy.saw")" ready "the command started after the models were ready"
is "$(mode "$MM_STATE_DIR") $(mode "$MM_STATE_DIR/run")" "700 700" "the state directory and run/ are 0700"
modes=''
for f in ready api-checked manifest.json entrypoint.lock watch-test-machine.pid \
	run/discover.json run/fetch.json run/verify.json run/report.json run/summary.txt; do
	modes="$modes$f=$(mode "$MM_STATE_DIR/$f") "
done
is "$modes" "ready=600 api-checked=600 manifest.json=600 entrypoint.lock=600 watch-test-machine.pid=600 \
run/discover.json=600 run/fetch.json=600 run/verify.json=600 run/report.json=600 run/summary.txt=600 " \
	"every file the entrypoint writes is 0600"
like "$(sed -n 2p "$MM_STATE_DIR/api-checked")" '^[0-9a-f]{64}$' "api-checked holds a digest of the configuration"
no_leak "$pw" "the password is in no file under the state directory, nor in the log" "$MM_STATE_DIR" "$T/boot.err"
is "$(mode "$MM_ROOT") $(mode "$MM_ROOT/models/checkpoints") $(mode "$MM_ROOT/models/checkpoints/a.safetensors")" \
	"755 755 644" "MM_ROOT and the models keep the umask the entrypoint was started with"

fix_reset
entry_rules
mkdir "$T/work"
(cd "$T/work" && boot 0 "a warm restart" sh -c 'umask > "$T/cmd.umask"; pwd > "$T/cmd.pwd"')
like "$(cat "$T/boot.err")" 'discover [0-9.]+ m?s \(cached\)' "the digest finds the cached API answers"
is "$(fix_count)" 0 "no request"
is "$(cat "$T/cmd.umask") $(cat "$T/cmd.pwd")" "0022 $T/work" \
	"the command starts with the umask and in the directory it was started with"

# An older mm's api-checked held the address as it was, 0644.
printf '%s\n%s\n' "$(date +%s)" "$EMPROPS_API_BASE_URL|wf|||" > "$MM_STATE_DIR/api-checked"
chmod 644 "$MM_STATE_DIR/api-checked"
boot 0 "a restart over an older api-checked with the password"
is "$(fix_count /workflows/name/wf)" 1 "it asks the API again"
is "$(mode "$MM_STATE_DIR/api-checked")" 600 "and api-checked is 0600"
no_leak "$pw" "with no password left in it" "$MM_STATE_DIR"
EMPROPS_API_BASE_URL=$FIX_URL

# ------------------------------------------------ co-tenants (5)

# A co-tenant is uid 65534 when the test runs as root, else this user
# planting links through a directory everyone can write.
real=0
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null 2>&1; then
	real=1
	chmod 711 "$T"
	cotenant() {
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	}
else
	cotenant() {
		"$@"
	}
fi

# A victim outside MM_ROOT: a file a link can name (to be truncated), JSON
# files (to be deleted), and a directory to be taken for the state's.
mkdir -p "$T/victim/run"
echo precious > "$T/victim/file"
echo '{"keep": 1}' > "$T/victim/keep.json"
echo '{"keep": 2}' > "$T/victim/run/keep.json"
echo precious > "$T/victim/entrypoint.lock"
echo precious > "$T/victim/ready"
before=$(snap "$T/victim")

# shared N: a fresh MM_ROOT that everyone can write (a shared disk), with
# its state directory.
shared() {
	MM_ROOT=$T/shared$1 MM_STATE_DIR=$T/shared$1/.mm
	mkdir -m 777 "$MM_ROOT"
	chmod 777 "$MM_ROOT"
}

# The state directory is a link to the victim, planted by the co-tenant.
if [ "$real" = 1 ]; then
	fix_reset
	entry_rules
	rcli sadd machine:test-machine:model_names stale > /dev/null
	shared 1
	cotenant ln -s "$T/victim" "$MM_STATE_DIR"
	boot 0 "a state directory that is another user's symbolic link: the command starts"
	check "the command ran" test -s "$T/comfy.pid"
	err=$(cat "$T/boot.err")
	like "$err" "state directory '$MM_STATE_DIR' is a symlink owned by uid 65534, not by uid 0 that mm runs as; run: rm '$MM_STATE_DIR'" \
		"it says what is wrong and how to fix it"
	like "$err" 'model management is skipped: starting .*comfy without it' "and that model management is skipped"
	is "$(snap "$T/victim")" "$before" "the victim is untouched"
	is "$(fix_count)" 0 "nothing was asked of the API"
	is "$(rcli exists machine:test-machine:model_names)" 0 "the machine is out of the inventory"
	check "no model was written" test ! -e "$MM_ROOT/models"
	MM_STATE_DIR=$MM_STATE_DIR/ boot 0 "the same link named with a trailing slash"
	like "$(cat "$T/boot.err")" "is a symlink owned by uid 65534" "is refused the same way"
	is "$(snap "$T/victim")" "$before" "the victim is untouched"
	MM_ON_FAILURE=abort boot 2 "with MM_ON_FAILURE=abort it exits 2"
	check "the command did not run" test ! -e "$T/comfy.pid"
	like "$(cat "$T/boot.err")" "MM_ON_FAILURE=abort: not starting" "and says so"
	MM_ON_FAILURE=' Abort ' boot 2 "MM_ON_FAILURE=' Abort ' is abort"
	is "$(snap "$T/victim")" "$before" "the victim is untouched"
	exit_is 2 "--wait refuses it too" sh "$ENTRY" --wait --timeout 2
	like "$(cat "$T/err")" "is a symlink owned by uid 65534" "saying why"
else
	skip "a state directory that is another user's symbolic link" "needs root and setpriv"
fi

# A state directory everyone can write, with links planted in it.
shared 2
mkdir -m 777 "$MM_STATE_DIR"
chmod 777 "$MM_STATE_DIR"
cotenant ln -s "$T/victim/file" "$MM_STATE_DIR/entrypoint.lock"
cotenant ln -s "$T/victim" "$MM_STATE_DIR/run"
cotenant sh -c 'echo planted > "$1/ready"' _ "$MM_STATE_DIR"
exit_is 2 "--wait does not take a ready marker from a directory others can write" \
	sh "$ENTRY" --wait --timeout 2
like "$(cat "$T/err")" "state directory '$MM_STATE_DIR' is writable by others \(mode 0777\); run: chmod 700 '$MM_STATE_DIR'" \
	"it says what is wrong and how to fix it"
fix_reset
entry_rules
boot 0 "a state directory others can write: the command starts"
like "$(cat "$T/boot.err")" "is writable by others \(mode 0777\); run: chmod 700 '$MM_STATE_DIR'" "the same message"
is "$(snap "$T/victim")" "$before" "the victim is untouched"
is "$(fix_count)" 0 "nothing was asked of the API"
chmod 1777 "$MM_STATE_DIR"
boot 0 "sticky, it is still refused"
like "$(cat "$T/boot.err")" "is writable by others \(mode 1777\)" "with its mode"

# Closed as the message says, the links planted before are still there.
chmod 700 "$MM_STATE_DIR"
rm "$MM_STATE_DIR/ready"
boot 0 "closed, with run/ a planted link"
like "$(cat "$T/boot.err")" "'$MM_STATE_DIR/run' is a symlink, and nothing in the state directory may be one; run: rm '$MM_STATE_DIR/run'" "names run/"
rm "$MM_STATE_DIR/run"
boot 0 "then with entrypoint.lock a planted link"
like "$(cat "$T/boot.err")" "'$MM_STATE_DIR/entrypoint.lock' is a symlink, and nothing in the state directory may be one; run: rm '$MM_STATE_DIR/entrypoint.lock'" \
	"names the file"
rm "$MM_STATE_DIR/entrypoint.lock"
for f in ready failed api-checked manifest.json watch-test-machine.pid; do
	ln -s "$T/victim/file" "$MM_STATE_DIR/$f"
	boot 0 "$f a planted link: the command starts"
	like "$(cat "$T/boot.err")" "'$MM_STATE_DIR/$f' is a symlink, and nothing" "names $f"
	rm "$MM_STATE_DIR/$f"
done
is "$(snap "$T/victim")" "$before" "the victim is untouched"
mkdir -p "$MM_STATE_DIR/run"
chmod 777 "$MM_STATE_DIR/run"
boot 0 "run/ that others can write"
like "$(cat "$T/boot.err")" "state directory '$MM_STATE_DIR/run' is writable by others \(mode 0777\); run: chmod 700 '$MM_STATE_DIR/run'" \
	"names run/ and its fix"
chmod 700 "$MM_STATE_DIR/run"
ln -s "$T/victim/keep.json" "$MM_STATE_DIR/run/discover.json"
ln -s "$T/victim/keep.json" "$MM_STATE_DIR/run/x.json"
ln -s "$T/victim/file" "$MM_STATE_DIR/run/summary.txt"
boot 0 "all closed: the models are prepared"
is "$(head -n 1 "$T/comfy.saw")" ready "the command starts after the ready marker"
like "$(cat "$T/boot.err")" '0 present, 3 downloaded' "with the models downloaded"
is "$(snap "$T/victim")" "$before" "the links left in run/ were removed, not followed"

# A state directory another user owns.
if [ "$real" = 1 ]; then
	shared 3
	cotenant mkdir -m 755 "$MM_STATE_DIR"
	cotenant ln -s "$T/victim/file" "$MM_STATE_DIR/entrypoint.lock"
	boot 0 "a state directory owned by another user: the command starts"
	like "$(cat "$T/boot.err")" "state directory '$MM_STATE_DIR' is owned by uid 65534, not by uid 0 that mm runs as; move it aside and let mm make a new one: mv '$MM_STATE_DIR' '$MM_STATE_DIR.untrusted'" \
		"it says whose it is and how to fix it"
	is "$(ls -A "$MM_STATE_DIR")" entrypoint.lock "nothing was written in it"
	is "$(snap "$T/victim")" "$before" "the victim is untouched"
	MM_ON_FAILURE=abort boot 2 "with MM_ON_FAILURE=abort it exits 2"
	MM_ROOT=$T/root MM_STATE_DIR=$T/root/.mm exit_is 2 "--wait as another user than root's 0700 state directory's" \
		cotenant sh "$ENTRY" --wait --timeout 5
	like "$(cat "$T/err")" "cannot enter the state directory '$T/root/.mm'" "says it cannot enter it, not to chown it"
else
	skip "a state directory owned by another user" "needs root and setpriv"
fi

# A state directory that cannot be made.
MM_STATE_DIR=$T/victim/file/.mm boot 0 "a state directory that cannot be made: the command starts"
like "$(cat "$T/boot.err")" "cannot create the state directory '$T/victim/file/.mm'" "saying why"
MM_STATE_DIR=$T/victim/file/.mm MM_ON_FAILURE=abort boot 2 "with MM_ON_FAILURE=abort it exits 2"

# MM_ROOT made by the entrypoint: the umask's mode; the state directory 0700.
MM_ROOT=$T/new/ComfyUI MM_STATE_DIR=$T/new/ComfyUI/.mm
fix_reset
entry_rules
boot 0 "a first boot on an empty disk"
is "$(mode "$T/new/ComfyUI") $(mode "$MM_STATE_DIR")" "755 700" "MM_ROOT is 0755, its state directory 0700"

# A relative MM_ROOT, through a symbolic link of the owner's: the tools
# and the command run where the entrypoint was started.
mkdir "$T/disk"
ln -s disk "$T/disk-link"
fix_reset
entry_rules
(cd "$T" && MM_ROOT=disk-link/ComfyUI MM_STATE_DIR=disk-link/ComfyUI/.mm boot 0 "a relative MM_ROOT through a link")
is "$(head -n 1 "$T/comfy.saw")" ready "the command found the ready marker"
check "the models are in it" test -s "$T/disk/ComfyUI/models/vae/c.safetensors"

# A state directory that is a link of the owner's is followed, to a
# directory that must be closed too.
mkdir -m 700 "$T/mine"
ln -s "$T/mine" "$T/disk/ComfyUI/.mine"
MM_ROOT=$T/disk/ComfyUI MM_STATE_DIR=$T/disk/ComfyUI/.mine boot 0 "a state directory that is the owner's link"
is "$(head -n 1 "$T/comfy.saw")" ready "is used"
check "its files are in the directory it names" test -s "$T/mine/manifest.json"
chmod 777 "$T/mine"
MM_ROOT=$T/disk/ComfyUI MM_STATE_DIR=$T/disk/ComfyUI/.mine boot 0 "the owner's link to a directory others can write"
like "$(cat "$T/boot.err")" "state directory '$T/disk/ComfyUI/.mine' is writable by others \(mode 0777\)" "is refused"

# ------------------------------------------------ the rollback switch (14)

MM_ROOT=$T/off MM_STATE_DIR=$T/off/.mm
fix_reset
for v in false 'false ' ' FALSE	' Off NO 0; do
	MODEL_MANAGER_ENABLED=$v boot 0 "MODEL_MANAGER_ENABLED='$v' runs the command"
	check "it ran" test -s "$T/comfy.pid"
	like "$(cat "$T/boot.err")" 'without model management' "without model management"
done
MODEL_MANAGER_ENABLED=false MM_ON_FAILURE=Abort boot 0 "MODEL_MANAGER_ENABLED=false MM_ON_FAILURE=Abort runs the command"
MODEL_MANAGER_ENABLED=false MM_API_MAX_AGE=1h boot 0 "MODEL_MANAGER_ENABLED=false MM_API_MAX_AGE=1h runs the command"
MODEL_MANAGER_ENABLED=false MM_ON_FAILURE=never boot 0 "MODEL_MANAGER_ENABLED=false MM_ON_FAILURE=never runs the command"
MODEL_MANAGER_ENABLED='off ' exit_is 0 "--wait returns at once when switched off" sh "$ENTRY" --wait --timeout 5
check "nothing is written under MM_ROOT" test ! -e "$MM_ROOT"
is "$(fix_count)" 0 "no request"

MM_ROOT=$T/root MM_STATE_DIR=$T/root/.mm
MM_API_MAX_AGE=1h boot 0 "MM_API_MAX_AGE=1h runs the command"
is "$(head -n 1 "$T/comfy.saw")" ready "after the models were ready"
like "$(cat "$T/boot.err")" "MM_API_MAX_AGE is a whole number of seconds, not '1h'; taking 3600" "with a warning"
MM_API_MAX_AGE=1h boot 0 "again"
like "$(cat "$T/boot.err")" '\(cached\)' "the cached answers are used for the default age"
MODEL_MANAGER_ENABLED=maybe boot 0 "MODEL_MANAGER_ENABLED=maybe runs the command"
like "$(cat "$T/boot.err")" "MODEL_MANAGER_ENABLED is true or false, not 'maybe'; taking true" "with a warning"
is "$(head -n 1 "$T/comfy.saw")" ready "with model management"
MODEL_MANAGER_ENABLED=' Yes ' boot 0 "MODEL_MANAGER_ENABLED=' Yes '"
is "$(head -n 1 "$T/comfy.saw")" ready "is on"
unlike "$(cat "$T/boot.err")" 'taking' "without a warning"

api_workflow bad '[{"name": "x", "saveTo": "../x"}]'
WORKFLOW_IDS=bad MM_ON_FAILURE=ignore boot 0 "MM_ON_FAILURE=ignore, with a bad manifest, runs the command"
like "$(cat "$T/boot.err")" "MM_ON_FAILURE is continue or abort, not 'ignore'; taking continue" "with a warning"
WORKFLOW_IDS=bad MM_ON_FAILURE=' ABORT ' boot 3 "MM_ON_FAILURE=' ABORT ', with a bad manifest, exits 3"
check "the command did not run" test ! -e "$T/comfy.pid"
MM_ON_FAILURE=abort MM_API_MAX_AGE=1h boot 2 "MM_ON_FAILURE=abort with MM_API_MAX_AGE=1h exits 2"
like "$(cat "$T/boot.err")" "MM_API_MAX_AGE is a whole number of seconds, not '1h'" "naming the setting"
check "the command did not run" test ! -e "$T/comfy.pid"
MM_ON_FAILURE=abort MODEL_MANAGER_ENABLED=maybe boot 2 "MM_ON_FAILURE=abort with MODEL_MANAGER_ENABLED=maybe exits 2"

done_testing
