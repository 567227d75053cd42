# Makefile - builds the library, the three binaries, tests, fuzzers.
#
#   make            release build in build/release (-Werror)
#   make demo       install deps, build, run the end-to-end demo
#   make test       install deps, plain + ASan/UBSan builds, every test, fuzzers
#   make bench      delta / server / link benchmarks (figures, not pass/fail)
#   make stress     200 package replacements under downloading devices
#                   (STRESS_COUNT, STRESS_SEED, STRESS_DEVICES override),
#                   then make stress-powercut
#   make stress-powercut  a device update cut at every flash operation
#                   (POWERCUT_SEED overrides; make test runs a seeded subset)
#   make fuzz       longer fuzzing campaign (FUZZ_SECONDS per target)
#   make device-size  Cortex-M4 flash/RAM of the device library (scripts/device-size.sh)
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
PKGS    := libcoap-3-openssl openssl zlib inih libsodium libdivsufsort libsystemd libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# ota-client is the device library's Linux port: no libcoap, OpenSSL for
# DTLS, zlib and libsodium as the library's host backends.
CLIENT_PKGS := openssl zlib inih libsodium
CLIENT_LIBS := $(shell pkg-config --libs $(CLIENT_PKGS) 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation \
           -Icommon -Iserver -Iclient -Icache $(PKG_CFLAGS) -MMD -MP
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
LDLIBS  += $(PKG_LIBS) -lm -pthread

COMMON_SRC := $(wildcard common/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
CLIENT_SRC := $(filter-out client/main.c,$(wildcard client/*.c))
CACHE_SRC  := $(filter-out cache/main.c,$(wildcard cache/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)
TOOL_SRC   := $(wildcard tests/tools/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
# Device library code: no libc beyond string.h/stdint.h/stddef.h, also
# built for Cortex-M4 by scripts/device-size.sh. Every folder under device/
# but the ports' is a module.
DEVICE_SRC := $(filter-out device/port/%,$(wildcard device/*.c device/*/*.c))
DEVICE_INC := -Idevice $(patsubst %/,-I%,$(filter-out device/port/,$(sort $(dir $(wildcard device/*/*.h)))))
# Host-side helpers of the device tests (fake server, memory and flash
# ports): tests/dev*.c, linked into every test.
DEVTEST_SRC := $(wildcard tests/dev*.c)
# On the host (ota-client, tests) the library keeps today's ceiling of 64
# blocks in flight (-w 1..64); the device build keeps odev.h's default.
DEVICE_HOST_DEFS := -DODEV_INFLIGHT_MAX=64
CFLAGS     += $(DEVICE_INC) $(DEVICE_HOST_DEFS)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBOTA   := $(BUILD)/libota.a
LIBSRV   := $(BUILD)/libsrv.a
LIBDEV   := $(BUILD)/libdev.a
LIBCACHE := $(BUILD)/libcache.a
LIBDEVICE := $(BUILD)/libdevice.a
LIBDEVTEST := $(BUILD)/libdevtest.a
ALLLIBS  := $(LIBSRV) $(LIBDEV) $(LIBCACHE) $(LIBOTA) $(LIBDEVICE)

BINS  := $(BUILD)/ota-cache $(BUILD)/ota-server $(BUILD)/ota-client
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/%,$(TOOL_SRC))

.PHONY: all deps demo test test-unit bench stress stress-powercut fuzz fuzzers clean install uninstall man device-size
all: $(BINS) $(TOOLS) $(BUILD)/man/ota.ini.5

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The version in debian/changelog, reported as ota_build_info on /metrics.
OTA_VERSION := $(shell awk 'NR == 1 { gsub(/[^0-9A-Za-z.+~-]/, "", $$2); print $$2 }' debian/changelog 2>/dev/null)
$(BUILD)/obj/server/metrics.o: CFLAGS += -DOTA_VERSION='"$(or $(OTA_VERSION),unknown)"'
$(BUILD)/obj/server/metrics.o: $(wildcard debian/changelog)

$(LIBOTA): $(call obj,$(COMMON_SRC))
$(LIBSRV): $(call obj,$(SERVER_SRC))
$(LIBDEV): $(call obj,$(CLIENT_SRC))
$(LIBCACHE): $(call obj,$(CACHE_SRC))
$(LIBDEVICE): $(call obj,$(DEVICE_SRC))
$(LIBDEVTEST): $(call obj,$(DEVTEST_SRC))
$(ALLLIBS) $(LIBDEVTEST):
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^ $(if $^,,$(BUILD)/obj/empty.o)

$(BUILD)/obj/empty.o:
	@mkdir -p $(dir $@)
	echo 'typedef int ota_empty_unit;' | $(CC) -x c -c - -o $@
$(ALLLIBS) $(LIBDEVTEST): | $(BUILD)/obj/empty.o

$(BUILD)/ota-cache: $(call obj,cache/main.c) $(LIBCACHE) $(LIBSRV) $(LIBOTA) $(LIBDEVICE)
$(BUILD)/ota-server: $(call obj,server/main.c) $(LIBSRV) $(LIBCACHE) $(LIBOTA) $(LIBDEVICE)
$(BUILD)/ota-client: $(call obj,client/main.c) $(LIBDEV) $(LIBOTA) $(LIBDEVICE)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS) -lm
$(BUILD)/ota-cache $(BUILD)/ota-server:
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%: $(BUILD)/obj/tests/tools/%.o $(ALLLIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the porting guide's minimal port, linked into its host test
$(BUILD)/tests/test_device_minimal: $(BUILD)/obj/device/port/minimal/port_minimal.o
$(BUILD)/obj/tests/test_device_minimal.o $(BUILD)/obj/device/port/minimal/port_minimal.o: \
  CFLAGS += -Idevice/port/minimal
# objects before archives: a port's objects (above, below) call the library
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIBDEVTEST) $(ALLLIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LDLIBS) -lcmocka

# The mps2 port's board-independent parts (AT dialect, NOR rules,
# provisioning) are also unit-tested on the host.
MPS2_HOST_SRC := device/port/mps2/bc95.c device/port/mps2/nor.c device/port/mps2/prov.c
$(BUILD)/tests/test_mps2port: $(call obj,$(MPS2_HOST_SRC))

# Messages are truncated on purpose (fixed-size buffers): -Wno-format-truncation.
# libFuzzer targets: library sources compiled once more with clang
# (fuzzer-no-link instrumentation), archived, linked into each target.
FUZZ_BUILD := build/fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -Icommon -Iserver -Iclient -Icache $(PKG_CFLAGS) \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined -MMD -MP
FUZZ_CFLAGS += $(DEVICE_INC) $(DEVICE_HOST_DEFS)
FUZZ_LIBSRC := $(COMMON_SRC) $(SERVER_SRC) $(CLIENT_SRC) $(CACHE_SRC) $(DEVICE_SRC)
# The mps2 port's parsers of outside input (modem answers, provisioning)
# run on the host too: tests/fuzz/fuzz_mps2port.c.
FUZZ_LIBSRC += $(MPS2_HOST_SRC)
FUZZ_LIB := $(FUZZ_BUILD)/libfuzzota.a
FUZZERS := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_LIB): $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIBSRC))
	rm -f $@
	ar rcs $@ $^
$(FUZZ_BUILD)/%: $(FUZZ_BUILD)/obj/tests/fuzz/%.o $(FUZZ_LIB)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lm -pthread
fuzzers: $(FUZZERS)

# ---- emulated device firmware (QEMU mps2-an386, device/port/mps2) ----
# One Cortex-M4 build whatever BUILD is: build/device/ota-mps2.elf, the
# device library plus the port, Debian's arm-none-eabi-gcc with picolibc
# (string.h only), our own startup and linker script.
FW_DIR    := build/device
FW_CC     := arm-none-eabi-gcc
FW_PORT   := device/port/mps2
FW_LIBSRC := $(filter-out device/port/%,$(shell find device -name '*.c' 2>/dev/null))
FW_SRC    := $(FW_LIBSRC) $(wildcard $(FW_PORT)/*.c)
FW_CFLAGS := -std=c11 -Os -g -mthumb -mcpu=cortex-m4 --specs=picolibc.specs -ffreestanding \
             -ffunction-sections -fdata-sections -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
             -Idevice $(addprefix -I,$(sort $(dir $(FW_LIBSRC)))) -I$(FW_PORT) -MMD -MP
FW_OBJ    := $(patsubst %.c,$(FW_DIR)/obj/%.o,$(FW_SRC))
FW_ELF    := $(FW_DIR)/ota-mps2.elf
$(FW_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FW_CC) $(FW_CFLAGS) -c $< -o $@
$(FW_ELF): $(FW_OBJ) $(FW_PORT)/mps2.ld
	$(FW_CC) $(FW_CFLAGS) -nostartfiles -T $(FW_PORT)/mps2.ld -Wl,--gc-sections \
	  -Wl,-Map=$(FW_DIR)/ota-mps2.map -o $@ $(FW_OBJ)
	scripts/device-fw-size.sh $@
# the porting guide's minimal port: compiled (not linked) for Cortex-M4 at
# both window sizes, so the template cannot rot
FW_MINIMAL := $(FW_DIR)/obj/minimal/port_minimal-w9.o $(FW_DIR)/obj/minimal/port_minimal-w15.o
# (no -MMD: make would try to remake its .d through this very pattern)
$(FW_DIR)/obj/minimal/port_minimal-w%.o: device/port/minimal/port_minimal.c \
  device/port/minimal/port_minimal.h $(wildcard device/*.h device/*/*.h)
	@mkdir -p $(dir $@)
	$(FW_CC) $(filter-out -I$(FW_PORT) -MMD -MP,$(FW_CFLAGS)) -Idevice/port/minimal -DODEV_WINDOW_BITS_MAX=$* -c $< -o $@
device-fw: $(FW_ELF) $(FW_MINIMAL)
.PHONY: device-fw

deps:
	@scripts/deps.sh

test-unit: $(BINS) $(TESTS) $(TOOLS) $(FW_ELF) $(FW_MINIMAL)

# Cortex-M4 footprint of the device library's update path (fixed last line:
# "device: flash N bytes, ram M bytes (window 9), ram K bytes (window 15)").
device-size:
	scripts/device-size.sh

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

# The short seeded version (15 replacements) runs in make test.
stress: deps
	$(MAKE) -j$(JOBS) all
	STRESS_COUNT=$${STRESS_COUNT:-200} tests/e2e_stress.sh $(BUILD)
	$(MAKE) stress-powercut

# Every cut point N of a device update, each recovered and updated again
# (tests/test_device_powercut.c --all, split over JOBS processes by
# scripts/powercut-stress.sh); its seeded subset is a unit test.
stress-powercut:
	$(MAKE) -j$(JOBS) $(BUILD)/tests/test_device_powercut
	scripts/powercut-stress.sh $(BUILD) $(JOBS)

fuzz: deps
	$(MAKE) -j$(JOBS) fuzzers
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} tests/fuzz/run.sh

# ---- install ---------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=] puts ota-cache and ota-client
# in bin/, ota-server in sbin/, man pages, the systemd units (the template
# unit derived from the plain one, and ota-cache-watch.service), the logrotate file, the nginx example
# (share/doc/ota-server/examples) and, only if none
# exists yet, a commented $(SYSCONFDIR)/ota/ota.ini with absolute paths.
# /etc stays /etc whatever the prefix, as for Debian's own daemons.
PREFIX        ?= /usr/local
SYSCONFDIR    ?= /etc
LOCALSTATEDIR ?= /var
BINDIR  = $(PREFIX)/bin
SBINDIR = $(PREFIX)/sbin
MANDIR  = $(PREFIX)/share/man
EXAMPLEDIR = $(PREFIX)/share/doc/ota-server/examples
UNITDIR ?= $(PREFIX)/lib/systemd/system
UNIT_SED = -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
           -e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g'
TEMPLATE_SED = -e '1s|.*|\# ota-server@.service - one ota-server per $(SYSCONFDIR)/ota/NAME.ini (ota-server@NAME).|' \
           -e 's|^Description=.*|Description=ota firmware-update server (CoAP) for %i|' \
           -e 's|/ota/ota.ini|/ota/%i.ini|g' -e 's|--now ota-server`|--now ota-server@NAME`|'

$(BUILD)/man/ota.ini.5: man/ota.ini.5.in README.md scripts/ini-man.sh
	@mkdir -p $(dir $@)
	scripts/ini-man.sh man/ota.ini.5.in README.md $@
man: $(BUILD)/man/ota.ini.5

install: $(BINS) $(BUILD)/man/ota.ini.5
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(SYSCONFDIR)/ota $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(EXAMPLEDIR)
	install -m 0755 $(BUILD)/ota-cache $(BUILD)/ota-client $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/ota-server $(DESTDIR)$(SBINDIR)/
	install -m 0644 man/ota-cache.1 man/ota-client.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(BUILD)/man/ota.ini.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/ota-server.8 $(DESTDIR)$(MANDIR)/man8/
	sed $(UNIT_SED) deploy/systemd/ota-server.service.in >$(DESTDIR)$(UNITDIR)/ota-server.service
	sed $(UNIT_SED) $(TEMPLATE_SED) deploy/systemd/ota-server.service.in \
	  >$(DESTDIR)$(UNITDIR)/ota-server@.service
	sed $(UNIT_SED) deploy/systemd/ota-cache-watch.service.in \
	  >$(DESTDIR)$(UNITDIR)/ota-cache-watch.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/ota-server.service $(DESTDIR)$(UNITDIR)/ota-server@.service \
	  $(DESTDIR)$(UNITDIR)/ota-cache-watch.service
	install -m 0644 deploy/logrotate/ota-server $(DESTDIR)$(SYSCONFDIR)/logrotate.d/ota-server
	install -m 0644 deploy/nginx/ota-stream.conf $(DESTDIR)$(EXAMPLEDIR)/
	install -d $(DESTDIR)$(PREFIX)/share/ota/console
	install -m 0644 console/index.html console/console.js console/console.css \
	  console/favicon.svg $(DESTDIR)$(PREFIX)/share/ota/console/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/ota/ota.ini ]; then \
	  echo "kept existing $(DESTDIR)$(SYSCONFDIR)/ota/ota.ini"; \
	else install -m 0644 deploy/ota.ini $(DESTDIR)$(SYSCONFDIR)/ota/ota.ini; fi

# The configuration and the state under $(LOCALSTATEDIR) are the operator's: kept.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ota-cache $(DESTDIR)$(BINDIR)/ota-client \
	  $(DESTDIR)$(SBINDIR)/ota-server $(DESTDIR)$(MANDIR)/man1/ota-cache.1 \
	  $(DESTDIR)$(MANDIR)/man1/ota-client.1 $(DESTDIR)$(MANDIR)/man5/ota.ini.5 \
	  $(DESTDIR)$(MANDIR)/man8/ota-server.8 $(DESTDIR)$(UNITDIR)/ota-server.service \
	  $(DESTDIR)$(UNITDIR)/ota-server@.service $(DESTDIR)$(UNITDIR)/ota-cache-watch.service \
	  $(DESTDIR)$(SYSCONFDIR)/logrotate.d/ota-server \
	  $(DESTDIR)$(EXAMPLEDIR)/ota-stream.conf
	rm -rf $(DESTDIR)$(PREFIX)/share/ota/console
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/ota/ (configuration) and $(LOCALSTATEDIR)/lib/ota, $(LOCALSTATEDIR)/log/ota"

clean:
	rm -rf build

-include $(shell find build -path '*/obj/*' -name '*.d' 2>/dev/null)
