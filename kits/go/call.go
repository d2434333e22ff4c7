package kit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/grpc/codes"
)

// Call is what a handler gets besides its input: the call's context (its deadline and
// cancellation), the request, the model, a way to stream output, and the conversation so far
// when the skill asked for input (History, Answer, Turn). Model tokens used through it add up
// into the reply's usage.
type Call struct {
	context.Context
	Agent string
	Skill string
	// Text is the request's text parts, joined by blank lines: the first request's on a later
	// turn of a conversation (the answer is Answer()).
	Text string
	// ContextID groups the messages of one conversation or workflow run.
	ContextID string
	Sender    string
	// Metadata is the call's gRPC metadata, lower-case keys, first value of each.
	Metadata map[string]string
	LLM      llm.Provider
	usage    llm.Usage
	emit     func(string) error
	// history is the conversation before received, the call's message (see History).
	history  []Message
	received Message
}

// IdempotencyKey is the same for every delivery of one attempt of one workflow step: dedupe
// side effects on it.
func (c *Call) IdempotencyKey() string { return c.Metadata["agentmesh-idempotency-key"] }

// Principal is who the gateway works for in this call: the principal that started the run (empty
// without authentication). Trust it only when this agent demands client certificates (mTLS).
func (c *Call) Principal() string { return c.Metadata["agentmesh-principal"] }

// Trace is the W3C trace context the caller sent, if it sent a valid one.
func (c *Call) Trace() (TraceParent, bool) { return ParseTraceParent(c.Metadata["traceparent"]) }

// Streaming says whether the caller reads output as it is produced (InvokeStream).
func (c *Call) Streaming() bool { return c.emit != nil }

// Emit sends a piece of output text now when the caller streams; it does nothing for unary calls.
func (c *Call) Emit(text string) error {
	if c.emit == nil || text == "" {
		return nil
	}
	return c.emit(text)
}

// Usage is the model tokens used through this call so far.
func (c *Call) Usage() llm.Usage { return c.usage }

// Generate asks the model; when the caller streams, its output is emitted as it arrives.
func (c *Call) Generate(prompt llm.Prompt) (llm.Generation, error) {
	if prompt.Task == "" {
		prompt.Task = c.Skill
	}
	var generation llm.Generation
	var err error
	if c.emit != nil {
		generation, err = c.LLM.Stream(c, prompt, c.emit)
	} else {
		generation, err = c.LLM.Generate(c, prompt)
	}
	if err != nil {
		return llm.Generation{}, err
	}
	c.used(generation.Usage)
	return generation, nil
}

// used adds a model call's tokens to the reply's usage and to agentmesh_llm_tokens_total.
func (c *Call) used(usage llm.Usage) {
	c.usage = c.usage.Add(usage)
	countTokens(c.LLM.Name(), usage)
}

// GenerateJSON asks the model for a JSON object of T's shape and validates it. A model that
// answers off-schema may well answer on-schema next time: that error is retryable (UNAVAILABLE).
func GenerateJSON[T any](c *Call, prompt llm.Prompt) (T, error) {
	var zero T
	schema := SchemaFor[T]()
	if prompt.Task == "" {
		prompt.Task = c.Skill
	}
	prompt.JSONSchema = schema.Document
	generation, err := c.LLM.Generate(c, prompt)
	if err != nil {
		return zero, err
	}
	c.used(generation.Usage)
	var object map[string]any
	if err := json.Unmarshal([]byte(stripFences(generation.Text)), &object); err != nil {
		return zero, badOutput(c.LLM, typeName[T](), err)
	}
	value, err := Decode[T](schema, object, "model output")
	if err != nil {
		return zero, badOutput(c.LLM, typeName[T](), err)
	}
	return value, nil
}

func badOutput(provider llm.Provider, shape string, cause error) error {
	return &Error{
		Code:     codes.Unavailable,
		Reason:   "LLM_BAD_OUTPUT",
		Message:  fmt.Sprintf("%s answered with output that does not fit %s: %v", provider.Name(), shape, cause),
		Metadata: map[string]string{"provider": provider.Name(), "model": provider.Model()},
	}
}

// stripFences unwraps JSON from the markdown code fence models often put it in.
func stripFences(text string) string {
	stripped := strings.TrimSpace(text)
	if !strings.HasPrefix(stripped, "```") {
		return stripped
	}
	_, rest, found := strings.Cut(stripped, "\n")
	if !found {
		return ""
	}
	if end := strings.LastIndex(rest, "```"); end >= 0 {
		rest = rest[:end]
	}
	return rest
}
