package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/grant-go/grant/reshard"
	"github.com/grant-go/grant/topology"
)

// reshardFlags are the flags the reshard subcommands share.
type reshardFlags struct {
	config   string
	cluster  string
	workflow string
	to       []string
	batch    int
	parallel int
	rate     int
	lease    time.Duration
	timeout  time.Duration
}

func newReshardCmd() *cobra.Command {
	f := &reshardFlags{}
	cmd := &cobra.Command{
		Use:   "reshard",
		Short: "Move a cluster to more (or other) shards while the application runs",
		Long: `reshard moves the rows of a cluster whose shard changes when the cluster's
strategies map keys over a new list of shards (--to), while the application
keeps reading and writing:

  plan           how many rows move, per table and source shard, and where
  start          record the workflow and run its worker: copy, then apply changes
  run            resume the worker after a crash (it stops when the workflow completes)
  status         state, copy progress, change-stream lag, instances' acknowledgements
  verify         compare the moved rows between placements, naming differing keys
  switch-reads   keyed reads use the new placement
  switch-writes  freeze moving keys, drain, verify, switch writes, unfreeze
  reverse        switch writes (and reads) back to the old placement
  complete       delete moved rows from their old shards, remove the captures

Every application instance must run with a reshard section in its grant.yml
(see docs/resharding.md) before start.`,
	}
	addConfigFlag(cmd, &f.config)
	cmd.PersistentFlags().StringVar(&f.cluster, "cluster", "", "the cluster to reshard (required)")
	cmd.PersistentFlags().StringVar(&f.workflow, "workflow", "", "the workflow's name (default <cluster>_reshard)")
	cmd.PersistentFlags().DurationVar(&f.lease, "lease", topology.DefaultLease, "the applications' reshard lease: instances not seen for this long are not waited for")
	cmd.AddCommand(newReshardPlanCmd(f), newReshardStartCmd(f), newReshardRunCmd(f), newReshardStatusCmd(f), newReshardVerifyCmd(f),
		newReshardStepCmd(f, "switch-reads", "Point keyed reads at the new placement"),
		newReshardStepCmd(f, "switch-writes", "Freeze, drain, verify and switch writes to the new placement"),
		newReshardStepCmd(f, "reverse", "Switch writes and reads back to the old placement"),
		newReshardStepCmd(f, "complete", "Delete moved rows from their old shards and remove the change captures"))
	return cmd
}

func (f *reshardFlags) options(out io.Writer) (reshard.Options, error) {
	if f.cluster == "" {
		return reshard.Options{}, fmt.Errorf("--cluster is required")
	}
	return reshard.Options{Workflow: f.workflow, Cluster: f.cluster, To: f.to, BatchSize: f.batch, Parallel: f.parallel, CopyRate: f.rate,
		Lease: f.lease, AckTimeout: f.timeout, SettleTimeout: f.timeout,
		Log: func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }}, nil
}

func addTargetFlags(cmd *cobra.Command, f *reshardFlags) {
	cmd.Flags().StringSliceVar(&f.to, "to", nil, "the new placement's shards, in order, comma-separated (required)")
	addCopyFlags(cmd, f)
}

func addCopyFlags(cmd *cobra.Command, f *reshardFlags) {
	cmd.Flags().IntVar(&f.batch, "batch", 1000, "rows per copy batch")
	cmd.Flags().IntVar(&f.parallel, "parallel", 4, "(table, source shard) pairs copied at once")
	cmd.Flags().IntVar(&f.rate, "rate", 0, "rows per second each copy reads at most (0: no limit)")
}

// withWorkflow opens the topology and a handle on the existing workflow.
func withWorkflow(cmd *cobra.Command, f *reshardFlags, fn func(ctx context.Context, w *reshard.Workflow) error) error {
	return withTopology(cmd, f, func(ctx context.Context, opts reshard.Options, topo *topology.Topology) error {
		w, err := reshard.Open(ctx, topo, opts)
		if err != nil {
			return err
		}
		return fn(ctx, w)
	})
}

// withTopology opens the configuration's topology for fn, with a context
// that ends on Ctrl-C.
func withTopology(cmd *cobra.Command, f *reshardFlags, fn func(ctx context.Context, opts reshard.Options, topo *topology.Topology) error) error {
	opts, err := f.options(cmd.OutOrStdout())
	if err != nil {
		return err
	}
	db, plugin, err := openTopology(f.config)
	if err != nil {
		return err
	}
	defer closeHandle(db, plugin)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	return fn(ctx, opts, plugin.Topology())
}

func newReshardPlanCmd(f *reshardFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Count the rows that would move, per table and source shard",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTopology(cmd, f, func(ctx context.Context, opts reshard.Options, topo *topology.Topology) error {
				opts.Log = nil
				plan, err := reshard.Plan(ctx, topo, opts)
				if err != nil {
					return err
				}
				printPlan(cmd.OutOrStdout(), plan)
				return nil
			})
		},
	}
	addTargetFlags(cmd, f)
	return cmd
}

func printPlan(out io.Writer, plan *reshard.PlanReport) {
	fmt.Fprintf(out, "cluster %s: %s → %s\n", plan.Cluster, strings.Join(plan.From, ", "), strings.Join(plan.To, ", "))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSHARD\tROWS\tMOVING\tTO")
	var total, moving int64
	for _, tp := range plan.Tables {
		var n int64
		var where []string
		for _, target := range slices.Sorted(maps.Keys(tp.Moves)) {
			n += tp.Moves[target]
			where = append(where, fmt.Sprintf("%s %d", target, tp.Moves[target]))
		}
		total, moving = total+tp.Rows, moving+n
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", tp.Table, tp.Shard, tp.Rows, n, strings.Join(where, ", "))
	}
	tw.Flush()
	fmt.Fprintf(out, "%d of %s move\n", moving, plural(total, "row", "rows"))
}

func newReshardStartCmd(f *reshardFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Record the workflow, then copy and apply changes until it completes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTopology(cmd, f, func(ctx context.Context, opts reshard.Options, topo *topology.Topology) error {
				w, err := reshard.Start(ctx, topo, opts)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "worker running; stop it with Ctrl-C and resume with grant reshard run")
				return w.Run(ctx)
			})
		},
	}
	addTargetFlags(cmd, f)
	return cmd
}

func newReshardRunCmd(f *reshardFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Resume the workflow's worker (copy, then apply changes) until it completes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withWorkflow(cmd, f, func(ctx context.Context, w *reshard.Workflow) error {
				return w.Run(ctx)
			})
		},
	}
	addCopyFlags(cmd, f)
	return cmd
}

func newReshardStatusCmd(f *reshardFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the workflow's state, copy progress, lag and acknowledgements",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withWorkflow(cmd, f, func(ctx context.Context, w *reshard.Workflow) error {
				st, err := w.Status(ctx)
				if err != nil {
					return err
				}
				printStatus(cmd.OutOrStdout(), st)
				return nil
			})
		},
	}
}

func printStatus(out io.Writer, st *reshard.Status) {
	fmt.Fprintf(out, "workflow %s on cluster %s: %s (changes applied %s)\n", st.Workflow, st.Cluster, st.State, st.Direction)
	fmt.Fprintf(out, "placement version %d: reads %s, writes %s", st.Placement.Version, strings.Join(st.Placement.Read, ", "), strings.Join(st.Placement.Write, ", "))
	if st.Placement.Frozen {
		fmt.Fprint(out, " (moving keys frozen)")
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(st.Copy) > 0 {
		fmt.Fprintln(tw, "COPY\tSHARD\tREAD\tMOVED\tDONE")
		for _, c := range st.Copy {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%v\n", c.Table, c.Shard, c.Copied, c.Moved, c.Done)
		}
	}
	if len(st.Lag) > 0 {
		fmt.Fprintln(tw, "STREAM\tLAG\t\t\t")
		for _, l := range st.Lag {
			fmt.Fprintf(tw, "%s\t%d %s\t\t\t\n", l.Shard, l.Pending, l.Unit)
		}
	}
	tw.Flush()
	fmt.Fprintf(out, "%s seen:", plural(len(st.Instances), "application instance", "application instances"))
	for _, in := range st.Instances {
		fmt.Fprintf(out, " %s@v%d", in.Instance, in.Acked)
	}
	fmt.Fprintln(out)
	if st.LastFreeze > 0 {
		fmt.Fprintf(out, "last freeze window: %d ms\n", st.LastFreeze)
	}
}

func newReshardVerifyCmd(f *reshardFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Compare the moved rows between placements; exits non-zero when they differ",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withWorkflow(cmd, f, func(ctx context.Context, w *reshard.Workflow) error {
				report, err := w.Verify(ctx)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TABLE\tSHARD\tEXPECTED\tFOUND\tCHECKSUMS")
				for _, c := range report.Tables {
					same := "equal"
					if c.ExpectedChecksum != c.FoundChecksum {
						same = "differ"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", c.Table, c.Shard, c.ExpectedRows, c.FoundRows, same)
				}
				tw.Flush()
				for _, d := range report.Diffs {
					fmt.Fprintf(out, "differs: %s\n", d)
				}
				fmt.Fprintf(out, "verified in %s\n", report.Took.Round(time.Millisecond))
				return report.Err()
			})
		},
	}
}

func newReshardStepCmd(f *reshardFlags, name, short string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withWorkflow(cmd, f, func(ctx context.Context, w *reshard.Workflow) error {
				var report *reshard.SwitchReport
				var err error
				switch name {
				case "switch-reads":
					report, err = w.SwitchReads(ctx)
				case "switch-writes":
					report, err = w.SwitchWrites(ctx)
				case "reverse":
					report, err = w.Reverse(ctx)
				case "complete":
					err = w.Complete(ctx)
				}
				if err != nil {
					return err
				}
				if report != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: placement version %d", name, report.Version)
					if report.FreezeWindow > 0 {
						fmt.Fprintf(cmd.OutOrStdout(), ", writes to moving keys frozen for %s", report.FreezeWindow.Round(time.Millisecond))
					}
					fmt.Fprintln(cmd.OutOrStdout())
				}
				return nil
			})
		},
	}
	if name != "switch-reads" && name != "complete" {
		cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for acknowledgements, open transactions and the drain before aborting")
	}
	return cmd
}
