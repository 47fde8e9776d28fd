package responses

import (
	"testing"

	"github.com/tidwall/gjson"
)

// Validate reads bodies with its own scanner, which must see what gjson sees: the same
// members and elements, with the same types, JSON text, numbers and strings.
func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[true,false,null,-1.5e3,"x\"y\\\\"],"c\u0064":{"e":{}},"a":" ","":[[],{}]}`))
	f.Add([]byte(` [ 1 , "\ud83d\ude00" , { "k" : [ ] } ] `))
	f.Add(smallRequest)
	f.Fuzz(func(t *testing.T, body []byte) {
		if !gjson.ValidBytes(body) {
			return
		}
		var walk func(v gjson.Result)
		walk = func(v gjson.Result) {
			if !v.IsObject() && !v.IsArray() {
				return
			}
			var want, got []gjson.Result // keys and values, in turn
			v.ForEach(func(k, val gjson.Result) bool {
				want = append(want, k, val)
				return true
			})
			if v.IsObject() {
				for k, val := range node(v).members {
					got = append(got, gjson.Result{Str: k}, val)
				}
			} else {
				for i, val := range node(v).elems {
					got = append(got, gjson.Result{Num: float64(i)}, val)
				}
				if empty(v) != (len(want) == 0) {
					t.Fatalf("empty(%s) = %v", v.Raw, empty(v))
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d members or elements, gjson sees %d", v.Raw, len(got)/2, len(want)/2)
			}
			for i := 0; i < len(want); i += 2 {
				k, w, g := want[i], want[i+1], got[i+1]
				if v.IsObject() && got[i].Str != k.Str || v.IsArray() && got[i].Num != k.Num {
					t.Fatalf("%s: key %q, gjson sees %q", v.Raw, got[i].Str, k.Str)
				}
				if g.Type != w.Type || g.Raw != w.Raw || g.Num != w.Num && g.Num == g.Num || unquote(g) != w.Str {
					t.Fatalf("%s: member %q is %+v, gjson sees %+v", v.Raw, k.Str, g, w)
				}
				walk(w)
			}
		}
		walk(gjson.ParseBytes(body))
	})
}
