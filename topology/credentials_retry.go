package topology

import (
	"context"
	"database/sql/driver"
	"io"
	"time"
)

// A password rotated in place (ALTER ROLE … PASSWORD, then the secret
// store; or the other way round) leaves a moment in which the server and
// the secret store disagree, and a connection opened then is refused. The
// pools of a node with credentials therefore retry a new connection the
// server refused for its credentials, asking the credentials again each
// time: nothing was sent on a connection that never logged in, so any
// statement may wait for it. Only authentication failures are retried
// (what the node's adapter classifies as LoginRefused: PostgreSQL's
// SQLSTATE 28P01 and 28000, MySQL's 1045), and at most CredentialsAttempts
// times in all, sleeping CredentialsRetryBackoff, then twice as long each
// time (50+100+200+400 ms: about a second with the attempts themselves),
// never past the context; the last attempt's error is the statement's.
// Nodes without credentials keep their driver's connector as it is.
const (
	// CredentialsAttempts bounds the connection attempts of one new
	// connection of a node with credentials: the first and the retries
	// after the server refused the credentials.
	CredentialsAttempts = 5
	// CredentialsRetryBackoff is the sleep before the first retry; each
	// next one sleeps twice as long.
	CredentialsRetryBackoff = 50 * time.Millisecond
)

// refusedKey carries, in the context of a retried connection attempt, how
// many times the server refused this connection's credentials.
type refusedKey struct{}

// CredentialsRefused tells a CredentialsFunc called to retry a connection
// how many times the server has refused the credentials of the connection
// being opened: 0 on its first attempt, 1 or more on a retry, when a
// function that caches its secret should fetch it anew.
func CredentialsRefused(ctx context.Context) int {
	n, _ := ctx.Value(refusedKey{}).(int)
	return n
}

// authRetryConnector is the connector of a pool whose connections take
// credentials: inner's Connect (which asks the credentials), retried while
// refused says the server refused them.
type authRetryConnector struct {
	inner    driver.Connector
	refused  func(error) bool
	attempts int
	backoff  time.Duration
}

func retryingAuth(inner driver.Connector, refused func(error) bool) *authRetryConnector {
	return &authRetryConnector{inner: inner, refused: refused, attempts: CredentialsAttempts, backoff: CredentialsRetryBackoff}
}

func (c *authRetryConnector) Connect(ctx context.Context) (driver.Conn, error) {
	attemptCtx, wait := ctx, c.backoff
	for attempt := 1; ; attempt++ {
		conn, err := c.inner.Connect(attemptCtx)
		if err == nil || attempt >= c.attempts || !c.refused(err) {
			return conn, err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, err
		case <-timer.C:
		}
		wait *= 2
		attemptCtx = context.WithValue(ctx, refusedKey{}, attempt)
	}
}

func (c *authRetryConnector) Driver() driver.Driver { return c.inner.Driver() }

// Close closes the inner connector if it has something to close;
// database/sql calls it when the pool closes.
func (c *authRetryConnector) Close() error {
	if cl, ok := c.inner.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
