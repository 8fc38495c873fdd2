package messaging

import (
	"encoding/json"

	"github.com/symbia-labs/messaging-go/internal/jsonscan"
)

// readSuccessAck reads a successful acknowledgement, {"success":true,
// "message":<row>, "control":<row>} (rows optional or null, other keys
// ignored), in one pass with the rows decoded by the fast path. It is false
// for anything else (a refusal, a row the fast path declines, a key
// encoding/json could match to one of the ack's fields without being it, a
// repeated key, invalid JSON): decodeAckGeneric reads those.
func readSuccessAck(raw json.RawMessage) (ackBody, bool) {
	b := raw
	i := jsonscan.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return ackBody{}, false
	}
	body := ackBody{raw: raw}
	var seen [ackFields]bool
	end, ok := readObject(b, i, func(key []byte, i int) (int, bool) {
		f := ackField(key)
		if f < 0 {
			if lower, ok := lowerASCII(key); !ok || ackField(lower) >= 0 {
				return i, false // encoding/json would match it to a field
			}
			return jsonscan.Skip(b, i, 1)
		}
		if seen[f] {
			return i, false
		}
		seen[f] = true
		switch {
		case f == ackSuccess:
			return readLiteral(b, i, "true")
		case b[i] == 'n':
			return readNull(b, i) // no row
		case b[i] != '{':
			return i, false
		}
		m := new(Message)
		if f == ackMessage {
			body.msg = m
		} else {
			body.ctl = m
		}
		return m.readRow(b, i, 1)
	})
	if !ok || !seen[ackSuccess] || jsonscan.SkipSpace(b, end) != len(b) {
		return ackBody{}, false
	}
	return body, true
}

// The fields of a successful ack that readSuccessAck reads; the generic
// path's "error" is ignored when success is true.
const (
	ackSuccess = iota
	ackMessage
	ackControl
	ackFields
)

func ackField(key []byte) int {
	switch string(key) {
	case "success":
		return ackSuccess
	case "message":
		return ackMessage
	case "control":
		return ackControl
	}
	return -1
}
