package noopdriver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

type User struct {
	ID   uint
	Name string
	Age  int
}

func openGorm(t testing.TB, opts Options, cfg *gorm.Config) (*gorm.DB, *sql.DB) {
	t.Helper()
	sqlDB := Open(opts)
	t.Cleanup(func() { _ = sqlDB.Close() })
	if cfg == nil {
		cfg = &gorm.Config{}
	}
	cfg.Logger = logger.Default.LogMode(logger.Silent)
	db, err := gorm.Open(Dialector(sqlDB), cfg)
	if err != nil {
		t.Fatalf("gorm.Open: %v", err)
	}
	return db, sqlDB
}

func TestFirstFillsFromRow(t *testing.T) {
	db, sqlDB := openGorm(t, Options{}, nil)
	before := Statements(sqlDB)
	var u User
	if err := db.First(&u).Error; err != nil {
		t.Fatalf("First: %v", err)
	}
	if u != (User{ID: 1, Name: "name", Age: 30}) {
		t.Fatalf("First filled %+v", u)
	}
	if got := Statements(sqlDB) - before; got != 1 {
		t.Fatalf("Statements delta = %d, want 1", got)
	}

	var m []map[string]any
	if err := db.Table("users").Find(&m).Error; err != nil {
		t.Fatalf("Find map: %v", err)
	}
	if len(m) != 1 || m[0]["id"] != int64(1) || m[0]["name"] != "name" || m[0]["age"] != int64(30) {
		t.Fatalf("Find map = %#v", m)
	}
}

func TestCreateSetsID(t *testing.T) {
	db, sqlDB := openGorm(t, Options{}, nil)
	u := User{Name: "a", Age: 3}
	res := db.Create(&u)
	if res.Error != nil || res.RowsAffected != 1 || u.ID != 1 {
		t.Fatalf("Create: err=%v rows=%d id=%d", res.Error, res.RowsAffected, u.ID)
	}
	var sqlText string
	dry := db.Session(&gorm.Session{DryRun: true}).Create(&User{Name: "b"})
	sqlText = dry.Statement.SQL.String()
	if sqlText != "INSERT INTO `users` (`name`,`age`) VALUES (?,?)" {
		t.Fatalf("dialector does not build MySQL SQL: %q", sqlText)
	}
	if got := Statements(sqlDB); got != 1 {
		t.Fatalf("Statements = %d, want 1 (dry run must not reach the driver)", got)
	}
	if err := db.Model(&u).Update("age", 4).Error; err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := db.Delete(&u).Error; err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := Statements(sqlDB); got != 3 {
		t.Fatalf("Statements = %d, want 3", got)
	}
}

func TestTransactions(t *testing.T) {
	db, sqlDB := openGorm(t, Options{}, nil)
	if err := db.Transaction(func(tx *gorm.DB) error {
		return tx.Create(&User{Name: "c"}).Error
	}); err != nil {
		t.Fatalf("committed transaction: %v", err)
	}
	boom := errors.New("boom")
	if err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&User{Name: "r"}).Error; err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("rolled back transaction returned %v, want boom", err)
	}
	tx := db.Begin()
	if tx.Error != nil {
		t.Fatal(tx.Error)
	}
	var u User
	if err := tx.First(&u).Error; err != nil || u.ID != 1 {
		t.Fatalf("First in tx: %v %+v", err, u)
	}
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Begin().Rollback().Error; err != nil {
		t.Fatal(err)
	}
	// Nested transactions use a savepoint, which is a plain Exec (GORM's
	// MySQL dialector does not release it).
	if err := db.Transaction(func(tx *gorm.DB) error {
		return tx.Transaction(func(tx *gorm.DB) error { return tx.Create(&User{Name: "n"}).Error })
	}); err != nil {
		t.Fatalf("nested transaction: %v", err)
	}
	// committed create + rolled-back create + First + SAVEPOINT + create
	if got := Statements(sqlDB); got != 5 {
		t.Fatalf("Statements = %d, want 5", got)
	}
}

func TestPreparedStatements(t *testing.T) {
	db, sqlDB := openGorm(t, Options{}, &gorm.Config{PrepareStmt: true})
	for range 3 {
		var u User
		if err := db.Where("name = ?", "x").First(&u).Error; err != nil || u.ID != 1 {
			t.Fatalf("prepared First: %v %+v", err, u)
		}
		nu := User{Name: "p"}
		if err := db.Create(&nu).Error; err != nil || nu.ID != 1 {
			t.Fatalf("prepared Create: %v %+v", err, nu)
		}
	}
	sess := db.Session(&gorm.Session{PrepareStmt: true})
	if err := sess.Transaction(func(tx *gorm.DB) error {
		return tx.Create(&User{Name: "q"}).Error
	}); err != nil {
		t.Fatalf("prepared transaction: %v", err)
	}
	if got := Statements(sqlDB); got != 7 {
		t.Fatalf("Statements = %d, want 7", got)
	}

	// The same through database/sql directly.
	st, err := sqlDB.Prepare("SELECT id, name, age FROM users WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var id, age int64
	var name string
	if err := st.QueryRow(1).Scan(&id, &name, &age); err != nil || id != 1 || name != "name" || age != 30 {
		t.Fatalf("Stmt.QueryRow: %v %d %q %d", err, id, name, age)
	}
	res, err := st.Exec(struct{ odd bool }{}) // any argument type is accepted
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("RowsAffected = %d", n)
	}
}

func TestDelayHonoursContext(t *testing.T) {
	db, sqlDB := openGorm(t, Options{Delay: time.Hour}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	var u User
	err := db.WithContext(ctx).First(&u).Error
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("First with 1h delay and 20ms deadline: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel2)
	_, err = sqlDB.ExecContext(ctx2, "UPDATE x SET y = 1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Exec cancelled during delay: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("cancellation took %v", el)
	}

	// A short delay is actually waited for.
	_, slow := openGorm(t, Options{Delay: 30 * time.Millisecond}, nil)
	start = time.Now()
	if _, err := slow.Exec("UPDATE x SET y = 1"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("Exec returned after %v, want >= 30ms", el)
	}
}

func TestCustomRowAndConcurrency(t *testing.T) {
	sqlDB := Open(Options{Columns: []string{"a", "b"}, Row: []driver.Value{"x", nil}})
	defer sqlDB.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				var a string
				var b sql.NullString
				if err := sqlDB.QueryRow("SELECT").Scan(&a, &b); err != nil || a != "x" || b.Valid {
					t.Errorf("QueryRow: %v %q %v", err, a, b)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := Statements(sqlDB); got != 800 {
		t.Fatalf("Statements = %d, want 800", got)
	}

	defer func() {
		if recover() == nil {
			t.Fatal("Open with mismatched Columns/Row did not panic")
		}
	}()
	Open(Options{Columns: []string{"a"}})
}

func TestStatementsPanicsOnForeignDB(t *testing.T) {
	other := sql.OpenDB(foreignConnector{})
	defer other.Close()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Statements(other)
}

type foreignConnector struct{}

func (foreignConnector) Connect(context.Context) (driver.Conn, error) { return nil, errors.New("no") }
func (foreignConnector) Driver() driver.Driver                        { return nil }

func TestAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	sqlDB := Open(Options{})
	defer sqlDB.Close()
	ctx := context.Background()
	var sink int64
	execAllocs := testing.AllocsPerRun(200, func() {
		if _, err := sqlDB.ExecContext(ctx, "UPDATE x SET y = ?", 1); err != nil {
			t.Fatal(err)
		}
	})
	statementsAllocs := testing.AllocsPerRun(200, func() { sink += Statements(sqlDB) })
	t.Logf("allocs: database/sql ExecContext %.0f, Statements %.0f", execAllocs, statementsAllocs)
	if statementsAllocs != 0 {
		t.Errorf("Statements allocates %.0f times", statementsAllocs)
	}
	// What remains is database/sql's own bookkeeping (driverStmt,
	// argument slice, ...); the driver itself adds nothing for an Exec.
	if execAllocs > 4 {
		t.Errorf("ExecContext allocates %.0f times, want <= 4", execAllocs)
	}
}

func BenchmarkGormFirst(b *testing.B) {
	db, _ := openGorm(b, Options{}, nil)
	b.ReportAllocs()
	for b.Loop() {
		var u User
		if err := db.First(&u).Error; err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGormCreate(b *testing.B) {
	db, _ := openGorm(b, Options{}, &gorm.Config{SkipDefaultTransaction: true})
	b.ReportAllocs()
	for b.Loop() {
		if err := db.Create(&User{Name: "n", Age: 1}).Error; err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSQLExec(b *testing.B) {
	sqlDB := Open(Options{})
	defer sqlDB.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := sqlDB.ExecContext(ctx, "UPDATE x SET y = ?", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
