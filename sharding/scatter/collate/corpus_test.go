package collate

import (
	"math/rand/v2"
	"slices"
	"strings"
	"unicode/utf8"
)

// corpusAtoms are the characters and short sequences the corpus is built
// from: each kind of text a collation may treat specially.
var corpusAtoms = []string{
	// ASCII letters, digits, punctuation, symbols, blanks and controls.
	"a", "b", "c", "e", "i", "n", "o", "s", "u", "y", "z", "A", "B", "C", "E", "I", "N", "O", "S", "U", "Y", "Z",
	"0", "1", "9", " ", "  ", "\t", "\n", "\r", "\x01", "\x1f", "\x7f",
	"!", "\"", "#", "$", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";", "<", "=", ">", "?",
	"@", "[", "\\", "]", "^", "_", "`", "{", "|", "}", "~",
	// Accented and special Latin.
	"é", "É", "è", "ê", "ë", "à", "á", "â", "ä", "Ä", "ç", "Ç", "ñ", "Ñ", "ö", "Ö", "ü", "Ü", "ß", "ẞ", "ss",
	"æ", "Æ", "ø", "Ø", "å", "Å", "Ł", "ł", "ı", "İ", "ÿ", "Ÿ", "œ", "Œ", "ð", "Ð", "þ", "Þ", "ĳ",
	"\u00a0", "\u00b5", "\u00bf", "\u00a1", "\u00d7", "\u00f7", "\u00aa", "\u00ba", "\u00b2",
	// Greek, Cyrillic, CJK, Arabic, Hebrew.
	"α", "Α", "β", "Σ", "σ", "ς", "ω", "Ω", "ά", "μ", "Μ",
	"а", "А", "я", "Я", "ё", "Ё", "е", "Е", "й", "ж",
	"中", "文", "字", "日", "本", "語", "あ", "ア", "ｱ", "가", "힣",
	"ع", "ر", "ب", "ي", "ة", "א", "ש",
	// Supplementary plane: emoji and letters.
	"😀", "🙂", "👍", "👍🏽", "𐀀", "𝔄", "𝕒", "🇫🇷", "\U0010FFFD",
	// Combining marks, ligatures, compatibility forms, specials.
	"e\u0301", "E\u0301", "a\u0308", "\u0301", "\u0308", "ﬁ", "ﬀ", "Ａ", "ａ", "Ω", "K", "Å", "℃", "Ⅳ", "①",
	"\u200b", "\u200d", "\u2028", "\u2060", "\ufeff", "\ufffd", "\uffff", "\ue000", "\u3000",
}

// corpusFixed are strings worth checking on their own.
var corpusFixed = []string{
	"", " ", "  ", "\t", "a", "a ", "a  ", "a\t", "a\t ", "a \t", "a\n", "a\x01", "A", "A ", "b", "B", "ab", "a b", "aB", "Ab",
	"Alice", "alice", "ALICE", "alice ", "Alice\t", "alicé", "Alicé", "ålice", "Bob", "bob", "bób",
	"e", "é", "É", "è", "ê", "E", "e\u0301", "E\u0301",
	"ss", "SS", "ß", "ẞ", "s", "S", "sß", "ßs", "straße", "strasse", "STRASSE", "Straße",
	"æ", "Æ", "ae", "AE", "ø", "o", "å", "a", "Ł", "L", "l", "ł",
	"i", "I", "ı", "İ", "µ", "μ", "Μ",
	"😀", "🙂", "😀a", "a😀", "\ufffd", "\uffff", "𐀀", "😀 ", " 😀",
	"1", "10", "2", "-1", "1.5", "01",
	"_", "-", "a_b", "a-b", "a.b", "a b c", "a  b", "ab ", "ab  ",
}

// nulCorpus are strings with NUL bytes, which PostgreSQL text cannot hold.
var nulCorpus = []string{"\x00", "a\x00", "a\x00b", "a\x00c", "A\x00b", "a\x00B", "a\x00bc", "\x00a", "a\x00 ", "ab\x00"}

// corpus returns n distinct strings: the fixed ones, every atom alone, and
// seeded random mixtures of atoms, some with trailing spaces, tabs or
// controls. keep filters atoms and strings (nil keeps everything).
func corpus(n int, keep func(string) bool) []string {
	if keep == nil {
		keep = func(string) bool { return true }
	}
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] && keep(s) {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range corpusFixed {
		add(s)
	}
	var atoms []string
	for _, a := range corpusAtoms {
		if keep(a) {
			atoms = append(atoms, a)
			add(a)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for len(out) < n {
		var b strings.Builder
		// Short strings collide more often under case-insensitive
		// collations; long ones exercise prefixes.
		for k := 1 + r.IntN(1+r.IntN(12)); k > 0; k-- {
			b.WriteString(atoms[r.IntN(len(atoms))])
		}
		switch r.IntN(8) {
		case 0:
			b.WriteString(" ")
		case 1:
			b.WriteString("  ")
		case 2:
			b.WriteString(" \t")
		}
		s := b.String()
		if r.IntN(4) == 0 {
			// A case variant of a string already in, to make equal pairs.
			s = flipCase(out[r.IntN(len(out))], r)
		}
		add(s)
	}
	return out
}

func flipCase(s string, r *rand.Rand) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case r.IntN(2) == 0:
			b.WriteRune(c)
		case strings.ToUpper(string(c)) != string(c):
			b.WriteString(strings.ToUpper(string(c)))
		default:
			b.WriteString(strings.ToLower(string(c)))
		}
	}
	return b.String()
}

// bmpOnly keeps strings without supplementary characters (utf8mb3).
func bmpOnly(s string) bool {
	for _, c := range s {
		if c > 0xFFFF {
			return false
		}
	}
	return true
}

// latin1Only keeps strings MariaDB's latin1 (cp1252) holds, without the
// C1 range that cp1252 maps elsewhere.
func latin1Only(s string) bool {
	for _, c := range s {
		if c > 0xFF || c >= 0x80 && c < 0xA0 {
			return false
		}
	}
	return utf8.ValidString(s)
}

// sortPositions returns the corpus positions in the order of cmp, ties
// broken by bytes, as the servers are asked to order them.
func sortPositions(values []string, cmp func(i, j int) int) []int {
	idx := make([]int, len(values))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int {
		if c := cmp(i, j); c != 0 {
			return c
		}
		return strings.Compare(values[i], values[j])
	})
	return idx
}
