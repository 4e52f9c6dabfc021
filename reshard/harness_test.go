package reshard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/reshard"
	"github.com/grant-go/grant/sharding"
)

// Account is the moved table: its primary key is its shard key, so a
// writer that owns an id knows exactly what the row must be.
type Account struct {
	ID      int64 `gorm:"primaryKey;autoIncrement:false"`
	Balance int64
	Note    string `gorm:"size:64"`
}

// harness describes one cluster under test; it travels to the child
// processes (writers and workers) as JSON.
type harness struct {
	Dialect  string      `json:"dialect"` // "postgres" or "mysql"
	Default  string      `json:"default"` // the default database's DSN
	Shards   []shardSpec `json:"shards"`
	Strategy string      `json:"strategy"` // "jump", "modulo" or "range"
	To       []string    `json:"to"`
	Writers  int         `json:"writers"` // writers in all processes
	Seed     int         `json:"seed"`    // rows each writer owns at the start
	Dir      string      `json:"dir"`     // where children write their results
	Batch    int         `json:"batch"`
	// Workflow is unique per run: PostgreSQL's slot names, made from it,
	// are server-wide.
	Workflow string `json:"workflow"`
	Rate     int    `json:"rate"`
}

type shardSpec struct {
	Name    string `json:"name"`
	DSN     string `json:"dsn"`
	Pending bool   `json:"pending"`
}

const childEnv = "GRANT_RESHARD_CHILD"

func (h *harness) strategy() sharding.Strategy {
	switch h.Strategy {
	case "modulo":
		return sharding.Modulo()
	case "range":
		// Two ranges, each split by a range on a pending shard: a quarter
		// of the writers' rows move to s2, half the cold rows to s3.
		return sharding.Range(
			sharding.KeyRange{From: nil, To: 600, Shard: "s0"},
			sharding.KeyRange{From: 600, To: nil, Shard: "s1"},
			sharding.KeyRange{From: 300, To: 600, Shard: "s2"},
			sharding.KeyRange{From: 900_000, To: 900_020, Shard: "s3"},
		)
	}
	return sharding.JumpHash()
}

func (h *harness) dialector(dsn string) gorm.Dialector {
	if h.Dialect == "postgres" {
		return postgres.Open(dsn)
	}
	// MariaDB 10.11 fails a server-side prepared statement with "changelog
	// doesn't exist" when the capture's triggers are created between its
	// prepare and execute (docs/resharding.md); applications resharding
	// MariaDB use client-side interpolation, and so do these.
	if !strings.Contains(dsn, "interpolateParams") {
		dsn += "&interpolateParams=true"
	}
	return mysql.Open(dsn)
}

// open builds a handle with grant installed; watch makes it an
// application instance that follows placement changes, whose frozen
// writes wait freezeWait before failing.
func (h *harness) open(watch bool, freezeWait time.Duration) (*gorm.DB, *grant.Plugin, error) {
	db, err := gorm.Open(h.dialector(h.Default), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, nil, err
	}
	cluster := grant.ClusterConfig{ShardKeys: map[string]sharding.ShardKey{"accounts": {Column: "id", Strategy: h.strategy()}}}
	for _, s := range h.Shards {
		cluster.Shards = append(cluster.Shards, grant.ShardConfig{Name: s.Name, Pending: s.Pending,
			DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: h.dialector(s.DSN)}}})
	}
	cfg := grant.Config{Clusters: map[string]grant.ClusterConfig{"accounts": cluster}, Tables: map[string]string{"accounts": "accounts"}, Models: []any{&Account{}}}
	if watch {
		cfg.Reshard = &grant.ReshardConfig{PollInterval: 20 * time.Millisecond, Lease: 3 * time.Second, FreezeWait: freezeWait}
	}
	plugin := grant.New(cfg)
	if err := db.Use(plugin); err != nil {
		return nil, nil, err
	}
	return db, plugin, nil
}

func (h *harness) options() reshard.Options {
	return reshard.Options{Workflow: h.Workflow, Cluster: "accounts", To: h.To, BatchSize: h.Batch, CopyRate: h.Rate, Lease: 3 * time.Second, AckTimeout: 20 * time.Second, SettleTimeout: 20 * time.Second}
}

// ownedID is writer w's k-th id: writers own disjoint ids, so each knows
// what its rows must hold without asking the others.
func (h *harness) ownedID(w, k int) int64 { return int64(k*h.Writers + w + 1) }

// writerResult is what one writer acknowledged.
type writerResult struct {
	Writer  int             `json:"writer"`
	Rows    map[int64]int64 `json:"rows"` // id → balance, every acknowledged write applied
	Ops     int64           `json:"ops"`
	Retried int64           `json:"retried"` // statements refused (frozen, stale) and retried
	Reads   int64           `json:"reads"`
	Failed  []string        `json:"failed"` // anything that is not a retryable refusal
}

// writer runs inserts, updates, deletes and keyed reads on its own ids
// until stop is closed, retrying what grant refused as retryable. Every
// acknowledged write is in the result's Rows.
func (h *harness) writer(db *gorm.DB, w int, stop <-chan struct{}, ops *atomic.Int64) *writerResult {
	res := &writerResult{Writer: w, Rows: map[int64]int64{}}
	for k := range h.Seed {
		res.Rows[h.ownedID(w, k)] = int64(k)
	}
	rng := rand.New(rand.NewPCG(uint64(w), 7))
	next := h.Seed
	ids := func() int64 { // a random id this writer holds now
		for id := range res.Rows {
			return id
		}
		return 0
	}
	retry := func(what string, fn func() error) bool {
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := fn()
			if err == nil {
				return true
			}
			if (errors.Is(err, grant.ErrWritesFrozen) || errors.Is(err, grant.ErrPlacementStale)) && time.Now().Before(deadline) {
				res.Retried++
				time.Sleep(5 * time.Millisecond) // a client's backoff, not a wait for state
				continue
			}
			res.Failed = append(res.Failed, fmt.Sprintf("%s at %s: %v", what, time.Now().Format("15:04:05.000"), err)) // when: to line it up with the steps
			return false
		}
	}
	for {
		select {
		case <-stop:
			return res
		default:
		}
		res.Ops++
		ops.Add(1)
		switch p := rng.IntN(100); {
		case p < 20: // insert
			id := h.ownedID(w, next)
			next++
			bal := rng.Int64N(1_000_000)
			if retry(fmt.Sprintf("insert %d", id), func() error { return db.Create(&Account{ID: id, Balance: bal, Note: "new"}).Error }) {
				res.Rows[id] = bal
			}
		case p < 55: // update
			id := ids()
			if id == 0 {
				continue
			}
			bal := rng.Int64N(1_000_000)
			var affected int64
			if retry(fmt.Sprintf("update %d", id), func() error {
				tx := db.Model(&Account{ID: id}).Update("balance", bal)
				affected = tx.RowsAffected
				return tx.Error
			}) {
				res.Rows[id] = bal
				if affected != 1 {
					res.Failed = append(res.Failed, fmt.Sprintf("update %d changed %d rows: the row was not where the write went", id, affected))
				}
			}
		case p < 68: // read-modify-write in a transaction: the locking read must see the last acknowledged write
			id := ids()
			if id == 0 {
				continue
			}
			var seen, wrote int64
			if retry(fmt.Sprintf("transfer %d", id), func() error {
				return db.Transaction(func(tx *gorm.DB) error {
					var a Account
					if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&a).Error; err != nil {
						return err
					}
					seen, wrote = a.Balance, a.Balance+1
					return tx.Model(&a).Update("balance", wrote).Error
				})
			}) {
				if seen != res.Rows[id] {
					res.Failed = append(res.Failed, fmt.Sprintf("transfer %d read balance %d inside its transaction, the last acknowledged write was %d", id, seen, res.Rows[id]))
				}
				res.Rows[id] = wrote
			}
		case p < 75: // delete
			id := ids()
			if id == 0 {
				continue
			}
			if retry(fmt.Sprintf("delete %d", id), func() error { return db.Delete(&Account{ID: id}).Error }) {
				delete(res.Rows, id)
			}
		default: // keyed read
			id := ids()
			if id == 0 {
				continue
			}
			var a Account
			if err := db.Where("id = ?", id).Take(&a).Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
				res.Failed = append(res.Failed, fmt.Sprintf("read %d: %v", id, err))
			}
			res.Reads++
		}
	}
}

// runWriters runs writers first..first+n-1 on db until stop closes.
func (h *harness) runWriters(db *gorm.DB, first, n int, stop <-chan struct{}, ops *atomic.Int64) []*writerResult {
	out := make([]*writerResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = h.writer(db, first+i, stop, ops) })
	}
	wg.Wait()
	return out
}

// child starts this test binary again as a writer or worker process.
func (h *harness) child(t *testing.T, mode string) *exec.Cmd {
	spec, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "GRANT_RESHARD_HARNESS="+string(spec))
	log, err := os.Create(filepath.Join(h.Dir, mode+fmt.Sprint(time.Now().UnixNano())+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		log.Close()
		if t.Failed() {
			body, _ := os.ReadFile(log.Name())
			t.Logf("%s process %d said:\n%s", mode, cmd.Process.Pid, tail(string(body), 30))
		}
	})
	return cmd
}

// TestChildProcess is not a test: it is the body of the writer and worker
// processes the resharding tests start (GRANT_RESHARD_CHILD names which).
func TestChildProcess(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs only as a child process of the resharding tests")
	}
	var h harness
	if err := json.Unmarshal([]byte(os.Getenv("GRANT_RESHARD_HARNESS")), &h); err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "writer":
		// This instance fails frozen writes at once (the other waits), so
		// that both behaviours run: the failures are retried.
		db, _, err := h.open(true, time.Nanosecond)
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		go func() { // the parent asks the writers to stop by creating this file
			for {
				if _, err := os.Stat(filepath.Join(h.Dir, "stop")); err == nil {
					close(stop)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		var ops atomic.Int64
		results := h.runWriters(db, h.Writers/2, h.Writers-h.Writers/2, stop, &ops)
		out, _ := json.Marshal(results)
		if err := os.WriteFile(filepath.Join(h.Dir, "writer.json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	case "worker":
		_, plugin, err := h.open(false, 0)
		if err != nil {
			t.Fatal(err)
		}
		w, err := reshard.Open(context.Background(), plugin.Topology(), h.options())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(parts[max(0, len(parts)-lines):], "\n")
}

// uniqueWorkflow names a workflow no other test run uses.
func uniqueWorkflow(prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// shardOf is where the harness's strategy puts id among shards.
func shardOf(h *harness, id int64, shards []string) (string, error) {
	return sharding.MapOne(context.Background(), h.strategy(), shards, sharding.IntKey(id))
}

// newCluster makes a cluster on b for strategy: a default database and to
// shards s0…, those from from on pending, each with the accounts table,
// under a workflow name no other run uses. Its slots are dropped before
// its databases (cleanups run last first, so also after any child
// process a test starts later is gone).
func newCluster(t testing.TB, b *testdb.Backend, strategy, prefix string, from, to int) (*harness, map[string]*testdb.Database) {
	h := &harness{Strategy: strategy, Dir: t.TempDir(), Workflow: uniqueWorkflow(prefix), Dialect: "mysql"}
	if b.Name == testdb.NamePostgres {
		h.Dialect = "postgres"
	}
	h.Default = b.CreateDatabase(t, prefix+"def").DirectDSN
	dbs := map[string]*testdb.Database{}
	for i := range to {
		name := fmt.Sprintf("s%d", i)
		d := b.CreateDatabase(t, prefix+name)
		dbs[name] = d
		h.Shards = append(h.Shards, shardSpec{Name: name, DSN: d.DirectDSN, Pending: i >= from})
		h.To = append(h.To, name)
		if err := d.Open(t).AutoMigrate(&Account{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { dropSlots(t, h, dbs) })
	return h, dbs
}
