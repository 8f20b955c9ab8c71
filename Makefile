# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tcpscope: `make deps` once (Debian 12), then `make`; `make test-deps` once,
# then `make test`, `make bench`.
# Quiet by default; V=1 shows the commands. SANITIZE=1 builds userspace with
# ASan/UBSan.

# A sanitized build gets a tree of its own, so switching never mixes objects.
ifeq ($(SANITIZE),1)
  BUILD  ?= build-san
else
  BUILD  ?= build
endif
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
INCLUDES := -Iinclude -Ibpf -I$(BUILD)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ifeq ($(SANITIZE),1)
  CFLAGS += $(SAN_FLAGS)
  LDFLAGS += $(SAN_FLAGS)
endif
USER_LIBS := -lbpf -lelf -lz -ljson-c -lyajl -lmicrohttpd -lncursesw -lpcap -lxdp
# The binary itself loads libmicrohttpd and libpcap when a command needs
# them (user/lazylib.c): linked, they cost every command ~2.2 ms. The rest
# go into the binary from the -dev packages' archives (libbpf-bootstrap and
# bpftool link libbpf so), glibc alone shared: each shared library is its
# own mappings, relocations and written pages at every start, and on a
# guest with shadowed page tables a page fault costs tens of us (stat
# faulted 127 pages with them, 79 without; bench/NOTES.md, 'stat').
TCPSCOPE_LIBS := -Wl,-Bstatic -lbpf -lelf -lz -ljson-c -lyajl_s -lncursesw -ltinfo -Wl,-Bdynamic

# -mcpu=v3: the connection table's 32-bit atomics on slot tags
# (include/tcps_slots.h; clang 14 has them only from v3).
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) $(WARN) \
	-Ivmlinux -Iinclude -Ibpf

ifeq ($(V),1)
  Q :=
  msg :=
else
  Q := @
  msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps test-deps test bench fuzz accuracy install clean help

# One skeleton per bpf/X.bpf.c: the data path, and the stat iterator.
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJ   := $(BUILD)/tcpscope.bpf.o
SKEL      := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
HDRS      := $(wildcard include/*.h bpf/*.h user/*.h)
TOOL_SRCS := $(wildcard tools/*.c)
TOOLS     := $(patsubst tools/%.c,$(BUILD)/tools/%,$(filter-out tools/pktbuild.c,$(TOOL_SRCS)))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNITS     := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
# make test runs the unit tests a second time under ASan/UBSan: a guard on
# the sanitized build that costs seconds (`make test SANITIZE=1` runs every
# suite so, in a tree of its own). A sanitized tree's units already are.
UNITS_SAN := $(if $(filter 1,$(SANITIZE)),,$(patsubst tests/unit/%.c,$(BUILD)/tests/unit-san/%,$(UNIT_SRCS)))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFTS     := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(BPFT_SRCS))
# The connection tables' entries are user/ctable.c's alone: what else reads
# or writes them (BPF tests, benchmark tools) links it (and slotcfg.c, which
# configures the slot array into an object and runs its collector; and
# common.c for the daemon's clock, on which a slim table's ticks are read).
CTABLE_OBJS := $(BUILD)/user/ctable.o $(BUILD)/user/slotcfg.o $(BUILD)/user/common.o \
	       $(BUILD)/user/utf8.o

all: $(BUILD)/tcpscope $(TOOLS) $(UNITS) $(BPFTS)

help:
	@echo 'make deps      install the Debian packages to build and run tcpscope (root)'
	@echo 'make test-deps also those of the tests and benchmarks; starts no service (root)'
	@echo 'make           build build/tcpscope, tools and tests'
	@echo 'make test      run every test (root; BPF and namespaces): N passed, N failed'
	@echo 'make bench     run the benchmarks, write BENCHMARKS.md (root, < 10 min)'
	@echo 'make fuzz      run the libFuzzer harness for FUZZ_SECONDS (default 60)'
	@echo 'make accuracy  replay ../shared/corpus and compare with Zeek'
	@echo 'make install   install to $$(DESTDIR)$$(PREFIX) (PREFIX=/usr/local)'
	@echo 'make clean     remove build/'
	@echo 'Options: V=1 verbose, SANITIZE=1 ASan/UBSan userspace'

# Build and run only; test-deps adds the tests' and benchmarks' packages
# (prometheus among them, installed with its service neither started nor
# enabled).
deps:
	$(Q)scripts/deps.sh

test-deps:
	$(Q)scripts/deps.sh --test

$(BUILD) $(BUILD)/user $(BUILD)/tools $(BUILD)/tests/unit $(BUILD)/tests/unit-san $(BUILD)/tests/bpf:
	$(Q)mkdir -p $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(wildcard include/*.h) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(BUILD)/user/%.o: user/%.c $(HDRS) $(SKEL) | $(BUILD)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -Iuser -c $< -o $@

$(BUILD)/tcpscope: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(TCPSCOPE_LIBS) -lm -o $@

# Helpers for tests and benchmarks. pktbuild.c is a library linked into each.
$(BUILD)/tools/%: tools/%.c tools/pktbuild.c $(wildcard tools/*.h) $(HDRS) $(SKEL) | $(BUILD)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -Itools $< tools/pktbuild.c $(LDFLAGS) $(USER_LIBS) -lpthread -lm -o $@

# Native unit tests of the pure headers (FSM, parser), and of userspace
# files without BPF (the JSON writer links yajl and json-c).
UNIT_LIBS := -ljson-c -lyajl
$(BUILD)/tests/unit/%: tests/unit/%.c $(HDRS) $(USER_SRCS) $(wildcard tests/lib/*.h) tools/pktbuild.c | $(BUILD)/tests/unit
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -Itests/lib -Itools $< tools/pktbuild.c $(LDFLAGS) $(UNIT_LIBS) -o $@

$(BUILD)/tests/unit-san/%: tests/unit/%.c $(HDRS) $(USER_SRCS) $(wildcard tests/lib/*.h) tools/pktbuild.c | $(BUILD)/tests/unit-san
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $(WARN) $(INCLUDES) -Itests/lib -Itools $< tools/pktbuild.c $(LDFLAGS) $(SAN_FLAGS) $(UNIT_LIBS) -o $@

# BPF_PROG_TEST_RUN tests against the real object (skeleton); test_ctable
# also makes tables as the daemon does (maps.c).
$(BUILD)/tests/bpf/test_ctable: $(BUILD)/user/maps.o $(BUILD)/user/common.o $(BUILD)/user/utf8.o
$(BUILD)/tests/bpf/%: tests/bpf/%.c $(HDRS) $(SKEL) $(wildcard tests/lib/*.h) tools/pktbuild.c $(CTABLE_OBJS) | $(BUILD)/tests/bpf
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -Itests/lib -Itools -Iuser $< tools/pktbuild.c $(filter %.o,$^) $(LDFLAGS) $(USER_LIBS) -o $@

# Benchmarks (bench/, `make bench`): the floor programs and the harnesses.
BENCH_SRCS := $(filter-out %.bpf.c,$(wildcard bench/*.c))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
all: $(BENCH_BINS)
bench: $(BENCH_BINS)

$(BUILD)/bench:
	$(Q)mkdir -p $@

$(BUILD)/bench/floor.bpf.o: bench/floor.bpf.c $(wildcard bpf/*.h) $(wildcard include/*.h) | $(BUILD)/bench
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench/floor.skel.h: $(BUILD)/bench/floor.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name floor_bpf > $@

# The table of our own (bench/NOTES.md), prototype.
$(BUILD)/bench/slots.bpf.o: bench/slots.bpf.c bench/slots.h $(wildcard bpf/*.h) $(wildcard include/*.h) | $(BUILD)/bench
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench/slots.skel.h: $(BUILD)/bench/slots.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name slots_bpf > $@

$(BUILD)/bench/slots: $(BUILD)/bench/slots.skel.h bench/slots.h
$(BUILD)/bench/pktcost $(BUILD)/bench/scale: $(CTABLE_OBJS)

# The timer of the scale section's commands: static and linking nothing, so
# the address space a timed command's exec replaces is small (bench/rus.c).
# ASan has no static runtime: a sanitized tree links it as usual.
RUS_STATIC := $(if $(filter 1,$(SANITIZE)),,-static)
$(BUILD)/bench/rus: bench/rus.c | $(BUILD)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(RUS_STATIC) $< -o $@

$(BUILD)/bench/%: bench/%.c $(HDRS) $(SKEL) $(BUILD)/bench/floor.skel.h tools/pktbuild.c | $(BUILD)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -I$(BUILD)/bench -Itools -Iuser $< tools/pktbuild.c \
		$(filter %.o,$^) $(LDFLAGS) $(USER_LIBS) -lpthread -lm -o $@

test: all $(UNITS_SAN)
	$(Q)BUILD=$(BUILD) tests/run.sh

bench: all
	$(Q)bench/run.sh

fuzz:
	$(Q)$(MAKE) -s -f tests/fuzz/fuzz.mk BUILD=$(BUILD) run

accuracy: all
	$(Q)tests/accuracy.sh

install: $(BUILD)/tcpscope
	$(Q)install -D -m 0755 $(BUILD)/tcpscope $(DESTDIR)$(PREFIX)/sbin/tcpscope
	$(Q)if [ -f contrib/tcpscope.8 ]; then install -D -m 0644 contrib/tcpscope.8 $(DESTDIR)$(PREFIX)/share/man/man8/tcpscope.8; fi
	$(Q)for u in tcpscope.service tcpscope@.service; do \
		sed 's|/usr/local/sbin/tcpscope|$(PREFIX)/sbin/tcpscope|' contrib/$$u >$(BUILD)/$$u && \
		install -D -m 0644 $(BUILD)/$$u $(DESTDIR)$(PREFIX)/lib/systemd/system/$$u || exit 1; \
	done

clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD) build-san
