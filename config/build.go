package config

import (
	"cmp"
	"fmt"
	"github.com/grant-go/grant/internal/dsnredact"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

// This file maps the decoded file onto topology.Config: values expanded
// and converted, the DSN overrides and adapter defaults applied, and what
// needs the whole section (a writer, a shard's name) checked.

// policies, strategies and consistency modes are the names the file may use.
var (
	policies = map[string]func() topology.Policy{
		"random": topology.RandomPolicy, "round_robin": topology.RoundRobinPolicy,
		"weighted": topology.WeightedPolicy, "least_in_use": topology.LeastInUsePolicy,
	}
	strategies = map[string]func() sharding.Strategy{
		"modulo": sharding.Modulo, "hash": sharding.Hash, "jump_hash": sharding.JumpHash,
	}
	consistencyModes = map[string]topology.ConsistencyMode{
		"eventual": topology.Eventual, "timed": topology.Timed, "causal": topology.Causal,
	}
)

// builder builds one file's Config. It keeps the first problem it finds
// (a *FileError) in err; from then on it reads nothing more and its
// methods return zero values, so that a section reads as one expression.
// Go evaluates the calls in a composite literal left to right, so the
// problem kept is the first in reading order.
type builder struct {
	file     string
	env      func(string) (string, bool)
	idx      *index
	adapters map[string]bool // adapter names used by nodes, for validation
	nulls    map[string]bool // key paths written with a null value
	err      error
}

// fail records a problem, unless one was found before.
func (b *builder) fail(line int, key, format string, args ...any) {
	if b.err == nil {
		b.err = &FileError{File: b.file, Line: max(line, 1), Key: key, Problem: fmt.Sprintf(format, args...)}
	}
}

func (b *builder) config(d *fileDoc) topology.Config {
	cfg := topology.Config{
		Default:             b.name("default", d.Default.node),
		TraceRoutes:         b.boolean("trace_routes", d.TraceRoutes.node),
		Policy:              b.policy("policy", d.Policy.node),
		Tables:              b.tables(d.Tables),
		Health:              b.health("health", &d.Health),
		Consistency:         b.consistency("consistency", &d.Consistency),
		MaxDistinctValues:   b.integer("max_distinct_values", d.MaxDistinctValues.node),
		StrictPreventWrites: b.boolean("strict_prevent_writes", d.StrictPreventWrites.node),
		MaxOpenPools:        b.integer("max_open_pools", d.MaxOpenPools.node),
		Reshard:             b.reshard("reshard", d.Reshard),
	}
	// Only the default database may omit its writer, wherever "default"
	// is written.
	cfg.Databases = b.databases(d.Databases, cfg.DefaultName())
	cfg.Clusters = b.clusters(d.Clusters)
	return cfg
}

// reshard reads the reshard section: absent or null means placements are
// static; given, even empty, means this process follows them.
func (b *builder) reshard(path string, d *reshardDoc) *topology.ReshardConfig {
	if d == nil {
		return nil
	}
	return &topology.ReshardConfig{
		PollInterval: b.duration(path+".poll_interval", d.PollInterval.node),
		Lease:        b.duration(path+".lease", d.Lease.node),
		FreezeWait:   b.duration(path+".freeze_wait", d.FreezeWait.node),
		Instance:     b.str(path+".instance", d.Instance.node),
	}
}

// inFileOrder returns a map's keys in the order they are written (keys
// reached through merge keys last, by name), so that the first problem of
// the file is the one reported.
func inFileOrder[V any](b *builder, path string, m map[string]V) []string {
	line := func(key string) int {
		if line, ok := b.idx.line(dsnredact.JoinKey(path, key)); ok {
			return line
		}
		return math.MaxInt
	}
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(x, y string) int { return cmp.Compare(line(x), line(y)) })
	return keys
}

// name reads an optional name (of the default database, of a node or a
// shard): "" is none.
func (b *builder) name(path string, n *yaml.Node) string {
	v := b.str(path, n)
	if v != "" {
		b.checkName(path, v, n)
	}
	return v
}

// checkName is Config.Validate's rule for names, checked here to report
// it with a line and with the name redacted (a DSN pasted where a name
// belongs must not leak). n is the value holding the name; nil for a key.
func (b *builder) checkName(path, name string, n *yaml.Node) {
	if name != "" && dsnredact.IsPlainName(name) || b.err != nil {
		return
	}
	line := b.idx.keyLine(path)
	if n != nil {
		line = lineOf(n)
	}
	if name == "" {
		b.fail(line, path, "empty name")
	} else {
		b.fail(line, path, "name %s may only hold letters, digits, '_' and '-'", dsnredact.Quote(name))
	}
}

func (b *builder) policy(path string, n *yaml.Node) topology.Policy {
	name := b.str(path, n)
	if b.err != nil || isNull(n) {
		return nil
	}
	if policy, ok := policies[name]; ok {
		return policy()
	}
	b.fail(lineOf(n), path, "unknown policy %s (known: %s)", dsnredact.Quote(name), strings.Join(slices.Sorted(maps.Keys(policies)), ", "))
	return nil
}

func (b *builder) tables(m map[string]value) map[string]string {
	if len(m) == 0 {
		return nil
	}
	tables := make(map[string]string, len(m))
	for _, table := range inFileOrder(b, "tables", m) {
		path, v := dsnredact.JoinKey("tables", table), m[table]
		tables[table] = b.str(path, v.node)
		b.checkName(path, tables[table], v.node)
	}
	return tables
}

func (b *builder) pool(path string, p *poolDoc) topology.PoolConfig {
	return topology.PoolConfig{
		MaxOpenConns:    b.integer(path+".max_open_conns", p.MaxOpenConns.node),
		MaxIdleConns:    b.integer(path+".max_idle_conns", p.MaxIdleConns.node),
		ConnMaxLifetime: b.duration(path+".conn_max_lifetime", p.ConnMaxLifetime.node),
		ConnMaxIdleTime: b.duration(path+".conn_max_idle_time", p.ConnMaxIdleTime.node),
		CheckoutTimeout: b.duration(path+".checkout_timeout", p.CheckoutTimeout.node),
	}
}

// health reads a health mapping: the top-level one, or a database's,
// cluster's or shard's override.
func (b *builder) health(path string, h *healthDoc) topology.HealthConfig {
	out := topology.HealthConfig{
		Interval:           b.duration(path+".interval", h.Interval.node),
		Timeout:            b.duration(path+".timeout", h.Timeout.node),
		MaxReplicaLag:      b.duration(path+".max_replica_lag", h.MaxReplicaLag.node),
		RejoinAfter:        b.integer(path+".rejoin_after", h.RejoinAfter.node),
		FailWithoutReplica: b.boolean(path+".fail_without_replica", h.FailWithoutReplica.node),
		ReadTimeout:        b.duration(path+".read_timeout", h.ReadTimeout.node),
	}
	for _, role := range inFileOrder(b, path+".read_timeouts", h.ReadTimeouts) {
		if out.ReadTimeouts == nil {
			out.ReadTimeouts = make(map[string]time.Duration, len(h.ReadTimeouts))
		}
		v := h.ReadTimeouts[role]
		out.ReadTimeouts[role] = b.duration(dsnredact.JoinKey(path+".read_timeouts", role), v.node)
	}
	return out
}

// healthOverride is health for a database, cluster or shard: a pointer,
// since an override that is given (even empty, "health: {}", which turns
// checks off there) differs from none. A null value is none.
func (b *builder) healthOverride(path string, h *healthDoc) *topology.HealthConfig {
	if h == nil {
		return nil
	}
	out := b.health(path, h)
	return &out
}

func (b *builder) consistency(path string, c *consistencyDoc) topology.ConsistencyConfig {
	var mode topology.ConsistencyMode
	if name := b.str(path+".mode", c.Mode.node); b.err == nil && !isNull(c.Mode.node) {
		var ok bool
		if mode, ok = consistencyModes[name]; !ok {
			b.fail(lineOf(c.Mode.node), path+".mode", "unknown mode %s (known: %s)", dsnredact.Quote(name), strings.Join(slices.Sorted(maps.Keys(consistencyModes)), ", "))
		}
	}
	return topology.ConsistencyConfig{
		Mode:       mode,
		Delay:      b.duration(path+".delay", c.Delay.node),
		CausalWait: b.duration(path+".causal_wait", c.CausalWait.node),
	}
}

// migrations reads the migrations keys; nil nodes are keys the section
// does not have.
func (b *builder) migrations(path string, dir, table, dsn, tasks *value) topology.MigrationsConfig {
	str := func(key string, v *value) string {
		if v == nil {
			return ""
		}
		return b.str(path+"."+key, v.node)
	}
	m := topology.MigrationsConfig{Dir: str("migrations", dir), Table: str("migrations_table", table), DSN: str("migrations_dsn", dsn)}
	if tasks != nil {
		// "tasks: false" disables; absent, null or empty is true.
		on, given := b.optBoolean(path+".tasks", tasks.node)
		m.Disabled = given && !on
	}
	return m
}

func (b *builder) shardKeys(path string, m map[string]shardKeyDoc) map[string]sharding.ShardKey {
	if len(m) == 0 {
		return nil
	}
	keys := make(map[string]sharding.ShardKey, len(m))
	for _, table := range inFileOrder(b, path, m) {
		kp, doc := dsnredact.JoinKey(path, table), m[table]
		key := sharding.ShardKey{Column: b.str(kp+".column", doc.Column.node)}
		if name := b.str(kp+".strategy", doc.Strategy.node); name != "" || !isNull(doc.Strategy.node) {
			if strategy, ok := strategies[name]; ok {
				key.Strategy = strategy()
			} else {
				b.fail(lineOf(doc.Strategy.node), kp+".strategy", "unknown strategy %s (known: %s)", dsnredact.Quote(name), strings.Join(slices.Sorted(maps.Keys(strategies)), ", "))
			}
		}
		switch {
		case key.Column == "":
			b.fail(b.idx.keyLine(kp), kp+".column", "missing: a shard key needs a column")
		case key.Strategy == nil:
			b.fail(b.idx.keyLine(kp), kp+".strategy", "missing: a shard key needs a strategy (%s)", strings.Join(slices.Sorted(maps.Keys(strategies)), ", "))
		}
		keys[table] = key
	}
	return keys
}

// The scalar values.

func lineOf(n *yaml.Node) int {
	if r := resolve(n); r != nil && r.Line > 0 {
		return r.Line
	}
	if n == nil {
		return 0
	}
	return n.Line
}

// scalar returns n's value with ${VAR} references expanded; null is "",
// and so is anything once a problem was found.
func (b *builder) scalar(path string, n *yaml.Node, want string) string {
	if b.err != nil || isNull(n) {
		return ""
	}
	r := resolve(n)
	if r.Kind != yaml.ScalarNode {
		b.fail(r.Line, path, "expected %s, got %s", want, describe(r))
		return ""
	}
	v, problem := expand(r.Value, b.env)
	if problem != "" {
		b.fail(r.Line, path, "%s", problem)
	}
	return v
}

func (b *builder) str(path string, n *yaml.Node) string {
	return b.scalar(path, n, "a string")
}

func (b *builder) integer(path string, n *yaml.Node) int {
	v := b.scalar(path, n, "an integer")
	if v == "" {
		return 0
	}
	i, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		b.fail(lineOf(n), path, "expected an integer, got %s", dsnredact.Quote(v))
	}
	return i
}

func (b *builder) boolean(path string, n *yaml.Node) bool {
	v, _ := b.optBoolean(path, n)
	return v
}

// optBoolean returns the value and whether one was given (null is not).
func (b *builder) optBoolean(path string, n *yaml.Node) (value, given bool) {
	switch v := b.scalar(path, n, "true or false"); v {
	case "":
		return false, false
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	default:
		b.fail(lineOf(n), path, "expected true or false, got %s", dsnredact.Quote(v))
		return false, false
	}
}

func (b *builder) duration(path string, n *yaml.Node) time.Duration {
	v := b.scalar(path, n, "a duration")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		b.fail(lineOf(n), path, `expected a duration such as "30s", "5m" or "1h30m", got %s`, dsnredact.Quote(v))
	}
	return d
}

// listItem appends a list index to a key path: "replicas[0]".
func listItem(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// unknownKey names the key, suggests the nearest allowed one and lists them.
func unknownKey(key string, allowed []string) string {
	msg := "unknown key " + dsnredact.Quote(key)
	best, bestDist := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(key), a); d < bestDist {
			best, bestDist = a, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg + "; allowed keys: " + strings.Join(allowed, ", ")
}

// editDistance is the Levenshtein distance, for "did you mean".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
