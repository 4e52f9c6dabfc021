package dsnredact

import (
	"errors"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// redactCases are DSNs with each secret marked ‹thus›: Redact must replace
// each marked span by Mask and keep the rest. pw is the login password,
// decoded, when it is not the first marked text.
var redactCases = []struct{ name, dsn, pw string }{
	// PostgreSQL URLs, read as pgx reads them.
	{"url", "postgres://alice:‹s3cret›@db.example:5432/app?sslmode=disable", ""},
	{"url percent-encoded @", "postgres://u:‹p%40ss›@h/db", "p@ss"},
	{"url encoded / ? % space", "postgresql://u:‹a%2Fb%3Fc%25d%20e›@h/db", "a/b?c%d e"},
	{"url colon and quote", "postgres://u:‹it's:ok›@h:5432/db", ""},
	{"url unescaped ?", "postgres://u:‹pa?ss›@h/db", ""},
	{"url query password", "postgres://u@h/db?password=‹p%40ss%2F›&sslmode=disable", "p@ss/"},
	{"url encoded query key", "postgres://u@h/db?pass%77ord=‹s3cret›", ""},
	{"url sslpassword", "postgres://u:‹s3cret›@h/db?sslkey=/k&sslpassword=‹k3y›", ""},
	{"url IPv6", "postgres://u:‹s3cret›@[::1]:5432/db?sslmode=disable", ""},
	{"url IPv6 multi-host", "postgres://u:‹s3cret›@[::1]:5432,h2:5433/db", ""},
	{"url user is password", "postgres://postgres:‹postgres›@localhost/postgres", ""},
	{"url empty password", "postgres://u:@h/db", ""},
	{"url no password", "postgres://u@h/db?sslmode=disable", ""},
	{"url already redacted", "postgres://u:‹xxxxx›@h/db", ""},
	// Other URLs, read by net/url.
	{"sqlserver", "sqlserver://sa:‹s3cret›@localhost:1433?database=app", ""},
	{"mysql url", "mysql://u:‹p%40ss›@h:3306/db", "p@ss"},
	// libpq key=value.
	{"kv", "host=db user=alice password=‹s3cret› dbname=app", ""},
	{"kv quoted", "host=db password=‹'s3 cret'› dbname=app", "s3 cret"},
	{"kv escaped quote", `host=h password=‹'it\'s a \\secret'› dbname=db`, `it's a \secret`},
	{"kv unquoted escape", `host=h password=‹a\ b› dbname=db`, "a b"},
	{"kv specials", "host=h password=‹p@ss:/?%'x› dbname=db", ""},
	{"kv spaced", "host = h  password = ‹'s3 cret'› dbname = db", "s3 cret"},
	{"kv upper case key", "host=db PASSWORD=‹s3cret›", ""},
	{"kv IPv6 and sslpassword", "host=::1 port=5432 user=u password=‹s3cret› sslpassword=‹k3y›", ""},
	{"kv password also in host", "host=h password=‹'h'› dbname=db", "h"},
	{"kv empty password", "host=h password='' dbname=db", ""},
	{"kv no password", "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable", ""},
	// ADO.NET and ODBC key=value;key=value.
	{"ado", "Server=h;User ID=sa;Password=‹s3cret›;Database=app", ""},
	{"ado lower case, spaced", "server = h; user id = sa; password = ‹s3cret› ;database=app", ""},
	{"ado quoted", `Data Source=h;Password=‹"a;b""c"›;Initial Catalog=app`, `a;b"c`},
	{"odbc braces", "DRIVER={ODBC Driver 18};SERVER=h;UID=sa;PWD=‹{s3;cr}}et}›", "s3;cr}et"},
	{"odbc trailing", "UID=sa;PWD=‹s3cret›;", ""},
	// None of them: kept, but for a secret parameter.
	{"sqlite", "file:/tmp/x.db?_pragma=busy_timeout(5000)", ""},
	{"sqlite auth", "file:test.db?_auth&_auth_user=admin&_auth_pass=‹s3cret›", ""},
	{"name", "primary", ""},
	{"empty", "", ""},
}

// unparsableCases may hold a password that cannot be placed with certainty.
var unparsableCases = []string{
	"postgres://u:p@ss@h/db",  // pgx reads password "p" and host "ss@h"
	"postgres://u:pa/ss@h/db", // pgx reads no password, port "pa"
	"host='broken password=s3cret",
	"weird thing with password but no structure we know: password:s3",
	"u:secret@h",
}

// driverFormCases are DSNs in a driver's own form, which only that
// driver's adapter reads (adapter/mysql adds the MySQL driver's): without
// it they hold a password no built-in reading can place, so Redact hides
// them whole. Each marked password must not show.
var driverFormCases = []string{
	"alice:‹s3cret›@tcp(127.0.0.1:3306)/app?parseTime=true",
	"u:‹p@ss›@tcp(h:3306)/db",
	"u:‹a/b?c:d%e f'g›@tcp(h:3306)/db?parseTime=true&loc=UTC",
	"u:‹s3cret›@unix(/tmp/mysql.sock)/db",
	"scott/‹tiger›@db.example:1521/orcl",
	"‹s3cret›@h",
}

// unknownFormCases are DSNs of forms no reading claims as a whole, or
// claims wrongly, whose secret key is still in sight: hidden whole.
var unknownFormCases = []string{
	"server=h;pwd='unterminated s3cret",
	"password: s3cret",
	"dsn with a PASSWORD = s3cret in it",
	"host=h;user=u;pass=‹s3cret›&x",
	"weird:{pwd=s3cret}",
}

// unmark returns the DSN of a case, its redaction and its secrets as written.
func unmark(marked string) (dsn, want string, raws []string) {
	var in, out strings.Builder
	for rest := marked; rest != ""; {
		before, after, ok := strings.Cut(rest, "‹")
		in.WriteString(before)
		out.WriteString(before)
		if !ok {
			break
		}
		raw, tail, _ := strings.Cut(after, "›")
		in.WriteString(raw)
		out.WriteString(Mask)
		raws = append(raws, raw)
		rest = tail
	}
	return in.String(), out.String(), raws
}

func TestRedactForms(t *testing.T) {
	cleanPostgresEnv(t)
	for _, tc := range redactCases {
		t.Run(tc.name, func(t *testing.T) {
			in, want, raws := unmark(tc.dsn)
			out := Redact(in)
			require.Equal(t, want, out)
			assert.Equal(t, out, Redact(out), "redacting twice changes nothing")
			pw := tc.pw
			if pw == "" && len(raws) > 0 {
				pw = raws[0]
			}
			assert.Equal(t, pw, Password(in))
			if pw != "" && pw != Mask {
				for _, form := range spellings(pw, raws...) {
					if !strings.Contains(want, form) { // "postgres" stays as the user
						assert.NotContains(t, out, form)
					}
				}
			}
			for _, parse := range parsers {
				before, err := parse.read(in)
				if err != nil {
					continue
				}
				after, err := parse.read(out)
				if assert.NoError(t, err, "%s parses the input but not the output %q", parse.name, out) {
					assert.Equal(t, before.where, after.where, "%s: host, user and database", parse.name)
					assert.Contains(t, []string{"", Mask}, after.password, parse.name)
				}
			}
		})
	}
}

func TestRedactUnparsable(t *testing.T) {
	for _, dsn := range unparsableCases {
		assert.Equal(t, Unparsable, Redact(dsn), dsn)
	}
}

// TestRedactWithoutTheDriversReader: a DSN in a driver's own form, whose
// adapter is not registered (so no reader for it was added), is hidden
// whole; its password never shows.
func TestRedactWithoutTheDriversReader(t *testing.T) {
	require.Empty(t, added(), "this test binary registers no adapter")
	for _, marked := range driverFormCases {
		in, _, raws := unmark(marked)
		out := Redact(in)
		assert.Equal(t, Unparsable, out, in)
		for _, raw := range raws {
			assert.NotContains(t, out, raw)
		}
	}
}

// TestRedactUnknownFormsFailSafe: text whose secret key is still followed
// by a value after every reading had its say is hidden whole.
func TestRedactUnknownFormsFailSafe(t *testing.T) {
	for _, dsn := range unknownFormCases {
		in, _, _ := unmark(dsn)
		out := Redact(in)
		assert.NotContains(t, out, "s3cret", in)
		assert.NotContains(t, out, "unterminated", in)
	}
	for _, kept := range []string{"host=h password='' dbname=db", "postgres://u@h/db?password=&x=1", "Server=h;Password=;Database=d", "user=password host=h", "file:pass.db"} {
		assert.Equal(t, kept, Redact(kept), "an empty password, or the word in a value, is no secret")
	}
}

// TestAddedReader: a reader an adapter adds places the secrets of its own
// form, which the built-in readings cannot.
func TestAddedReader(t *testing.T) {
	in := "oracle-ish scott/tiger@db:1521/orcl"
	require.Equal(t, Unparsable, Redact(in))
	t.Cleanup(func() { readers.Store(nil) })
	AddReader(func(dsn string) Reading {
		rest, ok := strings.CutPrefix(dsn, "oracle-ish ")
		if !ok {
			return Reading{}
		}
		slash, at := strings.IndexByte(rest, '/'), strings.IndexByte(rest, '@')
		if slash < 0 || at < slash {
			return Reading{}
		}
		offset := len(dsn) - len(rest)
		return Reading{Parses: true, Secrets: []Secret{{Start: offset + slash + 1, End: offset + at, Value: rest[slash+1 : at], Login: true}}}
	})
	assert.Equal(t, "oracle-ish scott/xxxxx@db:1521/orcl", Redact(in))
	assert.Equal(t, "tiger", Password(in))
	AddReader(func(string) Reading { return Reading{Parses: true, Secrets: []Secret{{Start: 5, End: 500}}} })
	assert.Equal(t, Unparsable, Redact(in), "a span outside the text: hidden whole")
}

// FuzzRedact checks that for any text the drivers' own parsers accept with
// a password, the redaction shows that password neither as written nor
// decoded nor percent-encoded, unless the text also holds it elsewhere.
func FuzzRedact(f *testing.F) {
	cleanPostgresEnv(f)
	for _, tc := range redactCases {
		dsn, _, _ := unmark(tc.dsn)
		f.Add(dsn)
	}
	for _, dsn := range unparsableCases {
		f.Add(dsn)
	}
	for _, marked := range append(driverFormCases, unknownFormCases...) {
		dsn, _, _ := unmark(marked)
		f.Add(dsn)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		out := Redact(dsn)
		for _, parse := range parsers {
			got, err := parse.read(dsn)
			if err != nil || got.password == "" {
				continue
			}
			for _, form := range spellings(got.password) {
				if strings.Contains(Mask+Unparsable, form) || strings.Count(dsn, form) > 1 {
					continue // the mask shows it, or the DSN holds it outside the password
				}
				if strings.Contains(out, form) {
					t.Fatalf("Redact(%q) = %q shows %s's password %q as %q", dsn, out, parse.name, got.password, form)
				}
			}
		}
	})
}

// spellings are the ways a password may be written: decoded, as written in
// the DSN, and percent-encoded.
func spellings(pw string, raws ...string) []string {
	return append([]string{pw, url.QueryEscape(pw), url.PathEscape(pw), userinfoEscape(pw)}, raws...)
}

// parsed is what a driver's parser read from a DSN.
type parsed struct {
	where    [4]string // host, port, user, database
	password string
}

// parsers are the drivers' own parsers, the judges of what a password is,
// for the forms this package reads itself; the MySQL driver's form and its
// judge are tested in adapter/mysql, which adds its reader.
var parsers = []struct {
	name string
	read func(string) (parsed, error)
}{
	{"pgconn.ParseConfig", func(s string) (parsed, error) {
		c, err := pgconn.ParseConfig(s)
		if err != nil {
			return parsed{}, err
		}
		return parsed{[4]string{c.Host, strconv.Itoa(int(c.Port)), c.User, c.Database}, c.Password}, nil
	}},
	{"url.Parse", func(s string) (parsed, error) {
		u, err := url.Parse(s)
		if err != nil {
			return parsed{}, err
		}
		if u.Host == "" && u.User == nil {
			return parsed{}, errors.New("no authority")
		}
		pw, _ := u.User.Password()
		if q := u.Query().Get("password"); q != "" {
			pw = q
		}
		return parsed{[4]string{u.Hostname(), u.Port(), u.User.Username(), u.Path}, pw}, nil
	}},
}

// cleanPostgresEnv keeps pgconn.ParseConfig from finding a password
// anywhere but in the DSN: not in PGPASSWORD, ~/.pgpass or a service file.
func cleanPostgresEnv(tb interface{ Setenv(k, v string) }) {
	nowhere := filepath.Join("/nonexistent", "grant-dsnredact")
	for k, v := range map[string]string{"PGPASSWORD": "", "PGSSLPASSWORD": "", "PGPASSFILE": nowhere, "PGSERVICE": "", "PGSERVICEFILE": nowhere} {
		tb.Setenv(k, v)
	}
}

func TestSpliceMergesOverlappingSecrets(t *testing.T) {
	out, kept := splice("aaSECRETbb", []secret{{start: 4, end: 8}, {start: 2, end: 6}, {start: 8, end: 8}})
	require.Equal(t, "aaxxxxxbb", out)
	assert.Equal(t, []string{"aa", "bb"}, kept)
}
