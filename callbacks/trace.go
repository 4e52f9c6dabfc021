package callbacks

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant/resolver"
)

type routeKey struct{}

// RouteFrom returns the route trace mode recorded in a statement's context.
func RouteFrom(ctx context.Context) (resolver.Route, bool) {
	r, ok := ctx.Value(routeKey{}).(resolver.Route)
	return r, ok
}

// TraceLogger wraps a GORM logger so that every statement it logs starts
// with its route: "[primary/reading#1] SELECT ...". Wrapping twice is a no-op.
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

func (l traceLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	l.Interface.Trace(ctx, begin, func() (string, int64) {
		sql, rows := fc()
		if route, ok := RouteFrom(ctx); ok {
			tag := route.String()
			if route.InTransaction {
				tag += " tx"
			}
			sql = "[" + tag + "] " + sql
		}
		return sql, rows
	}, err)
}

// ParamsFilter keeps the wrapped logger's parameter filtering working.
func (l traceLogger) ParamsFilter(ctx context.Context, sql string, params ...any) (string, []any) {
	if f, ok := l.Interface.(gorm.ParamsFilter); ok {
		return f.ParamsFilter(ctx, sql, params...)
	}
	return sql, params
}
