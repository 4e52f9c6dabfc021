package observe

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/grant-go/grant/internal/callbacks"
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

// Metrics is grant's Prometheus instrumentation of one topology. Observe
// (a callbacks.Observer) counts and times statements by route when
// MetricsConfig.Enabled; Collectors returns everything for the user to
// register on a registry of their own.
type Metrics struct {
	enabled    bool
	tableLabel bool

	statements *prometheus.CounterVec   // database, shard, role, operation, outcome [, table]
	duration   *prometheus.HistogramVec // database, shard, role, operation [, table]
	fanout     *prometheus.HistogramVec // database

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
	ok, failed, refused   prometheus.Counter
	nOK, nFailed, nRefuse atomic.Uint64 // RouteCounts, without reading the counters back
	duration              prometheus.Observer
	fanout                prometheus.Observer // nil unless the route is a scatter (shard "*")
}

// NewMetrics returns the metrics of topology (which may be nil before a
// topology exists: then only route metrics are collected).
func NewMetrics(cfg topology.MetricsConfig, top *topology.Topology) *Metrics {
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
	m.statements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "statements_total",
		Help: "Statements grant routed, by route, operation and outcome (ok, error, refused).",
	}, append(append([]string{}, labels...), "outcome"))
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "statement_duration_seconds",
		Help:    "Time statements took, by route and operation (refused statements excluded).",
		Buckets: DurationBuckets,
	}, labels)
	m.fanout = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "scatter_fanout",
		Help:    "Shards each scatter-gather statement ran on, by cluster.",
		Buckets: FanoutBuckets,
	}, []string{"database"})
	m.health = newHealthCollector(ns, top)
	m.pools = newPoolCollector(ns, top)
	return m
}

// Collectors returns the collectors to register: the route metrics when
// MetricsConfig.Enabled, and always replica health (grant_node_healthy,
// grant_node_lag_seconds) and the database/sql statistics of every opened
// pool (go_sql_* with db_name "database/role/node", or
// "cluster/shard/role/node" for a shard). The pool collector is unchecked:
// its Describe sends nothing because pools open lazily.
func (m *Metrics) Collectors() []prometheus.Collector {
	cs := []prometheus.Collector{m.health, m.pools}
	if m.enabled {
		cs = append(cs, m.statements, m.duration, m.fanout)
	}
	return cs
}

// Observe implements callbacks.Observer. It does nothing unless
// MetricsConfig.Enabled, and does not allocate once a route has been seen.
func (m *Metrics) Observe(_ context.Context, o *callbacks.Observation) {
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
	with := func(outcome string) prometheus.Counter {
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
// databases), summed over tables; outcomes never seen are absent.
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
	topology     *topology.Topology
	healthy, lag *prometheus.Desc
}

func newHealthCollector(ns string, top *topology.Topology) *healthCollector {
	labels := []string{"database", "shard", "role", "node"}
	return &healthCollector{
		topology: top,
		healthy: prometheus.NewDesc(prometheus.BuildFQName(ns, "node", "healthy"),
			"1 when the node is in rotation (always 1 without health checks), else 0.", labels, nil),
		lag: prometheus.NewDesc(prometheus.BuildFQName(ns, "node", "lag_seconds"),
			"Replication lag the last health check measured; absent while unknown.", labels, nil),
	}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.lag
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	if c.topology == nil {
		return
	}
	for _, n := range c.topology.Nodes() {
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
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, healthy, database, shard, n.Role(), n.Name())
		if h.LagKnown {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, h.Lag.Seconds(), database, shard, n.Role(), n.Name())
		}
	}
}

// poolCollector reports how many pools are open, were opened and were
// evicted (Config.MaxOpenPools), and delegates to one
// collectors.NewDBStatsCollector per open pool, made the first time a
// scrape finds that pool open (an evicted node's next pool gets a new one).
type poolCollector struct {
	topology              *topology.Topology
	open, opened, evicted *prometheus.Desc
	byNode                sync.Map // *topology.Node → poolStats
}

// poolStats is the statistics collector of a node's current pool.
type poolStats struct {
	db        *sql.DB
	collector prometheus.Collector
}

func newPoolCollector(ns string, top *topology.Topology) *poolCollector {
	return &poolCollector{
		topology: top,
		open: prometheus.NewDesc(prometheus.BuildFQName(ns, "pools", "open"),
			"Node pools grant has open (the handle's own pool not counted).", nil, nil),
		opened: prometheus.NewDesc(prometheus.BuildFQName(ns, "pools", "opened_total"),
			"Node pools grant has opened, reopenings after eviction included.", nil, nil),
		evicted: prometheus.NewDesc(prometheus.BuildFQName(ns, "pools", "evicted_total"),
			"Idle node pools closed to stay within max_open_pools.", nil, nil),
	}
}

// Describe sends nothing: the pools, and so the descriptors (whose db_name
// const label names the pool), are not known until they open. That makes
// the collector unchecked, which every registry accepts.
func (c *poolCollector) Describe(chan<- *prometheus.Desc) {}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	if c.topology == nil {
		return
	}
	counts := c.topology.PoolCounts()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(counts.Open))
	ch <- prometheus.MustNewConstMetric(c.opened, prometheus.CounterValue, float64(counts.Opened))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(counts.Evicted))
	for _, n := range c.topology.Nodes() {
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
