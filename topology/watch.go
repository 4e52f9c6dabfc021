package topology

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"
)

// The placement watcher (Config.Reshard): one goroutine per topology
// that reads every cluster's placement from the default database each
// PollInterval, installs newer ones, acknowledges each once no write
// under the placement it replaced is in flight, and writes this
// instance's heartbeat. Started by StartPlacementWatch (the plugin's
// Initialize), stopped by Close.

// PlacementStatus is what the watcher knows of one cluster
// (Topology.PlacementStatus).
type PlacementStatus struct {
	Cluster  string
	Instance string // this instance's name in grant_instance
	// Version is the placement installed; Acked the one acknowledged
	// (installed, and no write under an older one in flight).
	Version, Acked int64
	Active, Frozen bool
	// Fenced: writes to the cluster fail with ErrPlacementStale.
	Fenced bool
	// LastRead is when the placements were last read successfully.
	LastRead time.Time
	// Err is the last failure reading placements or writing the
	// heartbeat (nil once one succeeds).
	Err error
	// Rejected is why the newest published record was not installed
	// (a shard this instance's configuration lacks), nil when it was.
	Rejected error
}

type watchedCluster struct {
	c        *Cluster
	acked    int64
	drained  chan struct{} // closed when every placement replaced so far is idle
	rejected error
}

type placementWatch struct {
	t       *Topology
	cfg     ReshardConfig
	host    string
	pid     int
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	kick    chan struct{}
	storeMu sync.Mutex
	store   *PlacementStore

	mu       sync.Mutex // guards the fields below and watchedCluster's
	clusters map[string]*watchedCluster
	lastRead time.Time
	lastErr  error
}

// ReshardSettings returns Config.Reshard with defaults filled in (and the
// instance name the watcher uses); false when placements are static.
func (t *Topology) ReshardSettings() (ReshardConfig, bool) {
	if t.reshard == nil {
		return ReshardConfig{}, false
	}
	return *t.reshard, true
}

func instanceName() string {
	host, _ := os.Hostname()
	var b [2]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// StartPlacementWatch starts following placements when Config.Reshard is
// set (otherwise it does nothing). It reads every cluster's placement
// before it returns, so that the first statement routes by it; if that
// read fails, every cluster starts fenced (its writes fail with
// ErrPlacementStale) until a read succeeds. Close stops it.
func (t *Topology) StartPlacementWatch() {
	if t.reshard == nil {
		return
	}
	t.watchMu.Lock()
	defer t.watchMu.Unlock()
	if t.watch != nil {
		return
	}
	host, _ := os.Hostname()
	ctx, cancel := context.WithCancel(context.Background())
	w := &placementWatch{t: t, cfg: *t.reshard, host: host, pid: os.Getpid(), cancel: cancel,
		kick: make(chan struct{}, 1), clusters: map[string]*watchedCluster{}}
	for name, c := range t.clusters {
		done := make(chan struct{})
		close(done)
		w.clusters[name] = &watchedCluster{c: c, drained: done}
	}
	t.watch = w
	if !w.poll(ctx, true) {
		w.mu.Lock()
		err := w.lastErr
		w.mu.Unlock()
		for _, wc := range w.clusters {
			cur := wc.c.Placement()
			_ = w.install(ctx, wc, cur.rec, true, time.Time{}, err)
		}
	}
	w.wg.Add(1)
	go w.run(ctx)
}

func (t *Topology) stopPlacementWatch() {
	t.watchMu.Lock()
	w := t.watch
	t.watch = nil
	t.watchMu.Unlock()
	if w != nil {
		w.cancel()
		w.wg.Wait()
	}
}

// PlacementStatus reports, per cluster in name order, what the watcher
// knows; nil when Config.Reshard is not set.
func (t *Topology) PlacementStatus() []PlacementStatus {
	t.watchMu.Lock()
	w := t.watch
	t.watchMu.Unlock()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []PlacementStatus
	for _, name := range slices.Sorted(maps.Keys(w.clusters)) {
		wc := w.clusters[name]
		p := wc.c.Placement()
		out = append(out, PlacementStatus{Cluster: name, Instance: w.cfg.Instance, Version: p.Version(), Acked: wc.acked,
			Active: p.Active(), Frozen: p.Frozen(), Fenced: p.Fenced(), LastRead: w.lastRead, Err: w.lastErr, Rejected: wc.rejected})
	}
	return out
}

func (w *placementWatch) run(ctx context.Context) {
	defer w.wg.Done()
	tick := time.NewTicker(w.cfg.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.kick:
		}
		if !w.poll(ctx, false) {
			w.fence(ctx)
		}
	}
}

func (w *placementWatch) getStore() (*PlacementStore, error) {
	w.storeMu.Lock()
	defer w.storeMu.Unlock()
	if w.store == nil {
		s, err := w.t.PlacementStore()
		if err != nil {
			return nil, err
		}
		w.store = s
	}
	return w.store, nil
}

// poll reads the placements, installs newer ones and writes the
// heartbeat; it reports whether all of that succeeded.
func (w *placementWatch) poll(ctx context.Context, first bool) bool {
	err := w.pollOnce(ctx, first)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastErr = err
	if err == nil {
		w.lastRead = time.Now()
	}
	return err == nil
}

func (w *placementWatch) pollOnce(ctx context.Context, first bool) error {
	store, err := w.getStore()
	if err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, max(w.cfg.Lease/4, 10*time.Millisecond))
	defer cancel()
	recs, missing, err := store.loadAll(qctx)
	if err != nil {
		return fmt.Errorf("grant: reading placements: %w", err)
	}
	if missing {
		for name, wc := range w.clusters {
			if wc.c.Placement().Version() > 0 {
				return fmt.Errorf("grant: reading placements: table grant_placement is gone, but cluster %q was at version %d", name, wc.c.Placement().Version())
			}
		}
	}
	for name, wc := range w.clusters {
		cur := wc.c.Placement()
		rec, ok := recs[name]
		if ok && rec.Version > cur.Version() {
			// Rejected: not installed, not acknowledged, so a reshard
			// waiting for this instance aborts.
			err := w.install(ctx, wc, rec, false, time.Time{}, nil)
			w.mu.Lock()
			wc.rejected = err
			w.mu.Unlock()
			continue
		}
		if ok && rec.Version < cur.Version() {
			return fmt.Errorf("grant: cluster %q's published placement went back from version %d to %d", name, cur.Version(), rec.Version)
		}
		if cur.Fenced() {
			_ = w.install(ctx, wc, cur.rec, false, time.Time{}, nil)
		}
	}
	if missing {
		return nil // no reshard has begun: nobody reads heartbeats
	}
	if first {
		// Acknowledge what was installed before any statement ran.
		w.mu.Lock()
		for _, wc := range w.clusters {
			wc.acked = max(wc.acked, wc.c.Placement().Version())
		}
		w.mu.Unlock()
	}
	for _, name := range slices.Sorted(maps.Keys(w.clusters)) {
		wc := w.clusters[name]
		w.mu.Lock()
		acked := wc.acked
		w.mu.Unlock()
		if err := store.heartbeat(qctx, w.cfg.Instance, name, w.host, w.pid, acked); err != nil {
			return fmt.Errorf("grant: writing the heartbeat of instance %q: %w", w.cfg.Instance, err)
		}
	}
	return nil
}

// chain acknowledges version once old, and every placement replaced
// before it, has no write in flight; then it asks for a heartbeat at once.
// install installs rec on wc's cluster (Cluster.install) and, when it
// replaced a placement, waits for that one's writes behind the earlier
// ones (chain). The error is Cluster.install's: rec was not installed.
func (w *placementWatch) install(ctx context.Context, wc *watchedCluster, rec PlacementRecord, fenced bool, lastRead time.Time, cause error) error {
	old, err := wc.c.install(rec, fenced, lastRead, cause)
	if old != nil {
		w.chain(ctx, wc, old, rec.Version)
	}
	return err
}

func (w *placementWatch) chain(ctx context.Context, wc *watchedCluster, old *ShardPlacement, version int64) {
	w.mu.Lock()
	prev := wc.drained
	done := make(chan struct{})
	wc.drained = done
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		select {
		case <-prev:
		case <-ctx.Done():
			return
		}
		if old.WaitIdle(ctx) != nil {
			return
		}
		w.mu.Lock()
		wc.acked = max(wc.acked, version)
		w.mu.Unlock()
		close(done)
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}()
}

// fence refuses writes to every cluster with an active reshard once the
// placements have not been read for half the lease.
func (w *placementWatch) fence(ctx context.Context) {
	w.mu.Lock()
	last, err := w.lastRead, w.lastErr
	w.mu.Unlock()
	if time.Since(last) < w.cfg.Lease/2 {
		return
	}
	for _, wc := range w.clusters {
		cur := wc.c.Placement()
		if !cur.Active() || cur.Fenced() {
			continue
		}
		_ = w.install(ctx, wc, cur.rec, true, last, err)
	}
}

var errNoWatch = errors.New("grant: placements are static (Config.Reshard is not set)")

// WatchInstance returns this instance's name in grant_instance, or an
// error when Config.Reshard is not set.
func (t *Topology) WatchInstance() (string, error) {
	if t.reshard == nil {
		return "", errNoWatch
	}
	return t.reshard.Instance, nil
}
