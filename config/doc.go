// Package config reads a topology file, grant.yml, into a grant.Config
// (topology.Config). It is the only part of grant that links a YAML
// library: an application that builds its Config in Go never imports it.
//
// A grant.yml names databases, their writers and replicas, and sharded
// clusters:
//
//	default: primary
//	databases:
//	  primary:
//	    adapter: postgres
//	    dsn: postgres://app:${PGPASSWORD}@db1/app
//	    replicas:
//	      - dsn: postgres://app:${PGPASSWORD}@db2/app
//	    pool: {max_open_conns: 20, conn_max_lifetime: 30m}
//	clusters:
//	  orders:
//	    adapter: postgres
//	    shards: [{name: s1, dsn: "${ORDERS_S1_DSN}"}, {name: s2, dsn: "${ORDERS_S2_DSN}"}]
//
// Load it and install grant:
//
//	cfg, err := config.Load("config/grant.yml")
//	if err != nil {
//		log.Fatal(err) // config/grant.yml:12: databases.primary.replicas[0].dsn: missing DSN
//	}
//	db.Use(grant.New(cfg))
//
// Every key is described in docs/configuration.md. ${VAR} and
// ${VAR:-default} are expanded in every value; GRANT_<NAME>_DSN and
// GRANT_<CLUSTER>_<SHARD>_DSN replace writer DSNs. Loading opens no
// connection and reads no password file.
//
// Every problem in the file, from a stray byte to a replica that is also
// the writer, is a *FileError naming the file, the line and, where the
// problem belongs to a key, the key path:
//
//	grant.yml:7: databases.primary.replica: unknown key "replica" (did you mean "replicas"?); allowed keys: …
//	grant.yml:9: databases.primary.pool.conn_max_lifetime: expected a duration such as "30s", "5m" or "1h30m", got "30"
//	grant.yml:4: invalid YAML: mapping values are not allowed in this context
//	grant.yml:11: databases.primary.pool.max_idle_conns: must not be negative, got -1
//
// It matches topology.ErrInvalidConfig (grant.ErrInvalidConfig) and never
// holds a password. A file that cannot be read gives the os error, wrapped.
package config
