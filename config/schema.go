package config

import (
	"errors"
	"fmt"
	"github.com/grant-go/grant/internal/dsnredact"
	"reflect"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// The file's shape, as Go types the YAML library decodes into. Keys are
// the yaml tags, in the order error messages list them. Values are kept as
// nodes (value): they are expanded (${VAR}) and converted (integers,
// durations, names) after decoding, since a variable may stand for a
// number as well as for a DSN, and the node keeps the value's line.

type fileDoc struct {
	Default             value                  `yaml:"default"`
	TraceRoutes         value                  `yaml:"trace_routes"`
	Policy              value                  `yaml:"policy"`
	Tables              map[string]value       `yaml:"tables"`
	Databases           map[string]databaseDoc `yaml:"databases"`
	Clusters            map[string]clusterDoc  `yaml:"clusters"`
	Health              healthDoc              `yaml:"health"`
	Consistency         consistencyDoc         `yaml:"consistency"`
	MaxDistinctValues   value                  `yaml:"max_distinct_values"`
	StrictPreventWrites value                  `yaml:"strict_prevent_writes"`
	MaxOpenPools        value                  `yaml:"max_open_pools"`
	Reshard             *reshardDoc            `yaml:"reshard"`
}

type reshardDoc struct {
	PollInterval value `yaml:"poll_interval"`
	Lease        value `yaml:"lease"`
	FreezeWait   value `yaml:"freeze_wait"`
	Instance     value `yaml:"instance"`
}

// sectionDoc is what databases and shards share: the writer (short form
// dsn and password_file, or writer), replicas, custom roles, pool, policy.
type sectionDoc struct {
	DSN          value                `yaml:"dsn"`
	PasswordFile value                `yaml:"password_file"`
	Writer       *nodeDoc             `yaml:"writer"`
	Replicas     []nodeDoc            `yaml:"replicas"`
	Roles        map[string][]nodeDoc `yaml:"roles"`
	Pool         poolDoc              `yaml:"pool"`
	Policy       value                `yaml:"policy"`
}

type databaseDoc struct {
	Adapter         value `yaml:"adapter"`
	sectionDoc      `yaml:",inline"`
	Migrations      value      `yaml:"migrations"`
	MigrationsTable value      `yaml:"migrations_table"`
	MigrationsDSN   value      `yaml:"migrations_dsn"`
	Tasks           value      `yaml:"tasks"`
	Health          *healthDoc `yaml:"health"`
}

type clusterDoc struct {
	Adapter         value                  `yaml:"adapter"`
	Pool            poolDoc                `yaml:"pool"`
	Policy          value                  `yaml:"policy"`
	Migrations      value                  `yaml:"migrations"`
	MigrationsTable value                  `yaml:"migrations_table"`
	Tasks           value                  `yaml:"tasks"`
	Health          *healthDoc             `yaml:"health"`
	ShardKeys       map[string]shardKeyDoc `yaml:"shard_keys"`
	Shards          []shardDoc             `yaml:"shards"`
	MaxOpenPools    value                  `yaml:"max_open_pools"`
}

type shardDoc struct {
	Name          value `yaml:"name"`
	Pending       value `yaml:"pending"`
	sectionDoc    `yaml:",inline"`
	Health        *healthDoc `yaml:"health"`
	MigrationsDSN value      `yaml:"migrations_dsn"`
}

type nodeDoc struct {
	Name         value    `yaml:"name"`
	DSN          value    `yaml:"dsn"`
	Adapter      value    `yaml:"adapter"`
	Weight       value    `yaml:"weight"`
	Pool         *poolDoc `yaml:"pool"`
	PasswordFile value    `yaml:"password_file"`
}

type poolDoc struct {
	MaxOpenConns    value `yaml:"max_open_conns"`
	MaxIdleConns    value `yaml:"max_idle_conns"`
	ConnMaxLifetime value `yaml:"conn_max_lifetime"`
	ConnMaxIdleTime value `yaml:"conn_max_idle_time"`
	CheckoutTimeout value `yaml:"checkout_timeout"`
}

type healthDoc struct {
	Interval           value            `yaml:"interval"`
	Timeout            value            `yaml:"timeout"`
	MaxReplicaLag      value            `yaml:"max_replica_lag"`
	RejoinAfter        value            `yaml:"rejoin_after"`
	FailWithoutReplica value            `yaml:"fail_without_replica"`
	ReadTimeout        value            `yaml:"read_timeout"`
	ReadTimeouts       map[string]value `yaml:"read_timeouts"`
}

type consistencyDoc struct {
	Mode       value `yaml:"mode"`
	Delay      value `yaml:"delay"`
	CausalWait value `yaml:"causal_wait"`
}

type shardKeyDoc struct {
	Column   value `yaml:"column"`
	Strategy value `yaml:"strategy"`
}

// value is a value as written: its node, for its text (expanded and
// converted by the builder) and its line. The YAML library hands the node
// over and decodes nothing (no new decoder, so its alias bound still
// counts the whole file); a null value leaves it nil, as an absent one.
type value struct{ node *yaml.Node }

// UnmarshalYAML keeps the node.
func (v *value) UnmarshalYAML(n *yaml.Node) error {
	v.node = n
	return nil
}

var valueType = reflect.TypeFor[value]()

// listNouns name what a list holds, for "expected a list of …".
var listNouns = map[reflect.Type]string{
	reflect.TypeFor[nodeDoc]():  "nodes (" + strings.Join(keysOf(reflect.TypeFor[nodeDoc]()), ", ") + ")",
	reflect.TypeFor[shardDoc](): "shards",
}

// decode checks the document's shape against fileDoc (shapes) and then has
// the YAML library decode it (decodeInto).
// It also returns the key paths written with a null value, which decoding
// cannot tell from absent ones.
func decode(file string, root *yaml.Node, idx *index) (*fileDoc, map[string]bool, error) {
	var d fileDoc
	s := &shapes{file: file, done: map[shapeVisit]bool{}, open: map[*yaml.Node]bool{}, nulls: map[string]bool{}}
	if err := s.check("", root, reflect.TypeOf(d)); err != nil {
		return nil, nil, err
	}
	if err := decodeInto(file, root, idx, &d); err != nil {
		return nil, nil, err
	}
	return &d, s.nulls, nil
}

// decodeInto has the YAML library decode root into v in one call, so that
// its bound on alias expansion (a "billion laughs" file fails fast with
// "document contains excessive aliasing") covers the whole file. shapes
// has checked everything else the library could refuse. The library's
// error carries no position: it is located at the file's first alias,
// where the expansion starts.
func decodeInto(file string, root *yaml.Node, idx *index, v any) error {
	err := root.Decode(v)
	if err == nil {
		return nil
	}
	fe := &FileError{File: file, Line: 1}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		// Unreachable after shapes; its text may quote a value, so it is
		// not shown.
		fe.Problem = "the YAML library could not decode the file into grant's configuration"
	} else {
		fe.Problem = "the YAML library refused the file: " + strings.TrimPrefix(err.Error(), "yaml: ")
	}
	if a := firstAlias(root); a != nil {
		fe.Line, fe.Key = a.Line, idx.keyOn(a.Line, a.Column)
		fe.Problem += " (the file's first alias is on this line)"
	}
	return fe
}

// firstAlias is the alias written first in the document.
func firstAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n
	}
	var first *yaml.Node
	for _, c := range n.Content {
		if a := firstAlias(c); a != nil && (first == nil || a.Line < first.Line || a.Line == first.Line && a.Column < first.Column) {
			first = a
		}
	}
	return first
}

// shapes checks that a document has the shape of a Go type before the
// YAML library decodes it: mappings where structs and maps are, lists
// where slices are, only known keys in a struct's mapping, no key twice,
// keys that are plain strings, merge keys that name mappings, and no alias
// to a mapping or list that contains it. Each problem is reported with its
// key path and line, which the library's own errors (text only) lack.
// Values (value fields) are left to the builder.
//
// A node with an anchor is checked once for each type it is used as: a
// node reached again through an alias was checked where it is written, so
// the work is bounded by the size of the file, whatever the aliases expand
// to. (Nodes without an anchor are reached once: only aliases share.)
type shapes struct {
	file  string
	done  map[shapeVisit]bool
	open  map[*yaml.Node]bool // anchored nodes being checked, for cycles
	nulls map[string]bool     // key paths written with a null value
}

type shapeVisit struct {
	node *yaml.Node
	typ  reflect.Type
}

func (s *shapes) fail(line int, key, format string, args ...any) *FileError {
	return &FileError{File: s.file, Line: max(line, 1), Key: key, Problem: fmt.Sprintf(format, args...)}
}

func (s *shapes) check(path string, n *yaml.Node, t reflect.Type) error {
	if t == valueType {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		if s.open[n.Alias] {
			return s.fail(n.Line, path, "alias *%s names a mapping or list that contains it", n.Value)
		}
		n = n.Alias
	}
	if isNull(n) {
		return nil
	}
	if n.Anchor != "" {
		if s.done[shapeVisit{n, t}] {
			return nil
		}
		s.open[n] = true
		defer delete(s.open, n)
	}
	var err error
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		err = s.mapping(path, n, t)
	case reflect.Slice:
		err = s.list(path, n, t)
	}
	if err == nil && n.Anchor != "" {
		s.done[shapeVisit{n, t}] = true
	}
	return err
}

func (s *shapes) list(path string, n *yaml.Node, t reflect.Type) error {
	if n.Kind != yaml.SequenceNode {
		return s.fail(n.Line, path, "expected a list of %s, got %s", listNouns[t.Elem()], describe(n))
	}
	for i, item := range n.Content {
		if err := s.check(listItem(path, i), item, t.Elem()); err != nil {
			return err
		}
	}
	return nil
}

// mapping checks a mapping for a struct (known keys only) or a map (any
// keys), then the mappings its merge key names, as the same type.
func (s *shapes) mapping(path string, n *yaml.Node, t reflect.Type) error {
	var fields map[string]reflect.Type
	var allowed []string
	if t.Kind() == reflect.Struct {
		fields, allowed = fieldsOf(t)
	}
	if n.Kind != yaml.MappingNode {
		want := "a mapping"
		if allowed != nil {
			want += " (" + strings.Join(allowed, ", ") + ")"
		}
		return s.fail(n.Line, path, "expected %s, got %s", want, describe(n))
	}
	var merge *yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		written, v := n.Content[i], n.Content[i+1]
		k := resolve(written)
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" || k.ShortTag() == "!!binary" {
			return s.fail(written.Line, path, "keys must be plain strings, got %s", describe(k))
		}
		key := dsnredact.JoinKey(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			return s.fail(written.Line, key, "duplicate key %s (first at line %d)", dsnredact.Quote(k.Value), first)
		}
		seen[k.Value] = written.Line
		if isMerge(k) {
			merge = v
			continue
		}
		if isNull(v) {
			s.nulls[key] = true
		}
		var ft reflect.Type
		if fields != nil {
			var ok bool
			if ft, ok = fields[k.Value]; !ok {
				return s.fail(written.Line, key, "%s", unknownKey(k.Value, allowed))
			}
		} else {
			ft = t.Elem()
		}
		if err := s.check(key, v, ft); err != nil {
			return err
		}
	}
	if merge == nil {
		return nil
	}
	for _, src := range mergeSources(merge) {
		if src == nil || src.Kind != yaml.MappingNode {
			line := merge.Line
			if src != nil && src.Line > 0 {
				line = src.Line
			}
			return s.fail(line, dsnredact.JoinKey(path, "<<"), "a merge key takes a mapping or a list of mappings, got %s", describe(src))
		}
		if s.open[src] {
			return s.fail(merge.Line, dsnredact.JoinKey(path, "<<"), "a merge key names a mapping that contains it")
		}
		if err := s.check(path, src, t); err != nil {
			return err
		}
	}
	return nil
}

type structKeys struct {
	fields  map[string]reflect.Type
	allowed []string
}

var structKeysCache sync.Map // reflect.Type → structKeys

// fieldsOf returns a struct's keys (yaml tags, inline structs flattened)
// with their types, and the keys in order.
func fieldsOf(t reflect.Type) (map[string]reflect.Type, []string) {
	if k, ok := structKeysCache.Load(t); ok {
		return k.(structKeys).fields, k.(structKeys).allowed
	}
	k := structKeys{fields: map[string]reflect.Type{}}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if opts == "inline" {
				walk(f.Type)
				continue
			}
			k.fields[name] = f.Type
			k.allowed = append(k.allowed, name)
		}
	}
	walk(t)
	structKeysCache.Store(t, k)
	return k.fields, k.allowed
}

func keysOf(t reflect.Type) []string {
	_, allowed := fieldsOf(t)
	return allowed
}

// describe names what a node is, for "expected X, got Y" messages. Scalars
// are quoted through quoteValue, so a DSN written in the wrong place is
// printed without its password.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		return dsnredact.Quote(n.Value)
	}
	return "nothing"
}
