// Package esdbconntest puts faults between a test's client and its event
// store: a loopback TCP hop that a test cuts (the store went away), stalls
// (the store stopped answering) and restores, or points at a store restarted
// on another port.
package esdbconntest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to an event store.
type Proxy struct {
	lis net.Listener

	mu      sync.Mutex
	target  string
	cut     bool
	stalled bool
	resume  chan struct{} // closed when the stall ends
	conns   map[net.Conn]struct{}
	held    atomic.Int64 // reads held by stalls, in all
	closed  bool
}

// NewProxy listens on a loopback port and forwards to target (host:port)
// until the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("esdbconntest: listen: %v", err)
	}
	p := &Proxy{lis: lis, target: target, resume: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	go p.serve()
	tb.Cleanup(p.close)
	return p
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

// ConnectionString is the official client's connection string to the proxy
// (plain text, as the test stores serve).
func (p *Proxy) ConnectionString() string { return "esdb://" + p.Addr() + "?tls=false" }

// SetTarget sends new connections to another address (a store restarted on
// another port); open connections stay where they are.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

// Cut drops every open connection and closes new ones at once, as a store
// that went away: clients see their connections fail and cannot reconnect.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Restore ends a cut: new connections reach the store again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Stall holds everything clients send from now on (the store never sees
// it), as a store that stopped answering would; connections stay open.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		p.stalled, p.resume = true, make(chan struct{})
	}
}

// Unstall lets what was held through, and everything after it.
func (p *Proxy) Unstall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.resume)
	}
}

// Held counts the reads a stall has held so far: once it grows, a request
// is on its way and held.
func (p *Proxy) Held() int64 { return p.held.Load() }

func (p *Proxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut, target := p.cut || p.closed, p.target
		p.mu.Unlock()
		if cut {
			_ = c.Close()
			continue
		}
		u, err := net.Dial("tcp", target)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, u) {
			continue
		}
		go p.copy(c, u, false)
		go p.copy(u, c, true)
	}
}

// track registers a connection pair, unless a cut or the end came first.
func (p *Proxy) track(c, u net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		_ = c.Close()
		_ = u.Close()
		return false
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// copy forwards src to dst; what clients send (held) waits out stalls.
func (p *Proxy) copy(dst, src net.Conn, held bool) {
	defer func() {
		_ = dst.Close()
		_ = src.Close()
		p.untrack(dst)
		p.untrack(src)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if held {
				p.wait()
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) wait() {
	p.mu.Lock()
	stalled, resume := p.stalled, p.resume
	p.mu.Unlock()
	if stalled {
		p.held.Add(1)
		<-resume
	}
}

func (p *Proxy) close() {
	p.Unstall()
	_ = p.lis.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}
