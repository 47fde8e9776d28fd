// Package fakeupstream is a fake LLM provider for lynkr's tests and benchmarks. It stands for
// the internet: it speaks the OpenAI Chat Completions, OpenAI Responses and Anthropic Messages
// wire formats, SSE framing and headers included, answers what a test scripts (text, tool
// calls, thinking, usage, echo of the request), injects faults (error statuses with
// Retry-After, hangs, dropped connections, in-stream errors), and records every request it
// receives. In script mode (WithScript) it instead answers from the request itself, so that
// a real coding CLI can run a tool loop against it.
//
// One Handler serves both families, routed by path suffix, so any prefix works (/v1,
// Azure's /openai/deployments/{name}, Azure AI Foundry's /anthropic/v1):
//
//	POST …/chat/completions         OpenAI chat completion, JSON or SSE
//	POST …/responses                OpenAI Responses, JSON or SSE
//	POST …/responses/compact        OpenAI Responses compaction
//	POST …/embeddings               OpenAI embeddings
//	GET  …/models                   model list (Anthropic's shape with an anthropic-version header)
//	POST …/messages                 Anthropic message, JSON or SSE
//	POST …/messages/count_tokens    Anthropic token count
//
// Answers that do not depend on the request are rendered once per model and written from
// memory, so a benchmark measures the gateway, not the fake.
package fakeupstream

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint names the API a request reached.
type Endpoint string

// The endpoints a Handler serves; Unknown is any other path.
const (
	ChatCompletions  Endpoint = "chat.completions"
	Responses        Endpoint = "responses"
	ResponsesCompact Endpoint = "responses.compact"
	Embeddings       Endpoint = "embeddings"
	Models           Endpoint = "models"
	Messages         Endpoint = "messages"
	CountTokens      Endpoint = "messages.count_tokens"
	Unknown          Endpoint = ""
)

func route(path string) Endpoint {
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		return ChatCompletions
	case strings.HasSuffix(path, "/responses"):
		return Responses
	case strings.HasSuffix(path, "/responses/compact"):
		return ResponsesCompact
	case strings.HasSuffix(path, "/embeddings"):
		return Embeddings
	case strings.HasSuffix(path, "/messages/count_tokens"):
		return CountTokens
	case strings.HasSuffix(path, "/messages"):
		return Messages
	case strings.HasSuffix(path, "/models"):
		return Models
	}
	return Unknown
}

// family is the wire format an answer is rendered in.
type family uint8

const (
	openAIFamily family = iota
	anthropicFamily
)

// Request is one request as the Handler received it.
type Request struct {
	Seq      int64 // 1 for the first call, in arrival order
	Time     time.Time
	Endpoint Endpoint
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Option configures a Handler.
type Option func(*config)

type config struct {
	reply  Reply
	record bool
	apiKey string
	now    func() time.Time
	models []string
	script bool
}

// WithReply sets the answer given when nothing is queued; the default is Reply{Echo: true}.
func WithReply(r Reply) Option { return func(c *config) { c.reply = r } }

// WithRecording turns request recording on (the default) or off; benchmarks turn it off so
// that a request costs no copy.
func WithRecording(on bool) Option { return func(c *config) { c.record = on } }

// WithAPIKey makes the Handler reject, with the vendor's 401, requests that do not carry key
// as "Authorization: Bearer", x-api-key or Azure's api-key.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithClock sets the clock behind "created" timestamps and Request.Time.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithScript turns script mode on: a generation that nothing is queued for is answered from
// the request instead of the default reply, so that a real coding CLI can run a tool loop
// against the fake. A conversation ending in a tool result gets "Tool output: <result>"; a
// last user text holding "run bash: CMD" gets one call of the client's own shell tool
// (Bash, exec_command, shell, run_shell_command, …) running CMD; "say: WORDS" gets WORDS;
// anything else ScriptHello. Queued replies and faults still come first, and the default
// reply lends its delays, headers and chunking.
func WithScript(on bool) Option { return func(c *config) { c.script = on } }

// WithModels sets the ids GET …/models lists.
func WithModels(ids ...string) Option { return func(c *config) { c.models = ids } }

// Handler is the fake provider as an http.Handler. It is safe for concurrent use.
type Handler struct {
	cfg    config
	bearer string

	calls    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
	compiles atomic.Int64
	// pending counts queued replies, queued faults and an active fault rate; while it is
	// zero a call takes the default reply without locking.
	pending atomic.Int64
	def     atomic.Pointer[compiled]

	mu      sync.Mutex
	queue   []*compiled
	faults  []queuedFault
	rate    *faultRate
	records []Request

	bufs      sync.Pool
	models    [2]rendered
	hdr       headerValues
	closeOnce sync.Once
	closed    chan struct{}
}

// headerValues are the constant header values, shared by every response (net/http only
// reads them), so that setting a header costs no allocation.
type headerValues struct {
	json, sse, noCache, openAIVersion, organization []string
}

// NewHandler returns a Handler; serve it with httptest.NewServer or use New.
func NewHandler(opts ...Option) *Handler {
	cfg := config{
		reply:  Reply{Echo: true},
		record: true,
		now:    time.Now,
		models: []string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "claude-sonnet-4-5", "claude-haiku-4-5"},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h := &Handler{cfg: cfg, closed: make(chan struct{})}
	h.bufs.New = func() any { return new(bytes.Buffer) }
	if cfg.apiKey != "" {
		h.bearer = "Bearer " + cfg.apiKey
	}
	h.hdr = headerValues{
		json:          []string{"application/json"},
		sse:           []string{"text/event-stream; charset=utf-8"},
		noCache:       []string{"no-cache"},
		openAIVersion: []string{"2020-10-01"},
		organization:  []string{"fakeupstream"},
	}
	now := cfg.now()
	h.models[openAIFamily] = jsonBody(openAIModels(cfg.models, now.Unix()))
	h.models[anthropicFamily] = jsonBody(anthropicModels(cfg.models, now))
	h.SetDefault(cfg.reply)
	return h
}

func (h *Handler) compile(r Reply) *compiled {
	if r.Fault != nil {
		f := *r.Fault
		r.Fault = &f
	}
	return compile(r, h.compiles.Add(1), h.cfg.now())
}

// SetDefault sets the answer given when nothing is queued.
func (h *Handler) SetDefault(r Reply) {
	c := h.compile(r)
	c.isDefault = true
	h.def.Store(c)
}

// Enqueue queues answers for the next chat/completions, responses or messages calls, in
// order; when the queue is empty the default answers.
func (h *Handler) Enqueue(replies ...Reply) {
	cs := make([]*compiled, len(replies))
	for i, r := range replies {
		cs[i] = h.compile(r)
	}
	h.mu.Lock()
	h.queue = append(h.queue, cs...)
	h.syncPending()
	h.mu.Unlock()
}

// FailNext makes the next n POST calls (matching f.Path) fail with f. A mid-stream fault
// interrupts the answer the call would have given, which stays queued for the next call.
// Queued faults take precedence over FailRate.
func (h *Handler) FailNext(n int, f Fault) {
	if n <= 0 {
		return
	}
	h.mu.Lock()
	h.faults = append(h.faults, queuedFault{fault: f, n: n})
	h.syncPending()
	h.mu.Unlock()
}

// FailRate makes percent (0–100) of POST calls (matching f.Path) fail with f, drawn from a
// generator seeded with seed, so a run is reproducible for a given call order. percent <= 0
// turns it off.
func (h *Handler) FailRate(percent float64, seed uint64, f Fault) {
	h.mu.Lock()
	h.rate = nil
	if percent > 0 {
		h.rate = &faultRate{fault: f, percent: percent, rng: newRand(seed)}
	}
	h.syncPending()
	h.mu.Unlock()
}

// Reset drops queued answers and faults, the fault rate, recorded requests, and the call and
// peak counters. The default answer stays.
func (h *Handler) Reset() {
	h.mu.Lock()
	h.queue, h.faults, h.rate, h.records = nil, nil, nil, nil
	h.syncPending()
	h.calls.Store(0)
	h.peak.Store(h.inFlight.Load())
	h.mu.Unlock()
}

func (h *Handler) syncPending() {
	n := len(h.queue) + len(h.faults)
	if h.rate != nil {
		n++
	}
	h.pending.Store(int64(n))
}

// Requests returns the recorded requests in arrival order.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	out := slices.Clone(h.records)
	h.mu.Unlock()
	slices.SortFunc(out, func(a, b Request) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// Calls returns how many requests arrived.
func (h *Handler) Calls() int64 { return h.calls.Load() }

// InFlight returns how many requests are being served now.
func (h *Handler) InFlight() int64 { return h.inFlight.Load() }

// PeakInFlight returns the most requests served at once since the start or the last Reset.
func (h *Handler) PeakInFlight() int64 { return h.peak.Load() }

// Close cuts the connection of every hung or delayed call, and of any later one that would
// hang or wait. (It does so by panicking with http.ErrAbortHandler, which net/http handles.)
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.closed) }) }

// next picks the fault and the answer of a call to ep.
func (h *Handler) next(ep Endpoint, path string) (*Fault, *compiled) {
	gen := ep == ChatCompletions || ep == Messages || ep == Responses
	if h.pending.Load() == 0 {
		if gen {
			return nil, h.def.Load()
		}
		return nil, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	upcoming := func() *compiled {
		switch {
		case !gen:
			return nil
		case len(h.queue) > 0:
			return h.queue[0]
		}
		return h.def.Load()
	}
	for i := range h.faults {
		q := &h.faults[i]
		if !q.fault.matches(ep, path) {
			continue
		}
		f := q.fault
		if q.n--; q.n == 0 {
			h.faults = slices.Delete(h.faults, i, i+1)
			h.syncPending()
		}
		return &f, upcoming()
	}
	if r := h.rate; r != nil && r.fault.matches(ep, path) && r.rng.Float64()*100 < r.percent {
		f := r.fault
		return &f, upcoming()
	}
	if !gen {
		return nil, nil
	}
	if len(h.queue) > 0 {
		c := h.queue[0]
		h.queue[0] = nil
		h.queue = h.queue[1:]
		h.syncPending()
		return c.r.Fault, c
	}
	return nil, h.def.Load()
}

func (h *Handler) record(seq int64, at time.Time, ep Endpoint, r *http.Request, body []byte) {
	req := Request{
		Seq: seq, Time: at, Endpoint: ep, Method: r.Method, Path: r.URL.Path,
		RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: bytes.Clone(body),
	}
	h.mu.Lock()
	h.records = append(h.records, req)
	h.mu.Unlock()
}

func (h *Handler) authorized(r *http.Request) bool {
	if h.cfg.apiKey == "" {
		return true
	}
	k := h.cfg.apiKey
	return r.Header.Get("X-Api-Key") == k || r.Header.Get("Api-Key") == k ||
		r.Header.Get("Authorization") == h.bearer
}

// ServeHTTP answers one call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seq := h.calls.Add(1)
	arrived := h.cfg.now()
	n := h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
	}

	ep := route(r.URL.Path)
	fam := openAIFamily
	if ep == Messages || ep == CountTokens || (ep == Models || ep == Unknown) && r.Header["Anthropic-Version"] != nil {
		fam = anthropicFamily
	}
	buf := h.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer h.bufs.Put(buf)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return // the client went away mid-body
	}
	body := buf.Bytes()
	if h.cfg.record {
		h.record(seq, arrived, ep, r, body)
	}

	x := exchange{h: h, w: w, r: r, fam: fam, ep: ep, id: requestID(seq)}
	defer x.stopTimer()
	switch {
	case !h.authorized(r):
		x.fail(&Fault{Status: http.StatusUnauthorized})
		return
	case ep == Unknown:
		x.fail(x.notFound())
		return
	case ep == Models && r.Method == http.MethodGet:
		x.respond(h.models[fam], false, nil, nil)
		return
	case ep == Models || r.Method != http.MethodPost:
		x.fail(&Fault{Status: http.StatusMethodNotAllowed})
		return
	case !json.Valid(body):
		x.fail(&Fault{Status: http.StatusBadRequest, Message: "We could not parse the JSON body of your request."})
		return
	}

	fault, c := h.next(ep, r.URL.Path)
	info := scanRequest(body)
	switch ep {
	case Embeddings:
		model := string(info.model)
		if model == "" {
			model = or(deploymentName(r.URL.Path), "text-embedding-3-small")
		}
		b, err := embeddingsBody(body, model)
		if err != nil {
			x.fail(&Fault{Status: http.StatusBadRequest, Message: err.Error()})
			return
		}
		x.respond(jsonBody(b), false, fault, nil)
	case CountTokens:
		x.respond(jsonBody(countTokensBody(body)), false, fault, nil)
	case ResponsesCompact:
		model := string(info.model)
		if model == "" {
			model = or(deploymentName(r.URL.Path), "fake-model")
		}
		b, err := compactionBody(body, model, seq, arrived)
		if err != nil {
			x.fail(&Fault{Status: http.StatusBadRequest, Message: err.Error()})
			return
		}
		x.respond(jsonBody(b), false, fault, nil)
	default:
		if h.cfg.script && c.isDefault {
			c = h.compile(scriptReply(ep, body, info, seq, c.r))
			c.perRequest = true
		}
		x.key = modelKey(c, info, r.URL.Path)
		x.respond(h.answer(c, ep, info, body, x.key), info.stream, fault, c)
	}
}

// modelKey is the model an answer to c names: nil when c names its own, else the request's,
// else the Azure deployment's.
func modelKey(c *compiled, info reqInfo, path string) []byte {
	switch {
	case c.r.Model != "":
		return nil // one model for every request
	case len(info.model) == 0:
		if d := deploymentName(path); d != "" {
			return []byte(d)
		}
	}
	return info.model
}

// answer returns c rendered for this request.
func (h *Handler) answer(c *compiled, ep Endpoint, info reqInfo, body []byte, key []byte) rendered {
	v := anthropicJSON
	switch {
	case ep == ChatCompletions && info.stream && info.includeUsage:
		v = openAIStreamUsage
	case ep == ChatCompletions && info.stream:
		v = openAIStream
	case ep == ChatCompletions:
		v = openAIJSON
	case ep == Responses && info.stream && info.encryptedReasoning:
		v = responsesStreamEncrypted
	case ep == Responses && info.stream:
		v = responsesStream
	case ep == Responses && info.encryptedReasoning:
		v = responsesJSONEncrypted
	case ep == Responses:
		v = responsesJSON
	case info.stream:
		v = anthropicStream
	}
	switch {
	case c.r.Echo:
		return c.withText("echo: "+lastUserText(body)).render(v, c.modelName(key))
	case c.perRequest:
		return c.render(v, c.modelName(key))
	}
	return c.forModel(key)[v]
}

// requestID returns the request-id header value of call seq.
func requestID(seq int64) string {
	var b [28]byte
	copy(b[:], "req_fake")
	for i := len(b) - 1; i >= 8; i-- {
		b[i] = byte('0' + seq%10)
		seq /= 10
	}
	return string(b[:])
}

// exchange is one call being answered.
type exchange struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	fam   family
	ep    Endpoint
	id    string
	key   []byte // the model key of a generation, for a Responses stream's failure
	timer *time.Timer
}

// respond writes resp — a JSON body, or stream events when stream — applying c's delays and
// headers and the fault f.
func (x *exchange) respond(resp rendered, stream bool, f *Fault, c *compiled) {
	var headerDelay, chunkDelay time.Duration
	var extra http.Header
	if c != nil {
		headerDelay, chunkDelay, extra = c.r.HeaderDelay, c.r.ChunkDelay, c.r.Header
	}
	if headerDelay > 0 && !x.wait(headerDelay) {
		return
	}
	if f != nil {
		switch {
		case f.Kind == FailStatus || f.Kind == FailStreamError && !stream:
			x.fail(f)
			return
		case f.Kind == FailHang && f.AfterChunks <= 0:
			x.hang()
			return
		case f.Kind == FailDrop && f.AfterChunks <= 0:
			panic(http.ErrAbortHandler)
		}
	}

	hd := x.w.Header()
	x.commonHeaders(hd)
	if stream {
		hd["Content-Type"] = x.h.hdr.sse
		hd["Cache-Control"] = x.h.hdr.noCache
	} else {
		hd["Content-Type"] = x.h.hdr.json
		hd["Content-Length"] = resp.length
	}
	for k, v := range extra {
		hd[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	x.w.WriteHeader(http.StatusOK)

	if !stream {
		b := resp.parts[0]
		if f == nil {
			x.w.Write(b)
			return
		}
		x.w.Write(b[:len(b)/2])
		x.flush()
		x.act(f, c, 0)
		return
	}
	for i, ev := range resp.parts {
		if f != nil && i == f.AfterChunks {
			x.act(f, c, i)
			return
		}
		if i > 0 && chunkDelay > 0 && !x.wait(chunkDelay) {
			return
		}
		if _, err := x.w.Write(ev); err != nil {
			return
		}
		x.flush()
	}
	if f != nil {
		x.act(f, c, len(resp.parts))
	}
}

// act applies a mid-response fault after sent stream events of the answer c.
func (x *exchange) act(f *Fault, c *compiled, sent int) {
	switch f.Kind {
	case FailHang:
		x.hang()
	case FailDrop:
		panic(http.ErrAbortHandler)
	case FailStreamError:
		if x.ep == Responses && c != nil {
			x.w.Write(c.responsesStreamError(f, c.modelName(x.key), sent))
		} else {
			x.w.Write(f.streamErrorEvent(x.fam))
		}
		x.flush()
	}
}

// notFound is the fault of a call to a path no API lives at.
func (x *exchange) notFound() *Fault {
	if x.fam == anthropicFamily {
		return &Fault{Status: http.StatusNotFound, Message: "Not Found"}
	}
	msg := "Invalid URL (" + x.r.Method + " " + x.r.URL.Path + ")"
	return &Fault{Status: http.StatusNotFound, Body: string(indent(openAIErrorObject("invalid_request_error", "", msg), "    "))}
}

// fail answers f's status with the error body.
func (x *exchange) fail(f *Fault) {
	status := f.status(x.fam)
	body := f.errorBody(x.fam, status, x.id)
	hd := x.w.Header()
	x.commonHeaders(hd)
	hd["Content-Type"] = x.h.hdr.json
	if f.RetryAfter != "" {
		hd["Retry-After"] = []string{f.RetryAfter}
	}
	for k, v := range f.Header {
		hd[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	x.w.WriteHeader(status)
	x.w.Write(body)
}

func (x *exchange) commonHeaders(hd http.Header) {
	id := []string{x.id}
	if x.fam == anthropicFamily {
		hd["Request-Id"] = id
		hd["Anthropic-Organization-Id"] = x.h.hdr.organization
		return
	}
	hd["X-Request-Id"] = id
	hd["Openai-Organization"] = x.h.hdr.organization
	hd["Openai-Version"] = x.h.hdr.openAIVersion
}

func (x *exchange) flush() {
	if f, ok := x.w.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(x.w).Flush()
}

// wait sleeps d and reports whether the client is still there. If the Handler closes first
// it cuts the connection, so that no test mistakes the cut-short answer for a real one.
func (x *exchange) wait(d time.Duration) bool {
	if x.timer == nil {
		x.timer = time.NewTimer(d)
	} else {
		x.timer.Reset(d)
	}
	select {
	case <-x.timer.C:
		return true
	case <-x.r.Context().Done():
		return false
	case <-x.h.closed:
		panic(http.ErrAbortHandler)
	}
}

func (x *exchange) stopTimer() {
	if x.timer != nil {
		x.timer.Stop()
	}
}

// hang blocks until the client goes away, or until the Handler closes, which cuts the
// connection.
func (x *exchange) hang() {
	select {
	case <-x.r.Context().Done():
	case <-x.h.closed:
		panic(http.ErrAbortHandler)
	}
}
