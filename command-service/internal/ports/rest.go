package ports

import (
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
)

// GatewayOptions are the REST gateway's options besides apiserver's: it
// forwards the correlation header the commands read, besides the gateway's
// defaults (Authorization, Grpc-Metadata-* and permanent HTTP headers). The
// trace context needs no forwarding: the gateway's call is a child span of
// the REST request's (apiserver), which continues the caller's traceparent.
func GatewayOptions() []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{runtime.WithIncomingHeaderMatcher(forwardHeader)}
}

func forwardHeader(key string) (string, bool) {
	switch k := strings.ToLower(key); k {
	case HeaderCorrelationID:
		return k, true
	}
	return runtime.DefaultHeaderMatcher(key)
}
