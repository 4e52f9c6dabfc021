package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/grant-go/grant/topology"
)

// FileError reports one problem in a topology file: where it is (file,
// line, key path) and what is wrong. It never holds a password.
// errors.Is(err, topology.ErrInvalidConfig) is true for it, and when the
// problem was found by topology's Config.Validate, errors.As also reaches
// that *topology.ConfigError.
type FileError struct {
	File    string // the path given to Load, or Parse's file
	Line    int    // 1-based; a FileError from Load or Parse always has one
	Key     string // "databases.primary.replicas[0].dsn"; "" for YAML syntax errors and problems of the whole file
	Problem string

	cause error // the *topology.ConfigError behind a Validate problem
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

// Unwrap makes errors.Is(err, topology.ErrInvalidConfig) true, and gives
// errors.As the *topology.ConfigError of a Validate problem.
func (e *FileError) Unwrap() error {
	if e.cause != nil {
		return e.cause
	}
	return topology.ErrInvalidConfig
}

// Load reads the topology file at path (see docs/configuration.md), with
// ${VAR} references and GRANT_<NAME>_DSN overrides taken from the process
// environment, and resolves relative migrations directories and password
// files against the file's directory (the result is absolute). It opens no
// connection and reads no password file (nodes read theirs for each new
// connection). The adapters the file names ("postgres", "mysql", ...) are
// checked at db.Use, not here: import their packages
// (github.com/grant-go/grant/adapter/postgres, .../adapter/mysql) or set
// Config.Adapters on the returned Config.
//
// A file that cannot be read gives the os error, wrapped (errors.Is(err,
// fs.ErrNotExist) works). Anything wrong inside the file, including what
// Config.Validate finds, is a *FileError naming file, line and key.
func Load(path string) (topology.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return topology.Config{}, fmt.Errorf("grant: read configuration: %w", err)
	}
	cfg, err := Parse(path, data, os.LookupEnv)
	if err != nil {
		return topology.Config{}, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return topology.Config{}, fmt.Errorf("grant: read configuration: %w", err)
	}
	resolvePaths(&cfg, dir)
	return cfg, nil
}

// Parse builds a Config from the text of a topology file. file names the
// file in errors only: relative migrations directories and password files
// are left as written (Load resolves them). env looks up variables for
// ${VAR} references and GRANT_<NAME>_DSN overrides (os.LookupEnv in Load;
// nil means an empty environment).
//
// Node DSNs and adapter names are set, never Dialectors; adapter names are
// not checked against the registered ones, so that Config.Adapters can add
// more after loading. The built Config is checked with Config.Validate.
// Every error is a *FileError.
func Parse(file string, data []byte, env func(string) (string, bool)) (topology.Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	root, idx, err := parse(file, data)
	if err != nil {
		return topology.Config{}, err
	}
	d, nulls, err := decode(file, root, idx)
	if err != nil {
		return topology.Config{}, err
	}
	b := &builder{file: file, env: env, idx: idx, nulls: nulls, adapters: map[string]bool{}}
	cfg := b.config(d)
	if b.err != nil {
		return topology.Config{}, b.err
	}
	if err := b.validate(cfg); err != nil {
		return topology.Config{}, err
	}
	return cfg, nil
}

// validate runs Config.Validate as if every adapter named in the file were
// registered (the caller adds the ones grant does not know after loading),
// and locates its *topology.ConfigError by the key path it names.
func (b *builder) validate(cfg topology.Config) error {
	check := cfg
	for name := range b.adapters {
		if check.LookupAdapter(name) == nil {
			if check.Adapters == nil {
				check.Adapters = map[string]topology.Adapter{}
			}
			check.Adapters[name] = func(string) gorm.Dialector { return nil }
		}
	}
	err := check.Validate()
	if err == nil {
		return nil
	}
	var ce *topology.ConfigError
	if !errors.As(err, &ce) {
		return &FileError{File: b.file, Line: b.idx.keyLine(""), Problem: err.Error(), cause: err}
	}
	return &FileError{File: b.file, Line: b.idx.keyLine(ce.Path), Key: ce.Path, Problem: ce.Problem, cause: ce}
}

// resolvePaths makes relative migrations directories and password files
// absolute against dir, the topology file's directory.
func resolvePaths(cfg *topology.Config, dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	node := func(n *topology.NodeConfig) {
		if n != nil {
			abs(&n.PasswordFile)
		}
	}
	database := func(d *topology.DatabaseConfig) {
		abs(&d.Migrations.Dir)
		node(d.Writer)
		for i := range d.Replicas {
			node(&d.Replicas[i])
		}
		for _, nodes := range d.Roles {
			for i := range nodes {
				node(&nodes[i])
			}
		}
	}
	for name, d := range cfg.Databases {
		database(&d)
		cfg.Databases[name] = d
	}
	for name, c := range cfg.Clusters {
		abs(&c.Migrations.Dir)
		for i := range c.Shards {
			database(&c.Shards[i].DatabaseConfig)
		}
		cfg.Clusters[name] = c
	}
}
