package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/topology"
)

// SessionCookie configures SessionMiddleware, the counterpart of Rails'
// DatabaseSelector: each request gets a grant.Session restored from a signed
// cookie, and a request that wrote gets the cookie back, so the client's
// next request — on any application server — reads its writes.
type SessionCookie struct {
	// Secret signs the cookie (HMAC-SHA256); at least 32 bytes. Every
	// application server of one site needs the same secret.
	Secret []byte
	// Name of the cookie; default "grant_session".
	Name string
	// MaxAge is how long a cookie is honoured after it was issued; default
	// 10 minutes. An older (or tampered, or malformed) cookie is ignored:
	// the request starts with an empty session.
	MaxAge time.Duration
	// Path of the cookie; default "/". Secure marks it HTTPS-only.
	Path   string
	Secure bool
	// WritesOnSafeMethods lets GET and HEAD requests write. By default
	// they run with writes prevented (grant.PreventWrites), as Rails'
	// DatabaseSelector sends them to the reading role.
	WritesOnSafeMethods bool
}

// cookiePayload is what the cookie carries: per database, the wall-clock
// deadline of Timed mode and the writer's position.
type cookiePayload struct {
	Issued int64                  `json:"i"` // Unix seconds
	Writes map[string]cookieWrite `json:"w"`
}

type cookieWrite struct {
	Until int64  `json:"u,omitempty"` // Unix milliseconds
	LSN   uint64 `json:"l,omitempty"`
	GTID  string `json:"g,omitempty"`
}

// SessionMiddleware returns net/http middleware that puts a grant.Session in every
// request's context (restored from the cookie when it is valid) and sets
// the cookie when the request wrote. The cookie is set just before the
// response's headers are written, so a handler that streams its response
// before writing cannot pass its write on. Errors: a Secret shorter than 32
// bytes.
func SessionMiddleware(cfg SessionCookie) (func(http.Handler) http.Handler, error) {
	if len(cfg.Secret) < 32 {
		return nil, fmt.Errorf("%w: SessionCookie.Secret needs at least 32 bytes, got %d", grant.ErrInvalidConfig, len(cfg.Secret))
	}
	if cfg.Name == "" {
		cfg.Name = "grant_session"
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 10 * time.Minute
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			session := cfg.restore(r)
			ctx := grant.WithSession(r.Context(), session)
			if !cfg.WritesOnSafeMethods && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				ctx = grant.PreventWrites(ctx)
			}
			cw := &cookieWriter{ResponseWriter: w, cfg: &cfg, session: session}
			next.ServeHTTP(cw, r.WithContext(ctx))
			cw.setCookie() // the handler wrote no body: headers are still ours
		})
	}, nil
}

// restore returns the session the request's cookie carries, or an empty
// one when there is no valid cookie.
func (cfg *SessionCookie) restore(r *http.Request) *grant.Session {
	session := grant.NewSession()
	c, err := r.Cookie(cfg.Name)
	if err != nil {
		return session
	}
	payload, err := cfg.open(c.Value)
	if err != nil {
		return session
	}
	for database, w := range payload.Writes {
		var until time.Time
		if w.Until > 0 {
			until = time.UnixMilli(w.Until)
		}
		session.RecordWrite(database, until, topology.Position{LSN: w.LSN, GTID: w.GTID})
	}
	session.ClearDirty()
	return session
}

var errBadCookie = errors.New("grant: session cookie is not valid")

// open verifies and decodes a cookie value: base64url(payload) "."
// base64url(HMAC-SHA256(secret, payload)), issued less than MaxAge ago.
func (cfg *SessionCookie) open(value string) (cookiePayload, error) {
	var p cookiePayload
	body, sig, ok := bytes.Cut([]byte(value), []byte("."))
	if !ok {
		return p, errBadCookie
	}
	want := cfg.sign(body)
	got, err := base64.RawURLEncoding.DecodeString(string(sig))
	if err != nil || !hmac.Equal(got, want) {
		return p, errBadCookie
	}
	raw, err := base64.RawURLEncoding.DecodeString(string(body))
	if err != nil || json.Unmarshal(raw, &p) != nil {
		return p, errBadCookie
	}
	issued := time.Unix(p.Issued, 0)
	if age := time.Since(issued); age < -time.Minute || age > cfg.MaxAge {
		return p, errBadCookie
	}
	return p, nil
}

func (cfg *SessionCookie) sign(body []byte) []byte {
	mac := hmac.New(sha256.New, cfg.Secret)
	mac.Write(body)
	return mac.Sum(nil)
}

// seal encodes and signs the session's state.
func (cfg *SessionCookie) seal(s *grant.Session, now time.Time) string {
	p := cookiePayload{Issued: now.Unix(), Writes: map[string]cookieWrite{}}
	for database, w := range s.Writes() {
		cw := cookieWrite{LSN: w.Position.LSN, GTID: w.Position.GTID}
		if w.Until.After(now) {
			cw.Until = w.Until.UnixMilli()
		}
		if cw != (cookieWrite{}) {
			p.Writes[database] = cw
		}
	}
	raw, _ := json.Marshal(p) // plain strings and numbers: cannot fail
	body := base64.RawURLEncoding.EncodeToString(raw)
	return body + "." + base64.RawURLEncoding.EncodeToString(cfg.sign([]byte(body)))
}

// cookieWriter sets the session cookie just before the headers go out.
type cookieWriter struct {
	http.ResponseWriter
	cfg     *SessionCookie
	session *grant.Session
	written bool
}

func (w *cookieWriter) setCookie() {
	if w.written {
		return
	}
	w.written = true
	if !w.session.Dirty() {
		return
	}
	w.session.ClearDirty()
	http.SetCookie(w.ResponseWriter, &http.Cookie{
		Name: w.cfg.Name, Value: w.cfg.seal(w.session, time.Now()), Path: w.cfg.Path,
		MaxAge: int(w.cfg.MaxAge / time.Second), HttpOnly: true, Secure: w.cfg.Secure, SameSite: http.SameSiteLaxMode,
	})
}

func (w *cookieWriter) WriteHeader(code int) {
	w.setCookie()
	w.ResponseWriter.WriteHeader(code)
}

func (w *cookieWriter) Write(b []byte) (int, error) {
	w.setCookie()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush,
// deadlines).
func (w *cookieWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ShardSelector is net/http middleware that puts each request on one shard,
// the counterpart of Rails' ShardSelector: shardOf names the shard for the
// request (from a header, a subdomain, the signed-in tenant…), and every
// statement on a sharded model in the request runs there unless it names
// another shard itself. With lock, it may not: a statement for another
// shard, or spanning several, fails with ErrShardLocked. A shardOf error
// answers 400 Bad Request with the error's text.
func ShardSelector(shardOf func(*http.Request) (string, error), lock bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			shard, err := shardOf(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			ctx := grant.ConnectedTo(r.Context(), grant.Connection{Shard: shard})
			if lock {
				ctx = grant.LockShard(ctx, shard)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
