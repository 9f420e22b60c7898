#!/usr/bin/env bash
# The observer's own cost, on the real binary: the probes' figures from the kernel's accounting add
# up, and vmscope's probes change nothing another tool sees (perf, a second vmscope).
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-$PWD/build/vmscope}
. tests/lib.sh
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

probes=false why="needs root and KVM for the eBPF probes"
if [ "$(id -u)" -eq 0 ] && [ -e /dev/kvm ]; then
	"$BIN" run --headless --duration 1 --no-capture --workload idle >"$tmp/probe.jsonl" 2>/dev/null
	if last_record_has "$tmp/probe.jsonl" '.bpf.on and .bpf.cost != null'; then probes=true
	elif last_record_has "$tmp/probe.jsonl" '.bpf.on'; then why="this kernel does not account BPF run time (BPF_ENABLE_STATS)"
	else why="the probes do not load here: $(tail -n 1 "$tmp/probe.jsonl" | jq -r '.bpf.why // "no record"')"; fi
fi
# total FILE LINE JQPATH: a counter's total in one record (1-based line), 0 where absent.
total() { sed -n "${2}p" "$1" | jq -r "($3 // {total: 0}).total"; }
# within A B TOL: |A - B| <= TOL
within() { local d=$(($1 - $2)); [ "${d#-}" -le "$3" ]; }

# A known amount of work, not a time: paced exits of one kind, records at 10 Hz, until the
# guest has made N of them (the wait's bound is for a hang only), then Ctrl-C.
start_paced() { # OUT KIND [ENV=VALUE...]: in the background, its pid in $!
	local out=$1 kind=$2
	shift 2
	env "$@" "$BIN" run --headless --interval 100 --no-capture --workload "exits:$kind" --rate 1000 >"$out" 2>"$out.err" &
}
guest_made() { last_record_has "$1" "(.by_source.guest.$2.total // 0) >= $3"; } # FILE KIND N
stop() { kill -INT "$1" 2>/dev/null; wait "$1"; }
run_until() { # OUT KIND N
	start_paced "$1" "$2"
	local vm=$!
	pids+=("$vm")
	wait_for 120 guest_made "$1" "$2" "$3"
	stop "$vm"
}

if $probes; then
	# ---- The kernel's accounting is on in windows (one tick in sampled_every): in the last one,
	# the kernel's run count is the runs the probes counted themselves (the events, and the runs
	# that counted nothing: another process's events, halves of one); every run is counted, and
	# the time is there and plausible. ----
	for kind in pio_vmm mmio_vmm; do
		run_until "$tmp/cost.jsonl" $kind 3000
		n=$(wc -l <"$tmp/cost.jsonl")
		runs=$(total "$tmp/cost.jsonl" "$n" .bpf.cost.runs)
		passed=$(($(total "$tmp/cost.jsonl" "$n" .bpf.cost.other_processes) + $(total "$tmp/cost.jsonl" "$n" .bpf.cost.uncounted)))
		events=$(sed -n "${n}p" "$tmp/cost.jsonl" | jq '[.bpf.events[] | .total] | add')
		kruns=$(sed -n "${n}p" "$tmp/cost.jsonl" | jq '.bpf.cost.window.runs // 0')
		counted=$(sed -n "${n}p" "$tmp/cost.jsonl" | jq '.bpf.cost.window.counted // 0')
		# The maps and the programs' info are read a moment apart at each edge of the window.
		if ! last_record_has "$tmp/cost.jsonl" '.bpf.cost.source == "kernel" and .bpf.cost.sampled_every > 1 and .bpf.cost.window.seq > 0 and .bpf.cost.window.run_ns > 0 and .bpf.cost.ns_per_event > 0 and .bpf.cost.vcpu_share > 0 and .bpf.cost.vcpu_share < 1 and .bpf.cost.run_ns.total > 0'; then
			bad "observer_cost_figures_add_up_$kind" "no whole cost figures: $(tail -n 1 "$tmp/cost.jsonl" | jq -c .bpf.cost)"
		elif [ "$events" -lt 3000 ] || [ "$runs" -ne $((events + passed)) ]; then
			bad "observer_cost_figures_add_up_$kind" "the probes counted $events events for 3000 exits, $runs runs with $passed passed over"
		elif [ "$counted" -lt 20 ] || ! within "$kruns" "$counted" $((counted / 100 + 10)); then
			bad "observer_cost_figures_add_up_$kind" "in the kernel's window it ran the probes $kruns times; they counted $counted runs"
		else ok "observer_cost_figures_add_up_$kind"; fi
	done
	echo "    cost: $runs runs ($events counted, $passed passed over); in the kernel's last window $kruns runs, $counted counted; $(tail -n 1 "$tmp/cost.jsonl" | jq -r '"\(.bpf.cost.ns_per_event) ns an event, \(.bpf.cost.vcpu_share * 100) % of the vCPU"')"

	# ---- Without the probes there is no cost to show: none in the records, '-' on screen. ----
	"$BIN" run --headless --duration 1 --no-bpf --no-capture >"$tmp/nobpf.jsonl" 2>/dev/null
	if last_record_has "$tmp/nobpf.jsonl" '.bpf.on == false and .bpf.cost == null'; then ok observer_no_probes_no_cost
	else bad observer_no_probes_no_cost "$(tail -n 1 "$tmp/nobpf.jsonl" | jq -c .bpf)"; fi
else
	skp observer_cost_figures_add_up "$why"
fi

# ---- perf counts what the guest made while vmscope's probes watch the same tracepoint: on the
# VMM, and system-wide. Before, it counted 0 (the probes' return value hid every event). ----
if $probes && command -v perf >/dev/null && perf stat -e kvm:kvm_pio -x, -o /dev/null true 2>/dev/null; then
	# p, a: the BTF raw tracepoints; c: the classic tracepoint programs (a kernel without the BTF)
	for scope in p a c; do
		classic=0
		[ $scope = c ] && classic=1
		start_paced "$tmp/perf.jsonl" pio_vmm VMSCOPE_BPF_CLASSIC=$classic
		vm=$!
		pids+=("$vm")
		wait_for 60 json_lines "$tmp/perf.jsonl" 10
		# perf watches while the guest makes 2000 more exits (a known amount, not a time).
		n0=$(wc -l <"$tmp/perf.jsonl")
		g0=$(total "$tmp/perf.jsonl" "$n0" .by_source.guest.pio_vmm)
		if [ $scope != a ]; then perf stat -x, -o "$tmp/perf.txt" -e kvm:kvm_pio -p "$vm" &
		else perf stat -x, -o "$tmp/perf.txt" -e kvm:kvm_pio -a & fi
		perf_pid=$!
		wait_for 120 guest_made "$tmp/perf.jsonl" pio_vmm $((g0 + 2000))
		stop "$perf_pid"
		n1=$(wc -l <"$tmp/perf.jsonl")
		# Which programs watched: the classic ones are named after the tracepoint, kvm_pio.
		loaded=$(bpftool -j prog show 2>/dev/null | jq -r '[.[] | select(.name | startswith("kvm_pio"))] | map(.name) | join(" ")')
		stop "$vm"
		seen=$(grep kvm:kvm_pio "$tmp/perf.txt" | cut -d, -f1)
		counted=$(($(total "$tmp/perf.jsonl" "$n1" .bpf.events.kvm_pio) - $(total "$tmp/perf.jsonl" "$n0" .bpf.events.kvm_pio)))
		guest=$(($(total "$tmp/perf.jsonl" "$n1" .by_source.guest.pio_vmm) - $(total "$tmp/perf.jsonl" "$n0" .by_source.guest.pio_vmm)))
		# System-wide, perf also counts other processes' guests: the probes pass those over.
		others=0
		[ $scope = a ] && others=$(($(total "$tmp/perf.jsonl" "$n1" .bpf.cost.other_processes) - $(total "$tmp/perf.jsonl" "$n0" .bpf.cost.other_processes)))
		echo "    perf -$scope: perf counted ${seen:-nothing}, vmscope's probes $counted (and passed over $others), the guest $guest over the same window"
		# perf's window and the records' differ by up to a tick at each end: 2 x 100 ms.
		if [ $scope = c ] && [ "$loaded" != kvm_pio ]; then bad "observer_perf_sees_every_event_$scope" "VMSCOPE_BPF_CLASSIC=1 loaded '$loaded', not the classic kvm_pio"
		elif ! [[ ${seen:-} =~ ^[0-9]+$ ]]; then bad "observer_perf_sees_every_event_$scope" "perf printed: $(cat "$tmp/perf.txt")"
		elif [ "$guest" -lt 1000 ]; then bad "observer_perf_sees_every_event_$scope" "the guest made only $guest exits in perf's window (2000 were waited for)"
		elif [ "$seen" -lt $((counted - counted / 10 - 20)) ] || [ "$seen" -gt $((counted + others + counted / 10 + 20)) ]; then
			bad "observer_perf_sees_every_event_$scope" "perf counted $seen kvm_pio events where vmscope's probes counted $counted"
		else ok "observer_perf_sees_every_event_$scope"; fi
	done
else
	skp observer_perf_sees_every_event "needs the probes ($why) and perf with the kvm tracepoints (Debian: linux-perf)"
fi

# ---- Two vmscopes side by side: each one's probes count its own guest's every exit, and pass the
# other's over, as if it were alone. ----
if $probes; then
	# Both run until each guest has made 3000 exits: every exit of one is made while the other
	# watches.
	start_paced "$tmp/a.jsonl" pio_eventfd
	a=$!
	start_paced "$tmp/b.jsonl" mmio_eventfd
	b=$!
	pids+=("$a" "$b")
	wait_for 120 guest_made "$tmp/a.jsonl" pio_eventfd 3000
	wait_for 120 guest_made "$tmp/b.jsonl" mmio_eventfd 3000
	stop "$a"
	stop "$b"
	good=true
	for x in a:pio_eventfd b:mmio_eventfd; do
		f=$tmp/${x%%:*}.jsonl k=${x#*:}
		n=$(wc -l <"$f")
		# A record reads the guest's counters and the map a moment apart (how long, the
		# scheduler decides), so the probes' count in one record is checked against the
		# guest's in the records before and after it, which bracket it: no skew to guess.
		m=$((n - 1))
		g=$(total "$f" "$m" ".by_source.guest.$k") p=$(total "$f" "$m" ".by_source.bpf.$k")
		g_lo=$(total "$f" $((m - 1)) ".by_source.guest.$k") g_hi=$(total "$f" "$n" ".by_source.guest.$k")
		passed=$(total "$f" "$m" .bpf.cost.other_processes)
		echo "    ${x%%:*} ($k): guest $g, its probes $p (the guest's records around it: $g_lo .. $g_hi), passed over $passed"
		if [ "$g" -lt 2000 ] || [ "$p" -lt "$g_lo" ] || [ "$p" -gt "$g_hi" ]; then good=false
			bad observer_two_vmscopes_count_their_own "${x%%:*}: the guest made $g_lo .. $g_hi $k exits around the record, its probes counted $p"
		elif [ "$passed" -lt 1000 ]; then good=false
			bad observer_two_vmscopes_count_their_own "${x%%:*} passed over only $passed events of other processes"
		fi
	done
	$good && ok observer_two_vmscopes_count_their_own
else
	skp observer_two_vmscopes_count_their_own "$why"
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
