#!/usr/bin/env bash
# The translated CPU where there is no KVM at all. In a mount namespace whose /dev has no kvm
# node (null, zero, random, urandom and net/tun only): the integration tests that make sense for
# a CPU mode run on it (VMSCOPE_TEST_CPU=translated: boot, every exit kind by guest and VMM, each
# card's ping, tx, rx and echo, the live switch), the command line's auto picks it and says so,
# its faults are reported, and a recording of it replays with its figures.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=./build/vmscope
INTEG=./build/tests/integration
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; tmux -L vmscope-translated kill-server 2>/dev/null' EXIT

# nokvm CMD...: CMD in a private mount namespace whose /dev lacks kvm (checked before it runs).
nokvm() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare -m sh -c 'mount --make-rprivate / && mount -t tmpfs -o mode=755 nokvm /dev &&
		mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 &&
		mknod -m 666 /dev/random c 1 8 && mknod -m 666 /dev/urandom c 1 9 &&
		mkdir /dev/net && mknod -m 666 /dev/net/tun c 10 200 && ln -s /proc/self/fd /dev/fd &&
		[ ! -e /dev/kvm ] && exec "$@"' nokvm "$@"
}

if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
	skp translated_without_dev_kvm "needs root for a mount namespace without /dev/kvm"
	echo "$pass passed, $fail failed, $skip skipped"
	exit 0
fi

# The integration tests, on the translated CPU, with no /dev/kvm: their own lines, counted here.
nokvm env VMSCOPE_TEST_CPU=translated "$INTEG" translated_ net_guest_pings_the_peer \
	net_tx_counts_agree net_capture_sees net_rx_the_peer_floods_the_guest net_rx_an_unpaced \
	net_echo_the_guest_sends_back switch_every_pair_both_ways_under_closed_loop_ping \
	switch_virtio_to_emulated_and_back >"$tmp/integ" 2>&1
rc=$?
sed 's/^/    /' "$tmp/integ" | grep -v "^    [0-9]* passed" || true
summary=$(tail -n 1 "$tmp/integ")
if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]] &&
	[ "${BASH_REMATCH[1]}" -ge 20 ] && [ "${BASH_REMATCH[2]}" -eq 0 ] && [ "${BASH_REMATCH[3]}" -eq 0 ] && [ $rc -eq 0 ]; then
	ok "translated_integration_tests_without_dev_kvm ($summary)"
else bad translated_integration_tests_without_dev_kvm "exit $rc: $summary"; fi

# auto with no /dev/kvm: the translated CPU, one sentence on stderr, and records that say so.
nokvm "$BIN" run --headless --duration 1.5 --interval 500 >"$tmp/auto" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
	grep -q "no KVM here (/dev/kvm does not exist.*the guest runs on the translated CPU" "$tmp/err" &&
	last_record_has "$tmp/auto" '.cpu_mode == "translated" and .host == "none" and .state == "running"
		and .by_source.vmm.hypercall.total > 0 and .by_source.vmm.cpuid.total > 0
		and .by_source.stats.pio_vmm == null and .bpf.on == false
		and (.bpf.why | test("translated CPU")) and .vmm.tcg_insns.total > 0'; then
	ok translated_auto_without_kvm_runs_the_guest_and_says_so
else bad translated_auto_without_kvm_runs_the_guest_and_says_so "exit $rc: $(cat "$tmp/err") $(tail -c 400 "$tmp/auto")"; fi

# `sudo make run` where there is no KVM: the dashboard opens on the translated CPU, says why in
# its message line, shows the translator's line, counts CPUID at the VMM (KVM's sources: -) and
# quits cleanly.
if command -v tmux >/dev/null; then
	T="tmux -L vmscope-translated"
	$T kill-server 2>/dev/null
	here=$(pwd)
	# shellcheck disable=SC2016 # the inner shell expands them
	$T new-session -d -x 120 -y 40 -s dash "cd '$here' && . tests/lib.sh && $(declare -f nokvm) &&
		nokvm $BIN --interval 300; echo VMSCOPE-EXITED \$?; sleep 30"
	pane_until "$T" dash "$tmp/dash" "translated: [0-9.k]+ blocks so far"
	$T send-keys -t dash q
	pane_until "$T" dash "$tmp/dash2" "VMSCOPE-EXITED"
	if ! grep -q "host none | cpu translated" "$tmp/dash"; then bad translated_dashboard_opens_without_kvm "header: $(head -2 "$tmp/dash")"
	elif ! grep -q "no KVM here (/dev/kvm does not exist" "$tmp/dash"; then bad translated_dashboard_opens_without_kvm "no sentence: $(tail -3 "$tmp/dash")"
	elif ! grep -Eq "^ 6 cpuid +[0-9]+ +[0-9]+ +- +- " "$tmp/dash"; then bad translated_dashboard_opens_without_kvm "cpuid: the vmm counts it, stats and bpf show -: $(grep cpuid "$tmp/dash")"
	elif ! grep -q "VMSCOPE-EXITED 0" "$tmp/dash2"; then bad translated_dashboard_opens_without_kvm "q: $(tail -3 "$tmp/dash2")"
	else ok translated_dashboard_opens_without_kvm; fi
	$T kill-server 2>/dev/null
else skp translated_dashboard_opens_without_kvm "tmux is not installed"; fi

# A user who may not open /dev/kvm: auto runs the translated CPU, and says why.
if command -v setpriv >/dev/null; then
	cp "$BIN" "$tmp/vmscope" && chmod 755 "$tmp" "$tmp/vmscope"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/vmscope" run --headless --duration 1 \
		--interval 500 --nic none >"$tmp/user" 2>"$tmp/err"
	rc=$?
	if [ $rc -eq 0 ] && grep -q "no KVM here (no permission to open /dev/kvm.*translated CPU" "$tmp/err" &&
		last_record_has "$tmp/user" '.cpu_mode == "translated" and .state == "running"'; then
		ok translated_auto_without_kvm_permission_runs_the_guest_and_says_so
	else bad translated_auto_without_kvm_permission_runs_the_guest_and_says_so "exit $rc: $(cat "$tmp/err")"; fi
else skp translated_auto_without_kvm_permission_runs_the_guest_and_says_so "setpriv is not installed"; fi

# A mode that needs KVM is refused with the sentence, and the way out.
kvm_mode=hardware
[ -e /sys/module/kvm_pvm ] && kvm_mode=paravirt
expect translated_a_kvm_mode_without_kvm_is_refused 1 "/dev/kvm does not exist.*--cpu translated" -- \
	nokvm "$BIN" run --headless --duration 1 --cpu "$kvm_mode"

# The guest's faults: an exception stops it with the vector named; a hang is caught.
expect translated_guest_fault_is_named 3 "guest took exception #UD at RIP" -- \
	nokvm "$BIN" run --cpu translated --headless --duration 5 --workload fault:ud
expect translated_guest_hang_is_caught 3 "guest stopped responding" -- \
	nokvm "$BIN" run --cpu translated --headless --duration 8 --workload fault:hang
expect translated_guest_jump_into_a_hole_is_named 3 "the translated CPU stopped the guest: .* at RIP 0x7f000000" -- \
	nokvm "$BIN" run --cpu translated --headless --duration 5 --workload fault:wild

# A malformed guest: pages of pseudo-random bytes run as code (ports, MMIO, control registers,
# the VMM's own pages: whatever they do). The VMM survives every one: the guest fails with one
# sentence (3), or still runs at the end (0); never a crash, never a hang past the run.
failed=0 running=0 broken=""
for seed in $(seq 1 25); do
	timeout 60 "$BIN" run --cpu translated --headless --duration 3 --workload fault:garbage \
		--rate "$seed" --nic none >"$tmp/g.out" 2>"$tmp/g.err"
	rc=$?
	if [ $rc -eq 3 ] && [ "$(wc -l <"$tmp/g.err")" -eq 1 ] && grep -q "the guest failed: " "$tmp/g.err"; then
		failed=$((failed + 1))
	elif [ $rc -eq 0 ] && [ ! -s "$tmp/g.err" ] && last_record_has "$tmp/g.out" '.state == "running"'; then
		running=$((running + 1))
	else broken="$broken seed $seed: exit $rc $(head -c 200 "$tmp/g.err");"; fi
done
if [ -z "$broken" ]; then ok "translated_garbage_guests_are_survived ($failed failed, $running ran on, of 25)"
else bad translated_garbage_guests_are_survived "$broken"; fi

# Recorded without KVM, replayed anywhere: the translated figures come back, on screen too.
nokvm "$BIN" run --headless --duration 2 --interval 500 --workload ping --rate 0 \
	--record "$tmp/t.jsonl" >/dev/null 2>"$tmp/err"
if "$BIN" replay "$tmp/t.jsonl" --headless >"$tmp/replayed" 2>"$tmp/err2" &&
	last_record_has "$tmp/replayed" '.cpu_mode == "translated" and .vmm.tcg_blocks_run.total > 0' &&
	"$BIN" replay "$tmp/t.jsonl" --cast "$tmp/t.cast" 2>"$tmp/err3" &&
	grep -q "translated: .* blocks so far" "$tmp/t.cast" && grep -q "cpu translated" "$tmp/t.cast"; then
	ok translated_recording_replays_with_its_figures
else bad translated_recording_replays_with_its_figures "$(cat "$tmp/err" "$tmp/err2" "$tmp/err3" 2>/dev/null)"; fi

echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
