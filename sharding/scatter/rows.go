package scatter

import (
	"database/sql"
	"database/sql/driver"
	"io"
	"reflect"
)

// rowSource yields the merged rows one at a time.
type rowSource interface {
	nextRow(dest []driver.Value) error
}

// mergedRows hands the merged rows to database/sql, with the column types
// of the shards' columns they come from, so that GORM scans them exactly
// as it would scan one database's rows.
type mergedRows struct {
	m     *merge
	src   rowSource
	cols  []string
	types []*sql.ColumnType
}

var (
	_ driver.RowsColumnTypeScanType         = (*mergedRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*mergedRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*mergedRows)(nil)
	_ driver.RowsColumnTypeLength           = (*mergedRows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*mergedRows)(nil)
)

func newRows(m *merge, src rowSource, cols []string, types []*sql.ColumnType) *mergedRows {
	return &mergedRows{m: m, src: src, cols: cols, types: types}
}

func (r *mergedRows) Columns() []string { return r.cols }

// Close ends the merge: the shards' answers are closed and the Result is
// recorded.
func (r *mergedRows) Close() error {
	r.m.finish()
	return nil
}

func (r *mergedRows) Next(dest []driver.Value) error {
	err := r.src.nextRow(dest)
	if err != nil {
		r.m.finish()
	}
	return err
}

func (r *mergedRows) ColumnTypeScanType(i int) reflect.Type { return r.types[i].ScanType() }

func (r *mergedRows) ColumnTypeDatabaseTypeName(i int) string { return r.types[i].DatabaseTypeName() }

func (r *mergedRows) ColumnTypeNullable(i int) (nullable, ok bool) { return r.types[i].Nullable() }

func (r *mergedRows) ColumnTypeLength(i int) (int64, bool) { return r.types[i].Length() }

func (r *mergedRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	return r.types[i].DecimalSize()
}

// bufferedRows yields rows computed in memory.
type bufferedRows struct {
	data [][]any
	pos  int
}

func (b *bufferedRows) nextRow(dest []driver.Value) error {
	if b.pos >= len(b.data) {
		return io.EOF
	}
	for i, v := range b.data[b.pos] {
		dest[i] = v
	}
	b.data[b.pos] = nil // let the row go as soon as it is handed over
	b.pos++
	return nil
}
