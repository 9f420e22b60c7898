# vmscope: `make` builds build/vmscope; `sudo make run` / `sudo make test` install what is missing first.
SHELL := /bin/bash
CC ?= cc
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
PKG_CONFIG ?= pkg-config
B := build
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS ?= -O2 -g
# What `vmscope replay` plays without a FILE: the tour recorded on a real run (make tour-recording).
TOUR_RECORDING := demo/tour.jsonl.gz
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -I. -I$(B) -DVMSCOPE_VERSION='"$(VERSION)"' \
	$(shell $(PKG_CONFIG) --cflags libbpf ncursesw 2>/dev/null)
LIBS := $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz) \
	$(shell $(PKG_CONFIG) --libs ncursesw 2>/dev/null || echo -lncursesw -ltinfo) -lpcap -luring \
	-ljansson -lmicrohttpd -lz -lpthread -lm

# The built-in guest: freestanding, linked at GPA_IMAGE, no SSE (no FPU state in the guest).
GUEST_CFLAGS := -std=gnu11 $(WARN) -O2 -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
	-mno-red-zone -mno-mmx -mno-sse -mno-sse2 -mno-avx -fno-asynchronous-unwind-tables \
	-fcf-protection=none -fno-builtin -nostdlib -I.
GUEST_SRC := vmm/guest/start.S vmm/guest/main.c vmm/guest/lib.c vmm/guest/cpu.c vmm/guest/exits.c vmm/guest/kvm_pv.c vmm/shared/netstack.c vmm/guest/pci.c vmm/guest/hotplug.c vmm/guest/task.c vmm/guest/nic.c vmm/guest/vsnic.c \
	vmm/guest/virtio_net.c vmm/guest/e1000.c
GUEST_OBJ := $(GUEST_SRC:%=$(B)/%.o)

VMM_SRC := vmm/kvm/kvm.c vmm/kvm/boot.c vmm/kvm/paging.c vmm/pci/pci.c vmm/pci/pci_msix.c vmm/pci/pci_sriov.c vmm/pci/pcie_port.c vmm/irq.c vmm/nic.c vmm/e1000/e1000.c vmm/e1000/eeprom_phy.c vmm/e1000/rings.c vmm/vsnic/vsnic.c vmm/vsnic/engine.c vmm/virtio/ring.c vmm/virtio/virtio_pci.c vmm/virtio/net.c vmm/net/link.c vmm/net/backend.c vmm/net/net.c vmm/net/tap_uring.c vmm/net/loopback.c vmm/shared/netstack.c vmm/iobus.c vmm/serial.c vmm/log.c vmm/exitdev.c vmm/names.c vmm/vm.c vmm/vcpu.c vmm/cpu_kvm.c vmm/cpu_translated.c vmm/accel.c vmm/slots.c vmm/readout.c
PROBES_SRC := probes/stats_fd.c probes/kvmtrace.c probes/capture.c probes/snapshot.c probes/jv.c probes/snapshot_json.c probes/assemble.c probes/switch_watch.c probes/session.c probes/vmlist.c probes/attach.c
TUI_SRC := tui/cli.c tui/outputs.c tui/output.c tui/tour.c tui/tour_run.c tui/source.c tui/record.c tui/http_gate.c tui/exposition.c tui/metrics.c tui/panels.c tui/panel_sources.c tui/panel_attached.c tui/keys.c tui/dashboard.c tui/cast.c tui/headless.c
LIB_SRC := $(VMM_SRC) $(PROBES_SRC) $(TUI_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/vmm/guest_image.o
SKEL := $(B)/kvmtrace.skel.h

UNIT_SRC := $(wildcard tests/unit/*.c) tests/harness.c
INTEG_SRC := $(wildcard tests/integration/*.c) tests/harness.c

.PHONY: unicorn-check all run test deps test-deps unit integration hwlane bench clean format format-check manlint shellcheck fuzz soak tour-recording
all: $(B)/vmscope

# Every object is built with -MMD -MP: its .d file names every header it includes (the guest's too,
# so a change to vmm/control.h or vmm/vsnic/regs.h rebuilds the image the binary embeds).
$(B)/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@
$(B)/vmm/guest/%.c.o: vmm/guest/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@
# Code the guest shares with the host (its network stack) is built for each, here freestanding.
$(B)/vmm/shared/%.c.o: vmm/shared/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@
$(B)/guest.elf: $(GUEST_OBJ) vmm/guest/guest.ld
	$(LD) -nostdlib -static -T vmm/guest/guest.ld --build-id=none -o $@ $(GUEST_OBJ)
$(B)/guest.bin: $(B)/guest.elf
	objcopy -O binary $< $@
$(B)/vmm/guest_image.o: vmm/guest_image.S $(B)/guest.bin
	@mkdir -p $(dir $@)
	$(CC) -DGUEST_BIN='"$(B)/guest.bin"' -MMD -MP -c $< -o $@

# eBPF: vmlinux.h from this machine's BTF, CO-RE object, skeleton.
$(B)/vmlinux.h:
	@mkdir -p $(B)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@
$(B)/kvmtrace.bpf.o: bpf/kvmtrace.bpf.c $(B)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(B) -I. -MMD -MP -c $< -o $@
$(SKEL): $(B)/kvmtrace.bpf.o
	$(BPFTOOL) gen skeleton $< name kvmtrace_bpf > $@.tmp && mv $@.tmp $@

$(B)/probes/kvmtrace.o: $(SKEL)
# bench/observer's floor: programs that do nothing on the same tracepoints.
$(B)/bench/floor.bpf.o: bench/floor.bpf.c $(B)/vmlinux.h
	@mkdir -p $(dir $@)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(B) -I. -MMD -MP -c $< -o $@
$(B)/floor.skel.h: $(B)/bench/floor.bpf.o
	$(BPFTOOL) gen skeleton $< name floor_bpf > $@.tmp && mv $@.tmp $@
# The translated CPU is built on Unicorn: without it, one sentence instead of a compiler error.
$(B)/vmm/cpu_translated.o $(B)/san/vmm/cpu_translated.o $(B)/t/vmm/cpu_translated.o: | unicorn-check
unicorn-check:
	@$(PKG_CONFIG) --exists unicorn || { echo "vmscope: libunicorn-dev is missing (the translated CPU \
	is built on Unicorn): 'sudo make deps' or 'sudo scripts/install-deps.sh build' installs it" >&2; exit 1; }
$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# Made anew each time: `ar r` would keep the members of files that are gone.
$(B)/libvmscope.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^
$(B)/vmscope: $(B)/tui/main.o $(B)/libvmscope.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)

# Tests: unit tests under ASan/UBSan need no KVM; integration tests boot the VM. Test objects
# live apart from the library's ($(B)/san: sanitized, $(B)/t: plain), each with its .d file.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer
# The unit tests read the shipped tour from the tree, wherever they are run from.
TEST_DATA := -DVMSCOPE_TOUR_RECORDING='"$(CURDIR)/$(TOUR_RECORDING)"'
$(B)/san/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_DATA) $(SAN) -MMD -MP -c $< -o $@
$(B)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -MMD -MP -c $< -o $@
$(B)/t/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@
$(B)/san/probes/kvmtrace.o: $(SKEL)
UNIT_LIB := $(VMM_SRC) probes/stats_fd.c probes/vmlist.c probes/snapshot.c probes/jv.c probes/snapshot_json.c probes/capture.c probes/assemble.c \
	tui/cli.c tui/outputs.c tui/output.c tui/record.c tui/http_gate.c tui/exposition.c tui/metrics.c tui/tour.c
UNIT_OBJ := $(patsubst %.c,$(B)/san/%.o,$(UNIT_SRC) $(UNIT_LIB))
$(B)/tests/unit: $(UNIT_OBJ) $(B)/vmm/guest_image.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ -lpcap -luring -ljansson -lmicrohttpd -lz -lpthread -lm
$(B)/tests/integration: $(INTEG_SRC:%.c=$(B)/t/%.o) $(B)/libvmscope.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)
# The switch soak under ASan/UBSan: 100 live switches at one a second (`make test` runs 20,
# without sanitizers, in the integration suite).
SOAK_SWITCHES ?= 100
SOAK_OBJ := $(patsubst %.c,$(B)/san/%.o,tests/integration/test_switch.c tests/harness.c $(VMM_SRC) $(PROBES_SRC))
$(B)/tests/soak: $(SOAK_OBJ) $(B)/vmm/guest_image.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(LIBS)
soak: test-deps
	$(MAKE) all $(B)/tests/soak
	VMSCOPE_SOAK_SWITCHES=$(SOAK_SWITCHES) $(B)/tests/soak switch_soak

# libFuzzer targets, one per guest-facing parser; `make fuzz` runs each FUZZ_SECONDS with its
# corpus under tests/fuzz/corpus/ (new finds are added there).
FUZZ_SECONDS ?= 60
FUZZ := e1000 virtqueue virtio_pci sriov frames recording cli tour json_text http_line
FUZZ_LIB := $(filter-out vmm/vm.c vmm/vcpu.c vmm/cpu_kvm.c vmm/cpu_translated.c vmm/slots.c vmm/readout.c vmm/kvm/boot.c,$(VMM_SRC))
FUZZ_CC := $(CLANG) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I.
# A fuzz target is built in one compiler run: it depends on every header it could include.
HEADERS := $(wildcard vmm/*.h vmm/*/*.h probes/*.h tui/*.h tests/*.h tests/fuzz/*.h)
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(HEADERS) $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ $< $(FUZZ_LIB) -luring -lpthread
# The link's frames, read by the backend's switch and by the capture's analysis.
$(B)/fuzz/fuzz_frames: tests/fuzz/fuzz_frames.c $(HEADERS) $(FUZZ_LIB) probes/capture.c probes/snapshot.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ $< $(FUZZ_LIB) probes/capture.c probes/snapshot.c -lpcap -luring -lpthread -lm
# The recording reader is fed files, not guest memory: its own small library.
REC_LIB := tui/record.c probes/jv.c probes/snapshot_json.c probes/snapshot.c
$(B)/fuzz/fuzz_recording: tests/fuzz/fuzz_recording.c $(HEADERS) $(REC_LIB) $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -I$(B) -o $@ $< $(REC_LIB) $(FUZZ_LIB) -ljansson -lz -luring -lpthread
# The command line, the tour script and the JSON text round trip: what users and files give us.
CLI_LIB := tui/cli.c tui/http_gate.c tui/exposition.c tui/metrics.c probes/snapshot.c probes/jv.c probes/snapshot_json.c
$(B)/fuzz/fuzz_cli: tests/fuzz/fuzz_cli.c $(HEADERS) $(CLI_LIB) $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -I$(B) -o $@ $< $(CLI_LIB) $(FUZZ_LIB) -lmicrohttpd -ljansson -luring -lpthread -lm
TOUR_LIB := tui/tour.c probes/snapshot.c
$(B)/fuzz/fuzz_tour: tests/fuzz/fuzz_tour.c $(HEADERS) $(TOUR_LIB) $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -I$(B) -o $@ $< $(TOUR_LIB) $(FUZZ_LIB) -luring -lpthread -lm
# The /metrics endpoint's request line: what anyone who reaches --listen sends.
$(B)/fuzz/fuzz_http_line: tests/fuzz/fuzz_http_line.c $(HEADERS) tui/http_gate.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ $< tui/http_gate.c
$(B)/fuzz/fuzz_json_text: tests/fuzz/fuzz_json_text.c $(HEADERS) $(REC_LIB) $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -I$(B) -o $@ $< $(REC_LIB) $(FUZZ_LIB) -ljansson -lz -luring -lpthread -lm
fuzz: $(FUZZ:%=$(B)/fuzz/fuzz_%)
	@for f in $(FUZZ); do mkdir -p tests/fuzz/corpus/$$f; \
		echo "== fuzz $$f for $(FUZZ_SECONDS) s"; \
		if ! $(B)/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			tests/fuzz/corpus/$$f >$(B)/fuzz/$$f.log 2>&1; then \
			tail -n 40 $(B)/fuzz/$$f.log; exit 1; fi; \
		grep -E "DONE" $(B)/fuzz/$$f.log; done

BENCH := $(B)/bench/boot $(B)/bench/exits $(B)/bench/modes $(B)/bench/latency $(B)/bench/observer $(B)/bench/translated $(B)/bench/vms
$(B)/bench/%: bench/%.c $(B)/libvmscope.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libvmscope.a $(LIBS)
$(B)/bench/observer: $(B)/floor.skel.h

.PHONY: install uninstall
# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, the tour it replays (found relative to
# the binary: PREFIX/share/vmscope), the man page and the bash completion.
PREFIX ?= /usr/local
INSTALLED := bin/vmscope share/vmscope/tour.jsonl.gz share/man/man1/vmscope.1 \
	share/bash-completion/completions/vmscope
install: all
	install -D -m 755 $(B)/vmscope "$(DESTDIR)$(PREFIX)/bin/vmscope"
	install -D -m 644 $(TOUR_RECORDING) "$(DESTDIR)$(PREFIX)/share/vmscope/tour.jsonl.gz"
	install -D -m 644 docs/vmscope.1 "$(DESTDIR)$(PREFIX)/share/man/man1/vmscope.1"
	install -D -m 644 scripts/vmscope.bash-completion \
		"$(DESTDIR)$(PREFIX)/share/bash-completion/completions/vmscope"
uninstall:
	rm -f $(INSTALLED:%="$(DESTDIR)$(PREFIX)/%")
	-rmdir "$(DESTDIR)$(PREFIX)/share/vmscope" 2>/dev/null

deps:
	@scripts/install-deps.sh build
test-deps:
	@scripts/install-deps.sh test

run: deps
	$(MAKE) all
	./$(B)/vmscope

test: test-deps
	$(MAKE) all $(B)/tests/unit $(B)/tests/integration $(BENCH)
	tests/run.sh

# One suite each, on what is installed (no package step: `make test` has it).
unit: $(B)/tests/unit
	$(B)/tests/unit
integration: all $(B)/tests/integration
	$(B)/tests/integration
hwlane: all $(B)/tests/integration
	tests/hwlane/run.sh

bench: all $(BENCH)
	$(B)/bench/boot
	$(B)/bench/exits
	$(B)/bench/modes
	$(B)/bench/latency
	$(B)/bench/observer
	$(B)/bench/translated
	$(B)/bench/vms

# The guided tour, recorded on this machine (root and /dev/kvm): what `vmscope replay` plays.
tour-recording: deps
	$(MAKE) all
	./$(B)/vmscope demo --headless --record $(TOUR_RECORDING).tmp.gz >/dev/null
	mv $(TOUR_RECORDING).tmp.gz $(TOUR_RECORDING)
	@ls -l $(TOUR_RECORDING)

# The tree's format is the repository's .clang-format; CI fails on a file it would change, and
# on a shell script shellcheck finds fault with.
FORMAT_SRC = $$(git ls-files '*.c' '*.h')
SCRIPTS := .ci/run scripts/install-deps.sh tests/run.sh tests/cli.sh tests/replay.sh tests/outputs.sh tests/faults.sh tests/translated.sh tests/observer.sh tests/attach.sh tests/install.sh tests/lib.sh tests/hwlane/run.sh
format:
	clang-format -i $(FORMAT_SRC)
# The man page: mandoc's lint is clean (what CI checks with the format).
manlint:
	mandoc -Tlint docs/vmscope.1
	@echo "manlint: docs/vmscope.1 is clean"
format-check:
	@bad=$$(for f in $(FORMAT_SRC); do clang-format "$$f" | cmp -s - "$$f" || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "not formatted (make format): $$bad"; exit 1; fi; \
	echo "format: every C file as .clang-format has it"
shellcheck:
	shellcheck -x $(SCRIPTS)
	shellcheck -s bash scripts/vmscope.bash-completion
	@echo "shellcheck: the scripts are clean"

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
