package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// OfflineModel is the model name the offline provider reports.
const OfflineModel = "offline-1"

// Composer builds the offline answer to one task from the prompt's data: a string is the answer
// as it is, anything else is answered as its JSON.
type Composer func(data any) (any, error)

// Offline answers from registered composers, deterministically, optionally after a simulated
// thinking time spread over the answer. Tokens are counted as whitespace-separated words.
type Offline struct {
	Composers map[string]Composer
	Latency   time.Duration
}

func (o *Offline) Name() string  { return "offline" }
func (o *Offline) Model() string { return OfflineModel }

func (o *Offline) Generate(ctx context.Context, prompt Prompt) (Generation, error) {
	if err := sleep(ctx, o.Latency); err != nil {
		return Generation{}, err
	}
	text, err := o.compose(prompt)
	if err != nil {
		return Generation{}, err
	}
	return Generation{Text: text, Usage: wordUsage(prompt, text)}, nil
}

var pieces = regexp.MustCompile(`\S+\s*|\s+`)

func (o *Offline) Stream(ctx context.Context, prompt Prompt, emit func(string) error) (Generation, error) {
	text, err := o.compose(prompt)
	if err != nil {
		return Generation{}, err
	}
	parts := pieces.FindAllString(text, -1)
	pause := time.Duration(0)
	if len(parts) > 0 {
		pause = o.Latency / time.Duration(len(parts))
	}
	for _, part := range parts {
		if err := sleep(ctx, pause); err != nil {
			return Generation{}, err
		}
		if err := emit(part); err != nil {
			return Generation{}, err
		}
	}
	return Generation{Text: text, Usage: wordUsage(prompt, text)}, nil
}

func (o *Offline) compose(prompt Prompt) (string, error) {
	composer, ok := o.Composers[prompt.Task]
	if !ok {
		return withoutComposer(prompt), nil
	}
	answer, err := composer(prompt.Data)
	if err != nil {
		return "", err
	}
	if text, ok := answer.(string); ok {
		return text, nil
	}
	encoded, err := json.Marshal(answer)
	if err != nil {
		return "", fmt.Errorf("the offline composer of %q answered what JSON cannot hold: %w", prompt.Task, err)
	}
	return string(encoded), nil
}

// withoutComposer is a plain conversational answer that shows what was understood.
func withoutComposer(prompt Prompt) string {
	words := strings.Fields(prompt.User)
	gist := strings.Join(words[:min(len(words), 24)], " ")
	if len(words) > 24 {
		gist += " …"
	}
	remembered := 0
	for _, turn := range prompt.History {
		if turn.Role == "user" {
			remembered++
		}
	}
	memory := ""
	if remembered > 0 {
		memory = fmt.Sprintf(" Earlier in this conversation you sent %d message(s).", remembered)
	}
	return fmt.Sprintf("(offline model) You said: %q.%s Configure AGENTMESH_LLM for a real model.", gist, memory)
}

func wordUsage(prompt Prompt, text string) Usage {
	words := len(strings.Fields(prompt.System)) + len(strings.Fields(prompt.User))
	for _, turn := range prompt.History {
		words += len(strings.Fields(turn.Text))
	}
	return Usage{InputTokens: int64(words), OutputTokens: int64(len(strings.Fields(text)))}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
