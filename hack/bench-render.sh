#!/usr/bin/env bash
# Throughput and memory benchmark of `distro render` on a large synthetic
# distribution (see hack/bench/gen.py for what it contains).
#
#   hack/bench-render.sh                          200 releases x 40 objects, 3 runs
#   RELEASES=500 OBJECTS=20 RUNS=5 hack/bench-render.sh
#   DISTRO_BIN=path/to/distro hack/bench-render.sh   skip the build
#
# Steps: build the release binary, generate the distribution into a temporary
# directory, check it with `distro validate`, time `distro render --out DIR`
# RUNS times (fresh output directory each time) and `distro render` to
# /dev/null once, then print a summary.
#
# Goals: at least GOAL_MB_PER_S (50) MB/s of rendered YAML, using the median
# --out run, and a peak RSS (the highest of all render runs) under the output
# size plus RSS_SLACK_MB (50). MB means MiB (1048576 bytes) throughout.
#
# The last line is machine-readable:
#   bench-render: releases=.. objects=.. output_mb=.. seconds=.. mb_per_s=.. peak_rss_mb=.. rss_budget_mb=.. ...
#
# Exit codes: 0 goals met, 1 a goal missed, anything else the benchmark
# itself failed (build, generation, validation, render).
set -euo pipefail

RELEASES=${RELEASES:-200}
OBJECTS=${OBJECTS:-40}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
GOAL_MB_PER_S=${GOAL_MB_PER_S:-50}
RSS_SLACK_MB=${RSS_SLACK_MB:-50}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GEN=$ROOT/hack/bench/gen.py

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench-render: %s\n' "$*" >&2; exit 2; }

for v in RELEASES OBJECTS RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
command -v python3 >/dev/null || die "python3 is required"

# GNU time, for the peak RSS.
TIME=/usr/bin/time
if [[ ! -x $TIME ]]; then
    log "installing GNU time (Debian package 'time')"
    SUDO=
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq time >/dev/null
fi
[[ -x $TIME ]] || die "$TIME is missing"

if [[ -n ${DISTRO_BIN:-} ]]; then
    log "using $DISTRO_BIN (DISTRO_BIN set, not building)"
    BIN=$DISTRO_BIN
else
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/distro
fi
[[ -x $BIN ]] || die "no binary at $BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-render.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DIST=$WORK/dist
OUT=$WORK/out

log "generating $RELEASES releases x $OBJECTS objects"
python3 "$GEN" --releases "$RELEASES" --objects "$OBJECTS" --seed "$SEED" --out "$DIST"

now_ns() { date +%s%N; }

# measure NAME CMD...: runs CMD under GNU time; stdout goes to $WORK/NAME.stdout
# unless CMD redirects it. Sets SECONDS_TAKEN (wall), CPU_TAKEN (user + sys)
# and RSS_KB (peak).
measure() {
    local name=$1
    shift
    local start end
    start=$(now_ns)
    if ! "$TIME" -f '%M %U %S' -o "$WORK/$name.time" "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.stderr"; then
        cat "$WORK/$name.stderr" >&2
        die "'$*' failed"
    fi
    end=$(now_ns)
    SECONDS_TAKEN=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", (e - s) / 1e9 }')
    local rss user sys
    read -r rss user sys < <(tail -n 1 "$WORK/$name.time")
    RSS_KB=$rss
    CPU_TAKEN=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
}

# The render phase alone, from the `rendered` log line (-v), if present.
render_ms() {
    sed 's/\x1b\[[0-9;]*m//g' "$WORK/$1.stderr" | grep -o 'elapsed_ms=[0-9]*' | tail -n 1 | cut -d= -f2 || true
}

log "distro validate"
measure validate "$BIN" validate -v -p "$DIST/platform.yaml"
VALIDATE_S=$SECONDS_TAKEN
VALIDATE_RSS_KB=$RSS_KB
VALIDATE_RENDER_MS=$(render_ms validate)

declare -a RUN_S RUN_CPU RUN_RSS RUN_RENDER_MS
for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$OUT"
    log "distro render --out (run $i of $RUNS)"
    measure "run$i" "$BIN" render -v -p "$DIST/platform.yaml" --out "$OUT"
    RUN_S+=("$SECONDS_TAKEN")
    RUN_CPU+=("$CPU_TAKEN")
    RUN_RSS+=("$RSS_KB")
    RUN_RENDER_MS+=("$(render_ms "run$i")")
done

log "distro render > /dev/null"
measure stdout sh -c 'exec "$0" render -v -p "$1" >/dev/null' "$BIN" "$DIST/platform.yaml"
STDOUT_S=$SECONDS_TAKEN
STDOUT_RSS_KB=$RSS_KB

# Output of the last --out run.
OUTPUT_BYTES=$(find "$OUT" -maxdepth 1 -name '*.yaml' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
FILES=$(find "$OUT" -maxdepth 1 -name '*.yaml' | wc -l)
OBJECTS_TOTAL=$(python3 -c 'import json, sys; print(sum(e["objects"] for e in json.load(open(sys.argv[1]))))' "$OUT/index.json")
INPUT_BYTES=$(du -sb "$DIST" | cut -f1)

# Figures. The median of the --out runs is the time the goals use.
read -r MEDIAN_S BEST_S WORST_S < <(printf '%s\n' "${RUN_S[@]}" | sort -g | awk '
    { t[NR] = $1 }
    END {
        m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
        printf "%.3f %.3f %.3f\n", m, t[1], t[NR]
    }')
MEDIAN_CPU=$(printf '%s\n' "${RUN_CPU[@]}" | sort -g | awk '{ t[NR] = $1 } END { printf "%.2f", (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }')
MAX_RSS_KB=$(printf '%s\n' "${RUN_RSS[@]}" "$STDOUT_RSS_KB" | sort -n | tail -n 1)

calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
OUTPUT_MB=$(calc "$OUTPUT_BYTES / 1048576")
INPUT_MB=$(calc "$INPUT_BYTES / 1048576")
MB_PER_S=$(calc "$OUTPUT_MB / $MEDIAN_S" 1)
BEST_MB_PER_S=$(calc "$OUTPUT_MB / $BEST_S" 1)
STDOUT_MB_PER_S=$(calc "$OUTPUT_MB / $STDOUT_S" 1)
PEAK_RSS_MB=$(calc "$MAX_RSS_KB / 1024" 1)
VALIDATE_RSS_MB=$(calc "$VALIDATE_RSS_KB / 1024" 1)
STDOUT_RSS_MB=$(calc "$STDOUT_RSS_KB / 1024" 1)
RSS_BUDGET_MB=$(calc "$OUTPUT_MB + $RSS_SLACK_MB" 1)
MB_PER_CPU_S=$(calc "$OUTPUT_MB / $MEDIAN_CPU" 1)
AVG_OBJECT_KB=$(calc "$OUTPUT_BYTES / $OBJECTS_TOTAL / 1024" 2)

THROUGHPUT_OK=$(awk -v a="$MB_PER_S" -v g="$GOAL_MB_PER_S" 'BEGIN { print (a >= g) ? "yes" : "no" }')
RSS_OK=$(awk -v r="$PEAK_RSS_MB" -v b="$RSS_BUDGET_MB" 'BEGIN { print (r < b) ? "yes" : "no" }')
verdict() { [[ $1 == yes ]] && echo PASS || echo FAIL; }

runs_list=$(printf '%ss ' "${RUN_S[@]}")
cpu_list=$(printf '%ss ' "${RUN_CPU[@]}")
rss_list=$(printf '%s ' "${RUN_RSS[@]}" | awk '{ for (i = 1; i <= NF; i++) printf "%.1f ", $i / 1024 }')
render_list=
[[ -n ${RUN_RENDER_MS[0]} ]] && render_list=$(printf '%sms ' "${RUN_RENDER_MS[@]}")

echo
echo "distro render benchmark ($(uname -m), $(nproc) CPUs; MB = 2^20 bytes)"
printf '  %-34s %s\n' \
    "distribution" "$RELEASES releases x $OBJECTS objects = $OBJECTS_TOTAL objects, $INPUT_MB MB of input" \
    "output" "$OUTPUT_MB MB in $FILES release files, $AVG_OBJECT_KB KB per object" \
    "render --out, each run" "$runs_list" \
    "render --out, median / best" "${MEDIAN_S}s / ${BEST_S}s" \
    "  CPU time (user + sys), each run" "$cpu_list(${MB_PER_CPU_S} MB per CPU-second, median)" \
    "  of which render phase (-v log)" "${render_list:-n/a}" \
    "render > /dev/null" "${STDOUT_S}s (${STDOUT_MB_PER_S} MB/s), peak RSS ${STDOUT_RSS_MB} MB" \
    "validate" "${VALIDATE_S}s, peak RSS ${VALIDATE_RSS_MB} MB, render phase ${VALIDATE_RENDER_MS:-?}ms" \
    "throughput, median / best" "$MB_PER_S MB/s / $BEST_MB_PER_S MB/s" \
    "peak RSS, --out runs" "$rss_list(MB)" \
    "peak RSS, highest of all renders" "$PEAK_RSS_MB MB"
echo
printf '  %-40s %-14s %-14s %s\n' "goal" "target" "measured" "result"
printf '  %-40s %-14s %-14s %s\n' \
    "throughput (median run)" ">= $GOAL_MB_PER_S MB/s" "$MB_PER_S MB/s" "$(verdict "$THROUGHPUT_OK")" \
    "peak RSS < output + $RSS_SLACK_MB MB" "< $RSS_BUDGET_MB MB" "$PEAK_RSS_MB MB" "$(verdict "$RSS_OK")"
echo
echo "bench-render: releases=$RELEASES objects=$OBJECTS_TOTAL output_mb=$OUTPUT_MB seconds=$MEDIAN_S mb_per_s=$MB_PER_S peak_rss_mb=$PEAK_RSS_MB rss_budget_mb=$RSS_BUDGET_MB best_seconds=$BEST_S stdout_seconds=$STDOUT_S validate_seconds=$VALIDATE_S cpu_seconds=$MEDIAN_CPU throughput_ok=$THROUGHPUT_OK rss_ok=$RSS_OK"

[[ $THROUGHPUT_OK == yes && $RSS_OK == yes ]] || exit 1
