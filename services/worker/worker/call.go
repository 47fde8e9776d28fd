package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/anthropic"
	"github.com/lynkr/lynkr/pkg/llm/header"
	"github.com/lynkr/lynkr/pkg/provider"
	"github.com/lynkr/lynkr/pkg/sse"
	"github.com/lynkr/lynkr/pkg/translate"
	"github.com/lynkr/lynkr/proto/busv1"
)

// maxErrorBody bounds how much of an upstream's error answer is read.
const maxErrorBody = 1 << 20

// clientFormat is the API format of each operation's client.
func clientFormat(op busv1.Operation) llm.Format {
	switch op {
	case busv1.Operation_OPERATION_MESSAGES, busv1.Operation_OPERATION_COUNT_TOKENS:
		return llm.FormatAnthropic
	case busv1.Operation_OPERATION_RESPONSES, busv1.Operation_OPERATION_RESPONSES_COMPACT:
		return llm.FormatResponses
	default:
		return llm.FormatChat
	}
}

// plan is the translation from a client format to an upstream format, found once per pair.
func (w *Worker) plan(client, upstream llm.Format) (translate.Plan, error) {
	key := [2]llm.Format{client, upstream}
	if p, ok := w.plans.Load(key); ok {
		return p.(translate.Plan), nil
	}
	p, err := translate.For(client, upstream)
	if err != nil {
		return nil, err
	}
	w.plans.Store(key, p)
	return p, nil
}

// answer runs the request against the provider and sends the answer through rep. An error
// returned before anything was sent is the whole answer; one returned after a stream began
// ends it with an error event. While the provider's breaker is open the request goes to the
// fallback provider, if there is one, else fails fast.
func (w *Worker) answer(ctx context.Context, req *busv1.Request, p provider.Provider, rep *reply, log *slog.Logger) (llm.Usage, error) {
	usage, err := w.answerWith(ctx, req, p, rep, log)
	if !errors.Is(err, breaker.ErrOpen) {
		return usage, err
	}
	if fb, ok := w.fallbackFor(p); ok {
		log.Info("provider down: answering from the fallback provider", "fallback", fb.Name(), "reason", err)
		w.metrics.Fallbacks.WithLabelValues(p.Name(), fb.Name()).Inc()
		rep.reset()
		usage, err = w.answerWith(ctx, req, fb, rep, log.With("fallback", fb.Name()))
	}
	return usage, providerDown(err)
}

// fallbackFor is the provider to use while p is down.
func (w *Worker) fallbackFor(p provider.Provider) (provider.Provider, bool) {
	name := w.ps.Fallback()
	if name == "" || name == p.Name() {
		return nil, false
	}
	return w.ps.Get(name)
}

func (w *Worker) answerWith(ctx context.Context, req *busv1.Request, p provider.Provider, rep *reply, log *slog.Logger) (llm.Usage, error) {
	rep.provider = p.Name()
	clientHeader := make(http.Header, len(req.Headers))
	for k, v := range req.Headers {
		clientHeader.Set(k, v)
	}
	model := p.Model(req.Model)
	rep.model = model
	switch req.Operation {
	case busv1.Operation_OPERATION_COUNT_TOKENS:
		return llm.Usage{}, w.countTokens(ctx, req, p, model, clientHeader, rep, log)
	case busv1.Operation_OPERATION_EMBEDDINGS:
		// Embedding models are not chat models: the client's name goes through as it is.
		rep.model = req.Model
		return w.embeddings(ctx, req, p, req.Model, rep, log)
	case busv1.Operation_OPERATION_RESPONSES_COMPACT:
		return w.compact(ctx, req, p, model, clientHeader, rep, log)
	}

	plan, err := w.plan(clientFormat(req.Operation), p.Format())
	if err != nil {
		return llm.Usage{}, apierror.New(http.StatusBadRequest, "provider %s cannot serve this API: %v", p.Name(), err)
	}
	call, err := plan.Request(req.Body, model)
	if err != nil {
		return llm.Usage{}, &apierror.Error{Status: http.StatusBadRequest, Type: apierror.TypeInvalidRequest, Message: err.Error()}
	}
	if dropped := call.Dropped(); len(dropped) > 0 {
		w.noteDropped(rep, plan, dropped, log)
	}
	log.Debug("calling upstream", "upstream_model", model, "format", p.Format(), "bytes", len(call.Body()))
	ex, err := w.call(ctx, p, log, func(ctx context.Context) (*http.Request, error) {
		return p.NewRequest(ctx, call.Body(), req.Stream, clientHeader)
	})
	if err != nil {
		return llm.Usage{}, err
	}
	defer ex.resp.Body.Close()
	rep.upstream(ex.resp.Header)

	if !req.Stream {
		body, err := readBody(ex.resp)
		if err != nil {
			err = upstreamError(ctx, p, err)
			ex.finish(err)
			return llm.Usage{}, err
		}
		ex.finish(nil)
		out, usage, err := call.Response(body)
		if ae := (*apierror.Error)(nil); errors.As(err, &ae) {
			return llm.Usage{}, apierror.Named(p.Name(), ae) // an error the upstream answered with
		} else if err != nil {
			return llm.Usage{}, apierror.New(http.StatusBadGateway, "%s: the upstream's answer could not be read: %v", p.Name(), err)
		}
		rep.begin(http.StatusOK, "application/json")
		rep.hold(out)
		return usage, nil
	}

	usage, err := w.relayStream(ctx, p, call, ex.resp.Body, rep)
	ex.finish(err)
	return usage, err
}

// relayStream converts the upstream's stream and sends it on, event batch by event batch.
func (w *Worker) relayStream(ctx context.Context, p provider.Provider, call *translate.Call, body io.Reader, rep *reply) (llm.Usage, error) {
	next := sse.NewReader(body, 0).Next
	if d, ok := p.(provider.StreamDecoder); ok {
		next = d.DecodeStream(body)
	}
	stream := call.Stream()
	rep.begin(http.StatusOK, "text/event-stream")
	var buf []byte
	for {
		ev, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var ae *apierror.Error
			if errors.As(err, &ae) {
				return stream.Usage(), ae
			}
			return stream.Usage(), upstreamError(ctx, p, err)
		}
		out, err := stream.Next(ev)
		if err != nil {
			return stream.Usage(), streamError(p, err)
		}
		if len(out) == 0 {
			continue
		}
		buf = buf[:0]
		for _, e := range out {
			buf = e.AppendTo(buf)
		}
		if err := rep.data(buf); err != nil {
			return stream.Usage(), err
		}
	}
	tail, err := stream.Close()
	if err != nil {
		return stream.Usage(), streamError(p, err)
	}
	rep.hold(sse.Encode(tail...)) // goes out with the end
	return stream.Usage(), nil
}

// countTokens answers /v1/messages/count_tokens: the upstream counts when it can; otherwise,
// or when its count fails, a high estimate, because Claude Code compacts on this number and a
// low one overflows. The count is asked once, outside the retries and the breaker: a client
// counting in a loop must not spend the provider's retry budget, nor open the breaker that
// guards every tenant's generations.
func (w *Worker) countTokens(ctx context.Context, req *busv1.Request, p provider.Provider, model string, clientHeader http.Header, rep *reply, log *slog.Logger) error {
	if tc, ok := p.(provider.TokenCounter); ok {
		out, upstream, err := w.count(ctx, tc, p, model, req.Body, clientHeader)
		if err == nil {
			rep.upstream(upstream)
			rep.begin(http.StatusOK, "application/json")
			rep.hold(out)
			return nil
		}
		if errors.Is(context.Cause(ctx), ErrCanceled) {
			return err
		}
		log.Info("upstream count failed: answering an estimate", "error", err)
	}
	out := fmt.Appendf(nil, `{"input_tokens":%d}`, anthropic.EstimateInputTokens(req.Body))
	rep.begin(http.StatusOK, "application/json")
	rep.hold(out)
	return nil
}

// count asks the upstream, once, to count the tokens of body; it returns the count's body and
// the upstream's response header.
func (w *Worker) count(ctx context.Context, tc provider.TokenCounter, p provider.Provider, model string, body []byte, clientHeader http.Header) ([]byte, http.Header, error) {
	body, err := sjson.SetBytes(body, "model", model)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(w.cfg.UpstreamTimeout, func() { cancel(errUpstreamTimeout) })
	defer timer.Stop()
	resp, err := w.do(ctx, p, func(ctx context.Context) (*http.Request, error) {
		return tc.NewCountTokensRequest(ctx, body, clientHeader)
	})
	w.metrics.UpstreamRequests.WithLabelValues(p.Name(), upstreamStatus(resp, err)).Inc()
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return nil, nil, upstreamError(ctx, p, err)
	}
	return out, resp.Header, nil
}

// embeddings answers /v1/embeddings through a provider that has an embeddings endpoint.
func (w *Worker) embeddings(ctx context.Context, req *busv1.Request, p provider.Provider, model string, rep *reply, log *slog.Logger) (llm.Usage, error) {
	e, ok := p.(provider.Embedder)
	if !ok {
		return llm.Usage{}, apierror.New(http.StatusNotFound, "provider %s does not serve embeddings", p.Name())
	}
	body, err := sjson.SetBytes(req.Body, "model", model)
	if err != nil {
		return llm.Usage{}, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	ex, err := w.call(ctx, p, log, func(ctx context.Context) (*http.Request, error) {
		return e.NewEmbeddingsRequest(ctx, body)
	})
	if err != nil {
		return llm.Usage{}, err
	}
	defer ex.resp.Body.Close()
	rep.upstream(ex.resp.Header)
	out, err := io.ReadAll(ex.resp.Body)
	if err != nil {
		err = upstreamError(ctx, p, err)
	}
	ex.finish(err)
	if err != nil {
		return llm.Usage{}, err
	}
	rep.begin(http.StatusOK, "application/json")
	rep.hold(out)
	return llm.Usage{InputTokens: gjson.GetBytes(out, "usage.prompt_tokens").Int()}, nil
}

// compact answers /v1/responses/compact through a provider that serves OpenAI's compaction:
// the client's body goes upstream byte for byte but for the model, mapped, and the upstream's
// answer comes back as it is.
func (w *Worker) compact(ctx context.Context, req *busv1.Request, p provider.Provider, model string, clientHeader http.Header, rep *reply, log *slog.Logger) (llm.Usage, error) {
	c, ok := p.(provider.Compactor)
	if !ok {
		return llm.Usage{}, apierror.New(http.StatusNotFound, "provider %s does not serve /v1/responses/compact", p.Name())
	}
	body := req.Body
	if model != "" && gjson.GetBytes(body, "model").String() != model {
		b, err := sjson.SetBytes(body, "model", model)
		if err != nil {
			return llm.Usage{}, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
		}
		body = b
	}
	ex, err := w.call(ctx, p, log, func(ctx context.Context) (*http.Request, error) {
		return c.NewCompactRequest(ctx, body, clientHeader)
	})
	if err != nil {
		return llm.Usage{}, err
	}
	defer ex.resp.Body.Close()
	rep.upstream(ex.resp.Header)
	out, err := readBody(ex.resp)
	if err != nil {
		err = upstreamError(ctx, p, err)
	}
	ex.finish(err)
	if err != nil {
		return llm.Usage{}, err
	}
	rep.begin(http.StatusOK, "application/json")
	rep.hold(out)
	u := gjson.GetManyBytes(out, "usage.input_tokens", "usage.output_tokens", "usage.input_tokens_details.cached_tokens")
	return llm.Usage{InputTokens: u[0].Int(), OutputTokens: u[1].Int(), CacheReadTokens: u[2].Int()}, nil
}

// readBody reads a whole answer into one buffer of the size the upstream announced, rather
// than growing one from 512 bytes.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= maxAnnouncedBody {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(resp.Body)
}

// maxAnnouncedBody bounds the buffer a Content-Length makes the worker allocate up front.
const maxAnnouncedBody = 64 << 20

// maxDroppedHeader bounds the names X-Lynkr-Dropped lists: the names come from the client's
// request, which may hold any number of members lynkr does not know.
const maxDroppedHeader = 32

// noteDropped tells the client what the conversion left out of its request, in the answer's
// X-Lynkr-Dropped header, and counts it. Names the policy lists are counted by name, others
// (a client's own member names) as "other", so the metric's series stay bounded.
func (w *Worker) noteDropped(rep *reply, plan translate.Plan, dropped []string, log *slog.Logger) {
	from, to := plan.From(), plan.To()
	names := make([]string, 0, min(len(dropped), maxDroppedHeader))
	for _, d := range dropped {
		label := "other"
		if plan.Lists(d) {
			label = d
		}
		w.metrics.Dropped.WithLabelValues(string(from), string(to), label).Inc()
		if n := headerToken(d); n != "" && len(names) < maxDroppedHeader {
			names = append(names, n)
		}
	}
	rep.header(header.Dropped, strings.Join(names, ","))
	log.Debug("conversion dropped", "from", from, "to", to, "dropped", names)
}

// headerToken is name as a header value may carry it: printable ASCII without commas, at most
// 64 bytes; "" when nothing is left.
func headerToken(name string) string {
	b := make([]byte, 0, min(len(name), 64))
	for i := 0; i < len(name) && len(b) < 64; i++ {
		if c := name[i]; c > ' ' && c < 0x7f && c != ',' {
			b = append(b, c)
		}
	}
	return string(b)
}
