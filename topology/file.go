package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"gorm.io/gorm"

	"github.com/grant-go/grant/sharding"
)

// FileError reports one problem in a topology file (grant.yml): where it is
// (file, line, key path) and what is wrong. It never holds a password.
// errors.Is(err, ErrInvalidConfig) is true for it.
type FileError struct {
	File    string // the path given to LoadConfigFile, or ParseConfig's file
	Line    int    // 1-based; 0 when the YAML parser could not tell
	Key     string // "databases.primary.replicas[0].dsn"; "" for syntax errors
	Problem string
}

// Error reads "grant.yml:12: databases.primary.replicas[0].dsn: missing DSN".
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if e.File == "" {
			b.WriteString("line")
		}
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *FileError) Unwrap() error { return ErrInvalidConfig }

// LoadConfigFile reads the topology file at path (see docs/configuration.md)
// with ${VAR} references and GRANT_<NAME>_DSN overrides taken from the
// process environment, and resolves relative migrations directories and
// password files against the file's directory (the result is absolute). It
// opens no connection.
//
// A file that cannot be read gives the os error, wrapped (errors.Is(err,
// fs.ErrNotExist) works). Anything wrong inside the file gives a *FileError
// naming file, line and key, or the *ConfigError of Config.Validate; both
// match ErrInvalidConfig.
func LoadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("grant: read configuration: %w", err)
	}
	cfg, err := ParseConfig(path, data, os.LookupEnv)
	if err != nil {
		return Config{}, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("grant: read configuration: %w", err)
	}
	resolveMigrationDirs(&cfg, dir)
	resolvePasswordFiles(&cfg, dir)
	return cfg, nil
}

// ParseConfig builds a Config from the YAML text of a topology file. file
// names the file in errors only: relative migrations directories are left
// as written (LoadConfigFile resolves them). env looks up variables for
// ${VAR} references and GRANT_<NAME>_DSN overrides (os.LookupEnv in
// LoadConfigFile; nil means an empty environment).
//
// Node DSNs and adapter names are set, never Dialectors; adapter names are
// not checked against the built-in ones, so that Config.Adapters can add
// more after loading. The built Config is checked with Config.Validate, whose
// *ConfigError is returned unchanged; every other error is a *FileError.
func ParseConfig(file string, data []byte, env func(string) (string, bool)) (Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	p := &parser{file: file, env: env, adapters: map[string]bool{}}
	root, err := p.parse(data)
	if err != nil {
		return Config{}, err
	}
	cfg, err := p.config(root)
	if err != nil {
		return Config{}, err
	}
	// Validate as if every adapter named in the file were registered: the
	// caller adds non-built-in ones to Config.Adapters after loading.
	check := cfg
	for name := range p.adapters {
		if check.adapter(name) == nil {
			if check.Adapters == nil {
				check.Adapters = map[string]Adapter{}
			}
			check.Adapters[name] = func(string) gorm.Dialector { return nil }
		}
	}
	if err := check.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func resolveMigrationDirs(cfg *Config, dir string) {
	abs := func(m *MigrationsConfig) {
		if m.Dir != "" && !filepath.IsAbs(m.Dir) {
			m.Dir = filepath.Join(dir, m.Dir)
		}
	}
	for name, d := range cfg.Databases {
		abs(&d.Migrations)
		cfg.Databases[name] = d
	}
	for name, c := range cfg.Clusters {
		abs(&c.Migrations)
		cfg.Clusters[name] = c
	}
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)
var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// parse returns the root node of the file's one YAML document.
func (p *parser) parse(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 recovers its own error panics; any other panic in it
		// is a library bug, which must not take the program down.
		if r := recover(); r != nil {
			root, err = nil, p.fail(0, "", "invalid YAML: the YAML parser failed on this input")
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.fail(0, "", "empty file: expected a mapping with databases and clusters")
		}
		return nil, p.syntaxError(err, data)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, p.syntaxError(err, data)
	case len(extra.Content) > 0 && !isNull(extra.Content[0]):
		return nil, p.fail(extra.Line, "", "a second YAML document: the file must hold exactly one")
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, p.fail(lineOf(&doc), "", "empty file: expected a mapping with databases and clusters")
	}
	return doc.Content[0], nil
}

// parserProblems are the YAML parser's (not scanner's) messages. yaml.v3
// prints their 0-based line ("line 2" for a "[" opened on line 3) and no
// line at all for the first one; scanner errors carry the right line.
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected '-' indicator", "did not find expected <document start>",
	"did not find expected key", "did not find expected node content",
	"found duplicate %TAG directive", "found duplicate %YAML directive",
	"found incompatible YAML document", "found undefined tag handle",
}

func (p *parser) syntaxError(err error, data []byte) *FileError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	switch {
	case slices.Contains(parserProblems, msg):
		line++
	case line == 0:
		if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
			if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
				line = bytes.Count(data[:i], []byte("\n")) + 1
			}
		}
	}
	hint := ""
	if strings.HasPrefix(msg, "did not find expected ',' or ") && bytes.Contains(data, []byte("${")) {
		hint = ` (inside {...} or [...], quote values holding ${...}: "${NAME}")`
	}
	return p.fail(line, "", "invalid YAML: %s%s", msg, hint)
}

var (
	topKeys         = []string{"default", "trace_routes", "policy", "tables", "databases", "clusters", "health", "consistency", "max_distinct_values", "strict_prevent_writes", "max_open_pools"}
	databaseKeys    = []string{"adapter", "dsn", "password_file", "writer", "replicas", "roles", "pool", "policy", "migrations", "migrations_table", "migrations_dsn", "tasks", "health"}
	clusterKeys     = []string{"adapter", "pool", "policy", "migrations", "migrations_table", "tasks", "health", "shard_keys", "shards", "max_open_pools"}
	shardKeys       = []string{"name", "dsn", "password_file", "writer", "replicas", "roles", "pool", "policy", "health", "migrations_dsn"}
	nodeKeys        = []string{"name", "dsn", "adapter", "weight", "pool", "password_file"}
	poolKeys        = []string{"max_open_conns", "max_idle_conns", "conn_max_lifetime", "conn_max_idle_time", "checkout_timeout"}
	healthKeys      = []string{"interval", "timeout", "max_replica_lag", "rejoin_after", "fail_without_replica", "read_timeout", "read_timeouts"}
	consistencyKeys = []string{"mode", "delay", "causal_wait"}
	shardKeyKeys    = []string{"column", "strategy"}
)

// policies and strategies are the names the file may use.
var (
	policies = map[string]func() Policy{
		"random": RandomPolicy, "round_robin": RoundRobinPolicy,
		"weighted": WeightedPolicy, "least_in_use": LeastInUsePolicy,
	}
	strategies = map[string]func() sharding.Strategy{
		"modulo": sharding.Modulo, "hash": sharding.Hash, "jump_hash": sharding.JumpHash,
	}
	consistencyModes = map[string]ConsistencyMode{
		"eventual": Eventual, "timed": Timed, "causal": Causal,
	}
)

func (p *parser) config(root *yaml.Node) (Config, error) {
	var cfg Config
	entries, err := p.mapping("", root, topKeys)
	if err != nil {
		return cfg, err
	}
	var databases, clusters *entry
	for _, e := range entries {
		switch e.key {
		case "default":
			if cfg.Default, err = p.str(e.key, e.value); err == nil && cfg.Default != "" {
				err = p.checkName(e.key, lineOf(e.value), cfg.Default)
			}
		case "trace_routes":
			cfg.TraceRoutes, _, err = p.boolean(e.key, e.value)
		case "policy":
			cfg.Policy, err = p.policy(e.key, e.value)
		case "tables":
			cfg.Tables, err = p.tables(e.value)
		case "databases":
			databases = &e
		case "clusters":
			clusters = &e
		case "health":
			cfg.Health, err = p.health(e.key, e.value)
		case "consistency":
			cfg.Consistency, err = p.consistency(e.key, e.value)
		case "max_distinct_values":
			cfg.MaxDistinctValues, err = p.integer(e.key, e.value)
		case "max_open_pools":
			cfg.MaxOpenPools, err = p.integer(e.key, e.value)
		case "strict_prevent_writes":
			cfg.StrictPreventWrites, _, err = p.boolean(e.key, e.value)
		}
		if err != nil {
			return cfg, err
		}
	}
	// Databases come after "default", wherever it is written: only the
	// default database may omit its writer.
	if databases != nil {
		if cfg.Databases, err = p.databases(databases.value, cfg.DefaultName()); err != nil {
			return cfg, err
		}
	}
	if clusters != nil {
		if cfg.Clusters, err = p.clusters(clusters.value); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// checkName is Config.Validate's name rule, reported with a line and with
// the name redacted (a DSN pasted where a name belongs must not leak).
func (p *parser) checkName(path string, line int, name string) error {
	if name == "" {
		return p.fail(line, path, "empty name")
	}
	if !isPlainName(name) {
		return p.fail(line, path, "name %s may only hold letters, digits, '_' and '-'", quoteValue(name))
	}
	return nil
}

func (p *parser) policy(path string, n *yaml.Node) (Policy, error) {
	name, err := p.str(path, n)
	if err != nil || isNull(n) {
		return nil, err
	}
	if policy, ok := policies[name]; ok {
		return policy(), nil
	}
	return nil, p.fail(lineOf(resolve(n)), path, "unknown policy %s (known: %s)", quoteValue(name), strings.Join(sortedKeys(policies), ", "))
}

func (p *parser) tables(n *yaml.Node) (map[string]string, error) {
	entries, err := p.mapping("tables", n, nil)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	tables := make(map[string]string, len(entries))
	for _, e := range entries {
		path := join("tables", e.key)
		db, err := p.str(path, e.value)
		if err != nil {
			return nil, err
		}
		if err := p.checkName(path, lineOf(e.value), db); err != nil {
			return nil, err
		}
		tables[e.key] = db
	}
	return tables, nil
}

func (p *parser) pool(path string, n *yaml.Node) (PoolConfig, error) {
	var pool PoolConfig
	entries, err := p.mapping(path, n, poolKeys)
	if err != nil {
		return pool, err
	}
	for _, e := range entries {
		key := join(path, e.key)
		switch e.key {
		case "max_open_conns":
			pool.MaxOpenConns, err = p.integer(key, e.value)
		case "max_idle_conns":
			pool.MaxIdleConns, err = p.integer(key, e.value)
		case "conn_max_lifetime":
			pool.ConnMaxLifetime, err = p.duration(key, e.value)
		case "conn_max_idle_time":
			pool.ConnMaxIdleTime, err = p.duration(key, e.value)
		case "checkout_timeout":
			pool.CheckoutTimeout, err = p.duration(key, e.value)
		}
		if err != nil {
			return pool, err
		}
	}
	return pool, nil
}

// health reads a health mapping: the top-level one, or a database's,
// cluster's or shard's override.
func (p *parser) health(path string, n *yaml.Node) (HealthConfig, error) {
	var h HealthConfig
	entries, err := p.mapping(path, n, healthKeys)
	if err != nil {
		return h, err
	}
	for _, e := range entries {
		key := join(path, e.key)
		switch e.key {
		case "interval":
			h.Interval, err = p.duration(key, e.value)
		case "timeout":
			h.Timeout, err = p.duration(key, e.value)
		case "max_replica_lag":
			h.MaxReplicaLag, err = p.duration(key, e.value)
		case "rejoin_after":
			h.RejoinAfter, err = p.integer(key, e.value)
		case "fail_without_replica":
			h.FailWithoutReplica, _, err = p.boolean(key, e.value)
		case "read_timeout":
			h.ReadTimeout, err = p.duration(key, e.value)
		case "read_timeouts":
			h.ReadTimeouts, err = p.durations(key, e.value)
		}
		if err != nil {
			return h, err
		}
	}
	return h, nil
}

// durations reads a mapping of names to durations (health.read_timeouts).
func (p *parser) durations(path string, n *yaml.Node) (map[string]time.Duration, error) {
	entries, err := p.mapping(path, n, nil)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	out := make(map[string]time.Duration, len(entries))
	for _, e := range entries {
		if out[e.key], err = p.duration(join(path, e.key), e.value); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// healthOverride is health for a database, cluster or shard: a pointer,
// since an override that is given (even empty, "health: {}", which turns
// checks off there) differs from none. A null value is none.
func (p *parser) healthOverride(path string, n *yaml.Node) (*HealthConfig, error) {
	if isNull(n) {
		return nil, nil
	}
	h, err := p.health(path, n)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

func (p *parser) consistency(path string, n *yaml.Node) (ConsistencyConfig, error) {
	var c ConsistencyConfig
	entries, err := p.mapping(path, n, consistencyKeys)
	if err != nil {
		return c, err
	}
	for _, e := range entries {
		key := join(path, e.key)
		switch e.key {
		case "mode":
			var name string
			if name, err = p.str(key, e.value); err != nil || isNull(e.value) {
				break
			}
			mode, ok := consistencyModes[name]
			if !ok {
				return c, p.fail(lineOf(e.value), key, "unknown mode %s (known: %s)", quoteValue(name), strings.Join(sortedKeys(consistencyModes), ", "))
			}
			c.Mode = mode
		case "delay":
			c.Delay, err = p.duration(key, e.value)
		case "causal_wait":
			c.CausalWait, err = p.duration(key, e.value)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// migrations reads the migrations keys shared by databases and clusters;
// it reports whether e was one of them.
func (p *parser) migrations(path string, e entry, m *MigrationsConfig) (bool, error) {
	var err error
	switch e.key {
	case "migrations":
		m.Dir, err = p.str(path+".migrations", e.value)
	case "migrations_table":
		m.Table, err = p.str(path+".migrations_table", e.value)
	case "migrations_dsn":
		m.DSN, err = p.str(path+".migrations_dsn", e.value)
	case "tasks":
		var tasks, given bool
		tasks, given, err = p.boolean(path+".tasks", e.value)
		m.Disabled = given && !tasks
	default:
		return false, nil
	}
	return true, err
}

func (p *parser) shardKeys(path string, n *yaml.Node) (map[string]sharding.ShardKey, error) {
	entries, err := p.mapping(path, n, nil)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	keys := make(map[string]sharding.ShardKey, len(entries))
	for _, e := range entries {
		kp := join(path, e.key)
		fields, err := p.mapping(kp, e.value, shardKeyKeys)
		if err != nil {
			return nil, err
		}
		var key sharding.ShardKey
		for _, f := range fields {
			switch f.key {
			case "column":
				key.Column, err = p.str(kp+".column", f.value)
			case "strategy":
				var name string
				if name, err = p.str(kp+".strategy", f.value); err != nil {
					break
				}
				strategy, ok := strategies[name]
				if !ok {
					return nil, p.fail(lineOf(f.value), kp+".strategy", "unknown strategy %s (known: %s)", quoteValue(name), strings.Join(sortedKeys(strategies), ", "))
				}
				key.Strategy = strategy()
			}
			if err != nil {
				return nil, err
			}
		}
		switch {
		case key.Column == "":
			return nil, p.fail(e.line, kp+".column", "missing: a shard key needs a column")
		case key.Strategy == nil:
			return nil, p.fail(e.line, kp+".strategy", "missing: a shard key needs a strategy (%s)", strings.Join(sortedKeys(strategies), ", "))
		}
		keys[e.key] = key
	}
	return keys, nil
}
