package apidoc

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/grant-go/grant"

// importRule: package pkg must not depend on anything starting with one of
// never, directly (direct) or through any chain of imports.
type importRule struct {
	pkg    string
	direct bool
	never  []string
	why    string
}

// heavy are the modules an application gets only by importing the
// subpackage that needs them.
var heavy = []string{
	"go.yaml.in/yaml", "gopkg.in/yaml",
	"github.com/prometheus/", "google.golang.org/protobuf",
	"go.opentelemetry.io/", "gorm.io/plugin/opentelemetry",
	"github.com/jackc/pgx", "github.com/go-sql-driver/mysql", "gorm.io/driver/",
	"github.com/pressly/goose", "github.com/spf13/cobra",
}

var importRules = []importRule{
	{pkg: module, never: append([]string{
		module + "/web", module + "/config", module + "/migrator", module + "/adapter/",
		module + "/observe/prometheus", module + "/observe/otel", "net/http",
	}, heavy...), why: "the root package is the light facade every user links (docs/architecture.md)"},
	{pkg: module + "/topology", never: append([]string{
		module + "/internal/callbacks", module + "/internal/route", module + "/config", module + "/web", "net/http",
	}, heavy...), why: "the topology knows databases, nodes and pools, not GORM's callbacks, files, HTTP or drivers"},
	{pkg: module + "/internal/route", direct: true, never: []string{
		module + "/internal/callbacks", "gorm.io/gorm/callbacks", "database/sql",
	}, why: "the routing decision is a pure value computed without I/O"},
	{pkg: module + "/config", never: []string{module + "/internal/callbacks", module + "/web", "net/http"},
		why: "the file loader reads files into a Config and routes nothing"},
	{pkg: module + "/web", direct: true, never: []string{module + "/internal/"}, why: "web uses the public API only"},
	{pkg: module + "/sharding", never: []string{module + "/topology", module + "/internal/", "net/http"},
		why: "strategies and keys are values that know no topology"},
}

// TestImportDirection checks the arrows of docs/architecture.md with the go
// command's own view of the packages (go list), so that a new import
// against them fails here instead of in a user's binary.
func TestImportDirection(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	for _, rule := range importRules {
		args := []string{"list", "-f", `{{join .Imports "\n"}}`, rule.pkg}
		if !rule.direct {
			args = []string{"list", "-deps", rule.pkg}
		}
		out, err := exec.Command("go", args...).Output()
		if err != nil {
			t.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
		deps := strings.Fields(string(out))
		for _, bad := range rule.never {
			var hits []string
			for _, dep := range deps {
				if matches(dep, bad) {
					hits = append(hits, dep)
				}
			}
			if len(hits) > 0 {
				t.Errorf("%s depends on %s (%d packages, first %s): %s", rule.pkg, bad, len(hits), hits[0], rule.why)
			}
		}
	}
}

// matches: dep is bad, or inside it. A bad ending in "/" is a prefix of
// module paths ("gorm.io/driver/"); otherwise it is a package or module
// path, matched on whole path elements.
func matches(dep, bad string) bool {
	if strings.HasSuffix(bad, "/") {
		return strings.HasPrefix(dep, bad)
	}
	return dep == bad || strings.HasPrefix(dep, bad+"/")
}
