package kit

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/agentmesh/agentmesh/kits/go/llm"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus metrics, named as in every agentmesh runtime: go-grpc-prometheus's gRPC server
// series (grpc_server_handled_total{grpc_service, grpc_method, grpc_code}, ...) from
// go-grpc-middleware's provider, and agentmesh_llm_tokens_total{provider, kind}. They are
// always counted (a counter costs nanoseconds) and served only when --metrics-port asks.

var llmTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "agentmesh_llm_tokens_total",
	Help: "Tokens an LLM provider reported, by provider and kind (prompt or output).",
}, []string{"provider", "kind"})

func countTokens(provider string, usage llm.Usage) {
	if usage.InputTokens > 0 {
		llmTokens.WithLabelValues(provider, "prompt").Add(float64(usage.InputTokens))
	}
	if usage.OutputTokens > 0 {
		llmTokens.WithLabelValues(provider, "output").Add(float64(usage.OutputTokens))
	}
}

func newServerMetrics() *grpcprom.ServerMetrics {
	return grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}),
	))
}

// ServeMetrics serves /metrics on listener until the process ends: the server's gRPC metrics,
// LLM tokens, and the Go runtime's and process's own. The same port answers /healthz and
// /readyz (503 once the server drains): HTTP probes for a kubelet that cannot speak TLS to the
// gRPC port, whose native gRPC probes are plaintext only.
func (s *Server) ServeMetrics(listener net.Listener, log *slog.Logger) {
	registry := prometheus.NewRegistry()
	registry.MustRegister(s.metrics, llmTokens, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
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
