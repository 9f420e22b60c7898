#!/usr/bin/env bash
# vmscope attach PID on the real binary, against VMMs it did not start: a second vmscope (whose
# own records say what its guest did) and QEMU from Debian (whose QMP query-stats says what KVM
# counted). Each check freezes the watched VM at known points, so the figures compared are of the
# same exits: no rate, no time window.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-$PWD/build/vmscope}
. tests/lib.sh
tmp=$(mktemp -d)
pids=()
# shellcheck disable=SC2154 # p is the trap's own loop variable
trap 'for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; tmux -L vmscope-attach kill-server 2>/dev/null; rm -rf "$tmp"' EXIT

can=false why="needs root (the eBPF probes, another user's VMM) and /dev/kvm"
[ "$(id -u)" -eq 0 ] && [ -e /dev/kvm ] && can=true
# line FILE N JQ: field JQ of line N of FILE
line() { sed -n "${2}p" "$1" | jq -r "$3"; }
lines() { wc -l <"$1"; }
# froze FILE: the line count of a record file, once it stops growing while its writer is stopped
# (a record being written when the stop came is whole once its write ends).
settled() { local n; n=$(lines "$1"); sleep 0.3; [ "$n" -eq "$(lines "$1")" ]; }
# newer FILE N K: FILE has at least K lines after line N
newer() { [ "$(lines "$1")" -ge $(($2 + $3)) ]; }

if $can; then
	# ---- A second vmscope, paced port exits: attach sees its vCPU's stats as its own records
	# do, and its probes count the guest's own port writes. ----
	"$BIN" run --headless --interval 100 --no-capture --nic none --workload exits:pio_vmm --rate 2000 \
		>"$tmp/target.jsonl" 2>"$tmp/target.err" &
	target=$!
	pids+=("$target")
	wait_for 60 json_lines "$tmp/target.jsonl" 3
	"$BIN" attach "$target" --headless --interval 100 >"$tmp/att.jsonl" 2>"$tmp/att.err" &
	att=$!
	pids+=("$att")
	wait_for 60 json_lines "$tmp/att.jsonl" 3
	# Two freezes of the target (SIGSTOP: its vCPU and its ticks stand still). At each, the
	# target's record before it and its second record after it bracket what attach read then.
	declare -a g_lo g_hi s_lo s_hi a_pio a_exits a_uio i_lo i_hi a_irq
	irqs='[.guest.interrupts | .timer, .doorbell, .self_ipi, .nic | .total // 0] | add'
	for f in 0 1; do
		[ $f = 1 ] && wait_for 60 newer "$tmp/target.jsonl" "$(lines "$tmp/target.jsonl")" 20
		kill -STOP "$target"
		wait_for 10 settled "$tmp/target.jsonl"
		nb=$(lines "$tmp/target.jsonl")
		na=$(lines "$tmp/att.jsonl")
		wait_for 10 newer "$tmp/att.jsonl" "$na" 3 # attach reads the frozen VM
		ma=$(lines "$tmp/att.jsonl")
		a_pio[f]=$(line "$tmp/att.jsonl" "$ma" '.attached.pio_by_port["0x510"].total // 0')
		a_uio[f]=$(line "$tmp/att.jsonl" "$ma" '.bpf.userspace_exit_reasons.IO.total // 0')
		a_exits[f]=$(line "$tmp/att.jsonl" "$ma" '.attached.per_vcpu[0].exits.total // -1')
		a_irq[f]=$(line "$tmp/att.jsonl" "$ma" '[.attached.irq_by_vector[].total] | add // 0')
		frozen=$ma
		kill -CONT "$target"
		wait_for 10 newer "$tmp/target.jsonl" "$nb" 2
		g_lo[f]=$(line "$tmp/target.jsonl" "$nb" '.by_source.guest.pio_vmm.total')
		g_hi[f]=$(line "$tmp/target.jsonl" $((nb + 2)) '.by_source.guest.pio_vmm.total')
		s_lo[f]=$(line "$tmp/target.jsonl" "$nb" '.stats.exits.total')
		s_hi[f]=$(line "$tmp/target.jsonl" $((nb + 2)) '.stats.exits.total')
		i_lo[f]=$(line "$tmp/target.jsonl" "$nb" "$irqs")
		i_hi[f]=$(line "$tmp/target.jsonl" $((nb + 2)) "$irqs")
	done
	kill -INT "$att"
	wait "$att"
	rc=$?
	made=$((a_pio[1] - a_pio[0]))
	echo "    attach: the guest's port writes between the freezes $made (the target's own records: ${g_lo[1]}-${g_hi[0]} .. ${g_hi[1]}-${g_lo[0]}); the stats fd's exits ${a_exits[1]} (the target's: ${s_lo[1]} .. ${s_hi[1]})"
	if [ $rc -ne 0 ] || [ -s "$tmp/att.err" ]; then bad attach_a_vmscope_agrees_with_its_records "attach: exit $rc: $(cat "$tmp/att.err")"
	elif ! last_record_has "$tmp/att.jsonl" '.attached.vmm == "vmscope" and .attached.vcpus == 1 and (.attached.per_vcpu | length) == 1 and .bpf.on'; then
		bad attach_a_vmscope_agrees_with_its_records "$(tail -n 1 "$tmp/att.jsonl" | jq -c '.attached | del(.absent)')"
	elif [ "${a_exits[1]}" -lt "${s_lo[1]}" ] || [ "${a_exits[1]}" -gt "${s_hi[1]}" ]; then
		bad attach_a_vmscope_agrees_with_its_records "attach read ${a_exits[1]} exits on the stats fd; the target's own records say ${s_lo[1]} before the freeze, ${s_hi[1]} after"
	elif [ "$made" -lt 1000 ]; then bad attach_a_vmscope_agrees_with_its_records "only $made port writes between the freezes"
	elif [ "$made" -lt $((g_lo[1] - g_hi[0])) ] || [ "$made" -gt $((g_hi[1] - g_lo[0])) ]; then
		bad attach_a_vmscope_agrees_with_its_records "attach's probes counted $made port writes; the guest counted between $((g_lo[1] - g_hi[0])) and $((g_hi[1] - g_lo[0]))"
	elif [ $((a_uio[1] - a_uio[0])) -ne "$made" ]; then
		bad attach_a_vmscope_agrees_with_its_records "userspace IO exits $((a_uio[1] - a_uio[0])) against $made port writes"
	else ok attach_a_vmscope_agrees_with_its_records; fi

	# The interrupts its LAPIC accepted between the freezes are those its guest took.
	took=$((a_irq[1] - a_irq[0]))
	echo "    attach: interrupts accepted between the freezes $took (the guest took ${i_lo[1]}-${i_hi[0]} .. ${i_hi[1]}-${i_lo[0]})"
	if [ "$took" -gt 0 ] && [ "$took" -ge $((i_lo[1] - i_hi[0])) ] && [ "$took" -le $((i_hi[1] - i_lo[0])) ] &&
		last_record_has "$tmp/att.jsonl" '.attached.halt_wakeups.waited.total + .attached.halt_wakeups.polled.total > 0'; then
		ok attach_sees_its_interrupts_and_halts
	else bad attach_sees_its_interrupts_and_halts "$took interrupts; $(tail -n 1 "$tmp/att.jsonl" | jq -c '[.attached.irq_by_vector, .attached.halt_wakeups]')"; fi

	# The userspace exits are timed, read while the VM stood still. Where every exit is timed the
	# IO exits' distribution counts each of them (but the one the freeze left outside the guest,
	# which is not over). Where they are timed in windows (kvm_pvm: sampled_every), each timed
	# exit is two of kvm_fpu's runs, KVM_RUN's return and its next entry, which run in the
	# windows only: it counts fewer than all, and no more than those runs can end.
	sed -n "${frozen}p" "$tmp/att.jsonl" >"$tmp/frozen.json"
	# shellcheck disable=SC2016 # jq's variables
	if last_record_has "$tmp/frozen.json" '.attached.latency.what == "userspace_exit_to_kvm_run" or .attached.latency.what == "kvm_exit_to_kvm_entry"' &&
		last_record_has "$tmp/frozen.json" '[.attached.latency.by_reason[] | select(.reason == "IO")][0] as $io | .bpf.userspace_exit_reasons.IO.total as $n | (.attached.latency.sampled_every // 0) as $every | $io.count > 0 and (if $every > 0 then $io.count < $n and 2 * $io.count <= .bpf.events.kvm_fpu.total else ($io.count == $n or $io.count == $n - 1) end) and $io.p50_us > 0 and $io.p50_us <= $io.p99_us and $io.p99_us <= $io.max_us and ([$io.hist_log2_ns[]] | add) == $io.count'; then
		ok attach_times_each_exit
		echo "    attach: $(jq -r '"\([.attached.latency.by_reason[] | select(.reason == "IO")][0].count) of \(.bpf.userspace_exit_reasons.IO.total) IO exits timed (sampled_every: \(.attached.latency.sampled_every // "every exit"))"' "$tmp/frozen.json")"
	else bad attach_times_each_exit "$(jq -c '{l: .attached.latency | del(.by_reason[].hist_log2_ns), u: .bpf.userspace_exit_reasons, fpu: .bpf.events.kvm_fpu}' "$tmp/frozen.json")"; fi
	# What watching costs, as the kernel accounts it, adds up: in its last window (the kernel's
	# accounting is on one tick in sampled_every) that saw the VM run, the kernel ran the probes as
	# many times as they counted themselves, the KVM_RUN entries and exits that end a timed exit
	# among them (the maps and the kernel are read a moment apart at each edge).
	# shellcheck disable=SC2016 # jq's variables
	if jq -se '[.[] | .bpf.cost.window | select(. != null and .counted >= 20)] | last as $w | $w != null and $w.run_ns > 0 and (($w.runs - $w.counted) | fabs) <= ($w.counted / 100 + 10)' "$tmp/att.jsonl" >/dev/null &&
		last_record_has "$tmp/frozen.json" '.bpf.cost.source == "kernel" and .bpf.cost.run_ns.total > 0 and .bpf.cost.runs.total == ([.bpf.events[].total] | add) + .bpf.cost.other_processes.total + .bpf.cost.uncounted.total'; then
		ok attach_cost_figures_add_up
		echo "    attach's probes: $(jq -r '"\(.bpf.cost.ns_per_event) ns a run (in the kernel window: \(.bpf.cost.window.runs) runs, \(.bpf.cost.window.counted) counted), \(.bpf.cost.runs.total) runs for \(.bpf.userspace_exit_reasons.IO.total) port exits"' "$tmp/frozen.json")"
	else bad attach_cost_figures_add_up "$(jq -c '{cost: .bpf.cost, events: ([.bpf.events[].total] | add)}' "$tmp/frozen.json")"; fi

	# ---- --sample: the probes on for one tick in 8. What they count is of those ticks: fewer
	# port writes than the guest made meanwhile, and from the first window that had a rate on,
	# every rate is the last window's, not a 0 between windows. ----
	g0=$(tail -n 1 "$tmp/target.jsonl" | jq '.by_source.guest.pio_vmm.total')
	"$BIN" attach "$target" --headless --sample --interval 100 --duration 2 >"$tmp/s.jsonl" 2>"$tmp/s.err"
	rc=$?
	g1=$(tail -n 1 "$tmp/target.jsonl" | jq '.by_source.guest.pio_vmm.total')
	sp=$(tail -n 1 "$tmp/s.jsonl" | jq '.attached.pio_by_port["0x510"].total // 0')
	echo "    attach --sample: $sp port writes counted in its windows of the guest's $((g1 - g0)) or more"
	# shellcheck disable=SC2016 # jq's variables
	if [ $rc -ne 0 ] || [ -s "$tmp/s.err" ]; then bad attach_sample_counts_in_windows "exit $rc: $(cat "$tmp/s.err")"
	elif ! last_record_has "$tmp/s.jsonl" '.bpf.sampled_every == 8 and .attached.latency.sampled_every == 8'; then
		bad attach_sample_counts_in_windows "$(tail -n 1 "$tmp/s.jsonl" | jq -c '[.bpf.sampled_every, .attached.latency.sampled_every]')"
	elif [ "$sp" -lt 1 ] || [ "$sp" -ge $((g1 - g0 + 100)) ]; then
		bad attach_sample_counts_in_windows "$sp port writes counted; the guest made about $((g1 - g0))"
	elif ! jq -se '[.[] | .attached.pio_by_port["0x510"].per_s // 0] as $r | ($r | map(. > 0) | index(true)) as $i | $i != null and ($r[$i:] | length > 8 and all(. > 0))' "$tmp/s.jsonl" >/dev/null; then
		bad attach_sample_counts_in_windows "a rate fell to 0 between windows: $(jq -c '.attached.pio_by_port["0x510"]' "$tmp/s.jsonl" | tr '\n' ' ' | head -c 600)"
	else ok attach_sample_counts_in_windows; fi

	# ---- Its recording replays: the same records, without root or KVM. ----
	"$BIN" attach "$target" --headless --duration 0.5 --interval 100 --record "$tmp/att.rec.gz" >"$tmp/rec.jsonl" 2>"$tmp/rec.err"
	rc=$?
	"$BIN" replay "$tmp/att.rec.gz" --headless >"$tmp/replayed.jsonl" 2>"$tmp/replay.err"
	if [ $rc -ne 0 ] || [ ! -s "$tmp/rec.jsonl" ]; then bad attach_records_and_replays "attach --record: exit $rc: $(cat "$tmp/rec.err")"
	elif ! cmp -s "$tmp/rec.jsonl" "$tmp/replayed.jsonl"; then bad attach_records_and_replays "the replay differs: $(diff "$tmp/rec.jsonl" "$tmp/replayed.jsonl" | head -c 600)"
	else ok attach_records_and_replays; fi

	# ---- /metrics: the latency histograms, read by promtool. ----
	"$BIN" attach "$target" --headless --interval 100 --listen 127.0.0.1:0 >"$tmp/m.jsonl" 2>"$tmp/m.err" &
	mp=$!
	pids+=("$mp")
	wait_for 30 grep -q "serving metrics at" "$tmp/m.err"
	url=$(grep -o 'http://[^ ]*/metrics' "$tmp/m.err")
	wait_for 30 json_lines "$tmp/m.jsonl" 3
	# A scrape until one holds the IO exits' histogram (the bound is for a hang: CI once read
	# an empty body here, and the retry says what curl got).
	scraped() {
		curl -s -o "$tmp/metrics.txt" -w '%{http_code}' "$url" >"$tmp/curl.code"
		grep -q '^vmscope_exit_latency_seconds_bucket{reason="IO",kind="[a-z_]*",le="+Inf"} [1-9]' "$tmp/metrics.txt"
	}
	wait_for 30 scraped
	kill -INT "$mp"
	wait "$mp"
	echo "    /metrics: HTTP $(cat "$tmp/curl.code"), $(grep -vc '^#' "$tmp/metrics.txt") samples (attach at $url: $(tr '\n' ' ' <"$tmp/m.err"))"
	if ! grep -q '^vmscope_exit_latency_seconds_bucket{reason="IO",kind="[a-z_]*",le="+Inf"} [1-9]' "$tmp/metrics.txt" ||
		! grep -q "^vmscope_attached_info{pid=\"$target\",vmm=\"vmscope\"" "$tmp/metrics.txt"; then
		bad attach_serves_metrics "$(grep -v '^#' "$tmp/metrics.txt" | grep -v _bucket | head -20)"
	elif command -v promtool >/dev/null && ! promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.txt" 2>&1; then
		bad attach_serves_metrics "promtool: $(head -5 "$tmp/promtool.txt")"
	else ok "attach_serves_metrics$(command -v promtool >/dev/null || echo " (promtool is not installed: the format is not checked)")"; fi

	# ---- The dashboard: the attached VM's panels, our VM's keys refused, q quits. ----
	T="tmux -L vmscope-attach"
	$T kill-server 2>/dev/null
	$T new-session -d -x 80 -y 24 "'$BIN' attach $target; echo exited \$? >$tmp/dash.rc; sleep 30"
	if pane_until "$T" 0 "$tmp/pane" "EXIT LATENCY" && grep -q "vmscope attach | host .* | PID $target vmscope" "$tmp/pane" &&
		grep -q "^ VCPUS" "$tmp/pane" && grep -q "ATTACHED  ? help  q quit" "$tmp/pane"; then
		$T send-keys -t 0 t
		if pane_until "$T" 0 "$tmp/pane" "'t' drives vmscope's own VM; an attached VM is only watched"; then
			$T send-keys -t 0 q
			if wait_for 10 test -s "$tmp/dash.rc" && grep -q "exited 0" "$tmp/dash.rc"; then ok attach_dashboard
			else bad attach_dashboard "q did not end it: $(cat "$tmp/dash.rc" 2>/dev/null)"; fi
		else bad attach_dashboard "a live key was not refused: $(tail -n 2 "$tmp/pane")"; fi
	else bad attach_dashboard "$(cat "$tmp/pane")"; fi
	$T kill-server 2>/dev/null

	# ---- The VM goes: attach says so and ends, status 0; the last record says stopped. ----
	"$BIN" attach "$target" --headless --interval 100 >"$tmp/end.jsonl" 2>"$tmp/end.err" &
	ae=$!
	pids+=("$ae")
	wait_for 30 json_lines "$tmp/end.jsonl" 2
	kill -INT "$target"
	wait "$target"
	wait_for 30 sh -c "! kill -0 $ae 2>/dev/null"
	wait "$ae"
	rc=$?
	if [ $rc -eq 0 ] && grep -q "^vmscope: the VM exited (process $target " "$tmp/end.err" &&
		last_record_has "$tmp/end.jsonl" '.state == "stopped" and (.reason | startswith("the VM exited"))'; then
		ok attach_follows_the_vm_to_its_end
	else bad attach_follows_the_vm_to_its_end "exit $rc: $(cat "$tmp/end.err"); $(tail -n 1 "$tmp/end.jsonl" | jq -c '{state, reason}')"; fi
else
	skp attach_a_vmscope_agrees_with_its_records "$why"
fi

# ---- Least privilege: a user watches its own VM without root (the stats fds; the probes are
# off, and say they need root), and may not look into root's. In a private /dev whose kvm node
# the unprivileged user may open, as tests/cli.sh does. ----
if $can && command -v setpriv >/dev/null && unshare -m true 2>/dev/null; then
	cp "$BIN" "$tmp/vmscope" && chmod 755 "$tmp" "$tmp/vmscope"
	for f in u_target.jsonl u_target.err u_att.jsonl u_att.err; do
		: >"$tmp/$f"
		chmod 666 "$tmp/$f" # the unprivileged user writes them
	done
	# shellcheck disable=SC2016 # the inner shell's own variables
	unshare -m sh -c 'mount -t tmpfs none /dev && mknod -m 666 /dev/kvm c 10 232 && mknod -m 666 /dev/null c 1 3 &&
		exec setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "
			$1/vmscope run --headless --interval 200 --nic none --kind pio_vmm >$1/u_target.jsonl 2>$1/u_target.err &
			t=\$!
			n=0
			while [ \$(wc -l <$1/u_target.jsonl) -lt 2 ] && [ \$n -lt 600 ]; do sleep 0.1; n=\$((n + 1)); done
			$1/vmscope attach \$t --headless --duration 1 --interval 200 >$1/u_att.jsonl 2>$1/u_att.err
			kill \$t"' sh "$tmp"
	if last_record_has "$tmp/u_att.jsonl" '.attached.vmm == "vmscope" and (.attached.per_vcpu | length) == 1 and .attached.per_vcpu[0].exits.total > 0 and .bpf.on == false and (.bpf.why | test("need root")) and .attached.latency.what == "none"'; then
		ok attach_a_user_watches_its_own_vm
	else bad attach_a_user_watches_its_own_vm "$(cat "$tmp/u_att.err") $(tail -n 1 "$tmp/u_att.jsonl" | jq -c '{a: .attached | del(.absent), b: .bpf}' 2>&1 | head -c 600)"; fi
	# root's VM: not this user's to read (a vmscope of root's, while it runs).
	"$BIN" run --headless --interval 200 --nic none >"$tmp/r_target.jsonl" 2>/dev/null &
	rt=$!
	pids+=("$rt")
	wait_for 60 json_lines "$tmp/r_target.jsonl" 1
	expect attach_another_users_vm_is_refused 1 "process $rt's fds are not this user's to read: run vmscope attach as its user, or with sudo" -- \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/vmscope" attach "$rt" --headless --duration 1
	kill "$rt"
	wait "$rt" 2>/dev/null
else
	skp attach_a_user_watches_its_own_vm "needs root to set up an unprivileged user with KVM"
fi

# ---- QEMU (Debian's), a real-mode loop of port writes: attach's probes count its exits as KVM
# does (QMP query-stats), from a stop to a stop. ----
if $can && command -v qemu-system-x86_64 >/dev/null && command -v socat >/dev/null; then
	head -c 65536 /dev/zero | tr '\0' '\364' >"$tmp/bios.bin"
	# at F000:0000: mov al, 0x41; out 0x80, al; jmp the out. At the reset vector: jmp F000:0000.
	printf '\260\101\346\200\353\374' | dd of="$tmp/bios.bin" bs=1 seek=0 conv=notrunc 2>/dev/null
	printf '\352\000\000\000\360' | dd of="$tmp/bios.bin" bs=1 seek=65520 conv=notrunc 2>/dev/null
	qemu-system-x86_64 -accel kvm -bios "$tmp/bios.bin" -display none -nodefaults -monitor none \
		-serial none -smp 1,maxcpus=2 -name guest=vmscope-attach-qemu -S -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
		>"$tmp/qemu.log" 2>&1 &
	qemu=$!
	pids+=("$qemu")
	qmp() { # COMMAND...: each QMP command's answer, a line each
		{
			echo '{"execute":"qmp_capabilities"}'
			for c in "$@"; do echo "{\"execute\":$c}"; done
			sleep 0.3
		} | socat - "UNIX-CONNECT:$tmp/qmp.sock" | grep '"return"' | tail -n +2
	}
	exits() { qmp '"query-stats","arguments":{"target":"vcpu","providers":[{"provider":"kvm","names":["exits"]}]}' | jq '.return[0].stats[0].value'; }
	wait_for 30 test -S "$tmp/qmp.sock"
	"$BIN" attach "$qemu" --headless --interval 100 >"$tmp/q.jsonl" 2>"$tmp/q.err" &
	qa=$!
	pids+=("$qa")
	wait_for 30 json_lines "$tmp/q.jsonl" 2
	e0=$(exits)
	qmp '"cont"' >/dev/null
	wait_for 120 last_record_has "$tmp/q.jsonl" '(.attached.pio_by_port["0x80"].total // 0) >= 5000'
	qmp '"stop"' >/dev/null
	e1=$(exits)
	n=$(lines "$tmp/q.jsonl")
	wait_for 10 newer "$tmp/q.jsonl" "$n" 2
	kill -INT "$qa"
	wait "$qa"
	io=$(tail -n 1 "$tmp/q.jsonl" | jq '.attached.pio_by_port["0x80"].total // 0')
	echo "    QEMU: KVM counted $((e1 - e0)) exits between the cont and the stop (QMP); attach's probes $io port writes to 0x80"
	# Each loop turn is one exit; the cont and the stop add a few that are not port writes.
	if ! [[ $e0 =~ ^[0-9]+$ && $e1 =~ ^[0-9]+$ ]]; then bad attach_qemu_agrees_with_qmp "QMP query-stats gave '$e0' and '$e1'"
	elif ! last_record_has "$tmp/q.jsonl" '.attached.vmm == "QEMU" and .attached.guest == "vmscope-attach-qemu" and (.attached.stats_why | test("holds no KVM stats fd")) and (.attached.per_vcpu | length) == 0'; then
		bad attach_qemu_agrees_with_qmp "$(tail -n 1 "$tmp/q.jsonl" | jq -c '.attached | del(.absent, .latency)')"
	elif [ "$io" -lt 5000 ] || [ "$io" -gt $((e1 - e0)) ] || [ $((e1 - e0 - io)) -gt 16 ]; then
		bad attach_qemu_agrees_with_qmp "attach counted $io port writes; KVM counted $((e1 - e0)) exits"
	elif ! last_record_has "$tmp/q.jsonl" '.bpf.userspace_exit_reasons.IO.total == .attached.pio_by_port["0x80"].total'; then
		bad attach_qemu_agrees_with_qmp "userspace IO exits and port writes differ: $(tail -n 1 "$tmp/q.jsonl" | jq -c '[.bpf.userspace_exit_reasons, .attached.pio_by_port]')"
	else ok attach_qemu_agrees_with_qmp; fi

	# A vCPU added while attached (QMP device_add, as a CPU hot-plug): the count follows, and the
	# log says so.
	"$BIN" attach "$qemu" --headless --interval 100 >"$tmp/hp.jsonl" 2>"$tmp/hp.err" &
	qh=$!
	pids+=("$qh")
	wait_for 30 json_lines "$tmp/hp.jsonl" 2
	added=$(qmp '"device_add","arguments":{"driver":"qemu64-x86_64-cpu","id":"cpu1","socket-id":0,"core-id":1,"thread-id":0}')
	wait_for 30 last_record_has "$tmp/hp.jsonl" '.attached.vcpus == 2'
	kill -INT "$qh"
	wait "$qh"
	if last_record_has "$tmp/hp.jsonl" '.attached.vcpus == 2' && grep -q '"attach: the VMM holds 2 vCPUs now (1 before)"' "$tmp/hp.jsonl"; then
		ok attach_follows_a_vcpu_added
	else bad attach_follows_a_vcpu_added "device_add said '$added'; $(tail -n 1 "$tmp/hp.jsonl" | jq -c '{v: .attached.vcpus, log}')"; fi
	kill "$qemu"
	wait "$qemu" 2>/dev/null
else
	skp attach_qemu_agrees_with_qmp "needs root, /dev/kvm, qemu-system-x86 and socat"
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
