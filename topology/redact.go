package topology

import "github.com/grant-go/grant/internal/dsnredact"

// redactedPassword replaces passwords wherever grant prints a DSN.
const redactedPassword = dsnredact.Mask

// RedactDSN returns dsn with its password (and other secrets, such as an
// sslpassword) replaced by "xxxxx" and everything else kept. It parses the
// forms our drivers take: URLs (postgres://user:pw@host/db?password=pw),
// libpq key=value (host=h password='p w'), and the MySQL driver's
// user:pw@tcp(host)/db?params; a percent-encoded, quoted or escaped
// password is replaced where it is written. Text it cannot read is returned
// unchanged only when it holds no '@' and no "passw"; otherwise, and
// whenever the password cannot be placed with certainty, the result is
// "<unparsable DSN redacted>". The result never shows a password of dsn,
// as written, decoded or percent-encoded, more often than dsn shows that
// text outside the password.
func RedactDSN(dsn string) string { return dsnredact.Redact(dsn) }

// PasswordOf returns the login password of dsn, decoded as its driver
// decodes it (a URL's %40 is '@'), or "" when it has none. It reads the
// forms RedactDSN reads.
func PasswordOf(dsn string) string { return dsnredact.Password(dsn) }
