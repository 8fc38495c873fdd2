// Package socketio implements Socket.IO protocol 5 on top of internal/engineio:
// the packet codec (with binary attachments), a client namespace socket with
// acks and a reconnect manager, and a server side used by messagingtest.
//
// It knows nothing about conversations or messages: it moves named events
// with JSON arguments, and acks.
//
// # Binary data
//
// On the way out, every []byte found in the arguments (top level, and nested
// in maps, slices, arrays, pointers, interfaces and exported struct fields)
// is sent as a binary attachment, replaced in the JSON by a placeholder
// {"_placeholder":true,"num":N}. A type that implements json.Marshaler or
// encoding.TextMarshaler is encoded by its own method and never inspected
// (json.RawMessage included).
//
// On the way in, each placeholder is replaced by the attachment encoded as a
// standard base64 JSON string, which is exactly what encoding/json decodes
// into a []byte. So an argument sent as []byte is read back by unmarshalling
// it into a []byte. The raw attachments are also kept in Packet.Attachments.
package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/symbia-labs/messaging-go/internal/engineio"
	"github.com/symbia-labs/messaging-go/internal/jsonscan"
)

// PacketType is the Socket.IO packet type.
type PacketType byte

// The seven Socket.IO packet types.
const (
	PacketConnect      PacketType = 0
	PacketDisconnect   PacketType = 1
	PacketEvent        PacketType = 2
	PacketAck          PacketType = 3
	PacketConnectError PacketType = 4
	PacketBinaryEvent  PacketType = 5
	PacketBinaryAck    PacketType = 6
)

var packetTypeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

// String returns the protocol name of the type.
func (t PacketType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

func (t PacketType) binary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// DefaultMaxAttachments is the default limit on attachments per packet, as
// in the reference decoder.
const DefaultMaxAttachments = 10

var reservedEvents = [...]string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// ReservedEvents are the event names a client may not emit and a decoder
// rejects. It is a copy for reading: changing it has no effect (use
// IsReserved).
var ReservedEvents = append([]string(nil), reservedEvents[:]...)

// IsReserved reports whether name is a reserved event name.
func IsReserved(name string) bool { return isReserved(name) }

func isReserved(name string) bool {
	for _, r := range reservedEvents {
		if r == name {
			return true
		}
	}
	return false
}

// ErrParse is matched by every decoding error.
var ErrParse = errors.New("socketio: parse error")

func parseErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrParse}, args...)...)
}

// Packet is one Socket.IO packet.
type Packet struct {
	// Type is the packet type.
	Type PacketType
	// Namespace starts with "/". Empty means "/".
	Namespace string
	// ID is the ack id, nil when there is none. Id 0 is a valid id.
	ID *uint64
	// Data is the JSON payload, nil when absent. For a decoded binary packet
	// the placeholders have been replaced by base64 strings (see the package
	// documentation); for a packet to encode it may contain placeholders
	// that refer to Attachments.
	Data json.RawMessage
	// Attachments are the binary attachments, in placeholder order.
	Attachments [][]byte

	args  []json.RawMessage // cached split of Data for events and acks
	name  string            // cached event name, valid when named
	named bool
}

// NewID returns a pointer to id, for Packet.ID.
func NewID(id uint64) *uint64 { return &id }

func (p *Packet) nsp() string {
	if p.Namespace == "" {
		return "/"
	}
	return p.Namespace
}

// Encode returns the Engine.IO messages of the packet: the text header and,
// for binary packets, one binary message per attachment. A packet with
// attachments is always encoded as BINARY_EVENT or BINARY_ACK.
func (p *Packet) Encode() ([]engineio.Message, error) {
	t := p.Type
	if t > PacketBinaryAck {
		return nil, fmt.Errorf("socketio: cannot encode packet type %d", t)
	}
	if len(p.Attachments) > 0 {
		switch t {
		case PacketEvent:
			t = PacketBinaryEvent
		case PacketAck:
			t = PacketBinaryAck
		case PacketBinaryEvent, PacketBinaryAck:
		default:
			return nil, fmt.Errorf("socketio: %v cannot carry attachments", t)
		}
	}
	nsp := p.nsp()
	if nsp[0] != '/' || bytes.IndexByte([]byte(nsp), ',') >= 0 {
		return nil, fmt.Errorf("socketio: invalid namespace %q", nsp)
	}
	buf := make([]byte, 0, 24+len(nsp)+len(p.Data))
	buf = append(buf, '0'+byte(t))
	if t.binary() {
		buf = strconv.AppendInt(buf, int64(len(p.Attachments)), 10)
		buf = append(buf, '-')
	}
	if nsp != "/" {
		buf = append(buf, nsp...)
		buf = append(buf, ',')
	}
	if p.ID != nil {
		buf = strconv.AppendUint(buf, *p.ID, 10)
	}
	buf = append(buf, p.Data...)
	msgs := make([]engineio.Message, 0, 1+len(p.Attachments))
	msgs = append(msgs, engineio.Message{Data: buf})
	for _, a := range p.Attachments {
		msgs = append(msgs, engineio.Message{Binary: true, Data: a})
	}
	return msgs, nil
}

// Args returns the elements of the payload array of an EVENT or ACK (for an
// EVENT the first element is the event name). The elements share memory with
// Data.
func (p *Packet) Args() ([]json.RawMessage, error) {
	if p.args != nil {
		return p.args, nil
	}
	arr, ok := splitArray(p.Data)
	if !ok {
		return nil, parseErr("payload is not an array")
	}
	p.args = arr
	return arr, nil
}

// splitArray validates b, which must be a JSON array, and returns its
// elements as subslices of it, in one pass and without copies (json.Valid
// then json.Unmarshal into []json.RawMessage would read it twice and copy
// every element). It is false when b is not valid JSON or not an array.
func splitArray(b []byte) ([]json.RawMessage, bool) {
	// An event has a name and few arguments; non-nil even when empty, as
	// p.args caches the split.
	return jsonscan.SplitArray(make([]json.RawMessage, 0, 4), b)
}

// Event returns the event name and arguments of an EVENT or BINARY_EVENT.
// A numeric event name is returned in its decimal form.
func (p *Packet) Event() (name string, args []json.RawMessage, err error) {
	arr, err := p.Args()
	if err != nil {
		return "", nil, err
	}
	if len(arr) == 0 {
		return "", nil, parseErr("event without a name")
	}
	if p.named {
		return p.name, arr[1:], nil
	}
	first := arr[0]
	switch firstByte(first) {
	case '"':
		if n := len(first); n >= 2 && first[n-1] == '"' && bytes.IndexByte(first, '\\') < 0 {
			name = string(first[1 : n-1]) // no escapes: the bytes are the name
		} else {
			var s string
			if err := json.Unmarshal(first, &s); err != nil {
				return "", nil, parseErr("bad event name")
			}
			name = s
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		name = string(bytes.TrimSpace(first))
	default:
		return "", nil, parseErr("event name is neither a string nor a number")
	}
	p.name, p.named = name, true
	return name, arr[1:], nil
}

// firstByte returns the first non-whitespace byte of a JSON text, or 0.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// Decoder turns Engine.IO messages into packets, reassembling binary packets
// from their attachments. It is stateful and not safe for concurrent use.
// The zero value is usable.
type Decoder struct {
	// maxAttachments limits attachments per packet; zero means
	// DefaultMaxAttachments (tests set a smaller one).
	maxAttachments int

	pending *Packet
	want    int
}

// Reset drops a partially reassembled packet.
func (d *Decoder) Reset() { d.pending, d.want = nil, 0 }

// Decode consumes one message. It returns a packet when one is complete, or
// (nil, nil) while attachments are still expected. Any malformed input
// returns an error matching ErrParse and resets the decoder. The packet
// shares memory with m.Data (engineio gives every message its own), which
// must not be modified afterwards.
func (d *Decoder) Decode(m engineio.Message) (*Packet, error) {
	if m.Binary {
		if d.pending == nil {
			return nil, parseErr("got binary data when not reconstructing a packet")
		}
		d.pending.Attachments = append(d.pending.Attachments, m.Data)
		if len(d.pending.Attachments) < d.want {
			return nil, nil
		}
		p := d.pending
		d.Reset()
		if err := reconstruct(p); err != nil {
			return nil, err
		}
		return p, nil
	}
	if d.pending != nil {
		d.Reset()
		return nil, parseErr("got plaintext data when reconstructing a packet")
	}
	max := d.maxAttachments
	if max <= 0 {
		max = DefaultMaxAttachments
	}
	p, n, err := parseText(m.Data, max, false)
	if err != nil {
		return nil, err
	}
	if p.Type.binary() && n > 0 {
		d.pending, d.want = p, n
		p.Attachments = make([][]byte, 0, n)
		return nil, nil
	}
	return p, nil
}

// ParseText decodes a complete text packet. A binary packet that announces
// attachments is returned without them and without reconstruction, with
// the announced count; use a Decoder to reassemble.
func ParseText(b []byte) (p *Packet, attachments int, err error) {
	return parseText(b, DefaultMaxAttachments, true)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseText decodes a text packet; with copyData its Data does not share
// memory with b.
func parseText(b []byte, maxAttachments int, copyData bool) (*Packet, int, error) {
	if len(b) == 0 {
		return nil, 0, parseErr("empty packet")
	}
	if !isDigit(b[0]) || b[0] > '6' {
		return nil, 0, parseErr("unknown packet type %q", b[0])
	}
	p := &Packet{Type: PacketType(b[0] - '0'), Namespace: "/"}
	i := 1
	n := 0
	if p.Type.binary() {
		j := i
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if j == i || j >= len(b) || b[j] != '-' || j-i > 9 {
			return nil, 0, parseErr("illegal attachments")
		}
		n, _ = strconv.Atoi(string(b[i:j]))
		if n > maxAttachments {
			return nil, 0, parseErr("too many attachments (%d > %d)", n, maxAttachments)
		}
		i = j + 1
	}
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			p.Namespace = string(b[i:])
			i = len(b)
		} else {
			p.Namespace = string(b[i : i+j])
			i += j + 1
		}
	}
	if j := i; j < len(b) && isDigit(b[j]) {
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		id, err := strconv.ParseUint(string(b[i:j]), 10, 64)
		if err != nil {
			return nil, 0, parseErr("bad ack id")
		}
		p.ID = &id
		i = j
	}
	if i < len(b) {
		data := b[i:]
		if copyData {
			data = bytes.Clone(data)
		}
		p.Data = data[:len(data):len(data)]
		// Validate the payload; an array (events, acks) is split in the
		// same pass, for Args.
		if firstByte(data) == '[' {
			args, ok := splitArray(p.Data)
			if !ok {
				return nil, 0, parseErr("invalid payload")
			}
			p.args = args
		} else if !jsonscan.Valid(data) {
			return nil, 0, parseErr("invalid payload")
		}
	}
	if err := validate(p); err != nil {
		return nil, 0, err
	}
	return p, n, nil
}

// validate applies the payload rules of the reference decoder.
func validate(p *Packet) error {
	c := firstByte(p.Data)
	switch p.Type {
	case PacketConnect:
		if p.Data != nil && c != '{' {
			return parseErr("CONNECT payload must be an object")
		}
	case PacketDisconnect:
		if p.Data != nil {
			return parseErr("DISCONNECT must not have a payload")
		}
	case PacketConnectError:
		if c != '{' && c != '"' {
			return parseErr("CONNECT_ERROR payload must be an object or a string")
		}
	case PacketEvent, PacketBinaryEvent:
		if c != '[' {
			return parseErr("EVENT payload must be an array")
		}
		name, _, err := p.Event()
		if err != nil {
			return err
		}
		if firstByte(p.args[0]) == '"' && isReserved(name) {
			return parseErr("reserved event name %q", name)
		}
	case PacketAck, PacketBinaryAck:
		if c != '[' {
			return parseErr("ACK payload must be an array")
		}
		if _, err := p.Args(); err != nil {
			return err
		}
	}
	return nil
}

// reconstruct replaces the placeholders of a complete binary packet by
// base64 strings of their attachments.
func reconstruct(p *Packet) error {
	dec := json.NewDecoder(bytes.NewReader(p.Data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return parseErr("invalid payload")
	}
	v, err := fill(v, p.Attachments, 0)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return parseErr("cannot re-encode payload: %v", err)
	}
	p.Data = bytes.TrimRight(buf.Bytes(), "\n")
	p.args, p.named = nil, false
	return nil
}

const maxDepth = 1000

func fill(v any, att [][]byte, depth int) (any, error) {
	if depth > maxDepth {
		return nil, parseErr("payload nested too deeply")
	}
	switch x := v.(type) {
	case map[string]any:
		if ph, ok := x["_placeholder"].(bool); ok && ph {
			num, ok := x["num"].(json.Number)
			if !ok {
				return nil, parseErr("illegal attachments")
			}
			i, err := strconv.ParseInt(string(num), 10, 64)
			if err != nil || i < 0 || i >= int64(len(att)) {
				return nil, parseErr("illegal attachments")
			}
			return att[i], nil // []byte marshals as base64
		}
		for k, e := range x {
			f, err := fill(e, att, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = f
		}
	case []any:
		for i, e := range x {
			f, err := fill(e, att, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = f
		}
	}
	return v, nil
}
