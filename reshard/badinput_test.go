package reshard_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/reshard"
	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

// badEnv is a 2-shard jump cluster (s0, s1) with a pending third shard
// (s2), seeded through plain connections, on which bad input is tried.
type badEnv struct {
	h   *harness
	b   *testdb.Backend
	def *testdb.Database
	dbs map[string]*testdb.Database
	ids []int64

	t     *testing.T
	mu    sync.Mutex
	conns map[*testdb.Database]*gorm.DB // one pool per database, for the checks
}

// conn is a plain connection to d, opened once.
func (e *badEnv) conn(_ *testing.T, d *testdb.Database) *gorm.DB {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conns == nil {
		e.conns = map[*testdb.Database]*gorm.DB{}
	}
	if db, ok := e.conns[d]; ok {
		return db
	}
	db := d.Open(e.t) // closed when the env's test ends, not a subtest
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.SetMaxOpenConns(2)
	}
	e.conns[d] = db
	return db
}

func newBadEnv(t *testing.T, b *testdb.Backend) *badEnv {
	t.Helper()
	e := &badEnv{h: &harness{Strategy: "jump", To: []string{"s0", "s1", "s2"}}, b: b, dbs: map[string]*testdb.Database{}, t: t}
	if b.Name == testdb.NamePostgres {
		e.h.Dialect = "postgres"
	} else {
		e.h.Dialect = "mysql"
	}
	e.def = b.CreateDatabase(t, "bidef")
	e.h.Default = e.def.DirectDSN
	for i, name := range e.h.To {
		d := b.CreateDatabase(t, "bi"+name)
		e.dbs[name] = d
		e.h.Shards = append(e.h.Shards, shardSpec{Name: name, DSN: d.DirectDSN, Pending: i >= 2})
		require.NoError(t, d.Open(t).AutoMigrate(&Account{}))
	}
	// Runs before the databases are dropped: a slot would keep its
	// database alive (none is expected, but a failing case may leave one).
	t.Cleanup(func() { dropSlots(t, e.h, e.dbs) })
	for id := int64(1); id <= 120; id++ {
		home, err := sharding.MapOne(context.Background(), sharding.JumpHash(), []string{"s0", "s1"}, sharding.IntKey(id))
		require.NoError(t, err)
		require.NoError(t, e.conn(t, e.dbs[home]).Create(&Account{ID: id, Balance: id * 10, Note: "seed"}).Error)
		e.ids = append(e.ids, id)
	}
	return e
}

// topo is the cluster's topology as an application (not watching) sees
// it; keys replaces the configured shard keys when given.
func (e *badEnv) topo(t *testing.T, keys map[string]sharding.ShardKey) *topology.Topology {
	t.Helper()
	if keys == nil {
		keys = map[string]sharding.ShardKey{"accounts": {Column: "id", Strategy: sharding.JumpHash()}}
	}
	db, err := gorm.Open(e.h.dialector(e.h.Default), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	cluster := grant.ClusterConfig{ShardKeys: keys}
	for _, s := range e.h.Shards {
		cluster.Shards = append(cluster.Shards, grant.ShardConfig{Name: s.Name, Pending: s.Pending,
			DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: e.h.dialector(s.DSN)}}})
	}
	plugin := grant.New(grant.Config{Clusters: map[string]grant.ClusterConfig{"accounts": cluster}})
	require.NoError(t, db.Use(plugin))
	t.Cleanup(func() {
		_ = plugin.Close()
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return plugin.Topology()
}

func (e *badEnv) options(workflow string, to ...string) reshard.Options {
	return reshard.Options{Workflow: workflow, Cluster: "accounts", To: to, Lease: time.Second, AckTimeout: 5 * time.Second, SettleTimeout: 5 * time.Second}
}

// exec runs statements on one shard.
func (e *badEnv) exec(t *testing.T, shard string, stmts ...string) {
	t.Helper()
	db := e.conn(t, e.dbs[shard])
	for _, s := range stmts {
		require.NoError(t, db.Exec(s).Error, s)
	}
}

// footprint is everything a workflow could write: its rows in the default
// database, the cluster's published placement, the captures on each
// shard, and each shard's rows.
type footprint struct {
	Workflows []string          // grant_reshard
	Copies    []string          // grant_reshard_copy
	Placement string            // grant_placement for the cluster: "version record", "" when none
	Captures  map[string]string // shard → slots and publications, or triggers and grant tables
	Rows      map[string]string // shard → every row of accounts
}

func (e *badEnv) footprint(t *testing.T) footprint {
	t.Helper()
	f := footprint{Captures: map[string]string{}, Rows: map[string]string{}}
	def := e.conn(t, e.def)
	if def.Migrator().HasTable("grant_reshard") {
		require.NoError(t, def.Raw("SELECT workflow FROM grant_reshard ORDER BY workflow").Scan(&f.Workflows).Error)
	}
	if def.Migrator().HasTable("grant_reshard_copy") {
		require.NoError(t, def.Raw("SELECT CONCAT(workflow, '/', tbl, '/', shard) FROM grant_reshard_copy ORDER BY 1").Scan(&f.Copies).Error)
	}
	if def.Migrator().HasTable("grant_placement") {
		var rows []struct {
			Version int64
			Record  string
		}
		require.NoError(t, def.Raw("SELECT version, record FROM grant_placement WHERE cluster = 'accounts'").Scan(&rows).Error)
		for _, r := range rows {
			f.Placement = fmt.Sprintf("%d %s", r.Version, r.Record)
		}
	}
	for name, d := range e.dbs {
		db := e.conn(t, d)
		var left []string
		if e.h.Dialect == "postgres" {
			require.NoError(t, db.Raw(`SELECT 'slot ' || slot_name FROM pg_replication_slots WHERE database = current_database()
UNION ALL SELECT 'publication ' || pubname FROM pg_publication`).Scan(&left).Error)
		} else {
			require.NoError(t, db.Raw(`SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
UNION ALL SELECT CONCAT('table ', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'grant%'`).Scan(&left).Error)
		}
		slices.Sort(left)
		f.Captures[name] = strings.Join(left, ", ")
		if !db.Migrator().HasTable("accounts") {
			f.Rows[name] = "<no table>"
			continue
		}
		var rows []map[string]any
		require.NoError(t, db.Raw("SELECT * FROM accounts").Scan(&rows).Error)
		lines := make([]string, len(rows))
		for i, r := range rows {
			lines[i] = fmt.Sprint(r)
		}
		slices.Sort(lines)
		f.Rows[name] = strings.Join(lines, "\n")
	}
	return f
}

// refused runs step, which must fail with want and a message naming every
// one of names, and checks that it wrote nothing.
func (e *badEnv) refused(t *testing.T, want error, names []string, step func() error) {
	t.Helper()
	before := e.footprint(t)
	err := step()
	require.Error(t, err)
	t.Logf("refused: %v", err)
	if want != nil {
		assert.ErrorIs(t, err, want)
	}
	for _, n := range names {
		assert.Contains(t, err.Error(), n, "the message names the culprit")
	}
	after := e.footprint(t)
	assert.Equal(t, before.Workflows, after.Workflows, "workflows in the default database")
	assert.Equal(t, before.Copies, after.Copies, "copy checkpoints in the default database")
	assert.Equal(t, before.Placement, after.Placement, "the cluster's published placement")
	assert.Equal(t, before.Captures, after.Captures, "captures on the shards")
	assert.Equal(t, before.Rows, after.Rows, "the shards' rows")
}

// planAndStart checks that both Plan and Start refuse opts the same way.
func (e *badEnv) planAndStart(t *testing.T, topo *topology.Topology, opts reshard.Options, want error, names ...string) {
	t.Helper()
	ctx := context.Background()
	e.refused(t, want, names, func() error { _, err := reshard.Plan(ctx, topo, opts); return err })
	e.refused(t, want, names, func() error { _, err := reshard.Start(ctx, topo, opts); return err })
	// Nothing of it was recorded: Open does not find it.
	if validName.MatchString(opts.Workflow) && opts.Cluster == "accounts" {
		_, err := reshard.Open(ctx, topo, opts)
		assert.ErrorIs(t, err, reshard.ErrUnknownWorkflow)
	}
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_]{1,60}$`)

func TestBadInputPostgres(t *testing.T) {
	b := testdb.Postgres(t)
	requireLogical(t, b)
	testBadInput(t, b)
}

func TestBadInputMariaDB(t *testing.T) {
	testBadInput(t, testdb.MariaDB(t))
}

func testBadInput(t *testing.T, b *testdb.Backend) {
	postgres := b.Name == testdb.NamePostgres
	t.Run("options", func(t *testing.T) {
		t.Parallel()
		e := newBadEnv(t, b)
		topo := e.topo(t, nil)
		opts := func(mod func(*reshard.Options)) reshard.Options {
			o := e.options("wf", "s0", "s1", "s2")
			mod(&o)
			return o
		}
		e.planAndStart(t, topo, opts(func(o *reshard.Options) { o.Cluster = "nope" }), reshard.ErrUnsupported, `cluster "nope"`)
		e.planAndStart(t, topo, opts(func(o *reshard.Options) { o.To = nil }), reshard.ErrUnsupported, "no target shards")
		e.planAndStart(t, topo, opts(func(o *reshard.Options) { o.To = []string{"s0", "s1", "s9"} }), reshard.ErrUnsupported, `"s9"`, `cluster "accounts"`)
		e.planAndStart(t, topo, opts(func(o *reshard.Options) { o.To = []string{"s0", "s1", "s1"} }), reshard.ErrUnsupported, `"s1"`, "twice")
		e.planAndStart(t, topo, opts(func(o *reshard.Options) { o.To = []string{"s0", "s1"} }), reshard.ErrUnsupported, "s0, s1", "current")
		for _, name := range []string{"bad-name", "x; DROP TABLE accounts", strings.Repeat("w", 61), "wörk"} {
			e.planAndStart(t, topo, opts(func(o *reshard.Options) { o.Workflow = name }), reshard.ErrUnsupported, fmt.Sprintf("%q", name))
		}
		// An ID generator encodes the shard's position in every ID: moving
		// a row would make its ID lie. Refused whether the key comes from
		// the configuration or from Options.Tables.
		gen, err := sharding.NewIDGenerator(sharding.DefaultIDLayout(), 1)
		require.NoError(t, err)
		withIDs := sharding.ShardKey{Column: "id", Strategy: sharding.JumpHash(), IDs: gen}
		e.planAndStart(t, e.topo(t, map[string]sharding.ShardKey{"accounts": withIDs}), opts(func(*reshard.Options) {}), reshard.ErrUnsupported, `"accounts"`, "IDs")
		e.planAndStart(t, topo, opts(func(o *reshard.Options) { o.Tables = []reshard.TableKey{{Table: "accounts", Key: withIDs}} }), reshard.ErrUnsupported, `"accounts"`, "IDs")
		// A shard-key column no shard has.
		e.planAndStart(t, topo, opts(func(o *reshard.Options) {
			o.Tables = []reshard.TableKey{{Table: "accounts", Key: sharding.ShardKey{Column: "owner_id", Strategy: sharding.JumpHash()}}}
		}), reshard.ErrSchema, `"accounts"`, `"owner_id"`)
		// A table no shard has.
		e.planAndStart(t, topo, opts(func(o *reshard.Options) {
			o.Tables = []reshard.TableKey{{Table: "ledger", Key: sharding.ShardKey{Column: "id", Strategy: sharding.JumpHash()}}}
		}), reshard.ErrSchema, `"ledger"`, `shard "s0"`)

		// Open of a workflow that does not exist.
		e.refused(t, reshard.ErrUnknownWorkflow, []string{`"ghost"`}, func() error {
			_, err := reshard.Open(context.Background(), topo, e.options("ghost"))
			return err
		})
		e.refused(t, reshard.ErrUnsupported, []string{`cluster "nope"`}, func() error {
			o := e.options("ghost")
			o.Cluster = "nope"
			_, err := reshard.Open(context.Background(), topo, o)
			return err
		})
	})

	// Schemas that do not agree: each on its own cluster.
	schema := []struct {
		name  string
		setup []string // on shard s2 unless shard says otherwise
		shard string
		names []string
	}{
		{name: "table missing on a target shard", setup: []string{"DROP TABLE accounts"}, names: []string{`shard "s2"`, `"accounts"`, "does not exist"}},
		{name: "no primary key", shard: "all", setup: []string{"ALTER TABLE accounts DROP PRIMARY KEY"}, names: []string{`"accounts"`, "no primary key"}},
		{name: "column missing on a shard", setup: []string{"ALTER TABLE accounts DROP COLUMN note"}, names: []string{`"accounts"`, `"s2"`, "note"}},
		{name: "extra column on a shard", setup: []string{"ALTER TABLE accounts ADD COLUMN extra INT"}, names: []string{`"accounts"`, `"s2"`, "extra"}},
		{name: "column type differs", setup: []string{"ALTER TABLE accounts DROP COLUMN note", "ALTER TABLE accounts ADD COLUMN note INT"}, names: []string{`"accounts"`, `"s2"`, "note"}},
		{name: "primary key differs", setup: []string{"ALTER TABLE accounts DROP PRIMARY KEY", "ALTER TABLE accounts ADD PRIMARY KEY (id, balance)"}, names: []string{`"accounts"`, `"s2"`, "primary key"}},
		{name: "shard key column missing on a shard", setup: []string{"ALTER TABLE accounts RENAME COLUMN id TO account_id"}, names: []string{`"accounts"`, `"s2"`, `"id"`}},
	}
	for _, c := range schema {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newBadEnv(t, b)
			shards := []string{"s2"}
			if c.shard == "all" {
				shards = e.h.To
			}
			for _, s := range shards {
				var stmts []string
				for _, stmt := range c.setup {
					if postgres && stmt == "ALTER TABLE accounts DROP PRIMARY KEY" {
						stmt = "ALTER TABLE accounts DROP CONSTRAINT accounts_pkey"
					}
					stmts = append(stmts, stmt)
				}
				e.exec(t, s, stmts...)
			}
			e.planAndStart(t, e.topo(t, nil), e.options("wf", "s0", "s1", "s2"), reshard.ErrSchema, c.names...)
		})
	}

	t.Run("workflows", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		e := newBadEnv(t, b)
		topo := e.topo(t, nil)
		// Unique: PostgreSQL's slots, named after the workflow, are server-wide.
		first := fmt.Sprintf("first_%x", time.Now().UnixNano())
		quoted := fmt.Sprintf("%q", first)
		w, err := reshard.Start(ctx, topo, e.options(first, "s0", "s1", "s2"))
		require.NoError(t, err)
		// Start again under the same name, and another workflow on the
		// same cluster.
		e.refused(t, reshard.ErrState, []string{quoted, "already exists", "grant reshard run"}, func() error {
			_, err := reshard.Start(ctx, topo, e.options(first, "s0", "s1", "s2"))
			return err
		})
		e.refused(t, reshard.ErrState, []string{quoted, `cluster "accounts"`}, func() error {
			_, err := reshard.Start(ctx, topo, e.options("second", "s0", "s1", "s2"))
			return err
		})
		e.refused(t, reshard.ErrState, []string{quoted, `cluster "accounts"`}, func() error {
			_, err := reshard.Plan(ctx, topo, e.options("second", "s0", "s1", "s2"))
			return err
		})

		// Steps before the copy has finished (nothing runs the worker).
		steps := func(names ...string) map[string]func() error {
			all := map[string]func() error{
				"SwitchReads":  func() error { _, err := w.SwitchReads(ctx); return err },
				"SwitchWrites": func() error { _, err := w.SwitchWrites(ctx); return err },
				"Verify":       func() error { _, err := w.Verify(ctx); return err },
				"Reverse":      func() error { _, err := w.Reverse(ctx); return err },
				"Complete":     func() error { return w.Complete(ctx) },
			}
			out := map[string]func() error{}
			for _, n := range names {
				out[n] = all[n]
			}
			return out
		}
		for name, step := range steps("SwitchReads", "SwitchWrites", "Verify", "Reverse", "Complete") {
			t.Run("copying/"+name, func(t *testing.T) {
				e.refused(t, reshard.ErrState, []string{quoted, reshard.StateCopying}, step)
				st, err := w.Status(ctx)
				require.NoError(t, err)
				assert.Equal(t, reshard.StateCopying, st.State)
			})
		}
		// Another process's handle sees the same refusals.
		other, err := reshard.Open(ctx, e.topo(t, nil), e.options(first))
		require.NoError(t, err)
		e.refused(t, reshard.ErrState, []string{quoted, reshard.StateCopying}, func() error { _, err := other.SwitchWrites(ctx); return err })

		// Once running (copy done, no switch yet): reverse and complete
		// still need switched writes.
		runCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		var runErr error
		wg.Go(func() { runErr = w.Run(runCtx) })
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				cancel()
				wg.Wait()
				assert.True(t, runErr == nil || errors.Is(runErr, context.Canceled), "Run: %v", runErr)
			}
		}
		t.Cleanup(stop)
		waitState(t, w, reshard.StateRunning)
		stop() // the worker applies changes: the footprint would move under it
		st, err := w.Status(ctx)
		require.NoError(t, err)
		needs := map[string]string{"Reverse": reshard.StateWritesSwitched, "Complete": "switch-writes"}
		for name, step := range steps("Reverse", "Complete") {
			t.Run("running/"+name, func(t *testing.T) {
				e.refused(t, reshard.ErrState, []string{quoted, reshard.StateRunning, needs[name]}, step)
				now, err := w.Status(ctx)
				require.NoError(t, err)
				assert.Equal(t, reshard.StateRunning, now.State)
				assert.Equal(t, st.Placement.Version, now.Placement.Version)
			})
		}
	})
}
