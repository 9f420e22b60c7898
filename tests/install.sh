#!/usr/bin/env bash
# vmscope as a user installs it: `make install` into a DESTDIR, the installed binary replaying the
# tour from another directory with the build tree moved away, the man page and --help naming the
# same options, the completion's values accepted by the parser, and `replay --cast` read by
# Debian's asciinema. None of it needs KVM or root.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-$PWD/build/vmscope}
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- make install into a DESTDIR; the installed binary finds its tour by its prefix, from another
# directory, with the build tree out of reach (a copy of the tree, built, installed, then moved). ----
tree=$tmp/tree dest=$tmp/dest
mkdir -p "$tree"
git ls-files -z | xargs -0 cp -a --parents -t "$tree" 2>/dev/null
# The build as it stands, less what install never needs (the hardware lane's kernel, the tests).
mkdir -p "$tree/build"
(cd build && find . -path ./hwlane -prune -o -path ./san -prune -o -path ./t -prune -o -path ./tests -prune -o -path ./fuzz -prune -o -path ./bench -prune -o -type f -print0 |
	cpio -0pdm --quiet "$tree/build")
if ! make -C "$tree" install DESTDIR="$dest" PREFIX=/usr >"$tmp/install.log" 2>&1; then
	bad make_install "$(tail -5 "$tmp/install.log")"
else
	mv "$tree" "$tmp/moved"
	missing=""
	for f in bin/vmscope share/vmscope/tour.jsonl.gz share/man/man1/vmscope.1 share/bash-completion/completions/vmscope; do
		[ -f "$dest/usr/$f" ] || missing="$missing $f"
	done
	lines=$(cd / && "$dest/usr/bin/vmscope" replay --headless 2>"$tmp/inst.err" | wc -l)
	want=$(zcat demo/tour.jsonl.gz | grep -c '"seq"')
	if [ -n "$missing" ]; then bad make_install "not installed:$missing"
	elif [ "$lines" -ne "$want" ]; then bad make_install "the installed replay gave $lines records of $want: $(cat "$tmp/inst.err")"
	else ok make_install; fi
	echo "    installed replay from /: $lines records of the tour"
	# uninstall takes away what install put there, and nothing else
	touch "$dest/usr/share/keep"
	make -C "$tmp/moved" uninstall DESTDIR="$dest" PREFIX=/usr >/dev/null 2>&1
	left=$(cd "$dest" && find . -type f | sort | tr '\n' ' ')
	if [ "$left" = "./usr/share/keep " ]; then ok make_uninstall
	else bad make_uninstall "left: $left"; fi
fi

# ---- the man page: lint-clean, rendered by man, every option of --help and no other ----
if command -v mandoc >/dev/null; then
	if mandoc -Tlint docs/vmscope.1 >"$tmp/lint" 2>&1; then ok man_page_lint_clean
	else bad man_page_lint_clean "$(head -5 "$tmp/lint")"; fi
else skp man_page_lint_clean "mandoc is not installed (Debian: mandoc)"; fi
if command -v man >/dev/null && MANWIDTH=100 man -l docs/vmscope.1 2>/dev/null | grep -q 'EXIT STATUS'; then ok man_page_renders
else skp man_page_renders "man -l did not render it (Debian: man-db)"; fi
opts_help=$("$BIN" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
opts_man=$(sed 's/\\-/-/g' docs/vmscope.1 | grep -A1 '^\.TP' | grep -o -- '--[a-z][a-z-]*' | sort -u)
if [ "$opts_help" = "$opts_man" ]; then ok man_page_lists_every_option
else bad man_page_lists_every_option "$(diff <(echo "$opts_help") <(echo "$opts_man") | grep '^[<>]' | tr '\n' ' ')"; fi

# ---- the completion: subcommands and options offered; each value it offers, the parser takes ----
# complete_words LINE: what the completion offers for the last word of LINE.
complete_words() {
	(
		# shellcheck disable=SC1091
		. scripts/vmscope.bash-completion
		read -r -a COMP_WORDS <<<"$1"
		[[ $1 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_WORDS[0]=$BIN
		_vmscope
		printf '%s\n' "${COMPREPLY[@]}"
	)
}
good=true
[ "$(complete_words "vmscope re" | tr '\n' ' ')" = "replay " ] || { good=false; bad completion_subcommands "vmscope re -> $(complete_words "vmscope re")"; }
[ "$(complete_words "vmscope --no-" | tr '\n' ' ')" = "--no-bpf --no-capture --no-stats " ] || { good=false; bad completion_options "--no- -> $(complete_words "vmscope --no-" | tr '\n' ' ')"; }
$good && ok completion_offers_subcommands_and_options
refused=""
for opt in --nic --cpu --format --kind --workload --cast-size; do
	for v in $(complete_words "vmscope $opt "); do
		sub=run
		[ $opt = --cast-size ] && sub="replay --cast $tmp/x.cast"
		# shellcheck disable=SC2086 # sub is two words on purpose
		"$BIN" $sub "$opt" "$v" --version >/dev/null 2>&1 || refused="$refused $opt $v"
	done
done
if [ -z "$refused" ]; then ok completion_values_are_the_parsers
else bad completion_values_are_the_parsers "refused:$refused"; fi

# ---- replay --cast: an asciicast v2 of the dashboard replaying the tour, at its own pace ----
if "$BIN" replay --cast "$tmp/tour.cast" 2>"$tmp/cast.err"; then
	head -n 1 "$tmp/tour.cast" >"$tmp/head.json"
	first_t=$(zcat demo/tour.jsonl.gz | jq -s '[.[] | select(.seq)] | .[0].t')
	last_t=$(zcat demo/tour.jsonl.gz | jq -s '[.[] | select(.seq)] | .[-1].t')
	host=$(zcat demo/tour.jsonl.gz | jq -rs '[.[] | select(.seq)] | .[0].host')
	if ! jq -e '.version == 2 and .width == 120 and .height == 40 and .env.TERM == "xterm-256color"' "$tmp/head.json" >/dev/null; then
		bad cast_is_asciicast_v2 "header: $(cat "$tmp/head.json")"
	elif ! tail -n +2 "$tmp/tour.cast" | jq -se 'all(.[]; length == 3 and (.[0] | type) == "number" and .[1] == "o" and (.[2] | type) == "string") and ([.[][0]] | . == sort)' >/dev/null; then
		bad cast_is_asciicast_v2 "an event is not [time, \"o\", text] in order"
	elif ! tail -n 1 "$tmp/tour.cast" | jq -e --argjson d "$(jq -n "$last_t - $first_t")" '(.[0] - $d) | fabs < 0.01' >/dev/null; then
		bad cast_is_asciicast_v2 "the last event at $(tail -n 1 "$tmp/tour.cast" | jq '.[0]') s, the recording lasts $last_t - $first_t s"
	else ok cast_is_asciicast_v2; fi
	echo "    $(cat "$tmp/cast.err")"
	# The first frame is a whole screen: the first snapshot's figures stand in it as recorded.
	first=$(zcat demo/tour.jsonl.gz | jq -rs '[.[] | select(.seq)] | .[0] | "cpu \(.cpu_mode) | \(.state) | \(.workload):\(.kind) @ \(.rate)/s"')
	if sed -n 2p "$tmp/tour.cast" | jq -r '.[2]' | grep -qF -- "$first"; then ok cast_frames_carry_the_recordings_figures
	else bad cast_frames_carry_the_recordings_figures "the first frame lacks '$first'"; fi
	if command -v asciinema >/dev/null && command -v script >/dev/null; then
		# asciinema cat writes to a terminal: script gives it one.
		if timeout 60 script -qec "asciinema cat $tmp/tour.cast" /dev/null </dev/null >"$tmp/cat.out" 2>&1 &&
			grep -aq "host $host" "$tmp/cat.out" && grep -aq "COMPARE" "$tmp/cat.out"; then
			ok cast_plays_in_asciinema
		else bad cast_plays_in_asciinema "asciinema cat: $(head -c 300 "$tmp/cat.out")"; fi
	else skp cast_plays_in_asciinema "asciinema (Debian: asciinema) or script (util-linux) is not installed"; fi
else
	bad cast_is_asciicast_v2 "$(cat "$tmp/cast.err")"
fi
"$BIN" replay --cast "$tmp/small.cast" --cast-size 80x24 2>/dev/null
if head -n 1 "$tmp/small.cast" | jq -e '.width == 80 and .height == 24' >/dev/null 2>&1; then ok cast_size_is_the_screens
else bad cast_size_is_the_screens "$(head -n 1 "$tmp/small.cast")"; fi
expect cast_only_with_replay 2 "vmscope replay --cast FILE" -- "$BIN" run --cast "$tmp/r.cast"
expect cast_size_bounded 2 "from 80x24 to 1000x1000" -- "$BIN" replay --cast "$tmp/r.cast" --cast-size 10x10
expect cast_size_needs_cast 2 "add --cast FILE" -- "$BIN" replay --cast-size 100x30
zcat demo/tour.jsonl.gz >"$tmp/rec.jsonl"
expect cast_never_the_recording 1 "names the recording it replays" -- "$BIN" replay "$tmp/rec.jsonl" --cast "$tmp/rec.jsonl"
if cmp -s "$tmp/rec.jsonl" <(zcat demo/tour.jsonl.gz); then ok cast_leaves_the_recording_whole
else bad cast_leaves_the_recording_whole "the recording changed"; fi
expect cast_into_a_missing_folder 1 "cast" -- "$BIN" replay --cast "$tmp/nowhere/x.cast"
if [ ! -e "$tmp/nowhere" ]; then ok cast_refusal_creates_nothing
else bad cast_refusal_creates_nothing "$tmp/nowhere exists"; fi

# ---- the docs' PromQL (prometheus.md's table, the Grafana dashboard) parses, and every metric it
# names is one vmscope serves ----
{
	jq -r '.panels[].targets[].expr' docs/grafana-vmscope.json
	# shellcheck disable=SC2016 # the backquotes are the table's
	grep '^| ' docs/prometheus.md | sed -n 's/.*| `\(.*\)` |$/\1/p'
} >"$tmp/exprs"
served=$(grep -o '"vmscope_[a-z0-9_]*"' tui/exposition.c | tr -d '"' | sort -u)
unknown=""
while read -r m; do
	grep -qx "$m" <<<"$served" || unknown="$unknown $m"
done < <(grep -o 'vmscope_[a-z0-9_]*' "$tmp/exprs" | sed 's/_bucket$//' | sort -u)
if [ "$(wc -l <"$tmp/exprs")" -lt 12 ]; then bad docs_promql_names_served_metrics "found $(wc -l <"$tmp/exprs") expressions"
elif [ -n "$unknown" ]; then bad docs_promql_names_served_metrics "not served:$unknown"
else ok docs_promql_names_served_metrics; fi
if command -v promtool >/dev/null; then
	{
		echo "groups:"
		echo "  - name: docs"
		echo "    rules:"
		i=0
		while read -r e; do
			i=$((i + 1))
			echo "      - record: docs:expr$i"
			echo "        expr: '$e'" # the expressions hold no single quote
		done <"$tmp/exprs"
	} >"$tmp/rules.yml"
	if promtool check rules "$tmp/rules.yml" >"$tmp/promtool.out" 2>&1; then ok docs_promql_parses
	else bad docs_promql_parses "$(tail -5 "$tmp/promtool.out")"; fi
else skp docs_promql_parses "promtool is not installed (Debian: prometheus)"; fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
