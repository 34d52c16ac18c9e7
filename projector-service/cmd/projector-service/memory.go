package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteSize is a flag of a size in bytes, written as GOMEMLIMIT is: a number
// with an optional unit B, KiB, MiB, GiB or TiB; "off" or 0 for none.
type byteSize int64

func (b *byteSize) String() string {
	if *b <= 0 {
		return "off"
	}
	for _, u := range []struct {
		name  string
		shift uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if *b%(1<<u.shift) == 0 {
			return strconv.FormatInt(int64(*b)>>u.shift, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(*b), 10) + "B"
}

func (b *byteSize) Set(s string) error {
	if s == "off" {
		*b = 0
		return nil
	}
	num, shift := s, uint(0)
	for _, u := range []struct {
		name  string
		shift uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}} {
		if strings.HasSuffix(s, u.name) {
			num, shift = strings.TrimSuffix(s, u.name), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return fmt.Errorf("want a size such as 128MiB, or off")
	}
	*b = byteSize(n << shift)
	return nil
}
