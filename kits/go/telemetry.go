package kit

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// Tracing is configured, as in every agentmesh runtime, by the standard OTEL_* variables only:
// OTEL_TRACES_EXPORTER (otlp, console, none; a list is allowed), OTEL_EXPORTER_OTLP_PROTOCOL
// (grpc or http/protobuf, the spec's default), the endpoint, headers and sampler variables the
// SDK and exporters read themselves, and OTEL_SERVICE_NAME over the agent's own name. An
// exporter this kit does not know stops the agent at start-up: a misspelt value must not drop
// every span without a word.

// tracing is the tracer provider and the server option that makes a span of every
// AgentService call, or nothing when no exporter is asked for.
type tracing struct {
	provider *sdktrace.TracerProvider
}

func newTracing(ctx context.Context, service string, getenv func(string) string) (*tracing, error) {
	value := getenv("OTEL_TRACES_EXPORTER")
	var exporters []sdktrace.SpanExporter
	for _, name := range strings.Split(value, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "", "none":
		case "console":
			exporter, err := stdouttrace.New()
			if err != nil {
				return nil, err
			}
			exporters = append(exporters, exporter)
		case "otlp":
			exporter, err := otlpExporter(ctx, getenv)
			if err != nil {
				return nil, err
			}
			exporters = append(exporters, exporter)
		default:
			return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: unknown exporter %q (agentmesh exports otlp, console or none)", value, strings.TrimSpace(name))
		}
	}
	if len(exporters) == 0 {
		return nil, nil
	}
	// The agent's own name first; the environment's (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) over it.
	res, err := resource.Merge(resource.NewSchemaless(semconv.ServiceName(service)), resource.Environment())
	if err != nil {
		return nil, err
	}
	options := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, exporter := range exporters {
		options = append(options, sdktrace.WithBatcher(exporter))
	}
	return &tracing{provider: sdktrace.NewTracerProvider(options...)}, nil
}

func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	variable, protocol := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		variable, protocol = "OTEL_EXPORTER_OTLP_PROTOCOL", getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch strings.ToLower(strings.TrimSpace(protocol)) {
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	}
	return nil, fmt.Errorf("%s=%q: agentmesh speaks OTLP over grpc or http/protobuf", variable, protocol)
}

// serverOption makes a server span of each AgentService call, a child of the caller's
// traceparent (health and reflection are left out: a probe every few seconds is no trace).
func (t *tracing) serverOption() grpc.ServerOption {
	handler := otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.provider),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
		otelgrpc.WithFilter(func(info *stats.RPCTagInfo) bool {
			return strings.HasPrefix(info.FullMethodName, agentServicePrefix)
		}),
	)
	return grpc.StatsHandler(handler)
}

// shutdown exports what is still batched.
func (t *tracing) shutdown(ctx context.Context) {
	if t != nil {
		_ = t.provider.Shutdown(ctx)
	}
}
