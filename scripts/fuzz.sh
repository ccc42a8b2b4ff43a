#!/usr/bin/env bash
# Builds the libFuzzer targets (Swift's -sanitize=fuzzer, with AddressSanitizer) and runs each for
# the given number of seconds (default 60) on its committed seed corpus (Fuzz/corpus/<target>,
# plus the bundled example configuration and policies).
# New inputs go to .build/fuzz/corpus/<target>; a crash leaves its input in .build/fuzz/artifacts
# and makes this script fail. Usage: scripts/fuzz.sh [seconds] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
export PATH="/opt/swift/usr/bin:$PATH"
seconds=${1:-${FUZZ_SECONDS:-60}}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(FuzzSMTPCommand FuzzDataDecoder FuzzConfig FuzzThreadedLua FuzzReplyParser FuzzHeaderSection FuzzLuaPatterns FuzzDNSMessage FuzzDKIMVerify FuzzMIMEStructure FuzzSevenBitDowngrade FuzzTransmission)
fi
# lld: gold fails on AddressSanitizer objects with debug information.
# The C layer (LuaShim) is instrumented too, so its branches guide the fuzzer.
flags=(--build-path .build/fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DIMPULSE_FUZZ -Xswiftc -use-ld=lld
       -Xcc -fsanitize=fuzzer-no-link,address)
for target in "${targets[@]}"; do
  swift build "${flags[@]}" --product "$target" 2>&1 | grep -E "error|warning: " || true
  [[ -x .build/fuzz/debug/$target ]] || { echo "fuzz: $target did not build" >&2; exit 1; }
done
mkdir -p .build/fuzz/artifacts
status=0
for target in "${targets[@]}"; do
  corpus=.build/fuzz/corpus/$target
  mkdir -p "$corpus"
  log=.build/fuzz/$target-${seconds}s.log
  # The bundled example configuration and policies are seeds too (not copied into the repository).
  seeds=(Fuzz/corpus/"$target")
  case $target in
    FuzzConfig) mkdir -p .build/fuzz/seeds-config && cp examples/ecelerity.conf .build/fuzz/seeds-config/ && seeds+=(.build/fuzz/seeds-config) ;;
    FuzzThreadedLua) seeds+=(examples/policies) ;;
  esac
  if .build/fuzz/debug/"$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix=.build/fuzz/artifacts/"$target"- "$corpus" "${seeds[@]}" >"$log" 2>&1; then
    runs=$(grep -a -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    echo "fuzz: $target: ${runs:-?} runs in ${seconds} s, no crash, corpus $(ls "$corpus" | wc -l) inputs"
  else
    echo "fuzz: $target: FAILED (see $log and .build/fuzz/artifacts/)"
    tail -30 "$log"
    status=1
  fi
done
exit $status
