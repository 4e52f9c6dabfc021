package callbacks

import (
	"context"
	"database/sql"
	"errors"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/topology"
)

// splitKey marks a create whose rows belong to several shards.
const splitKey = "grant:split"

type splitClause struct {
	cluster *topology.Cluster
	parts   map[string][]int // shard → row indexes, in row order
	order   []string         // shards in first-seen order
}

func (splitClause) Build(clause.Builder) {}

// noTxPool stands in for the statement's pool while its rows are split:
// nothing runs on it (grant's create callback does the work), and having no
// BeginTx makes GORM skip its default transaction — each part gets its own.
type noTxPool struct{}

var errSplitPool = errors.New("grant: internal: a split create's statement ran on its placeholder pool")

func (noTxPool) PrepareContext(context.Context, string) (*sql.Stmt, error) { return nil, errSplitPool }
func (noTxPool) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, errSplitPool
}
func (noTxPool) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errSplitPool
}
func (noTxPool) QueryRowContext(context.Context, string, ...any) *sql.Row { return &sql.Row{} }

// markSplit prepares a create whose rows span shards. The rows are inserted
// later, in place of GORM's own create, after BeforeCreate hooks ran.
func (r *Router) markSplit(db *gorm.DB, split *splitClause) {
	db.Statement.Clauses[splitKey] = clause.Clause{Expression: *split}
	db.Statement.ConnPool = noTxPool{}
}

// create runs GORM's create callback, or in its place, for a create whose
// rows span shards, inserts each shard's rows in a transaction on that shard.
func (r *Router) create(db *gorm.DB, create func(*gorm.DB)) {
	if _, marked := db.Statement.ConnPool.(noTxPool); !marked {
		create(db) // not split: one type assertion, no clause lookup
		return
	}
	split, ok := db.Statement.Clauses[splitKey].Expression.(splitClause)
	if !ok {
		create(db)
		return
	}
	delete(db.Statement.Clauses, splitKey)
	if db.Error == nil {
		r.createSplit(db, split)
	}
}

func (r *Router) createSplit(db *gorm.DB, split splitClause) {
	rows := reflect.Indirect(db.Statement.ReflectValue)
	failed := map[string]error{}
	var committed []string
	for _, shard := range split.order {
		indexes := split.parts[shard]
		part := reflect.New(reflect.SliceOf(rows.Type().Elem())).Elem() // addressable, for Create(&part)
		part.Set(reflect.MakeSlice(part.Type(), len(indexes), len(indexes)))
		for i, row := range indexes {
			part.Index(i).Set(rows.Index(row))
		}
		ctx := topology.WithConnection(db.Statement.Context, topology.Connection{Database: split.cluster.Name(), Shard: shard})
		session := db.Session(&gorm.Session{NewDB: true, SkipHooks: true, Context: ctx})
		session.Statement.ConnPool = r.entry // begin where the shard's rows go, not on the placeholder
		var affected int64
		err := session.Transaction(func(tx *gorm.DB) error {
			res := tx.Omit(clause.Associations).Create(part.Addr().Interface())
			affected = res.RowsAffected
			return res.Error
		})
		if err != nil {
			failed[shard] = err
			continue
		}
		for i, row := range indexes { // generated IDs back into the caller's rows
			rows.Index(row).Set(part.Index(i))
		}
		committed = append(committed, shard)
		db.RowsAffected += affected
	}
	if len(failed) > 0 {
		_ = db.AddError(&topology.PartialWriteError{Cluster: split.cluster.Name(), Committed: committed, Failed: failed})
	}
}

// splitOf groups a create's rows by shard: each[i] is row i's shard
// index. Parts are inserted in the order their shards first appear.
func splitOf(c *topology.Cluster, each []int) *splitClause {
	split := &splitClause{cluster: c, parts: map[string][]int{}}
	for row, index := range each {
		name := c.ShardNames()[index]
		if _, seen := split.parts[name]; !seen {
			split.order = append(split.order, name)
		}
		split.parts[name] = append(split.parts[name], row)
	}
	return split
}
