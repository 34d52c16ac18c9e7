package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// figure is one measured quantity over several runs.
type figure struct{ values []float64 }

func (f *figure) add(v float64) { f.values = append(f.values, v) }
func (f *figure) ok() bool      { return len(f.values) > 0 }
func (f *figure) min() float64  { return slices.Min(f.values) }
func (f *figure) max() float64  { return slices.Max(f.values) }

func (f *figure) median() float64 {
	s := slices.Sorted(slices.Values(f.values))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func msString(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// group writes a number with thousands separators.
func group(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
