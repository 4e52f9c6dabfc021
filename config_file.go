package grant

import "github.com/grant-go/grant/topology"

// FileError is one problem in a topology file, located by file, line and
// key path ("grant.yml:12: databases.primary.replicas[0].dsn: missing
// DSN"). It matches ErrInvalidConfig and never holds a password.
type FileError = topology.FileError

// LoadConfig reads a topology file (grant.yml, see docs/configuration.md)
// into a Config: ${VAR} and ${VAR:-default} references are expanded from
// the environment, GRANT_<NAME>_DSN and GRANT_<CLUSTER>_<SHARD>_DSN replace
// writer DSNs, and relative migrations directories and password files are
// resolved against the file's directory. It opens no connection (and reads
// no password file: nodes read theirs for each new connection). Adapters other than postgres and
// mysql are named in the file and registered afterwards in Config.Adapters.
//
//	cfg, err := grant.LoadConfig("config/grant.yml")
//	if err != nil {
//		log.Fatal(err) // config/grant.yml:12: databases.primary.replicas[0].dsn: missing DSN
//	}
//	db.Use(grant.New(cfg))
//
// Errors inside the file are a *FileError, or the *ConfigError of
// Config.Validate; both match ErrInvalidConfig. A file that cannot be read
// gives the os error, wrapped.
func LoadConfig(path string) (Config, error) {
	return topology.LoadConfigFile(path)
}
