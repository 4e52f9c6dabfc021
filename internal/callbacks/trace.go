package callbacks

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant/topology"
)

type routeKey struct{}

// RouteFrom returns the route trace mode recorded in a statement's context.
func RouteFrom(ctx context.Context) (topology.Route, bool) {
	r, ok := ctx.Value(routeKey{}).(topology.Route)
	return r, ok
}

// TraceLogger wraps a GORM logger so that every statement it logs starts
// with its route: "[primary/reading#1] SELECT ...". Wrapping twice is a no-op.
//
// The tag is added in ParamsFilter, which GORM calls while the wrapped
// logger formats the line, rather than in an overriding Trace: a Trace of our
// own would sit between GORM and the logger on the stack, and GORM's logger
// would report grant's file as the caller of every statement.
func TraceLogger(l logger.Interface) logger.Interface {
	if _, ok := l.(traceLogger); ok {
		return l
	}
	return traceLogger{Interface: l}
}

type traceLogger struct{ logger.Interface }

func (l traceLogger) LogMode(level logger.LogLevel) logger.Interface {
	return traceLogger{Interface: l.Interface.LogMode(level)}
}

// ParamsFilter applies the wrapped logger's filter, then prefixes the route.
func (l traceLogger) ParamsFilter(ctx context.Context, sql string, params ...any) (string, []any) {
	if f, ok := l.Interface.(gorm.ParamsFilter); ok {
		sql, params = f.ParamsFilter(ctx, sql, params...)
	}
	if route, ok := RouteFrom(ctx); ok {
		tag := route.String()
		if route.InTransaction {
			tag += " tx"
		}
		sql = "[" + tag + "] " + sql
	}
	return sql, params
}
