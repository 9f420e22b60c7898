# vmscope: `make` builds build/vmscope; `sudo make run` / `sudo make test` install what is missing first.
CC ?= cc
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
PKG_CONFIG ?= pkg-config
B := build
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -I. -I$(B) -DVMSCOPE_VERSION='"$(VERSION)"' \
	$(shell $(PKG_CONFIG) --cflags libbpf ncursesw 2>/dev/null)
LIBS := $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz) \
	$(shell $(PKG_CONFIG) --libs ncursesw 2>/dev/null || echo -lncursesw -ltinfo) -lpcap -luring -lpthread -lm

# The built-in guest: freestanding, linked at GPA_IMAGE, no SSE (no FPU state in the guest).
GUEST_CFLAGS := -std=gnu11 $(WARN) -O2 -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
	-mno-red-zone -mno-mmx -mno-sse -mno-sse2 -mno-avx -fno-asynchronous-unwind-tables \
	-fcf-protection=none -fno-builtin -nostdlib
GUEST_SRC := vmm/guest/start.S vmm/guest/main.c vmm/guest/netstack.c vmm/guest/virtio_net.c
GUEST_OBJ := $(GUEST_SRC:%=$(B)/%.o)

VMM_SRC := vmm/kvm.c vmm/boot.c vmm/paging.c vmm/pci.c vmm/irq.c vmm/virtio/ring.c vmm/virtio/virtio_pci.c vmm/virtio/net.c vmm/net/link.c vmm/net/backend.c vmm/net/net.c vmm/net/tap_uring.c vmm/net/loopback.c vmm/guest/netstack.c vmm/iobus.c vmm/serial.c vmm/log.c vmm/exitdev.c vmm/vmm.c
PROBES_SRC := probes/stats_fd.c probes/kvmtrace.c probes/capture.c probes/snapshot.c probes/session.c
TUI_SRC := tui/cli.c tui/output.c tui/dashboard.c tui/headless.c
LIB_SRC := $(VMM_SRC) $(PROBES_SRC) $(TUI_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/vmm/guest_image.o
SKEL := $(B)/kvmtrace.skel.h

UNIT_SRC := $(wildcard tests/unit/*.c) tests/harness.c
INTEG_SRC := $(wildcard tests/integration/*.c) tests/harness.c

.PHONY: all run test deps test-deps unit integration hwlane bench clean format
all: $(B)/vmscope

$(B)/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@
$(B)/vmm/guest/%.c.o: vmm/guest/%.c vmm/control.h vmm/guest/netstack.h vmm/guest/vnet.h
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@
$(B)/guest.elf: $(GUEST_OBJ) vmm/guest/guest.ld
	$(LD) -nostdlib -static -T vmm/guest/guest.ld --build-id=none -o $@ $(GUEST_OBJ)
$(B)/guest.bin: $(B)/guest.elf
	objcopy -O binary $< $@
$(B)/vmm/guest_image.o: vmm/guest_image.S $(B)/guest.bin
	@mkdir -p $(dir $@)
	$(CC) -DGUEST_BIN='"$(B)/guest.bin"' -c $< -o $@

# eBPF: vmlinux.h from this machine's BTF, CO-RE object, skeleton.
$(B)/vmlinux.h:
	@mkdir -p $(B)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@
$(B)/kvmtrace.bpf.o: bpf/kvmtrace.bpf.c bpf/kvmtrace.h $(B)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(B) -I. -c $< -o $@
$(SKEL): $(B)/kvmtrace.bpf.o
	$(BPFTOOL) gen skeleton $< name kvmtrace_bpf > $@.tmp && mv $@.tmp $@

$(B)/probes/kvmtrace.o: $(SKEL)
$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -c $< -o $@

$(B)/libvmscope.a: $(LIB_OBJ)
	ar rcs $@ $^
$(B)/vmscope: $(B)/tui/main.o $(B)/libvmscope.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)

# Tests: unit tests under ASan/UBSan need no KVM; integration tests boot the VM.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer
UNIT_LIB := $(VMM_SRC) probes/stats_fd.c probes/snapshot.c probes/capture.c tui/cli.c tui/output.c
$(B)/tests/unit: $(UNIT_SRC) $(UNIT_LIB) tests/harness.h $(B)/vmm/guest_image.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $(UNIT_SRC) $(UNIT_LIB) $(B)/vmm/guest_image.o -lpcap -luring -lpthread
$(B)/tests/integration: $(INTEG_SRC) tests/harness.h tests/integration/need.h $(B)/libvmscope.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(INTEG_SRC) $(B)/libvmscope.a $(LIBS)
BENCH := $(B)/bench/boot $(B)/bench/exits $(B)/bench/pps $(B)/bench/latency
$(B)/bench/%: bench/%.c $(B)/libvmscope.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libvmscope.a $(LIBS)

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

bench: all $(BENCH)
	$(B)/bench/boot
	$(B)/bench/exits
	$(B)/bench/pps
	$(B)/bench/latency

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
