// Command gen measures MariaDB's utf8mb4_general_ci weights and writes them
// as Go source for package collate (go generate runs it). The table is data
// measured from a live server through WEIGHT_STRING, so it is exactly what
// that server compares by; rerun it against a newer server to check that
// nothing moved.
//
// It asserts what the native implementation relies on, and fails otherwise:
// every BMP code point but the surrogates has one 16-bit weight, the NO PAD
// variant weighs alike, only U+0020 weighs 0x0020, and every supplementary
// code point shares one weight.
//
//	go run ./internal/gen -dsn 'root@tcp(127.0.0.1:3306)/test' -o generalci_table.go
package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

// run is one line of the generated table: the code points lo, lo+step, …,
// hi, of which lo weighs w and each next one weighs w plus its distance
// from lo, or w again when same is set.
type run struct {
	lo, hi, step, w int
	same            bool
}

func main() {
	dsn := flag.String("dsn", envOr("GRANT_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/test"), "MariaDB DSN")
	out := flag.String("o", "generalci_table.go", "output file")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := sql.Open("mysql", *dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		log.Fatal(err)
	}
	weights, err := bmpWeights(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	supp, err := supplementaryWeight(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	runs := compress(weights)
	src, err := render(version, supp, runs)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("%s: %d runs from MariaDB %s", *out, len(runs), version)
}

func isSurrogate(cp int) bool { return cp >= 0xD800 && cp <= 0xDFFF }

// bmpWeights returns the weight of every BMP code point (surrogates: the
// code point itself, as they never occur in valid UTF-8).
func bmpWeights(ctx context.Context, db *sql.DB) ([]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT seq,
		WEIGHT_STRING(CONVERT(CHAR(seq USING utf32) USING utf8mb4) COLLATE utf8mb4_general_ci),
		WEIGHT_STRING(CONVERT(CHAR(seq USING utf32) USING utf8mb4) COLLATE utf8mb4_general_nopad_ci)
		FROM seq_0_to_65535`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	weights := make([]int, 0x10000)
	seen := 0
	for rows.Next() {
		var cp int
		var pad, nopad []byte
		if err := rows.Scan(&cp, &pad, &nopad); err != nil {
			return nil, err
		}
		seen++
		if isSurrogate(cp) {
			weights[cp] = cp
			continue
		}
		if len(pad) != 2 {
			return nil, fmt.Errorf("U+%04X weighs %x: not one 16-bit weight", cp, pad)
		}
		if !bytes.Equal(pad, nopad) {
			return nil, fmt.Errorf("U+%04X weighs %x under general_ci but %x under general_nopad_ci", cp, pad, nopad)
		}
		weights[cp] = int(pad[0])<<8 | int(pad[1])
		if weights[cp] == 0x20 && cp != 0x20 {
			return nil, fmt.Errorf("U+%04X weighs as much as a space", cp)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if seen != 0x10000 {
		return nil, fmt.Errorf("got %d code points, want 65536", seen)
	}
	return weights, nil
}

// supplementaryWeight returns the one weight all code points above U+FFFF
// share, or an error when they do not share one.
func supplementaryWeight(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	var w []byte
	err := db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT ws), MIN(ws) FROM (SELECT
		WEIGHT_STRING(CONVERT(CHAR(seq USING utf32) USING utf8mb4) COLLATE utf8mb4_general_ci) AS ws
		FROM seq_65536_to_1114111) AS s`).Scan(&n, &w)
	if err != nil {
		return 0, err
	}
	if n != 1 || len(w) != 2 {
		return 0, fmt.Errorf("supplementary code points have %d distinct weights (one: %x), want one 16-bit weight", n, w)
	}
	return int(w[0])<<8 | int(w[1]), nil
}

// compress turns the code points whose weight is not the code point itself
// into runs, greedily taking the longest of: a constant weight, a weight
// that grows with the code point, or one that grows with every second code
// point (alternating capital and small letters).
func compress(weights []int) []run {
	var cps []int
	for cp, w := range weights {
		if w != cp {
			cps = append(cps, cp)
		}
	}
	var runs []run
	for i := 0; i < len(cps); {
		lo := cps[i]
		w := weights[lo]
		extend := func(step int, same bool) int {
			j := i
			for j+1 < len(cps) && cps[j+1] == cps[j]+step {
				next := weights[cps[j+1]]
				if same && next != w || !same && next-cps[j+1] != w-lo {
					break
				}
				j++
			}
			return j
		}
		best := run{lo: lo, hi: lo, step: 1, w: w, same: true}
		bestJ := i
		for _, c := range []struct {
			step int
			same bool
		}{{1, true}, {1, false}, {2, false}} {
			if j := extend(c.step, c.same); j > bestJ {
				bestJ, best = j, run{lo: lo, hi: cps[j], step: c.step, w: w, same: c.same}
			}
		}
		runs = append(runs, best)
		i = bestJ + 1
	}
	return runs
}

func render(version string, supp int, runs []run) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/gen from MariaDB %s (WEIGHT_STRING under utf8mb4_general_ci); DO NOT EDIT.\n\n", version)
	b.WriteString("package collate\n\n")
	b.WriteString("// generalCISupplementary is the weight every code point above U+FFFF has.\n")
	fmt.Fprintf(&b, "const generalCISupplementary = 0x%04X\n\n", supp)
	b.WriteString("// generalCIRuns lists the BMP code points whose weight is not the code point itself.\n")
	b.WriteString("var generalCIRuns = [...]weightRun{\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "\t{0x%04X, 0x%04X, %d, 0x%04X, %t},\n", r.lo, r.hi, r.step, r.w, r.same)
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
