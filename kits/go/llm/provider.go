// Package llm is how a Go agent thinks: one Provider interface, and three providers chosen by
// the AGENTMESH_LLM environment variable as every agentmesh runtime does: offline (the default,
// deterministic, no network and no key), gemini, and openai (any OpenAI-compatible server).
package llm

import (
	"context"
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
)

// Turn is one earlier turn of a conversation.
type Turn struct {
	Role string // "user" or "assistant"
	Text string
}

// Prompt is what an agent asks a model. Real models read System and User; the offline provider
// composes its answer from Data with the composer registered for Task. JSONSchema, when set,
// asks for a JSON object of that shape.
type Prompt struct {
	System     string
	User       string
	Task       string
	Data       any
	JSONSchema map[string]any
	History    []Turn
}

// Usage counts a call's model tokens.
type Usage struct {
	InputTokens  int64
	OutputTokens int64
}

// Add is the usage of two calls together.
func (u Usage) Add(other Usage) Usage {
	return Usage{InputTokens: u.InputTokens + other.InputTokens, OutputTokens: u.OutputTokens + other.OutputTokens}
}

// Generation is a model's whole answer.
type Generation struct {
	Text  string
	Usage Usage
}

// Provider is an LLM backend. Stream calls emit with each piece of text as it arrives and returns
// the whole answer; an error from emit ends the stream with that error.
type Provider interface {
	Name() string
	Model() string
	Generate(ctx context.Context, prompt Prompt) (Generation, error)
	Stream(ctx context.Context, prompt Prompt, emit func(string) error) (Generation, error)
}

// Error is a provider's failure, translated so a caller knows whether to retry: its Code is the
// gRPC code it travels as, its Reason the ErrorInfo reason (LLM_RATE_LIMITED, LLM_UNAVAILABLE...).
type Error struct {
	Code     codes.Code
	Reason   string
	Message  string
	Metadata map[string]string
}

func (e *Error) Error() string { return e.Message }

// Unavailable is the error of a provider that cannot be reached or answered unusably: retryable.
func Unavailable(provider, message string) *Error {
	return &Error{Code: codes.Unavailable, Reason: "LLM_UNAVAILABLE", Message: message,
		Metadata: map[string]string{"provider": provider}}
}

// ForHTTPStatus translates an LLM API's HTTP status into the error that says whether to retry,
// the same translation every agentmesh runtime makes.
func ForHTTPStatus(provider string, status int, message string, retryAfter string) *Error {
	metadata := map[string]string{"provider": provider, "http_status": strconv.Itoa(status)}
	if _, err := strconv.Atoi(retryAfter); err == nil {
		metadata["retry_after_seconds"] = retryAfter
	}
	text := fmt.Sprintf("%s answered HTTP %d: %s", provider, status, message)
	switch {
	case status == 429:
		return &Error{Code: codes.ResourceExhausted, Reason: "LLM_RATE_LIMITED", Message: text, Metadata: metadata}
	case status == 401 || status == 403:
		return &Error{Code: codes.FailedPrecondition, Reason: "LLM_AUTH_FAILED", Message: text, Metadata: metadata}
	case status == 408 || status >= 500:
		return &Error{Code: codes.Unavailable, Reason: "LLM_UNAVAILABLE", Message: text, Metadata: metadata}
	}
	return &Error{Code: codes.InvalidArgument, Reason: "LLM_REQUEST_REJECTED", Message: text, Metadata: metadata}
}
