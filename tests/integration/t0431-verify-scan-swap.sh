#!/bin/sh
# mm-verify --scan hashes only the files it listed: a file a co-tenant swaps
# for a symlink to a root-only file, after the scan and before its hashing,
# is not hashed, and the secret's digest never reaches the manifest.
#
# The swap is made deterministic with fanotify, not timing: the test holds a
# FAN_OPEN_PERM mark on the largest file, which --jobs 1 hashes first (files
# are hashed largest first).  mm-verify's open of it, which can only come
# after the scan has listed every file, waits for the test's answer; the
# test swaps the small file while it waits, then lets the open go on.
. tests/lib.sh

need setpriv python3
[ "$(id -u)" = 0 ] || skip_all "needs root, for fanotify and to run as a co-tenant"

chmod 755 "$T"
export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
R=$MM_ROOT
mkdir -p "$R/models/loras"
chmod 777 "$R/models/loras"
head -c 2000000 /dev/zero | tr '\0' b > "$R/models/loras/big.safetensors"
setpriv --reuid=65534 --regid=65534 --clear-groups -- \
	sh -c "printf 'a small lora\\n' > '$R/models/loras/small.safetensors'"
head -c 4096 /dev/urandom > "$T/secret"
chmod 600 "$T/secret"
secret=$(sha256sum < "$T/secret" | cut -d ' ' -f 1)
big=$(sha256sum < "$R/models/loras/big.safetensors" | cut -d ' ' -f 1)

cat > "$T/swap.py" <<'EOF'
import ctypes, os, select, struct, subprocess, sys

mark, swap, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
libc = ctypes.CDLL(None, use_errno=True)
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int,
                               ctypes.c_char_p]
FAN_CLASS_CONTENT, FAN_CLOEXEC, FAN_MARK_ADD, FAN_OPEN_PERM, FAN_ALLOW = 4, 1, 1, 0x10000, 1
fan = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
if fan < 0 or libc.fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, -100, mark.encode()) < 0:
    print("fanotify: %s" % os.strerror(ctypes.get_errno()))
    sys.exit(77)
out = open(sys.argv[0] + ".out", "w")
err = open(sys.argv[0] + ".err", "w")
p = subprocess.Popen(cmd, stdout=out, stderr=err)
swapped = False
while p.poll() is None:
    if not select.select([fan], [], [], 0.2)[0]:
        continue
    buf = os.read(fan, 4096)
    while len(buf) >= 24:
        ln, _, _, _, mask, fd, pid = struct.unpack("IBBHQii", buf[:24])
        if pid == p.pid and not swapped:
            subprocess.run(["sh", "-c", swap], check=True)
            swapped = True
        os.write(fan, struct.pack("iI", fd, FAN_ALLOW))
        os.close(fd)
        buf = buf[ln:]
print("swapped" if swapped else "not swapped")
sys.exit(p.returncode)
EOF

# swap_to TARGET DESC: swap small.safetensors for a symlink to TARGET during
# the scan's hashing; the output in $T/swap.py.out and .err, the status in $rc.
swap_to() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- \
		sh -c "rm -f '$R/models/loras/small.safetensors'; printf 'a small lora\\n' > '$R/models/loras/small.safetensors'"
	swap="setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c \
		\"rm '$R/models/loras/small.safetensors' && ln -s '$1' '$R/models/loras/small.safetensors'\""
	python3 "$T/swap.py" "$R/models/loras/big.safetensors" "$swap" \
		"$MM_BIN/mm-verify" --scan --hash --jobs 1 > "$T/swap" 2>&1
	rc=$?
	[ "$rc" = 77 ] && skip_all "no fanotify here: $(cat "$T/swap")"
	is "$(cat "$T/swap")" "swapped" "$2: the small file was swapped while the big one was being opened"
	is "$rc" 1 "$2: mm-verify exits 1, a listed file could not be hashed"
	no_leak "$3" "$2: the secret file's digest is nowhere in the output" "$T/swap.py.out" "$T/swap.py.err"
	is "$(json_get models.0.hash "$T/swap.py.out")" "$big" "$2: the big file is hashed"
	if json_get models.1.hash "$T/swap.py.out" > /dev/null; then
		fail "$2: the swapped file has no hash"
	else
		pass "$2: the swapped file has no hash"
	fi
}

swap_to "$T/secret" "a link out of MM_ROOT" "$secret"
like "$(cat "$T/swap.py.err")" "models/loras/small.safetensors: (replaced since the scan listed it; not hashed|a symlink leads out of MM_ROOT)" \
	"stderr says which file and why"

# A root-only file inside MM_ROOT (a config with keys): only the identity check can tell.
mkdir -m 700 "$R/private"
head -c 4096 /dev/urandom > "$R/private/keys.safetensors"
chmod 600 "$R/private/keys.safetensors"
inside=$(sha256sum < "$R/private/keys.safetensors" | cut -d ' ' -f 1)
swap_to "$R/private/keys.safetensors" "a link inside MM_ROOT" "$inside"
like "$(cat "$T/swap.py.err")" "models/loras/small.safetensors: replaced since the scan listed it; not hashed" \
	"stderr says it is not the file the scan listed"

done_testing
