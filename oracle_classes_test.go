package grant_test

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// oracleClasses are equality classes of strings under the server's own
// collations, computed on the union database: each collation has a table
// with a column of that collation, holding every string seen so far; a new
// string joins the class of the first stored string the server finds equal
// (SELECT … WHERE v = ?), or starts its own.
type oracleClasses struct {
	db      *gorm.DB
	d       *oDialect
	classes map[string]map[string]int // collation → string → class
	next    int
	err     error // the first failure; the run stops on it
}

func oracleClassTable(coll string) string { return "oracle_cls_" + strings.ToLower(coll) }

func (k *oracleClasses) create() error {
	for _, coll := range k.d.classCollations() {
		col := map[string]string{"postgres": "text COLLATE " + coll, "mysql": "varchar(40) COLLATE " + coll}[k.d.name]
		if col == "" {
			col = "text COLLATE " + coll
		}
		if err := k.db.Exec(fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, v %s)", oracleClassTable(coll), col)).Error; err != nil {
			return err
		}
	}
	return nil
}

func (k *oracleClasses) same(coll, a, b string) bool { return k.of(coll, a) == k.of(coll, b) }

func (k *oracleClasses) of(coll, s string) int {
	m := k.classes[coll]
	if m == nil {
		m = map[string]int{}
		k.classes[coll] = m
	}
	if id, ok := m[s]; ok {
		return id
	}
	var equal []string
	err := k.db.Raw(fmt.Sprintf("SELECT v FROM %s WHERE v = ?", oracleClassTable(coll)), s).Scan(&equal).Error
	k.next++
	id := k.next
	for _, e := range equal {
		if c, ok := m[e]; ok {
			id = c
			break
		}
	}
	if err == nil {
		err = k.db.Exec(fmt.Sprintf("INSERT INTO %s (id, v) VALUES (?, ?)", oracleClassTable(coll)), k.next, s).Error
	}
	if err != nil && k.err == nil {
		k.err = fmt.Errorf("equality class of %q under %s: %w", s, coll, err)
	}
	m[s] = id
	return id
}
