// Package jsonscan reads JSON text strictly, allocating nothing but the
// strings it returns, for the hot decoding paths where encoding/json's
// reflection and its validation of the whole input before decoding dominate
// the cost.
//
// It validates and skips values, splits arrays in place, reads integer
// literals, and reads strings with exactly the unquoting of encoding/json
// (escapes, surrogate pairs, and U+FFFD for lone surrogates and invalid
// UTF-8). Every function agrees with encoding/json on every input: Valid,
// Skip and SplitArray with json.Valid (its nesting limit included), String
// and AppendUnquote with json.Unmarshal into a string, Int64 with
// json.Unmarshal into an int64. The package's fuzz tests check this.
//
// Positions are byte offsets into the input. A function that reads a value
// at position i expects b[i] to be the value's first byte (no whitespace)
// and returns the position just past the value.
package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects encoding/json
// accepts; deeper input is invalid for it, and so here.
const MaxDepth = 10000

// Valid reports whether b is one JSON value, optionally surrounded by
// whitespace, exactly as json.Valid does.
func Valid(b []byte) bool {
	i := SkipSpace(b, 0)
	end, ok := skipValue(b, i, MaxDepth)
	return ok && SkipSpace(b, end) == len(b)
}

// SkipSpace returns the position of the first byte at or after i that is
// not JSON whitespace (space, tab, CR, LF), or len(b).
func SkipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r') }

// Skip validates the value at b[i] and returns the position just past it;
// ok is false when there is no valid value there. depth is the number of
// arrays and objects around the value (0 for a whole document), which count
// towards MaxDepth as in encoding/json.
func Skip(b []byte, i, depth int) (end int, ok bool) {
	return skipValue(b, i, MaxDepth-depth)
}

// SplitArray validates b, which must be one JSON array optionally
// surrounded by whitespace, and appends its elements to dst as subslices of
// b (capacity limited to their length, so that appending to one cannot
// overwrite the next). It is false when b is not valid JSON or not an
// array; SplitArray(nil, b) succeeds exactly when json.Valid(b) is true and
// b holds an array.
func SplitArray(dst []json.RawMessage, b []byte) ([]json.RawMessage, bool) {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return dst, false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return dst, SkipSpace(b, i+1) == len(b)
	}
	for {
		end, ok := Skip(b, i, 1)
		if !ok {
			return dst, false
		}
		dst = append(dst, json.RawMessage(b[i:end:end]))
		i = SkipSpace(b, end)
		if i >= len(b) {
			return dst, false
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case ']':
			return dst, SkipSpace(b, i+1) == len(b)
		default:
			return dst, false
		}
	}
}

// skipValue validates the value at b[i], whose containers may nest budget
// levels deep, and returns the position past it.
func skipValue(b []byte, i, budget int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	if c := b[i]; c != '{' && c != '[' {
		return skipScalar(b, i)
	}
	// Containers: an explicit stack of "is an object" bits, so that deep
	// input cannot exhaust the goroutine stack. The first 256 levels live
	// in an array; deeper levels spill to the heap.
	var small [4]uint64
	stack := small[:]
	depth := 0
	var ok bool
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case '{', '[':
			obj := b[i] == '{'
			if depth == budget {
				return i, false
			}
			if depth/64 == len(stack) {
				stack = append(stack, 0)
			}
			if obj {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = SkipSpace(b, i+1)
			if i < len(b) && (b[i] == '}' && obj || b[i] == ']' && !obj) {
				i++
				depth--
				break // an empty container: a complete value
			}
			if obj {
				if i, ok = skipKey(b, i); !ok {
					return i, false
				}
			}
			continue // its first member
		default:
			if i, ok = skipScalar(b, i); !ok {
				return i, false
			}
		}
		// A value ended at i: close containers until one has more.
		for {
			if depth == 0 {
				return i, true
			}
			i = SkipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			obj := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			c := b[i]
			if c == ',' {
				i = SkipSpace(b, i+1)
				if obj {
					if i, ok = skipKey(b, i); !ok {
						return i, false
					}
				}
				break
			}
			if c == '}' && obj || c == ']' && !obj {
				i++
				depth--
				continue
			}
			return i, false
		}
	}
}

// skipKey reads `"key" :` and the whitespace after it.
func skipKey(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	i, _, ok := ScanString(b, i)
	if !ok {
		return i, false
	}
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return SkipSpace(b, i+1), true
}

func skipScalar(b []byte, i int) (int, bool) {
	switch c := b[i]; {
	case c == '"':
		end, _, ok := ScanString(b, i)
		return end, ok
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	}
	return i, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// skipNumber reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// Int64 reads the number at b[i] when it is an integer literal
// (-?(0|[1-9][0-9]*), no fraction, no exponent) that fits an int64, which
// is exactly when encoding/json decodes it into an int64 without error. It
// is false for any other number, and for invalid input.
func Int64(b []byte, i int) (v int64, end int, ok bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	if i >= len(b) || b[i] < '0' || b[i] > '9' {
		return 0, i, false
	}
	if b[i] == '0' {
		i++
	} else {
		var u uint64
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if u > (1<<63)/10 {
				return 0, i, false
			}
			u = u*10 + uint64(b[i]-'0')
			if u > 1<<63 {
				return 0, i, false
			}
		}
		if !neg && u == 1<<63 {
			return 0, i, false
		}
		v = int64(u)
		if neg {
			v = -v // -(1<<63) wraps to itself: math.MinInt64
		}
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E' || b[i] >= '0' && b[i] <= '9') {
		return 0, i, false // a fraction, an exponent, or a leading zero
	}
	return v, i, true
}

// strPlain marks the bytes a string may contain as they are: all but a
// quote, a backslash and the control characters.
var strPlain = func() (t [256]bool) {
	for c := ' '; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	lsb = 0x0101010101010101 // the lowest bit of each byte of a word
	msb = 0x8080808080808080 // the highest
)

// plainRun returns the position of the first byte at or after i that a
// string cannot contain as it is (a quote, a backslash, a control
// character), or len(b); and, in its high bit, whether a byte before it
// (or a few after it) is not ASCII. It reads eight bytes at a time.
func plainRun(b []byte, i int) (int, uint64) {
	var high uint64
	for len(b)-i >= 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		high |= w
		// Each term flags, in its high bit, a byte of w that is zero
		// after the xor (or below 0x20). A borrow can flag bytes above a
		// flagged one, never below: the lowest flag is exact.
		q, bs := w^(lsb*'"'), w^(lsb*'\\')
		if s := ((q-lsb)&^q | (bs-lsb)&^bs | (w-lsb*' ')&^w) & msb; s != 0 {
			return i + bits.TrailingZeros64(s)/8, high & msb
		}
		i += 8
	}
	for ; i < len(b) && strPlain[b[i]]; i++ {
		high |= uint64(b[i])
	}
	return i, high & msb
}

// ScanString validates the string literal at b[i] (b[i] must be '"') and
// returns the position just past its closing quote. verbatim reports that
// the bytes between the quotes are the string's value as they are (no
// escape, valid UTF-8), so that Unquote is not needed.
func ScanString(b []byte, i int) (end int, verbatim, ok bool) {
	start := i + 1
	i = start
	escaped := false
	var high uint64
	for {
		var h uint64
		i, h = plainRun(b, i)
		high |= h
		if i >= len(b) {
			return i, false, false
		}
		switch c := b[i]; {
		case c == '"':
			verbatim = !escaped && (high == 0 || utf8.Valid(b[start:i]))
			return i + 1, verbatim, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(b, i+2) < 0 {
					return i, false, false
				}
				i += 6
			default:
				return i, false, false
			}
		default: // a control character
			return i, false, false
		}
	}
}

// hex4 returns the value of the four hex digits at b[i:], or -1.
func hex4(b []byte, i int) rune {
	if len(b)-i < 4 {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// String reads the string literal at b[i] and returns its value; ok is
// false when there is no valid string literal there.
func String(b []byte, i int) (s string, end int, ok bool) {
	end, verbatim, ok := ScanString(b, i)
	if !ok {
		return "", end, false
	}
	if verbatim {
		return string(b[i+1 : end-1]), end, true
	}
	return string(AppendUnquote(nil, b[i:end])), end, true
}

// AppendUnquote appends the value of the string literal lit (quotes
// included), which ScanString must have accepted, to dst, as
// json.Unmarshal into a string decodes it: a \u escape of a surrogate
// pair's halves gives the pair's rune, any other \u escape of a surrogate
// gives U+FFFD (and the escape after it is read on its own), and each byte
// of invalid UTF-8 gives U+FFFD.
func AppendUnquote(dst, lit []byte) []byte {
	s := lit[1 : len(lit)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'u':
				r := hex4(s, i+2)
				i += 6
				if utf16.IsSurrogate(r) {
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(s, i+2)); pair != utf8.RuneError {
							dst = utf8.AppendRune(dst, pair)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			default: // '"', '\\', '/'
				c = e
			}
			dst = append(dst, c)
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}
