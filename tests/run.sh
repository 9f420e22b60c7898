#!/usr/bin/env bash
# Runs every suite (unit, integration, CLI, hardware lane) and ends with one
# "N passed, N failed, N skipped" line over all of them.
set -u
cd "$(dirname "$0")/.." || exit 1
total_pass=0 total_fail=0 total_skip=0

suite() {
	local name=$1
	shift
	echo "== $name"
	local log rc out
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	out=$(tail -n 1 "$log")
	rm -f "$log"
	if [[ $out =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
		total_pass=$((total_pass + BASH_REMATCH[1]))
		total_fail=$((total_fail + BASH_REMATCH[2]))
		total_skip=$((total_skip + ${BASH_REMATCH[4]:-0}))
	else
		echo "FAIL $name: the suite ended without a summary line (exit $rc)"
		total_fail=$((total_fail + 1))
	fi
}

suite unit ./build/tests/unit
suite integration ./build/tests/integration
suite cli tests/cli.sh
suite replay tests/replay.sh
suite outputs tests/outputs.sh
suite faults tests/faults.sh
suite translated tests/translated.sh
suite observer tests/observer.sh
suite attach tests/attach.sh
suite install tests/install.sh
suite hwlane tests/hwlane/run.sh

echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
