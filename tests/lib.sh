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
