package route

import (
	"fmt"
	"strings"

	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/topology"
)

// Target is where a statement's database is, before shards and roles.
type Target struct {
	// Conn is the statement's connection: scope over context over model.
	Conn topology.Connection
	// Explicit: the database was named (scope, context, model, table
	// mapping) rather than defaulted; inside a transaction only an explicit
	// database can conflict with the transaction's.
	Explicit bool
	// Database is the unsharded database, nil for a cluster.
	Database *topology.Database
	// Cluster is the cluster, nil for an unsharded database.
	Cluster *topology.Cluster
	// Placement is Cluster's placement, loaded once for the statement by
	// the caller after Resolve: keys map over its Read or Write shards,
	// AllShards reads go to its Read shards, updates and deletes to its
	// Write shards.
	Placement *topology.ShardPlacement
}

// Resolve applies the precedence scope → context → model → table mapping
// → default to find the statement's database or cluster, into target. The
// caller then gathers the shard key values when the statement's model is
// keyed in target.Cluster, and calls Decide. Resolve allocates nothing on
// the way to a target.
func Resolve(f *Facts, t *topology.Topology, target *Target) error {
	conn := &target.Conn
	switch {
	case f.Scope != nil && f.Context != nil:
		*conn = f.Scope.Over(*f.Context)
	case f.Scope != nil:
		*conn = *f.Scope
	case f.Context != nil:
		*conn = *f.Context
	}
	if f.Scope != nil && f.Scope.Shard == topology.AllShards && f.Kind.Has(Raw) {
		// Raw SQL names its tables in text: grant cannot plan it across
		// shards, and must not quietly run it on one database instead.
		refusal := &scatter.Refusal{Reason: scatter.ReasonRawSQL, Detail: "grant.AllShards scatters builder queries, not raw SQL",
			Hint: "use GORM's builder, or run the SQL on each shard with grant.Shard(name)"}
		return &topology.RouteError{Err: topology.ErrSpansShards, Detail: refusal.Error(), Cause: refusal}
	}
	target.Explicit = conn.Database != ""
	if m := f.Model; m != nil {
		if m.Err != nil {
			return m.Err
		}
		if m.Conn != (topology.Connection{}) {
			*conn = conn.Over(m.Conn)
		}
		// A builder statement's model says where its rows live, even when it
		// declares nothing (the default database). Raw SQL's model is only
		// its destination (Raw(...).Find(&dto)): it counts if it declares.
		target.Explicit = target.Explicit || !f.Kind.Has(Raw) || m.Conn.Database != ""
	}
	if conn.Database == "" && t.HasTableMappings() {
		if d := t.ForTable(f.Table); d != nil {
			target.Explicit, target.Database = true, d
			return nil
		}
		if c := t.ClusterForTable(f.Table); c != nil {
			target.Explicit, target.Cluster = true, c
			return nil
		}
	}
	if conn.Database == "" {
		target.Database = t.Default()
		return nil
	}
	if c, ok := t.Cluster(conn.Database); ok {
		target.Explicit, target.Cluster = true, c
		return nil
	}
	var err error
	target.Database, err = t.Database(conn.Database)
	return err
}

// Decision is where a statement goes: a plain value, applied by the caller.
type Decision struct {
	// Database is the database or shard the statement runs on: the first
	// shard of Shards or of a split create.
	Database *topology.Database
	// Shards, when set, are the shards a read is scattered to, or an
	// update or delete under AllShards runs on.
	Shards []*topology.Database
	// Split: a create whose rows belong to several shards (Keys.Each says
	// which), each shard's part inserted in a transaction of its own.
	Split bool
	// Role and PreventWrites: the role the statement takes, and whether
	// writes are refused on its route. Asked: the role was asked for (a
	// scope or the context), not chosen by the statement's kind.
	Role          string
	PreventWrites bool
	Asked         bool
	// Explicit: see Target.Explicit.
	Explicit bool
	// AssignIDs: the created rows get IDs encoding Database's shard.
	AssignIDs bool
	// CheckSubqueries: the shard was chosen by the key values and the WHERE
	// holds more than the key condition, so a subquery in it must be proven
	// co-located before the statement runs there.
	CheckSubqueries bool
	// Defer: inside a transaction not begun yet, a session-control
	// statement (SAVEPOINT) is kept for replay after BEGIN.
	Defer bool
	// Begin: inside a transaction not begun yet, BEGIN on Database's
	// writer first.
	Begin bool
}

// Route is the decision as logs and errors show it.
func (d *Decision) Route(f *Facts) topology.Route {
	r := topology.Route{Role: d.Role, PreventWrites: d.PreventWrites, InTransaction: f.Tx.State != NoTx}
	if d.Database != nil {
		r.Database, r.Shard = d.Database.Name(), d.Database.Shard()
	}
	if d.Shards != nil {
		r.Shard = topology.AllShards
	}
	return r
}

// Decide decides where the statement goes, within target (see Resolve). It
// has no side effects and allocates nothing unless it fails or scatters;
// errors are *topology.RouteError values wrapping one of grant's sentinels,
// and mean nothing may be sent.
func Decide(f *Facts, target *Target) (Decision, error) {
	if target.Cluster != nil && target.Placement == nil {
		t := *target
		t.Placement = t.Cluster.Placement()
		target = &t
	}
	d := Decision{Explicit: target.Explicit, Database: target.Database}
	if target.Cluster != nil {
		if err := decideShard(f, target, &d); err != nil {
			return d, err
		}
	}
	if err := checkLock(f, &d); err != nil {
		return d, err
	}
	switch f.Tx.State {
	case NoTx:
		return d, outside(f, &target.Conn, &d)
	case Pinned:
		return d, pinned(f, &target.Conn, &d)
	}
	return d, inLazy(f, &target.Conn, &d)
}

// decideShard picks the shard or shards of the target's cluster.
func decideShard(f *Facts, target *Target, d *Decision) error {
	c := target.Cluster
	d.Explicit = true
	k := &f.Keys
	switch shard := target.Conn.Shard; shard {
	case topology.AllShards:
		d.Shards = placed(f, target.Placement)
		d.Database = d.Shards[0]
		if err := everyShard(f, d); err != nil {
			return err
		}
		return clean(target.Placement, d.Shards, nil)
	case "":
		reads := !f.Kind.Has(Writes) && !f.Kind.Has(WantsWriter)
		if reads && f.Inherit != nil && f.Inherit.Cluster() == c && !(k.Declared && k.FromWhere) {
			d.Database = f.Inherit // a co-located preload runs where its parent ran
			return nil
		}
		if k.Declared {
			return byKey(f, c, target.Placement, d)
		}
		return keyMissing(f, c)
	default:
		named, err := c.Shard(shard)
		if err != nil {
			return err
		}
		d.Database = named
		if k.Declared {
			if err := agreeWith(f, c, named); err != nil {
				return err
			}
			d.AssignIDs = f.Kind.Has(Create) && f.Model != nil && f.Model.IDs
		}
		return nil
	}
}

func found(k *Keys) bool { return k.One || k.Shards != nil }

// placed are the shards a statement on every shard runs on: the
// placement's Write shards for an update or delete, its Read shards for a
// read.
func placed(f *Facts, p *topology.ShardPlacement) []*topology.Database {
	if f.Kind.Has(Writes) {
		return p.WriteShards()
	}
	return p.ReadShards()
}

// clean refuses a statement on several shards (dbs, or the configured
// indexes) when the placement says some of them hold rows that are not
// theirs mid-reshard.
func clean(p *topology.ShardPlacement, dbs []*topology.Database, indexes []int) error {
	if p.Plain() {
		return nil
	}
	for _, d := range dbs {
		indexes = append(indexes, d.Index())
	}
	if unclean := p.UncleanAmong(indexes); len(unclean) > 0 {
		return &topology.ReshardInProgressError{Cluster: p.Cluster().Name(), Workflow: p.Workflow(), Shards: unclean}
	}
	return nil
}

// byKey routes by the key values (or IDs) the caller found.
func byKey(f *Facts, c *topology.Cluster, p *topology.ShardPlacement, d *Decision) error {
	k := &f.Keys
	if k.Err != nil {
		return k.Err
	}
	writes := f.Kind.Has(Writes) || f.Kind.Has(WantsWriter)
	switch {
	case !found(k):
		if f.Model != nil && f.Model.ScatterReads && !writes {
			d.Shards = p.ReadShards()
			d.Database = d.Shards[0]
			if err := everyShard(f, d); err != nil {
				return err
			}
			return clean(p, d.Shards, nil)
		}
		return keyMissing(f, c)
	case f.Kind.Has(Create) && k.Shards != nil:
		d.Split, d.Database = true, c.ShardAt(k.Shards[0])
		return clean(p, nil, k.Shards)
	case k.Shards != nil && writes:
		names := make([]string, len(k.Shards))
		for i, s := range k.Shards {
			names[i] = c.ShardNames()[s]
		}
		what := fmt.Sprintf("shard key %q values", keyColumn(f))
		if k.ByID {
			what = "the primary keys"
		}
		return &topology.RouteError{Err: topology.ErrSpansShards, Route: topology.Route{Database: c.Name()},
			Detail: fmt.Sprintf("%s belong to shards %s; a write goes to one shard (grant.AllShards runs an update or delete on every shard)", what, strings.Join(names, ", "))}
	case k.Shards != nil:
		d.Shards = make([]*topology.Database, len(k.Shards))
		for i, s := range k.Shards {
			d.Shards[i] = c.ShardAt(s)
		}
		d.Database = d.Shards[0]
		if err := everyShard(f, d); err != nil {
			return err
		}
		return clean(p, nil, k.Shards)
	}
	d.Database = c.ShardAt(k.Shard)
	if f.Kind.Has(Update) && k.Assigns && k.Assigned != k.Shard {
		return keyChange(f, c, k.Shard, k.Assigned)
	}
	d.AssignIDs = f.Kind.Has(Create) && f.Model != nil && f.Model.IDs
	d.CheckSubqueries = !k.OnlyKey && !f.Kind.Has(Create)
	return nil
}

// agreeWith refuses key values that map elsewhere than the named shard: a
// created row would sit where reads by its key never look, a read or write
// by key would miss its rows. Without key values the named shard stands.
func agreeWith(f *Facts, c *topology.Cluster, named *topology.Database) error {
	k := &f.Keys
	if k.Err != nil {
		return k.Err
	}
	want := named.Index()
	at, i := -1, 0
	switch {
	case k.Each != nil:
		for i = range k.Each {
			if k.Each[i] != want {
				at = k.Each[i]
				break
			}
		}
	case k.One && k.Shard != want:
		at = k.Shard
	}
	if at >= 0 {
		where := "the statement filters on"
		if f.Kind.Has(Create) {
			where = fmt.Sprintf("row %d has", i)
		}
		var value any = k.Key
		if i < len(k.Values) {
			value = k.Values[i]
		}
		return &topology.RouteError{Err: topology.ErrShardMismatch, Route: topology.Route{Database: c.Name(), Shard: named.Shard()},
			Detail: fmt.Sprintf("shard %q is named, but %s %q = %v belongs on shard %q; drop the named shard and let the key route, or fix the key",
				named.Shard(), where, keyColumn(f), value, c.ShardNames()[at])}
	}
	if f.Kind.Has(Update) && k.Assigns && k.Assigned != want {
		return keyChange(f, c, want, k.Assigned)
	}
	return nil
}

// everyShard checks a statement for several shards: builder reads
// scatter, updates and deletes fan out under AllShards; creates, locking
// reads and raw SQL do not, and an update on every shard cannot change the
// key.
func everyShard(f *Facts, d *Decision) error {
	refuse := func(reason scatter.Reason, why, hint string) error {
		refusal := &scatter.Refusal{Reason: reason, Detail: why, Hint: hint}
		return &topology.RouteError{Err: topology.ErrSpansShards, Route: topology.Route{Database: d.Database.Name(), Shard: topology.AllShards},
			Detail: refusal.Error(), Cause: refusal}
	}
	switch {
	case f.Kind.Has(FanOut) && f.Kind.Has(Update) && f.Keys.Assigns:
		return refuse(scatter.ReasonClause, "an update on every shard cannot change the shard key", "")
	case f.Kind.Has(FanOut):
	case f.Kind.Has(Writes) || f.Kind.Has(WantsWriter):
		return refuse(scatter.ReasonClause, "a create goes to its rows' shard, and locking reads to one shard",
			"only updates and deletes run on every shard (grant.AllShards)")
	case f.Kind.Has(Raw):
		return refuse(scatter.ReasonRawSQL, "grant plans builder queries, not raw SQL",
			"use GORM's builder (Select, Where, Group, Order…), or run the SQL on one shard with grant.Shard")
	}
	return nil
}

// checkLock refuses a decision that leaves the shard the request is locked
// to (grant.LockShard): another shard of a cluster, or several.
func checkLock(f *Facts, d *Decision) error {
	if !f.Locked || d.Database == nil || d.Database.Cluster() == nil {
		return nil
	}
	if d.Shards == nil && !d.Split && d.Database.Shard() == f.Lock {
		return nil
	}
	target := d.Database.Shard()
	if d.Shards != nil || d.Split {
		target = "several shards"
	}
	return &topology.RouteError{Err: topology.ErrShardLocked, Route: topology.Route{Database: d.Database.Name(), Shard: d.Database.Shard()},
		Detail: fmt.Sprintf("the request is locked to shard %q; the statement goes to %s", f.Lock, target)}
}

// outside decides the role of a statement outside any transaction.
func outside(f *Facts, conn *topology.Connection, d *Decision) error {
	switch {
	case conn.Role != "":
		d.Role, d.Asked = conn.Role, true
	case f.Kind.Has(WantsWriter):
		d.Role = topology.Writing
	default:
		d.Role = topology.Reading
	}
	d.PreventWrites = conn.PreventWrites || d.Role == topology.Reading
	if f.Kind.Has(Writes) && d.PreventWrites {
		return readOnly(d.Route(f))
	}
	return nil
}

// inLazy decides a statement inside a transaction grant begins lazily: the
// first statement that chooses a database begins it there; later ones must
// agree; all take the writing role.
func inLazy(f *Facts, conn *topology.Connection, d *Decision) error {
	d.Role = topology.Writing
	d.PreventWrites = conn.PreventWrites
	if d.Shards != nil || d.Split {
		return spanning(d.Route(f))
	}
	switch {
	case f.Tx.State == Unbegun && f.Kind.Has(SessionControl) && !d.Explicit:
		d.Defer = true
		return nil
	case f.Tx.State == Begun && d.Explicit && d.Database != f.Tx.Database:
		return crossTransaction(d.Route(f), d.Database, f.Tx.Database)
	case f.Kind.Has(Writes) && d.PreventWrites:
		return readOnly(d.Route(f))
	case f.Tx.State == Unbegun:
		d.Begin = true
	default:
		d.Database = f.Tx.Database // unnamed statements follow the transaction
	}
	return nil
}

// pinned decides a statement on a transaction or connection grant did not
// begin: nothing moves; it must belong there and may not write under
// prevention.
func pinned(f *Facts, conn *topology.Connection, d *Decision) error {
	d.Role = topology.Writing
	d.PreventWrites = conn.PreventWrites
	if d.Shards != nil || d.Split {
		return spanning(d.Route(f))
	}
	if n := f.Tx.Node; n != nil {
		if d.Explicit && d.Database != n.Owner() {
			return crossTransaction(d.Route(f), d.Database, n.Owner())
		}
		d.Role = n.Role()
	}
	if f.Kind.Has(Writes) && (d.PreventWrites || d.Role == topology.Reading) {
		d.PreventWrites = true
		return readOnly(d.Route(f))
	}
	return nil
}
