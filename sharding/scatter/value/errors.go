package value

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors; every error this package returns wraps exactly one of
// them, so callers test with errors.Is.
var (
	// ErrArithmetic: the server would have failed the statement (integer
	// out of range, division by zero on PostgreSQL, a float overflow). The
	// error's text is the server's message, e.g. "bigint out of range".
	ErrArithmetic = errors.New("grant: arithmetic error")
	// ErrUnsupported: this package does not reproduce the dialect's
	// semantics for the operation and its operands' types; the caller must
	// refuse the query rather than guess.
	ErrUnsupported = errors.New("grant: value semantics not reproduced")
	// ErrTypeMismatch: a value cannot be of the type it is converted to or
	// from (a driver value of the wrong Go type, a decimal with more
	// fractional digits than its column's scale): the merge computed
	// something the server would not have.
	ErrTypeMismatch = errors.New("grant: value does not match its type")
)

// serverError is an error the server would have raised; its text is the
// server's message and it matches ErrArithmetic.
type serverError struct{ msg string }

func (e *serverError) Error() string        { return e.msg }
func (e *serverError) Is(target error) bool { return target == ErrArithmetic }

func arithErr(msg string) error { return &serverError{msg: msg} }

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...)
}

func mismatch(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrTypeMismatch}, args...)...)
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
