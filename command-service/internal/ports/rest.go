package ports

import (
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
)

// GatewayOptions are the REST gateway's options besides apiserver's: it
// forwards the headers the commands read (correlation and trace context),
// besides the gateway's defaults (Authorization, Grpc-Metadata-* and
// permanent HTTP headers).
func GatewayOptions() []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{runtime.WithIncomingHeaderMatcher(forwardHeader)}
}

func forwardHeader(key string) (string, bool) {
	switch k := strings.ToLower(key); k {
	case HeaderCorrelationID, HeaderTraceParent:
		return k, true
	}
	return runtime.DefaultHeaderMatcher(key)
}
