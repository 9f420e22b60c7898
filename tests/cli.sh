#!/usr/bin/env bash
# Command-line tests on the real binary: errors, headless records, the dashboard in a terminal.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=./build/vmscope
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; tmux -L vmscope-test kill-server 2>/dev/null; tmux -L vmscope-test-small kill-server 2>/dev/null' EXIT


expect cli_unknown_flag 2 "unknown option '--bogus'" -- "$BIN" --bogus
expect cli_bad_rate 2 "--rate wants" -- "$BIN" run --headless --rate fast
expect cli_bad_kind 2 "--kind wants" -- "$BIN" run --headless --kind io
expect cli_dashboard_needs_a_terminal 2 "needs a terminal" -- "$BIN"

expect cli_a_flag_is_not_a_value 2 "needs a value, not the option '--headless'" -- "$BIN" run --pcap --headless
expect cli_contradicting_flags_are_refused 2 "asks for the exits workload, but --workload is ping" -- \
	"$BIN" run --headless --workload ping --kind cpuid
expect cli_contradicting_kinds_are_refused 2 "contradicts --workload exits:hlt" -- \
	"$BIN" run --headless --workload exits:hlt --kind cpuid
expect cli_bad_workload_lists_every_workload 2 "idle, exits\[:KIND\], ping, tx, rx, echo or both" -- \
	"$BIN" run --headless --workload bogus
expect cli_pcap_into_a_directory 1 "cannot write the --pcap file '/tmp': Is a directory" -- \
	"$BIN" run --headless --duration 1 --pcap /tmp
expect cli_pcap_into_a_missing_folder 1 "cannot write the --pcap file '/nonexistent/x.pcap': No such file" -- \
	"$BIN" run --headless --duration 1 --pcap /nonexistent/x.pcap

expect cli_attach_wants_a_process_id 2 "wants the VMM's process ID (a number; vmscope attach lists them), not 'qemu'" -- "$BIN" attach qemu
expect cli_attach_list_takes_no_options 2 "without a PID lists the KVM VMs on this host and takes no options: drop --headless" -- "$BIN" attach --headless
expect cli_attach_refuses_what_drives_our_vm 2 "--workload is for vmscope's own VM; vmscope attach PID watches another's" -- "$BIN" attach 1 --workload tx
expect cli_attach_writes_json_lines 2 "vmscope attach writes JSON lines" -- "$BIN" attach 1 --headless --format csv
expect cli_attach_a_process_without_a_vm 1 "process 1 holds no KVM VM; vmscope attach lists those that do" -- "$BIN" attach 1 --headless --duration 1
expect cli_attach_no_such_process 1 "there is no process 4194304" -- "$BIN" attach 4194304 --headless --duration 1
expect cli_switch_to_wants_mode_at_seconds 2 "--switch-to wants MODE@SECONDS" -- "$BIN" run --headless --switch-to vf
expect cli_switch_to_an_unknown_card 2 "--switch-to wants MODE@SECONDS" -- "$BIN" run --headless --switch-to bogus@2
expect cli_switch_every_wants_seconds 2 "--switch-every wants seconds" -- "$BIN" run --headless --switch-every 0
expect cli_switch_without_a_card 2 "drop --nic none" -- "$BIN" run --headless --nic none --switch-every 2
expect cli_pcap_without_the_capture 2 "drop --no-capture or --pcap" -- "$BIN" run --headless --no-capture --pcap /tmp/x.pcap
expect cli_switch_plans_are_one_or_the_other 2 "use one" -- "$BIN" run --headless --switch-every 2 --switch-to vf@1

if "$BIN" -h | grep -q "examples:" && "$BIN" --help | grep -q "examples:" && "$BIN" --version | grep -q "^vmscope "; then ok cli_help_and_version
else bad cli_help_and_version "no examples in --help or no version"; fi

if [ ! -e /dev/kvm ]; then
	skp cli_headless_jsonl "this machine has no /dev/kvm"
else
	if "$BIN" run --headless --duration 1.5 --interval 500 --kind pio_eventfd --rate 2000 >"$tmp/j" 2>"$tmp/e"; then
		n=$(wc -l <"$tmp/j")
		if [ "$n" -ne 3 ]; then bad cli_headless_jsonl "wanted 3 records, got $n"
		elif ! jq -e 'select(.cpu_mode and .host and .workload == "exits" and .kind == "pio_eventfd"
				and (.exits | length == 7) and .sources and .guest.cost_ns and .bpf)' "$tmp/j" >/dev/null; then
			bad cli_headless_jsonl "records lack documented keys: $(tail -1 "$tmp/j" | head -c 400)"
		# One kind asked for: the guest did that kind and no other (how many a second this
		# machine manages is not the point).
		elif tail -1 "$tmp/j" | jq -e '.by_source.guest.pio_eventfd.total > 0 and
				([.by_source.guest | to_entries[] | select(.key != "pio_eventfd") | .value.total] | all(. == 0))' >/dev/null
		then ok cli_headless_jsonl
		else bad cli_headless_jsonl "the guest did not do pio_eventfd alone: $(tail -1 "$tmp/j" | jq -c .by_source.guest)"
		fi
	else bad cli_headless_jsonl "exit $?: $(cat "$tmp/e")"; fi

	if "$BIN" run --headless --duration 1 --interval 250 --format csv >"$tmp/c" 2>"$tmp/e"; then
		cols=$(awk -F, '{print NF}' "$tmp/c" | sort -u | wc -l)
		if [ "$(wc -l <"$tmp/c")" -eq 5 ] && [ "$cols" -eq 1 ] && head -1 "$tmp/c" | grep -q '^t,host,cpu_mode'; then
			ok cli_headless_csv
		else bad cli_headless_csv "$(head -3 "$tmp/c")"; fi
	else bad cli_headless_csv "exit $?: $(cat "$tmp/e")"; fi

	# Planned live switches: the records carry each one's event, and the card in use follows.
	if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/net/tun ]; then
		skp cli_headless_switch_to "the TAP link needs root and /dev/net/tun"
	elif "$BIN" run --headless --duration 6 --interval 250 --workload ping --rate 0 \
		--switch-to emulated@1 --switch-to vf@3 >"$tmp/s" 2>"$tmp/e"; then
		if jq -se '[.[].events[] | select(.kind == "nic_switch" and .ok and .lost == 0
				and .blackout_ms.capture != null)] | map(.to) == ["emulated", "vf"]' "$tmp/s" >/dev/null &&
			[ "$(tail -1 "$tmp/s" | jq -r .nic_mode)" = vf ] &&
			tail -1 "$tmp/s" | jq -e '.net.compare | (.virtio.exits_per_packet != null and
				.emulated.exits_per_packet != null and .vf.exits_per_packet != null)' >/dev/null; then
			ok cli_headless_switch_to
		else bad cli_headless_switch_to "$(jq -c '[.nic_mode, .events]' "$tmp/s")"; fi
	else bad cli_headless_switch_to "exit $?: $(cat "$tmp/e")"; fi

	expect cli_guest_fault_exits_3 3 "guest took exception #UD" -- "$BIN" run --headless --duration 5 --workload fault:ud

	# A CPU mode that needs KVM, where KVM cannot be had: the sentence says why and what runs
	# without it (auto takes the translated CPU there instead: tests/translated.sh).
	kvm_mode=hardware
	[ -e /sys/module/kvm_pvm ] && kvm_mode=paravirt
	# No /dev/kvm: a mount namespace whose /dev is empty.
	if unshare -m true 2>/dev/null; then
		expect cli_no_dev_kvm 1 "/dev/kvm does not exist.*--cpu translated runs the guest without KVM" -- unshare -m sh -c \
			"mount -t tmpfs none /dev && exec $BIN run --headless --duration 1 --cpu $kvm_mode"
	else skp cli_no_dev_kvm "cannot create a mount namespace here (needs root)"; fi

	# Something that is not KVM at /dev/kvm.
	if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
		expect cli_dev_kvm_that_is_not_kvm 1 "/dev/kvm is not the KVM device" -- unshare -m sh -c \
			"mount --bind /dev/null /dev/kvm && exec $BIN run --headless --duration 1 --cpu $kvm_mode"
	else skp cli_dev_kvm_that_is_not_kvm "needs root for a mount namespace"; fi

	# In the device's group already, but the device is 0600: the mode is the problem, not the group.
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && unshare -m true 2>/dev/null; then
		cp "$BIN" "$tmp/vmscope" && chmod 755 "$tmp" "$tmp/vmscope"
		expect cli_in_the_kvm_group_but_mode_0600 1 "mode 0600, so only root may open it" -- unshare -m sh -c \
			"mount -t tmpfs none /dev && mknod -m 600 /dev/kvm c 10 232 && chown 0:65533 /dev/kvm && \
			exec setpriv --reuid=65534 --regid=65534 --groups=65533 $tmp/vmscope run --headless --duration 1 \
			--cpu $kvm_mode"
		# --pcap without the rights to capture: says why, records nothing.
		expect cli_pcap_without_capture_rights 1 "--pcap cannot record: the TAP link needs root" -- unshare -m sh -c \
			"mount -t tmpfs none /dev && mknod -m 666 /dev/kvm c 10 232 && \
			exec setpriv --reuid=65534 --regid=65534 --clear-groups $tmp/vmscope run --headless --duration 1 \
			--pcap /tmp/vmscope-nobody-$$.pcap"
		rm -f /tmp/vmscope-nobody-$$.pcap
	else skp cli_in_the_kvm_group_but_mode_0600 "needs root to set up an unprivileged user with KVM"; fi

	# Root without /dev/net/tun: the loopback peer stands in, and stderr and the records say why.
	if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
		unshare -m sh -c "mount -t tmpfs none /dev/net && exec $BIN run --headless --duration 1 --workload ping \
			--no-bpf" >"$tmp/nt" 2>"$tmp/e"
		rc=$?
		if [ $rc -eq 0 ] && grep -q "/dev/net/tun is missing.*loopback peer answers instead" "$tmp/e" &&
			jq -e 'select(.net.backend == "loopback" and (.net.why | test("/dev/net/tun is missing")))' "$tmp/nt" >/dev/null; then
			ok cli_no_tun_says_so
		else bad cli_no_tun_says_so "exit $rc: $(cat "$tmp/e") $(head -c 300 "$tmp/nt")"; fi
	else skp cli_no_tun_says_so "needs root for a mount namespace"; fi

	# No permission: an unprivileged user (root always has it).
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
		cp "$BIN" "$tmp/vmscope" && chmod 755 "$tmp" "$tmp/vmscope"
		expect cli_no_permission_on_dev_kvm 1 "no permission to open /dev/kvm" -- \
			setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/vmscope" run --headless --duration 1 \
			--cpu "$kvm_mode"
	else skp cli_no_permission_on_dev_kvm "needs root to switch to an unprivileged user"; fi

	# KVM but no root: a private /dev whose kvm node an unprivileged user may open. The eBPF
	# source is off and the record says why; everything else runs.
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && unshare -m true 2>/dev/null; then
		cp "$BIN" "$tmp/vmscope" && chmod 755 "$tmp" "$tmp/vmscope"
		unshare -m sh -c "mount -t tmpfs none /dev && mknod -m 666 /dev/kvm c 10 232 && \
			exec setpriv --reuid=65534 --regid=65534 --clear-groups $tmp/vmscope run --headless \
			--duration 1 --interval 500 --kind pio_vmm" >"$tmp/nr" 2>"$tmp/e"
		if jq -e 'select(.bpf.on == false and (.bpf.why | test("need root")) and .by_source.vmm.pio_vmm.per_s > 0
				and .by_source.stats.mmio_vmm != null)' "$tmp/nr" >/dev/null 2>&1; then
			ok cli_runs_on_without_bpf_privileges
		else bad cli_runs_on_without_bpf_privileges "$(head -c 300 "$tmp/nr") $(cat "$tmp/e")"; fi
	else skp cli_runs_on_without_bpf_privileges "needs root to set up an unprivileged user with KVM"; fi

	if "$BIN" run --headless --duration 0.5 --log "$tmp/vm.log" >/dev/null 2>&1 &&
		grep -q "guest: vmscope guest: long mode, ring 0, ready" "$tmp/vm.log" &&
		grep -q "vmm: host" "$tmp/vm.log"; then ok cli_log_file_gets_the_serial_console
	else bad cli_log_file_gets_the_serial_console "$(head -5 "$tmp/vm.log" 2>&1)"; fi

	# vmscope attach lists the host's KVM VMs: a running vmscope (its vCPU and the stats fd it
	# holds), and QEMU where it is installed (a real-mode loop, stopped with -S: its vCPU exists,
	# its -name is the guest's).
	"$BIN" run --headless --duration 60 --interval 200 >"$tmp/att.jsonl" 2>/dev/null &
	vpid=$!
	qpid=
	if command -v qemu-system-x86_64 >/dev/null; then
		head -c 65536 /dev/zero | tr '\0' '\364' >"$tmp/bios.bin" # hlt, and at the reset vector:
		printf '\353\376' | dd of="$tmp/bios.bin" bs=1 seek=65520 conv=notrunc 2>/dev/null # jmp .
		qemu-system-x86_64 -accel kvm -bios "$tmp/bios.bin" -display none -nodefaults -monitor none \
			-serial none -name guest=vmscope-attach-test -S >/dev/null 2>&1 &
		qpid=$!
	fi
	wait_for 30 json_lines "$tmp/att.jsonl" 2
	[ -n "$qpid" ] && wait_for 30 sh -c "'$BIN' attach | grep -q '^$qpid '"
	"$BIN" attach >"$tmp/att" 2>"$tmp/atterr"
	rc=$?
	if [ $rc -ne 0 ] || [ -s "$tmp/atterr" ]; then bad cli_attach_lists_the_kvm_vms "exit $rc: $(cat "$tmp/atterr")"
	elif ! grep -Eq "^$vpid +vmscope +1 +1 +\(its built-in guest\)" "$tmp/att"; then bad cli_attach_lists_the_kvm_vms "no vmscope $vpid: $(cat "$tmp/att")"
	elif [ -n "$qpid" ] && ! grep -Eq "^$qpid +QEMU +1 +0 +vmscope-attach-test\$" "$tmp/att"; then bad cli_attach_lists_the_kvm_vms "no QEMU $qpid: $(cat "$tmp/att")"
	else ok "cli_attach_lists_the_kvm_vms$([ -z "$qpid" ] && echo " (vmscope only: QEMU is not installed)")"; fi
	kill "$vpid" $qpid 2>/dev/null
	wait "$vpid" $qpid 2>/dev/null

	# --pcap writes a file that tcpdump reads: the guest's pings and the namespace's replies.
	if [ "$(id -u)" -eq 0 ] && [ -e /dev/net/tun ] && command -v tcpdump >/dev/null; then
		if "$BIN" run --headless --duration 1 --workload ping --rate 200 --pcap "$tmp/p.pcap" >/dev/null 2>"$tmp/e"; then
			req=$(tcpdump -nr "$tmp/p.pcap" 2>/dev/null | grep -c "ICMP echo request")
			rep=$(tcpdump -nr "$tmp/p.pcap" 2>/dev/null | grep -c "ICMP echo reply")
			# Every request answered, but the one in flight when the run ended.
			if [ "$req" -gt 0 ] && [ "$rep" -le "$req" ] && [ "$rep" -ge $((req - 1)) ]; then ok cli_pcap_file_reads_in_tcpdump
			else bad cli_pcap_file_reads_in_tcpdump "requests $req, replies $rep"; fi
		else bad cli_pcap_file_reads_in_tcpdump "exit $?: $(cat "$tmp/e")"; fi
	else skp cli_pcap_file_reads_in_tcpdump "needs root, /dev/net/tun and tcpdump"; fi

	# The duration is honoured whatever the interval (a minute here): the run ends long before
	# the first tick would, and its one record covers the part-tick.
	start=$(date +%s%N)
	"$BIN" run --headless --duration 1 --interval 60000 --no-bpf >"$tmp/d" 2>"$tmp/e"
	took=$((($(date +%s%N) - start) / 1000000))ms
	if [ "$(wc -l <"$tmp/d")" -eq 1 ] && [ "${took%ms}" -lt 30000 ] &&
		jq -e 'select(.dt >= 1 and .dt < 30)' "$tmp/d" >/dev/null; then ok cli_duration_beats_a_long_interval
	else bad cli_duration_beats_a_long_interval "took ${took}: $(head -c 200 "$tmp/d")"; fi

	# A hung guest is reported by the VMM's own watchdog (2 s), not at the next tick (a minute)
	# nor at the end of the run (two minutes); exit 3.
	start=$(date +%s%N)
	"$BIN" run --headless --duration 120 --interval 60000 --workload fault:hang --nic none --no-bpf >"$tmp/h" 2>"$tmp/e"
	rc=$? took=$((($(date +%s%N) - start) / 1000000))ms
	if [ $rc -eq 3 ] && [ "${took%ms}" -lt 50000 ] && tail -1 "$tmp/h" | jq -e '.state == "failed"' >/dev/null &&
		grep -q "stopped responding" "$tmp/e"; then ok cli_hang_is_reported_within_the_watchdog_timeout
	else bad cli_hang_is_reported_within_the_watchdog_timeout "exit $rc after ${took}: $(cat "$tmp/e")"; fi

	# Every terminating signal ends the run cleanly: namespace gone, pcap complete.
	if [ "$(id -u)" -eq 0 ] && [ -e /dev/net/tun ] && command -v tcpdump >/dev/null; then
		for sig in HUP INT TERM QUIT; do
			"$BIN" run --headless --interval 250 --workload ping --rate 200 --no-bpf --pcap "$tmp/s.pcap" \
				>"$tmp/s.out" 2>"$tmp/e" &
			pid=$!
			# Killed once its records say 100 pings went out: the pcap must hold them all.
			wait_for 60 last_record_has "$tmp/s.out" '.net.pps_tx.total >= 100'
			kill -s $sig $pid
			wait $pid
			rc=$?
			want=$((128 + $(kill -l $sig)))
			[ $sig = INT ] && want=0
			tcpdump -nr "$tmp/s.pcap" >/dev/null 2>"$tmp/td"
			if [ $rc -ne $want ]; then bad cli_signal_$sig "exit $rc, wanted $want: $(cat "$tmp/e")"
			elif [ -e "/run/netns/vmscope-$pid" ]; then bad cli_signal_$sig "namespace vmscope-$pid left behind"
			elif grep -qi truncated "$tmp/td"; then bad cli_signal_$sig "pcap truncated: $(cat "$tmp/td")"
			elif [ "$(tcpdump -nr "$tmp/s.pcap" 2>/dev/null | grep -c 'ICMP echo request')" -lt 100 ]; then
				bad cli_signal_$sig "the pcap holds too few pings"
			else ok cli_signal_$sig; fi
		done
	else skp cli_signals_end_cleanly "needs root, /dev/net/tun and tcpdump"; fi

	# The capture is open before the guest's first frame: its ARP request and ping seq 1.
	if [ "$(id -u)" -eq 0 ] && [ -e /dev/net/tun ] && command -v tcpdump >/dev/null; then
		"$BIN" run --headless --duration 3 --workload ping --rate 500 --no-bpf --pcap "$tmp/f.pcap" >/dev/null 2>"$tmp/e"
		tcpdump -nr "$tmp/f.pcap" 2>/dev/null >"$tmp/f.txt"
		if head -1 "$tmp/f.txt" | grep -q "ARP, Request who-has 10.77.0.1" &&
			grep "ICMP echo request" "$tmp/f.txt" | head -1 | grep -q "seq 1,"; then
			ok cli_capture_sees_the_first_frame
		else bad cli_capture_sees_the_first_frame "$(head -3 "$tmp/f.txt")"; fi
	else skp cli_capture_sees_the_first_frame "needs root, /dev/net/tun and tcpdump"; fi

	# --no-capture: the capture says it is off and why; the guest's traffic still flows.
	if [ "$(id -u)" -eq 0 ] && [ -e /dev/net/tun ]; then
		"$BIN" run --headless --duration 1.5 --workload ping --rate 500 --no-bpf --no-capture >"$tmp/nc" 2>"$tmp/e"
		if tail -1 "$tmp/nc" | jq -e '.net.capture.on == false and (.net.capture.why | test("--no-capture"))
				and .net.pps_tx.total > 0' >/dev/null; then ok cli_no_capture_says_so
		else bad cli_no_capture_says_so "$(tail -1 "$tmp/nc" | jq -c .net.capture) $(cat "$tmp/e")"; fi
	else skp cli_no_capture_says_so "needs root and /dev/net/tun"; fi

	# The dashboard in a real terminal: draws, takes keys, quits and restores the terminal.
	if command -v tmux >/dev/null; then
		T="tmux -L vmscope-test"
		$T kill-server 2>/dev/null
		$T new-session -d -x 100 -y 36 -s dash "$BIN --interval 300; echo VMSCOPE-EXITED \$?; sleep 30"
		seen=""
		wait_for 30 eval "$T capture-pane -p -t dash >'$tmp/screen' && grep -q pio_eventfd '$tmp/screen' &&
			grep -q 'guest: ' '$tmp/screen'" && seen=1
		$T send-keys -t dash 3
		pane_until "$T" dash "$tmp/screen2" "\| exits:mmio_vmm @"
		$T resize-window -t dash -x 90 -y 30 2>/dev/null
		pane_until "$T" dash "$tmp/screen3" "EXITS /s"
		$T send-keys -t dash q
		pane_until "$T" dash "$tmp/screen4" "VMSCOPE-EXITED"
		if [ -z "$seen" ]; then bad cli_dashboard_keys "no exits table or guest log: $(cat "$tmp/screen")"
		elif ! grep -q "| exits:mmio_vmm @" "$tmp/screen2"; then bad cli_dashboard_keys "key 3 did not switch to mmio_vmm: $(head -2 "$tmp/screen2")"
		elif ! grep -q "EXITS /s" "$tmp/screen3"; then bad cli_dashboard_keys "no redraw after resize: $(cat "$tmp/screen3")"
		elif ! grep -q "VMSCOPE-EXITED 0" "$tmp/screen4"; then bad cli_dashboard_keys "q did not quit cleanly: $(cat "$tmp/screen4")"
		else ok cli_dashboard_keys; fi
		$T kill-server 2>/dev/null

		T2="tmux -L vmscope-test-small"
		# 80x24, the minimum: every NETWORK row on its own line, "-" for the ping figures
		# under tx, the help screen, and the caption of key a.
		$T2 new-session -d -x 80 -y 24 -s small "$BIN --interval 300 --workload tx --rate 500; echo VMSCOPE-EXITED \$?; sleep 30"
		small_ready() {
			$T2 capture-pane -p -t small >"$tmp/s1" && grep -q "NETWORK  virtio" "$tmp/s1" &&
				[ "$(grep -cE '^  (guest   tx|device  tx|per pkt exits|peer    sink|capture )' "$tmp/s1")" -ge 4 ] &&
				grep -qE 'ping p50 +- p99 +- ' "$tmp/s1"
		}
		wait_for 30 small_ready
		$T2 send-keys -t small '?'
		pane_until "$T2" small "$tmp/s2" "vmscope help"
		# At 80x24 the help scrolls: space shows the rest, every line of it in turn.
		$T2 send-keys -t small ' '
		pane_until "$T2" small "$tmp/s2b" "SOURCES   the busiest counters"
		$T2 send-keys -t small z
		$T2 send-keys -t small a
		pane_until "$T2" small "$tmp/s3" "exits of every kind in turn"
		net_rows=$(grep -cE '^  (guest   tx|device  tx|per pkt exits|peer    sink|capture )' "$tmp/s1")
		if ! grep -q "NETWORK  virtio" "$tmp/s1"; then bad cli_dashboard_80x24 "no NETWORK panel: $(cat "$tmp/s1")"
		elif [ "$net_rows" -lt 4 ]; then bad cli_dashboard_80x24 "NETWORK rows run into each other: $(grep -A6 NETWORK "$tmp/s1")"
		elif ! grep -qE 'ping p50 +- p99 +- ' "$tmp/s1"; then bad cli_dashboard_80x24 "ping figures shown under tx: $(grep 'guest   tx' "$tmp/s1")"
		elif ! grep -q "vmscope help" "$tmp/s2" || ! grep -q "per pkt: nic = exits at the card" "$tmp/s2"; then bad cli_dashboard_80x24 "? shows no help: $(head -3 "$tmp/s2")"
		elif ! grep -q "SOURCES   the busiest counters" "$tmp/s2b" || ! grep -q "lines .* of " "$tmp/s2b"; then
			bad cli_dashboard_80x24 "space does not scroll the help to its end: $(tail -3 "$tmp/s2b")"
		elif ! grep -q "exits of every kind in turn" "$tmp/s3"; then bad cli_dashboard_80x24 "key a says: $(tail -1 "$tmp/s3")"
		else ok cli_dashboard_80x24; fi

		# A closed terminal (SIGHUP) ends the session cleanly: no namespace is left.
		pid=$(pgrep -n -x vmscope)
		$T2 kill-session -t small
		wait_for 30 eval "! kill -0 '$pid' 2>/dev/null"
		if [ -z "$pid" ]; then bad cli_dashboard_hangup "no vmscope process found"
		elif kill -0 "$pid" 2>/dev/null; then bad cli_dashboard_hangup "vmscope $pid still runs after SIGHUP"
		elif [ -e "/run/netns/vmscope-$pid" ]; then bad cli_dashboard_hangup "namespace vmscope-$pid left behind"
		else ok cli_dashboard_hangup; fi
		$T2 kill-server 2>/dev/null
	else skp cli_dashboard_keys "tmux is not installed"; fi
fi

echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
