package scatter

import "strings"

// The planner knows functions by name. A function it does not know is
// refused wherever it appears in a select list, GROUP BY, HAVING or ORDER
// BY, because it might be a user-defined aggregate: sent to each shard it
// would aggregate each shard's rows alone.

// mergeable are the aggregates whose result the merge rebuilds exactly
// from per-shard results.
var mergeable = set("count sum min max avg")

// unmergeable are aggregates no per-shard result can rebuild (or that
// depend on row order).
var unmergeable = set(`string_agg group_concat array_agg json_agg jsonb_agg json_object_agg
	jsonb_object_agg json_arrayagg json_objectagg xmlagg listagg stddev stddev_pop stddev_samp std
	variance var_pop var_samp bit_and bit_or bit_xor bool_and bool_or every percentile_cont
	percentile_disc mode corr covar_pop covar_samp regr_avgx regr_avgy regr_count regr_intercept
	regr_r2 regr_slope regr_sxx regr_sxy regr_syy any_value range_agg range_intersect_agg total
	median grouping json_group_array json_group_object`)

// windowOnly are functions that exist only as window functions.
var windowOnly = set(`row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value
	last_value nth_value`)

// scalars are functions known to compute one value per row: the shards may
// evaluate them anywhere.
var scalars = set(`abs ceil ceiling floor round trunc truncate sign sqrt cbrt power pow exp ln log
	log10 log2 mod div greatest least coalesce nullif ifnull if iif nvl lower upper lcase ucase length
	char_length character_length octet_length bit_length concat concat_ws substring substr trim ltrim
	rtrim btrim replace left right lpad rpad reverse repeat position strpos instr locate extract
	date_trunc date_part to_char to_date to_timestamp to_number now current_date current_time
	current_timestamp localtime localtimestamp date time year month day dayofmonth dayofweek
	dayofyear weekday week hour minute second date_format strftime datetime julianday unixepoch
	md5 sha1 sha2 ascii chr char initcap split_part typeof quote hex unhex radians degrees pi sin cos
	tan asin acos atan atan2 cot random rand uuid gen_random_uuid format datediff timestampdiff
	date_add date_sub adddate subdate age justify_days make_date make_timestamp char_length
	format_type left right translate regexp_replace regexp_substr regexp_like quote_ident
	quote_literal to_hex bit_count length2 unicode zeroblob printf glob likely unlikely nullifzero
	cast convert`)

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// textPreserving are scalar functions whose text result takes the
// collation of their (first text) argument.
var textPreserving = set(`lower upper lcase ucase trim ltrim rtrim btrim substring substr left right
	replace lpad rpad reverse repeat initcap coalesce nullif ifnull nvl concat concat_ws min max
	translate`)
