package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-retry"
	"google.golang.org/protobuf/proto"

	"github.com/lynkr/lynkr/pkg/bus"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/spend"
	"github.com/lynkr/lynkr/pkg/tenant"
	"github.com/lynkr/lynkr/proto/busv1"
)

// ChargerName is the durable consumer of the usage stream every gateway shares: each usage
// batch is charged by one of them.
const ChargerName = "lynkr-charger"

// chargeRetry is how long a batch that could not be charged (the store is down) waits before
// JetStream delivers it again: spend catches up once the store is back.
const chargeRetry = 2 * time.Second

// EnsureCharger creates or updates the durable consumer the chargers of every gateway share.
func EnsureCharger(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.UsageStream, jetstream.ConsumerConfig{
		Durable:       ChargerName,
		Description:   "Charges usage to tenants' spend (gateways)",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 256,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("set up consumer %s: %w", ChargerName, err)
	}
	return cons, nil
}

// RunCharger charges the usage workers publish on the bus to the tenants it belongs to, until
// ctx ends. A batch is acknowledged once charged; the ledger counts each request id once, so a
// batch delivered twice, or a request answered twice after a redelivery, is charged once. The
// charge of a request ends its hold on the budgets in the same step (spend.Ledger.Charge).
// Until the bus takes the consumer, it tries again: spend must not stop for a NATS blip. When
// restart receives (the bus re-created the consumer, see bus.Keeper) or the consumption ends
// on its own, it consumes again.
func (t *Tenancy) RunCharger(ctx context.Context, js jetstream.JetStream, restart <-chan struct{}) error {
	for {
		var cons jetstream.Consumer
		backoff := retry.WithCappedDuration(5*time.Second, retry.NewExponential(200*time.Millisecond))
		err := retry.Do(ctx, backoff, func(ctx context.Context) error {
			var err error
			if cons, err = EnsureCharger(ctx, js); err != nil {
				t.log.Warn("usage charger waiting for the bus", "error", err)
				return retry.RetryableError(err)
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("charger: %w", err)
		}
		cc, err := cons.Consume(func(msg jetstream.Msg) { t.chargeBatch(ctx, msg) })
		if err != nil {
			return fmt.Errorf("charger: %w", err)
		}
		// Batches not charged yet are delivered again, to this or another gateway: no need to
		// wait for them, which could take long with the store down.
		select {
		case <-ctx.Done():
			cc.Stop()
			return nil
		case <-restart:
			cc.Stop()
		case <-cc.Closed():
			t.log.Warn("usage charger stopped consuming: starting again")
		}
	}
}

func (t *Tenancy) chargeBatch(ctx context.Context, msg jetstream.Msg) {
	var batch busv1.UsageBatch
	if err := proto.Unmarshal(msg.Data(), &batch); err != nil {
		t.log.Error("usage batch unreadable: dropped", "subject", msg.Subject(), "error", err)
		_ = msg.Term()
		return
	}
	charges := make([]spend.Charge, 0, len(batch.Usages))
	var at time.Time
	if md, err := msg.Metadata(); err == nil {
		at = md.Timestamp // when the worker reported it: the day it counts in
	} else {
		at = time.Now()
	}
	for _, u := range batch.Usages {
		if c, ok := t.chargeOf(u, at); ok {
			charges = append(charges, c)
		}
	}
	if len(charges) == 0 {
		_ = msg.Ack()
		return
	}
	if ctx.Err() != nil {
		_ = msg.Nak() // stopping: another gateway, or the next start, charges it
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*t.cfg.Timeout)
	defer cancel()
	n, err := t.ledger.Charge(cctx, charges)
	if err != nil {
		t.log.Warn("usage not charged yet: the tenant store failed; retrying", "batch", fmt.Sprintf("%s/%d", batch.Worker, batch.Seq),
			"requests", len(charges), "error", err)
		_ = msg.NakWithDelay(chargeRetry)
		return
	}
	if err := msg.Ack(); err != nil && !errors.Is(err, context.Canceled) {
		t.log.Warn("usage batch charged but not acknowledged: it will come again and be skipped", "error", err)
	}
	if t.metrics != nil {
		t.metrics.Charged.Add(float64(n))
	}
}

// chargeOf is the charge of one request's usage; false when it belongs to nobody.
func (t *Tenancy) chargeOf(u *busv1.Usage, at time.Time) (spend.Charge, bool) {
	tn := u.GetTenant()
	if tn == nil || u.RequestId == "" {
		return spend.Charge{}, false
	}
	for _, n := range []int64{u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheCreateTokens} {
		if n < 0 || n > maxTokens {
			// The ledger refuses the whole batch for one bad record: drop it rather than
			// retry the batch for ever.
			t.log.Error("usage record with impossible token counts: not charged", "request_id", u.RequestId,
				"input", u.InputTokens, "output", u.OutputTokens)
			return spend.Charge{}, false
		}
	}
	id := Identity{Team: tn.Team, Customer: tn.Customer, Org: tn.Org}
	if tn.KeyId != "" {
		id.Key = &tenant.Key{ID: tn.KeyId}
	}
	scopes := id.Scopes()
	if len(scopes) == 0 {
		return spend.Charge{}, false
	}
	used := t.used(u)
	return spend.Charge{
		RequestID: u.RequestId,
		Scopes:    scopes,
		Tokens:    used.Tokens,
		Cost:      used.Cost,
		At:        at,
	}, true
}

// used is what a usage record counts against budgets: its input and output tokens, and its
// cost. An unpriced model costs nothing; its tokens count.
func (t *Tenancy) used(u *busv1.Usage) spend.Held {
	usage := llm.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		CacheReadTokens: u.CacheReadTokens, CacheCreateTokens: u.CacheCreateTokens}
	cost, _ := t.prices.Cost(u.Model, usage)
	return spend.Held{Tokens: u.InputTokens + u.OutputTokens, Cost: cost}
}

// maxTokens is more tokens than one request can use by far, small enough that sums and costs
// of such counts cannot overflow.
const maxTokens = 1 << 40
