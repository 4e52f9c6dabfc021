package main

import (
	"fmt"
	"maps"
	"os"

	"github.com/glebarez/sqlite"
	"github.com/spf13/cobra"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/config"
	"github.com/grant-go/grant/topology"
)

// defaultConfigPath is where the commands look for the topology file when
// neither --config nor GRANT_CONFIG names one.
const defaultConfigPath = "grant.yml"

// addConfigFlag gives a command the --config flag.
func addConfigFlag(cmd *cobra.Command, path *string) {
	def := defaultConfigPath
	if env := os.Getenv("GRANT_CONFIG"); env != "" {
		def = env
	}
	cmd.PersistentFlags().StringVarP(path, "config", "c", def, "topology file (also $GRANT_CONFIG)")
}

// openTopology loads the topology file and installs grant on a handle to the
// default database, which grant adopts as that database's writer. The CLI
// knows SQLite (adapter "sqlite") besides postgres and mysql, whose adapter
// packages main.go imports. Opening connects to nothing: each node's pool
// opens when first used.
func openTopology(path string) (*gorm.DB, *grant.Plugin, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	// The CLI is a tool, not an application instance: it must not count
	// among the instances a reshard waits for.
	cfg.Reshard = nil
	cfg.Adapters = maps.Clone(cfg.Adapters)
	if cfg.Adapters == nil {
		cfg.Adapters = map[string]grant.Adapter{}
	}
	if _, ok := cfg.Adapters["sqlite"]; !ok {
		cfg.Adapters["sqlite"] = func(dsn string) gorm.Dialector { return sqlite.Open(dsn) }
	}
	name := cfg.DefaultName()
	def, ok := cfg.Databases[name]
	if !ok || def.Writer == nil {
		return nil, nil, fmt.Errorf("%s: the default database %q needs a writer (dsn)", path, name)
	}
	writer := *def.Writer
	// With credentials (password_file), every connection of the handle
	// asks them for its password, as the writer's own pool would.
	node := writer.Name
	if node == "" {
		node = "writer"
	}
	dialector := cfg.NodeDialector(name+"/"+grant.Writing+"/"+node, writer)
	if dialector == nil {
		return nil, nil, fmt.Errorf("%s: database %q: unknown adapter %q", path, name, topology.RedactDSN(writer.Adapter))
	}
	// The handle's pool becomes the default database's writer, so the
	// writer's pool settings move to the database.
	if writer.Pool != nil {
		def.Pool = *writer.Pool
	}
	def.Writer = nil
	cfg.Databases = maps.Clone(cfg.Databases)
	cfg.Databases[name] = def

	db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
	if err != nil {
		return nil, nil, fmt.Errorf("database %q: %w", name, err)
	}
	plugin := grant.New(cfg)
	if err := db.Use(plugin); err != nil {
		closeHandle(db, nil)
		return nil, nil, err
	}
	return db, plugin, nil
}

// closeHandle closes every pool the command opened.
func closeHandle(db *gorm.DB, plugin *grant.Plugin) {
	if plugin != nil {
		_ = plugin.Close()
	}
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}
