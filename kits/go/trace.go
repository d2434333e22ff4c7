package kit

import (
	"encoding/hex"
	"strings"
)

// TraceParent is the W3C trace context (https://www.w3.org/TR/trace-context/) a caller sent in
// `traceparent` metadata: the gateway sends one per step attempt, whose trace id is the run's.
// The kit reads it so that an agent's logs and its own outgoing calls can join the run's trace;
// exporting spans is OpenTelemetry's job, configured where the agent chooses to.
type TraceParent struct {
	TraceID  string // 32 lower-case hex digits
	ParentID string // 16 lower-case hex digits: the caller's span
	Sampled  bool
}

// ParseTraceParent reads a traceparent header value; ok is false for anything the W3C
// specification says to ignore (wrong length, upper-case or non-hex digits, version ff, all-zero
// ids). Versions above 00 are read by their first four fields, as the specification asks.
func ParseTraceParent(value string) (TraceParent, bool) {
	fields := strings.Split(value, "-")
	if len(fields) < 4 || (fields[0] == "00" && len(fields) != 4) {
		return TraceParent{}, false
	}
	version, traceID, parentID, flags := fields[0], fields[1], fields[2], fields[3]
	if !lowerHex(version, 2) || version == "ff" || !lowerHex(traceID, 32) || !lowerHex(parentID, 16) || !lowerHex(flags, 2) {
		return TraceParent{}, false
	}
	if traceID == strings.Repeat("0", 32) || parentID == strings.Repeat("0", 16) {
		return TraceParent{}, false
	}
	flagBits, _ := hex.DecodeString(flags)
	return TraceParent{TraceID: traceID, ParentID: parentID, Sampled: flagBits[0]&1 == 1}, true
}

func lowerHex(text string, length int) bool {
	if len(text) != length {
		return false
	}
	for _, r := range text {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
