package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/anthropic"
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
	case busv1.Operation_OPERATION_RESPONSES:
		return llm.FormatResponses
	default:
		return llm.FormatChat
	}
}

// answer runs the request against the provider and sends the answer through rep. An error
// returned before anything was sent is the whole answer; one returned after a stream began
// ends it with an error event.
func (w *Worker) answer(ctx context.Context, req *busv1.Request, p provider.Provider, rep *reply, log *slog.Logger) (llm.Usage, error) {
	header := make(http.Header, len(req.Headers))
	for k, v := range req.Headers {
		header.Set(k, v)
	}
	model := p.Model(req.Model)
	switch req.Operation {
	case busv1.Operation_OPERATION_COUNT_TOKENS:
		return llm.Usage{}, w.countTokens(ctx, req, p, model, header, rep)
	case busv1.Operation_OPERATION_EMBEDDINGS:
		// Embedding models are not chat models: the client's name goes through as it is.
		return w.embeddings(ctx, req, p, req.Model, rep)
	}

	plan, err := translate.For(clientFormat(req.Operation), p.Format())
	if err != nil {
		return llm.Usage{}, apierror.New(http.StatusBadRequest, "provider %s cannot serve this API: %v", p.Name(), err)
	}
	call, err := plan.Request(req.Body, model)
	if err != nil {
		return llm.Usage{}, &apierror.Error{Status: http.StatusBadRequest, Type: apierror.TypeInvalidRequest, Message: err.Error()}
	}
	log.Debug("calling upstream", "upstream_model", model, "format", p.Format(), "bytes", len(call.Body()))
	resp, err := w.do(ctx, p, func(ctx context.Context) (*http.Request, error) {
		return p.NewRequest(ctx, call.Body(), req.Stream, header)
	})
	if err != nil {
		return llm.Usage{}, err
	}
	defer resp.Body.Close()

	if !req.Stream {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return llm.Usage{}, upstreamError(ctx, p, err)
		}
		out, usage, err := call.Response(body)
		if err != nil {
			return llm.Usage{}, apierror.New(http.StatusBadGateway, "%s: the upstream's answer could not be read: %v", p.Name(), err)
		}
		if err := rep.head(http.StatusOK, "application/json"); err != nil {
			return llm.Usage{}, err
		}
		return usage, rep.data(out)
	}

	next := sse.NewReader(resp.Body, 0).Next
	if d, ok := p.(provider.StreamDecoder); ok {
		next = d.DecodeStream(resp.Body)
	}
	stream := call.Stream()
	if err := rep.head(http.StatusOK, "text/event-stream"); err != nil {
		return llm.Usage{}, err
	}
	var buf []byte
	for {
		ev, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
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
	if len(tail) > 0 {
		if err := rep.data(sse.Encode(tail...)); err != nil {
			return stream.Usage(), err
		}
	}
	return stream.Usage(), nil
}

// do makes the upstream call and turns every failure into the error the client should see.
func (w *Worker) do(ctx context.Context, p provider.Provider, build func(context.Context) (*http.Request, error)) (*http.Response, error) {
	hreq, err := build(ctx)
	if err != nil {
		return nil, apierror.New(http.StatusInternalServerError, "%s: could not build the upstream request: %v", p.Name(), err)
	}
	resp, err := w.http.Do(hreq)
	if err != nil {
		return nil, upstreamError(ctx, p, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		e := apierror.FromUpstream(p.Name(), resp.StatusCode, body)
		if s := resp.Header.Get("Retry-After"); s != "" {
			if n, err := strconv.Atoi(s); err == nil {
				e.RetryAfter = time.Duration(n) * time.Second
			}
		}
		return nil, e
	}
	return resp, nil
}

// upstreamError describes a failed exchange with an upstream: unreachable, timed out, or cut
// off. The URL is named so the operator sees which endpoint to fix.
func upstreamError(ctx context.Context, p provider.Provider, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.DeadlineExceeded) {
		return apierror.New(499, "%v", cause)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return apierror.New(http.StatusGatewayTimeout, "%s: the upstream did not answer before the request's deadline", p.Name())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return apierror.New(http.StatusBadGateway, "%s: upstream %s is unreachable: %v", p.Name(), redactURL(ue.URL), ue.Err)
	}
	return apierror.New(http.StatusBadGateway, "%s: upstream connection failed: %v", p.Name(), err)
}

// streamError is an upstream stream that could not be converted, or that ended early.
func streamError(p provider.Provider, err error) error {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, llm.ErrTruncated) {
		return apierror.New(http.StatusBadGateway, "%s: %v", p.Name(), err)
	}
	return apierror.New(http.StatusBadGateway, "%s: the upstream's stream could not be read: %v", p.Name(), err)
}

// redactURL drops the query of a URL, where some providers carry keys.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

// countTokens answers /v1/messages/count_tokens: the upstream counts when it can; otherwise a
// high estimate, because Claude Code compacts on this number and a low one overflows.
func (w *Worker) countTokens(ctx context.Context, req *busv1.Request, p provider.Provider, model string, header http.Header, rep *reply) error {
	if tc, ok := p.(provider.TokenCounter); ok {
		body, err := sjson.SetBytes(req.Body, "model", model)
		if err != nil {
			return fmt.Errorf("%w: %w", llm.ErrInvalid, err)
		}
		resp, err := w.do(ctx, p, func(ctx context.Context) (*http.Request, error) {
			return tc.NewCountTokensRequest(ctx, body, header)
		})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			return upstreamError(ctx, p, err)
		}
		if err := rep.head(http.StatusOK, "application/json"); err != nil {
			return err
		}
		return rep.data(out)
	}
	out := fmt.Appendf(nil, `{"input_tokens":%d}`, anthropic.EstimateInputTokens(req.Body))
	if err := rep.head(http.StatusOK, "application/json"); err != nil {
		return err
	}
	return rep.data(out)
}

// embeddings answers /v1/embeddings through a provider that has an embeddings endpoint.
func (w *Worker) embeddings(ctx context.Context, req *busv1.Request, p provider.Provider, model string, rep *reply) (llm.Usage, error) {
	e, ok := p.(provider.Embedder)
	if !ok {
		return llm.Usage{}, apierror.New(http.StatusNotFound, "provider %s does not serve embeddings", p.Name())
	}
	body, err := sjson.SetBytes(req.Body, "model", model)
	if err != nil {
		return llm.Usage{}, fmt.Errorf("%w: %w", llm.ErrInvalid, err)
	}
	resp, err := w.do(ctx, p, func(ctx context.Context) (*http.Request, error) {
		return e.NewEmbeddingsRequest(ctx, body)
	})
	if err != nil {
		return llm.Usage{}, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return llm.Usage{}, upstreamError(ctx, p, err)
	}
	if err := rep.head(http.StatusOK, "application/json"); err != nil {
		return llm.Usage{}, err
	}
	usage := llm.Usage{InputTokens: gjson.GetBytes(out, "usage.prompt_tokens").Int()}
	return usage, rep.data(out)
}
