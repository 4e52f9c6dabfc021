package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
)

// The CLI's handle is the default database's writer: with a password_file
// in grant.yml, its connections log in with the file's password, read
// again for each new connection. MariaDB checks passwords, so a wrong one
// fails.
func TestCLIHandleReadsThePasswordFile(t *testing.T) {
	d := testdb.MariaDB(t).CreateDatabase(t, "cli_creds")
	admin := d.Open(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	user, password := "grant_cli_"+hex.EncodeToString(b), "pw-"+hex.EncodeToString(b)
	require.NoError(t, admin.Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password)).Error)
	t.Cleanup(func() { assert.NoError(t, admin.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)).Error) })
	require.NoError(t, admin.Exec(fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", d.Name, user)).Error)

	cfg, err := mysqldriver.ParseDSN(d.DSN)
	require.NoError(t, err)
	cfg.User, cfg.Passwd = user, ""
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secrets", "db"), password+"\n")
	config := filepath.Join(dir, "grant.yml")
	writeFile(t, config, fmt.Sprintf("databases:\n  primary:\n    adapter: mysql\n    dsn: %q\n    password_file: secrets/db\n", cfg.FormatDSN()))

	db, plugin, err := openTopology(config)
	require.NoError(t, err)
	defer closeHandle(db, plugin)
	var login string
	require.NoError(t, db.Raw("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)").Scan(&login).Error)
	assert.Equal(t, user, login)

	// A new connection reads the file again.
	writeFile(t, filepath.Join(dir, "secrets", "db"), "wrong\n")
	sqlDB, err := db.DB()
	require.NoError(t, err)
	sqlDB.SetMaxIdleConns(0) // the next statement needs a new connection
	err = db.Exec("SELECT 1").Error
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Access denied for user '"+user+"'")
}
