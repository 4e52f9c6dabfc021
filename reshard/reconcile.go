package reshard

import (
	"context"
	"fmt"
)

// placements is a direction: auth is authoritative (the application
// writes there), mirror is kept equal to it for the rows whose shard
// differs between the two.
type placements struct {
	auth, mirror []string
}

func (w *Workflow) direction(r *record) (placements, bool) {
	switch r.Direction {
	case forward:
		return placements{auth: r.From, mirror: r.To}, true
	case reverse:
		return placements{auth: r.To, mirror: r.From}, true
	}
	return placements{}, false
}

// reconcile makes the mirror agree with the authoritative placement for
// the rows of t with these primary keys. It reads each key on every shard
// of both placements and writes only where they differ, so it is
// idempotent, order-free and safe to repeat: the change streams only say
// which rows to look at.
//
// A row is authoritative on shard X when the authoritative placement maps
// its key to X; it belongs, mirrored, on the shard the mirror placement
// maps it to when that is another shard. A row on shard Y is a mirror copy
// when the mirror placement maps its key to Y and the authoritative one
// does not; a mirror copy with no authoritative row behind it is deleted.
// Rows that are neither are left alone: they are not the workflow's.
func (w *Workflow) reconcile(ctx context.Context, t *table, dir placements, pks [][]string) (written int, err error) {
	if len(pks) == 0 {
		return 0, nil
	}
	shards := union(dir.auth, dir.mirror)
	type found struct {
		row  []any
		hash uint64
	}
	// on[shard][pk] is the row with that primary key on that shard.
	on := make(map[string]map[string]found, len(shards))
	for _, name := range shards {
		rows, err := rowsByPK(ctx, w.shards[name].db, w.d, t, pks)
		if err != nil {
			return 0, fmt.Errorf("reading %s on shard %q: %w", t.Name, name, err)
		}
		m := make(map[string]found, len(rows))
		for _, row := range rows {
			m[pkString(t.pkText(row))] = found{row: row, hash: rowHash(row)}
		}
		on[name] = m
	}
	upserts := map[string][][]any{}
	deletes := map[string][][]any{}
	// Every primary key seen on any shard, whatever text form the
	// capture gave it in.
	seen := map[string]bool{}
	for _, name := range shards {
		for pk := range on[name] {
			seen[pk] = true
		}
	}
	for pk := range seen {
		want := map[string]found{} // shard → the copy it must hold
		for _, x := range shards {
			f, ok := on[x][pk]
			if !ok {
				continue
			}
			key, err := t.key(f.row)
			if err != nil {
				return 0, fmt.Errorf("%s (%s) on shard %q: %w", t.Name, pk, x, err)
			}
			home, err := w.home(ctx, t, dir.auth, key)
			if err != nil {
				return 0, err
			}
			if home != x {
				continue
			}
			dest, err := w.home(ctx, t, dir.mirror, key)
			if err != nil {
				return 0, err
			}
			if dest != x {
				want[dest] = f
			}
		}
		for _, y := range shards {
			f, ok := on[y][pk]
			if !ok {
				continue
			}
			key, err := t.key(f.row)
			if err != nil {
				return 0, fmt.Errorf("%s (%s) on shard %q: %w", t.Name, pk, y, err)
			}
			mirrorHome, err := w.home(ctx, t, dir.mirror, key)
			if err != nil {
				return 0, err
			}
			authHome, err := w.home(ctx, t, dir.auth, key)
			if err != nil {
				return 0, err
			}
			if mirrorHome != y || authHome == y {
				continue // not a mirror copy
			}
			if _, wanted := want[y]; !wanted {
				deletes[y] = append(deletes[y], t.pkValues(f.row))
			}
		}
		for y, f := range want {
			if have, ok := on[y][pk]; ok && have.hash == f.hash {
				continue
			}
			upserts[y] = append(upserts[y], f.row)
		}
	}
	for y, rows := range upserts {
		if err := upsertRows(ctx, w.shards[y].db, w.d, t, rows); err != nil {
			return written, fmt.Errorf("writing %s to shard %q: %w", t.Name, y, err)
		}
		written += len(rows)
	}
	for y, keys := range deletes {
		n, err := deleteRows(ctx, w.shards[y].db, w.d, t, keys)
		if err != nil {
			return written, fmt.Errorf("deleting %s from shard %q: %w", t.Name, y, err)
		}
		written += int(n)
	}
	return written, nil
}
