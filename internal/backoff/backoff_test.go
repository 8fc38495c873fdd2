package backoff

import (
	"context"
	"testing"
	"time"
)

func fixed(r float64) func() float64 { return func() float64 { return r } }

func TestDurationNoJitterDoubles(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 5 * time.Second, Factor: 2}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := b.Duration(i); got != w {
			t.Errorf("Duration(%d) = %v, want %v", i, got, w)
		}
	}
}

func TestDurationJitterMatchesReference(t *testing.T) {
	// r=0.5: floor(0.5*10)=5 is odd, so the deviation is added:
	// 1000ms + floor(0.5*0.5*1000ms).
	b := Backoff{Min: time.Second, Max: 5 * time.Second, Factor: 2, Jitter: 0.5, Rand: fixed(0.5)}
	if got := b.Duration(0); got != 1250*time.Millisecond {
		t.Errorf("Duration(0) = %v, want 1.25s", got)
	}
	// r=0.4: floor(4) is even, deviation subtracted: 2000 - 0.4*0.5*2000.
	b.Rand = fixed(0.4)
	if got := b.Duration(1); got != 1600*time.Millisecond {
		t.Errorf("Duration(1) = %v, want 1.6s", got)
	}
}

func TestDurationZeroValueUsesDefaults(t *testing.T) {
	var b Backoff
	if got := b.Duration(0); got != DefaultMin {
		t.Errorf("Duration(0) = %v, want %v", got, DefaultMin)
	}
	if got := b.Duration(10); got != DefaultMax {
		t.Errorf("Duration(10) = %v, want %v", got, DefaultMax)
	}
}

func TestDurationNeverOverflows(t *testing.T) {
	b := Default()
	for _, r := range []float64{0, 0.15, 0.5, 0.99} {
		b.Rand = fixed(r)
		for attempt := 0; attempt < 5000; attempt += 7 {
			d := b.Duration(attempt)
			if d < 0 || d > b.Max {
				t.Fatalf("r=%v attempt %d: %v outside [0, %v]", r, attempt, d, b.Max)
			}
		}
	}
	// A huge cap must not overflow either.
	big := Backoff{Min: time.Hour, Max: time.Duration(1<<63 - 1), Factor: 10}
	for _, a := range []int{0, 20, 34, 63, 64, 1 << 30} {
		if d := big.Duration(a); d < 0 {
			t.Fatalf("attempt %d: negative %v", a, d)
		}
	}
	// The classic overflow point of Min*2^n in integer nanoseconds.
	if d := (Backoff{Min: time.Second, Max: time.Minute, Factor: 2}).Duration(34); d != time.Minute {
		t.Fatalf("attempt 34 = %v, want the cap", d)
	}
}

func TestDurationReferenceRanges(t *testing.T) {
	// With the reference defaults the delays are about 500–1500 ms,
	// 1000–3000 ms, 2000–5000 ms, then 5000 ms.
	b := Default()
	ranges := [][2]time.Duration{
		{500 * time.Millisecond, 1500 * time.Millisecond},
		{1000 * time.Millisecond, 3000 * time.Millisecond},
		{2000 * time.Millisecond, 5000 * time.Millisecond},
	}
	for i := 0; i < 1000; i++ {
		for a, rg := range ranges {
			if d := b.Duration(a); d < rg[0] || d > rg[1] {
				t.Fatalf("attempt %d: %v outside %v", a, d, rg)
			}
		}
	}
}

func TestDurationBadRandIgnored(t *testing.T) {
	b := Default()
	b.Rand = fixed(7) // out of range: treated as 0
	if got := b.Duration(0); got != time.Second {
		t.Errorf("Duration(0) = %v, want 1s", got)
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on ended ctx = %v", err)
	}
	if err := Sleep(ctx, 0); err != context.Canceled {
		t.Fatalf("Sleep(0) on ended ctx = %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Sleep(ctx2, time.Hour) }()
	cancel2()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Sleep cancelled = %v", err)
	}
}
