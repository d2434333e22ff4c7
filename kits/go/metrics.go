package kit

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Prometheus metrics, named as in every agentmesh runtime: go-grpc-prometheus's gRPC server
// series (grpc_server_handled_total{grpc_service, grpc_method, grpc_code}, ...), as
// go-grpc-middleware's provider counts them, agentmesh_llm_tokens_total{provider, kind}, and the
// Go runtime's and the process's own (client_golang's names, see runtime_metrics.go). They are
// always counted (a counter costs nanoseconds) and served only when --metrics-port asks.
//
// The kit writes the text format itself rather than link client_golang and go-grpc-middleware:
// they were 0.9 MB of the agent's binary (a Go process keeps most of its binary's pages
// resident) and, with the collectors client_golang sets up at init, about 1.5 MB of every
// agent's memory, idle or not (BENCHMARKS.md, p6).

// contentType is the text format's, as Prometheus asks for it.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

var handlingBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// exposed is a metric family as the text format writes it.
type exposed interface {
	metricName() string
	write(b *strings.Builder)
}

// family is a counter or gauge: one value per set of label values.
type family struct {
	name, help, kind string
	labels           []string
	mu               sync.Mutex
	values           map[string]*sample
}

type sample struct {
	labels []string
	value  float64
}

func newFamily(name, help, kind string, labels ...string) *family {
	return &family{name: name, help: help, kind: kind, labels: labels, values: map[string]*sample{}}
}

func (f *family) metricName() string { return f.name }

func (f *family) add(by float64, labels ...string) {
	key := strings.Join(labels, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	if found, ok := f.values[key]; ok {
		found.value += by
		return
	}
	f.values[key] = &sample{labels: labels, value: by}
}

func (f *family) write(b *strings.Builder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	header(b, f.name, f.help, f.kind)
	for _, key := range sortedKeys(f.values) {
		s := f.values[key]
		writeSample(b, f.name, f.labels, s.labels, s.value)
	}
}

// histogram has fixed buckets, one series per set of label values.
type histogram struct {
	name, help string
	labels     []string
	buckets    []float64
	mu         sync.Mutex
	series     map[string]*observed
}

type observed struct {
	labels []string
	counts []uint64
	sum    float64
	count  uint64
}

func (h *histogram) metricName() string { return h.name }

func (h *histogram) observe(value float64, labels ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	found := h.get(labels)
	if i := sort.SearchFloat64s(h.buckets, value); i < len(h.buckets) {
		found.counts[i]++
	}
	found.sum += value
	found.count++
}

// touch makes the series exist, empty.
func (h *histogram) touch(labels ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.get(labels)
}

func (h *histogram) get(labels []string) *observed {
	key := strings.Join(labels, "\xff")
	found, ok := h.series[key]
	if !ok {
		found = &observed{labels: labels, counts: make([]uint64, len(h.buckets))}
		h.series[key] = found
	}
	return found
}

func (h *histogram) write(b *strings.Builder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	header(b, h.name, h.help, "histogram")
	withLe := append(append([]string{}, h.labels...), "le")
	for _, key := range sortedKeys(h.series) {
		s := h.series[key]
		var cumulative uint64
		for i, bound := range h.buckets {
			cumulative += s.counts[i]
			writeSample(b, h.name+"_bucket", withLe, append(append([]string{}, s.labels...), formatFloat(bound)), float64(cumulative))
		}
		writeSample(b, h.name+"_bucket", withLe, append(append([]string{}, s.labels...), "+Inf"), float64(s.count))
		writeSample(b, h.name+"_sum", h.labels, s.labels, s.sum)
		writeSample(b, h.name+"_count", h.labels, s.labels, float64(s.count))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func header(b *strings.Builder, name, help, kind string) {
	b.WriteString("# HELP " + name + " " + helpEscaper.Replace(help) + "\n# TYPE " + name + " " + kind + "\n")
}

func writeSample(b *strings.Builder, name string, names, values []string, value float64) {
	b.WriteString(name)
	if len(names) > 0 {
		b.WriteByte('{')
		for i, label := range names {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(label + `="` + labelEscaper.Replace(values[i]) + `"`)
		}
		b.WriteByte('}')
	}
	b.WriteString(" " + formatFloat(value) + "\n")
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

var llmTokens = newFamily("agentmesh_llm_tokens_total", "Tokens an LLM provider reported, by provider and kind (prompt or output).", "counter", "provider", "kind")

func countTokens(provider string, usage llm.Usage) {
	if usage.InputTokens > 0 {
		llmTokens.add(float64(usage.InputTokens), provider, "prompt")
	}
	if usage.OutputTokens > 0 {
		llmTokens.add(float64(usage.OutputTokens), provider, "output")
	}
}

// serverMetrics are the gRPC server series, counted by interceptors as go-grpc-middleware's
// provider counts them: a call's request and reply as messages received and sent, each
// streamed message too, and the status code when the handler returns.
type serverMetrics struct {
	started, handled, received, sent *family
	handling                         *histogram
}

func newServerMetrics() *serverMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	return &serverMetrics{
		started:  newFamily("grpc_server_started_total", "Total number of RPCs started on the server.", "counter", labels...),
		handled:  newFamily("grpc_server_handled_total", "Total number of RPCs completed on the server, regardless of success or failure.", "counter", append(labels, "grpc_code")...),
		received: newFamily("grpc_server_msg_received_total", "Total number of RPC stream messages received on the server.", "counter", labels...),
		sent:     newFamily("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", "counter", labels...),
		handling: &histogram{
			name:    "grpc_server_handling_seconds",
			help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			labels:  labels,
			buckets: handlingBuckets,
			series:  map[string]*observed{},
		},
	}
}

// allCodes are the codes each method's handled series starts with, at zero.
var allCodes = []string{"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
	"PermissionDenied", "Unauthenticated", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
	"Unimplemented", "Internal", "Unavailable", "DataLoss"}

// initialize makes every series of every method the server serves exist, at zero, so that a
// query finds a method before its first call.
func (m *serverMetrics) initialize(server *grpc.Server) {
	for service, info := range server.GetServiceInfo() {
		for _, method := range info.Methods {
			typ := callType(method.IsClientStream, method.IsServerStream)
			m.started.add(0, typ, service, method.Name)
			m.received.add(0, typ, service, method.Name)
			m.sent.add(0, typ, service, method.Name)
			m.handling.touch(typ, service, method.Name)
			for _, code := range allCodes {
				m.handled.add(0, typ, service, method.Name, code)
			}
		}
	}
}

func callType(clientStream, serverStream bool) string {
	switch {
	case clientStream && serverStream:
		return "bidi_stream"
	case clientStream:
		return "client_stream"
	case serverStream:
		return "server_stream"
	}
	return "unary"
}

func splitMethod(fullMethod string) (string, string) {
	service, method, found := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !found {
		return "unknown", "unknown"
	}
	return service, method
}

func (m *serverMetrics) done(err error, started time.Time, typ, service, method string) {
	code, ok := status.FromError(err)
	if !ok {
		code = status.FromContextError(err)
	}
	m.handled.add(1, typ, service, method, code.Code().String())
	m.handling.observe(time.Since(started).Seconds(), typ, service, method)
}

func (m *serverMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	started := time.Now()
	service, method := splitMethod(info.FullMethod)
	m.started.add(1, "unary", service, method)
	m.received.add(1, "unary", service, method)
	resp, err := handler(ctx, req)
	if err == nil {
		m.sent.add(1, "unary", service, method)
	}
	m.done(err, started, "unary", service, method)
	return resp, err
}

func (m *serverMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	started := time.Now()
	typ := callType(info.IsClientStream, info.IsServerStream)
	service, method := splitMethod(info.FullMethod)
	m.started.add(1, typ, service, method)
	err := handler(srv, &countedStream{ServerStream: ss, metrics: m, labels: []string{typ, service, method}})
	m.done(err, started, typ, service, method)
	return err
}

// countedStream counts the messages a streaming call sends and receives.
type countedStream struct {
	grpc.ServerStream
	metrics *serverMetrics
	labels  []string
}

func (c *countedStream) SendMsg(message any) error {
	err := c.ServerStream.SendMsg(message)
	if err == nil {
		c.metrics.sent.add(1, c.labels...)
	}
	return err
}

func (c *countedStream) RecvMsg(message any) error {
	err := c.ServerStream.RecvMsg(message)
	if err == nil {
		c.metrics.received.add(1, c.labels...)
	}
	return err
}

// text is every family in the text format, sorted by name as Prometheus's clients sort them.
func (m *serverMetrics) text() string {
	var b strings.Builder
	families := map[string]exposed{}
	for _, f := range append(runtimeFamilies(), m.started, m.handled, m.received, m.sent, m.handling, llmTokens) {
		families[f.metricName()] = f
	}
	for _, name := range sortedKeys(families) {
		families[name].write(&b)
	}
	return b.String()
}

// ServeMetrics serves /metrics on listener until the process ends: the server's gRPC metrics,
// LLM tokens, and the Go runtime's and process's own. The same port answers /healthz and
// /readyz (503 once the server drains): HTTP probes for a kubelet that cannot speak TLS to the
// gRPC port, whose native gRPC probes are plaintext only.
func (s *Server) ServeMetrics(listener net.Listener, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(s.metrics.text()))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.stopping.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("draining\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	port := listener.Addr().(*net.TCPAddr).Port
	log.Info("metrics listening", "address", listener.Addr().String(), "port", port, "path", "/metrics")
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint failed", "error", err.Error(), "port", strconv.Itoa(port))
		}
	}()
}
