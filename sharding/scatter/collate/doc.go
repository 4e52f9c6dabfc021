// Package collate compares text exactly as a database does under a column's
// collation, so that a merge of several shards' answers orders, groups,
// deduplicates and takes MIN/MAX of text as one database holding every row
// would.
//
// A Collation is either native — Compare and Key are implemented in Go and
// have been verified against the server on a corpus of several thousand
// strings — or it is not, and values must be ranked through the database
// itself with Rank (one statement for any number of values). Nothing here
// guesses: a collation that is not known to be reproduced exactly is not
// native.
//
// Native collations:
//
//	postgres  "C", "POSIX", "ucs_basic", libc "C.UTF-8"/"C.utf8", builtin
//	          "C"/"C.UTF-8" (all byte order, which is code point order for
//	          UTF-8; libc C.UTF-8 is glibc's code point order, verified on
//	          glibc 2.36); on char(n)/bpchar trailing spaces are ignored
//	mysql     "binary", utf8mb4_bin and utf8mb3_bin (PAD SPACE),
//	          utf8mb4_nopad_bin and utf8mb3_nopad_bin (bytes),
//	          utf8mb4_general_ci, utf8mb3_general_ci (PAD SPACE) and their
//	          _general_nopad_ci forms, from a weight table measured on the
//	          server (internal/gen)
//	sqlite    BINARY, NOCASE (ASCII case folding), RTRIM
//
// Everything else — ICU and libc locale collations, nondeterministic
// collations, MariaDB's unicode and 8-bit collations, SQLite collations an
// application registered — is ranked through the database.
//
// LoadTable reads which collation each column of a table has from the
// catalog; Lookup resolves the name of an explicit COLLATE clause.
package collate
