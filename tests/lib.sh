# shellcheck shell=bash
# shellcheck disable=SC2154 # $tmp is the sourcing script's
# What the shell suites share: the counters, and `expect` for one-sentence errors.
# The sourcing script sets $tmp (a scratch directory) and prints the summary line at its end.
pass=0 fail=0 skip=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
skp() { echo "skip $1: $2"; skip=$((skip + 1)); }

# expect NAME STATUS PATTERN -- CMD...: exit status and one stderr line matching PATTERN
expect() {
	local name=$1 status=$2 pattern=$3
	shift 4
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	local rc=$?
	if [ $rc -ne "$status" ]; then bad "$name" "exit $rc, wanted $status ($(head -c 300 "$tmp/err"))"
	elif ! grep -q -- "$pattern" "$tmp/err"; then bad "$name" "stderr lacks '$pattern': $(cat "$tmp/err")"
	elif [ "$(wc -l <"$tmp/err")" -ne 1 ]; then bad "$name" "wanted one line on stderr, got: $(cat "$tmp/err")"
	else ok "$name"; fi
}

# The suites drive a known amount of work and wait for it; a wait's bound is for a hang only.
# wait_for BOUND CMD...: polls CMD every 0.1 s until it succeeds (0) or BOUND seconds pass (1).
wait_for() {
	local bound=$1 i
	shift
	for ((i = 0; i < bound * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}
# pane_until TMUX TARGET FILE PATTERN: captures the pane into FILE until it shows PATTERN (grep -E),
# at most 30 s; TMUX is the tmux command with its socket ("tmux -L name"), split on purpose.
pane_shows() { $1 capture-pane -p -t "$2" >"$3" && grep -qE -- "$4" "$3"; }
pane_until() { wait_for 30 pane_shows "$@"; }
# json_lines FILE N: FILE holds at least N lines.
json_lines() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
# last_record_has FILE FILTER: FILE's last line is a complete record that the jq FILTER holds for.
last_record_has() {
	local line
	line=$(tail -n 1 "$1" 2>/dev/null) && [ -n "$line" ] && jq -e "$2" <<<"$line" >/dev/null 2>&1
}
