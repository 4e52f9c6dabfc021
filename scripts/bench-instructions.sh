#!/usr/bin/env bash
# Counts CPU instructions per operation for each benchmark variant with
# valgrind's callgrind: unlike ns/op, the count does not depend on what else
# the machine is doing. Setup cost cancels out by running each benchmark at
# two iteration counts and dividing the difference. Async preemption is off:
# its signals crash callgrind. GC is off and one P runs, so the count repeats
# to within ~0.2%.
# A variant may name nested sub-benchmarks: VARIANTS="shards=4/grant".
#   usage: [VARIANTS="plain grant"] scripts/bench-instructions.sh [BenchmarkFirst BenchmarkCreate ...]
set -euo pipefail
cd "$(dirname "$0")/.."
benches=("${@:-BenchmarkFirst BenchmarkCreate}")
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
go test -c -o "$bin" .
count() { # bench variant iterations -> instructions
  GOGC=off GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" -test.run '^$' \
    -test.bench "^$1\$/^${2//\//\$/^}\$" -test.benchtime "$3x" -test.count 1 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
low=${LOW:-2000} high=${HIGH:-12000}
for bench in ${benches[@]}; do
  for variant in ${VARIANTS:-plain dbresolver grant}; do
    a=$(count "$bench" "$variant" $low)
    b=$(count "$bench" "$variant" $high)
    echo "$bench/$variant $(( (b - a) / (high - low) )) instructions/op"
  done
done
