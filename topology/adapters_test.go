package topology_test

// The topology's tests open nodes by DSN with the "postgres" and "mysql"
// adapters: grant links no driver itself, so the test binary imports
// them, as an application does. (An external test file: the adapters
// import topology, so an in-package test file could not.)
import (
	_ "github.com/grant-go/grant/adapter/mysql"
	_ "github.com/grant-go/grant/adapter/postgres"
)
