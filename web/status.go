package web

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/grant-go/grant"
)

// StatusHandler returns an http.Handler that shows the plugin's topology
// (Plugin.Snapshot): databases, clusters, shards and nodes with their
// health, replication lag and pool use. A GET with ?format=json, or whose
// Accept header asks for application/json, gets the grant.Snapshot as JSON; any
// other GET gets a small self-contained HTML page (no scripts, no external
// assets). Other methods get 405 Method Not Allowed.
//
// The page shows no SQL and no password (DSNs are redacted and are not shown
// in HTML at all), but it does reveal the shape of your databases: mount it
// behind your own authentication middleware.
func StatusHandler(p *grant.Plugin) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		snap := p.Snapshot()
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if wantsJSON(r) {
			body, err := json.MarshalIndent(snap, "", "  ")
			if err != nil {
				http.Error(w, "grant: cannot encode the topology", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(append(body, '\n'))
			return
		}
		var buf bytes.Buffer
		if err := statusPage.Execute(&buf, newStatusView(snap)); err != nil {
			http.Error(w, "grant: cannot render the topology", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_, _ = w.Write(buf.Bytes())
	})
}

// wantsJSON: ?format=json, or an Accept header naming application/json.
func wantsJSON(r *http.Request) bool {
	switch r.URL.Query().Get("format") {
	case "json":
		return true
	case "html":
		return false
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

// statusView is what the HTML template renders.
type statusView struct {
	Taken    string
	Default  string
	Tables   []statusTable
	Routes   []statusRoute
	Nodes    int
	Unhealth int
}

type statusTable struct {
	Kind  string // "database", "shard of cluster orders"
	Title string
	Rows  []statusRow
}

type statusRow struct {
	Label, Role, Lag, Pool, Checked, Error string
	Healthy                                bool
	Failures                               int
}

type statusRoute struct {
	Route string
	Count uint64
}

func newStatusView(s grant.Snapshot) statusView {
	v := statusView{Taken: s.Taken.UTC().Format(time.RFC3339), Default: s.Default}
	add := func(kind string, d grant.DatabaseSnapshot) {
		t := statusTable{Kind: kind, Title: d.Qualified}
		for _, n := range d.Nodes {
			row := statusRow{Label: n.Label, Role: n.Role, Healthy: n.Healthy, Failures: n.Failures, Error: n.Error,
				Lag: "-", Pool: "-", Checked: "never"}
			if n.LagSeconds != nil {
				row.Lag = fmt.Sprintf("%.1fs", *n.LagSeconds)
			}
			if n.Pool != nil {
				row.Pool = fmt.Sprintf("%d / %d", n.Pool.InUse, n.Pool.OpenConnections)
			}
			if !n.Checked.IsZero() {
				row.Checked = n.Checked.UTC().Format("15:04:05.000") + fmt.Sprintf(" (%s ago)", s.Taken.Sub(n.Checked).Round(time.Millisecond))
			}
			v.Nodes++
			if !n.Healthy {
				v.Unhealth++
			}
			t.Rows = append(t.Rows, row)
		}
		v.Tables = append(v.Tables, t)
	}
	for _, d := range s.Databases {
		add("database", d)
	}
	for _, c := range s.Clusters {
		for _, d := range c.Shards {
			add("shard of cluster "+c.Name+serving(c.Placement, d.Shard), d)
		}
	}
	for route, n := range s.Routes {
		v.Routes = append(v.Routes, statusRoute{Route: route, Count: n})
	}
	sort.Slice(v.Routes, func(i, j int) bool { return v.Routes[i].Route < v.Routes[j].Route })
	return v
}

// statusPage is status.html, embedded so that the handler needs no files at
// run time.
//
//go:embed status.html
var statusHTML string

var statusPage = template.Must(template.New("status").Parse(statusHTML))

// serving says what the cluster's placement does with a shard: pending
// shards hold no rows yet, and a reshard may serve reads and writes from
// different ones, or freeze them.
func serving(p grant.PlacementSnapshot, shard string) string {
	reads, writes := slices.Contains(p.Read, shard), slices.Contains(p.Write, shard)
	var what string
	switch {
	case reads && writes:
		what = ""
	case reads:
		what = ", serves reads only"
	case writes:
		what = ", serves writes only"
	default:
		what = ", pending: serves no keys"
	}
	if p.Version > 0 {
		what += fmt.Sprintf(" · placement version %d", p.Version)
	}
	if p.Frozen {
		what += ", writes to moving keys frozen"
	}
	if p.Fenced {
		what += ", fenced: this instance cannot read its placement"
	}
	return what
}
