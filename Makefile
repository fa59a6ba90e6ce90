# mm — get models onto GPU machines, prove them intact, tell the fleet.
#
#   make                 build lib/libmm.a and bin/mm-*
#   make check           install missing dependencies, build strictly, lint, run every test
#   make SAN=1           ASan+UBSan build under build/san/
#   make STRICT=1        warnings are errors (what CI uses)
#   make install PREFIX=/usr/local DESTDIR=

VERSION = 0.1.0

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
PKG_CONFIG ?= pkg-config
CC ?= cc

PKGS = libcurl hiredis libcjson libcrypto libssl libmicrohttpd

CFLAGS ?= -O2 -g
WARNINGS = -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wvla -Wno-unused-parameter
ifeq ($(STRICT),1)
WARNINGS += -Werror
endif

# Out-of-tree build directory for variants, so a sanitizer build never mixes
# its objects with the normal ones.
ifeq ($(SAN),1)
B ?= build/san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B ?= .
SANFLAGS =
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DMM_VERSION='"$(VERSION)"' -Ilib -I$(B)/gen \
	$(WARNINGS) $(SANFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS = $(PKG_LIBS) -lpthread -lm

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(patsubst %.c,$(B)/%.o,$(LIB_SRC))
# The Redis function libraries are compiled into libmm so an installed binary
# needs no source tree: each library is a string of its own (mm.lua is
# mm_redis_lua, jobMatching.lua mm_redis_jobmatching_lua), since Redis loads
# one library per FUNCTION LOAD.
LUA_SRC := $(wildcard scripts/redis/*.lua)
LIB_OBJ += $(B)/gen/redis_lua.o $(B)/gen/redis_jobmatching.o
LIBMM := $(B)/lib/libmm.a

CMD_SRC := $(sort $(wildcard cmd/mm-*.c))
PROGRAMS := $(patsubst cmd/%.c,$(B)/bin/%,$(CMD_SRC))
# What the commands share that is no library's business (the progress
# display): cmd/*.c other than the mains, in an archive of their own.
CMDLIB_SRC := $(filter-out $(CMD_SRC),$(sort $(wildcard cmd/*.c)))
CMDLIB := $(B)/cmd/libcmd.a
SCRIPTS := $(wildcard scripts/mm-*)
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
MAN1 := $(wildcard man/*.1)
MAN5 := $(wildcard man/*.5)
MAN8 := $(wildcard man/*.8)

all: $(PROGRAMS)

# Rebuild everything when the compiler flags change.
$(B)/.build-flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(LIBS)' > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

# Quiet by default; make V=1 shows the commands.
ifeq ($(V),1)
Q =
else
Q = @
endif

$(B)/lib/%.o: lib/%.c $(B)/.build-flags
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/gen/redis_lua.c: scripts/redis/mm.lua scripts/embed
	@mkdir -p $(@D)
	sh scripts/embed mm_redis_lua scripts/redis/mm.lua > $@.tmp && mv $@.tmp $@

$(B)/gen/redis_jobmatching.c: scripts/redis/jobMatching.lua scripts/embed
	@mkdir -p $(@D)
	sh scripts/embed mm_redis_jobmatching_lua scripts/redis/jobMatching.lua > $@.tmp && mv $@.tmp $@

$(B)/gen/%.o: $(B)/gen/%.c $(B)/.build-flags
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBMM): $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@ $^

$(B)/cmd/%.o: cmd/%.c $(B)/.build-flags
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(CMDLIB): $(patsubst %.c,$(B)/%.o,$(CMDLIB_SRC))
	@mkdir -p $(@D)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(B)/bin/%: $(B)/cmd/%.o $(CMDLIB) $(LIBMM)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(CMDLIB) $(LIBMM) $(LIBS)

$(B)/tests/unit/%: tests/unit/%.c tests/unit/tap.h tests/unit/render.h $(CMDLIB) $(LIBMM) $(B)/.build-flags
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Icmd -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(CMDLIB) $(LIBMM) $(LIBS)

tests: $(PROGRAMS) $(UNIT_BIN)

# make check: the one command that installs what is missing, builds strictly,
# lints the man pages and runs every test (the valgrind pass among them),
# then the whole suite again against the sanitizer build, then a short fuzz
# pass (FUZZ_SECONDS each target, default 5).
check:
	@sh scripts/install-deps --if-missing
	$(MAKE) STRICT=1 tests
	$(MAKE) lint
	MM_BIN=$(abspath $(B))/bin MM_UNIT=$(abspath $(B))/tests/unit sh tests/run
	$(MAKE) check-san
	sh tests/fuzz/run --seconds $(if $(FUZZ_SECONDS),$(FUZZ_SECONDS),5)

# The whole suite again against an ASan+UBSan build; tests/run sends every
# sanitizer report (leaks included) to a file and fails when there is one.
check-san:
	@sh scripts/install-deps --if-missing
	$(MAKE) SAN=1 STRICT=1 tests
	MM_BIN=$(abspath build/san)/bin MM_UNIT=$(abspath build/san)/tests/unit \
	MM_SAN=1 sh tests/run

lint:
	@if [ -n "$(MAN1)$(MAN5)$(MAN8)" ]; then \
		out=$$(mandoc -Tlint -Wwarning $(MAN1) $(MAN5) $(MAN8) 2>&1); \
		if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
		echo "mandoc -Tlint: man pages clean"; fi
	@if command -v shellcheck >/dev/null 2>&1 && [ -n "$(SCRIPTS)" ]; then \
		shellcheck -s sh $(SCRIPTS) && echo "shellcheck: scripts clean"; fi
	@if command -v shellcheck >/dev/null 2>&1; then \
		shellcheck -s sh -x -S warning tests/run tests/lib.sh tests/integration/*.sh && \
		echo "shellcheck: tests clean (warnings and errors)"; fi

# The demo installs what is missing and builds by itself.
demo:
	@sh scripts/demo

bench: all
	@sh tests/bench/run $(if $(QUICK),--quick)

fuzz:
	@sh tests/fuzz/run $(if $(FUZZ_SECONDS),--seconds $(FUZZ_SECONDS))

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	$(if $(SCRIPTS),install -m 755 $(SCRIPTS) $(DESTDIR)$(BINDIR)/)
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/)
	$(if $(MAN5),install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/)
	$(if $(MAN8),install -m 644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/)
	mkdir -p $(DESTDIR)$(DATADIR)/mm/redis
	install -m 644 $(LUA_SRC) $(DESTDIR)$(DATADIR)/mm/redis/

uninstall:
	rm -f $(patsubst $(B)/bin/%,$(DESTDIR)$(BINDIR)/%,$(PROGRAMS))
	rm -f $(patsubst scripts/%,$(DESTDIR)$(BINDIR)/%,$(SCRIPTS))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man1/%,$(MAN1))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man5/%,$(MAN5))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man8/%,$(MAN8))
	rm -f $(patsubst scripts/redis/%,$(DESTDIR)$(DATADIR)/mm/redis/%,$(LUA_SRC))

clean:
	rm -rf bin build gen tests/unit/*.d lib/*.o lib/*.d lib/libmm.a cmd/*.o cmd/*.d cmd/libcmd.a .build-flags \
		$(patsubst %.c,%,$(UNIT_SRC)) tests/unit/*.o

FORCE:
.SECONDARY:
.PHONY: all tests check check-san lint demo bench fuzz install uninstall clean FORCE

-include $(shell find $(B)/lib $(B)/cmd $(B)/tests $(B)/gen -name '*.d' 2>/dev/null)
