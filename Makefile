# Makefile - builds the library, the three binaries, tests, fuzzers.
#
#   make            release build in build/release (-Werror)
#   make demo       install deps, build, run the end-to-end demo
#   make test       install deps, plain + ASan/UBSan builds, every test, fuzzers
#   make bench      delta / server / link benchmarks (figures, not pass/fail)
#   make fuzz       longer fuzzing campaign (FUZZ_SECONDS per target)
#
# Sources are picked up by folder: common/*.c is libota, server/ client/
# cache/ each give one binary whose main.c only parses arguments; every
# other .c in those folders goes into a per-binary library so tests can
# link it. tests/test_*.c are cmocka suites, tests/tools/*.c are helper
# programs (link simulator, load generator), tests/fuzz/fuzz_*.c are
# libFuzzer targets built with clang.

BUILD   ?= build/release
SAN     ?= 0
CC      ?= cc
PKGS    := libcoap-3-openssl openssl zlib inih libsodium libdivsufsort
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation \
           -Icommon -Iserver -Iclient -Icache $(PKG_CFLAGS) -MMD -MP
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
LDLIBS  += $(PKG_LIBS) -lm

COMMON_SRC := $(wildcard common/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
CLIENT_SRC := $(filter-out client/main.c,$(wildcard client/*.c))
CACHE_SRC  := $(filter-out cache/main.c,$(wildcard cache/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)
TOOL_SRC   := $(wildcard tests/tools/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBOTA   := $(BUILD)/libota.a
LIBSRV   := $(BUILD)/libsrv.a
LIBDEV   := $(BUILD)/libdev.a
LIBCACHE := $(BUILD)/libcache.a
ALLLIBS  := $(LIBSRV) $(LIBDEV) $(LIBCACHE) $(LIBOTA)

BINS  := $(BUILD)/ota-cache $(BUILD)/ota-server $(BUILD)/ota-client
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/%,$(TOOL_SRC))

.PHONY: all deps demo test test-unit bench fuzz fuzzers clean
all: $(BINS) $(TOOLS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBOTA): $(call obj,$(COMMON_SRC))
$(LIBSRV): $(call obj,$(SERVER_SRC))
$(LIBDEV): $(call obj,$(CLIENT_SRC))
$(LIBCACHE): $(call obj,$(CACHE_SRC))
$(ALLLIBS):
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^ $(if $^,,$(BUILD)/obj/empty.o)

$(BUILD)/obj/empty.o:
	@mkdir -p $(dir $@)
	echo 'typedef int ota_empty_unit;' | $(CC) -x c -c - -o $@
$(ALLLIBS): | $(BUILD)/obj/empty.o

$(BUILD)/ota-cache: $(call obj,cache/main.c) $(LIBCACHE) $(LIBSRV) $(LIBOTA)
$(BUILD)/ota-server: $(call obj,server/main.c) $(LIBSRV) $(LIBOTA)
$(BUILD)/ota-client: $(call obj,client/main.c) $(LIBDEV) $(LIBOTA)
$(BINS):
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%: $(BUILD)/obj/tests/tools/%.o $(ALLLIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(ALLLIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Messages are truncated on purpose (fixed-size buffers): -Wno-format-truncation.
# libFuzzer targets: library sources compiled once more with clang
# (fuzzer-no-link instrumentation), archived, linked into each target.
FUZZ_BUILD := build/fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -Icommon -Iserver -Iclient -Icache $(PKG_CFLAGS) \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined -MMD -MP
FUZZ_LIBSRC := $(COMMON_SRC) $(SERVER_SRC) $(CLIENT_SRC) $(CACHE_SRC)
FUZZ_LIB := $(FUZZ_BUILD)/libfuzzota.a
FUZZERS := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_LIB): $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIBSRC))
	rm -f $@
	ar rcs $@ $^
$(FUZZ_BUILD)/%: $(FUZZ_BUILD)/obj/tests/fuzz/%.o $(FUZZ_LIB)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lm
fuzzers: $(FUZZERS)

deps:
	@scripts/deps.sh

test-unit: $(BINS) $(TESTS) $(TOOLS)

demo: deps
	$(MAKE) -j$(JOBS) all
	scripts/demo.sh $(BUILD)

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test: deps
	$(MAKE) -j$(JOBS) all test-unit
	$(MAKE) -j$(JOBS) BUILD=build/asan SAN=1 all test-unit
	$(MAKE) -j$(JOBS) fuzzers
	tests/run.sh

bench: deps
	$(MAKE) -j$(JOBS) all
	scripts/bench.sh $(BUILD)

fuzz: deps
	$(MAKE) -j$(JOBS) fuzzers
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} tests/fuzz/run.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
