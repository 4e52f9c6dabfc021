// Package prometheus exports grant's metrics to Prometheus: statements by
// route (count, duration, scatter-gather fan-out), replica health and lag,
// and the database/sql statistics of every node pool grant has opened.
//
// It is opt-in: grant itself does not import it, so an application that
// does not use Prometheus links neither client_golang nor protobuf. Make a
// Metrics, install it as an observer, and register its collectors on your
// own registry:
//
//	import grantprom "github.com/grant-go/grant/observe/prometheus"
//
//	metrics := grantprom.New(cfg.Metrics) // cfg.Metrics.Enabled: route metrics
//	cfg.Observers = append(cfg.Observers, metrics)
//	if err := db.Use(grant.New(cfg)); err != nil { ... }
//	registry.MustRegister(metrics.Collectors()...)
//
// grant starts no HTTP server and never uses Prometheus' global registry.
// The collectors may be registered before or after db.Use; health and pools
// are read at scrape time from the topology the plugin attached. One
// Metrics serves one plugin. The metric names, labels and cardinality are
// in docs/observability.md.
package prometheus

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/grant-go/grant/topology"
)

// DefaultNamespace prefixes metric names when MetricsConfig.Namespace is "".
const DefaultNamespace = "grant"

// Outcomes of a statement, the values of the "outcome" label.
const (
	OutcomeOK      = "ok"
	OutcomeError   = "error"
	OutcomeRefused = "refused"
)

// DurationBuckets are the buckets of grant_statement_duration_seconds,
// from 0.5 ms to 10 s.
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// FanoutBuckets are the buckets of grant_scatter_fanout (shards per
// scatter-gather statement).
var FanoutBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}

// Metrics is grant's Prometheus instrumentation of one plugin's topology:
// a topology.Observer that counts and times statements by route when
// MetricsConfig.Enabled, and is given the topology when the plugin
// initializes (topology.TopologyObserver) so that Collectors can report
// replica health and pools. Its methods are safe for concurrent use.
type Metrics struct {
	enabled    bool
	tableLabel bool
	topology   atomic.Pointer[topology.Topology] // set by Attach

	statements *prom.CounterVec   // database, shard, role, operation, outcome [, table]
	duration   *prom.HistogramVec // database, shard, role, operation [, table]
	fanout     *prom.HistogramVec // database

	// series maps a route to its pre-resolved children. It is copied on
	// write (routes are few and learned once), so Observe's lookup is one
	// atomic load and a map read that do not allocate.
	series   atomic.Pointer[map[routeKey]*routeSeries]
	seriesMu sync.Mutex

	health *healthCollector
	pools  *poolCollector
}

// routeKey is a route's label values (table is "" without TableLabel).
type routeKey struct {
	database, shard, role, operation, table string
}

// routeSeries is one route's children, resolved once.
type routeSeries struct {
	key                   routeKey
	ok, failed, refused   prom.Counter
	nOK, nFailed, nRefuse atomic.Uint64 // RouteCounts, without reading the counters back
	duration              prom.Observer
	fanout                prom.Observer // nil unless the route is a scatter (shard "*")
}

// New returns the metrics cfg describes: route metrics when cfg.Enabled
// (else the Metrics collects only health and pools, and wants no
// observations), named with cfg.Namespace ("grant" when empty), with a
// table label when cfg.TableLabel. cfg.OpenTelemetryPools is package
// observe/otel's and is ignored here. Install the result in
// Config.Observers; until the plugin attaches its topology, the health and
// pool collectors report nothing.
func New(cfg topology.MetricsConfig) *Metrics {
	ns := cfg.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	m := &Metrics{enabled: cfg.Enabled, tableLabel: cfg.TableLabel}
	m.series.Store(&map[routeKey]*routeSeries{})
	labels := []string{"database", "shard", "role", "operation"}
	if cfg.TableLabel {
		labels = append(labels, "table")
	}
	m.statements = prom.NewCounterVec(prom.CounterOpts{
		Namespace: ns, Name: "statements_total",
		Help: "Statements grant routed, by route, operation and outcome (ok, error, refused).",
	}, append(append([]string{}, labels...), "outcome"))
	m.duration = prom.NewHistogramVec(prom.HistogramOpts{
		Namespace: ns, Name: "statement_duration_seconds",
		Help:    "Time statements took, by route and operation (refused statements excluded).",
		Buckets: DurationBuckets,
	}, labels)
	m.fanout = prom.NewHistogramVec(prom.HistogramOpts{
		Namespace: ns, Name: "scatter_fanout",
		Help:    "Shards each scatter-gather statement ran on, by cluster.",
		Buckets: FanoutBuckets,
	}, []string{"database"})
	m.health = newHealthCollector(ns, &m.topology)
	m.pools = newPoolCollector(ns, &m.topology)
	return m
}

// errAttached is Attach's answer for a second topology.
var errAttached = errors.New("observe/prometheus: this Metrics already reports another plugin's topology (the node series would collide); make one Metrics per plugin with prometheus.New")

// Attach implements topology.TopologyObserver: the plugin calls it when it
// initializes, and m reports t's replica health and pools from then on. A
// Metrics serves one topology: attaching it to a second fails, and with it
// that plugin's Initialize.
func (m *Metrics) Attach(t *topology.Topology) error {
	if !m.topology.CompareAndSwap(nil, t) && m.topology.Load() != t {
		return errAttached
	}
	return nil
}

// WantsObservations implements topology.Selective: without
// MetricsConfig.Enabled, m counts nothing and grant does not call Observe.
func (m *Metrics) WantsObservations() bool { return m.enabled }

// Collectors returns the collectors to register on your registry
// (registry.MustRegister(m.Collectors()...)): the route metrics
// (grant_statements_total, grant_statement_duration_seconds,
// grant_scatter_fanout) when MetricsConfig.Enabled, and always replica
// health (grant_node_healthy, grant_node_lag_seconds), pool counts
// (grant_pools_*) and the database/sql statistics of every opened pool
// (go_sql_* with db_name "database/role/node", or "cluster/shard/role/node"
// for a shard). The pool collector is unchecked: its Describe sends nothing
// because pools open lazily.
func (m *Metrics) Collectors() []prom.Collector {
	cs := []prom.Collector{m.health, m.pools}
	if m.enabled {
		cs = append(cs, m.statements, m.duration, m.fanout)
	}
	return cs
}

// Observe implements topology.Observer. It does nothing unless
// MetricsConfig.Enabled, and does not allocate once a route has been seen.
func (m *Metrics) Observe(_ context.Context, o *topology.Observation) {
	if !m.enabled {
		return
	}
	k := routeKey{database: o.Route.Database, shard: o.Route.Shard, role: o.Route.Role, operation: o.Operation}
	if m.tableLabel {
		k.table = o.Table
	}
	s := (*m.series.Load())[k]
	if s == nil {
		s = m.resolve(k)
	}
	switch {
	case o.Refused:
		s.refused.Inc()
		s.nRefuse.Add(1)
		return
	case o.Err != nil:
		s.failed.Inc()
		s.nFailed.Add(1)
	default:
		s.ok.Inc()
		s.nOK.Add(1)
	}
	s.duration.Observe(o.Duration.Seconds())
	if o.Shards > 0 {
		if s.fanout != nil {
			s.fanout.Observe(float64(o.Shards))
		} else {
			m.fanout.WithLabelValues(k.database).Observe(float64(o.Shards))
		}
	}
}

// resolve makes (once) the children of a route.
func (m *Metrics) resolve(k routeKey) *routeSeries {
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	old := *m.series.Load()
	if s := old[k]; s != nil {
		return s
	}
	labels := []string{k.database, k.shard, k.role, k.operation}
	if m.tableLabel {
		labels = append(labels, k.table)
	}
	with := func(outcome string) prom.Counter {
		return m.statements.WithLabelValues(append(append([]string{}, labels...), outcome)...)
	}
	s := &routeSeries{
		key:      k,
		ok:       with(OutcomeOK),
		failed:   with(OutcomeError),
		refused:  with(OutcomeRefused),
		duration: m.duration.WithLabelValues(labels...),
	}
	if k.shard == topology.AllShards { // scatter-gather routes only: no empty fanout series elsewhere
		s.fanout = m.fanout.WithLabelValues(k.database)
	}
	next := make(map[routeKey]*routeSeries, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	next[k] = s
	m.series.Store(&next)
	return s
}

// RouteCounts returns the statements counted so far, keyed
// "database/shard/role/operation/outcome" (shard "" for unsharded
// databases, "*" for scatter-gather; outcome ok, error or refused), summed
// over tables; outcomes never seen are absent, and all are unless
// MetricsConfig.Enabled. The plugin's topology snapshot (Plugin.Topology,
// the status page) shows these counts when a Metrics is installed.
func (m *Metrics) RouteCounts() map[string]uint64 {
	counts := map[string]uint64{}
	for k, s := range *m.series.Load() {
		prefix := k.database + "/" + k.shard + "/" + k.role + "/" + k.operation + "/"
		for _, c := range []struct {
			outcome string
			n       uint64
		}{{OutcomeOK, s.nOK.Load()}, {OutcomeError, s.nFailed.Load()}, {OutcomeRefused, s.nRefuse.Load()}} {
			if c.n > 0 {
				counts[prefix+c.outcome] += c.n
			}
		}
	}
	return counts
}

// healthCollector reports each node's last health check at scrape time.
type healthCollector struct {
	topology     *atomic.Pointer[topology.Topology] // Metrics.topology
	healthy, lag *prom.Desc
}

func newHealthCollector(ns string, top *atomic.Pointer[topology.Topology]) *healthCollector {
	labels := []string{"database", "shard", "role", "node"}
	return &healthCollector{
		topology: top,
		healthy: prom.NewDesc(prom.BuildFQName(ns, "node", "healthy"),
			"1 when the node is in rotation (always 1 without health checks), else 0.", labels, nil),
		lag: prom.NewDesc(prom.BuildFQName(ns, "node", "lag_seconds"),
			"Replication lag the last health check measured; absent while unknown.", labels, nil),
	}
}

func (c *healthCollector) Describe(ch chan<- *prom.Desc) {
	ch <- c.healthy
	ch <- c.lag
}

func (c *healthCollector) Collect(ch chan<- prom.Metric) {
	top := c.topology.Load()
	if top == nil {
		return
	}
	for _, n := range top.Nodes() {
		h := n.Health()
		var database, shard string
		if d := n.Owner(); d != nil {
			database, shard = d.Name(), d.Shard()
		} else {
			database = n.Database()
		}
		healthy := 0.0
		if h.Healthy {
			healthy = 1
		}
		ch <- prom.MustNewConstMetric(c.healthy, prom.GaugeValue, healthy, database, shard, n.Role(), n.Name())
		if h.LagKnown {
			ch <- prom.MustNewConstMetric(c.lag, prom.GaugeValue, h.Lag.Seconds(), database, shard, n.Role(), n.Name())
		}
	}
}

// poolCollector reports how many pools are open, were opened and were
// evicted (Config.MaxOpenPools), and delegates to one
// collectors.NewDBStatsCollector per open pool, made the first time a
// scrape finds that pool open (an evicted node's next pool gets a new one).
type poolCollector struct {
	topology              *atomic.Pointer[topology.Topology] // Metrics.topology
	open, opened, evicted *prom.Desc
	byNode                sync.Map // *topology.Node → poolStats
}

// poolStats is the statistics collector of a node's current pool.
type poolStats struct {
	db        *sql.DB
	collector prom.Collector
}

func newPoolCollector(ns string, top *atomic.Pointer[topology.Topology]) *poolCollector {
	return &poolCollector{
		topology: top,
		open: prom.NewDesc(prom.BuildFQName(ns, "pools", "open"),
			"Node pools grant has open (the handle's own pool not counted).", nil, nil),
		opened: prom.NewDesc(prom.BuildFQName(ns, "pools", "opened_total"),
			"Node pools grant has opened, reopenings after eviction included.", nil, nil),
		evicted: prom.NewDesc(prom.BuildFQName(ns, "pools", "evicted_total"),
			"Idle node pools closed to stay within max_open_pools.", nil, nil),
	}
}

// Describe sends nothing: the pools, and so the descriptors (whose db_name
// const label names the pool), are not known until they open. That makes
// the collector unchecked, which every registry accepts.
func (c *poolCollector) Describe(chan<- *prom.Desc) {}

func (c *poolCollector) Collect(ch chan<- prom.Metric) {
	top := c.topology.Load()
	if top == nil {
		return
	}
	counts := top.PoolCounts()
	ch <- prom.MustNewConstMetric(c.open, prom.GaugeValue, float64(counts.Open))
	ch <- prom.MustNewConstMetric(c.opened, prom.CounterValue, float64(counts.Opened))
	ch <- prom.MustNewConstMetric(c.evicted, prom.CounterValue, float64(counts.Evicted))
	for _, n := range top.Nodes() {
		sqlDB, ok := n.SQLDB()
		if !ok {
			c.byNode.Delete(n)
			continue
		}
		stats, ok := c.byNode.Load(n)
		if !ok || stats.(poolStats).db != sqlDB {
			stats = poolStats{db: sqlDB, collector: collectors.NewDBStatsCollector(sqlDB, n.Key())}
			c.byNode.Store(n, stats)
		}
		stats.(poolStats).collector.Collect(ch)
	}
}
