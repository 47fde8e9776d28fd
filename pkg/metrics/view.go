package metrics

import (
	"fmt"
	"math"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// View is one reading of a registry, for the JSON views (/metrics/observability) and the
// heartbeats that summarise what Prometheus scrapes.
type View map[string]*dto.MetricFamily

// Read gathers g once.
func Read(g prometheus.Gatherer) (View, error) {
	fams, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	v := make(View, len(fams))
	for _, f := range fams {
		v[f.GetName()] = f
	}
	return v, nil
}

// Sum adds up the counter or gauge samples of name (all label sets), or a histogram's
// observation count.
func (v View) Sum(name string) float64 {
	total := 0.0
	for _, m := range v[name].GetMetric() {
		total += value(m)
	}
	return total
}

// SumBy adds up the samples of name per value of label.
func (v View) SumBy(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range v[name].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] += value(m)
			}
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// Latency summarises a histogram in milliseconds; quantiles are interpolated within the
// buckets, as Prometheus's histogram_quantile does.
type Latency struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
}

// Latency merges every label set of the histogram name.
func (v View) Latency(name string) Latency {
	var (
		count uint64
		sum   float64
		upper = map[float64]uint64{}
	)
	for _, m := range v[name].GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		count += h.GetSampleCount()
		sum += h.GetSampleSum()
		for _, b := range h.GetBucket() {
			upper[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	l := Latency{Count: count}
	if count == 0 {
		return l
	}
	bounds := make([]float64, 0, len(upper))
	for b := range upper {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	q := func(q float64) float64 {
		rank := q * float64(count)
		lower, prev := 0.0, uint64(0)
		for _, b := range bounds {
			c := upper[b]
			if float64(c) >= rank {
				if math.IsInf(b, 1) {
					return lower * 1000 // beyond the last bucket: its lower bound, as Prometheus does
				}
				if c == prev {
					return b * 1000
				}
				return (lower + (b-lower)*(rank-float64(prev))/float64(c-prev)) * 1000
			}
			lower, prev = b, c
		}
		return lower * 1000
	}
	l.MeanMs = sum / float64(count) * 1000
	l.P50Ms, l.P95Ms, l.P99Ms = q(0.5), q(0.95), q(0.99)
	return l
}
