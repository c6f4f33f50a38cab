#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a while.
#
#   scripts/run-fuzzers.sh BUILD_DIR SECONDS [JOBS]
#
# Each target runs for SECONDS seconds on a scratch copy of its seed corpus
# (fuzz/corpus/<target>/), with its dictionary (fuzz/<target>.dict) when there
# is one, so the committed seeds never change.  Prints one line per target
# and exits non-zero if any target crashed, leaked, hit an invariant or
# failed to run; the crashing inputs and the logs are then kept in
# BUILD_DIR/fuzz-findings/.  Build the targets first with `make fuzz`.
# JOBS targets run at the same time (default 1): a libFuzzer run uses one
# core, so on N cores N at a time fuzz each target as long, in 1/N of the
# time.
set -uo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 BUILD_DIR SECONDS [JOBS]" >&2
  exit 2
fi
build_dir=$1
seconds=$2
jobs=${3:-1}
case "$seconds" in
  '' | *[!0-9]*) echo "run-fuzzers: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
case "$jobs" in
  '' | *[!0-9]* | 0) echo "run-fuzzers: JOBS must be a whole number from 1, got '$jobs'" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
targets=(fuzz_syslog_parser fuzz_framing fuzz_template fuzz_filter fuzz_multi_line fuzz_ferry_codec fuzz_disk_queue)

work=$(mktemp -d "${TMPDIR:-/tmp}/logferry-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Leaks count as failures; UBSan findings stop the run with a stack.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# Runs one target; writes its line of the summary to $work/$t/result and
# exits non-zero when it failed.
run_target() {
  local t=$1
  local bin="$build_dir/fuzz/$t"
  local result="$work/$t/result"
  mkdir -p "$work/$t"
  if [ ! -x "$bin" ]; then
    printf '%-20s FAIL  not built: %s (run make fuzz)\n' "$t" "$bin" >"$result"
    return 1
  fi
  local corpus="$work/$t/corpus"
  local artifacts="$work/$t/artifacts"
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$root/fuzz/corpus/$t" ]; then
    cp -R "$root/fuzz/corpus/$t/." "$corpus/"
  fi
  local seeds
  seeds=$(find "$corpus" -type f | wc -l)
  local args=(-max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$artifacts/")
  [ -f "$root/fuzz/$t.dict" ] && args+=(-dict="$root/fuzz/$t.dict")
  local log="$work/$t/log"

  "$bin" "${args[@]}" "$corpus" >"$log" 2>&1
  local rc=$?

  local runs cov units summary crashes
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  units=$(find "$corpus" -type f | wc -l)
  summary="${runs:-?} runs, cov ${cov:-?}, corpus $seeds -> $units"

  crashes=$(find "$artifacts" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    local keep="$build_dir/fuzz-findings/$t"
    mkdir -p "$keep"
    cp "$log" "$keep/log"
    cp -R "$artifacts/." "$keep/" 2>/dev/null
    # The failed invariant if one failed, else the sanitizer's summary line.
    local what
    what=$(grep -m1 -oE 'invariant failed: .*' "$log" || grep -m1 -oE '^SUMMARY: .*' "$log" | cut -c10-)
    printf '%-20s FAIL  %s; %s; inputs and log in %s\n' "$t" "${what:-exit $rc}" "$summary" "$keep" >"$result"
    return 1
  fi
  printf '%-20s ok    %ss, %s\n' "$t" "$seconds" "$summary" >"$result"
}

for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n
  done
  run_target "$t" &
done
wait

# The summary in the targets' order; any target without an ok line failed.
failed=0
for t in "${targets[@]}"; do
  if [ -f "$work/$t/result" ]; then
    cat "$work/$t/result"
  else
    printf '%-20s FAIL  no result (the run was cut short)\n' "$t"
  fi
  grep -q '^[^ ]* *ok ' "$work/$t/result" 2>/dev/null || failed=1
done

if [ "$failed" -ne 0 ]; then
  echo "run-fuzzers: FAILED (reproduce: $build_dir/fuzz/<target> <input>)" >&2
  exit 1
fi
exit 0
