#!/usr/bin/env bash
# Record, replay and the Prometheus endpoint, on the real binary: a live run recorded, replayed
# headless (the same bytes) and in the dashboard (the same figures), as a user without /dev/kvm;
# bad recordings; /metrics checked by promtool and scraped by a real Prometheus server.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=$PWD/build/vmscope
. tests/lib.sh
tmp=$(mktemp -d)
chmod 755 "$tmp"
T="tmux -L vmscope-replay"
prom_pid=
cleanup() {
	[ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null
	$T kill-server 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT


# ---- Bad recordings: one sentence naming the file (and the line), exit 1; never a crash. ----
header='{"vmscope_recording":1,"version":"t","host":"pvm","cpu_mode":"paravirt","start":"x","interval_ms":1000}'
: >"$tmp/empty.jsonl"
expect replay_empty_file 1 "empty.jsonl is empty" -- "$BIN" replay "$tmp/empty.jsonl"
echo '{"vmscope_recording":7}' >"$tmp/v7.jsonl"
expect replay_wrong_version 1 "v7.jsonl is a recording of format 7; this vmscope reads format 1" -- \
	"$BIN" replay "$tmp/v7.jsonl"
echo 'hello' >"$tmp/hello.jsonl"
expect replay_not_a_recording 1 "hello.jsonl: line 1 is not a vmscope recording's header" -- \
	"$BIN" replay "$tmp/hello.jsonl"
printf '%s\n{"t":1}\n' "$header" >"$tmp/nosnap.jsonl"
expect replay_no_snapshot 1 "nosnap.jsonl has no snapshot to replay: line 2 is not a snapshot" -- \
	"$BIN" replay "$tmp/nosnap.jsonl"
expect replay_missing_file 1 "cannot read the recording '$tmp/nope.jsonl': No such file" -- \
	"$BIN" replay "$tmp/nope.jsonl"
expect replay_refuses_live_flags 2 "--workload drives a live VM; a replay shows what was recorded" -- \
	"$BIN" replay "$tmp/x.jsonl" --workload ping
expect record_into_a_directory 1 "cannot write the recording '/tmp': Is a directory" -- \
	"$BIN" run --headless --duration 1 --record /tmp
expect listen_bad_port 2 "--listen wants \[ADDR:\]PORT" -- "$BIN" run --headless --listen 99999
expect listen_bad_address 2 "--listen wants an IPv4 address" -- "$BIN" run --headless --listen nowhere:9464

printf 'step 5 A\nsay x\nnic token-ring\n' >"$tmp/bad.tour"
expect demo_bad_script 1 "bad.tour line 3: nic wants emulated, virtio or vf, not 'token-ring'" -- \
	"$BIN" demo --headless --script "$tmp/bad.tour"
expect demo_chooses_its_own_workload 2 "the tour's script chooses the workload and the cards" -- \
	"$BIN" demo --headless --workload ping
expect script_is_the_tours 2 "--script is the guided tour's" -- "$BIN" run --headless --script "$tmp/bad.tour"

# The shipped recording of the tour: every step's caption, and what each shows.
if [ ! -s demo/tour.jsonl.gz ]; then bad replay_plays_the_shipped_tour "demo/tour.jsonl.gz is missing"
elif [ "$(stat -c %s demo/tour.jsonl.gz)" -ge $((2 << 20)) ]; then bad replay_plays_the_shipped_tour "over 2 MB"
elif (cd "$tmp" && "$BIN" replay --headless >"$tmp/tour.jsonl" 2>"$tmp/tour.err") &&
	# Recorded on kvm_pvm: KVM's emulator (1), PVM's paravirt (3); on VT-x/AMD-V binary
	# translation (2), KVM's PV interfaces (4), hardware (5); the cards (6-8) everywhere, then
	# three VMs: virtio alone and loaded (9, 10), the VF alone and loaded (11, 12).
	jq -se '([.[].tour.step] | unique) as $s |
		($s == [1,3,6,7,8,9,10,11,12] or $s == [2,4,5,6,7,8,9,10,11,12]) and
		(if $s[0] == 1 then (map(select(.tour.step == 1))[-1].cpu_mode == "emulated") and
			(map(select(.tour.step == 3))[-1].cpu_mode == "paravirt")
		 else (map(select(.tour.step == 2))[-1].cpu_mode == "translated") and
			(map(select(.tour.step == 4))[-1].cpu_mode == "paravirt") end) and
		(map(select(.tour.step == 6))[-1] | .nic_mode == "emulated" and .net.exits_per_packet.nic > 0.5) as $e1000 |
		(map(select(.tour.step == 6))[-1].net.exits_per_packet.nic) as $e1000_nic |
		$e1000 and
		(map(select(.tour.step == 8))[-1] | .nic_mode == "vf" and
			.net.exits_per_packet.nic < $e1000_nic / 100) and
		(map(select(.tour.step == 10))[-1] | (.vms | length) == 3 and
			.shared.neighbours == "both" and .shared.vm1_latency_us.virtio.alone != null and
			.shared.vm1_latency_us.virtio.loaded != null) and
		(map(select(.tour.step == 12))[-1] | [.vms[].nic_mode] == ["vf","vf","vf"] and
			.shared.path_is_card and .shared.vm1_latency_us.vf.loaded != null and
			.vms[1].net.device.tx.per_s > 0) and
		(map(select(.tour.step == 6))[0].tour.note // "" | test("Skipped|^$"))' "$tmp/tour.jsonl" >/dev/null
then ok replay_plays_the_shipped_tour
else bad replay_plays_the_shipped_tour "$(cat "$tmp/tour.err"; jq -c '[.tour.step, .cpu_mode, .nic_mode]' "$tmp/tour.jsonl" | uniq | head)"; fi

# A gzip bomb: 600 MiB of zeros, no newline, in about 600 KiB.
head -c $((600 << 20)) /dev/zero | gzip -1 >"$tmp/bomb.jsonl.gz"
expect replay_gzip_bomb 1 "bomb.jsonl.gz is not a vmscope recording: line 1 and the rest: the recording expands past 512 MiB" -- \
	"$BIN" replay "$tmp/bomb.jsonl.gz"

if [ ! -e /dev/kvm ]; then
	skp replay_of_a_live_run "this machine has no /dev/kvm to record a run on"
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ]
	exit
fi

# ---- A live run, recorded: replay --headless prints the bytes the live run printed. ----
if "$BIN" run --headless --duration 4 --workload ping --rate 0 --switch-to vf@1.5 --record "$tmp/run.jsonl.gz" \
	>"$tmp/live.jsonl" 2>"$tmp/live.err"; then
	n=$(wc -l <"$tmp/live.jsonl")
	if [ "$n" -ne 4 ]; then bad record_a_live_run "wanted 4 records, got $n: $(cat "$tmp/live.err")"
	elif ! zcat "$tmp/run.jsonl.gz" | head -1 | jq -e '.vmscope_recording == 1 and .host and .cpu_mode
			and .start and .interval_ms == 1000' >/dev/null; then
		bad record_a_live_run "the header line: $(zcat "$tmp/run.jsonl.gz" | head -1)"
	elif ! zcat "$tmp/run.jsonl.gz" | tail -n +2 | cmp -s - "$tmp/live.jsonl"; then
		bad record_a_live_run "the recorded lines are not the lines printed"
	else ok record_a_live_run; fi
	if "$BIN" replay --headless "$tmp/run.jsonl.gz" >"$tmp/replayed.jsonl" 2>"$tmp/rep.err" &&
		cmp -s "$tmp/replayed.jsonl" "$tmp/live.jsonl"; then ok replay_headless_prints_the_same_bytes
	else bad replay_headless_prints_the_same_bytes "$(cat "$tmp/rep.err"; diff <(head -c 600 "$tmp/live.jsonl") <(head -c 600 "$tmp/replayed.jsonl"))"; fi
	if jq -se '[.[].events[] | select(.kind == "nic_switch" and .ok)] | length == 1' "$tmp/replayed.jsonl" >/dev/null
	then ok replay_keeps_the_events
	else bad replay_keeps_the_events "$(jq -c '.events' "$tmp/replayed.jsonl")"; fi
	"$BIN" replay --headless --format csv "$tmp/run.jsonl.gz" >"$tmp/replayed.csv" 2>/dev/null
	if [ "$(wc -l <"$tmp/replayed.csv")" -eq 5 ] && head -1 "$tmp/replayed.csv" | grep -q '^t,host,cpu_mode'
	then ok replay_headless_csv
	else bad replay_headless_csv "$(head -3 "$tmp/replayed.csv")"; fi
else
	bad record_a_live_run "exit $?: $(cat "$tmp/live.err")"
fi

# A recording cut off by a kill replays up to its last complete line, and says what it skipped.
"$BIN" run --headless --interval 200 --record "$tmp/cut.jsonl" >/dev/null 2>&1 &
pid=$!
wait_for 60 json_lines "$tmp/cut.jsonl" 6 # the header and five snapshots
kill -KILL $pid
wait $pid 2>/dev/null
printf '{"t":9.0,"seq":9,"dt":1' >>"$tmp/cut.jsonl" # as if the kill hit mid-line
ticks=$(($(wc -l <"$tmp/cut.jsonl") - 1))
if "$BIN" replay --headless "$tmp/cut.jsonl" >"$tmp/cut.out" 2>"$tmp/cut.err" &&
	[ "$(wc -l <"$tmp/cut.out")" -eq "$ticks" ] && [ "$ticks" -ge 5 ] &&
	grep -q "cut.jsonl: replaying $ticks snapshots; skipped: line $((ticks + 2)) is cut off" "$tmp/cut.err"
then ok replay_a_recording_cut_off_by_a_kill
else bad replay_a_recording_cut_off_by_a_kill "$ticks ticks; $(wc -l <"$tmp/cut.out") replayed; $(cat "$tmp/cut.err")"; fi

# A line of garbage in the middle is skipped and named; the rest replays.
if [ -s "$tmp/live.jsonl" ]; then
	{ echo "$header"; head -2 "$tmp/live.jsonl"; echo 'garbage'; tail -2 "$tmp/live.jsonl"; } >"$tmp/garbage.jsonl"
	if "$BIN" replay --headless "$tmp/garbage.jsonl" >"$tmp/g.out" 2>"$tmp/g.err" &&
		[ "$(wc -l <"$tmp/g.out")" -eq 4 ] && grep -q "skipped: line 4 is not a snapshot: not JSON" "$tmp/g.err"
	then ok replay_skips_a_garbage_line
	else bad replay_skips_a_garbage_line "$(cat "$tmp/g.err")"; fi
	# A 5 MiB line: skipped as too long, the others replay.
	{ echo "$header"; head -1 "$tmp/live.jsonl"; head -c $((5 << 20)) /dev/zero | tr '\0' 'x'; echo; tail -1 "$tmp/live.jsonl"; } >"$tmp/long.jsonl"
	if "$BIN" replay --headless "$tmp/long.jsonl" >"$tmp/l.out" 2>"$tmp/l.err" &&
		[ "$(wc -l <"$tmp/l.out")" -eq 2 ] && grep -q "line 3 is longer than 4 MiB" "$tmp/l.err"
	then ok replay_skips_an_over_long_line
	else bad replay_skips_an_over_long_line "$(cat "$tmp/l.err")"; fi
fi

# ---- The tour runs headless to the end with --record, and the recording replays. ----
# The built-in tour (about two minutes); a host skips the CPU steps it cannot give (kvm_pvm:
# binary translation and hardware). Five switches: e1000, virtio, vf, then (three VMs) virtio, vf.
if "$BIN" demo --headless --record "$tmp/tour.jsonl.gz" >"$tmp/demo.jsonl" 2>"$tmp/demo.err" &&
	jq -se '([.[].tour.step] | unique | length) >= 9 and .[-1].tour.step == 12 and .[-1].nic_mode == "vf" and
		(.[-1].vms | length) == 3 and
		([.[].events[] | select(.kind == "nic_switch" and .ok)] | length) == 5' "$tmp/demo.jsonl" >/dev/null &&
	"$BIN" replay --headless "$tmp/tour.jsonl.gz" 2>/dev/null | cmp -s - "$tmp/demo.jsonl"
then ok demo_runs_to_the_end_and_its_recording_replays
else bad demo_runs_to_the_end_and_its_recording_replays "$(cat "$tmp/demo.err"; jq -c '[.t, .tour.step, .nic_mode, [.events[].kind]]' "$tmp/demo.jsonl" | tail -5)"; fi

# ---- Replay as a user without root, in a mount namespace with no /dev/kvm. ----
if ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null; then
	skp replay_without_kvm_or_root "no 'nobody' user or no setpriv here"
elif [ -s "$tmp/run.jsonl.gz" ]; then
	chmod 644 "$tmp/run.jsonl.gz"
	if unshare -m sh -c "mount -t tmpfs none /dev && setpriv --reuid=nobody --regid=nogroup --clear-groups \
		$BIN replay --headless $tmp/run.jsonl.gz" >"$tmp/nobody.jsonl" 2>"$tmp/nobody.err" &&
		cmp -s "$tmp/nobody.jsonl" "$tmp/live.jsonl"; then ok replay_without_kvm_or_root
	else bad replay_without_kvm_or_root "$(cat "$tmp/nobody.err")"; fi
fi

# ---- The dashboard from a replay shows the recorded figures. ----
if ! command -v tmux >/dev/null; then
	skp replay_dashboard_shows_the_recorded_figures "tmux is not installed"
elif [ -s "$tmp/run.jsonl.gz" ]; then
	$T new-session -d -x 100 -y 40 -s rep "$BIN replay $tmp/run.jsonl.gz; sleep 30"
	pane_until "$T" rep "$tmp/screen" "tick [0-9]+/4"
	$T send-keys ' ' # pause
	$T send-keys End
	pane_until "$T" rep "$tmp/screen" "tick 4/4"
	last=$(tail -1 "$tmp/live.jsonl")
	tx=$(echo "$last" | jq '.net.pps_tx.per_s')
	# The dashboard prints pps as fmt_count does: "%.1fk" from 10k, else "%.0f".
	want=$(awk -v v="$tx" 'BEGIN { if (v >= 1e6) printf "%.2fM", v / 1e6; else if (v >= 1e4) printf "%.1fk", v / 1e3; else printf "%.0f", v }')
	p50=$(echo "$last" | jq '.net.latency_us.p50')
	wantp=$(awk -v v="$p50" 'BEGIN { if (v < 100) printf "%.1fus", v; else printf "%.0fus", v }')
	if grep -q "tick 4/4" "$tmp/screen" && grep -q "guest   tx *$want " "$tmp/screen" &&
		grep -q "ping p50 *$wantp" "$tmp/screen" && grep -q "NETWORK  vf:" "$tmp/screen" &&
		grep -q "virtio *-> vf" "$tmp/screen"; then ok replay_dashboard_shows_the_recorded_figures
	else bad replay_dashboard_shows_the_recorded_figures "wanted tx $want p50 $wantp: $(cat "$tmp/screen")"; fi
	$T send-keys E
	if pane_until "$T" rep "$tmp/screen" "'E' drives a live VM; this is a recording"; then ok replay_dashboard_refuses_control_keys
	else bad replay_dashboard_refuses_control_keys "$(tail -2 "$tmp/screen")"; fi
	$T send-keys q
	$T kill-server 2>/dev/null
fi

# ---- Prometheus: promtool checks the exposition; a real server scrapes it. ----
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
	skp prometheus_scrapes_vmscope "Debian's prometheus package is not installed"
else
	"$BIN" run --headless --duration 300 --workload exits:pio_vmm --rate 2000 --listen 127.0.0.1:0 \
		>"$tmp/m.jsonl" 2>"$tmp/m.err" &
	vpid=$!
	wait_for 60 grep -q 'serving metrics at' "$tmp/m.err"
	url=$(grep -o 'http://[0-9.:]*/metrics' "$tmp/m.err")
	port=${url##*:}
	port=${port%/metrics}
	# Scraped once a tick has counted the guest's port writes.
	wait_for 60 eval "curl -sf '$url' >'$tmp/metrics.txt' 2>/dev/null &&
		grep -q '^vmscope_exits_total{kind=\"pio_vmm\",source=\"vmm\"} [1-9]' '$tmp/metrics.txt'"
	if [ -s "$tmp/metrics.txt" ] && promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1 &&
		grep -q '^vmscope_exits_total{kind="pio_vmm",source="vmm"} [1-9]' "$tmp/metrics.txt" &&
		grep -q '^vmscope_info{version=' "$tmp/metrics.txt" &&
		grep -q '^vmscope_vcpu_exits_total{where="userspace",nic_mode="virtio"}' "$tmp/metrics.txt"
	then ok promtool_checks_the_metrics
	else bad promtool_checks_the_metrics "$(cat "$tmp/promtool.out"; head -20 "$tmp/metrics.txt")"; fi
	cat >"$tmp/prom.yml" <<-EOF
	global:
	  scrape_interval: 1s
	scrape_configs:
	  - job_name: vmscope
	    static_configs:
	      - targets: ['127.0.0.1:$port']
	EOF
	ppport=$((20000 + RANDOM % 20000))
	prometheus --config.file="$tmp/prom.yml" --storage.tsdb.path="$tmp/tsdb" \
		--web.listen-address="127.0.0.1:$ppport" >"$tmp/prom.log" 2>&1 &
	prom_pid=$!
	answer=
	for _ in $(seq 120); do
		sleep 1
		up=$(curl -sf "http://127.0.0.1:$ppport/api/v1/query?query=count_over_time(up%7Bjob%3D%22vmscope%22%7D%5B1m%5D)" 2>/dev/null |
			jq -r '.data.result[0].value[1] // 0' 2>/dev/null)
		[ "${up:-0}" -ge 4 ] 2>/dev/null || continue # two scrapes at least, and a tick between
		answer=$(curl -sf "http://127.0.0.1:$ppport/api/v1/query" \
			--data-urlencode 'query=sum(rate(vmscope_exits_total[10s]))' |
			jq -r '.data.result[0].value[1] // empty')
		[ -n "$answer" ] && awk -v a="$answer" 'BEGIN { exit !(a > 0) }' && break
	done
	if [ -n "$answer" ] && awk -v a="$answer" 'BEGIN { exit !(a > 0) }'; then
		echo "    prometheus after $up scrapes: sum(rate(vmscope_exits_total[10s])) = $answer"
		ok prometheus_scrapes_vmscope
	else bad prometheus_scrapes_vmscope "answer '$answer' after $up scrapes: $(tail -3 "$tmp/prom.log")"; fi
	kill "$prom_pid" 2>/dev/null
	wait "$prom_pid" 2>/dev/null
	prom_pid=
	kill -INT $vpid 2>/dev/null
	wait $vpid 2>/dev/null
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
