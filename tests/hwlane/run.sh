#!/usr/bin/env bash
# The hardware lane: the integration tests inside a Debian kernel whose KVM is kvm_amd (AMD SVM
# emulated by QEMU's TCG), so the hardware-assisted path is tested on machines without VT-x/AMD-V
# (docs/kvm-hosts.md). Ends with the integration suite's own "N passed, N failed, N skipped" line.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=build/hwlane
BIN=build/tests/integration
skip() { echo "skip hwlane: $1"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
die() { echo "FAIL hwlane: $1"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

for tool in qemu-system-x86_64 cpio gzip apt-get dpkg; do
	command -v $tool >/dev/null || skip "$tool is not installed (sudo make test installs it)"
done
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q dynamically && BUSYBOX=""
[ -x /bin/busybox ] && BUSYBOX=/bin/busybox
[ -n "$BUSYBOX" ] || skip "busybox-static is not installed"
[ -x "$BIN" ] || die "$BIN is missing (make test builds it)"

# The kernel of Debian's linux-image-amd64, fetched once into build/hwlane.
mkdir -p $B
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || skip "apt-cache does not know linux-image-amd64 (run apt-get update)"
if [ ! -d "$B/kernel-$pkg" ]; then
	rm -rf "$B"/kernel-* "$B"/*.deb
	(cd "$B" && apt-get download -qq "$pkg" >/dev/null 2>&1) || skip "apt-get download $pkg failed (no package archive?)"
	dpkg -x "$B"/"${pkg}"_*.deb "$B/kernel-$pkg" || die "could not unpack $pkg"
fi
K=$B/kernel-$pkg
vmlinuz=$(find "$K/boot" -name "vmlinuz-*" | sort | head -1)
moddir=$(find "$K/lib/modules" -mindepth 1 -maxdepth 1 | sort | head -1)

# The initramfs: busybox, the four modules kvm_amd needs, the static test binary, an init.
R=$B/initramfs
rm -rf "$R" && mkdir -p "$R"/bin "$R"/lib "$R"/proc "$R"/sys "$R"/dev "$R"/tmp "$R"/run
cp "$BUSYBOX" "$R"/bin/busybox
for m in virt/lib/irqbypass drivers/crypto/ccp/ccp arch/x86/kvm/kvm arch/x86/kvm/kvm-amd drivers/net/tun; do
	f=$(find "$moddir/kernel/$(dirname "$m")" -maxdepth 1 -name "$(basename "$m").ko*" 2>/dev/null | head -1)
	[ -n "$f" ] || die "module $m is not in $pkg"
	case $f in
	*.xz) xz -dc "$f" >"$R/lib/$(basename "$m").ko" ;;
	*.zst) zstd -qdc "$f" >"$R/lib/$(basename "$m").ko" ;;
	*) cp "$f" "$R/lib/$(basename "$m").ko" ;;
	esac
done
# Programs go in with their shared libraries (libbpf, libpcap and what they pull in).
carry() {
	cp "$1" "$R$2"
	for lib in $(ldd "$1" | awk '/=>/ {print $3} /ld-linux/ {print $1}'); do
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
	done
}
carry $BIN /integration
# iproute2's ip (busybox's has no netns), for `ip netns exec` in the net tests.
if IP=$(command -v ip) && [ -x "$IP" ]; then
	mkdir -p $R/sbin
	carry "$IP" /sbin/ip
fi
cat >$R/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tracefs tracefs /sys/kernel/tracing
mount -t tmpfs tmpfs /run
for m in irqbypass ccp kvm kvm-amd tun; do insmod /lib/$m.ko || echo "HWLANE: insmod $m failed"; done
export PATH=/sbin:/bin
echo "HWLANE: kvm $( [ -e /dev/kvm ] && echo present || echo absent ), $(grep -m1 -o 'svm' /proc/cpuinfo)"
cd /tmp
# The session's restart and unpaced-flood tests stay on the development machines: they exercise
# vmscope's own network side, not the hypervisor, and after them the lane's nested SVM (under
# TCG) once refused KVM_CREATE_VM and then stalled a guest's HLT. The six back-to-back sessions of
# the e1000-against-virtio comparison met the same refusal there; the e1000 itself runs in the
# lane through every net_*_emulated test (INTx through the in-kernel IOAPIC included).
# The SR-IOV VF's flood tests stay out too: its engine spins on the lane's one TCG CPU, and with
# them in, the lane once stalled at the next session's start (each of them passes alone there).
# The VF still boots in the lane, and the namespace's real ping reaches it through its memory
# slot doorbells (net_the_namespace_pings_the_guest_with_the_real_ping_vf).
# Of the live switch, the lane runs the light test (virtio and the e1000, paced ping): the slot's
# MSI reaching a guest that sleeps with sti; hlt is what it adds. The pairs with the VF and the
# soak stay out for the reason above.
# The hung-guest test stays on the development machines: three of the lane's stalls came in the
# test right after it (its guest spins with interrupts off until the watchdog kicks it out).
# The translated CPU's tests need no KVM at all: they run in the integration suite and, with no
# /dev/kvm, in tests/translated.sh. Here they would be Unicorn's TCG inside QEMU's (both stalled
# past 300 s, twice, and the lane skipped what came after).
# Each test in a process of its own, bounded: nested SVM under TCG sometimes stalls a vCPU for
# good (seen after the fault tests, in a pause or a boot, once in several runs). A test that
# stalls is killed and tried once more; stalled twice it is skipped with that reason, for the
# lane could not give a working hardware KVM; two tests in a row that stall end the lane, the
# rest skipped the same way. A test that ran and failed fails the lane.
export VMSCOPE_TEST_TRACE=1 VMSCOPE_TEST_SLOW=${SLOW:-4}
pass=0 fail=0 skip=0 stalled_run=0
# ONLY (VMSCOPE_LANE_ONLY on the host): the tests whose names hold it, for working on one.
for t in $(/integration --list $ONLY -restarts_keep -unpaced_tx -emulated_card_exits_more \
	-peer_vf -exits_vf -round_trips_vf -in_order_vf -vf_card -switch_every -switch_soak \
	-switch_refusals -switch_that -hung_guest -translated_); do
	if [ $stalled_run -ge 2 ]; then
		echo "skip $t: the lane's nested KVM stalled two tests in a row before it"
		skip=$((skip + 1))
		continue
	fi
	line=
	for try in 1 2; do
		timeout -s KILL 300 /integration "=$t" >/tmp/t.out 2>&1
		grep -v '^[0-9]* passed, ' /tmp/t.out
		line=$(grep '^[0-9]* passed, [0-9]* failed' /tmp/t.out | tail -1)
		[ -n "$line" ] && break
		echo "HWLANE: $t stalled (try $try): killed after 300 s"
	done
	if [ -z "$line" ]; then
		echo "skip $t: nested SVM under TCG stalled it twice (the lane's KVM, not vmscope: see its console)"
		skip=$((skip + 1))
		stalled_run=$((stalled_run + 1))
		continue
	fi
	stalled_run=0
	set -- $line
	pass=$((pass + $1)) fail=$((fail + $3)) skip=$((skip + ${5:-0}))
done
echo "$pass passed, $fail failed, $skip skipped"
echo "HWLANE-EXIT $fail"
poweroff -f
INIT
chmod +x $R/init
(cd $R && find . | cpio -o -H newc --quiet | gzip -1) >$B/initrd.gz

# A stall can freeze the lane's kernel whole (its one CPU stuck in nested SVM: no test process
# ends, none is killed). So the host watches the console: no new line for STALL_S seconds and
# the lane is stopped (longer than a test process is given: 300 s), then booted once more from the start; a second stall ends it, and the
# lane counts as skipped with that reason beside what it had run (vmscope's own failures still
# fail it).
STALL_S=${VMSCOPE_LANE_STALL_S:-420}
boot_lane() {
	qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1 -nographic -no-reboot \
		-kernel "$vmlinuz" -initrd $B/initrd.gz \
		-append "console=ttyS0 quiet panic=-1 SLOW=${VMSCOPE_LANE_SLOW:-4} ONLY=${VMSCOPE_LANE_ONLY:-}" </dev/null >$B/console.log 2>&1 &
	local qemu=$! size=-1 quiet=0
	while kill -0 $qemu 2>/dev/null; do
		sleep 5
		local now
		now=$(stat -c %s $B/console.log 2>/dev/null || echo 0)
		if [ "$now" = "$size" ]; then quiet=$((quiet + 5)); else quiet=0 size=$now; fi
		if [ $quiet -ge "$STALL_S" ]; then
			kill -9 $qemu 2>/dev/null
			wait $qemu 2>/dev/null
			return 1
		fi
	done
	wait $qemu 2>/dev/null
	return 0
}
results() {
	# The console interleaves terminal escapes; keep the lines the init and the tests print.
	tr -d '\r' <$B/console.log | sed 's/^.*HWLANE/HWLANE/' |
		grep -E '^(HWLANE|ok |FAIL|skip |    |[0-9]+ passed)' >$B/results.log
	cat $B/results.log
}
stalled=
for _ in 1 2; do
	echo "booting $pkg under QEMU TCG (-cpu max: AMD SVM) ..."
	if boot_lane; then
		stalled=
		break
	fi
	stalled=$(tr -d '\r' <$B/console.log | grep -E '^run  ' | tail -1 | cut -c6-)
	echo "HWLANE: the lane's kernel stalled in ${stalled:-its boot} (nothing on its console for ${STALL_S} s): stopped"
done
results
grep -q "HWLANE: kvm present" $B/results.log || die "kvm_amd did not give /dev/kvm in the lane (see $B/console.log)"
if [ -n "$stalled" ]; then
	ok=$(grep -c '^ok ' $B/results.log) bad=$(grep -c '^FAIL ' $B/results.log) sk=$(grep -c '^skip ' $B/results.log)
	echo "skip hwlane: nested SVM under QEMU's TCG froze the lane twice (the second time in ${stalled:-its boot}); what ran before is counted"
	echo "$ok passed, $bad failed, $((sk + 1)) skipped"
	[ "$bad" -eq 0 ]
	exit
fi
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' $B/results.log | tail -1)
[ -n "$last" ] || die "the lane ended without a summary line (see $B/console.log)"
echo "$last"
