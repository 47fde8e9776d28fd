package provider

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/llm"
)

// unauthorized is an upstream that refuses every call with a 401 in format f, as the real
// ones word it, and records the call.
func unauthorized(t *testing.T, f llm.Format) (*httptest.Server, func() *recorded) {
	var (
		mu   sync.Mutex
		last *recorded
	)
	body := `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`
	switch f {
	case llm.FormatChat:
		body = `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}`
	case llm.FormatConverse:
		body = `{"message":"The security token included in the request is invalid."}`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = &recorded{method: r.Method, host: r.Host, requestURI: r.RequestURI, path: r.URL.EscapedPath(), query: r.URL.RawQuery, header: r.Header.Clone(), body: b}
		mu.Unlock()
		w.Header().Set("Content-Type", contentJSON)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() *recorded {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// printed is every way a test can think of to print v: fmt verbs, and slog's JSON and text.
func printed(v any) []string {
	var texts []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %v"} {
		texts = append(texts, fmt.Sprintf(verb, v))
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("provider", "v", v)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("provider", "v", v)
	return append(texts, logs.String())
}

func checkNotPrinted(t *testing.T, secrets, texts []string) {
	t.Helper()
	for _, s := range secrets {
		for _, text := range texts {
			if strings.Contains(text, s) || strings.Contains(strings.ToLower(text), hex.EncodeToString([]byte(s))) {
				t.Errorf("credential %q printed:\n%s", s, text)
			}
		}
	}
}

// TestCredentialsNeverShown loads every provider family with its own fake keys and prints
// the provider (its pointer and the struct behind it) and the Set every way fmt and slog
// can, then calls an upstream that answers 401 and reads its error as the worker does: no
// key may show.
func TestCredentialsNeverShown(t *testing.T) {
	for _, a := range adapters() {
		if len(a.secrets) == 0 {
			continue // a keyless local server
		}
		t.Run(a.name, func(t *testing.T) {
			srv, last := unauthorized(t, a.format)
			set, err := Load(lookupOf(a.env, srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			p, ok := set.Get(a.provider)
			if !ok {
				t.Fatalf("%s not built", a.provider)
			}
			var texts []string
			for _, v := range []any{p, set, reflect.ValueOf(p).Elem().Interface(), []Provider{p}} {
				texts = append(texts, printed(v)...)
			}

			req, err := p.NewRequest(context.Background(), requestBody(t, a.format, p.Model("")), false, clientHeader())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			a.auth(t, last()) // the key did reach the upstream, in its header
			upErr := apierror.FromUpstream(p.Name(), resp.StatusCode, body)
			if upErr.Status != http.StatusUnauthorized {
				t.Errorf("upstream error status %d, want 401", upErr.Status)
			}
			texts = append(texts, upErr.Error(), fmt.Sprintf("%v", apierror.Named(p.Name(), upErr)))
			texts = append(texts, printed(req.Context())...)
			checkNotPrinted(t, a.secrets, texts)
		})
	}
}

// TestSetOfEveryProviderNeverShowsCredentials builds every keyed provider in one Set, as an
// operator with all the keys set would, and prints the Set and each provider.
func TestSetOfEveryProviderNeverShowsCredentials(t *testing.T) {
	env := map[string]string{}
	var secrets []string
	for _, a := range adapters() {
		if a.name == "bedrock SigV4" {
			continue // the Bedrock API key would win over the AWS keys; its own test prints it
		}
		maps.Copy(env, a.env)
		secrets = append(secrets, a.secrets...)
	}
	env["MODEL_PROVIDER"], env["MODEL_MAP"] = "openai", ""
	set, err := Load(lookupOf(env, "http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Names()) < 12 {
		t.Fatalf("built %v, want every provider", set.Names())
	}
	texts := printed(set)
	for _, name := range set.Names() {
		p, _ := set.Get(name)
		texts = append(texts, printed(p)...)
		texts = append(texts, printed(reflect.ValueOf(p).Elem().Interface())...)
	}
	checkNotPrinted(t, secrets, texts)
}
