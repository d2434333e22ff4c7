package kit

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/grpc"
)

// DefaultGrace is how long calls in flight get to finish on shutdown unless --grace says otherwise.
const DefaultGrace = 10 * time.Second

// Main serves the agent from the command line until SIGTERM or Ctrl-C, then drains and exits;
// it takes the options every agentmesh agent takes: --host, --port, --grace, --log-format,
// --log-level and --tls-cert, --tls-key, --tls-client-ca. It exits 1 if the agent cannot serve, 2 on a bad command line.
func (a *Agent) Main() {
	os.Exit(a.Run(os.Args[1:], os.Stderr))
}

// Run is Main without the exit: the process's exit code.
func (a *Agent) Run(args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet(a.Name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	host := flags.String("host", "127.0.0.1", "interface to bind")
	port := flags.Int("port", a.DefaultPort, "port to bind; 0 picks a free one")
	grace := flags.Float64("grace", DefaultGrace.Seconds(), "seconds in-flight calls get on shutdown")
	format := flags.String("log-format", "json", "json or text")
	level := flags.String("log-level", "info", "debug, info, warning or error")
	metricsPort := flags.String("metrics-port", os.Getenv("AGENTMESH_METRICS_PORT"), "serve Prometheus /metrics on this port, 0 picks one; off unless given (env AGENTMESH_METRICS_PORT)")
	var files TLSFiles
	flags.StringVar(&files.Cert, "tls-cert", os.Getenv("AGENTMESH_TLS_CERT"), "PEM certificate to serve TLS with, re-read when it changes (env AGENTMESH_TLS_CERT)")
	flags.StringVar(&files.Key, "tls-key", os.Getenv("AGENTMESH_TLS_KEY"), "PEM private key of --tls-cert (env AGENTMESH_TLS_KEY)")
	flags.StringVar(&files.ClientCA, "tls-client-ca", os.Getenv("AGENTMESH_TLS_CLIENT_CA"), "demand client certificates signed by this CA: mutual TLS (env AGENTMESH_TLS_CLIENT_CA)")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "%s: %s\n\nUsage: %s [options]\n", a.Name, a.Description, a.Name)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	log, err := NewLogger(stderr, *format, *level)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := files.Check(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *metricsPort != "" {
		if port, err := strconv.Atoi(*metricsPort); err != nil || port < 0 || port > 65535 {
			fmt.Fprintf(stderr, "--metrics-port must be 0..65535, not %q\n", *metricsPort)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	provider, err := llm.FromEnv(a.composers, nil)
	if err != nil {
		log.Error("cannot serve", "agent", a.Name, "error", err.Error())
		return 1
	}
	traces, err := newTracing(ctx, "agentmesh-"+a.Name, os.Getenv)
	if err != nil {
		log.Error("cannot serve", "agent", a.Name, "error", err.Error())
		return 1
	}
	defer traces.shutdown(context.Background())
	listener, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		log.Error("cannot serve", "agent", a.Name, "error", err.Error())
		return 1
	}
	bound := listener.Addr().(*net.TCPAddr).Port
	var options []grpc.ServerOption
	if traces != nil {
		options = append(options, traces.serverOption())
	}
	if files.Enabled() {
		creds, err := files.Credentials(log)
		if err != nil {
			_ = listener.Close()
			log.Error("cannot serve", "agent", a.Name, "error", err.Error())
			return 1
		}
		options = append(options, grpc.Creds(creds))
	} else if !isLoopback(*host) {
		log.Warn("serving plaintext on a non-loopback address: anyone who reaches it can call it unencrypted; give a TLS certificate and key, or bind 127.0.0.1", "address", listener.Addr().String())
	}
	server := NewServer(a, provider, log, options...)
	if *metricsPort != "" {
		metricsListener, err := net.Listen("tcp", net.JoinHostPort(*host, *metricsPort))
		if err != nil {
			_ = listener.Close()
			log.Error("cannot serve", "agent", a.Name, "error", err.Error())
			return 1
		}
		server.ServeMetrics(metricsListener, log)
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	log.Info("listening", "agent", a.Name, "address", net.JoinHostPort(*host, strconv.Itoa(bound)), "port", bound, "llm_provider", provider.Name(), "tls", files.Mode())
	select {
	case <-ctx.Done():
		server.Stop(time.Duration(*grace * float64(time.Second)))
		<-served
		return 0
	case err := <-served:
		log.Error("cannot serve", "agent", a.Name, "error", err.Error())
		return 1
	}
}

// NewLogger writes structured logs as the other runtimes do: one JSON object a line (time, level
// in lower case, msg, then the fields) or plain text for people.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var threshold slog.Level
	switch strings.ToLower(level) {
	case "debug":
		threshold = slog.LevelDebug
	case "info":
		threshold = slog.LevelInfo
	case "warning", "warn":
		threshold = slog.LevelWarn
	case "error":
		threshold = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level must be debug, info, warning or error, not %q", level)
	}
	options := &slog.HandlerOptions{Level: threshold, ReplaceAttr: func(_ []string, attr slog.Attr) slog.Attr {
		if attr.Key == slog.LevelKey {
			name := strings.ToLower(attr.Value.String())
			if name == "warn" {
				name = "warning"
			}
			return slog.String(slog.LevelKey, name)
		}
		return attr
	}}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, options)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, options)), nil
	}
	return nil, fmt.Errorf("--log-format must be json or text, not %q", format)
}
