package topology

import (
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// builtinAdapter returns the adapter for the drivers grant depends on anyway;
// others (SQLite, SQL Server) come through Config.Adapters so that grant does
// not pull every driver into every binary.
func builtinAdapter(name string) Adapter {
	switch name {
	case "postgres", "postgresql":
		return func(dsn string) gorm.Dialector { return postgres.Open(dsn) }
	case "mysql", "mariadb":
		// SkipInitializeWithVersion keeps opening lazy: otherwise the
		// dialector asks the server its version as the pool opens. grant
		// builds SQL with the handle's dialector, never the node's.
		return func(dsn string) gorm.Dialector {
			return mysql.New(mysql.Config{DSN: dsn, SkipInitializeWithVersion: true})
		}
	}
	return nil
}
