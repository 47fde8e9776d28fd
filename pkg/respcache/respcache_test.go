package respcache

import (
	"encoding/json"
	"strconv"

	"testing"
)

func TestKeyNormalizesJSON(t *testing.T) {
	a := []byte(`{"model":"m","messages":[{"role":"user","content":"hi <b>&"}],"temperature":0}`)
	b := []byte("{\n  \"temperature\": 0,\n  \"messages\": [ { \"content\": \"hi <b>&\", \"role\": \"user\" } ],\n  \"model\": \"m\"\n}\n")
	ka := Key("", "openai", "chat", "anthropic", "claude", false, a)
	if kb := Key("", "openai", "chat", "anthropic", "claude", false, b); ka != kb {
		t.Fatalf("key order and spacing changed the key: %s != %s", ka, kb)
	}
	if len(ka) != 64 {
		t.Fatalf("key %q is not a hex SHA-256", ka)
	}
	if again := Key("", "openai", "chat", "anthropic", "claude", false, a); again != ka {
		t.Fatal("key is not stable")
	}
}

func TestKeyDiffers(t *testing.T) {
	body := []byte(`{"a":1}`)
	base := Key("", "openai", "chat", "p", "m", false, body)
	for name, k := range map[string]string{
		"partition":       Key("org:acme", "openai", "chat", "p", "m", false, body),
		"format":          Key("", "anthropic", "chat", "p", "m", false, body),
		"operation":       Key("", "openai", "responses", "p", "m", false, body),
		"provider":        Key("", "openai", "chat", "q", "m", false, body),
		"model":           Key("", "openai", "chat", "p", "n", false, body),
		"stream":          Key("", "openai", "chat", "p", "m", true, body),
		"body":            Key("", "openai", "chat", "p", "m", false, []byte(`{"a":2}`)),
		"array order":     Key("", "openai", "chat", "p", "m", false, []byte(`{"a":[1,2]}`)),
		"number spelling": Key("", "openai", "chat", "p", "m", false, []byte(`{"a":1.0}`)),
		"field boundary":  Key("", "openai", "chatp", "", "m", false, body),
	} {
		if k == base {
			t.Errorf("%s: same key as the base request", name)
		}
	}
	if Key("", "f", "o", "p", "m", false, []byte(`{"a":[1,2]}`)) == Key("", "f", "o", "p", "m", false, []byte(`{"a":[2,1]}`)) {
		t.Error("array order did not change the key")
	}
}

func TestKeyNonJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"same text", "not json", "not json", true},
		{"different text", "not json", "not json ", false},
		{"trailing data is not JSON", `{"a":1} {"b":2}`, `{"a":1}{"b":2}`, false},
		{"truncated", `{"a":1`, `{"a": 1`, false},
		{"invalid UTF-8 is hashed raw", "{\"a\":\"\xff\"}", "{\"a\":\"\xfe\"}", false},
		{"empty", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ka := Key("", "f", "o", "p", "m", false, []byte(tc.a))
			kb := Key("", "f", "o", "p", "m", false, []byte(tc.b))
			if (ka == kb) != tc.same {
				t.Fatalf("same key = %v, want %v", ka == kb, tc.same)
			}
		})
	}
	// A non-JSON body never shares a key with a JSON one.
	if Key("", "f", "o", "p", "m", false, []byte(`{"a":1}`)) == Key("", "f", "o", "p", "m", false, []byte(`{"a":1`)) {
		t.Fatal("JSON and non-JSON bodies share a key")
	}
}

func TestCacheable(t *testing.T) {
	for _, tc := range []struct {
		name          string
		body          string
		optIn, optOut bool
		want          bool
	}{
		{"temperature 0", `{"temperature":0}`, false, false, true},
		{"temperature 0.0", `{"model":"m", "temperature": 0.0}`, false, false, true},
		{"temperature -0e0", `{"temperature":-0e0}`, false, false, true},
		{"temperature 0.7", `{"temperature":0.7}`, false, false, false},
		{"temperature missing", `{"model":"m"}`, false, false, false},
		{"temperature null", `{"temperature":null}`, false, false, false},
		{"temperature as string", `{"temperature":"0"}`, false, false, false},
		{"nested temperature", `{"params":{"temperature":0}}`, false, false, false},
		{"key is case-sensitive", `{"Temperature":0}`, false, false, false},
		{"not JSON", `temperature=0`, false, false, false},
		{"truncated JSON", `{"temperature":0`, false, false, false},
		{"an array", `[{"temperature":0}]`, false, false, false},
		{"the last of two wins", `{"temperature":0,"temperature":0.7}`, false, false, false},
		{"the last of two wins, 0", `{"temperature":0.7,"temperature":0}`, false, false, true},
		{"escaped key", `{"temp\u0065rature":0}`, false, false, true},
		{"opt-in", `{"temperature":0.7}`, true, false, true},
		{"opt-in, not JSON", `x`, true, false, true},
		{"opt-out beats temperature 0", `{"temperature":0}`, false, true, false},
		{"opt-out beats opt-in", `{"temperature":0}`, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Cacheable([]byte(tc.body), tc.optIn, tc.optOut); got != tc.want {
				t.Fatalf("Cacheable(%s, %v, %v) = %v, want %v", tc.body, tc.optIn, tc.optOut, got, tc.want)
			}
		})
	}
}

func TestEntryEncoding(t *testing.T) {
	for _, e := range []Entry{
		{},
		{Status: 200, ContentType: "application/json", Body: []byte(`{"id":"x"}`)},
		{Status: 200, ContentType: "text/event-stream", Body: []byte("data: {}\n\ndata: [DONE]\n\n")},
	} {
		got, err := decodeEntry(encodeEntry(e))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != e.Status || got.ContentType != e.ContentType || string(got.Body) != string(e.Body) {
			t.Fatalf("round trip: got %+v, want %+v", got, e)
		}
	}
	for _, b := range [][]byte{nil, {2}, {1}, {1, 200}, {1, 0x80}, {1, 200, 1, 5, 'a'}} {
		if _, err := decodeEntry(b); err != ErrCorrupt {
			t.Errorf("decodeEntry(%v) = %v, want ErrCorrupt", b, err)
		}
	}
}

// cacheableReference is Cacheable written with encoding/json, which the gjson version must
// agree with on every input.
func cacheableReference(body []byte) bool {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return false
	}
	raw, ok := top["temperature"]
	if !ok || len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return err == nil && f == 0
}

func FuzzCacheable(f *testing.F) {
	for _, s := range []string{`{"temperature":0}`, `{"temperature":-0e0,"x":[1,{"temperature":1}]}`, `{"temperature":0,"temperature":1}`,
		`{"temp\u0065rature":0.0}`, `{"temperature":"0"}`, `[0]`, `{"temperature":0`, "{\"temperature\":0,\"s\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if got, want := Cacheable(body, false, false), cacheableReference(body); got != want {
			t.Fatalf("Cacheable(%q) = %v, encoding/json says %v", body, got, want)
		}
	})
}
