//go:build unix

// Package systemtest runs the platform as `make run` starts it, on free
// loopback ports, for tests: the event store, the development identity
// provider, the command, projector and query services, and when asked the
// publisher and the web app, each from its binary built from this
// repository, so that a test runs the programs as they ship, flags and
// environment variables and all.
package systemtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/proctest"
)

// Audience is what the identity provider puts in its tokens and the
// services require (OIDC_AUDIENCE under make run).
const Audience = "loans-api"

const (
	// webAppPort is where the identity provider's loans-web client has its
	// redirect URIs (devstack/identity/users.yaml), as under make run.
	webAppPort = "5173"
	// readyTimeout bounds each process's start: a loaded machine with
	// other tests running takes seconds.
	readyTimeout  = 60 * time.Second
	readyInterval = 50 * time.Millisecond
	// stopTimeout bounds each process's graceful shutdown; their own
	// shutdown timeouts are 10 s.
	stopTimeout = 30 * time.Second
)

// Config is what a test changes of the system make run starts.
type Config struct {
	// Env is added to every process's environment after what Start sets,
	// so it may override it: OTEL_EXPORTER_OTLP_ENDPOINT, LOG_LEVEL, ….
	Env []string
	// AMQPURL, when set, runs publisher-service publishing to that broker,
	// on Exchange; an empty Exchange is a new one, so that no consumer of
	// the real exchange sees a test's events.
	AMQPURL, Exchange string
	// WebApp runs the web app: on 127.0.0.1:5173, where the identity
	// provider's loans-web client expects it, or, if that port is taken
	// (make run is up), on another with a copy of users.yaml registering
	// that one.
	WebApp bool
	// CORSAllowedOrigins is the API services' CORS_ALLOWED_ORIGINS; empty,
	// the web app's origin when it runs.
	CORSAllowedOrigins string
	// ReadModel is the read model's URL, sqlite:PATH or mongodb://…;
	// empty, a SQLite file in the test's temporary directory.
	ReadModel string
}

// System is a running platform. gRPC addresses are host:port; the others
// are base URLs.
type System struct {
	Issuer        string // the identity provider, as its tokens' iss
	Audience      string
	EventStoreURL string // esdb://host:port?tls=false
	CommandGRPC   string
	CommandHTTP   string
	QueryGRPC     string
	QueryHTTP     string
	// Admin holds each service's admin listener (/metrics, /healthz,
	// /readyz, /debug/pprof/), by program name: command-service,
	// projector-service, query-service and publisher-service.
	Admin  map[string]string
	WebApp string // "" unless Config.WebApp
	// Processes are in start order, each named after its program.
	Processes []*proctest.Process
}

// Start builds the programs, starts them and waits
// until each is ready: the event store accepts connections, the identity
// provider serves its discovery document, every service's /readyz answers
// 200 (and the web app's /healthz). The processes are killed when the test
// ends; Stop stops them as an operator would.
func Start(t testing.TB, cfg Config) *System {
	t.Helper()
	programs := []string{"eventstore", "identity", "command-service", "projector-service", "query-service"}
	if cfg.AMQPURL != "" {
		programs = append(programs, "publisher-service")
	}
	if cfg.WebApp {
		programs = append(programs, "webapp")
	}
	root, bin := build(t, programs)
	s := &System{Audience: Audience, Admin: map[string]string{}}
	start := func(name string, env []string, args ...string) *proctest.Process {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = slices.Concat(os.Environ(), env, cfg.Env)
		p := proctest.Start(t, name, cmd)
		s.Processes = append(s.Processes, p)
		return p
	}

	es, idp := FreeAddr(t), FreeAddr(t)
	s.EventStoreURL = "esdb://" + es + "?tls=false"
	s.Issuer = "http://" + idp
	web, identityArgs := "", []string{"-addr", idp, "-audience", Audience, "-in-memory"}
	if cfg.WebApp {
		var usersFile string
		web, usersFile = webAppAddr(t, root)
		if usersFile != "" {
			identityArgs = append(identityArgs, "-users", usersFile)
		}
		s.WebApp = "http://" + web
	}
	store := start("eventstore", nil, "-addr", es, "-in-memory")
	identity := start("identity", nil, identityArgs...)
	waitReady(t, store, func() error { return dial(es) })
	waitReady(t, identity, func() error { return getOK(s.Issuer + "/.well-known/openid-configuration") })

	readModel := cfg.ReadModel
	if readModel == "" {
		readModel = "sqlite:" + filepath.Join(t.TempDir(), "readmodel.db")
	}
	cors := cfg.CORSAllowedOrigins
	if cors == "" {
		cors = s.WebApp
	}
	api := []string{"OIDC_ISSUER_URL=" + s.Issuer, "OIDC_AUDIENCE=" + Audience}
	if cors != "" {
		api = append(api, "CORS_ALLOWED_ORIGINS="+cors)
	}
	admin := func(name string) string {
		addr := FreeAddr(t)
		s.Admin[name] = "http://" + addr
		return addr
	}
	commandHTTP, queryHTTP := FreeAddr(t), FreeAddr(t)
	s.CommandGRPC, s.CommandHTTP = FreeAddr(t), "http://"+commandHTTP
	s.QueryGRPC, s.QueryHTTP = FreeAddr(t), "http://"+queryHTTP
	services := []*proctest.Process{
		start("command-service", api, "-eventstore", s.EventStoreURL, "-grpc-addr", s.CommandGRPC, "-http-addr", commandHTTP,
			"-admin-addr", admin("command-service")),
		start("projector-service", nil, "run", "-eventstore", s.EventStoreURL, "-readmodel", readModel,
			"-admin-addr", admin("projector-service")),
		start("query-service", api, "-readmodel", readModel, "-grpc-addr", s.QueryGRPC, "-http-addr", queryHTTP,
			"-admin-addr", admin("query-service")),
	}
	if cfg.AMQPURL != "" {
		exchange := cfg.Exchange
		if exchange == "" {
			exchange = fmt.Sprintf("systemtest.events-%d", time.Now().UnixNano())
		}
		services = append(services, start("publisher-service", nil, "-eventstore", s.EventStoreURL, "-amqp-url", cfg.AMQPURL,
			"-exchange", exchange, "-admin-addr", admin("publisher-service")))
	}
	for _, p := range services {
		waitReady(t, p, func() error { return getOK(s.Admin[p.String()] + "/readyz") })
	}
	if cfg.WebApp {
		p := start("webapp", nil, "-addr", web, "-command-url", s.CommandHTTP, "-query-url", s.QueryHTTP, "-issuer-url", s.Issuer)
		waitReady(t, p, func() error { return getOK(s.WebApp + "/healthz") })
	}
	return s
}

// Stop sends SIGTERM to each process, the last started first (the web app
// before the services it calls, the event store last), and fails the test
// unless each exits with status 0 in time. It is called once, at the end of
// a test that passed so far; otherwise the processes are killed.
func (s *System) Stop() {
	for _, p := range slices.Backward(s.Processes) {
		p.Terminate(stopTimeout)
	}
}

// Token is an access token for a development user of users.yaml (whose
// password is the user's name), by the password grant of the loans-cli
// client, as `loanctl login --password` gets one.
func (s *System) Token(t testing.TB, user string) string {
	t.Helper()
	resp, err := http.PostForm(s.Issuer+"/token", url.Values{"grant_type": {"password"}, "client_id": {"loans-cli"},
		"username": {user}, "password": {user}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.AccessToken == "" {
		t.Fatalf("token for %s: %d %v", user, resp.StatusCode, err)
	}
	return v.AccessToken
}

// Broker is the RabbitMQ a test may give the publisher, AMQP_TEST_URL or
// the machine's (as make test has it), or "" when none answers.
func Broker() string {
	u := os.Getenv("AMQP_TEST_URL")
	if u == "" {
		u = "amqp://guest:guest@127.0.0.1:5672/"
	}
	parsed, err := url.Parse(u)
	if err != nil || dial(parsed.Host) != nil {
		return ""
	}
	return u
}

// webAppAddr is where the web app listens: 5173, or a free port and a copy
// of users.yaml whose loans-web client has its redirect URIs there.
func webAppAddr(t testing.TB, root string) (addr, usersFile string) {
	t.Helper()
	addr = "127.0.0.1:" + webAppPort
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		return addr, ""
	}
	addr = FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	users, err := os.ReadFile(filepath.Join(root, "devstack", "identity", "users.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	usersFile = filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(usersFile, []byte(strings.ReplaceAll(string(users), ":"+webAppPort+"/", ":"+port+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("port %s is taken: the web app runs on %s, registered with the identity provider through %s", webAppPort, addr, usersFile)
	return addr, usersFile
}

// waitReady polls ready until it returns nil. It fails the test with the
// process's log once readyTimeout has passed, or at once if the process
// exits first.
func waitReady(t testing.TB, p *proctest.Process, ready func() error) {
	t.Helper()
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyInterval)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-p.Exited():
			t.Fatalf("%s exited before it was ready: %v\n%s", p, p.ExitErr(), p.Log())
		case <-deadline.C:
			t.Fatalf("%s not ready after %v: %v\n%s", p, readyTimeout, err, p.Log())
		case <-tick.C:
		}
	}
}

// client bounds each readiness probe, so that one hung request cannot hold
// waitReady past its deadline.
var client = &http.Client{Timeout: 5 * time.Second}

func getOK(u string) error {
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

func dial(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	return conn.Close()
}

// FreeAddr is a loopback address whose port was free a moment ago, for a
// program that takes its address from a flag, as under make run.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
