package kit_test

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	kit "github.com/agentmesh/agentmesh/kits/go"
	pb "github.com/agentmesh/agentmesh/kits/go/gen/agentmesh/v1"
	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
)

type trip struct {
	Destination string `json:"destination" jsonschema:"minLength=1"`
}

type budget struct {
	Euros int `json:"euros" jsonschema:"minimum=1"`
}

type plan struct {
	Turn     int      `json:"turn"`
	History  []string `json:"history"`
	Answered string   `json:"answered"`
}

type nothing struct{}

// planner asks for a budget before it plans; survey asks twice (a JSON Schema, then none); rude
// asks without declaring that it does.
func planner() *kit.Agent {
	agent := kit.NewAgent("planner", kit.Description("Plans trips, asking what it needs."))
	kit.AddSkill(agent, kit.SkillSpec[trip, plan]{
		ID: "plan", Description: "Plan a trip; asks for the budget first.", AsksForInput: true, Streams: true,
		Handle: func(call *kit.Call, in trip) (kit.Reply[plan], error) {
			if err := call.Emit("thinking"); err != nil {
				return kit.Reply[plan]{}, err
			}
			answer, answered := call.Answer()
			if !answered {
				return kit.Reply[plan]{}, kit.Ask("What is your budget for "+in.Destination+"?", budget{}).WithData(map[string]any{"currency": "EUR"})
			}
			b, err := kit.AnswerAs[budget](call)
			if err != nil {
				return kit.Reply[plan]{}, err
			}
			history := []string{}
			for _, m := range call.History() {
				history = append(history, m.Text)
			}
			text := fmt.Sprintf("%s on %d EUR", in.Destination, b.Euros)
			return kit.Reply[plan]{Text: text, Data: plan{Turn: call.Turn(), History: history, Answered: answer.Proto.GetMessageId()}}, nil
		},
	})
	kit.AddSkill(agent, kit.SkillSpec[nothing, kit.NoData]{
		ID: "survey", Description: "Two questions: one with a JSON Schema, one with none.", AsksForInput: true,
		Handle: func(call *kit.Call, _ nothing) (kit.Reply[kit.NoData], error) {
			switch call.Turn() {
			case 0:
				return kit.Reply[kit.NoData]{}, kit.Ask("Pick one.", map[string]any{
					"type": "object", "properties": map[string]any{"choice": map[string]any{"enum": []string{"a", "b"}}}, "required": []string{"choice"},
				})
			case 1:
				return kit.Reply[kit.NoData]{}, kit.Ask("Anything to add?", nil)
			}
			answer, _ := call.Answer()
			return kit.Reply[kit.NoData]{Text: fmt.Sprintf("%v; %s", call.History()[2].Data["choice"], answer.Text)}, nil
		},
	})
	kit.AddSkill(agent, kit.SkillSpec[trip, kit.NoData]{
		ID: "rude", Description: "Asks without saying it would.",
		Handle: func(*kit.Call, trip) (kit.Reply[kit.NoData], error) {
			return kit.Reply[kit.NoData]{}, kit.Ask("Why?", nil)
		},
	})
	return agent
}

func message(t *testing.T, id string, data map[string]any) *pb.AgentMessage {
	t.Helper()
	structured, err := structpb.NewStruct(data)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.AgentMessage{
		MessageId: id, ContextId: "ctx-1", Sender: "test", Role: pb.Role_ROLE_USER, Type: pb.MessageType_MESSAGE_TYPE_REQUEST,
		Parts: []*pb.Part{{Content: &pb.Part_Data{Data: structured}}},
	}
}

func textMessage(id, text string) *pb.AgentMessage {
	return &pb.AgentMessage{MessageId: id, ContextId: "ctx-1", Sender: "test", Role: pb.Role_ROLE_USER, Parts: []*pb.Part{{Content: &pb.Part_Text{Text: text}}}}
}

// stream calls InvokeStream and returns its chunks' texts and its result.
func stream(t *testing.T, s *served, request *pb.InvokeStreamRequest) ([]string, *pb.InvokeResponse, error) {
	t.Helper()
	events, err := s.client.InvokeStream(within(t, 5), request)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []string
	var result *pb.InvokeResponse
	for {
		event, err := events.Recv()
		if err == io.EOF {
			return chunks, result, nil
		}
		if err != nil {
			return chunks, result, err
		}
		if chunk := event.GetChunk(); chunk != nil {
			chunks = append(chunks, chunk.GetText())
		} else {
			result = event.GetResult()
		}
	}
}

func TestTheCardSaysWhichSkillsAskForInput(t *testing.T) {
	s := serve(t, planner())
	response, err := s.client.GetAgentCard(within(t, 5), &pb.GetAgentCardRequest{})
	if err != nil {
		t.Fatal(err)
	}
	asks := map[string]bool{}
	for _, skill := range response.GetCard().GetSkills() {
		asks[skill.GetId()] = skill.GetAsksForInput()
	}
	if want := map[string]bool{"plan": true, "survey": true, "rude": false}; !reflect.DeepEqual(asks, want) {
		t.Fatalf("asks_for_input %v, want %v", asks, want)
	}
}

func TestInvokeAsksThenAnswersFromTheFirstInputAndTheAnswer(t *testing.T) {
	s := serve(t, planner())
	first := message(t, "m1", map[string]any{"destination": "Lisbon"})
	asked, err := s.client.Invoke(within(t, 5), &pb.InvokeRequest{Skill: "plan", Message: first})
	if err != nil {
		t.Fatal(err)
	}
	if asked.GetInputRequired() == nil {
		t.Fatalf("no input_required: %v", asked)
	}
	schema := asked.GetInputRequired().GetAnswerSchema().AsMap()
	if fmt.Sprint(schema["required"]) != "[euros]" || schema["properties"].(map[string]any)["euros"] == nil {
		t.Fatalf("answer schema %v", schema)
	}
	question := asked.GetMessage()
	parts := question.GetParts()
	if len(parts) != 2 || parts[0].GetText() != "What is your budget for Lisbon?" || parts[1].GetData().AsMap()["currency"] != "EUR" {
		t.Fatalf("question parts %v", parts)
	}
	if question.GetRole() != pb.Role_ROLE_AGENT || question.GetContextId() != "ctx-1" || question.GetCorrelationId() != "m1" ||
		question.GetMetadata().AsMap()["skill"] != "plan" {
		t.Fatalf("question %v", question)
	}

	done, err := s.client.Invoke(within(t, 5), &pb.InvokeRequest{
		Skill: "plan", Message: message(t, "m2", map[string]any{"euros": 900}), History: []*pb.AgentMessage{first, question},
	})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetInputRequired() != nil {
		t.Fatalf("the answer's reply is input_required: %v", done)
	}
	got := done.GetMessage().GetParts()
	if got[0].GetText() != "Lisbon on 900 EUR" || done.GetMessage().GetCorrelationId() != "m2" {
		t.Fatalf("reply %v", done.GetMessage())
	}
	want := map[string]any{"turn": float64(1), "history": []any{"", "What is your budget for Lisbon?"}, "answered": "m2"}
	if data := got[1].GetData().AsMap(); !reflect.DeepEqual(data, want) {
		t.Fatalf("reply data %v, want %v", data, want)
	}
}

func TestInvokeStreamResultCarriesInputRequired(t *testing.T) {
	s := serve(t, planner())
	first := message(t, "m1", map[string]any{"destination": "Oslo"})
	chunks, asked, err := stream(t, s, &pb.InvokeStreamRequest{Skill: "plan", Message: first})
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 1 || asked == nil || asked.GetInputRequired() == nil {
		t.Fatalf("chunks %v result %v", chunks, asked)
	}
	if fmt.Sprint(asked.GetInputRequired().GetAnswerSchema().AsMap()["required"]) != "[euros]" {
		t.Fatalf("answer schema %v", asked.GetInputRequired())
	}
	_, done, err := stream(t, s, &pb.InvokeStreamRequest{
		Skill: "plan", Message: message(t, "m2", map[string]any{"euros": 50}), History: []*pb.AgentMessage{first, asked.GetMessage()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetInputRequired() != nil || done.GetMessage().GetParts()[0].GetText() != "Oslo on 50 EUR" {
		t.Fatalf("final result %v", done)
	}
}

func TestQuestionsWithAJSONSchemaAndWithNone(t *testing.T) {
	s := serve(t, planner())
	first := message(t, "m1", map[string]any{})
	pick, err := s.client.Invoke(within(t, 5), &pb.InvokeRequest{Skill: "survey", Message: first})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "object", "properties": map[string]any{"choice": map[string]any{"enum": []any{"a", "b"}}}, "required": []any{"choice"}}
	if got := pick.GetInputRequired().GetAnswerSchema().AsMap(); !reflect.DeepEqual(got, want) {
		t.Fatalf("answer schema %v, want %v", got, want)
	}
	choice := message(t, "m2", map[string]any{"choice": "b"})
	note, err := s.client.Invoke(within(t, 5), &pb.InvokeRequest{Skill: "survey", Message: choice, History: []*pb.AgentMessage{first, pick.GetMessage()}})
	if err != nil {
		t.Fatal(err)
	}
	if note.GetInputRequired() == nil || note.GetInputRequired().GetAnswerSchema() != nil {
		t.Fatalf("second question %v", note)
	}
	done, err := s.client.Invoke(within(t, 5), &pb.InvokeRequest{
		Skill: "survey", Message: textMessage("m3", "no"), History: []*pb.AgentMessage{first, pick.GetMessage(), choice, note.GetMessage()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetInputRequired() != nil || done.GetMessage().GetParts()[0].GetText() != "b; no" {
		t.Fatalf("final reply %v", done)
	}
}

func TestAnAnswerThatDoesNotFitIsInvalidAnswer(t *testing.T) {
	s := serve(t, planner())
	first := message(t, "m1", map[string]any{"destination": "Rome"})
	asked, err := s.client.Invoke(within(t, 5), &pb.InvokeRequest{Skill: "plan", Message: first})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]any{{"euros": "lots"}, {"euros": 0}, {}} {
		_, err = s.client.Invoke(within(t, 5), &pb.InvokeRequest{
			Skill: "plan", Message: message(t, "m2", bad), History: []*pb.AgentMessage{first, asked.GetMessage()},
		})
		st, info, violations := errorDetails(t, err)
		if st.Code() != codes.InvalidArgument || info.GetReason() != "INVALID_ANSWER" {
			t.Fatalf("answer %v: %v %v", bad, st.Code(), info.GetReason())
		}
		fields := []string{}
		for _, v := range violations.GetFieldViolations() {
			fields = append(fields, v.GetField())
		}
		if !reflect.DeepEqual(fields, []string{"answer.euros"}) {
			t.Fatalf("answer %v: violations %v", bad, violations.GetFieldViolations())
		}
	}
}

func TestASkillThatAsksWithoutDeclaringItFailsInternal(t *testing.T) {
	var logs syncBuffer
	s := serveLogging(t, planner(), &logs)
	first := message(t, "m1", map[string]any{"destination": "x"})
	_, err := s.client.Invoke(within(t, 5), &pb.InvokeRequest{Skill: "rude", Message: first})
	st, _, _ := errorDetails(t, err)
	if st.Code() != codes.Internal || strings.Contains(st.Message(), "Why?") {
		t.Fatalf("rude answered %v %q", st.Code(), st.Message())
	}
	if !strings.Contains(logs.String(), "rpc failed unexpectedly") || !strings.Contains(logs.String(), "does not declare AsksForInput") {
		t.Fatalf("not logged:\n%s", logs.String())
	}
	chunks, result, err := stream(t, s, &pb.InvokeStreamRequest{Skill: "rude", Message: first})
	st, _, _ = errorDetails(t, err)
	if st.Code() != codes.Internal || len(chunks) != 0 || result != nil {
		t.Fatalf("rude streamed %v %v, then %v", chunks, result, st.Code())
	}
}

func TestAHistoryWhoseFirstMessageIsNotValidInputIsInvalidArgument(t *testing.T) {
	s := serve(t, planner())
	bad := message(t, "m1", map[string]any{"destination": ""})
	_, asFirst := s.client.Invoke(within(t, 5), &pb.InvokeRequest{Skill: "plan", Message: bad})
	_, asHistory := s.client.Invoke(within(t, 5), &pb.InvokeRequest{
		// the answer would be valid input: the input is the first message's all the same
		Skill: "plan", Message: message(t, "m2", map[string]any{"destination": "Paris", "euros": 10}), History: []*pb.AgentMessage{bad, {Role: pb.Role_ROLE_AGENT}},
	})
	for _, err := range []error{asFirst, asHistory} {
		st, info, violations := errorDetails(t, err)
		fields := violations.GetFieldViolations()
		if st.Code() != codes.InvalidArgument || info.GetReason() != "INVALID_INPUT" || len(fields) != 1 || fields[0].GetField() != "destination" {
			t.Fatalf("got %v %v %v", st.Code(), info.GetReason(), fields)
		}
	}
}

func TestAgentInvokeInProcessTakesTheHistory(t *testing.T) {
	agent := planner()
	first := message(t, "m1", map[string]any{"destination": "Bergen"})
	asked, err := agent.Invoke(context.Background(), &llm.Offline{}, "plan", first)
	if err != nil || asked.GetInputRequired() == nil {
		t.Fatalf("asked %v %v", asked, err)
	}
	done, err := agent.Invoke(context.Background(), &llm.Offline{}, "plan", message(t, "m2", map[string]any{"euros": 70}), first, asked.GetMessage())
	if err != nil || done.GetInputRequired() != nil || done.GetMessage().GetParts()[0].GetText() != "Bergen on 70 EUR" {
		t.Fatalf("done %v %v", done, err)
	}
}

func TestAskTakesAStructAPointerASchemaAMapOrNothing(t *testing.T) {
	reflected := kit.SchemaFor[budget]().Document
	for _, c := range []struct {
		schema any
		want   map[string]any
	}{
		{budget{}, reflected},
		{&budget{}, reflected},
		{kit.SchemaFor[budget](), reflected},
		{map[string]any{"type": "object"}, map[string]any{"type": "object"}},
		{map[string]any{}, nil},
		{nil, nil},
	} {
		if got := kit.Ask("?", c.schema).Schema; !reflect.DeepEqual(got, c.want) {
			t.Fatalf("Ask(%T): schema %v, want %v", c.schema, got, c.want)
		}
	}
}
