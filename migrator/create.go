package migrator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
)

// versionFormat is the timestamp a created migration's version is made of.
const versionFormat = "20060102150405"

var validName = regexp.MustCompile(`^[a-z0-9_]+$`)

// migrationTemplate is the text of a new migration: both sections, empty.
// Its comments must not contain goose's annotation marker, which goose
// would parse wherever it appears in a comment. goose parses it as is; Up then records the version and runs nothing, and
// Down refuses to roll it back until its Down section has a statement.
const migrationTemplate = `-- +goose Up
-- SQL that applies the change. On MariaDB/MySQL, where DDL commits
-- implicitly, prefer one DDL statement per migration.
-- Wrap a statement that contains semicolons (a function, a trigger)
-- between StatementBegin and StatementEnd annotations.


-- +goose Down
-- SQL that undoes the Up section. grant refuses to roll back a migration
-- whose Down section has no statement.

`

// Create writes a new, empty migration to dir, named
// <YYYYMMDDHHMMSS>_<name>.sql after now in UTC, with a "-- +goose Up" and a
// "-- +goose Down" section, and returns its path. name must match
// [a-z0-9_]+ and dir must exist. When a migration of dir already has that
// version (two created within a second), the timestamp is moved a second on
// until it is free, so versions stay unique and increasing. It never
// overwrites a file. Create is safe for concurrent use on different
// directories.
func Create(dir, name string, now time.Time) (path string, err error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("migrator: migration name %q must match [a-z0-9_]+", name)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("migrator: migrations directory %q: %w", dir, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("migrator: migrations directory %q is not a directory", dir)
	}
	used, err := usedVersions(dir)
	if err != nil {
		return "", err
	}
	at := now.UTC().Truncate(time.Second)
	for used[at.Format(versionFormat)] {
		at = at.Add(time.Second)
	}
	path = filepath.Join(dir, at.Format(versionFormat)+"_"+name+".sql")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("migrator: creating migration: %w", err)
	}
	_, err = f.WriteString(migrationTemplate)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("migrator: writing migration %s: %w", path, err)
	}
	return path, nil
}

// usedVersions lists the version prefixes of dir's migration files.
func usedVersions(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("migrator: reading migrations directory %q: %w", dir, err)
	}
	used := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if v, err := goose.NumericComponent(e.Name()); err == nil {
			used[fmt.Sprint(v)] = true
		}
	}
	return used, nil
}

// Create writes a new migration (see the package-level Create) in the
// migrations directory of database, a database's or a cluster's name, and
// returns its path. It fails with ErrUnknownTarget for an unknown name or a
// "cluster/shard" (a cluster's shards share its directory), and with
// ErrNoMigrations when the database has no MigrationsConfig.Dir.
func (m *Migrator) Create(database, name string) (path string, err error) {
	var dir string
	if c, ok := m.topology.Cluster(database); ok {
		dir = c.Shards()[0].Migrations().Dir
	} else if strings.Contains(database, "/") {
		return "", fmt.Errorf("%w %q: migrations are created for a whole cluster, not one shard; name the cluster", ErrUnknownTarget, database)
	} else if d, err := m.topology.Database(database); err == nil {
		dir = d.Migrations().Dir
	} else {
		return "", fmt.Errorf("%w %q; %s", ErrUnknownTarget, database, m.validNames())
	}
	if dir == "" {
		return "", fmt.Errorf("%w: %q has no migrations directory (MigrationsConfig.Dir)", ErrNoMigrations, database)
	}
	path, err = Create(dir, name, time.Now())
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %q: %w", ErrNoMigrations, database, err)
	}
	return path, err
}
