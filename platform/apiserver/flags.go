package apiserver

import (
	"flag"
	"strings"
	"time"
)

// Flags are the deployment settings of Config as command-line flags.
type Flags struct {
	TLSCertFile, TLSKeyFile, CORSAllowedOrigins *string
	MaxDeadline                                 *time.Duration
}

// EnvVars names the environment variables that stand in for the flags (see
// platform/envflag).
var EnvVars = map[string]string{
	"tls-cert":             "TLS_CERT_FILE",
	"tls-key":              "TLS_KEY_FILE",
	"cors-allowed-origins": "CORS_ALLOWED_ORIGINS",
	"max-deadline":         "MAX_DEADLINE",
}

// RegisterFlags adds -tls-cert, -tls-key, -cors-allowed-origins and
// -max-deadline to fs.
func RegisterFlags(fs *flag.FlagSet) Flags {
	return Flags{
		TLSCertFile:        fs.String("tls-cert", "", "PEM certificate to serve gRPC and REST over TLS, with -tls-key (TLS_CERT_FILE); none: plain text"),
		TLSKeyFile:         fs.String("tls-key", "", "PEM private key of -tls-cert (TLS_KEY_FILE)"),
		CORSAllowedOrigins: fs.String("cors-allowed-origins", "", "comma-separated browser origins allowed to call the REST API, as http://localhost:5173 (CORS_ALLOWED_ORIGINS); none: no CORS"),
		MaxDeadline:        fs.Duration("max-deadline", DefaultMaxDeadline, "longest a call may run, whatever deadline the client asks for (MAX_DEADLINE)"),
	}
}

// Apply copies the flags into cfg, replacing what those fields held.
func (f Flags) Apply(cfg *Config) {
	cfg.TLSCertFile, cfg.TLSKeyFile = *f.TLSCertFile, *f.TLSKeyFile
	cfg.MaxDeadline = *f.MaxDeadline
	cfg.CORSAllowedOrigins = nil
	for o := range strings.SplitSeq(*f.CORSAllowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.CORSAllowedOrigins = append(cfg.CORSAllowedOrigins, o)
		}
	}
}
