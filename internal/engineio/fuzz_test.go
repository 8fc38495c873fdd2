package engineio

import "testing"

// FuzzParseOpen: the open packet parser never panics, and what it accepts
// is a usable handshake that survives a round trip.
func FuzzParseOpen(f *testing.F) {
	f.Add([]byte(`0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	f.Add([]byte(`0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	f.Add([]byte(`0{"sid":"x","pingInterval":1,"pingTimeout":1}`))
	f.Add([]byte(`0{}`))
	f.Add([]byte(`4hello`))
	f.Add([]byte(`0`))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseOpen(in)
		if err != nil {
			return
		}
		if h.SID == "" || h.PingInterval <= 0 || h.PingTimeout <= 0 || h.PingInterval+h.PingTimeout <= 0 {
			t.Fatalf("accepted unusable handshake %+v from %q", h, in)
		}
		b, err := h.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		h2, err := ParseOpen(append([]byte{'0'}, b...))
		if err != nil || h2.SID != h.SID || h2.PingInterval != h.PingInterval || h2.PingTimeout != h.PingTimeout || h2.MaxPayload != h.MaxPayload {
			t.Fatalf("round trip %+v -> %+v (%v)", h, h2, err)
		}
	})
}
