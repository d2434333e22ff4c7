package kit

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/agentmesh/agentmesh/kits/go/llm"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the google.rpc.ErrorInfo domain of every error an agentmesh server sends.
const Domain = "agentmesh"

// Bounds on what an error sends, the same as the Python runtime's: a handler's error can hold
// anything, and grpc-go refuses (or the peer truncates) status details beyond a few KiB.
const (
	maxMessageBytes     = 1024
	maxViolations       = 20
	maxFieldBytes       = 128
	maxDescriptionBytes = 256
	maxMetadataEntries  = 8
	maxMetadataBytes    = 128
	maxReasonBytes      = 63
)

// FieldViolation names one bad field of a request, as google.rpc.BadRequest carries it.
type FieldViolation struct {
	Field       string
	Description string
}

// Error is an error that travels as a gRPC status with google.rpc.ErrorInfo: its code says
// whether a caller may retry, its reason (UPPER_SNAKE) what went wrong, and violations, when
// there are any, which fields of the request were at fault (google.rpc.BadRequest).
//
// A handler returns one to answer with a particular status; any other error reaches the
// caller as INTERNAL, its text kept in the agent's log.
type Error struct {
	Code       codes.Code
	Reason     string
	Message    string
	Metadata   map[string]string
	Violations []FieldViolation
}

func (e *Error) Error() string { return e.Message }

// GRPCStatus lets grpc-go send the error as it is, wherever it comes from.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.Code, cut(e.Message, maxMessageBytes))
	details := []*errdetails.ErrorInfo{{
		Reason:   cut(e.Reason, maxReasonBytes),
		Domain:   Domain,
		Metadata: boundedMetadata(e.Metadata),
	}}
	withInfo, err := st.WithDetails(details[0])
	if err != nil {
		return st
	}
	if len(e.Violations) == 0 {
		return withInfo
	}
	bad := &errdetails.BadRequest{}
	for i, v := range e.Violations {
		if i == maxViolations {
			left := len(e.Violations) - maxViolations
			bad.FieldViolations = append(bad.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: "…", Description: fmt.Sprintf("%d more violation(s) left out", left),
			})
			break
		}
		bad.FieldViolations = append(bad.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       cut(v.Field, maxFieldBytes),
			Description: cut(v.Description, maxDescriptionBytes),
		})
	}
	full, err := withInfo.WithDetails(bad)
	if err != nil {
		return withInfo
	}
	return full
}

// InvalidInput is the error of a request that does not fit a skill's input: INVALID_ARGUMENT
// naming every bad field.
func InvalidInput(message string, violations ...FieldViolation) *Error {
	return &Error{Code: codes.InvalidArgument, Reason: "INVALID_INPUT", Message: message, Violations: violations}
}

// statusOf is the one path from any error a handler or the kit returns to the status sent.
func statusOf(err error) *status.Status {
	var kitErr *Error
	var providerErr *llm.Error
	switch {
	case errors.As(err, &kitErr):
		return kitErr.GRPCStatus()
	case errors.As(err, &providerErr):
		return (&Error{Code: providerErr.Code, Reason: providerErr.Reason, Message: providerErr.Message, Metadata: providerErr.Metadata}).GRPCStatus()
	case errors.Is(err, context.DeadlineExceeded):
		return (&Error{Code: codes.DeadlineExceeded, Reason: "DEADLINE_EXCEEDED", Message: "the deadline passed"}).GRPCStatus()
	case errors.Is(err, context.Canceled):
		return (&Error{Code: codes.Canceled, Reason: "CANCELLED", Message: "the call was cancelled"}).GRPCStatus()
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	return (&Error{Code: codes.Internal, Reason: "INTERNAL", Message: "internal error; see the agent's log"}).GRPCStatus()
}

// cut shortens s to at most n bytes of UTF-8, on a character boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	end := n - len(mark)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + mark
}

func boundedMetadata(metadata map[string]string) map[string]string {
	if len(metadata) == 0 {
		return nil
	}
	kept := make(map[string]string, min(len(metadata), maxMetadataEntries))
	for key, value := range metadata {
		if len(kept) == maxMetadataEntries {
			break
		}
		kept[cut(key, 64)] = cut(value, maxMetadataBytes)
	}
	return kept
}
