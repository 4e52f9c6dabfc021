package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/sharding"
)

// reshardAccount is the table the CLI reshards; its primary key is its
// shard key.
type reshardAccount struct {
	ID      int64 `gorm:"primaryKey;autoIncrement:false"`
	Balance int64
}

func (reshardAccount) TableName() string { return "accounts" }

// syncBuffer is an output a command may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// grantInProcess runs the command tree with args and ctx, and returns
// stdout, stderr and the error Execute returned (what makes the binary
// exit 1). A panic while building or running the tree is an error too.
func grantInProcess(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errOut syncBuffer
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("grant %s panicked: %v", strings.Join(args, " "), r)
		}
		stdout, stderr = out.String(), errOut.String()
	}()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(ctx)
	return
}

// reshardCLI is a 2-shard jump-hash cluster "accounts" (s0, s1) with a
// pending third shard s2, and its grant.yml.
type reshardCLI struct {
	config   string
	workflow string // unique: PostgreSQL's slots, named after it, are server-wide
	def      *gorm.DB
	conns    map[string]*gorm.DB
	ids      []int64
}

func newReshardCLI(t *testing.T) *reshardCLI {
	t.Helper()
	b := testdb.Postgres(t)
	def := b.CreateDatabase(t, "clirs_def")
	defDB := def.Open(t)
	var level string
	require.NoError(t, defDB.Raw("SHOW wal_level").Scan(&level).Error)
	if level != "logical" {
		msg := "PostgreSQL runs with wal_level=" + level + ": resharding needs logical; run scripts/pg-logical.sh"
		if testdb.RequireServers() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c := &reshardCLI{workflow: fmt.Sprintf("cli_%x", time.Now().UnixNano()), def: defDB, conns: map[string]*gorm.DB{}}
	var yml strings.Builder
	// Direct DSNs: a logical replication slot cannot go through PgBouncer.
	fmt.Fprintf(&yml, "databases:\n  primary:\n    adapter: postgres\n    dsn: %q\n", def.DirectDSN)
	fmt.Fprintf(&yml, "clusters:\n  accounts:\n    adapter: postgres\n    shard_keys:\n      accounts: {column: id, strategy: jump_hash}\n    shards:\n")
	for i, name := range []string{"s0", "s1", "s2"} {
		d := b.CreateDatabase(t, "clirs_"+name)
		c.conns[name] = d.Open(t)
		require.NoError(t, c.conns[name].AutoMigrate(&reshardAccount{}))
		fmt.Fprintf(&yml, "      - name: %s\n        dsn: %q\n", name, d.DirectDSN)
		if i == 2 {
			fmt.Fprintf(&yml, "        pending: true\n")
		}
	}
	// Runs before the databases are dropped: a slot left by a failed run
	// would keep its database alive.
	t.Cleanup(func() {
		for _, db := range c.conns {
			_ = db.Exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active").Error
		}
	})
	c.config = filepath.Join(t.TempDir(), "grant.yml")
	writeFile(t, c.config, yml.String())
	return c
}

// seed writes n rows, each on its shard under the current placement.
func (c *reshardCLI) seed(t *testing.T, n int) {
	t.Helper()
	for id := int64(1); id <= int64(n); id++ {
		home, err := sharding.MapOne(context.Background(), sharding.JumpHash(), []string{"s0", "s1"}, sharding.IntKey(id))
		require.NoError(t, err)
		require.NoError(t, c.conns[home].Create(&reshardAccount{ID: id, Balance: id * 3}).Error)
		c.ids = append(c.ids, id)
	}
}

func (c *reshardCLI) run(ctx context.Context, args ...string) (string, string, error) {
	return grantInProcess(ctx, append([]string{"reshard"}, append(args, "--config", c.config)...)...)
}

// TestCLIReshardEndToEnd grows a 2-shard jump-hash cluster to 3 with the
// grant reshard commands, as docs/resharding.md tells an operator to.
func TestCLIReshardEndToEnd(t *testing.T) {
	c := newReshardCLI(t)
	c.seed(t, 300)
	ctx := context.Background()
	from, to := []string{"s0", "s1"}, []string{"s0", "s1", "s2"}

	// What the plan must say: rows per source shard and where they go.
	rows, moving := map[string]int{}, map[string]map[string]int{}
	total := 0
	for _, id := range c.ids {
		a, err := sharding.MapOne(ctx, sharding.JumpHash(), from, sharding.IntKey(id))
		require.NoError(t, err)
		b, err := sharding.MapOne(ctx, sharding.JumpHash(), to, sharding.IntKey(id))
		require.NoError(t, err)
		rows[a]++
		if a != b {
			if moving[a] == nil {
				moving[a] = map[string]int{}
			}
			moving[a][b]++
			total++
		}
	}
	require.Positive(t, total)

	stdout, stderr, err := c.run(ctx, "plan", "--cluster", "accounts", "--to", "s0,s1,s2")
	require.NoError(t, err, stdout+stderr)
	t.Logf("plan:\n%s", stdout)
	assert.Contains(t, stdout, "cluster accounts: s0, s1 → s0, s1, s2")
	for _, shard := range from {
		want := fmt.Sprintf(`(?m)^accounts\s+%s\s+%d\s+%d\s+s2 %d\s*$`, shard, rows[shard], moving[shard]["s2"], moving[shard]["s2"])
		assert.Regexp(t, want, stdout, "the plan's line for shard %s", shard)
		assert.Len(t, moving[shard], 1, "jump hash only moves keys to the new shard")
	}
	assert.Contains(t, stdout, fmt.Sprintf("%d of %d rows move", total, len(c.ids)))

	// start runs the worker until the workflow completes.
	startCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		stdout, stderr string
		err            error
	}
	started := make(chan result, 1)
	go func() {
		o, e, err := c.run(startCtx, "start", "--cluster", "accounts", "--workflow", c.workflow, "--to", "s0,s1,s2", "--batch", "50")
		started <- result{o, e, err}
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		stdout, stderr, err := c.run(ctx, "status", "--cluster", "accounts", "--workflow", c.workflow)
		if err == nil && strings.Contains(stdout, "on cluster accounts: running") {
			t.Logf("status:\n%s", stdout)
			assert.Contains(t, stdout, "workflow "+c.workflow)
			assert.Regexp(t, `accounts\s+s0\s+\d+\s+\d+\s+true`, stdout, "the copy's progress per source shard")
			break
		}
		select {
		case r := <-started:
			t.Fatalf("start ended before the copy finished: %v\n%s%s", r.err, r.stdout, r.stderr)
		default:
		}
		// Before start has recorded it, the workflow is unknown: that is
		// the only error allowed while waiting.
		if err != nil && !strings.Contains(err.Error(), "unknown workflow") {
			t.Fatalf("status: %v\n%s%s", err, stdout, stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workflow did not reach running within a minute; last status:\n%s%s%v", stdout, stderr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	stdout, stderr, err = c.run(ctx, "verify", "--cluster", "accounts", "--workflow", c.workflow)
	require.NoError(t, err, stdout+stderr)
	assert.Regexp(t, fmt.Sprintf(`accounts\s+s2\s+%d\s+%d\s+equal`, total, total), stdout)
	assert.NotContains(t, stdout, "differs:")

	stdout, stderr, err = c.run(ctx, "switch-reads", "--cluster", "accounts", "--workflow", c.workflow)
	require.NoError(t, err, stdout+stderr)
	assert.Regexp(t, `switch-reads: placement version \d+`, stdout)

	stdout, stderr, err = c.run(ctx, "switch-writes", "--cluster", "accounts", "--workflow", c.workflow, "--timeout", "20s")
	require.NoError(t, err, stdout+stderr)
	t.Logf("switch-writes:\n%s", stdout)
	m := regexp.MustCompile(`switch-writes: placement version (\d+), writes to moving keys frozen for (\S+)`).FindStringSubmatch(stdout)
	require.NotNil(t, m, "switch-writes names the placement version and the freeze window:\n%s", stdout)
	version, _ := strconv.Atoi(m[1])
	assert.Greater(t, version, 1)
	_, err = time.ParseDuration(m[2])
	assert.NoError(t, err, "the freeze window is a duration")

	stdout, stderr, err = c.run(ctx, "complete", "--cluster", "accounts", "--workflow", c.workflow)
	require.NoError(t, err, stdout+stderr)
	assert.Contains(t, stdout, "completed")

	// The worker stops by itself once the workflow completes.
	select {
	case r := <-started:
		require.NoError(t, r.err, r.stdout+r.stderr)
		assert.Contains(t, r.stdout, "worker running")
	case <-time.After(time.Minute):
		t.Fatal("grant reshard start did not return after complete")
	}

	// Every row on the shard jump hash over the three names gives, once,
	// and nothing left behind of the change capture.
	where := map[int64][]string{}
	for name, db := range c.conns {
		var got []reshardAccount
		require.NoError(t, db.Find(&got).Error)
		for _, a := range got {
			where[a.ID] = append(where[a.ID], name)
			assert.Equal(t, a.ID*3, a.Balance, "row %d", a.ID)
		}
		var left []string
		require.NoError(t, db.Raw(`SELECT slot_name FROM pg_replication_slots WHERE database = current_database()
UNION ALL SELECT pubname FROM pg_publication`).Scan(&left).Error)
		assert.Empty(t, left, "capture left on shard %s", name)
	}
	assert.Len(t, where, len(c.ids))
	for _, id := range c.ids {
		home, err := sharding.MapOne(ctx, sharding.JumpHash(), to, sharding.IntKey(id))
		require.NoError(t, err)
		assert.Equal(t, []string{home}, where[id], "row %d", id)
	}

	stdout, stderr, err = c.run(ctx, "status", "--cluster", "accounts", "--workflow", c.workflow)
	require.NoError(t, err, stdout+stderr)
	assert.Contains(t, stdout, "completed")
	assert.Regexp(t, `reads s0, s1, s2, writes s0, s1, s2`, stdout)
}

// TestCLIReshardBadInput: the mistakes an operator makes first fail with
// a message that says what is wrong.
func TestCLIReshardBadInput(t *testing.T) {
	c := newReshardCLI(t)
	c.seed(t, 20)
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"plan", "--to", "s0,s1,s2"}, []string{"--cluster is required"}},
		{[]string{"plan", "--cluster", "accounts", "--to", "s0,s1,s9"}, []string{`"s9"`, `cluster "accounts"`}},
		{[]string{"plan", "--cluster", "nope", "--to", "s0,s1,s2"}, []string{`cluster "nope"`}},
		{[]string{"status", "--cluster", "accounts", "--workflow", "ghost"}, []string{`unknown workflow "ghost"`}},
		{[]string{"switch-writes", "--cluster", "accounts"}, []string{`unknown workflow "accounts_reshard"`}},
	} {
		stdout, stderr, err := c.run(ctx, tc.args...)
		require.Error(t, err, "grant reshard %s", strings.Join(tc.args, " "))
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w, "grant reshard %s", strings.Join(tc.args, " "))
			assert.Contains(t, stderr, w, "printed for the operator: grant reshard %s", strings.Join(tc.args, " "))
		}
		assert.NotContains(t, stdout, "placement version", "nothing ran")
	}
	// None of it recorded a workflow, published a placement or made a slot.
	for _, table := range []string{"grant_reshard", "grant_placement"} {
		if c.def.Migrator().HasTable(table) {
			var n int64
			require.NoError(t, c.def.Table(table).Count(&n).Error)
			assert.Zero(t, n, table)
		}
	}
	for name, db := range c.conns {
		var n int64
		require.NoError(t, db.Raw("SELECT count(*) FROM pg_replication_slots WHERE database = current_database()").Scan(&n).Error)
		assert.Zero(t, n, "slots on shard %s", name)
	}
}
