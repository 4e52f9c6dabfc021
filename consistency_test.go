package grant_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/web"
)

// Memo is the table the consistency tests write and read back.
type Memo struct {
	ID   uint   `gorm:"primaryKey"`
	Text string `gorm:"size:100"`
}

// standIn is a primary and a replica stand-in (a separate database that
// never receives the primary's writes), so a read shows where it went: a
// row just written is found on the writer only.
func standIn(t *testing.T, consistency grant.ConsistencyConfig) (*gorm.DB, *testdb.Database) {
	t.Helper()
	b := testdb.SQLite(t)
	primary, replica := b.CreateDatabase(t, "primary"), b.CreateDatabase(t, "replica")
	require.NoError(t, replica.Open(t).AutoMigrate(&Memo{}))
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Use(grant.New(grant.Config{
		Databases:   map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{Dialector: replica.Dialector()}}}},
		Consistency: consistency,
	})))
	require.NoError(t, db.Scopes(grant.Role(grant.Writing)).AutoMigrate(&Memo{}))
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db, replica
}

func TestTimedReadYourWrites(t *testing.T) {
	// Delay is a second: the reads that must still go to the writer run
	// within it even on a loaded machine (300ms was close).
	const delay = time.Second
	db, _ := standIn(t, grant.ConsistencyConfig{Mode: grant.Timed, Delay: delay})
	session := grant.NewSession()
	ctx := grant.WithSession(context.Background(), session)

	note := Memo{Text: "mine"}
	require.NoError(t, db.WithContext(ctx).Create(&note).Error)
	var got Memo
	require.NoError(t, db.WithContext(ctx).First(&got, note.ID).Error, "the session reads its write from the writer")
	assert.Equal(t, "mine", got.Text)

	err := db.First(&Memo{}, note.ID).Error
	assert.ErrorIs(t, err, gorm.ErrRecordNotFound, "without the session the read goes to the replica, which lacks the row")
	other := grant.WithSession(context.Background(), grant.NewSession())
	assert.ErrorIs(t, db.WithContext(other).First(&Memo{}, note.ID).Error, gorm.ErrRecordNotFound, "another session did not write")

	inTx := Memo{Text: "in a transaction"}
	require.NoError(t, db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.Create(&inTx).Error
	}))
	lastWrite := time.Now() // the session's last write committed before this
	require.NoError(t, db.WithContext(ctx).First(&Memo{}, inTx.ID).Error, "a committed transaction's writes are read back")
	rolledBack := grant.WithSession(context.Background(), grant.NewSession())
	_ = db.WithContext(rolledBack).Transaction(func(tx *gorm.DB) error {
		require.NoError(t, tx.Create(&Memo{Text: "rolled back"}).Error)
		return errors.New("roll back")
	})
	assert.ErrorIs(t, db.WithContext(rolledBack).First(&Memo{}, inTx.ID).Error, gorm.ErrRecordNotFound, "a rollback records nothing")
	time.Sleep(time.Until(lastWrite.Add(delay + 50*time.Millisecond))) // Delay passing is the condition under test
	assert.ErrorIs(t, db.WithContext(ctx).First(&Memo{}, note.ID).Error, gorm.ErrRecordNotFound, "after Delay the session reads replicas again")

	explicit := db.WithContext(ctx).Scopes(grant.Role(grant.Reading))
	require.NoError(t, db.WithContext(ctx).Create(&Memo{Text: "again"}).Error)
	assert.ErrorIs(t, explicit.First(&Memo{}, note.ID).Error, gorm.ErrRecordNotFound, "an explicit reading role is obeyed")
}

func TestCausalWithoutPositionsFallsBackToTimed(t *testing.T) {
	// SQLite has no replication position: the write keeps the session on
	// the writer for Delay instead.
	db, _ := standIn(t, grant.ConsistencyConfig{Mode: grant.Causal, Delay: time.Minute})
	ctx := grant.WithSession(context.Background(), grant.NewSession())
	note := Memo{Text: "mine"}
	require.NoError(t, db.WithContext(ctx).Create(&note).Error)
	require.NoError(t, db.WithContext(ctx).First(&Memo{}, note.ID).Error)
}

func TestConsistencyConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  grant.ConsistencyConfig
		says string
	}{
		{grant.ConsistencyConfig{Mode: "strong"}, `consistency.mode: unknown mode "strong"`},
		{grant.ConsistencyConfig{Mode: grant.Timed, Delay: -time.Second}, "consistency.delay: must not be negative, got -1s"},
		{grant.ConsistencyConfig{Mode: grant.Causal, CausalWait: -time.Second}, "consistency.causal_wait: must not be negative, got -1s"},
	} {
		handle, err := gorm.Open(testdb.SQLite(t).CreateDatabase(t, "h").Dialector(), &gorm.Config{Logger: logger.Discard})
		require.NoError(t, err)
		err = handle.Use(grant.New(grant.Config{Consistency: tc.cfg}))
		require.ErrorIs(t, err, grant.ErrInvalidConfig)
		assert.Contains(t, err.Error(), tc.says)
	}
}

var cookieSecret = []byte("0123456789abcdef0123456789abcdef")

func TestSessionMiddleware(t *testing.T) {
	db, _ := standIn(t, grant.ConsistencyConfig{Mode: grant.Timed, Delay: time.Minute})
	middleware, err := web.SessionMiddleware(web.SessionCookie{Secret: cookieSecret})
	require.NoError(t, err)
	handler := middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method == http.MethodPost {
			note := Memo{Text: r.URL.Query().Get("text")}
			if err := db.WithContext(ctx).Create(&note).Error; err != nil {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			fmt.Fprint(w, note.ID)
			return
		}
		if r.URL.Query().Get("write") != "" {
			err := db.WithContext(ctx).Create(&Memo{Text: "from a GET"}).Error
			if errors.Is(err, grant.ErrReadOnly) {
				http.Error(w, "read only", http.StatusForbidden)
				return
			}
		}
		var note Memo
		if err := db.WithContext(ctx).First(&note, r.URL.Query().Get("id")).Error; err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		fmt.Fprint(w, note.Text)
	}))
	do := func(method, target string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec
	}

	posted := do(http.MethodPost, "/?text=hello")
	require.Equal(t, http.StatusOK, posted.Code, posted.Body.String())
	id := posted.Body.String()
	cookies := posted.Result().Cookies()
	require.Len(t, cookies, 1, "a request that wrote carries the session back")
	cookie := cookies[0]
	assert.Equal(t, "grant_session", cookie.Name)
	assert.True(t, cookie.HttpOnly)

	got := do(http.MethodGet, "/?id="+id, cookie)
	assert.Equal(t, http.StatusOK, got.Code, "the next request reads its write: %s", got.Body.String())
	assert.Equal(t, "hello", got.Body.String())
	assert.Empty(t, got.Result().Cookies(), "a request that did not write sets no cookie")
	assert.Equal(t, http.StatusNotFound, do(http.MethodGet, "/?id="+id).Code, "without the cookie: the replica, which lacks the row")

	tampered := *cookie
	tampered.Value = strings.Replace(cookie.Value, cookie.Value[3:4], string(rune(cookie.Value[3]^1)), 1)
	assert.Equal(t, http.StatusNotFound, do(http.MethodGet, "/?id="+id, &tampered).Code, "a tampered cookie is ignored")
	for _, junk := range []string{"", ".", "not-a-cookie", "e30.", cookie.Value + "x"} {
		assert.Equal(t, http.StatusNotFound, do(http.MethodGet, "/?id="+id, &http.Cookie{Name: "grant_session", Value: junk}).Code, "malformed %q is ignored", junk)
	}
	forged, err := web.SessionMiddleware(web.SessionCookie{Secret: []byte("another secret of thirty-two by!")})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	forged(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := grant.SessionFrom(r.Context())
		assert.Empty(t, s.Writes(), "a cookie signed with another secret is ignored")
	})).ServeHTTP(rec, func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(cookie)
		return r
	}())

	short, err := web.SessionMiddleware(web.SessionCookie{Secret: cookieSecret, MaxAge: time.Second})
	require.NoError(t, err)
	time.Sleep(2100 * time.Millisecond)
	rec = httptest.NewRecorder()
	short(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := grant.SessionFrom(r.Context())
		assert.Empty(t, s.Writes(), "an expired cookie is ignored")
	})).ServeHTTP(rec, func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(cookie)
		return r
	}())

	assert.Equal(t, http.StatusForbidden, do(http.MethodGet, "/?write=1&id="+id).Code, "GET runs with writes prevented")

	_, err = web.SessionMiddleware(web.SessionCookie{Secret: []byte("short")})
	assert.ErrorIs(t, err, grant.ErrInvalidConfig)
}

func TestShardSelector(t *testing.T) {
	f := newShardFixture(t, testdb.SQLite(t))
	byHeader := func(r *http.Request) (string, error) {
		if s := r.Header.Get("X-Shard"); s != "" {
			return s, nil
		}
		return "", errors.New("X-Shard header missing")
	}
	var results []error
	handler := func(lock bool) http.Handler {
		return web.ShardSelector(byHeader, lock)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			results = []error{
				f.db.WithContext(ctx).Create(&Order{CustomerID: 1, Note: "selected"}).Error,
				f.db.WithContext(ctx).Scopes(grant.Shard("shard2")).Create(&Order{CustomerID: 2, Note: "switched"}).Error,
				f.db.WithContext(ctx).Create(&KeyedOrder{CustomerID: 3, Note: "the key maps to shard2, not the request's"}).Error,
				f.db.WithContext(ctx).Scopes(grant.AllShards()).Find(&[]KeyedOrder{}).Error,
				f.db.WithContext(ctx).Create(&User{Name: "not sharded"}).Error,
			}
		}))
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("X-Shard", "shard1")
	handler(true).ServeHTTP(httptest.NewRecorder(), req)
	require.NoError(t, results[0], "the selected shard")
	require.ErrorIs(t, results[2], grant.ErrShardMismatch, "the request's shard contradicts the row's key: refused")
	for _, i := range []int{1, 3} {
		require.ErrorIs(t, results[i], grant.ErrShardLocked, "statement %d", i)
		assert.Contains(t, results[i].Error(), `locked to shard "shard1"`)
	}
	require.NoError(t, results[4], "databases that are not sharded are not affected")
	assert.Equal(t, [3]int64{1, 1, 0}, f.orderCounts(t), "only the selected shard was written")

	handler(false).ServeHTTP(httptest.NewRecorder(), req)
	require.NoError(t, results[1], "without the lock a statement may name another shard")
	require.ErrorIs(t, results[2], grant.ErrShardMismatch, "a named shard never overrides a row's key")
	assert.Equal(t, [3]int64{2, 1, 1}, f.orderCounts(t))

	rec := httptest.NewRecorder()
	handler(true).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "X-Shard header missing")
}

// Timed mode measures Delay with the application's monotonic clock: a skewed
// clock elsewhere (GORM's NowFunc, the database's) changes nothing.
func TestTimedIgnoresOtherClocks(t *testing.T) {
	db, _ := standIn(t, grant.ConsistencyConfig{Mode: grant.Timed, Delay: time.Minute})
	db.Config.NowFunc = func() time.Time { return time.Now().Add(-24 * time.Hour) }
	ctx := grant.WithSession(context.Background(), grant.NewSession())
	note := Memo{Text: "skewed"}
	require.NoError(t, db.WithContext(ctx).Create(&note).Error)
	require.NoError(t, db.WithContext(ctx).First(&Memo{}, note.ID).Error)
}
