#!/usr/bin/env bash
# Mutation check: breaks one rule at a time and runs the tests that guard
# it. Every mutant must make them fail; a mutant that survives means the
# tests do not check what they claim. The source is restored after each
# mutant, also on Ctrl-C.
#   routing (package route: precedence, named-shard mismatch, key changes,
#   transactions, prevention), guarded by route's table tests, no servers;
#   decided (the decisions grant keeps per model, kind and Connections: a
#   statement with another scope or context, in a transaction or of another
#   kind must not reuse one),
#   and the scope carried on the pool, guarded by
#   TestKeptDecisionsFollowEachStatementsFacts and
#   TestScopesRouteWhateverThePool and TestSharedScopesStayWithTheirHandle
#   (SQLite suffices);
#   scatter-gather (HAVING evaluation, DISTINCT deduplication, the collation
#   comparator, the k-way merge order), guarded by the server tests.
#   usage: scripts/mutations.sh [routing|decided|scatter]   (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."

survived=0
tests=
pkgs=()

# group sets the tests the following mutants run. A mutant only counts as
# killed if the same tests pass without it.
group() { # name tests packages...
  echo "== $1"
  tests=$2
  shift 2
  pkgs=("$@")
  if ! go test -count=1 -run "$tests" "${pkgs[@]}" >/tmp/mutant.log 2>&1; then
    echo "the tests fail without any mutant; see /tmp/mutant.log" >&2
    exit 2
  fi
}

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

routing_mutants() {
  group routing "${TESTS:-TestDecide}" ./route/
  mutate "context over scope" route/decide.go \
    's/\*conn = f\.Scope\.Over\(\*f\.Context\)/*conn = f.Context.Over(*f.Scope)/'
  mutate "model over context" route/decide.go \
    's/\*conn = conn\.Over\(m\.Conn\)/*conn = m.Conn.Over(*conn)/'
  mutate "table mapping over a named database" route/decide.go \
    's/if conn\.Database == "" && t\.HasTableMappings\(\) \{/if t.HasTableMappings() {/'
  mutate "named shard never checked against the key" route/decide.go \
    's/if err := agreeWith\(f, c, named\); err != nil \{/if err := agreeWith(f, c, named); false \&\& err != nil {/'
  mutate "only a create's first row checked" route/decide.go \
    's/for i = range k\.Each \{/for i = range k.Each[:1] {/'
  mutate "a key change moves the row" route/decide.go \
    's/if f\.Kind\.Has\(Update\) && k\.Assigns && k\.Assigned != k\.Shard \{/if false {/'
  mutate "the inherited shard beats the read's own key" route/decide.go \
    's/ && !\(k\.Declared && k\.FromWhere\) \{/ {/'
  mutate "LockShard ignored" route/decide.go \
    's/if !f\.Locked \|\| /if true || /'
  mutate "a transaction's database not enforced" route/decide.go \
    's/case f\.Tx\.State == Begun && d\.Explicit && d\.Database != f\.Tx\.Database:/case false:/'
  mutate "a write on the reading role allowed" route/decide.go \
    's/d\.PreventWrites = conn\.PreventWrites \|\| d\.Role == resolver\.Reading/d.PreventWrites = conn.PreventWrites/'
  mutate "a transaction spans shards" route/decide.go \
    's/(func inLazy.*?)if d\.Shards != nil \|\| d\.Split \{/$1if false {/s'
  mutate "a write of several shards' keys allowed" route/decide.go \
    's/case k\.Shards != nil && writes:/case false:/'
}

decided_mutants() {
  group decided "${TESTS:-TestKeptDecisionsFollowEachStatementsFacts|TestScopesRouteWhateverThePool|TestSharedScopesStayWithTheirHandle}" .
  mutate "a context's decision kept for another" callbacks/decided.go 's/ && sameConnection\(f\.Context, k\.hasContext, &k\.context\)//'
  mutate "a scope's decision kept for another" callbacks/decided.go 's/if sameConnection\(f\.Scope, k\.hasScope, &k\.scope\) && /if /'
  mutate "a Connection matched by presence only" callbacks/decided.go 's/return has && \*c == \*kept/return has/'
  mutate "a transaction's decision kept" callbacks/decided.go 's/ \|\| tx != nil//'
  mutate "a delete reuses the read's decision" callbacks/decided.go 's/return &m\.decided\[4\]/return &m.decided[0]/'
  mutate "a create reuses the read's decision" callbacks/decided.go 's/return &m\.decided\[2\]/return &m.decided[0]/'
  mutate "stacked scopes route by the first one's pool" callbacks/scope.go 's/stmt\.ConnPool = p\.RoutingPool \/\/ the merged/_ = p \/\/ the merged/'
  mutate "a shared scope's pool serves another handle" callbacks/scope.go 's/\t\tif sp\.RoutingPool == p \{\n\t\t\treturn sp\n\t\t\}\n\t\treturn p/\t\treturn sp/'
}

scatter_mutants() {
  group scatter "${TESTS:-TestScatterMergesLikeOneDatabase|TestScatterCollations|TestOracle}" . ./sharding/scatter/
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
}

case "${1:-all}" in
  routing) routing_mutants ;;
  decided) decided_mutants ;;
  scatter) scatter_mutants ;;
  all) routing_mutants; decided_mutants; scatter_mutants ;;
  *) echo "usage: $0 [routing|decided|scatter]" >&2; exit 2 ;;
esac

if [ "$survived" -gt 0 ]; then
  echo "$survived mutant(s) survived" >&2
  exit 1
fi
echo "every mutant was killed"
