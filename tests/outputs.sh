#!/usr/bin/env bash
# Nothing lost, nothing hidden: every output the user asked for is whole or says why not, every
# refusal leaves the disk as it was, every terminating signal ends the run cleanly, and what
# vmscope writes it reads back. On the real binary; a full disk is a small tmpfs in a mount
# namespace of the test's own.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=$PWD/build/vmscope
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

root=false
[ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null && root=true
kvm=false
[ -e /dev/kvm ] && kvm=true

# ---- Refusals before anything is created: two outputs on one file, and a refused --pcap. ----
echo keep >"$tmp/same"
ln -sf "$tmp/same" "$tmp/link"
expect outputs_two_flags_one_file 1 "--record and --pcap both name the file" -- \
	"$BIN" run --headless --duration 1 --record "$tmp/same" --pcap "$tmp/same"
expect outputs_one_file_through_a_link 1 "--record and --log both name the file" -- \
	"$BIN" run --headless --duration 1 --record "$tmp/same" --log "$tmp/link"
if [ "$(cat "$tmp/same")" = keep ]; then ok outputs_refusal_leaves_the_file_as_it_was
else bad outputs_refusal_leaves_the_file_as_it_was "the file now holds: $(head -c 80 "$tmp/same")"; fi
args=()
for i in $(seq 33); do args+=(--switch-to "vf@$i"); done
expect outputs_an_array_option_checks_its_bound 2 "--switch-to is given more than 32 times" -- \
	"$BIN" run --headless "${args[@]}"
expect outputs_log_in_a_missing_folder 1 "cannot write the --log file '/nonexistent/x': No such file or directory" -- \
	"$BIN" run --headless --duration 1 --log /nonexistent/x

if $root && $kvm && command -v setpriv >/dev/null; then
	# A user who may use KVM but not build the TAP link: --pcap is refused, and the file that was
	# there before is untouched (nothing truncated by a run that is then refused).
	cp "$BIN" "$tmp/vmscope" && chmod 1777 "$tmp" && chmod 755 "$tmp/vmscope"
	echo keep >"$tmp/old.pcap" && chmod 666 "$tmp/old.pcap"
	expect outputs_pcap_refused_without_rights 1 "--pcap cannot record: the TAP link needs root" -- unshare -m sh -c \
		"mount -t tmpfs none /dev && mknod -m 666 /dev/kvm c 10 232 && \
		exec setpriv --reuid=65534 --regid=65534 --clear-groups $tmp/vmscope run --headless --duration 1 \
		--pcap $tmp/old.pcap --record $tmp/never.jsonl"
	if [ "$(cat "$tmp/old.pcap")" = keep ] && [ ! -e "$tmp/never.jsonl" ]; then ok outputs_refused_pcap_truncates_nothing
	else bad outputs_refused_pcap_truncates_nothing "old.pcap: $(head -c 40 "$tmp/old.pcap"); never.jsonl $( [ -e "$tmp/never.jsonl" ] && echo exists)"; fi

	# The /dev/kvm advice fits the device: 0600 root:root is no group to join.
	expect outputs_kvm_owner_only_advice 1 "only root may open it; run with sudo, or ask an administrator" -- unshare -m sh -c \
		"mount -t tmpfs none /dev && mknod -m 600 /dev/kvm c 10 232 && \
		exec setpriv --reuid=65534 --regid=65534 --clear-groups $tmp/vmscope run --headless --duration 1 \
		--cpu $([ -e /sys/module/kvm_pvm ] && echo paravirt || echo hardware)"
	if grep -q "usermod -aG root\|group root" "$tmp/err"; then bad outputs_kvm_advice_never_root_group "$(cat "$tmp/err")"
	else ok outputs_kvm_advice_never_root_group; fi
else
	skp outputs_pcap_refused_without_rights "needs root, KVM and setpriv to run as an unprivileged user"
fi

if ! $kvm; then
	skp outputs_closed_stdout_ends_the_run "this machine has no /dev/kvm"
else
	# ---- stdout closed by its reader: the run ends at once, as a filter's does. ----
	start=$(date +%s)
	"$BIN" run --headless --no-bpf --interval 100 2>"$tmp/e" | head -c 100 >/dev/null
	rc=${PIPESTATUS[0]} took=$(($(date +%s) - start))
	if [ "$rc" -eq 141 ] && [ ! -s "$tmp/e" ] && [ "$took" -lt 60 ]; then ok outputs_closed_stdout_ends_the_run
	else bad outputs_closed_stdout_ends_the_run "exit $rc after ${took}s: $(head -c 200 "$tmp/e")"; fi

	# stdout that cannot take the records (a full device): said once, status 1.
	"$BIN" run --headless --no-bpf --duration 2 >/dev/full 2>"$tmp/e"
	rc=$?
	if [ $rc -eq 1 ] && grep -q "writing the records to stdout failed (No space left on device)" "$tmp/e"; then
		ok outputs_full_stdout_is_said
	else bad outputs_full_stdout_is_said "exit $rc: $(cat "$tmp/e")"; fi

	# ---- --log on a device that takes nothing: said with the reason and how much it holds. ----
	"$BIN" run --headless --no-bpf --duration 1 --log /dev/full >"$tmp/r" 2>"$tmp/e"
	rc=$?
	if [ $rc -eq 1 ] && grep -q "writing the --log file '/dev/full' failed (No space left on device); it holds the first 0 lines" "$tmp/e" &&
		last_record_has "$tmp/r" '.files.log.stopped == "No space left on device" and .files.log.lines == 0'; then
		ok outputs_log_failure_is_said_and_in_the_records
	else bad outputs_log_failure_is_said_and_in_the_records "exit $rc: $(cat "$tmp/e") $(tail -c 300 "$tmp/r")"; fi

	# Stopped and resumed: the ticks after it are whole ones, none a sliver of the interval.
	"$BIN" run --headless --no-bpf --interval 200 --duration 6 >"$tmp/st.jsonl" 2>"$tmp/e" &
	pid=$!
	wait_for 60 json_lines "$tmp/st.jsonl" 3
	kill -STOP "$pid"
	sleep 2
	kill -CONT "$pid"
	wait "$pid"
	if jq -e -s 'length >= 5 and all(.[]; .dt >= 0.02)' "$tmp/st.jsonl" >/dev/null; then ok outputs_no_sliver_ticks_after_a_stop
	else bad outputs_no_sliver_ticks_after_a_stop "$(jq -c -s 'map(.dt)' "$tmp/st.jsonl")"; fi

	# ---- Every terminating signal ends the run cleanly: the namespace goes, status 128 + sig. ----
	for sig in USR2 ALRM XCPU RTMIN SEGV; do
		"$BIN" run --headless --no-bpf --interval 100 >"$tmp/s.jsonl" 2>"$tmp/e" &
		pid=$!
		wait_for 60 json_lines "$tmp/s.jsonl" 3
		kill -s "$sig" "$pid"
		wait "$pid"
		rc=$?
		num=$(kill -l "$sig" 2>/dev/null || echo 0)
		if [ "$(id -u)" -eq 0 ] && [ -e "/run/netns/vmscope-$pid" ]; then
			bad "outputs_sig${sig}_is_a_clean_end" "namespace vmscope-$pid left behind"
		elif [ $rc -ne $((128 + num)) ]; then bad "outputs_sig${sig}_is_a_clean_end" "exit $rc, wanted $((128 + num)): $(cat "$tmp/e")"
		elif ! last_record_has "$tmp/s.jsonl" '.seq > 0'; then bad "outputs_sig${sig}_is_a_clean_end" "the last record is cut"
		else ok "outputs_sig${sig}_is_a_clean_end"; fi
	done
fi

if $root && $kvm; then
	# ---- A disk that fills during the run (a 256 KiB tmpfs): each output says so, keeps
	# what it holds readable, and the status is 1. ----
	mkdir -p "$tmp/full2"
	unshare -m sh -c "mount -t tmpfs -o size=256k none $tmp/full2 && \
		$BIN run --headless --no-bpf --duration 20 --interval 200 --record $tmp/full2/r.jsonl >/dev/null 2>$tmp/e2; \
		echo rc=\$? >>$tmp/e2; grep -q \"writing the recording .* failed (No space left on device); it holds the first\" $tmp/e2 && echo said >>$tmp/e2; $BIN replay --headless $tmp/full2/r.jsonl >$tmp/back.jsonl 2>$tmp/e3; echo rc=\$? >>$tmp/e3; \
		n=\$(grep -o 'holds the first [0-9]*' $tmp/e2 | grep -o '[0-9]*$'); echo kept=\$n >>$tmp/e3"
	kept=$(sed -n 's/^kept=//p' "$tmp/e3")
	if grep -q "rc=1" "$tmp/e2" && grep -q "^said" "$tmp/e2" && grep -q "rc=0" "$tmp/e3" && [ -n "$kept" ] && [ "$(wc -l <"$tmp/back.jsonl")" -eq "$kept" ]; then
		ok outputs_full_disk_recording_is_said_and_replays_what_it_kept
	else bad outputs_full_disk_recording_is_said_and_replays_what_it_kept "$(cat "$tmp/e2" "$tmp/e3") back: $(wc -l <"$tmp/back.jsonl")"; fi

	# The pcap on a full disk: it ends at a complete packet (tcpdump reads it to its end).
	mkdir -p "$tmp/full3"
	unshare -m sh -c "mount -t tmpfs -o size=256k none $tmp/full3 && \
		$BIN run --headless --no-bpf --duration 20 --workload tx --rate 0 --pcap $tmp/full3/t.pcap >$tmp/full3.jsonl 2>$tmp/e4; \
		echo rc=\$? >>$tmp/e4; tcpdump -r $tmp/full3/t.pcap -nn >$tmp/td 2>$tmp/tde; echo rc=\$? >>$tmp/tde"
	if grep -q "rc=1" "$tmp/e4" && grep -q '"stopped":"No space left on device"' "$tmp/full3.jsonl" && grep -q "writing the --pcap file '$tmp/full3/t.pcap' failed (No space left on device); it holds the first [0-9]* packets, each complete" "$tmp/e4" &&
		grep -q "rc=0" "$tmp/tde" && ! grep -q "truncated" "$tmp/tde"; then
		ok outputs_full_disk_pcap_ends_at_a_complete_packet
	else bad outputs_full_disk_pcap_ends_at_a_complete_packet "$(cat "$tmp/e4" "$tmp/tde")"; fi

	# --pcap on a device that takes nothing: refused at the start, with the reason.
	expect outputs_pcap_on_a_full_device 1 "--pcap cannot record: the --pcap file could not be written: No space left on device" -- \
		"$BIN" run --headless --no-bpf --duration 1 --pcap /dev/full
else
	skp outputs_full_disk_recording_is_said "needs root and KVM for a tmpfs of its own and a run"
fi

# ---- What vmscope writes, vmscope reads: UTF-8 cut between characters, bad text refused. ----
printf 'step 1 %s\u4e2d\u6587\u4e2d\u6587\nsay x\nworkload idle\n' "$(printf 'a%.0s' $(seq 62))" >"$tmp/cjk.tour"
printf 'step 1 caf\xe9\nsay x\n' >"$tmp/latin1.tour"
printf 'step 1 A\nsay \033[2J gone\n' >"$tmp/esc.tour"
head -c 300 /dev/urandom | tr -d '\000' >"$tmp/random.tour"
expect outputs_script_not_utf8 1 "latin1.tour line 1: the line is not UTF-8 text (byte 11 is 0xe9)" -- \
	"$BIN" demo --headless --script "$tmp/latin1.tour"
expect outputs_script_with_a_terminal_escape 1 "esc.tour line 2: the line has a control character" -- \
	"$BIN" demo --headless --script "$tmp/esc.tour"
"$BIN" demo --headless --script "$tmp/random.tour" >/dev/null 2>"$tmp/e"
if LC_ALL=C grep -q "$(printf '[\001-\010\016-\037\177]')" "$tmp/e"; then bad outputs_random_script_bytes_never_reach_the_terminal "$(od -c "$tmp/e" | head -3)"
else ok outputs_random_script_bytes_never_reach_the_terminal; fi
if $kvm; then
	"$BIN" demo --headless --no-bpf --script "$tmp/cjk.tour" --record "$tmp/cjk.jsonl" >/dev/null 2>"$tmp/e"
	if "$BIN" replay --headless "$tmp/cjk.jsonl" >"$tmp/cjk.back" 2>"$tmp/e2" && [ -s "$tmp/cjk.back" ] &&
		jq -e -s 'all(.[]; .tour.title | test("^a+(\u4e2d|\u6587)*$"))' "$tmp/cjk.back" >/dev/null; then
		ok outputs_a_long_title_is_cut_between_characters
	else bad outputs_a_long_title_is_cut_between_characters "$(cat "$tmp/e" "$tmp/e2")"; fi
else skp outputs_a_long_title_is_cut_between_characters "this machine has no /dev/kvm"; fi

# ---- Replay: a line without what a snapshot needs is said, never shown as zeros; blank lines
# cost nothing. ----
header='{"vmscope_recording":1,"version":"t","host":"pvm","cpu_mode":"paravirt","start":"x","interval_ms":1000}'
printf '%s\n{"t":1,"seq":1,"host":"pvm","cpu_mode":"paravirt","state":"running","workload":"idle"}\n' "$header" >"$tmp/thin.jsonl"
expect outputs_replay_says_a_thin_line 1 "line 2 is not a snapshot: not a vmscope record (no \"dt\")" -- \
	"$BIN" replay --headless "$tmp/thin.jsonl"
{ echo "$header"; head -c $((64 << 20)) /dev/zero | tr '\0' '\n'; } | gzip -1 >"$tmp/blank.jsonl.gz"
start=$(date +%s)
expect outputs_replay_of_blank_lines 1 "line 2 and [0-9]* more are blank" -- "$BIN" replay --headless "$tmp/blank.jsonl.gz"
took=$(($(date +%s) - start))
if [ "$took" -lt 30 ]; then ok outputs_blank_lines_cost_no_parse_each
else bad outputs_blank_lines_cost_no_parse_each "64 MiB of newlines took ${took}s"; fi

echo "$pass passed, $fail failed, $skip skipped"
