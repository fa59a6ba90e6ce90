#!/bin/sh
# `make clean` removes what the build made and nothing that git tracks:
# in a copy of the tracked tree, a build and then `make clean` leave
# `git status` exactly as clean as before.
. tests/lib.sh
need git
need make

tree=$T/tree
mkdir "$tree"
(cd "$MM_TOP" && git ls-files -z | xargs -0 cp --parents -t "$tree") ||
	fail "copy the tracked tree"
(cd "$tree" && git init -q && git add -A &&
	git -c user.name=t -c user.email=t@t commit -qm tree) >/dev/null 2>&1 ||
	fail "commit the copy"

exit_is 0 "a unit test builds in the copy" make -C "$tree" -j2 tests/unit/t_log
check "the unit test binary was built" test -x "$tree/tests/unit/t_log"
exit_is 0 "make clean succeeds" make -C "$tree" clean
is "$(cd "$tree" && git status --porcelain --ignored)" "" \
	"after make clean, git status shows nothing changed, deleted or left behind"
check "the unit test sources are still there" test -f "$tree/tests/unit/t_log.c"
done_testing
