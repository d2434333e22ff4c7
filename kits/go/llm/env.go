package llm

import (
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// FromEnv builds the provider AGENTMESH_LLM asks for (offline when unset), configured from the
// same variables every agentmesh runtime reads:
//
//   - offline: AGENTMESH_OFFLINE_LATENCY_MS, a simulated thinking time;
//   - gemini: GOOGLE_API_KEY or GEMINI_API_KEY, AGENTMESH_GEMINI_MODEL, AGENTMESH_GEMINI_BASE_URL;
//   - openai: AGENTMESH_OPENAI_BASE_URL, AGENTMESH_OPENAI_MODEL, AGENTMESH_OPENAI_API_KEY or OPENAI_API_KEY.
func FromEnv(composers map[string]Composer, getenv func(string) string) (Provider, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	or := func(key, fallback string) string {
		if value := getenv(key); value != "" {
			return value
		}
		return fallback
	}
	choice := strings.ToLower(strings.TrimSpace(or("AGENTMESH_LLM", "offline")))
	switch choice {
	case "offline", "":
		latency, err := strconv.ParseFloat(or("AGENTMESH_OFFLINE_LATENCY_MS", "0"), 64)
		if err != nil || latency < 0 {
			return nil, &Error{Code: codes.InvalidArgument, Reason: "LLM_UNKNOWN",
				Message: "AGENTMESH_OFFLINE_LATENCY_MS must be a number of milliseconds"}
		}
		return &Offline{Composers: composers, Latency: time.Duration(latency * float64(time.Millisecond))}, nil
	case "gemini":
		key := or("GOOGLE_API_KEY", getenv("GEMINI_API_KEY"))
		if key == "" {
			return nil, &Error{Code: codes.FailedPrecondition, Reason: "LLM_AUTH_FAILED",
				Message: "AGENTMESH_LLM=gemini needs GOOGLE_API_KEY or GEMINI_API_KEY"}
		}
		return NewGemini(key, or("AGENTMESH_GEMINI_MODEL", DefaultGeminiModel), getenv("AGENTMESH_GEMINI_BASE_URL")), nil
	case "openai":
		key := or("AGENTMESH_OPENAI_API_KEY", getenv("OPENAI_API_KEY"))
		return NewOpenAI(or("AGENTMESH_OPENAI_BASE_URL", DefaultOpenAIBaseURL), or("AGENTMESH_OPENAI_MODEL", DefaultOpenAIModel), key), nil
	}
	return nil, &Error{Code: codes.InvalidArgument, Reason: "LLM_UNKNOWN",
		Message: "AGENTMESH_LLM=" + strconv.Quote(choice) + " is not one of offline, gemini, openai"}
}
