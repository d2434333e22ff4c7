package kit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kit "github.com/agentmesh/agentmesh/kits/go"
	pb "github.com/agentmesh/agentmesh/kits/go/gen/agentmesh/v1"
	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

type greetInput struct {
	Name  string `json:"name" jsonschema:"minLength=1,maxLength=20"`
	Times int    `json:"times,omitempty" jsonschema:"minimum=1,maximum=3,default=1"`
}

type greeting struct {
	Words []string `json:"words"`
}

type waitInput struct {
	Seconds float64 `json:"seconds"`
}

// seen is what the handlers observed, for the test to read.
type seen struct {
	cancelled      atomic.Bool
	idempotencyKey atomic.Value
	traceID        atomic.Value
}

func testAgent(observed *seen) *kit.Agent {
	agent := kit.NewAgent("greeter", kit.Description("Greets."), kit.Version("0.1.0"))
	kit.AddSkill(agent, kit.SkillSpec[greetInput, greeting]{
		ID: "greet", Description: "Greet someone.", Streams: true,
		Examples: []greetInput{{Name: "Ada", Times: 2}},
		Aliases:  map[string]string{"who": "name"},
		Handle: func(call *kit.Call, in greetInput) (kit.Reply[greeting], error) {
			observed.idempotencyKey.Store(call.IdempotencyKey())
			if trace, ok := call.Trace(); ok {
				observed.traceID.Store(trace.TraceID)
			}
			words := []string{}
			for range in.Times {
				word := "hello " + in.Name
				if err := call.Emit(word); err != nil {
					return kit.Reply[greeting]{}, err
				}
				words = append(words, word)
			}
			return kit.Reply[greeting]{Text: strings.Join(words, ", "), Data: greeting{Words: words}}, nil
		},
	})
	kit.AddSkill(agent, kit.SkillSpec[waitInput, kit.NoData]{
		ID: "wait", Description: "Wait, honouring the caller's deadline.",
		Handle: func(call *kit.Call, in waitInput) (kit.Reply[kit.NoData], error) {
			select {
			case <-time.After(time.Duration(in.Seconds * float64(time.Second))):
				return kit.Reply[kit.NoData]{Text: "waited"}, nil
			case <-call.Done():
				observed.cancelled.Store(true)
				return kit.Reply[kit.NoData]{}, call.Err()
			}
		},
	})
	kit.AddSkill(agent, kit.SkillSpec[waitInput, kit.NoData]{
		ID: "crash", Description: "Fails unexpectedly.",
		Handle: func(*kit.Call, waitInput) (kit.Reply[kit.NoData], error) {
			return kit.Reply[kit.NoData]{}, errors.New("secret internals")
		},
	})
	return agent
}

type served struct {
	server *kit.Server
	conn   *grpc.ClientConn
	client pb.AgentServiceClient
	done   chan error
}

func serve(t *testing.T, agent *kit.Agent) *served {
	t.Helper()
	return serveLogging(t, agent, io.Discard)
}

func serveLogging(t *testing.T, agent *kit.Agent, logs io.Writer) *served {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := kit.NewServer(agent, &llm.Offline{}, slog.New(slog.NewTextHandler(logs, nil)))
	done := make(chan error, 1)
	go func() { done <- server.Serve(listener) }()
	conn, err := grpc.NewClient(listener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	s := &served{server: server, conn: conn, client: pb.NewAgentServiceClient(conn), done: done}
	t.Cleanup(func() {
		_ = conn.Close()
		server.Stop(0)
	})
	return s
}

func request(skill string, data map[string]any) *pb.InvokeRequest {
	structured, err := structpb.NewStruct(data)
	if err != nil {
		panic(err)
	}
	return &pb.InvokeRequest{Skill: skill, Message: &pb.AgentMessage{
		MessageId: "m1", Sender: "test", Role: pb.Role_ROLE_USER, Type: pb.MessageType_MESSAGE_TYPE_REQUEST,
		Parts: []*pb.Part{{Content: &pb.Part_Data{Data: structured}}},
	}}
}

func within(t *testing.T, seconds float64) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second)))
	t.Cleanup(cancel)
	return ctx
}

func TestInvokeValidatesAppliesDefaultsAndAnswersTypedData(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	response, err := s.client.Invoke(within(t, 5), request("greet", map[string]any{"who": "Ada"}))
	if err != nil {
		t.Fatal(err)
	}
	parts := response.GetMessage().GetParts()
	if len(parts) != 2 || parts[0].GetText() != "hello Ada" || parts[0].GetMediaType() != "text/markdown" {
		t.Fatalf("unexpected text part: %v", parts)
	}
	words := parts[1].GetData().AsMap()["words"].([]any)
	if len(words) != 1 || words[0] != "hello Ada" || parts[1].GetMediaType() != "application/json" {
		t.Fatalf("unexpected data part: %v", parts[1])
	}
	meta := response.GetMessage().GetMetadata().AsMap()
	if meta["agent"] != "greeter" || meta["skill"] != "greet" || meta["llm_provider"] != "offline" {
		t.Fatalf("unexpected metadata %v", meta)
	}
	if response.GetMessage().GetCorrelationId() != "m1" || response.GetMessage().GetReceiver() != "test" {
		t.Fatalf("reply not addressed to the request: %v", response.GetMessage())
	}
}

func errorDetails(t *testing.T, err error) (*status.Status, *errdetails.ErrorInfo, *errdetails.BadRequest) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a gRPC status: %v", err)
	}
	var info *errdetails.ErrorInfo
	var bad *errdetails.BadRequest
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			bad = d
		}
	}
	if info == nil || info.GetDomain() != "agentmesh" {
		t.Fatalf("no ErrorInfo in domain agentmesh: %v", st.Details())
	}
	return st, info, bad
}

func TestInvalidInputIsInvalidArgumentWithFieldViolations(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	_, err := s.client.Invoke(within(t, 5), request("greet", map[string]any{"times": 9, "extra": strings.Repeat("x", 1<<20)}))
	st, info, bad := errorDetails(t, err)
	if st.Code() != codes.InvalidArgument || info.GetReason() != "INVALID_INPUT" {
		t.Fatalf("got %v %v", st.Code(), info.GetReason())
	}
	fields := map[string]bool{}
	for _, violation := range bad.GetFieldViolations() {
		fields[violation.GetField()] = true
	}
	if !fields["name"] || !fields["times"] {
		t.Fatalf("violations %v do not name name and times", bad.GetFieldViolations())
	}
	if len(st.Message()) > 2048 {
		t.Fatalf("error message is not bounded: %d bytes", len(st.Message()))
	}
}

func TestUnknownSkillAndMissingMessage(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	_, err := s.client.Invoke(within(t, 5), request("nope", map[string]any{}))
	st, info, _ := errorDetails(t, err)
	if st.Code() != codes.InvalidArgument || info.GetReason() != "UNKNOWN_SKILL" {
		t.Fatalf("unknown skill answered %v %v", st.Code(), info.GetReason())
	}
	_, err = s.client.Invoke(within(t, 5), &pb.InvokeRequest{Skill: "greet"})
	st, info, bad := errorDetails(t, err)
	if st.Code() != codes.InvalidArgument || info.GetReason() != "MISSING_REQUIRED_FIELD" || len(bad.GetFieldViolations()) == 0 {
		t.Fatalf("missing message answered %v %v %v", st.Code(), info.GetReason(), bad)
	}
}

func TestUnexpectedErrorsAreInternalWithoutTheirCause(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	_, err := s.client.Invoke(within(t, 5), request("crash", map[string]any{"seconds": 0}))
	st, _, _ := errorDetails(t, err)
	if st.Code() != codes.Internal || strings.Contains(st.Message(), "secret") {
		t.Fatalf("crash answered %v %q", st.Code(), st.Message())
	}
}

func TestTheCallersDeadlineCancelsTheHandler(t *testing.T) {
	observed := &seen{}
	s := serve(t, testAgent(observed))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := s.client.Invoke(ctx, request("wait", map[string]any{"seconds": 30}))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v", err)
	}
	// The handler sees the cancellation shortly after the deadline, not 30 s later.
	for range 100 {
		if observed.cancelled.Load() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the handler never saw its call cancelled")
}

func TestIdempotencyKeyAndTraceparentReachTheHandler(t *testing.T) {
	observed := &seen{}
	s := serve(t, testAgent(observed))
	ctx := metadata.AppendToOutgoingContext(within(t, 5),
		"agentmesh-idempotency-key", "run1/step/1",
		"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if _, err := s.client.Invoke(ctx, request("greet", map[string]any{"name": "Ada"})); err != nil {
		t.Fatal(err)
	}
	if observed.idempotencyKey.Load() != "run1/step/1" || observed.traceID.Load() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("handler saw key %v trace %v", observed.idempotencyKey.Load(), observed.traceID.Load())
	}
}

func TestInvokeStreamSendsChunksThenTheResult(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	structured, _ := structpb.NewStruct(map[string]any{"name": "Bo", "times": 3})
	stream, err := s.client.InvokeStream(within(t, 5), &pb.InvokeStreamRequest{Skill: "greet", Message: &pb.AgentMessage{
		MessageId: "m2", Parts: []*pb.Part{{Content: &pb.Part_Data{Data: structured}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var chunks []string
	var result *pb.InvokeResponse
	for {
		event, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if chunk := event.GetChunk(); chunk != nil {
			if int(chunk.GetIndex()) != len(chunks) {
				t.Fatalf("chunk index %d after %d chunks", chunk.GetIndex(), len(chunks))
			}
			chunks = append(chunks, chunk.GetText())
		} else {
			result = event.GetResult()
		}
	}
	if len(chunks) != 3 || result == nil || result.GetMessage().GetParts()[0].GetText() != strings.Join(chunks, ", ") {
		t.Fatalf("chunks %v result %v", chunks, result)
	}
}

func TestAgentCardCarriesSchemasAndExamples(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	response, err := s.client.GetAgentCard(within(t, 5), &pb.GetAgentCardRequest{})
	if err != nil {
		t.Fatal(err)
	}
	card := response.GetCard()
	if card.GetName() != "greeter" || len(card.GetSkills()) != 3 || !card.GetStreaming() {
		t.Fatalf("card %v", card)
	}
	greet := card.GetSkills()[0]
	input := greet.GetInputSchema().AsMap()
	if fmt.Sprint(input["required"]) != "[name]" || input["type"] != "object" {
		t.Fatalf("input schema %v", input)
	}
	times := input["properties"].(map[string]any)["times"].(map[string]any)
	if times["default"] != float64(1) || times["maximum"] != float64(3) {
		t.Fatalf("times schema %v", times)
	}
	if greet.GetOutputSchema() == nil || len(greet.GetInputExamples()) != 1 {
		t.Fatalf("greet skill %v", greet)
	}
}

func TestHealthAndReflection(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	health := healthpb.NewHealthClient(s.conn)
	for _, service := range []string{"", "agentmesh.v1.AgentService"} {
		answer, err := health.Check(within(t, 5), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || answer.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q: %v %v", service, answer, err)
		}
	}
	reflection, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(within(t, 5))
	if err != nil {
		t.Fatal(err)
	}
	if err := reflection.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	answer, err := reflection.Recv()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, service := range answer.GetListServicesResponse().GetService() {
		names = append(names, service.GetName())
	}
	listed := strings.Join(names, " ")
	for _, want := range []string{"agentmesh.v1.AgentService", "grpc.health.v1.Health"} {
		if !strings.Contains(listed, want) {
			t.Fatalf("reflection lists %v, not %s", names, want)
		}
	}
}

func TestStopDrainsInFlightCallsAndReportsNotServing(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	health := healthpb.NewHealthClient(s.conn)
	watch, err := health.Watch(within(t, 10), &healthpb.HealthCheckRequest{Service: ""})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := watch.Recv(); err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch answer %v %v", first, err)
	}
	finished := make(chan error, 1)
	go func() {
		_, err := s.client.Invoke(within(t, 10), request("wait", map[string]any{"seconds": 0.5}))
		finished <- err
	}()
	time.Sleep(100 * time.Millisecond) // the call is in flight
	stopped := make(chan struct{})
	go func() { s.server.Stop(5 * time.Second); close(stopped) }()
	if next, err := watch.Recv(); err != nil || next.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch after stop %v %v", next, err)
	}
	if err := <-finished; err != nil {
		t.Fatalf("the in-flight call was not drained: %v", err)
	}
	<-stopped
}

func TestStopCancelsCallsStillRunningAfterTheGrace(t *testing.T) {
	observed := &seen{}
	s := serve(t, testAgent(observed))
	finished := make(chan error, 1)
	go func() {
		_, err := s.client.Invoke(within(t, 30), request("wait", map[string]any{"seconds": 20}))
		finished <- err
	}()
	time.Sleep(100 * time.Millisecond)
	s.server.Stop(200 * time.Millisecond)
	if err := <-finished; err == nil {
		t.Fatal("a call past the grace finished normally")
	}
	if !observed.cancelled.Load() {
		t.Fatal("the handler was not cancelled after the grace")
	}
}

func TestStopDoesNotWaitForHealthWatches(t *testing.T) {
	var logs syncBuffer
	s := serveLogging(t, testAgent(&seen{}), &logs)
	watch, err := healthpb.NewHealthClient(s.conn).Watch(within(t, 60), &healthpb.HealthCheckRequest{Service: ""})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	// With no AgentService call in flight the drain is over at once; a stop that waited for the
	// watch (open for a minute more) would wait out the grace and say so.
	s.server.Stop(2 * time.Second)
	if strings.Contains(logs.String(), "grace period over") {
		t.Fatalf("stop waited out the grace for a health watch:\n%s", logs.String())
	}
	for {
		if _, err := watch.Recv(); err != nil {
			break // the watch is closed by the stop
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
