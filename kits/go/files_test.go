package kit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	kit "github.com/agentmesh/agentmesh/kits/go"
	pb "github.com/agentmesh/agentmesh/kits/go/gen/agentmesh/v1"
	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/grpc/codes"
)

type reportInput struct {
	Broken bool `json:"broken,omitempty"`
}

var report = []byte("a report")

// filesAgent replies with a file's bytes and a link to another; Broken, with a file that is both.
func filesAgent() *kit.Agent {
	agent := kit.NewAgent("filer", kit.Description("Replies with files."))
	kit.AddSkill(agent, kit.SkillSpec[reportInput, kit.NoData]{
		ID: "report", Description: "A report and a link to its chart.",
		Handle: func(_ *kit.Call, in reportInput) (kit.Reply[kit.NoData], error) {
			if in.Broken {
				return kit.Reply[kit.NoData]{Files: []kit.File{{Raw: report, URL: "https://example.com/report.txt"}}}, nil
			}
			return kit.Reply[kit.NoData]{Text: "here it is", Files: []kit.File{
				{Raw: report, MediaType: "text/plain", Filename: "report.txt"},
				{URL: "https://example.com/chart.png", MediaType: "image/png", Filename: "chart.png"},
			}}, nil
		},
	})
	return agent
}

// checkFiles asserts the reply's parts: its text, then its files as raw and url parts with their
// media type and file name (what the gateway keeps as the step's files).
func checkFiles(t *testing.T, message *pb.AgentMessage) {
	t.Helper()
	parts := message.GetParts()
	if len(parts) != 3 || parts[0].GetText() != "here it is" {
		t.Fatalf("unexpected parts: %v", parts)
	}
	raw, url := parts[1], parts[2]
	if !bytes.Equal(raw.GetRaw(), report) || raw.GetMediaType() != "text/plain" || raw.GetFilename() != "report.txt" {
		t.Fatalf("unexpected raw part: %v", raw)
	}
	if url.GetUrl() != "https://example.com/chart.png" || url.GetMediaType() != "image/png" || url.GetFilename() != "chart.png" {
		t.Fatalf("unexpected url part: %v", url)
	}
}

func TestAReplysFilesGoOutAsRawAndURLParts(t *testing.T) {
	s := serve(t, filesAgent())
	response, err := s.client.Invoke(within(t, 5), request("report", map[string]any{}))
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, response.GetMessage())
}

func TestInvokeInProcessAnswersTheSameFiles(t *testing.T) {
	response, err := filesAgent().Invoke(context.Background(), &llm.Offline{}, "report", request("report", map[string]any{}).GetMessage())
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, response.GetMessage())
}

func TestAFileWithBothBytesAndAURLIsTheAgentsBug(t *testing.T) {
	s := serve(t, filesAgent())
	_, err := s.client.Invoke(within(t, 5), request("report", map[string]any{"broken": true}))
	st, _, _ := errorDetails(t, err)
	if st.Code() != codes.Internal {
		t.Fatalf("got %v, want INTERNAL", st.Code())
	}
	_, err = filesAgent().Invoke(context.Background(), &llm.Offline{}, "report", request("report", map[string]any{"broken": true}).GetMessage())
	if err == nil || !strings.Contains(err.Error(), "file 0 with both Raw and a URL") {
		t.Fatalf("in-process error %v does not name the file", err)
	}
}
