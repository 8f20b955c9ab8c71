# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# libFuzzer harness of the parser + state machine (native build).
#   make fuzz [FUZZ_SECONDS=60]        run from the seed corpus
#   make -f tests/fuzz/fuzz.mk corpus  regenerate tests/fuzz/corpus/
# New inputs go to $(BUILD)/fuzz/corpus (the seeds in the repo stay
# untouched); a crash leaves $(BUILD)/fuzz/crash-* to reproduce with
# $(BUILD)/fuzz/fuzz_track FILE.

BUILD        ?= build
CLANG        ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_BIN     := $(FUZZ_DIR)/fuzz_track
SEEDS        := tests/fuzz/corpus
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -Wall -Wextra -Werror -Iinclude -Ibpf -Itools

.DELETE_ON_ERROR:
.PHONY: build run corpus

build: $(FUZZ_BIN)

$(FUZZ_BIN): tests/fuzz/fuzz_track.c tools/pktbuild.c tools/pktbuild.h \
		bpf/parse.h include/tcp_fsm.h include/tcpscope.h
	@mkdir -p $(FUZZ_DIR)
	$(CLANG) $(FUZZ_CFLAGS) tests/fuzz/fuzz_track.c tools/pktbuild.c -o $@

$(FUZZ_DIR)/mkcorpus: tests/fuzz/mkcorpus.c tools/pktbuild.c tools/pktbuild.h
	@mkdir -p $(FUZZ_DIR)
	$(CLANG) -O1 -g -Wall -Wextra -Werror -Iinclude -Itools $< tools/pktbuild.c -o $@

corpus: $(FUZZ_DIR)/mkcorpus
	@mkdir -p $(SEEDS)
	$(FUZZ_DIR)/mkcorpus $(SEEDS)

# -use_value_profile helps it solve the FSM's equality checks (ack == isn+1).
run: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_DIR)/corpus
	cd $(FUZZ_DIR) && ./fuzz_track -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
		-jobs=$(FUZZ_JOBS) -workers=$(FUZZ_JOBS) \
		corpus $(CURDIR)/$(SEEDS)
