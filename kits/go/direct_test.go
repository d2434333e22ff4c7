package kit_test

import (
	"context"
	"testing"

	kit "github.com/agentmesh/agentmesh/kits/go"
	pb "github.com/agentmesh/agentmesh/kits/go/gen/agentmesh/v1"
	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/grpc/codes"
)

type directInput struct {
	Name   string `json:"name"`
	Direct *bool  `json:"direct,omitempty"`
}

// directAgent greets with a direct reply unless told direct: false; its sneaky skill replies
// directly without declaring it may.
func directAgent() *kit.Agent {
	agent := kit.NewAgent("greeter", kit.Description("Greets, directly when asked to."))
	kit.AddSkill(agent, kit.SkillSpec[directInput, kit.NoData]{
		ID: "greet", Description: "Say hello, as a message or a task's result.", DirectReplies: true,
		Handle: func(_ *kit.Call, in directInput) (kit.Reply[kit.NoData], error) {
			return kit.Reply[kit.NoData]{Text: "Hello, " + in.Name + "!", Direct: in.Direct == nil || *in.Direct}, nil
		},
	})
	kit.AddSkill(agent, kit.SkillSpec[directInput, kit.NoData]{
		ID: "sneaky", Description: "Replies directly without saying it would.",
		Handle: func(_ *kit.Call, _ directInput) (kit.Reply[kit.NoData], error) {
			return kit.Reply[kit.NoData]{Text: "hi", Direct: true}, nil
		},
	})
	return agent
}

func TestTheCardAndTheReplySayADirectReplyIsDirect(t *testing.T) {
	s := serve(t, directAgent())
	card, err := s.client.GetAgentCard(within(t, 5), &pb.GetAgentCardRequest{})
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, skill := range card.GetCard().GetSkills() {
		declared[skill.GetId()] = skill.GetDirectReplies()
	}
	if !declared["greet"] || declared["sneaky"] {
		t.Fatalf("card says %v", declared)
	}
	replied, err := s.client.Invoke(within(t, 5), request("greet", map[string]any{"name": "Ada"}))
	if err != nil || !replied.GetDirect() || replied.GetMessage().GetParts()[0].GetText() != "Hello, Ada!" {
		t.Fatalf("got %v, %v", replied, err)
	}
	plain, err := s.client.Invoke(within(t, 5), request("greet", map[string]any{"name": "Ada", "direct": false}))
	if err != nil || plain.GetDirect() {
		t.Fatalf("got %v, %v", plain, err)
	}
	inProcess, err := directAgent().Invoke(context.Background(), &llm.Offline{}, "greet", request("greet", map[string]any{"name": "Ada"}).GetMessage())
	if err != nil || !inProcess.GetDirect() {
		t.Fatalf("in-process: got %v, %v", inProcess, err)
	}
}

func TestADirectReplyFromASkillThatDoesNotDeclareItIsTheAgentsBug(t *testing.T) {
	s := serve(t, directAgent())
	_, err := s.client.Invoke(within(t, 5), request("sneaky", map[string]any{"name": "x"}))
	st, _, _ := errorDetails(t, err)
	if st.Code() != codes.Internal {
		t.Fatalf("got %v, want INTERNAL", st.Code())
	}
}
