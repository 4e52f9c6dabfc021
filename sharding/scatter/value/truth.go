package value

// Truth is a value's truth as WHERE and HAVING take it: known is false for
// NULL; a boolean is itself; a number is true when it is not zero (as
// MySQL and SQLite take numbers), a MySQL decimal by all the digits it
// holds (1/100000 is true, although it shows 0.0000). Values of other kinds report known
// false: use TruthOf, which fails for them.
func Truth(v Value) (value, known bool) {
	if v.IsNull() {
		return false, false
	}
	switch v.typ.Kind {
	case KindBool, KindInt:
		return v.i != 0, true
	case KindDecimal:
		return !v.d.isZero(), true
	case KindFloat:
		return v.f != 0, true
	}
	return false, false
}

// TruthOf is Truth with the dialect's rules for what may stand as a
// condition: PostgreSQL accepts only booleans (and NULL); MySQL and SQLite
// also numbers. Anything else fails with ErrUnsupported (PostgreSQL would
// reject the statement; MySQL and SQLite would convert text to a number).
func TruthOf(env Env, v Value) (value, known bool, err error) {
	k := v.typ.Kind
	switch {
	case v.IsNull():
		return false, false, nil
	case k == KindBool, env.Dialect != Postgres && isNumber(env, v) && env.Dialect != 0:
		value, known = Truth(v)
		return value, known, nil
	}
	return false, false, unsupported("a %s value as a %s condition", k, env.Dialect)
}
