package callbacks

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

var keyField = &schema.Field{Name: "CustomerID", DBName: "customer_id"}

func TestKeysFromExprShapes(t *testing.T) {
	cases := []struct {
		sql  string
		vars []any
		want []any
	}{
		{"customer_id = ?", []any{7}, []any{7}},
		{"customer_id=?", []any{7}, []any{7}},
		{"`orders`.`customer_id` = ?", []any{7}, []any{7}},
		{`"orders"."customer_id" = ?`, []any{7}, []any{7}},
		{"CustomerID = ?", []any{7}, []any{7}},
		{"customer_id IN ?", []any{[]int64{1, 2}}, []any{int64(1), int64(2)}},
		{"customer_id in (?, ?)", []any{1, 2}, []any{1, 2}},
		{"customer_id IN (?,?,?)", []any{1, 2}, nil},
		{"customer_id > ?", []any{7}, nil},
		{"customer_id = 7", nil, nil},
		{"customer_id = ? OR 1 = 1", []any{7}, nil},
		{"customer_id = ? AND note = ?", []any{7, "x"}, nil},
		{"other_id = ?", []any{7}, nil},
		{"customer_idx = ?", []any{7}, nil},
		{"", nil, nil},
		{"customer_id IN (?, 3)", []any{1}, nil},
		{"customer_id = ?", []any{[]byte("ab")}, []any{[]byte("ab")}},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, keysFromExpr(clause.Expr{SQL: tc.sql, Vars: tc.vars}, keyField), tc.sql)
	}
}

func TestKeysFromConditionsRespectsOr(t *testing.T) {
	eq := func(v int) clause.Expression { return clause.Eq{Column: clause.Column{Name: "customer_id"}, Value: v} }
	assert.Equal(t, []any{1}, keysFromConditions([]clause.Expression{eq(1)}, keyField))
	assert.Equal(t, []any{1}, keysFromConditions([]clause.Expression{clause.Eq{Column: "note", Value: "x"}, eq(1)}, keyField), "AND")
	assert.Nil(t, keysFromConditions([]clause.Expression{eq(1), clause.OrConditions{Exprs: []clause.Expression{eq(2)}}}, keyField), "a OR b")
	assert.Equal(t, []any{1, 2}, keysFromConditions([]clause.Expression{clause.IN{Column: "customer_id", Values: []any{1, 2}}}, keyField))
	assert.Equal(t, []any{3}, keysFromConditions([]clause.Expression{clause.AndConditions{Exprs: []clause.Expression{eq(3)}}}, keyField))
	assert.Nil(t, keysFromConditions([]clause.Expression{clause.Not(eq(3))}, keyField), "NOT is no key")
}

// FuzzKeysFromExpr: any SQL text and value never panics, and whatever comes
// back is taken from the statement's own variables.
func FuzzKeysFromExpr(f *testing.F) {
	for _, seed := range []string{"customer_id = ?", "customer_id IN ?", "customer_id in (?, ?)", "`t`.`customer_id`=?", "x", "", "customer_id IN (", "customer_id IN ()", "customer_id = ? ?"} {
		f.Add(seed, int64(7))
	}
	f.Fuzz(func(t *testing.T, sql string, v int64) {
		vars := []any{v, v + 1}
		for _, got := range keysFromExpr(clause.Expr{SQL: sql, Vars: vars}, keyField) {
			if got != v && got != v+1 {
				t.Fatalf("%q gave %v, not one of the statement's variables", sql, got)
			}
		}
	})
}
