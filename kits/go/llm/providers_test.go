package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/grpc/codes"
)

// fakeAPI is a loopback server that records each request and answers with a scripted reply, in
// the wire format of the API it stands for.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	reply    func(w http.ResponseWriter)
}

type recorded struct {
	path   string
	query  string
	header http.Header
	body   map[string]any
}

func newFake(t *testing.T, reply func(w http.ResponseWriter)) *fakeAPI {
	fake := &fakeAPI{reply: reply}
	fake.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		fake.mu.Lock()
		fake.requests = append(fake.requests, recorded{r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		fake.mu.Unlock()
		fake.reply(w)
	}))
	t.Cleanup(fake.Close)
	return fake
}

func jsonReply(status int, body string, headers ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("content-type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func sseReply(events ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("content-type", "text/event-stream")
		for _, event := range events {
			_, _ = fmt.Fprintf(w, "data: %s\n\n", event)
			w.(http.Flusher).Flush()
		}
	}
}

const geminiAnswer = `{"candidates":[{"content":{"role":"model","parts":[{"text":"%s"}]},"finishReason":"STOP","index":0}]%s}`
const geminiUsage = `,"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":7,"totalTokenCount":18}`

func prompt() llm.Prompt {
	return llm.Prompt{System: "Be brief.", User: "Say hi.", History: []llm.Turn{{Role: "user", Text: "earlier"}, {Role: "assistant", Text: "reply"}}}
}

func TestGeminiGenerateSpeaksTheRESTAPI(t *testing.T) {
	fake := newFake(t, jsonReply(200, fmt.Sprintf(geminiAnswer, "hi there", geminiUsage)))
	gemini := llm.NewGemini("sekret-key", "gemini-test", fake.URL)
	schema := map[string]any{"type": "object"}
	p := prompt()
	p.JSONSchema = schema
	answer, err := gemini.Generate(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if answer.Text != "hi there" || answer.Usage != (llm.Usage{InputTokens: 11, OutputTokens: 7}) {
		t.Fatalf("answer %+v", answer)
	}
	got := fake.requests[0]
	if got.path != "/v1beta/models/gemini-test:generateContent" || got.header.Get("x-goog-api-key") != "sekret-key" || strings.Contains(got.query, "sekret") {
		t.Fatalf("request %s?%s %v", got.path, got.query, got.header)
	}
	contents := got.body["contents"].([]any)
	if len(contents) != 3 || contents[1].(map[string]any)["role"] != "model" {
		t.Fatalf("contents %v", contents)
	}
	config := got.body["generationConfig"].(map[string]any)
	if config["responseMimeType"] != "application/json" || config["responseJsonSchema"] == nil || got.body["systemInstruction"] == nil {
		t.Fatalf("body %v", got.body)
	}
}

func TestGeminiStreamEmitsEachChunk(t *testing.T) {
	fake := newFake(t, sseReply(fmt.Sprintf(geminiAnswer, "Hel", ""), fmt.Sprintf(geminiAnswer, "lo", geminiUsage)))
	var pieces []string
	answer, err := llm.NewGemini("k", "m", fake.URL).Stream(context.Background(), prompt(), func(piece string) error {
		pieces = append(pieces, piece)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pieces, "|") != "Hel|lo" || answer.Text != "Hello" || answer.Usage.InputTokens != 11 {
		t.Fatalf("pieces %v answer %+v", pieces, answer)
	}
	if fake.requests[0].path != "/v1beta/models/m:streamGenerateContent" || fake.requests[0].query != "alt=sse" {
		t.Fatalf("stream request %s?%s", fake.requests[0].path, fake.requests[0].query)
	}
}

const openaiAnswer = `{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"%s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":13,"completion_tokens":5,"total_tokens":18}}`

func TestOpenAIGenerateSpeaksChatCompletions(t *testing.T) {
	fake := newFake(t, jsonReply(200, fmt.Sprintf(openaiAnswer, "hi")))
	p := prompt()
	p.JSONSchema = map[string]any{"type": "object", "required": []any{"x"}}
	answer, err := llm.NewOpenAI(fake.URL+"/v1/", "llama-test", "sk-test").Generate(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if answer.Text != "hi" || answer.Usage != (llm.Usage{InputTokens: 13, OutputTokens: 5}) {
		t.Fatalf("answer %+v", answer)
	}
	got := fake.requests[0]
	if got.path != "/v1/chat/completions" || got.header.Get("authorization") != "Bearer sk-test" || got.body["model"] != "llama-test" {
		t.Fatalf("request %s %v %v", got.path, got.header, got.body)
	}
	messages := got.body["messages"].([]any)
	system := messages[0].(map[string]any)
	if len(messages) != 4 || system["role"] != "system" || !strings.Contains(system["content"].(string), `"required":["x"]`) {
		t.Fatalf("messages %v", messages)
	}
	if got.body["response_format"].(map[string]any)["type"] != "json_object" {
		t.Fatalf("response_format %v", got.body["response_format"])
	}
}

func TestOpenAIStreamReadsDeltasUsageAndDone(t *testing.T) {
	chunk := `{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}`
	fake := newFake(t, sseReply(fmt.Sprintf(chunk, "Hel"), fmt.Sprintf(chunk, "lo"),
		`{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":5,"total_tokens":18}}`,
		"[DONE]"))
	var pieces []string
	answer, err := llm.NewOpenAI(fake.URL, "m", "").Stream(context.Background(), prompt(), func(piece string) error {
		pieces = append(pieces, piece)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pieces, "|") != "Hel|lo" || answer.Text != "Hello" || answer.Usage.OutputTokens != 5 {
		t.Fatalf("pieces %v answer %+v", pieces, answer)
	}
	got := fake.requests[0]
	if got.body["stream"] != true || got.body["stream_options"].(map[string]any)["include_usage"] != true {
		t.Fatalf("body %v", got.body)
	}
	if got.header.Get("authorization") != "" {
		t.Fatalf("a keyless provider sent authorization %q", got.header.Get("authorization"))
	}
}

func TestHTTPFailuresBecomeRetryableOrNotAsEveryRuntimeTranslatesThem(t *testing.T) {
	cases := []struct {
		status int
		code   codes.Code
		reason string
	}{
		{429, codes.ResourceExhausted, "LLM_RATE_LIMITED"},
		{401, codes.FailedPrecondition, "LLM_AUTH_FAILED"},
		{503, codes.Unavailable, "LLM_UNAVAILABLE"},
		{400, codes.InvalidArgument, "LLM_REQUEST_REJECTED"},
	}
	for _, c := range cases {
		body := fmt.Sprintf(`{"error":{"code":%d,"message":"fake failure","status":"X"}}`, c.status)
		fake := newFake(t, jsonReply(c.status, body, "retry-after", "7"))
		for _, provider := range []llm.Provider{llm.NewGemini("sekret-key", "m", fake.URL), llm.NewOpenAI(fake.URL, "m", "sekret-key")} {
			_, err := provider.Generate(context.Background(), prompt())
			var failure *llm.Error
			if !errors.As(err, &failure) || failure.Code != c.code || failure.Reason != c.reason {
				t.Fatalf("%s HTTP %d gave %v", provider.Name(), c.status, err)
			}
			if !strings.Contains(failure.Message, "fake failure") || strings.Contains(failure.Message, "sekret") {
				t.Fatalf("%s message %q", provider.Name(), failure.Message)
			}
			if failure.Metadata["retry_after_seconds"] != "7" || failure.Metadata["http_status"] != fmt.Sprint(c.status) {
				t.Fatalf("%s metadata %v", provider.Name(), failure.Metadata)
			}
		}
	}
}

func TestAnUnreachableServerIsUnavailableAndACancelledCallIsCancelled(t *testing.T) {
	fake := newFake(t, jsonReply(200, "{}"))
	address := fake.URL
	fake.Close()
	_, err := llm.NewOpenAI(address, "m", "k").Generate(context.Background(), prompt())
	var failure *llm.Error
	if !errors.As(err, &failure) || failure.Code != codes.Unavailable {
		t.Fatalf("unreachable server gave %v", err)
	}
	block := make(chan struct{})
	slow := newFake(t, func(w http.ResponseWriter) { <-block })
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := llm.NewGemini("k", "m", slow.URL).Generate(ctx, prompt()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call gave %v", err)
	}
}

func TestFromEnvChoosesTheProviderAndRefusesWhatItCannotUse(t *testing.T) {
	env := func(pairs map[string]string) func(string) string {
		return func(key string) string { return pairs[key] }
	}
	offline, err := llm.FromEnv(nil, env(map[string]string{}))
	if err != nil || offline.Name() != "offline" {
		t.Fatalf("default %v %v", offline, err)
	}
	gemini, err := llm.FromEnv(nil, env(map[string]string{"AGENTMESH_LLM": "gemini", "GEMINI_API_KEY": "k", "AGENTMESH_GEMINI_MODEL": "g"}))
	if err != nil || gemini.Name() != "gemini" || gemini.Model() != "g" {
		t.Fatalf("gemini %v %v", gemini, err)
	}
	if _, err := llm.FromEnv(nil, env(map[string]string{"AGENTMESH_LLM": "gemini"})); err == nil {
		t.Fatal("gemini without a key was accepted")
	}
	openai, err := llm.FromEnv(nil, env(map[string]string{"AGENTMESH_LLM": "openai", "AGENTMESH_OPENAI_MODEL": "o"}))
	if err != nil || openai.Name() != "openai" || openai.Model() != "o" {
		t.Fatalf("openai %v %v", openai, err)
	}
	if _, err := llm.FromEnv(nil, env(map[string]string{"AGENTMESH_LLM": "claude"})); err == nil {
		t.Fatal("an unknown provider was accepted")
	}
}
