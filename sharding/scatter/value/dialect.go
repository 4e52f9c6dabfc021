package value

// Dialect is the SQL dialect whose rules an operation follows.
type Dialect uint8

// The dialects. The zero Dialect is none of them: operations given it fail
// with ErrUnsupported.
const (
	// Postgres is PostgreSQL (15) through pgx's database/sql driver.
	Postgres Dialect = iota + 1
	// MySQL is MariaDB (10.11) or MySQL through go-sql-driver/mysql.
	MySQL
	// SQLite is SQLite through the pure-Go glebarez/sqlite driver.
	SQLite
)

// DialectOf maps gorm's Dialector.Name() ("postgres", "mysql", "sqlite") to
// a Dialect; ok is false for any other name.
func DialectOf(name string) (Dialect, bool) {
	for d, n := range dialectNames {
		if n != "" && n == name {
			return Dialect(d), true
		}
	}
	return 0, false
}

var dialectNames = [...]string{Postgres: "postgres", MySQL: "mysql", SQLite: "sqlite"}

// String returns the gorm dialector name of d ("postgres", "mysql",
// "sqlite"), or "dialect(N)" for an unknown one.
func (d Dialect) String() string {
	if int(d) < len(dialectNames) && dialectNames[d] != "" {
		return dialectNames[d]
	}
	return "dialect(" + itoa(int64(d)) + ")"
}

// DefaultDivPrecisionIncrement is MySQL's and MariaDB's default
// @@div_precision_increment.
const DefaultDivPrecisionIncrement = 4

// Env is what the semantics depend on beyond the dialect.
type Env struct {
	Dialect Dialect
	// DivPrecisionIncrement is MySQL's @@div_precision_increment (default
	// 4): the scale '/' and AVG add to the dividend's. Values outside the
	// server's range 0..30 make MySQL divisions fail with ErrUnsupported.
	DivPrecisionIncrement int
}

// NewEnv returns the Env of dialect d with the servers' defaults
// (DivPrecisionIncrement 4).
func NewEnv(d Dialect) Env {
	return Env{Dialect: d, DivPrecisionIncrement: DefaultDivPrecisionIncrement}
}
