package retry

import (
	"sync"
	"time"
)

// budgetWindow sizes a Budget's bucket: it holds at most this long's worth of the minimum
// rate, and never fewer than budgetMinTokens tokens.
const (
	budgetWindow    = 10 * time.Second
	budgetMinTokens = 10
	// tokenEpsilon absorbs float rounding: ten deposits of 0.1 make one token.
	tokenEpsilon = 1e-9
)

// Budget bounds the retries to one provider so they cannot multiply an outage: a token
// bucket where every first attempt deposits Ratio tokens, MinPerSec tokens flow in every
// second whatever the traffic, and every retry takes one whole token. When the bucket is
// empty calls are not retried. It starts full.
//
// With Ratio 0.1, retries add at most about 10% to the calls a provider gets (plus MinPerSec
// retries a second, so a quiet provider can still retry a few calls), however many of them
// fail. It is safe for concurrent use.
type Budget struct {
	ratio     float64
	perSec    float64
	capacity  float64
	now       func() time.Time
	mu        sync.Mutex
	tokens    float64
	refreshed time.Time
}

// NewBudget returns a full budget; now is its clock (nil: time.Now).
func NewBudget(ratio, minPerSec float64, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	capacity := max(minPerSec*budgetWindow.Seconds(), budgetMinTokens)
	return &Budget{ratio: ratio, perSec: minPerSec, capacity: capacity, now: now, tokens: capacity, refreshed: now()}
}

// refill adds the minimum rate's tokens since the last call; b.mu is held.
func (b *Budget) refill() {
	now := b.now()
	if dt := now.Sub(b.refreshed); dt > 0 {
		b.tokens = min(b.capacity, b.tokens+b.perSec*dt.Seconds())
	}
	b.refreshed = now
}

// Deposit records a first attempt.
func (b *Budget) Deposit() {
	b.mu.Lock()
	b.refill()
	b.tokens = min(b.capacity, b.tokens+b.ratio)
	b.mu.Unlock()
}

// Withdraw takes a token for a retry; false if there is none and the call must not be
// retried.
func (b *Budget) Withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.tokens < 1-tokenEpsilon {
		return false
	}
	b.tokens = max(b.tokens-1, 0)
	return true
}

// Tokens is how many retries the budget would allow now, for metrics.
func (b *Budget) Tokens() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	return b.tokens
}
