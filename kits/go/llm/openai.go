package llm

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// Defaults of an OpenAI-compatible provider: Ollama's endpoint and a model it serves.
const (
	DefaultOpenAIBaseURL = "http://localhost:11434/v1"
	DefaultOpenAIModel   = "llama3.2"
)

// OpenAI talks to any OpenAI-compatible chat completions server (OpenAI, Ollama, vLLM):
// POST {base}/chat/completions, streamed as server-sent events ending in [DONE].
type OpenAI struct {
	client  *http.Client
	baseURL string
	model   string
	apiKey  string
}

// NewOpenAI is an OpenAI-compatible provider; local servers need no key.
func NewOpenAI(baseURL, model, apiKey string) *OpenAI {
	return &OpenAI{client: &http.Client{}, baseURL: strings.TrimRight(baseURL, "/"), model: model, apiKey: apiKey}
}

func (o *OpenAI) Name() string  { return "openai" }
func (o *OpenAI) Model() string { return o.model }

type openaiMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type openaiRequest struct {
	Model          string            `json:"model"`
	Messages       []openaiMessage   `json:"messages"`
	Stream         bool              `json:"stream,omitempty"`
	StreamOptions  map[string]bool   `json:"stream_options,omitempty"`
	ResponseFormat map[string]string `json:"response_format,omitempty"`
}

type openaiUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

type openaiCompletion struct {
	Choices []struct {
		Message openaiMessage `json:"message"`
		Delta   openaiMessage `json:"delta"`
	} `json:"choices"`
	Usage *openaiUsage `json:"usage"`
}

func (c *openaiCompletion) usage() Usage {
	if c.Usage == nil {
		return Usage{}
	}
	return Usage{InputTokens: c.Usage.PromptTokens, OutputTokens: c.Usage.CompletionTokens}
}

func (o *OpenAI) Generate(ctx context.Context, prompt Prompt) (Generation, error) {
	response, err := post(ctx, o.client, "openai", o.baseURL+"/chat/completions", o.headers(), o.body(prompt, false))
	if err != nil {
		return Generation{}, err
	}
	var completion openaiCompletion
	if err := decodeBody(ctx, "openai", response, &completion); err != nil {
		return Generation{}, err
	}
	text := ""
	if len(completion.Choices) > 0 {
		text = completion.Choices[0].Message.Content
	}
	return Generation{Text: text, Usage: completion.usage()}, nil
}

func (o *OpenAI) Stream(ctx context.Context, prompt Prompt, emit func(string) error) (Generation, error) {
	response, err := post(ctx, o.client, "openai", o.baseURL+"/chat/completions", o.headers(), o.body(prompt, true))
	if err != nil {
		return Generation{}, err
	}
	var whole strings.Builder
	usage := Usage{}
	err = readEvents(ctx, "openai", response, func(data []byte) error {
		var chunk openaiCompletion
		if err := decodeEvent("openai", data, &chunk); err != nil {
			return err
		}
		if chunk.Usage != nil {
			usage = chunk.usage()
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			piece := chunk.Choices[0].Delta.Content
			whole.WriteString(piece)
			return emit(piece)
		}
		return nil
	})
	if err != nil {
		return Generation{}, err
	}
	return Generation{Text: whole.String(), Usage: usage}, nil
}

func (o *OpenAI) headers() map[string]string {
	if o.apiKey == "" {
		return nil
	}
	return map[string]string{"authorization": "Bearer " + o.apiKey}
}

func (o *OpenAI) body(prompt Prompt, stream bool) openaiRequest {
	request := openaiRequest{Model: o.model, Stream: stream}
	if stream {
		request.StreamOptions = map[string]bool{"include_usage": true}
	}
	system := prompt.System
	if prompt.JSONSchema != nil {
		// json_object mode is the widest-supported structured mode; the schema travels in the prompt.
		schema, _ := json.Marshal(prompt.JSONSchema)
		system += "\nAnswer with one JSON object matching this JSON Schema:\n" + string(schema)
		request.ResponseFormat = map[string]string{"type": "json_object"}
	}
	if strings.TrimSpace(system) != "" {
		request.Messages = append(request.Messages, openaiMessage{Role: "system", Content: system})
	}
	for _, turn := range prompt.History {
		role := "assistant"
		if turn.Role == "user" {
			role = "user"
		}
		request.Messages = append(request.Messages, openaiMessage{Role: role, Content: turn.Text})
	}
	request.Messages = append(request.Messages, openaiMessage{Role: "user", Content: prompt.User})
	return request
}
