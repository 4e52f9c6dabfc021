package reshard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// maxIdent is MariaDB's limit on a trigger (and table) name, in characters.
const maxIdent = 64

// triggerEvents are the three row events a table's triggers capture, with
// the suffix each trigger's name ends with.
var triggerEvents = []struct{ event, suffix string }{
	{"INSERT", "ins"},
	{"UPDATE", "upd"},
	{"DELETE", "del"},
}

// triggerName derives a trigger's name from the workflow, the table and the
// event, so that Install finds (and replaces) the trigger an earlier call
// made. When the plain name would pass MariaDB's limit the table part is
// shortened and a hash of the whole table name keeps distinct tables apart.
func triggerName(name, table, suffix string) string {
	plain := name + "_" + table + "_" + suffix
	if len(plain) <= maxIdent {
		return plain
	}
	sum := sha256.Sum256([]byte(table))
	h := hex.EncodeToString(sum[:4])
	// name + "_" + table[:n] + "_" + h + "_" + suffix
	n := maxIdent - len(name) - len(h) - len(suffix) - 3
	if n < 0 {
		n = 0
	}
	t := table
	if len(t) > n {
		t = t[:n]
	}
	return name + "_" + t + "_" + h + "_" + suffix
}

// quoteIdent quotes a MariaDB identifier with backticks.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// quoteString makes a MariaDB string literal that means s whatever the
// session's sql_mode says about backslashes: NO_BACKSLASH_ESCAPES would
// otherwise turn an escaped quote into the end of the literal.
func quoteString(s string) string {
	if strings.ContainsAny(s, "\\\x00\n\r\x1a") {
		return "X'" + hex.EncodeToString([]byte(s)) + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// pkColumn is one primary-key column and how its value becomes text.
type pkColumn struct {
	name   string
	binary bool // bytes, not characters: logged as {"hex": HEX(value)}
}

// textTypes are the column types whose CAST to utf8mb4 CHAR is text the
// server parses back to the same value, so a Change's PK can be bound as a
// query parameter. FLOAT/DOUBLE (lossy), TIMESTAMP (its text depends on the
// writing session's time_zone) and BIT are left out on purpose.
var textTypes = map[string]bool{
	"tinyint": true, "smallint": true, "mediumint": true, "int": true, "bigint": true,
	"decimal": true,
	"char":    true, "varchar": true, "tinytext": true, "text": true, "mediumtext": true, "longtext": true,
	"enum": true, "set": true,
	"date": true, "datetime": true, "time": true, "year": true,
	"uuid": true, "inet4": true, "inet6": true,
}

// binaryTypes hold bytes that need not be valid in any character set.
var binaryTypes = map[string]bool{
	"binary": true, "varbinary": true, "tinyblob": true, "blob": true, "mediumblob": true, "longblob": true,
}

// pkExpr is the JSON_ARRAY the triggers log for row (NEW or OLD).
func pkExpr(row string, cols []pkColumn) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		v := row + "." + quoteIdent(c.name)
		if c.binary {
			parts[i] = "JSON_OBJECT('hex', HEX(" + v + "))"
		} else {
			parts[i] = "CAST(" + v + " AS CHAR CHARACTER SET utf8mb4)"
		}
	}
	return "JSON_ARRAY(" + strings.Join(parts, ", ") + ")"
}

// changelogInsert is how every trigger body's insert starts; Uninstall and
// Install recognise a capture's triggers by it.
func changelogInsert(changelog string) string {
	return "INSERT INTO " + quoteIdent(changelog) + " "
}

// triggerSQL is the CREATE OR REPLACE TRIGGER statement for one event.
// The insert into changelog is what Uninstall recognises its triggers by.
func triggerSQL(trigger, changelog, table, event string, cols []pkColumn) string {
	ins := changelogInsert(changelog) + "(tbl, pk) VALUES (" + quoteString(table) + ", "
	var body string
	switch event {
	case "INSERT":
		body = ins + pkExpr("NEW", cols) + ")"
	case "DELETE":
		body = ins + pkExpr("OLD", cols) + ")"
	default:
		// The old key is logged only when its text changed: byte-wise, so a
		// change a case-insensitive collation calls equal still names both.
		newPK, oldPK := pkExpr("NEW", cols), pkExpr("OLD", cols)
		body = "BEGIN " + ins + newPK + "); " +
			"IF CAST(" + oldPK + " AS BINARY) <> CAST(" + newPK + " AS BINARY) THEN " +
			ins + oldPK + "); END IF; END"
	}
	return "CREATE OR REPLACE TRIGGER " + quoteIdent(trigger) + " AFTER " + event +
		" ON " + quoteIdent(table) + " FOR EACH ROW " + body
}

// errBadPK is wrapped by errors about a changelog pk Read cannot decode.
var errBadPK = errors.New("malformed changelog pk")

// decodePK turns a changelog pk back into a Change's PK: a JSON string is
// the value's text, {"hex": ...} a binary value's bytes.
func decodePK(s string) ([]string, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("%w %q: %v", errBadPK, s, err)
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		var text string
		if err := json.Unmarshal(r, &text); err == nil {
			out[i] = text
			continue
		}
		var bin struct {
			Hex *string `json:"hex"`
		}
		if err := json.Unmarshal(r, &bin); err != nil || bin.Hex == nil {
			return nil, fmt.Errorf("%w %q: element %d is neither a string nor {\"hex\": ...}", errBadPK, s, i)
		}
		b, err := hex.DecodeString(*bin.Hex)
		if err != nil {
			return nil, fmt.Errorf("%w %q: element %d: %v", errBadPK, s, i, err)
		}
		out[i] = string(b)
	}
	return out, nil
}
