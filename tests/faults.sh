#!/usr/bin/env bash
# Faults at run time, on the real binary: what the host, a second vmscope or a hostile client can
# do to a running vmscope is a counted, named event; never a takeover, a spin or a silent loss.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-$PWD/build/vmscope}
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

root=false
[ "$(id -u)" -eq 0 ] && unshare -p -f true 2>/dev/null && root=true
kvm=false
[ -e /dev/kvm ] && kvm=true
netns_of() { tail -n 1 "$1" | jq -r '.net.netns // empty'; }
gone() { [ ! -e "/run/netns/$1" ]; }

if $root && $kvm; then
	# ---- Two vmscopes in two PID namespaces share a pid (1): each gets a name of its own, and
	# neither removes the other's namespace. ----
	unshare -p -f --kill-child=SIGTERM "$BIN" run --headless --no-bpf --interval 200 >"$tmp/a.jsonl" 2>"$tmp/ea" &
	pa=$!
	wait_for 60 json_lines "$tmp/a.jsonl" 2
	unshare -p -f --kill-child=SIGTERM "$BIN" run --headless --no-bpf --interval 200 >"$tmp/b.jsonl" 2>"$tmp/eb" &
	pb=$!
	wait_for 60 json_lines "$tmp/b.jsonl" 2
	na=$(netns_of "$tmp/a.jsonl") nb=$(netns_of "$tmp/b.jsonl")
	# unshare waits with SIGTERM ignored: the signal goes to vmscope, pid 1 of its namespace.
	kill -TERM "$(pgrep -P "$pa")"
	wait "$pa"
	wait_for 30 gone "$na"
	nlines=$(wc -l <"$tmp/b.jsonl")
	wait_for 30 json_lines "$tmp/b.jsonl" $((nlines + 2))
	if [ -z "$na" ] || [ "$na" = "$nb" ]; then bad faults_two_pid_namespaces_two_names "names '$na' and '$nb'"
	elif [ ! -e "/run/netns/$nb" ]; then bad faults_two_pid_namespaces_two_names "the first's exit took $nb with it"
	elif ! gone "$na"; then bad faults_two_pid_namespaces_two_names "$na left behind"
	elif [ "$(netns_of "$tmp/b.jsonl")" != "$nb" ] || ! last_record_has "$tmp/b.jsonl" '.state == "running"'; then
		bad faults_two_pid_namespaces_two_names "the second stopped: $(tail -c 200 "$tmp/eb")"
	else ok faults_two_pid_namespaces_two_names; fi
	kill -TERM "$(pgrep -P "$pb")"
	wait "$pb"
	if wait_for 30 gone "$nb" && [ ! -e "/run/vmscope/$nb.lock" ]; then ok faults_namespace_and_claim_go_at_exit
	else bad faults_namespace_and_claim_go_at_exit "$nb or its lock left behind"; fi

	# ---- A namespace of a vmscope-like name that is not ours is never replaced or reaped. ----
	ip netns add vmscope-999999 2>/dev/null
	"$BIN" run --headless --no-bpf --duration 1 >/dev/null 2>&1
	if [ -e /run/netns/vmscope-999999 ]; then ok faults_a_namespace_not_ours_is_left_alone
	else bad faults_a_namespace_not_ours_is_left_alone "vmscope-999999 was removed"; fi
	ip netns del vmscope-999999 2>/dev/null
else
	skp faults_two_pid_namespaces_two_names "needs root, PID namespaces and KVM"
fi

if $kvm; then
	# ---- Every switch asked for is one event: one asked for before the guest is up waits for
	# it; one still settling when the run ends goes out at the end; a refused one says why. ----
	early=0
	for i in 1 2 3; do
		"$BIN" run --headless --no-bpf --duration 3 --workload idle --switch-to vf@0.0001 >"$tmp/early$i.jsonl" 2>"$tmp/e"
		jq -e -s '[.[].events[]? | select(.kind == "nic_switch")] | length == 1 and .[0].ok and .[0].to == "vf"' \
			"$tmp/early$i.jsonl" >/dev/null && early=$((early + 1))
	done
	if [ $early -eq 3 ]; then ok faults_a_switch_before_the_guest_is_up_waits_for_it
	else bad faults_a_switch_before_the_guest_is_up_waits_for_it "$early of 3 runs had one good event: $(cat "$tmp/e")"; fi
	"$BIN" run --headless --no-bpf --duration 3 --workload idle --switch-to vf@2.9 --record "$tmp/late.jsonl" >"$tmp/late.out" 2>"$tmp/e"
	if jq -e -s '[.[].events[]? | select(.kind == "nic_switch")] | length == 1' "$tmp/late.out" >/dev/null &&
		"$BIN" replay --headless "$tmp/late.jsonl" | jq -e -s '[.[].events[]? | select(.kind == "nic_switch")] | length == 1' >/dev/null; then
		ok faults_a_switch_at_the_last_tick_is_one_event
	else bad faults_a_switch_at_the_last_tick_is_one_event "$(jq -c '.events' "$tmp/late.out" | tr '\n' ' ') $(cat "$tmp/e")"; fi
	"$BIN" run --headless --no-bpf --duration 2 --workload idle --switch-to virtio@1 >"$tmp/same.out" 2>"$tmp/e"
	if jq -e -s '[.[].events[]? | select(.kind == "nic_switch")] | length == 1 and .[0].refused and (.[0].why | test("already uses that card"))' \
		"$tmp/same.out" >/dev/null; then ok faults_a_refused_switch_is_an_event_with_why
	else bad faults_a_refused_switch_is_an_event_with_why "$(jq -c '.events' "$tmp/same.out" | tr '\n' ' ')"; fi
	# ---- An unpaced flood into a guest in KVM's instruction emulator (every instruction
	# thousands of times slower): the guest's loop keeps its turns (64 frames at most a pass, the
	# rest dropped at the card and counted), and the run ends when it was told to. ----
	if "$BIN" run --headless --no-bpf --duration 1 --workload idle 2>/dev/null | jq -e -s '.[-1].host == "pvm"' >/dev/null; then
		"$BIN" run --headless --cpu emulated --workload rx --rate 0 --duration 15 >"$tmp/fl.jsonl" 2>"$tmp/fl.err"
		rc=$?
		# The guest's loop ran throughout: the VMM's watchdog fails a guest whose heartbeat
		# stands still for 2 s (state "running" at the end says it never did), and the heartbeat
		# moved over the last five records. Not in each of them: under the flood in KVM's
		# emulator a pass of the loop can take most of a second (measured: 0-7 a second).
		# The run ends at its duration: the last tick is taken once 15 s have passed (a loaded
		# machine wakes the loop a few ms late; a tick's worth late would be a run that went on).
		if [ $rc -eq 0 ] && jq -e -s 'length >= 10 and .[-1].t >= 15 and .[-1].t < 15.5 and .[-1].state == "running"
			and .[-1].net.rx_lost.total > 0 and .[-1].net.device.rx_no_buffer.total > 0
			and (.[-1].guest.heartbeat > .[-6].guest.heartbeat)' \
			"$tmp/fl.jsonl" >/dev/null; then ok faults_an_emulated_guest_survives_a_flood_with_loss_counted
		else bad faults_an_emulated_guest_survives_a_flood_with_loss_counted "status $rc: $(head -c 300 "$tmp/fl.err") $(tail -n 1 "$tmp/fl.jsonl" | jq -c '[.t, .state, .guest.heartbeat, .net.rx_lost.total]')"; fi
	else
		skp faults_an_emulated_guest_survives_a_flood_with_loss_counted "--cpu emulated needs kvm_pvm"
	fi
	# A cycle of switches ten a tick: every one is an event, one card to the next with none
	# missing, and a tick that had more than it carries says how many it dropped.
	"$BIN" run --headless --no-bpf --duration 2 --workload idle --switch-every 0.1 >"$tmp/cyc.out" 2>"$tmp/e"
	"$BIN" run --headless --no-bpf --duration 5 --interval 5000 --workload idle --switch-every 0.1 >"$tmp/cyc5.out" 2>>"$tmp/e"
	if jq -e -s '[.[].events[]? | select(.kind == "nic_switch")] as $e
		| ($e | length) >= 10 and $e[0].from == "virtio"
		and ([range(1; $e | length) | select($e[.].from != $e[. - 1].to)] | length == 0)
		and ([.[].events_dropped // 0] | add) == 0' "$tmp/cyc.out" >/dev/null &&
		jq -e -s '([.[].events[]? | select(.kind == "nic_switch")] | length) + ([.[].events_dropped // 0] | add) >= 40
		and ([.[].events_dropped // 0] | add) > 0' "$tmp/cyc5.out" >/dev/null; then
		ok faults_every_switch_of_a_cycle_is_an_event_or_counted
	else bad faults_every_switch_of_a_cycle_is_an_event_or_counted "$(jq -c '[.events[]?.from, .events_dropped]' "$tmp/cyc.out" "$tmp/cyc5.out" | tr '\n' ' ') $(head -c 300 "$tmp/e")"; fi
else
	skp faults_a_switch_before_the_guest_is_up_waits_for_it "this machine has no /dev/kvm"
fi

if $root && $kvm; then
	# ---- The link taken from outside: set down, it is a state said once and shown in the
	# records, nothing spins while it lasts, and traffic flows again once it is up; removed
	# (the TAP, or the namespace's name), the run says so and ends with status 1. ----
	tck=$(getconf CLK_TCK)
	# host_ticks PID: CPU ticks of every thread but the vCPU's (whose time is the guest's)
	host_ticks() {
		local t n=0
		for t in /proc/"$1"/task/*; do
			case $(cat "$t/comm" 2>/dev/null) in vmscope-vcpu*) continue ;; esac
			n=$((n + $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)))
		done
		echo "$n"
	}
	link_is() { last_record_has "$1" ".net.link.state == \"$2\""; }
	rx_past() { last_record_has "$1" ".net.pps_rx.total > $2"; }
	"$BIN" run --headless --no-bpf --workload ping --interval 200 >"$tmp/l.jsonl" 2>"$tmp/l.err" &
	lp=$!
	wait_for 60 rx_past "$tmp/l.jsonl" 100
	ns=$(netns_of "$tmp/l.jsonl")
	ip -n "$ns" link set vmscope0 down
	wait_for 30 link_is "$tmp/l.jsonl" down
	t0=$(host_ticks "$lp") w0=$(date +%s%N)
	sleep 2
	t1=$(host_ticks "$lp") w1=$(date +%s%N)
	busy=$(((t1 - t0) * 1000 / tck)) wall=$(((w1 - w0) / 1000000))
	if ! link_is "$tmp/l.jsonl" down; then bad faults_a_downed_link_is_a_state "the records do not say down: $(tail -n 1 "$tmp/l.jsonl" | jq -c .net.link)"
	elif [ "$(grep -c 'set down from outside' "$tmp/l.err")" -ne 1 ]; then bad faults_a_downed_link_is_a_state "said $(grep -c 'set down from outside' "$tmp/l.err") times: $(cat "$tmp/l.err")"
	elif ! jq -e -s '[.[].events[]? | select(.kind == "link" and .to == "down")] | length == 1' "$tmp/l.jsonl" >/dev/null; then
		bad faults_a_downed_link_is_a_state "not one link event to down"
	else ok faults_a_downed_link_is_a_state; fi
	# A spin holds a core for the whole window; the host's threads at rest take a few percent.
	if [ "$busy" -lt $((wall / 2)) ]; then ok faults_nothing_spins_while_the_link_is_down
	else bad faults_nothing_spins_while_the_link_is_down "the host's threads took $busy ms of CPU in $wall ms"; fi
	ip -n "$ns" link set vmscope0 up
	wait_for 30 link_is "$tmp/l.jsonl" up
	rx=$(tail -n 1 "$tmp/l.jsonl" | jq '.net.pps_rx.total')
	if wait_for 60 rx_past "$tmp/l.jsonl" $((rx + 100)) && grep -q 'is up again after' "$tmp/l.err" &&
		last_record_has "$tmp/l.jsonl" '.net.link.faults == 1'; then ok faults_traffic_flows_again_once_the_link_is_up
	else bad faults_traffic_flows_again_once_the_link_is_up "$(tail -n 1 "$tmp/l.jsonl" | jq -c '[.net.link, .net.pps_rx]') $(cat "$tmp/l.err")"; fi
	ip -n "$ns" link del vmscope0
	wait_for 30 eval '! kill -0 '"$lp"' 2>/dev/null'
	wait "$lp"
	rc=$?
	if [ $rc -eq 1 ] && grep -q 'vmscope0 was removed from the namespace.*the run stops here' "$tmp/l.err" &&
		link_is "$tmp/l.jsonl" gone && wait_for 30 gone "$ns"; then ok faults_a_removed_tap_ends_the_run_with_why
	else bad faults_a_removed_tap_ends_the_run_with_why "status $rc: $(cat "$tmp/l.err")"; fi

	"$BIN" run --headless --no-bpf --workload ping --interval 200 >"$tmp/n.jsonl" 2>"$tmp/n.err" &
	lp=$!
	wait_for 60 rx_past "$tmp/n.jsonl" 10
	ns=$(netns_of "$tmp/n.jsonl")
	ip netns del "$ns"
	wait_for 30 eval '! kill -0 '"$lp"' 2>/dev/null'
	wait "$lp"
	rc=$?
	if [ $rc -eq 1 ] && grep -q "namespace $ns was removed from outside" "$tmp/n.err" && [ ! -e "/run/vmscope/$ns.lock" ]; then
		ok faults_a_removed_namespace_ends_the_run_with_why
	else bad faults_a_removed_namespace_ends_the_run_with_why "status $rc: $(cat "$tmp/n.err")"; fi

	# ---- A switch under an unpaced flood is charged the datagrams sent in its own window, not
	# the ordinary overflow of the ticks around it: at most what the peer sent in the window
	# (its rate over the records around the switch times the switch's duration, thrice for
	# bursts, plus a ring). ----
	"$BIN" run --headless --no-bpf --workload rx --rate 0 --interval 500 --duration 6 --switch-to vf@3 >"$tmp/w.jsonl" 2>"$tmp/w.err"
	verdict=$(jq -s -r '
		([.[].events[]? | select(.kind == "nic_switch" and .ok)][0]) as $e
		| if $e == null then "no switch event"
		  else
			([.[] | select(.t <= $e.t)] | last) as $a
			| ([.[] | select(.t >= $e.t + 1)] | first) as $b
			| if $a == null or $b == null then "no records around the switch" else
				(($b.net.pps_rx.total + $b.net.rx_lost.total - $a.net.pps_rx.total - $a.net.rx_lost.total) / ($b.t - $a.t)) as $rate
				| ($rate * $e.duration_ms / 1000 * 3 + 256) as $bound
				| if $e.lost <= $bound and $e.lost <= $b.net.rx_lost.total then "ok"
				  else "lost \($e.lost) in \($e.duration_ms) ms at \($rate | floor)/s sent (bound \($bound | floor)), overflow \($b.net.rx_lost.total)" end
			  end
		  end' "$tmp/w.jsonl")
	if [ "$verdict" = ok ]; then ok faults_a_switch_is_charged_its_own_window
	else bad faults_a_switch_is_charged_its_own_window "$verdict $(head -c 300 "$tmp/w.err")"; fi
else
	skp faults_a_downed_link_is_a_state "needs root and KVM for a TAP link"
fi

# ---- /metrics under hostile clients: slow ones cannot lock a scrape out, a method other than
# GET or HEAD gets 405, and before the first tick the answer is 503, never an empty 200. ----
if command -v curl >/dev/null && $kvm; then
	"$BIN" run --headless --no-bpf --interval 200 --listen 0 >/dev/null 2>"$tmp/m.err" &
	mp=$!
	port_said() { grep -q "serving metrics at" "$tmp/m.err"; }
	wait_for 30 port_said
	port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$tmp/m.err")
	scrape() { curl -s -o "$tmp/m.txt" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/metrics"; }
	got_200() { [ "$(scrape)" = 200 ] && grep -q '^vmscope_info' "$tmp/m.txt"; }
	wait_for 30 got_200
	# 40 clients that send a header byte a second and never finish their request.
	slow() {
		exec 3<>"/dev/tcp/127.0.0.1/$port" || return
		for c in G E T ' ' / m; do printf %s "$c" >&3 2>/dev/null || return; sleep 1; done
		exec 3>&-
	}
	for i in $(seq 40); do slow & done
	sleep 1
	good=0
	for i in 1 2 3 4 5; do [ "$(scrape)" = 200 ] && good=$((good + 1)); sleep 0.5; done
	if [ $good -eq 5 ]; then ok faults_slow_http_clients_do_not_lock_out_a_scrape
	else bad faults_slow_http_clients_do_not_lock_out_a_scrape "$good of 5 scrapes answered"; fi
	# A request that trickles in is cut at its deadline (2 s from accept), not kept alive by
	# each byte as an idle timeout would be.
	start=$(date +%s%N)
	exec 4<>"/dev/tcp/127.0.0.1/$port"
	(for c in G E T ' ' / m e t r i c s; do printf %s "$c" >&4 2>/dev/null || exit; sleep 0.4; done) &
	trickle=$!
	status=
	read -r -t 10 -u 4 status
	took=$((($(date +%s%N) - start) / 1000000))
	exec 4>&-
	kill "$trickle" 2>/dev/null
	if [ "$took" -lt 4000 ] && [[ $status == "HTTP/1.1 408 "* ]]; then ok faults_a_trickled_request_is_cut_at_its_deadline
	else bad faults_a_trickled_request_is_cut_at_its_deadline "the connection lived ${took} ms, answered '${status%$'\r'}'"; fi
	# Requests libmicrohttpd would drop without a word get a 400 (no spaces, bytes that are not
	# text, HTTP/0.9); the next scrape is served as ever.
	bad400=0
	for req in 'HELLO\r\n\r\n' 'GET\r\n\r\n' '\x01\x02\xff garbage\r\n\r\n' 'GET /metrics\r\n\r\n'; do
		exec 5<>"/dev/tcp/127.0.0.1/$port"
		# shellcheck disable=SC2059 # the request's escapes are printf's to expand
		(trap '' PIPE; printf "$req" >&5) 2>/dev/null
		status=
		read -r -t 5 -u 5 status
		exec 5>&-
		[[ $status == "HTTP/1.1 400 "* ]] || bad400=$((bad400 + 1))
	done
	if [ $bad400 -eq 0 ] && [ "$(scrape)" = 200 ]; then ok faults_a_malformed_request_gets_400
	else bad faults_a_malformed_request_gets_400 "$bad400 of 4 malformed requests had no 400"; fi
	code=$(curl -s -o /dev/null -D "$tmp/h" -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$port/metrics")
	if [ "$code" = 405 ] && grep -qi '^Allow: GET, HEAD' "$tmp/h"; then ok faults_http_post_gets_405_with_allow
	else bad faults_http_post_gets_405_with_allow "status $code: $(cat "$tmp/h")"; fi
	kill "$mp" 2>/dev/null
	wait "$mp" 2>/dev/null
	# A tick a minute: the first one is a minute away, and /metrics says it is starting.
	"$BIN" run --headless --no-bpf --interval 60000 --duration 70 --listen 0 >/dev/null 2>"$tmp/m2.err" &
	mp=$!
	port_said2() { grep -q "serving metrics at" "$tmp/m2.err"; }
	wait_for 30 port_said2
	port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$tmp/m2.err")
	code=$(curl -s -o "$tmp/m2.txt" -D "$tmp/h2" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/metrics")
	if [ "$code" = 503 ] && grep -q "starting" "$tmp/m2.txt" && grep -qi '^Retry-After' "$tmp/h2"; then
		ok faults_metrics_before_the_first_tick_is_503
	else bad faults_metrics_before_the_first_tick_is_503 "status $code: $(cat "$tmp/m2.txt")"; fi
	kill "$mp" 2>/dev/null
	wait "$mp" 2>/dev/null
	wait
else
	skp faults_slow_http_clients_do_not_lock_out_a_scrape "needs curl and KVM for a live endpoint"
fi

echo "$pass passed, $fail failed, $skip skipped"
