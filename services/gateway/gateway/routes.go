package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/anthropic"
	"github.com/lynkr/lynkr/pkg/llm/openai"
	"github.com/lynkr/lynkr/pkg/llm/responses"
	"github.com/lynkr/lynkr/proto/busv1"
)

// HeaderProvider lets a client pick the provider explicitly.
const HeaderProvider = "X-Lynkr-Provider"

// endpoint is one API call the gateway accepts and puts on the bus.
type endpoint struct {
	op       busv1.Operation
	format   llm.Format
	validate func([]byte) (llm.Summary, []string)
	// conversation: the body is an agent's conversation, which the loop guard reads.
	conversation bool
}

var (
	messagesEndpoint    = endpoint{busv1.Operation_OPERATION_MESSAGES, llm.FormatAnthropic, anthropic.ValidateMessages, true}
	countTokensEndpoint = endpoint{busv1.Operation_OPERATION_COUNT_TOKENS, llm.FormatAnthropic, anthropic.ValidateCountTokens, false}
	chatEndpoint        = endpoint{busv1.Operation_OPERATION_CHAT_COMPLETIONS, llm.FormatChat, openai.ValidateChat, true}
	responsesEndpoint   = endpoint{busv1.Operation_OPERATION_RESPONSES, llm.FormatResponses, responses.Validate, true}
	embeddingsEndpoint  = endpoint{busv1.Operation_OPERATION_EMBEDDINGS, llm.FormatChat, openai.ValidateEmbeddings, false}
	compactEndpoint     = endpoint{busv1.Operation_OPERATION_RESPONSES_COMPACT, llm.FormatResponses, validateCompact, false}
)

// validateCompact checks a /v1/responses/compact request: a JSON object naming its model.
// The rest goes to the upstream as the client wrote it, for the upstream to judge: only
// providers that serve OpenAI's compaction take it, and no conversion reads it.
func validateCompact(body []byte) (llm.Summary, []string) {
	var sum llm.Summary
	switch {
	case !gjson.ValidBytes(body):
		return sum, []string{"the body is not valid JSON"}
	case !utf8.Valid(body):
		return sum, []string{"the body is not valid UTF-8"}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return sum, []string{"the body must be a JSON object"}
	}
	switch model := root.Get("model"); {
	case !model.Exists() || model.Type == gjson.Null:
		return sum, []string{"model: is required"}
	case model.Type != gjson.String:
		return sum, []string{"model: must be a string, not " + jsonKind(model)}
	case model.Str == "":
		return sum, []string{"model: must not be empty"}
	default:
		sum.Model = model.Str
	}
	return sum, nil // compaction answers whole: never a stream
}

// jsonKind names the JSON type of v, for a problem's words.
func jsonKind(v gjson.Result) string {
	switch {
	case v.Type == gjson.True || v.Type == gjson.False:
		return "a boolean"
	case v.Type == gjson.Number:
		return "a number"
	case v.IsArray():
		return "an array"
	case v.IsObject():
		return "an object"
	}
	return "null"
}

func (g *Gateway) routes(extra map[string]http.Handler) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = g.handleError
	e.Use(g.requestID, g.recoverPanic)

	e.POST("/v1/messages", g.accept(messagesEndpoint))
	e.POST("/v1/messages/count_tokens", g.accept(countTokensEndpoint))
	e.POST("/v1/chat/completions", g.accept(chatEndpoint))
	e.POST("/v1/responses", g.accept(responsesEndpoint))
	e.POST("/v1/responses/compact", g.accept(compactEndpoint))
	e.POST("/v1/embeddings", g.accept(embeddingsEndpoint))
	e.GET("/v1/models", g.listModels, g.authenticated)
	e.GET("/v1/models/:id", g.getModel, g.authenticated)
	g.tenancyRoutes(e)
	e.GET("/", root)
	e.HEAD("/", root)
	e.GET("/health/live", g.live)
	e.GET("/health/ready", g.readiness)
	if g.cfg.MetricsEnabled {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(g.promReg, promhttp.HandlerOpts{Registry: g.promReg})))
		e.GET("/metrics/observability", g.observabilityView)
		e.GET("/metrics/circuit-breakers", g.circuitBreakers)
		e.GET("/metrics/load-shedding", g.loadShedding)
	}
	for path, h := range extra {
		e.Any(path, echo.WrapHandler(h))
	}
	return e
}

// requestID takes a usable X-Request-Id from the client or makes one, and returns it on
// every response.
func (g *Gateway) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		g.ids.ensureRequestID(c.Request().Header, c.Response().Header())
		return next(c)
	}
}

// recoverPanic turns a panic in a handler into a 500 in the client's format: a bug must cost
// one request, never the process.
func (g *Gateway) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				g.log.Error("panic in handler", "request_id", c.Response().Header().Get(HeaderRequestID), "panic", p)
				err = apierror.New(http.StatusInternalServerError, "internal error")
			}
		}()
		return next(c)
	}
}

// formatOf is the API format a request speaks, for errors outside a known endpoint: the
// Anthropic Messages paths, and the model list asked by an Anthropic client.
func formatOf(r *http.Request) llm.Format {
	if strings.HasPrefix(r.URL.Path, "/v1/messages") || strings.HasPrefix(r.URL.Path, "/v1/models") && anthropicClient(r) {
		return llm.FormatAnthropic
	}
	return llm.FormatChat
}

// handleError writes any error a handler returns, in the client's format.
func (g *Gateway) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	var ae *apierror.Error
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &he):
		ae = apierror.New(he.Code, "%v", he.Message)
		if he.Code == http.StatusNotFound {
			ae.Message = "no route for " + c.Request().Method + " " + c.Request().URL.Path
		}
	default:
		ae = apierror.As(err)
	}
	writeError(c.Response(), formatOf(c.Request()), ae)
}

func writeError(w http.ResponseWriter, f llm.Format, e *apierror.Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", retryAfter(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(apierror.Body(f, e))
}

// retryAfter is a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}

// bodyLimits bound the reading of a request body.
type bodyLimits struct {
	max     int64         // bytes (MAX_REQUEST_BODY_BYTES)
	timeout time.Duration // to the first byte, and the slack of the rate (REQUEST_BODY_TIMEOUT)
	minRate int64         // bytes a second (REQUEST_BODY_MIN_RATE)
}

// firstRead is the most a body's buffer holds before its bytes arrive: it grows as they do,
// so a length a client announces and never sends costs no memory.
const firstRead = 64 << 10

// readBody reads a request body of at most l.max bytes. The connection's read deadline moves
// with the bytes that arrive — l.timeout at first, plus a second for every l.minRate bytes —
// so a client that stalls mid-body loses its connection at the deadline instead of holding it.
func readBody(w http.ResponseWriter, r *http.Request, l bodyLimits) ([]byte, error) {
	tooLarge := func() error {
		return apierror.New(http.StatusRequestEntityTooLarge,
			"request body is larger than the limit of %d bytes (MAX_REQUEST_BODY_BYTES)", l.max)
	}
	if r.ContentLength > l.max {
		return nil, tooLarge()
	}
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(l.timeout)
	timed := rc.SetReadDeadline(deadline) == nil
	size := firstRead
	if r.ContentLength >= 0 && r.ContentLength < firstRead {
		size = int(r.ContentLength) + 1 // room to see the end without growing
	}
	body := make([]byte, 0, size)
	var err error
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)] // grow as the bytes arrive
		}
		var n int
		n, err = r.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if int64(len(body)) > l.max {
			return nil, tooLarge()
		}
		if err != nil {
			break
		}
		if timed && n > 0 {
			deadline = deadline.Add(time.Duration(int64(n) * int64(time.Second) / l.minRate))
			_ = rc.SetReadDeadline(deadline)
		}
	}
	if timed {
		_ = rc.SetReadDeadline(time.Time{}) // the rest of the exchange is REQUEST_TIMEOUT's
	}
	if !errors.Is(err, io.EOF) {
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			return nil, apierror.New(http.StatusRequestTimeout,
				"the request body did not arrive in time: it must start within %s and come at %d bytes a second or faster (REQUEST_BODY_TIMEOUT, REQUEST_BODY_MIN_RATE)",
				l.timeout, l.minRate)
		}
		return nil, apierror.New(http.StatusBadRequest, "could not read the request body: %v", err)
	}
	_ = r.Body.Close() // read whole: closed, it spares net/http a pass to discard the rest
	if len(body) == 0 {
		return nil, apierror.Invalid([]string{"body is empty: want a JSON object"})
	}
	return body, nil
}

func root(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"service": "lynkr", "status": "ok"})
}
