package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/topology"
)

// nodeStatus is what "grant status" reports about one node.
type nodeStatus struct {
	Node       string   `json:"node"` // "primary/reading#1"
	Database   string   `json:"database"`
	Shard      string   `json:"shard,omitempty"`
	Role       string   `json:"role"`
	DSN        string   `json:"dsn,omitempty"` // password redacted
	Reachable  bool     `json:"reachable"`
	Version    string   `json:"version,omitempty"`
	Replica    bool     `json:"replica"`               // the server says it replays another's changes
	LagSeconds *float64 `json:"lag_seconds,omitempty"` // known only for replicas
	PingMillis float64  `json:"ping_ms"`
	// Pool is the node's pool as grant's topology snapshot shows it
	// (Plugin.Snapshot), after the check.
	Pool  *grant.PoolStats `json:"pool,omitempty"`
	Error string           `json:"error,omitempty"`
}

func newStatusCmd() *cobra.Command {
	var (
		config  string
		asJSON  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Check every node of the topology file: reachable, role, server version, replica lag",
		Long: `status connects to every node in the topology file (writers, replicas,
custom roles, every shard) in parallel and reports whether it answers, the
role grant gives it, the server's version and, for servers that replay
another's changes, their lag. It exits non-zero if any node is unreachable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, plugin, err := openTopology(config)
			if err != nil {
				return err
			}
			defer closeHandle(db, plugin)
			statuses := checkNodes(cmd.Context(), plugin.Topology().AllNodes(), timeout)
			addPools(statuses, plugin.Snapshot())
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(statuses); err != nil {
					return err
				}
			} else {
				printStatuses(cmd.OutOrStdout(), statuses)
				printFooter(cmd.OutOrStdout(), plugin.Topology())
			}
			down := 0
			for _, s := range statuses {
				if !s.Reachable {
					down++
				}
			}
			if down > 0 {
				return fmt.Errorf("%d of %s unreachable", down, plural(len(statuses), "node", "nodes"))
			}
			return nil
		},
	}
	addConfigFlag(cmd, &config)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for each node")
	return cmd
}

// addPools copies each node's pool statistics from the topology snapshot,
// the same one Plugin.StatusHandler serves.
func addPools(statuses []nodeStatus, snap grant.Snapshot) {
	pools := map[string]*grant.PoolStats{}
	for _, d := range snap.Databases {
		for _, n := range d.Nodes {
			pools[n.Label] = n.Pool
		}
	}
	for _, c := range snap.Clusters {
		for _, d := range c.Shards {
			for _, n := range d.Nodes {
				pools[n.Label] = n.Pool
			}
		}
	}
	for i := range statuses {
		statuses[i].Pool = pools[statuses[i].Node]
	}
}

// checkNodes asks every node at once (at most 16 in flight).
func checkNodes(ctx context.Context, nodes []*topology.Node, timeout time.Duration) []nodeStatus {
	out := make([]nodeStatus, len(nodes))
	var g errgroup.Group
	g.SetLimit(16)
	for i, n := range nodes {
		g.Go(func() error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			out[i] = checkNode(ctx, n)
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func checkNode(ctx context.Context, n *topology.Node) nodeStatus {
	s := nodeStatus{Node: n.Label(), Database: n.Owner().Name(), Shard: n.Owner().Shard(), Role: n.Role(), DSN: n.DSN()}
	start := time.Now()
	repl, err := n.Probe(ctx) // ping and replication state, as a health check reads them
	s.PingMillis = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		// Without the privilege to read replication state the node still
		// answers: only a failed ping makes it unreachable.
		if db, ok := n.SQLDB(); !ok || db.PingContext(ctx) != nil {
			s.Error = err.Error()
			return s
		}
	}
	s.Reachable = true
	s.Replica = repl.Replica
	if repl.LagKnown {
		lag := repl.Lag.Seconds()
		s.LagSeconds = &lag
	}
	db, _ := n.SQLDB()
	switch n.Dialect() {
	case "postgres":
		_ = db.QueryRowContext(ctx, "SHOW server_version").Scan(&s.Version)
	case "mysql":
		_ = db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&s.Version)
	case "sqlite":
		_ = db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&s.Version)
	}
	return s
}

func printStatuses(out io.Writer, statuses []nodeStatus) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tREACHABLE\tVERSION\tLAG\tPING\tPOOL\tERROR")
	for _, s := range statuses {
		reachable, lag := "yes", "-"
		if !s.Reachable {
			reachable = "NO"
		}
		if s.LagSeconds != nil {
			lag = fmt.Sprintf("%.1fs", *s.LagSeconds)
		} else if s.Replica {
			lag = "unknown"
		}
		version, _, _ := strings.Cut(s.Version, " ")
		pool := "-"
		if s.Pool != nil {
			pool = fmt.Sprintf("%d/%d in use", s.Pool.InUse, s.Pool.OpenConnections)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fms\t%s\t%s\n", s.Node, s.Role, reachable, version, lag, s.PingMillis, pool, s.Error)
	}
	_ = tw.Flush()
}

// printFooter sums the topology up under the table (not in --json output,
// which stays a plain array of nodes).
func printFooter(out io.Writer, t *topology.Topology) {
	shards := 0
	for _, c := range t.Clusters() {
		shards += c.ShardCount()
	}
	fmt.Fprintf(out, "grant status: %s, %s (%s), %s\n",
		plural(len(t.Databases()), "database", "databases"), plural(len(t.Clusters()), "cluster", "clusters"),
		plural(shards, "shard", "shards"), plural(len(t.AllNodes()), "node", "nodes"))
}
