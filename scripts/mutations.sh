#!/usr/bin/env bash
# Mutation check for scatter-gather: breaks one part of the merge at a time
# (HAVING evaluation, DISTINCT deduplication, the collation comparator, the
# k-way merge order) and runs the tests that guard it. Every mutant must
# make them fail; a mutant that survives means the tests do not check what
# they claim. The source is restored after each mutant, also on Ctrl-C.
#   usage: scripts/mutations.sh            (needs the servers, like the tests)
set -uo pipefail
cd "$(dirname "$0")/.."

tests=${TESTS:-'TestScatterMergesLikeOneDatabase|TestScatterCollations|TestOracle'}
pkgs=(. ./sharding/scatter/)
survived=0

# A mutant only counts as killed if the same tests pass without it.
if ! go test -count=1 -run "$tests" "${pkgs[@]}" >/tmp/mutant.log 2>&1; then
  echo "the tests fail without any mutant; see /tmp/mutant.log" >&2
  exit 2
fi

mutate() { # name file perl-substitution
  local name=$1 file=$2 expr=$3
  cp "$file" "$file.orig"
  trap 'mv -f "$file.orig" "$file"; exit 130' INT TERM
  perl -0pi -e "$expr" "$file"
  if cmp -s "$file" "$file.orig"; then
    echo "mutant $name: the substitution matched nothing in $file" >&2
    mv -f "$file.orig" "$file"
    exit 2
  fi
  if go test -count=1 -run "$tests" "${pkgs[@]}" >/tmp/mutant.log 2>&1; then
    echo "mutant $name: SURVIVED (tests passed)"
    survived=$((survived + 1))
  elif grep -q -e 'build failed' -e 'setup failed' /tmp/mutant.log; then
    echo "mutant $name: does not compile (see /tmp/mutant.log); fix the mutation" >&2
    mv -f "$file.orig" "$file"
    exit 2
  else
    echo "mutant $name: killed ($(grep -c -- '--- FAIL' /tmp/mutant.log) failing tests)"
  fi
  mv -f "$file.orig" "$file"
  trap - INT TERM
}

mutate "HAVING not applied" sharding/scatter/grouped.go \
  's/if p\.Having != nil \{/if p.Having != nil \&\& false {/'
mutate "HAVING negated" sharding/scatter/grouped.go \
  's/if ok, known := value\.Truth\(m\.eval\(p\.Having, g, kinds\)\); !ok \|\| !known \{/if ok, known := value.Truth(m.eval(p.Having, g, kinds)); ok \&\& known {/'
mutate "DISTINCT not deduplicated (streaming)" sharding/scatter/stream.go \
  's/if _, dup := r\.seen\[string\(r\.key\)\]; dup \{/if _, dup := r.seen[string(r.key)]; dup \&\& false {/'
mutate "DISTINCT not deduplicated (grouped)" sharding/scatter/grouped.go \
  's/if _, dup := seen\[string\(key\)\]; !dup \{/if _, dup := seen[string(key)]; !dup || true {/'
mutate "collation compares bytes" sharding/scatter/merge.go \
  's/case c\.Native\(\):\n\t\t\treturn c\.Compare\(a, b\)/case c.Native():\n\t\t\tif a == b {\n\t\t\t\treturn 0\n\t\t\t}\n\t\t\treturn pick(a < b, -1, 1)/'
mutate "collation key is the bytes" sharding/scatter/merge.go \
  's/case c\.Native\(\):\n\t\t\treturn c\.Key\(dst, s\)/case c.Native():\n\t\t\treturn append(dst, s...)/'
mutate "k-way merge ignores DESC" sharding/scatter/stream.go \
  's/if o\.desc \{\n\t\t\t\tc = -c\n\t\t\t\}/if false {\n\t\t\t}/'

if [ "$survived" -gt 0 ]; then
  echo "$survived mutant(s) survived" >&2
  exit 1
fi
echo "every mutant was killed"
