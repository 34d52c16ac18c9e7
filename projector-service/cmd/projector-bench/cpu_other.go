//go:build !linux

package main

import (
	"time"
)

type cpuSample struct{}

type cpuUse struct{}

func (cpuUse) String() string { return "" }

func sampleCPU() cpuSample                   { return cpuSample{} }
func cpuSince(cpuSample) cpuUse              { return cpuUse{} }
func settle(max time.Duration) time.Duration { time.Sleep(time.Second); return time.Second }
