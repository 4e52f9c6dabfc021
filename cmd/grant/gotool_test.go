package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's install, as a user runs it: from a module of their own,
// "go get -tool github.com/grant-go/grant/cmd/grant" puts the CLI and its
// requirements in their go.mod and go.sum, and "go tool grant" runs it. The
// module here is a scratch one whose go.mod replaces grant with this
// checkout, so the test installs the code under test, not a release.
//
// It runs the go command (the environment's module and build caches, so
// that it builds little: a few seconds once this package's own build has
// filled them) and skips under -short.
func TestInstallAsGoTool(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the go get -tool install test, which runs the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH: cannot test installing grant as a Go tool")
	}
	start := time.Now()
	root := repoRoot(t)
	app := t.TempDir()
	env := goToolEnv(t, goBin)
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = app
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}

	goCmd("mod", "init", "example.com/app")
	goCmd("mod", "edit", "-replace", "github.com/grant-go/grant="+root)
	goCmd("get", "-tool", "github.com/grant-go/grant/cmd/grant")
	gomod, err := os.ReadFile(filepath.Join(app, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tool github.com/grant-go/grant/cmd/grant", "github.com/spf13/cobra", "github.com/pressly/goose/v3"} {
		if !strings.Contains(string(gomod), want) {
			t.Errorf("go.mod after go get -tool lacks %q:\n%s", want, gomod)
		}
	}

	help := goCmd("tool", "grant", "--help")
	for _, want := range []string{"Usage:", "grant [command]", "demo", "status", "migrate"} {
		if !strings.Contains(help, want) {
			t.Errorf("go tool grant --help lacks %q:\n%s", want, help)
		}
	}

	// A command that needs no server: status on a SQLite topology.
	config := filepath.Join(app, "grant.yml")
	writeFile(t, config, "databases:\n  primary:\n    adapter: sqlite\n    dsn: \""+filepath.ToSlash(filepath.Join(app, "app.db"))+"\"\n")
	status := goCmd("tool", "grant", "status", "--config", config)
	for _, want := range []string{"NODE", "primary/writing", "yes", "grant status: 1 database, 0 clusters (0 shards), 1 node"} {
		if !strings.Contains(status, want) {
			t.Errorf("go tool grant status lacks %q:\n%s", want, status)
		}
	}
	t.Logf("go mod init, go get -tool, go tool grant --help and status: %s", time.Since(start).Round(10*time.Millisecond))
}

// repoRoot is the directory of grant's go.mod, above the test's working
// directory (cmd/grant).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			s := bufio.NewScanner(f)
			module := ""
			for s.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
					module = strings.Trim(strings.TrimSpace(m), `"`)
					break
				}
			}
			f.Close()
			if module == "github.com/grant-go/grant" {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of module github.com/grant-go/grant above the working directory")
		}
		dir = parent
	}
}

// goToolEnv is the environment for the go commands of TestInstallAsGoTool:
// the test's own (module cache, build cache, proxy), without a workspace or
// a toolchain download, and with a GOPROXY that can say "no such module".
//
// go get looks up every prefix of the package path as a module, here
// github.com/grant-go/grant/cmd/grant, which no proxy has. proxy.golang.org
// answers 404 and the go command moves on; other proxies answer 403, which
// it takes for a failure. So the proxies are chained with "|" (go on after
// any error) and end with an empty file:// proxy, whose answer is always
// "not found". Modules that exist still come from the proxies, or the
// module cache.
func goToolEnv(t *testing.T, goBin string) []string {
	t.Helper()
	out, err := exec.Command(goBin, "env", "GOPROXY").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			out = append(out, exit.Stderr...)
		}
		t.Fatalf("go env GOPROXY: %v\n%s", err, out)
	}
	var proxies []string
	for _, p := range strings.FieldsFunc(strings.TrimSpace(string(out)), func(r rune) bool { return r == ',' || r == '|' }) {
		if p != "direct" && p != "off" {
			proxies = append(proxies, p)
		}
	}
	empty := filepath.ToSlash(t.TempDir())
	if !strings.HasPrefix(empty, "/") {
		empty = "/" + empty // file:///C:/... on Windows
	}
	proxies = append(proxies, "file://"+empty)

	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "GOPROXY", "GOWORK", "GOTOOLCHAIN", "GRANT_CONFIG":
		default:
			env = append(env, kv)
		}
	}
	return append(env, "GOPROXY="+strings.Join(proxies, "|"), "GOWORK=off", "GOTOOLCHAIN=local")
}
