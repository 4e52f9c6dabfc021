package grant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"
)

// StatusHandler returns an http.Handler that shows the plugin's topology
// (Plugin.Topology): databases, clusters, shards and nodes with their
// health, replication lag and pool use. A GET with ?format=json, or whose
// Accept header asks for application/json, gets the Snapshot as JSON; any
// other GET gets a small self-contained HTML page (no scripts, no external
// assets). Other methods get 405 Method Not Allowed.
//
// The page shows no SQL and no password (DSNs are redacted and are not shown
// in HTML at all), but it does reveal the shape of your databases: mount it
// behind your own authentication middleware.
func (p *Plugin) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		snap := p.Topology()
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

func newStatusView(s Snapshot) statusView {
	v := statusView{Taken: s.Taken.UTC().Format(time.RFC3339), Default: s.Default}
	add := func(kind string, d DatabaseSnapshot) {
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
			add("shard of cluster "+c.Name, d)
		}
	}
	for route, n := range s.Routes {
		v.Routes = append(v.Routes, statusRoute{Route: route, Count: n})
	}
	sort.Slice(v.Routes, func(i, j int) bool { return v.Routes[i].Route < v.Routes[j].Route })
	return v
}

var statusPage = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>grant topology</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.1em; margin: 1.4em 0 0.4em; }
h2 small { font-weight: normal; color: #666; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; min-width: 40em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.healthy { color: #176f2c; font-weight: bold; }
.unhealthy { color: #b00020; font-weight: bold; }
td.error { color: #b00020; font-family: monospace; font-size: 0.9em; max-width: 50em; word-break: break-word; }
</style>
</head>
<body>
<h1>grant topology</h1>
<p class="meta">Taken {{.Taken}}{{if .Default}} · default database <strong>{{.Default}}</strong>{{end}} · {{.Nodes}} nodes, {{.Unhealth}} unhealthy</p>
{{if not .Tables}}<p>grant is not initialized: no topology yet.</p>{{end}}
{{range .Tables}}
<h2>{{.Title}} <small>{{.Kind}}</small></h2>
<table>
<thead><tr><th>Node</th><th>Role</th><th>Health</th><th>Lag</th><th>Pool in use / open</th><th>Last check</th><th>Error</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td>{{.Label}}</td>
<td>{{.Role}}</td>
<td>{{if .Healthy}}<span class="healthy">✔ healthy</span>{{else}}<span class="unhealthy">✖ unhealthy</span>{{if .Failures}} ({{.Failures}} failures){{end}}{{end}}</td>
<td class="num">{{.Lag}}</td>
<td class="num">{{.Pool}}</td>
<td>{{.Checked}}</td>
<td class="error">{{.Error}}</td>
</tr>
{{end}}</tbody>
</table>
{{end}}
{{if .Routes}}
<h2>Routes <small>statements routed</small></h2>
<table>
<thead><tr><th>Route</th><th>Statements</th></tr></thead>
<tbody>
{{range .Routes}}<tr><td>{{.Route}}</td><td class="num">{{.Count}}</td></tr>
{{end}}</tbody>
</table>
{{end}}
</body>
</html>
`))
