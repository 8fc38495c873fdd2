package socketio

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// RawJSON is an argument already encoded as JSON, which EncodeArgs (and so
// Emit, EmitWithAck, EventPacket, AckPacket) appends to the packet as is.
//
// It must be valid, compact JSON (UTF-8 included), as json.Marshal returns
// it: it is not checked. (A json.RawMessage argument is validated and compacted by
// encoding/json, a full pass over it; RawJSON skips that for bytes the
// caller produced itself.) It cannot carry binary attachments. An empty
// RawJSON is written as null. Nested in another argument (a field, a map
// or slice element) it is encoded like a json.RawMessage, checked.
type RawJSON []byte

// MarshalJSON returns r (null when empty), so that a RawJSON nested in
// another value is encoded like a json.RawMessage.
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// EncodeArgs encodes values as a JSON array, taking every []byte out as a
// binary attachment (see the package documentation). It returns the array
// and the attachments in placeholder order. A RawJSON value is appended as
// is.
func EncodeArgs(values ...any) (json.RawMessage, [][]byte, error) {
	var d deconstructor
	e := getEncoder()
	defer e.release()
	e.buf.WriteByte('[')
	for i, v := range values {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		if raw, ok := v.(RawJSON); ok {
			if len(raw) == 0 {
				raw = RawJSON("null")
			}
			e.buf.Write(raw)
			continue
		}
		w, err := d.top(v)
		if err != nil {
			return nil, nil, err
		}
		// Element by element, as encoding/json does for a []any.
		if err := e.encode(w); err != nil {
			return nil, nil, fmt.Errorf("socketio: cannot encode arguments: %w", err)
		}
	}
	e.buf.WriteByte(']')
	return bytes.Clone(e.buf.Bytes()), d.attachments, nil
}

// encoder is a reusable JSON encoder into its own buffer.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

// getEncoder returns a pooled encoder with an empty buffer; release it.
func getEncoder() *encoder {
	e := encoders.Get().(*encoder)
	e.buf.Reset()
	return e
}

func (e *encoder) release() {
	if e.buf.Cap() <= 64<<10 {
		e.buf.Reset()
		encoders.Put(e)
	}
}

// encode appends the JSON of v to the buffer (json.Marshal without HTML
// escaping). On error the buffer is unchanged.
func (e *encoder) encode(v any) error {
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	e.buf.Truncate(e.buf.Len() - 1) // Encode's newline
	return nil
}

// marshal is json.Marshal without HTML escaping. The encoder and its buffer
// are pooled; the result is one allocation of the exact size.
func marshal(v any) ([]byte, error) {
	e := getEncoder()
	defer e.release()
	if err := e.encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(e.buf.Bytes()), nil
}

// EventPacket builds an EVENT (or BINARY_EVENT) packet for namespace nsp.
// id may be nil.
//
// The event name must be valid UTF-8: JSON cannot carry anything else
// unchanged.
func EventPacket(nsp string, id *uint64, event string, args ...any) (*Packet, error) {
	if !utf8.ValidString(event) {
		return nil, fmt.Errorf("socketio: event name %q is not valid UTF-8", event)
	}
	vals := make([]any, 0, len(args)+1)
	vals = append(vals, event)
	vals = append(vals, args...)
	data, att, err := EncodeArgs(vals...)
	if err != nil {
		return nil, err
	}
	t := PacketEvent
	if len(att) > 0 {
		t = PacketBinaryEvent
	}
	return &Packet{Type: t, Namespace: nsp, ID: id, Data: data, Attachments: att}, nil
}

// AckPacket builds an ACK (or BINARY_ACK) packet answering id.
func AckPacket(nsp string, id uint64, args ...any) (*Packet, error) {
	data, att, err := EncodeArgs(args...)
	if err != nil {
		return nil, err
	}
	t := PacketAck
	if len(att) > 0 {
		t = PacketBinaryAck
	}
	return &Packet{Type: t, Namespace: nsp, ID: &id, Data: data, Attachments: att}, nil
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func customEncoded(t reflect.Type) bool {
	return t.Implements(marshalerType) || t.Implements(textMarshalerType) ||
		(t.Kind() != reflect.Pointer && (reflect.PointerTo(t).Implements(marshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)))
}

var binCache sync.Map // reflect.Type → bool

// mayHaveBinary reports whether values of type t can contain a []byte that
// needs to become an attachment.
func mayHaveBinary(t reflect.Type) bool {
	if v, ok := binCache.Load(t); ok {
		return v.(bool)
	}
	b := mayHaveBinaryRec(t, map[reflect.Type]bool{})
	binCache.Store(t, b)
	return b
}

func mayHaveBinaryRec(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t.Kind() == reflect.Interface {
		return true // decided by the dynamic value
	}
	if customEncoded(t) {
		return false
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return true
		}
		return mayHaveBinaryRec(t.Elem(), seen)
	case reflect.Array, reflect.Map, reflect.Pointer:
		return mayHaveBinaryRec(t.Elem(), seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			if mayHaveBinaryRec(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

type deconstructor struct {
	attachments [][]byte
}

func (d *deconstructor) top(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case string, bool, int, int64, float64, json.RawMessage, json.Number:
		return v, nil
	case []byte:
		return d.placeholder(x), nil
	}
	rv := reflect.ValueOf(v)
	if !mayHaveBinary(rv.Type()) || !hasBinary(rv, 0) {
		return v, nil
	}
	return d.walk(rv, 0)
}

// hasBinary reports whether the value v holds a []byte that walk would turn
// into an attachment. It allocates nothing, so that the common argument (a
// struct whose type could hold binary data, e.g. through a map[string]any
// field, but whose value does not) is marshalled as is instead of being
// rebuilt field by field. A false positive only costs the walk.
func hasBinary(v reflect.Value, depth int) bool {
	if depth > maxDepth {
		return true // let walk report the cycle
	}
	if !v.IsValid() {
		return false
	}
	t := v.Type()
	if t.Kind() != reflect.Interface && !mayHaveBinary(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		return !v.IsNil() && hasBinary(v.Elem(), depth+1)
	case reflect.Slice:
		if v.IsNil() {
			return false
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return true
		}
		fallthrough
	case reflect.Array:
		for i := range v.Len() {
			if hasBinary(v.Index(i), depth+1) {
				return true
			}
		}
	case reflect.Map:
		if v.Len() == 0 {
			return false
		}
		it := v.MapRange()
		for it.Next() {
			if hasBinary(it.Value(), depth+1) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if hasBinary(v.Field(i), depth+1) {
				return true
			}
		}
	default:
		return true
	}
	return false
}

func (d *deconstructor) placeholder(b []byte) any {
	n := len(d.attachments)
	d.attachments = append(d.attachments, b)
	return placeholder{Num: n}
}

type placeholder struct {
	Num int
}

// MarshalJSON writes {"_placeholder":true,"num":N}.
func (p placeholder) MarshalJSON() ([]byte, error) {
	return []byte(`{"_placeholder":true,"num":` + strconv.Itoa(p.Num) + `}`), nil
}

var errTooDeep = errors.New("socketio: arguments nested too deeply (cycle?)")

// orderedObject keeps struct field order when a struct had to be rebuilt.
type orderedObject []kv

type kv struct {
	k string
	v any
}

// MarshalJSON writes the fields in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := marshal(f.k)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		v, err := marshal(f.v)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// walk returns a JSON-encodable equivalent of v with []byte replaced by
// placeholders.
func (d *deconstructor) walk(v reflect.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if !v.IsValid() {
		return nil, nil
	}
	t := v.Type()
	if t.Kind() != reflect.Interface && !mayHaveBinary(t) {
		if v.CanInterface() {
			return v.Interface(), nil
		}
		return nil, nil
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		return d.walk(v.Elem(), depth+1)
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return d.placeholder(v.Bytes()), nil
		}
		fallthrough
	case reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			w, err := d.walk(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = w
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			k, err := mapKey(it.Key())
			if err != nil {
				return nil, err
			}
			w, err := d.walk(it.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = w
		}
		return out, nil
	case reflect.Struct:
		var obj orderedObject
		seen := map[string]bool{}
		if err := d.walkStruct(v, &obj, seen, depth); err != nil {
			return nil, err
		}
		return obj, nil
	}
	if v.CanInterface() {
		return v.Interface(), nil
	}
	return nil, nil
}

func mapKey(k reflect.Value) (string, error) {
	if k.Kind() == reflect.String {
		return k.String(), nil
	}
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		b, err := tm.MarshalText()
		return string(b), err
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("socketio: unsupported map key type %v", k.Type())
}

// walkStruct follows encoding/json's field rules in a simplified form:
// exported fields, json tag names, "-", omitempty/omitzero, and embedded
// structs flattened (the first field of a name wins).
func (d *deconstructor) walkStruct(v reflect.Value, obj *orderedObject, seen map[string]bool, depth int) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if ft.Kind() == reflect.Struct && !customEncoded(ft) {
				if err := d.walkStruct(fv, obj, seen, depth+1); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if seen[name] {
			continue
		}
		if hasOpt(opts, "omitempty") && isEmpty(fv) {
			continue
		}
		if hasOpt(opts, "omitzero") && fv.IsZero() {
			continue
		}
		seen[name] = true
		w, err := d.walk(fv, depth+1)
		if err != nil {
			return err
		}
		*obj = append(*obj, kv{name, w})
	}
	return nil
}

func hasOpt(opts, name string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == name {
			return true
		}
	}
	return false
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}
