// Package backoff computes exponential retry delays with jitter. It is shared
// by the REST retry loop and the Socket.IO reconnect manager.
//
// The formula follows the reference Socket.IO client (contrib/backo2): the
// base delay is Min*Factor^attempt, a random deviation of up to
// Jitter*base is added or subtracted, and the result is capped at Max. The
// computation is done in float64 and the exponent is bounded, so large attempt
// numbers never overflow into negative durations.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Default values of the reference Socket.IO client (reconnectionDelay,
// reconnectionDelayMax, factor 2, randomizationFactor).
const (
	DefaultMin    = 1 * time.Second
	DefaultMax    = 5 * time.Second
	DefaultFactor = 2.0
	DefaultJitter = 0.5
)

// maxExponent bounds the exponent so that Factor^attempt stays finite; any
// realistic Max is reached long before.
const maxExponent = 64

// Backoff describes an exponential backoff policy. The zero value is usable
// and means the reference client defaults (see Default). A Backoff is a value:
// copying it is safe and Duration has no side effects.
type Backoff struct {
	// Min is the delay of attempt 0 before jitter. Zero means DefaultMin.
	Min time.Duration
	// Max caps every delay, jitter included. Zero means DefaultMax. If Max is
	// below Min, Min is used as the cap.
	Max time.Duration
	// Factor multiplies the delay on every attempt. Values below 1 (zero
	// included) mean DefaultFactor.
	Factor float64
	// Jitter is the randomization factor in [0, 1]: the delay deviates from
	// the base by up to Jitter*base in either direction. Zero means no jitter;
	// a negative value also means no jitter; values above 1 are clamped to 1.
	// Use Default() to get the reference 0.5.
	Jitter float64
	// Rand returns a number in [0, 1). Nil means math/rand/v2. Tests inject a
	// deterministic source here.
	Rand func() float64
}

// Default returns the reference client policy: 1 s, 2 s, 4 s … capped at 5 s
// with 50 % jitter.
func Default() Backoff {
	return Backoff{Min: DefaultMin, Max: DefaultMax, Factor: DefaultFactor, Jitter: DefaultJitter}
}

// Duration returns the delay before retry number attempt (0-based). The
// result is always within [0, Max].
func (b Backoff) Duration(attempt int) time.Duration {
	lo, hi, factor := b.Min, b.Max, b.Factor
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	if hi < lo {
		hi = lo
	}
	if factor < 1 {
		factor = DefaultFactor
	}
	if attempt < 0 {
		attempt = 0
	}
	exp := attempt
	if exp > maxExponent {
		exp = maxExponent
	}
	ms := float64(lo) * math.Pow(factor, float64(exp))
	if j := b.Jitter; j > 0 {
		if j > 1 {
			j = 1
		}
		r := b.random()
		dev := math.Floor(r * j * ms)
		// Same parity trick as the reference: one random number decides both
		// the size and the sign of the deviation.
		if int64(math.Floor(r*10))&1 == 0 {
			ms -= dev
		} else {
			ms += dev
		}
	}
	if math.IsNaN(ms) || ms > float64(hi) {
		return hi
	}
	if ms < 0 {
		return 0
	}
	return time.Duration(ms)
}

func (b Backoff) random() float64 {
	if b.Rand != nil {
		r := b.Rand()
		if r < 0 || r >= 1 || math.IsNaN(r) {
			return 0
		}
		return r
	}
	return rand.Float64()
}

// Sleep waits for d or until ctx ends, whichever comes first. It returns
// ctx.Err() if ctx ended first and nil otherwise. A non-positive d returns at
// once (still reporting an already-ended ctx). It uses a timer in a select, so
// it never outlives ctx.
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
