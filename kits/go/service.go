package kit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	pb "github.com/agentmesh/agentmesh/kits/go/gen/agentmesh/v1"
	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// service is agentmesh.v1.AgentService for one agent: protobuf in, typed values to the handler,
// protobuf out. Every error leaves through statusOf.
type service struct {
	pb.UnimplementedAgentServiceServer
	agent *Agent
	llm   llm.Provider
	log   *slog.Logger
	// stopping says whether the server is draining, to name why a call was cancelled.
	stopping func() bool
}

func (s *service) Invoke(ctx context.Context, request *pb.InvokeRequest) (*pb.InvokeResponse, error) {
	response, err := s.run(ctx, request.GetMessage(), request.GetHistory(), request.GetSkill(), nil)
	if err != nil {
		return nil, s.fail(ctx, err, "Invoke")
	}
	return response, nil
}

func (s *service) InvokeStream(request *pb.InvokeStreamRequest, stream grpc.ServerStreamingServer[pb.InvokeStreamResponse]) error {
	index := int32(0)
	emit := func(text string) error {
		chunk := &pb.InvokeStreamResponse{Event: &pb.InvokeStreamResponse_Chunk{Chunk: &pb.OutputChunk{Index: index, Text: text}}}
		index++
		return stream.Send(chunk)
	}
	response, err := s.run(stream.Context(), request.GetMessage(), request.GetHistory(), request.GetSkill(), emit)
	if err != nil {
		return s.fail(stream.Context(), err, "InvokeStream")
	}
	return stream.Send(&pb.InvokeStreamResponse{Event: &pb.InvokeStreamResponse_Result{Result: response}})
}

func (s *service) GetAgentCard(_ context.Context, _ *pb.GetAgentCardRequest) (*pb.GetAgentCardResponse, error) {
	card, err := s.card()
	if err != nil {
		return nil, s.fail(context.Background(), err, "GetAgentCard")
	}
	return &pb.GetAgentCardResponse{Card: card}, nil
}

// Invoke calls one skill in-process, as the server does for a request: what tests of an agent use.
// When the skill asked for input (the response's InputRequired is set), history is the
// conversation so far and request the answer, as in InvokeRequest.
func (a *Agent) Invoke(ctx context.Context, provider llm.Provider, skillID string, request *pb.AgentMessage, history ...*pb.AgentMessage) (*pb.InvokeResponse, error) {
	return (&service{agent: a, llm: provider, log: slog.Default(), stopping: func() bool { return false }}).run(ctx, request, history, skillID, nil)
}

func (s *service) run(ctx context.Context, request *pb.AgentMessage, history []*pb.AgentMessage, skillID string, emit func(string) error) (*pb.InvokeResponse, error) {
	started := time.Now()
	found, err := s.agent.find(skillID)
	if err != nil {
		return nil, err
	}
	// On a later turn of a conversation the input is the first request's; request is the answer.
	first := request
	if len(history) > 0 {
		first = history[0]
	}
	text, data := contentOf(first)
	if text != "" {
		if _, given := data["text"]; !given {
			data["text"] = text
		}
	}
	call := &Call{
		Context: ctx, Agent: s.agent.Name, Skill: found.id, Text: text,
		ContextID: request.GetContextId(), Sender: request.GetSender(),
		Metadata: callMetadata(ctx), LLM: s.llm, emit: emit,
		received: messageOf(request),
	}
	for _, turn := range history {
		call.history = append(call.history, messageOf(turn))
	}
	answered, err := found.invoke(call, data)
	if err != nil {
		return nil, &failure{err: err, call: call}
	}
	message, err := s.reply(request, found, answered)
	if err != nil {
		return nil, err
	}
	usage := call.Usage()
	response := &pb.InvokeResponse{Message: message, Direct: answered.direct, Usage: &pb.TokenUsage{
		InputTokens: usage.InputTokens, OutputTokens: usage.OutputTokens, TotalTokens: usage.InputTokens + usage.OutputTokens,
	}}
	if answered.asked != nil {
		response.InputRequired = &pb.InputRequired{}
		if answered.asked.Schema != nil {
			if response.InputRequired.AnswerSchema, err = structpb.NewStruct(answered.asked.Schema); err != nil {
				return nil, &failure{err: fmt.Errorf("skill %q asked a question whose answer schema is not a JSON object: %w", found.id, err), call: call}
			}
		}
	}
	s.log.Debug("invoked", append(call.logFields(), "duration_ms", float64(time.Since(started).Microseconds())/1000)...)
	return response, nil
}

func (s *service) reply(request *pb.AgentMessage, found *skill, answered answer) (*pb.AgentMessage, error) {
	text, data := answered.text, answered.data
	fields := map[string]any{"agent": s.agent.Name, "skill": found.id, "llm_provider": s.llm.Name(), "llm_model": s.llm.Model()}
	for key, value := range answered.metadata {
		fields[key] = value
	}
	meta, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, err
	}
	message := &pb.AgentMessage{
		MessageId: newID(), ContextId: request.GetContextId(), CorrelationId: request.GetMessageId(),
		Sender: s.agent.Name, Receiver: request.GetSender(), Role: pb.Role_ROLE_AGENT,
		Type: pb.MessageType_MESSAGE_TYPE_RESPONSE, Metadata: meta, CreateTime: timestamppb.Now(),
	}
	if text != "" {
		message.Parts = append(message.Parts, &pb.Part{Content: &pb.Part_Text{Text: text}, MediaType: "text/markdown"})
	}
	if data != nil {
		structured, err := structpb.NewStruct(data)
		if err != nil {
			return nil, err
		}
		message.Parts = append(message.Parts, &pb.Part{Content: &pb.Part_Data{Data: structured}, MediaType: "application/json"})
	}
	for _, file := range answered.files {
		part := &pb.Part{MediaType: file.MediaType, Filename: file.Filename}
		if file.URL != "" {
			part.Content = &pb.Part_Url{Url: file.URL}
		} else {
			// An empty file is still a file: a nil Raw goes out as no bytes, never as no part.
			part.Content = &pb.Part_Raw{Raw: file.Raw}
		}
		message.Parts = append(message.Parts, part)
	}
	return message, nil
}

func (s *service) card() (*pb.AgentCard, error) {
	card := &pb.AgentCard{Name: s.agent.Name, Description: s.agent.Description, Version: s.agent.Version, LlmProvider: s.llm.Name()}
	for _, sk := range s.agent.skills {
		card.Streaming = card.Streaming || sk.streams
		entry := &pb.Skill{Id: sk.id, Name: sk.name, Description: sk.description, Tags: sk.tags, Streaming: sk.streams, AsksForInput: sk.asksForInput, DirectReplies: sk.directReplies}
		var err error
		if entry.InputSchema, err = structpb.NewStruct(sk.input.Document); err != nil {
			return nil, err
		}
		if sk.output != nil {
			if entry.OutputSchema, err = structpb.NewStruct(sk.output.Document); err != nil {
				return nil, err
			}
		}
		for _, example := range sk.examples {
			converted, err := structpb.NewStruct(example)
			if err != nil {
				return nil, err
			}
			entry.InputExamples = append(entry.InputExamples, converted)
		}
		card.Skills = append(card.Skills, entry)
	}
	return card, nil
}

// failure is a handler's error with the call it ended, for the log line.
type failure struct {
	err  error
	call *Call
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// fail logs how a call ended, with the messages and fields every agentmesh runtime uses, and
// returns its status. The cause of an unexpected error is logged, never sent.
func (s *service) fail(ctx context.Context, err error, method string) error {
	var fields []any
	if f, ok := err.(*failure); ok {
		fields = f.call.logFields()
	}
	cause := ""
	if ctx.Err() != nil {
		cause = s.cancelCause(ctx)
		if cause == "deadline exceeded" {
			err = context.DeadlineExceeded // not the caller's cancel that raced the server's timer
		}
	}
	st := statusOf(err)
	switch {
	case cause != "":
		s.log.Info("rpc cancelled", append([]any{"method", method, "cause", cause}, fields...)...)
	case st.Code() == codes.Internal && !errors.As(err, new(*Error)):
		s.log.Error("rpc failed unexpectedly", append([]any{"method", method, "error", err.Error()}, fields...)...)
	default:
		level := slog.LevelError
		if st.Code() == codes.InvalidArgument {
			level = slog.LevelWarn
		}
		reason := ""
		for _, detail := range st.Details() {
			if info, ok := detail.(*errdetails.ErrorInfo); ok {
				reason = info.GetReason()
			}
		}
		s.log.Log(ctx, level, "rpc failed", append([]any{"method", method, "code", codeName(st.Code()), "reason", reason, "error", st.Message()}, fields...)...)
	}
	return st.Err()
}

func (s *service) cancelCause(ctx context.Context) string {
	// A client cancels at its own deadline, which the server, having started its clock when the
	// request arrived, reaches a network delay later: a cancellation that close is the deadline.
	deadline, has := ctx.Deadline()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || (has && time.Until(deadline) <= deadlineSlack):
		return "deadline exceeded"
	case s.stopping():
		return "server shutting down" // a stopping server cancels the calls still open after its grace
	}
	return "cancelled by the caller"
}

const deadlineSlack = 100 * time.Millisecond

// codeName is a code as gRPC's specification spells it, as the other runtimes log it.
func codeName(code codes.Code) string {
	names := [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
		"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	if int(code) < len(names) {
		return names[code]
	}
	return code.String()
}

// logFields name a call in a log line: its skill, and the run's trace and the step's attempt
// when the gateway sent them.
func (c *Call) logFields() []any {
	fields := []any{"skill", c.Skill}
	if trace, ok := c.Trace(); ok {
		fields = append(fields, "trace_id", trace.TraceID, "span_id", trace.ParentID)
	}
	if key := c.IdempotencyKey(); key != "" {
		fields = append(fields, "idempotency_key", key)
	}
	return fields
}

// contentOf is a message's text parts joined by blank lines, and its data parts merged in order.
func contentOf(message *pb.AgentMessage) (string, map[string]any) {
	var texts []string
	data := map[string]any{}
	for _, part := range message.GetParts() {
		switch content := part.GetContent().(type) {
		case *pb.Part_Text:
			texts = append(texts, content.Text)
		case *pb.Part_Data:
			for key, value := range content.Data.AsMap() {
				data[key] = value
			}
		}
	}
	return strings.Join(texts, "\n\n"), data
}

func callMetadata(ctx context.Context) map[string]string {
	incoming, _ := metadata.FromIncomingContext(ctx)
	flat := make(map[string]string, len(incoming))
	for key, values := range incoming {
		if len(values) > 0 && !strings.HasSuffix(key, "-bin") {
			flat[key] = values[0]
		}
	}
	return flat
}

func newID() string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return hex.EncodeToString(id[:])
}
