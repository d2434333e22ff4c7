package llm

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// DefaultGeminiModel is the model a Gemini provider uses unless told otherwise.
const DefaultGeminiModel = "gemini-2.5-flash"

// DefaultGeminiBaseURL is Google's Gemini API endpoint.
const DefaultGeminiBaseURL = "https://generativelanguage.googleapis.com"

// Gemini talks to the Gemini API (generativelanguage v1beta): generateContent, and
// streamGenerateContent with alt=sse.
type Gemini struct {
	client  *http.Client
	baseURL string
	model   string
	apiKey  string
}

// NewGemini is a Gemini provider; an empty baseURL means Google's endpoint.
func NewGemini(apiKey, model, baseURL string) *Gemini {
	if baseURL == "" {
		baseURL = DefaultGeminiBaseURL
	}
	return &Gemini{client: &http.Client{}, baseURL: strings.TrimRight(baseURL, "/"), model: model, apiKey: apiKey}
}

func (g *Gemini) Name() string  { return "gemini" }
func (g *Gemini) Model() string { return g.model }

type geminiPart struct {
	Text string `json:"text"`
}

type geminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []geminiPart `json:"parts"`
}

type geminiRequest struct {
	Contents          []geminiContent   `json:"contents"`
	SystemInstruction *geminiContent    `json:"systemInstruction,omitempty"`
	GenerationConfig  *geminiGeneration `json:"generationConfig,omitempty"`
}

type geminiGeneration struct {
	ResponseMIMEType   string         `json:"responseMimeType,omitempty"`
	ResponseJSONSchema map[string]any `json:"responseJsonSchema,omitempty"`
}

type geminiResponse struct {
	Candidates []struct {
		Content geminiContent `json:"content"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount     int64 `json:"promptTokenCount"`
		CandidatesTokenCount int64 `json:"candidatesTokenCount"`
		ThoughtsTokenCount   int64 `json:"thoughtsTokenCount"`
	} `json:"usageMetadata"`
}

func (r *geminiResponse) text() string {
	var text strings.Builder
	for _, candidate := range r.Candidates[:min(1, len(r.Candidates))] {
		for _, part := range candidate.Content.Parts {
			text.WriteString(part.Text)
		}
	}
	return text.String()
}

func (r *geminiResponse) usage() (Usage, bool) {
	if r.UsageMetadata == nil {
		return Usage{}, false
	}
	meta := r.UsageMetadata
	return Usage{InputTokens: meta.PromptTokenCount, OutputTokens: meta.CandidatesTokenCount + meta.ThoughtsTokenCount}, true
}

func (g *Gemini) Generate(ctx context.Context, prompt Prompt) (Generation, error) {
	response, err := post(ctx, g.client, "gemini", g.url("generateContent", ""), g.headers(), geminiBody(prompt))
	if err != nil {
		return Generation{}, err
	}
	var body geminiResponse
	if err := decodeBody(ctx, "gemini", response, &body); err != nil {
		return Generation{}, err
	}
	usage, _ := body.usage()
	return Generation{Text: body.text(), Usage: usage}, nil
}

func (g *Gemini) Stream(ctx context.Context, prompt Prompt, emit func(string) error) (Generation, error) {
	response, err := post(ctx, g.client, "gemini", g.url("streamGenerateContent", "alt=sse"), g.headers(), geminiBody(prompt))
	if err != nil {
		return Generation{}, err
	}
	var whole strings.Builder
	usage := Usage{}
	err = readEvents(ctx, "gemini", response, func(data []byte) error {
		var chunk geminiResponse
		if err := decodeEvent("gemini", data, &chunk); err != nil {
			return err
		}
		if counted, ok := chunk.usage(); ok {
			usage = counted
		}
		if text := chunk.text(); text != "" {
			whole.WriteString(text)
			return emit(text)
		}
		return nil
	})
	if err != nil {
		return Generation{}, err
	}
	return Generation{Text: whole.String(), Usage: usage}, nil
}

func (g *Gemini) url(method, query string) string {
	address := g.baseURL + "/v1beta/models/" + url.PathEscape(g.model) + ":" + method
	if query != "" {
		address += "?" + query
	}
	return address
}

// headers carry the key, so that it never appears in a URL that an error message could quote.
func (g *Gemini) headers() map[string]string {
	return map[string]string{"x-goog-api-key": g.apiKey}
}

func geminiBody(prompt Prompt) geminiRequest {
	request := geminiRequest{}
	for _, turn := range prompt.History {
		role := "model"
		if turn.Role == "user" {
			role = "user"
		}
		request.Contents = append(request.Contents, geminiContent{Role: role, Parts: []geminiPart{{Text: turn.Text}}})
	}
	request.Contents = append(request.Contents, geminiContent{Role: "user", Parts: []geminiPart{{Text: prompt.User}}})
	if prompt.System != "" {
		request.SystemInstruction = &geminiContent{Parts: []geminiPart{{Text: prompt.System}}}
	}
	if prompt.JSONSchema != nil {
		request.GenerationConfig = &geminiGeneration{ResponseMIMEType: "application/json", ResponseJSONSchema: prompt.JSONSchema}
	}
	return request
}
