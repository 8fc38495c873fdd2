package messaging

import (
	"testing"
	"time"
)

// TestBelowFloorBreaksMillisecondTiesBySequence pins where a socket's
// history starts when messages share the first delivered message's
// millisecond, as REST sends made back to back do.
func TestBelowFloorBreaksMillisecondTiesBySequence(t *testing.T) {
	at := time.Date(2026, 11, 21, 22, 45, 57, 434e6, time.UTC)
	c := &convState{anchored: true, floor: at, floorSeq: 7}
	for _, tc := range []struct {
		name string
		m    Message
		want bool
	}{
		{"created a millisecond earlier", Message{ID: "a", CreatedAt: at.Add(-time.Millisecond), Sequence: 9}, true},
		{"same millisecond, lower sequence", Message{ID: "b", CreatedAt: at, Sequence: 6}, true},
		{"same millisecond, same sequence (the service may repeat it)", Message{ID: "c", CreatedAt: at, Sequence: 7}, false},
		{"same millisecond, higher sequence", Message{ID: "d", CreatedAt: at, Sequence: 8}, false},
		{"later", Message{ID: "e", CreatedAt: at.Add(time.Millisecond), Sequence: 1}, false},
	} {
		if got := c.belowFloor(&tc.m); got != tc.want {
			t.Errorf("%s: belowFloor = %v, want %v", tc.name, got, tc.want)
		}
	}

	// A floor set from a lost connection's time, with no message, has no
	// sequence: only time counts.
	c = &convState{anchored: true, floor: at}
	if c.belowFloor(&Message{ID: "f", CreatedAt: at, Sequence: 1}) {
		t.Error("a floor without a sequence refused a message of its millisecond")
	}
	// The anchor itself is never delivered again.
	c = &convState{anchored: true, floor: at, floorSeq: 3, floorID: "anchor"}
	if !c.belowFloor(&Message{ID: "anchor", CreatedAt: at, Sequence: 3}) {
		t.Error("the anchor message was not below the floor")
	}
}
