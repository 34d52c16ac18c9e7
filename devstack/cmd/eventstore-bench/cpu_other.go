//go:build !linux

package main

import "time"

type cpuSample struct{}

func sampleCPU() cpuSample { return cpuSample{} }

type cpuUse struct {
	self, others float64
	ok           bool
}

func (cpuUse) String() string { return "" }

func cpuSince(cpuSample) cpuUse { return cpuUse{} }

// settle waits a little for background work of the previous phase.
func settle(max time.Duration) time.Duration {
	d := min(max, 2*time.Second)
	time.Sleep(d)
	return d
}
