package kit_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	pb "github.com/agentmesh/agentmesh/kits/go/gen/agentmesh/v1"
)

// scrape reads /metrics as Prometheus would: each sample's value by its line's name and labels.
func scrape(t *testing.T, s *served) map[string]float64 {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.server.ServeMetrics(listener, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { _ = listener.Close() })
	response, err := http.Get("http://" + listener.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = response.Body.Close() }()
	if kind := response.Header.Get("Content-Type"); kind != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("content type %q", kind)
	}
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cut := strings.LastIndexByte(line, ' ')
		value, err := strconv.ParseFloat(line[cut+1:], 64)
		if err != nil {
			t.Fatalf("not a sample: %q", line)
		}
		samples[line[:cut]] = value
	}
	return samples
}

func TestMetricsCountCallsMessagesAndCodesAsGoGrpcPrometheusDoes(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	for _, data := range []map[string]any{{"name": "Ada"}, {"name": "Ada"}, {"times": 9}} {
		_, _ = s.client.Invoke(within(t, 5), request("greet", data))
	}
	stream, err := s.client.InvokeStream(within(t, 5), &pb.InvokeStreamRequest{Skill: "greet", Message: request("greet", map[string]any{"name": "Ada", "times": 2}).Message})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	samples := scrape(t, s)
	unary := `grpc_type="unary",grpc_service="agentmesh.v1.AgentService",grpc_method="Invoke"`
	streaming := `grpc_type="server_stream",grpc_service="agentmesh.v1.AgentService",grpc_method="InvokeStream"`
	for series, want := range map[string]float64{
		"grpc_server_started_total{" + unary + "}":                                                              3,
		"grpc_server_handled_total{" + unary + `,grpc_code="OK"}`:                                               2,
		"grpc_server_handled_total{" + unary + `,grpc_code="InvalidArgument"}`:                                  1,
		"grpc_server_handled_total{" + unary + `,grpc_code="Unavailable"}`:                                      0,
		"grpc_server_msg_received_total{" + unary + "}":                                                         3,
		"grpc_server_msg_sent_total{" + unary + "}":                                                             2,
		"grpc_server_handling_seconds_bucket{" + unary + `,le="+Inf"}`:                                          3,
		"grpc_server_handling_seconds_count{" + unary + "}":                                                     3,
		"grpc_server_handled_total{" + streaming + `,grpc_code="OK"}`:                                           1,
		"grpc_server_msg_received_total{" + streaming + "}":                                                     1,
		"grpc_server_msg_sent_total{" + streaming + "}":                                                         3, // two chunks, then the result
		`grpc_server_started_total{grpc_type="unary",grpc_service="grpc.health.v1.Health",grpc_method="Check"}`: 0,
	} {
		got, found := samples[series]
		if !found || got != want {
			t.Errorf("%s = %v (found %v), want %v", series, got, found, want)
		}
	}
	// Buckets are cumulative: each at least the one before it.
	previous := 0.0
	for _, le := range []string{"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "+Inf"} {
		got := samples["grpc_server_handling_seconds_bucket{"+unary+`,le="`+le+`"}`]
		if got < previous {
			t.Errorf("bucket le=%s holds %v, fewer than the one before (%v)", le, got, previous)
		}
		previous = got
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if samples[name] <= 0 && name != "process_cpu_seconds_total" {
			t.Errorf("%s = %v", name, samples[name])
		}
		if _, found := samples[name]; !found {
			t.Errorf("no %s", name)
		}
	}
}
