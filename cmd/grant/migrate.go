package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/grant-go/grant/migrator"
)

// errDrift makes "grant migrate status" exit non-zero when the shards of a
// cluster stand at different versions; the report has already said so.
var errDrift = errors.New("shards of a cluster are at different versions (drift): run grant migrate up")

// migrateFlags are the flags the migrate subcommands share.
type migrateFlags struct {
	config      string
	database    string
	parallel    int
	stopOnError bool
	lockTimeout time.Duration
}

func newMigrateCmd() *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Run, roll back and inspect migrations on every database and shard",
		Long: `migrate runs the SQL migrations of each database in the topology file on
its writer (never on a replica), and those of a cluster on every shard's
writer in parallel. --database narrows it to one database, one cluster, or
one shard ("orders/shard2"); databases with "tasks: false" are left alone.`,
	}
	addConfigFlag(cmd, &f.config)
	cmd.PersistentFlags().StringVarP(&f.database, "database", "d", "", "a database, a cluster, or cluster/shard (default: everything)")
	cmd.AddCommand(newMigrateUpCmd(f), newMigrateDownCmd(f), newMigrateStatusCmd(f), newMigrateNewCmd(f))
	return cmd
}

func addRunFlags(cmd *cobra.Command, f *migrateFlags) {
	cmd.Flags().IntVarP(&f.parallel, "parallel", "p", 0, "shards migrated at once (default: the cluster's shard count, at most 8)")
	cmd.Flags().BoolVar(&f.stopOnError, "stop-on-error", false, "when a shard fails, skip the shards not yet started")
	cmd.Flags().DurationVar(&f.lockTimeout, "lock-timeout", 30*time.Second, "how long to wait for another migrator's lock on a database")
}

// withMigrator opens the topology, runs fn with a migrator on it, and closes
// every pool afterwards.
func withMigrator(cmd *cobra.Command, f *migrateFlags, fn func(*migrator.Migrator) error) error {
	db, plugin, err := openTopology(f.config)
	if err != nil {
		return err
	}
	defer closeHandle(db, plugin)
	opts := []migrator.Option{migrator.WithProgress(newProgress(cmd.OutOrStdout()).event)}
	if f.parallel > 0 {
		opts = append(opts, migrator.WithParallel(f.parallel))
	}
	if f.stopOnError {
		opts = append(opts, migrator.WithStopOnError(true))
	}
	if f.lockTimeout > 0 {
		opts = append(opts, migrator.WithLockTimeout(f.lockTimeout))
	}
	m, err := migrator.New(db, opts...)
	if err != nil {
		return err
	}
	return fn(m)
}

func newMigrateUpCmd(f *migrateFlags) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMigrator(cmd, f, func(m *migrator.Migrator) error {
				if dryRun {
					return m.DryRun(cmd.Context(), f.database, cmd.OutOrStdout())
				}
				report, err := m.Up(cmd.Context(), f.database)
				return summarize(cmd.OutOrStdout(), "applied", report, err)
			})
		},
	}
	addRunFlags(cmd, f)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the pending SQL per database instead of running it")
	return cmd
}

func newMigrateDownCmd(f *migrateFlags) *cobra.Command {
	var steps int
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Roll back the last migration (or --steps N) on each database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if steps < 1 {
				return fmt.Errorf("--steps must be at least 1, got %d", steps)
			}
			return withMigrator(cmd, f, func(m *migrator.Migrator) error {
				report, err := m.Down(cmd.Context(), f.database, steps)
				return summarize(cmd.OutOrStdout(), "rolled back", report, err)
			})
		},
	}
	addRunFlags(cmd, f)
	cmd.Flags().IntVarP(&steps, "steps", "n", 1, "migrations to roll back on each database")
	return cmd
}

// summarize prints one line per database or shard and returns the run's
// error, so the exit code is non-zero when any target failed.
func summarize(out io.Writer, verb string, report *migrator.Report, err error) error {
	if report != nil {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TARGET\tRESULT\tVERSIONS\tTIME")
		for _, r := range report.Results {
			result := fmt.Sprintf("%s %d", verb, len(r.Applied))
			switch {
			case r.Err != nil:
				result = "FAILED"
			case r.Skipped:
				result = "skipped"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Target, result, versions(r.Applied), r.Duration.Round(time.Millisecond))
		}
		_ = tw.Flush()
		if err == nil {
			err = report.Err()
		}
	}
	return err
}

func versions(vs []int64) string {
	if len(vs) == 0 {
		return "-"
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ",")
}

func newMigrateStatusCmd(f *migrateFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show applied and pending migrations per database and shard, and drift",
		Long: `status lists, for each database and each shard, the current version and the
applied and pending migrations. When the shards of a cluster stand at
different versions it prints DRIFT and exits non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMigrator(cmd, f, func(m *migrator.Migrator) error {
				status, err := m.Status(cmd.Context(), f.database)
				if err != nil && status == nil {
					return err
				}
				out := cmd.OutOrStdout()
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TARGET\tCURRENT\tAPPLIED\tPENDING\tERROR")
				var failed error
				for _, t := range status.Targets {
					msg := ""
					if t.Err != nil {
						msg = t.Err.Error()
						failed = errors.Join(failed, t.Err)
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", t.Target, t.Current, len(t.Applied), versions(t.Pending), msg)
				}
				_ = tw.Flush()
				for _, d := range status.Drift {
					fmt.Fprintf(out, "\nDRIFT in cluster %s:", d.Cluster)
					for _, shard := range slices.Sorted(maps.Keys(d.Versions)) {
						fmt.Fprintf(out, " %s=%d", shard, d.Versions[shard])
					}
					fmt.Fprintln(out)
				}
				switch {
				case err != nil:
					return err
				case failed != nil:
					return failed
				case status.HasDrift():
					return errDrift
				}
				return nil
			})
		},
	}
}

func newMigrateNewCmd(f *migrateFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "new NAME",
		Short: "Write a timestamped migration file in a database's migrations directory",
		Long: `new writes <dir>/<timestamp>_NAME.sql with empty "-- +goose Up" and
"-- +goose Down" sections in the migrations directory of --database (a
database or a cluster), and prints its path.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.database == "" {
				return errors.New("--database is required: which database's migrations directory?")
			}
			return withMigrator(cmd, f, func(m *migrator.Migrator) error {
				path, err := m.Create(f.database, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), path)
				return nil
			})
		},
	}
}
