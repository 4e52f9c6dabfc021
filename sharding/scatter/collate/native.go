package collate

import (
	"cmp"
	"strings"
	"unicode/utf8"
)

// Compare implements Collation. Strings that are not valid UTF-8 never come
// from a database's text column; for them the result is that of the
// replacement character where the collation decodes code points.
func (c *collation) Compare(a, b string) int {
	switch c.order {
	case orderBytes:
		return strings.Compare(a, b)
	case orderTrim:
		return strings.Compare(trimSpaces(a), trimSpaces(b))
	case orderPad:
		return comparePadBytes(a, b)
	case orderGeneral:
		return compareGeneral(a, b, true)
	case orderGeneralNoPad:
		return compareGeneral(a, b, false)
	case orderNoCase:
		return compareNoCase(a, b)
	}
	panic("collate: Compare on " + c.String() + ", which is not native: rank it through the database")
}

// Key implements Collation.
func (c *collation) Key(dst []byte, s string) []byte {
	switch c.order {
	case orderBytes:
		return append(dst, s...)
	case orderTrim, orderPad:
		// Under PAD SPACE, equal strings differ only by trailing spaces.
		return append(dst, trimSpaces(s)...)
	case orderGeneral:
		return keyGeneral(dst, s, true)
	case orderGeneralNoPad:
		return keyGeneral(dst, s, false)
	case orderNoCase:
		return keyNoCase(dst, s)
	}
	panic("collate: Key on " + c.String() + ", which is not native: rank it through the database")
}

func trimSpaces(s string) string { return strings.TrimRight(s, " ") }

// comparePadBytes compares as if the shorter string were padded with
// spaces, so "a" = "a " but "a\t" < "a". Byte order is code point order for
// UTF-8, and every byte of a multi-byte character is above the space.
func comparePadBytes(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return padSign(a[n:]) - padSign(b[n:])
}

// padSign compares the rest of the longer string with spaces: -1 when it
// sorts before them (a control character comes first), +1 after, 0 when
// the rest is spaces. It returns 0 for the shorter string's empty rest.
func padSign(rest string) int {
	for i := 0; i < len(rest); i++ {
		switch {
		case rest[i] < ' ':
			return -1
		case rest[i] > ' ':
			return 1
		}
	}
	return 0
}

// compareGeneral compares general_ci weights; with pad, the shorter
// string is compared as if padded with spaces.
func compareGeneral(a, b string, pad bool) int {
	t := generalCITable()
	for a != "" && b != "" {
		wa, na := generalWeight(t, a)
		wb, nb := generalWeight(t, b)
		if wa != wb {
			if wa < wb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	if !pad {
		return cmp.Compare(len(a), len(b))
	}
	return generalPadSign(t, a) - generalPadSign(t, b)
}

// generalPadSign is padSign over general_ci weights.
func generalPadSign(t *[0x10000]uint16, rest string) int {
	space := t[' ']
	for rest != "" {
		w, n := generalWeight(t, rest)
		switch {
		case w < space:
			return -1
		case w > space:
			return 1
		}
		rest = rest[n:]
	}
	return 0
}

// keyGeneral appends the weights, big-endian, without the trailing space
// weights that PAD SPACE ignores.
func keyGeneral(dst []byte, s string, pad bool) []byte {
	t := generalCITable()
	start := len(dst)
	end := start // past the last weight that is not a space's
	for s != "" {
		w, n := generalWeight(t, s)
		dst = append(dst, byte(w>>8), byte(w))
		if w != t[' '] {
			end = len(dst)
		}
		s = s[n:]
	}
	if pad {
		dst = dst[:end]
	}
	return dst
}

// generalWeight returns the weight of the first character of s and its
// length in bytes.
func generalWeight(t *[0x10000]uint16, s string) (uint16, int) {
	if s[0] < utf8.RuneSelf {
		return t[s[0]], 1
	}
	r, n := utf8.DecodeRuneInString(s)
	if r > 0xFFFF {
		return generalCISupplementary, n
	}
	return t[r], n
}

// compareNoCase is SQLite's NOCASE: ASCII letters folded to lower case,
// byte order over the common length, then the shorter first. Like SQLite's
// sqlite3StrNICmp it stops at a NUL byte in a, so that strings equal up to
// a shared NUL compare by length only.
func compareNoCase(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := lowerASCII(a[i]), lowerASCII(b[i])
		if ca != cb {
			return cmp.Compare(int(ca), int(cb))
		}
		if ca == 0 {
			break
		}
	}
	return cmp.Compare(len(a), len(b))
}

// keyNoCase records the length, which equal strings share, and the folded
// bytes up to and including the first NUL, beyond which compareNoCase does
// not look. Both lengths come first so that the key is unambiguous.
func keyNoCase(dst []byte, s string) []byte {
	prefix := s
	if i := strings.IndexByte(s, 0); i >= 0 {
		prefix = s[:i+1]
	}
	dst = appendUvarint(dst, uint64(len(s)))
	dst = appendUvarint(dst, uint64(len(prefix)))
	for i := 0; i < len(prefix); i++ {
		dst = append(dst, lowerASCII(prefix[i]))
	}
	return dst
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func appendUvarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}
