#!/usr/bin/env bash
# What importing grant costs a PostgreSQL-only application: builds the same
# small program twice in a scratch module, once with plain GORM and the
# postgres driver, once with grant installed on it too, and compares the
# binaries' sizes. Fails when grant adds more than MAX_PERCENT (default 10).
# docs/benchmarks.md quotes its output. Needs the Go module proxy (or a warm
# module cache) for the scratch module's requirements.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
max=${MAX_PERCENT:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/plain" "$work/grant"
cat >"$work/plain/main.go" <<'GO'
package main

import (
	"fmt"
	"os"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

func main() {
	db, err := gorm.Open(postgres.Open(os.Getenv("DSN")), &gorm.Config{})
	fmt.Println(db != nil, err)
}
GO
cat >"$work/grant/main.go" <<'GO'
package main

import (
	"fmt"
	"os"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/grant-go/grant"
	_ "github.com/grant-go/grant/adapter/postgres"
)

func main() {
	db, err := gorm.Open(postgres.Open(os.Getenv("DSN")), &gorm.Config{})
	if err == nil {
		err = db.Use(grant.New(grant.Config{Databases: map[string]grant.DatabaseConfig{
			"primary": {Replicas: []grant.NodeConfig{{Adapter: "postgres", DSN: os.Getenv("REPLICA_DSN")}}},
		}}))
	}
	fmt.Println(db != nil, err)
}
GO
cat >"$work/go.mod" <<GOMOD
module importweight

go 1.26.0

require github.com/grant-go/grant v0.0.0

replace github.com/grant-go/grant => $root
GOMOD
cp "$root/go.sum" "$work/go.sum"
cd "$work"
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go mod tidy
go build -trimpath -o plain.bin ./plain
go build -trimpath -o grant.bin ./grant
plain=$(stat -c %s plain.bin)
with=$(stat -c %s grant.bin)
percent=$(awk -v a="$with" -v b="$plain" 'BEGIN { printf "%.1f", (a - b) * 100 / b }')
printf 'plain gorm + postgres: %d bytes (%.1f MB)\n' "$plain" "$(awk -v a="$plain" 'BEGIN{print a/1e6}')"
printf 'with grant:            %d bytes (%.1f MB), +%s%%\n' "$with" "$(awk -v a="$with" 'BEGIN{print a/1e6}')" "$percent"
echo "modules grant adds:"
comm -13 <(go version -m plain.bin | awk '$1 == "dep" {print $2}' | sort) \
         <(go version -m grant.bin | awk '$1 == "dep" {print $2}' | sort) | sed 's/^/  /'
if awk -v p="$percent" -v m="$max" 'BEGIN { exit !(p > m) }'; then
  echo "grant adds ${percent}% to a PostgreSQL-only binary; the budget is ${max}%" >&2
  exit 1
fi
