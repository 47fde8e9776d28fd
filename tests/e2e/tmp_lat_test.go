package e2e

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/fakeupstream"
)

func TestTmpLatency(t *testing.T) {
	for _, kind := range upstreams {
		s := start(t, kind, nil)
		s.Fake.SetDefault(fakeupstream.Reply{Echo: true, Chunks: 3})
		ac, oc := s.anthropic(), s.openai()
		var mu sync.Mutex
		lat := map[string][]time.Duration{}
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := time.Now()
				_, err := mixedCall(t.Context(), i, ac, oc, fmt.Sprintf("r %d %x", i, rand.Uint64()))
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				k := mixedKinds[i%6]
				lat[k] = append(lat[k], time.Since(st))
				mu.Unlock()
			}()
		}
		wg.Wait()
		for k, v := range lat {
			sort.Slice(v, func(a, b int) bool { return v[a] < v[b] })
			t.Logf("%s %s: min %v med %v max %v", kind, k, v[0], v[len(v)/2], v[len(v)-1])
		}
	}
}
