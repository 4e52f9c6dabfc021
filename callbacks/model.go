package callbacks

import (
	"fmt"
	"reflect"

	"gorm.io/gorm/schema"

	"github.com/grant-go/grant/resolver"
)

// ConnectsTo is implemented by models that live somewhere other than the
// default database: `func (Event) ConnectsTo() grant.Connection`.
type ConnectsTo interface {
	ConnectsTo() resolver.Connection
}

// modelRoute is a model's declared Connection, computed once per schema.
type modelRoute struct {
	conn resolver.Connection
	err  error
}

func (r *Router) model(s *schema.Schema) *modelRoute {
	if m, ok := r.models.Load(s); ok {
		return m.(*modelRoute)
	}
	m := r.declaration(s)
	actual, _ := r.models.LoadOrStore(s, m)
	return actual.(*modelRoute)
}

// declaration asks the model (by value or by pointer, whichever has the
// method), then Config.Tables by the model's table.
func (r *Router) declaration(s *schema.Schema) *modelRoute {
	m := &modelRoute{}
	ptr := reflect.New(s.ModelType)
	if decl, ok := ptr.Interface().(ConnectsTo); ok {
		m.conn = decl.ConnectsTo()
	}
	if m.conn.Database == "" {
		if d := r.topology.ForTable(s.Table); d != nil {
			m.conn.Database = d.Name()
		}
	}
	if m.conn.Database != "" {
		if _, err := r.topology.Database(m.conn.Database); err != nil {
			m.err = &resolver.RouteError{Err: resolver.ErrUnknownDatabase, Table: s.Table, Route: resolver.Route{Database: m.conn.Database},
				Detail: fmt.Sprintf("model %s declares it in ConnectsTo; %s", s.Name, err.(*resolver.RouteError).Detail)}
		}
	}
	return m
}

// DatabaseOf returns the database a model lives in by its declaration or the
// table mapping, or the default database.
func (r *Router) DatabaseOf(s *schema.Schema) (*resolver.Database, error) {
	m := r.model(s)
	if m.err != nil {
		return nil, m.err
	}
	if m.conn.Database == "" {
		return r.topology.Default(), nil
	}
	return r.topology.Database(m.conn.Database)
}
