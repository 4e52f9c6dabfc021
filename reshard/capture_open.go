package reshard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/grant-go/grant/topology"
)

// newCapture makes the change stream of one shard, named name on its
// server.
func newCapture(ctx context.Context, d dialect, node *topology.Node, db *sql.DB, name string) (Capture, error) {
	if !d.postgres() {
		return NewMySQLCapture(db, name), nil
	}
	cfg, err := pgConfig(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("grant/reshard: node %s: %w", node.Label(), err)
	}
	return newPostgresCapture(cfg, db, name), nil
}

// pgConfig is the connection settings of db's connections, password
// included, for the replication connection a slot with a snapshot needs:
// grant's nodes keep no DSN in the clear, and the pool may get its
// credentials from a hook.
func pgConfig(ctx context.Context, db *sql.DB) (*pgconn.Config, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var cfg *pgconn.Config
	err = conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return errors.New("the PostgreSQL pool is not pgx's: a logical replication slot needs pgx")
		}
		cfg = c.Conn().Config().Config.Copy()
		return nil
	})
	return cfg, err
}
