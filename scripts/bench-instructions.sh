#!/usr/bin/env bash
# Counts CPU instructions per operation for each benchmark variant with
# valgrind's callgrind: unlike ns/op, the count does not depend on what else
# the machine is doing. Setup cost cancels out by running each benchmark at
# two iteration counts and dividing the difference. Async preemption is off:
# its signals crash callgrind. GC is off and one P runs. What still varies
# is each process's map hash seed (a lookup's probe count depends on it), by
# up to ~1% per operation: so each variant runs REPEAT times (default 5)
# and the median is reported, with the spread, interleaving the variants so
# that a slow stretch of the machine cannot favour one.
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
low=${LOW:-1000} high=${HIGH:-6000} repeat=${REPEAT:-5}
for bench in ${benches[@]}; do
  declare -A runs=()
  for ((i = 0; i < repeat; i++)); do
    for variant in ${VARIANTS:-plain dbresolver grant}; do
      a=$(count "$bench" "$variant" $low)
      b=$(count "$bench" "$variant" $high)
      runs[$variant]+="$(( (b - a) / (high - low) )) "
    done
  done
  for variant in ${VARIANTS:-plain dbresolver grant}; do
    read -r median lo hi < <(tr ' ' '\n' <<<"${runs[$variant]}" | sed '/^$/d' | sort -n |
      awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)], v[1], v[NR]}')
    echo "$bench/$variant $median instructions/op (median of $repeat; $lo..$hi)"
  done
  unset runs
done
