package loopguard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// BenchmarkCheck reads a long agent session, about 500 messages and 1 MB: rounds of reads
// and commands, a person writing every 40 rounds, tool results of 4 KB.
func BenchmarkCheck(b *testing.B) {
	var steps []step
	for i := range 240 {
		if i%40 == 0 {
			steps = append(steps, answer("Done."), person(fmt.Sprintf("Next, task %d.", i/40)))
		}
		c := read(fmt.Sprintf("/repo/pkg/file%d.go", i))
		if i%3 == 0 {
			c = bash(fmt.Sprintf("go test ./pkg/%d/...", i))
		}
		steps = append(steps, round(c))
	}
	result := strings.Repeat("     1\tpackage llm // \"quoted\"\n", 130)
	l := Limits{MaxMessages: 2000, MaxToolRounds: 100, MaxRepeats: 5}
	for _, f := range formats {
		body, n := render(f, steps, result)
		if v := Check(f, body, l); v.Refused() {
			b.Fatal(v)
		}
		b.Run(fmt.Sprintf("%s/%dmsgs", f, n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				Check(f, body, l)
			}
		})
		if f == formats[0] {
			b.Run("gjson.Valid for scale", func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					gjson.ValidBytes(body)
				}
			})
		}
	}
}
