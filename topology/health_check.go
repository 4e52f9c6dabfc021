package topology

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The health checks' runtime: one goroutine per checked node, started by
// Topology.StartHealthChecks and stopped by Topology.Close.

// probeResult is what one successful check read from a node.
type probeResult struct {
	lag       time.Duration
	lagKnown  bool
	stale     bool // a replica that cannot tell its lag
	replica   bool // the server replays another's changes
	replayLSN uint64
	gtid      string
}

// probeFunc checks one node within ctx. Tests replace Topology.probe; by
// default each check loop probes through a nodeProber of its own.
type probeFunc func(ctx context.Context, n *Node) (probeResult, error)

// healthRun is the set of running check goroutines.
type healthRun struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	dbs    []*Database
}

// StartHealthChecks starts the background checks of every database and
// shard whose HealthConfig.Interval is > 0: one goroutine per replica and
// custom-role node, checking it at once and then every Interval. With no
// such database it starts nothing. Calling it while checks run does
// nothing; after Close it starts them again. Safe for concurrent use.
func (t *Topology) StartHealthChecks() {
	t.healthMu.Lock()
	defer t.healthMu.Unlock()
	if t.run != nil {
		return
	}
	var dbs []*Database
	for _, d := range t.allDatabases() {
		if d.health.enabled() && len(d.checked()) > 0 {
			dbs = append(dbs, d)
		}
	}
	if len(dbs) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &healthRun{cancel: cancel, dbs: dbs}
	probe := t.probe // nil: each loop makes its own nodeProber
	for _, d := range dbs {
		d.checking.Store(true)
		for _, n := range d.checked() {
			run.wg.Go(func() { d.checkLoop(ctx, n, probe) })
		}
	}
	t.run = run
}

// stopHealthChecks cancels the checks, waits for their goroutines to exit
// and puts every node back in rotation with a fresh (unchecked) health.
func (t *Topology) stopHealthChecks() {
	t.healthMu.Lock() // held throughout: a concurrent Start waits for the reset
	defer t.healthMu.Unlock()
	run := t.run
	t.run = nil
	if run == nil {
		return
	}
	run.cancel()
	run.wg.Wait()
	for _, d := range run.dbs {
		d.healthMu.Lock()
		d.checking.Store(false)
		for _, n := range d.checked() {
			n.health.Store(nil)
			n.good = 0
		}
		d.replicas.rebuild()
		for _, role := range d.roleNames {
			d.roles[role].rebuild()
		}
		d.healthMu.Unlock()
	}
}

// allDatabases lists the databases and every shard of every cluster that
// is made (a shard made on first use has no replica or role to check).
func (t *Topology) allDatabases() []*Database {
	dbs := t.Databases()
	for _, c := range t.Clusters() {
		dbs = append(dbs, c.made()...)
	}
	return dbs
}

// checkLoop checks n every Interval until ctx is done. With probe nil it
// probes through a nodeProber, whose probe pool it closes as it exits
// (Topology.Close waits for that).
func (d *Database) checkLoop(ctx context.Context, n *Node, probe probeFunc) {
	if probe == nil {
		p := newNodeProber(d.health, n)
		defer p.close()
		probe = p.probe
	}
	ticker := time.NewTicker(d.health.Interval)
	defer ticker.Stop()
	for {
		d.check(ctx, n, probe)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// check runs one probe of n and records it.
func (d *Database) check(ctx context.Context, n *Node, probe probeFunc) {
	pctx, cancel := context.WithTimeout(ctx, d.health.Timeout)
	res, err := probe(pctx, n)
	cancel()
	if ctx.Err() != nil {
		return // stopping: a cancelled probe says nothing about the node
	}
	if err == nil {
		err = d.lagProblem(res)
	}
	if err != nil {
		err = n.redact(err)
	}
	d.record(n, res, err, time.Now())
}

// lagProblem is the reason a successful probe still fails the check.
func (d *Database) lagProblem(res probeResult) error {
	switch max := d.health.MaxReplicaLag; {
	case max <= 0:
		return nil
	case res.stale:
		return errors.New("replica cannot tell its lag (replication broken or not streaming); health.max_replica_lag is set")
	case res.lagKnown && res.lag > max:
		return fmt.Errorf("replica lag %s exceeds health.max_replica_lag %s", res.lag.Round(time.Millisecond), max)
	}
	return nil
}

// record applies one check's outcome: a failure takes the node out at once;
// a node out of rotation needs RejoinAfter consecutive passes to return.
func (d *Database) record(n *Node, res probeResult, err error, now time.Time) {
	d.healthMu.Lock()
	defer d.healthMu.Unlock()
	if !d.checking.Load() {
		return
	}
	prev := n.Health()
	next := &NodeHealth{Checked: now, Lag: res.lag, LagKnown: res.lagKnown, ReplayLSN: res.replayLSN, GTID: res.gtid}
	switch {
	case err != nil:
		next.Err, next.Failures, n.good = err, prev.Failures+1, 0
	case prev.Healthy:
		next.Healthy = true
	default:
		n.good++
		if next.Healthy = n.good >= d.health.RejoinAfter; next.Healthy {
			n.good = 0
		}
	}
	n.health.Store(next)
	if next.Healthy != prev.Healthy {
		d.setOf(n).rebuild()
	}
}

// markDown takes n out of rotation after read failover saw cause on it;
// the checks bring it back. It does nothing when checks are not running
// (nothing would bring it back) or n is already out.
func (d *Database) markDown(n *Node, cause error) {
	d.healthMu.Lock()
	defer d.healthMu.Unlock()
	prev := n.Health()
	if !d.checking.Load() || !prev.Healthy {
		return
	}
	next := prev
	next.Healthy, next.Failures, next.Err = false, prev.Failures+1, n.redact(cause)
	n.good = 0
	n.health.Store(&next)
	d.setOf(n).rebuild()
}

// redact makes err a *NodeError naming n with its password removed, unless
// it already is one.
func (n *Node) redact(err error) error {
	var ne *NodeError
	if errors.As(err, &ne) {
		return err
	}
	return n.errorf(err)
}
