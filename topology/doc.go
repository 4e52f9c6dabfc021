// Package topology is grant's runtime picture of the databases behind one
// *gorm.DB: logical databases and sharded clusters, each with a writer,
// replicas and custom roles, each role a set of nodes (physical servers).
//
// Most applications never import it: package grant re-exports its
// configuration types (grant.Config is topology.Config, and so on) and its
// errors. It is for tools built on grant, such as package migrator and the
// grant command, which reach it through grant.Plugin.Topology, and for
// adapters and observers, which register or implement its interfaces.
//
// # Configuration
//
// Config describes databases (DatabaseConfig), clusters (ClusterConfig of
// ShardConfig) and nodes (NodeConfig: a gorm.Dialector, or a DSN and the
// name of a registered adapter). Config.Validate reports the first problem
// as a *ConfigError naming its key path; package config reads the same
// Config from a grant.yml file.
//
// # Runtime
//
// Build turns a Config into a Topology without opening any connection.
// A node's pool opens on its first statement, within Config.MaxOpenPools:
// past the cap the least recently used idle pool is closed, to reopen when
// needed. With HealthConfig.Interval set, health checks take replicas out of
// rotation when they fail or lag, and bring them back. A Topology's shape
// never changes after Build, and every method is safe for concurrent use.
//
// # Errors
//
// Errors are sentinel values (ErrReadOnly, ErrUnknownDatabase, ...) wrapped
// by typed errors (*RouteError, *NodeError, *ConfigError, ...) that name the
// database, shard, role or node concerned and never print a password. Test
// them with errors.Is and errors.As.
package topology
