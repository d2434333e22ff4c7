// Package kit serves an agentmesh agent written in Go: declare the agent and its typed skills,
// and Main does the rest (a gRPC server with the agentmesh.v1.AgentService contract, standard
// health checking, reflection, JSON logs, graceful shutdown on SIGTERM), as the Python and
// TypeScript kits do.
//
//	type Greet struct {
//		Name string `json:"name" jsonschema:"minLength=1"`
//	}
//	type Greeting struct {
//		Greeting string `json:"greeting"`
//	}
//
//	func main() {
//		agent := kit.NewAgent("greeter", kit.Description("Greets people"))
//		kit.AddSkill(agent, kit.SkillSpec[Greet, Greeting]{
//			ID: "greet", Description: "Say hello", Examples: []Greet{{Name: "Ada"}},
//			Handle: func(call *kit.Call, in Greet) (kit.Reply[Greeting], error) {
//				text := "Hello, " + in.Name + "!"
//				return kit.Reply[Greeting]{Text: text, Data: Greeting{Greeting: text}}, nil
//			},
//		})
//		agent.Main()
//	}
package kit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/agentmesh/agentmesh/kits/go/llm"
)

// Agent is a named set of skills, with the offline composers of its model tasks.
type Agent struct {
	Name        string
	Description string
	Version     string
	DefaultPort int
	skills      []*skill
	composers   map[string]llm.Composer
}

// Option sets one of an agent's properties.
type Option func(*Agent)

// Description says what the agent does, in its card.
func Description(text string) Option { return func(a *Agent) { a.Description = text } }

// Version is the agent's version, in its card.
func Version(version string) Option { return func(a *Agent) { a.Version = version } }

// DefaultPort is the port the agent listens on unless --port says otherwise.
func DefaultPort(port int) Option { return func(a *Agent) { a.DefaultPort = port } }

// NewAgent is an agent with no skills yet.
func NewAgent(name string, options ...Option) *Agent {
	agent := &Agent{Name: name, Version: "0.1.0", composers: map[string]llm.Composer{}}
	for _, option := range options {
		option(agent)
	}
	return agent
}

// Reply is what a handler answers: readable text, Data a later workflow step can reference, and
// Files, which the reply carries after its text and data (a run keeps them as the step's files).
type Reply[Out any] struct {
	Text     string
	Data     Out
	Metadata map[string]any
	Files    []File
	// Direct says the reply is a message in its own right, not a task's result (A2A answers a
	// message with either): an A2A caller of the agent gets it as a Message. Only from a skill
	// declared with DirectReplies.
	Direct bool
}

// File is a file a reply carries: its bytes (Raw) or a URL where they are, with a media type
// (e.g. "text/plain") and a file name. A File with a URL is a link; setting both is a bug.
type File struct {
	Raw       []byte
	URL       string
	MediaType string
	Filename  string
}

// NoData is the output type of a skill that answers with text only.
type NoData = struct{}

// SkillSpec declares a skill with input type In and output type Out: their JSON Schemas go in
// the agent card, every request is validated against In's before Handle sees it, and each of
// Examples is checked against it when the skill is added.
type SkillSpec[In, Out any] struct {
	ID          string
	Name        string
	Description string
	Tags        []string
	// Streams says the skill's output is worth reading as it is produced (InvokeStream).
	Streams  bool
	Examples []In
	// Aliases are other names a request may give a property (alias to name), as older callers spell it.
	Aliases map[string]string
	// AsksForInput says Handle may return Ask(...), a question, before it answers (the card says so).
	AsksForInput bool
	// DirectReplies says Handle may answer a Reply with Direct set (the card says so: an A2A stream
	// of the skill then waits for the reply to know whether it is a Message or a task).
	DirectReplies bool
	Handle        func(call *Call, in In) (Reply[Out], error)
}

// skill is a SkillSpec with its types erased, as the server calls it.
type skill struct {
	id, name, description string
	tags                  []string
	streams, asksForInput bool
	directReplies         bool
	input, output         *Schema
	examples              []map[string]any
	invoke                func(call *Call, data map[string]any) (answer, error)
}

// answer is what a skill answered, its types erased: a reply, or a question when asked is set.
type answer struct {
	text           string
	data, metadata map[string]any
	files          []File
	asked          *Question
	direct         bool
}

// AddSkill adds a skill to the agent; it panics on a duplicate id or an example that does not fit
// the input schema, bugs found when the agent starts.
func AddSkill[In, Out any](agent *Agent, spec SkillSpec[In, Out]) {
	if spec.ID == "" || spec.Handle == nil {
		panic("kit: a skill needs an ID and a Handle")
	}
	if slices.ContainsFunc(agent.skills, func(s *skill) bool { return s.id == spec.ID }) {
		panic(fmt.Sprintf("kit: agent %q already has a skill %q", agent.Name, spec.ID))
	}
	input := SchemaFor[In]()
	var output *Schema
	if _, textOnly := any(*new(Out)).(NoData); !textOnly {
		output = SchemaFor[Out]()
	}
	examples := make([]map[string]any, len(spec.Examples))
	for i, example := range spec.Examples {
		plain, err := toObject(example)
		if err == nil {
			_, err = Decode[In](input, plain, "example")
		}
		if err != nil {
			panic(fmt.Sprintf("kit: example %d of skill %q: %v", i, spec.ID, err))
		}
		examples[i] = plain
	}
	name := spec.Name
	if name == "" {
		name = humanize(spec.ID)
	}
	agent.skills = append(agent.skills, &skill{
		id: spec.ID, name: name, description: spec.Description, tags: spec.Tags, streams: spec.Streams,
		asksForInput: spec.AsksForInput, directReplies: spec.DirectReplies, input: input, output: output, examples: examples,
		invoke: func(call *Call, data map[string]any) (answer, error) {
			in, err := Decode[In](input, withAliases(data, spec.Aliases), fmt.Sprintf("input for skill %q", spec.ID))
			if err != nil {
				return answer{}, err
			}
			reply, err := spec.Handle(call, in)
			if question, ok := asked(err); ok {
				return askAnswer(spec.ID, spec.AsksForInput, question)
			}
			if err != nil {
				return answer{}, err
			}
			if reply.Direct && !spec.DirectReplies {
				// Its card would tell the gateway otherwise: an A2A stream, a task's by then, could
				// not give the reply as the Message it is.
				return answer{}, fmt.Errorf("skill %q replied directly but does not declare DirectReplies", spec.ID)
			}
			for i, file := range reply.Files {
				if file.Raw != nil && file.URL != "" {
					return answer{}, fmt.Errorf("skill %q answered file %d with both Raw and a URL: a file is one or the other", spec.ID, i)
				}
			}
			if output == nil {
				return answer{text: reply.Text, metadata: reply.Metadata, files: reply.Files, direct: reply.Direct}, nil
			}
			out, err := toObject(reply.Data)
			if err != nil {
				return answer{}, fmt.Errorf("skill %q answered data that is not a JSON object: %w", spec.ID, err)
			}
			return answer{text: reply.Text, data: out, metadata: reply.Metadata, files: reply.Files, direct: reply.Direct}, nil
		},
	})
}

// askAnswer is a handler's question as the skill's answer; a question from a skill that does not
// declare it asks, or one whose schema could not be made, is a bug in the agent.
func askAnswer(id string, asksForInput bool, question *Question) (answer, error) {
	if !asksForInput {
		return answer{}, fmt.Errorf("skill %q asked a question but does not declare AsksForInput", id)
	}
	if question.err != nil {
		return answer{}, fmt.Errorf("skill %q asked a question: %w", id, question.err)
	}
	var data map[string]any
	if question.Data != nil {
		var err error
		if data, err = toObject(question.Data); err != nil {
			return answer{}, fmt.Errorf("skill %q asked a question with data that is not a JSON object: %w", id, err)
		}
	}
	return answer{text: question.Text, data: data, asked: question}, nil
}

// Compose registers how the offline provider answers a model task (by default a skill's id):
// the prompt's Data decoded as In, the answer encoded as JSON (a string answers as it is).
func Compose[In, Out any](agent *Agent, task string, composer func(In) (Out, error)) {
	agent.composers[task] = func(data any) (any, error) {
		encoded, err := json.Marshal(data)
		if err != nil {
			return nil, err
		}
		var in In
		if err := json.Unmarshal(encoded, &in); err != nil {
			return nil, fmt.Errorf("the offline composer of %q cannot read the prompt's data: %w", task, err)
		}
		return composer(in)
	}
}

// find is the skill a request names; an empty name picks the first skill.
func (a *Agent) find(id string) (*skill, error) {
	if len(a.skills) == 0 {
		return nil, unknownSkill(fmt.Sprintf("agent %q has no skills", a.Name))
	}
	if id == "" {
		return a.skills[0], nil
	}
	for _, s := range a.skills {
		if s.id == id {
			return s, nil
		}
	}
	known := make([]string, len(a.skills))
	for i, s := range a.skills {
		known[i] = s.id
	}
	return nil, unknownSkill(fmt.Sprintf("agent %q has no skill %q; it has: %s", a.Name, id, strings.Join(known, ", ")))
}

func unknownSkill(message string) *Error {
	err := InvalidInput("skill: "+message, FieldViolation{Field: "skill", Description: message})
	err.Reason = "UNKNOWN_SKILL"
	return err
}

func withAliases(data map[string]any, aliases map[string]string) map[string]any {
	if len(aliases) == 0 {
		return data
	}
	renamed := make(map[string]any, len(data))
	for key, value := range data {
		renamed[key] = value
	}
	for alias, name := range aliases {
		if value, ok := renamed[alias]; ok {
			if _, taken := renamed[name]; !taken {
				renamed[name] = value
			}
			delete(renamed, alias)
		}
	}
	return renamed
}

// toObject is v as a JSON object of plain Go values.
func toObject(v any) (map[string]any, error) {
	encoded, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var object map[string]any
	if err := json.Unmarshal(encoded, &object); err != nil {
		return nil, err
	}
	if object == nil {
		return nil, fmt.Errorf("%T encodes as %s", v, encoded)
	}
	return object, nil
}

func humanize(id string) string {
	words := strings.NewReplacer("_", " ", "-", " ").Replace(id)
	if words == "" {
		return words
	}
	return strings.ToUpper(words[:1]) + words[1:]
}
