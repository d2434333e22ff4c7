package llm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
)

// The Gemini and OpenAI providers speak their APIs' documented REST and server-sent-events wire
// format with net/http instead of linking the official Go SDKs: a Go binary's resident memory
// follows its size, and the two SDKs took the trend-scanner from 13 MB to 57 MB on disk and from
// 20 MB to 38 MB idle RSS for the two endpoints an agent uses. Both are tested against loopback
// fakes of those APIs.

// maxErrorBody bounds what is read of an API's error reply: enough for its message.
const maxErrorBody = 64 << 10

// maxSSELine bounds one server-sent event; a model's chunk is far smaller.
const maxSSELine = 4 << 20

// post sends body as JSON and returns the response when the API answered 2xx; any other status
// becomes the provider Error that says whether to retry.
func post(ctx context.Context, client *http.Client, provider, url string, headers map[string]string, body any) (*http.Response, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, &Error{Code: codes.InvalidArgument, Reason: "LLM_REQUEST_REJECTED", Message: provider + ": " + err.Error()}
	}
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, Unavailable(provider, provider+": "+err.Error())
	}
	request.Header.Set("content-type", "application/json")
	for key, value := range headers {
		request.Header.Set(key, value)
	}
	response, err := client.Do(request)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The URL is in err; a key never is (keys travel in headers).
		return nil, Unavailable(provider, fmt.Sprintf("%s is unreachable: %v", provider, err))
	}
	if response.StatusCode/100 == 2 {
		return response, nil
	}
	defer func() { _ = response.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(response.Body, maxErrorBody))
	return nil, ForHTTPStatus(provider, response.StatusCode, errorMessage(raw), response.Header.Get("retry-after"))
}

// errorMessage is the message of both APIs' error body, {"error": {"message": ...}}, or the start
// of whatever else came back.
func errorMessage(raw []byte) string {
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Message != "" {
		return body.Error.Message
	}
	text := strings.TrimSpace(string(raw))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	if text == "" {
		return "no message"
	}
	return text
}

// decodeBody reads a whole JSON reply into out.
func decodeBody(ctx context.Context, provider string, response *http.Response, out any) error {
	defer func() { _ = response.Body.Close() }()
	if err := json.NewDecoder(response.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return Unavailable(provider, provider+" answered a body that is not its JSON: "+err.Error())
	}
	return nil
}

// readEvents calls each with the data of every server-sent event until the stream ends or a
// `[DONE]` event (OpenAI's end marker) arrives.
func readEvents(ctx context.Context, provider string, response *http.Response, each func([]byte) error) error {
	defer func() { _ = response.Body.Close() }()
	scanner := bufio.NewScanner(response.Body)
	scanner.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	var data []byte
	flush := func() error {
		if len(data) == 0 {
			return nil
		}
		event := data
		data = nil
		if string(event) == "[DONE]" {
			return io.EOF
		}
		return each(event)
	}
	for scanner.Scan() {
		line := scanner.Bytes()
		switch {
		case len(line) == 0:
			if err := flush(); err != nil {
				return endOf(err)
			}
		case bytes.HasPrefix(line, []byte("data:")):
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		}
	}
	if err := scanner.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return Unavailable(provider, provider+" stream broke: "+err.Error())
	}
	return endOf(flush())
}

func endOf(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// decodeEvent reads one event's JSON.
func decodeEvent(provider string, data []byte, out any) error {
	if err := json.Unmarshal(data, out); err != nil {
		return Unavailable(provider, provider+" streamed an event that is not its JSON: "+err.Error())
	}
	return nil
}
