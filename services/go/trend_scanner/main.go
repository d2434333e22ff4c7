// The trend scanner: platform, topic and date range in, ranked trends out.
package main

import (
	"fmt"
	"strings"

	kit "github.com/agentmesh/agentmesh/kits/go"
	"github.com/agentmesh/agentmesh/kits/go/llm"
)

// DefaultPort is where the shipped mesh (services/agentmesh_services/mesh.yaml) expects it.
const DefaultPort = 50065

func newAgent() *kit.Agent {
	agent := kit.NewAgent("trend-scanner",
		kit.Description("Finds what is trending about a topic on a social platform over a date range."),
		kit.Version("1.0.0"), kit.DefaultPort(DefaultPort))
	kit.AddSkill(agent, kit.SkillSpec[ScanInput, Trends]{
		ID:          "scan",
		Description: "Rank the current trends for a topic on a platform.",
		Examples:    []ScanInput{{Platform: "tiktok", Topic: "robots", DateRange: "last_7_days", Limit: 5}},
		Aliases:     map[string]string{"dateRange": "date_range"},
		Handle:      scan,
	})
	kit.Compose(agent, "scan", scanOffline)
	return agent
}

func scan(call *kit.Call, in ScanInput) (kit.Reply[Trends], error) {
	span := strings.ReplaceAll(in.DateRange, "_", " ")
	answer, err := kit.GenerateJSON[Trends](call, llm.Prompt{
		System: "You are a social media analyst who spots rising content trends early.",
		User: fmt.Sprintf("List the top %d trends about '%s' on %s over %s, ranked, each with a hashtag, "+
			"a 0-100 score, growth in percent and a one-line description.", in.Limit, in.Topic, in.Platform, span),
		Data: in,
	})
	if err != nil {
		return kit.Reply[Trends]{}, err
	}
	answer.Platform, answer.Topic, answer.DateRange = in.Platform, in.Topic, in.DateRange
	answer.Trends = answer.Trends[:min(in.Limit, len(answer.Trends))]
	lines := []string{fmt.Sprintf("Top trends for **%s** on %s (%s):", in.Topic, in.Platform, span)}
	for _, t := range answer.Trends {
		lines = append(lines, fmt.Sprintf("%d. %s %s: score %g, +%g%%", t.Rank, t.Name, t.Hashtag, t.Score, t.GrowthPercent))
	}
	return kit.Reply[Trends]{Text: strings.Join(lines, "\n"), Data: answer}, nil
}

func main() {
	newAgent().Main()
}
