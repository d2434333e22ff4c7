package kit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxDecodeDepth is how deeply a request's messages may nest, counted as protobuf's reference
// decoder (upb, under the Python runtime) counts them: the request is level 1 and every message
// inside it one more, a map entry included. Every agentmesh runtime refuses the same requests.
const MaxDecodeDepth = 100

// malformedLogInterval: one warning about undecodable requests per method in this long, the
// rest counted into the next (as in every agentmesh runtime).
const malformedLogInterval = 10 * time.Second

// requestCodec decodes requests as grpc-go's protobuf codec does, but never fails: grpc-go
// answers a codec's error with INTERNAL, and a request that does not decode is the caller's
// fault. What it cannot decode (corrupt bytes, invalid UTF-8 in a string, nesting past
// MaxDecodeDepth) it marks, and the interceptors answer INVALID_ARGUMENT (MALFORMED_REQUEST).
type requestCodec struct {
	encoding.CodecV2
	undecodable *sync.Map // proto.Message → its size in bytes: messages left empty because they did not decode
}

func newRequestCodec() requestCodec {
	return requestCodec{CodecV2: encoding.GetCodecV2(grpcproto.Name), undecodable: &sync.Map{}}
}

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	message, ok := v.(proto.Message)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	// protobuf-go counts no map entries, so its limit at MaxDecodeDepth never refuses what upb
	// takes, and stops a request nested thousands deep before it is built; nestingOver then
	// applies upb's count exactly.
	options := proto.UnmarshalOptions{RecursionLimit: MaxDecodeDepth}
	if err := options.Unmarshal(buf.ReadOnlyData(), message); err != nil || nestingOver(message.ProtoReflect(), 1) {
		proto.Reset(message)
		c.undecodable.Store(message, data.Len())
	}
	return nil
}

// taken reports whether message was marked undecodable, and the request's size, forgetting the mark.
func (c requestCodec) taken(message any) (int, bool) {
	size, found := c.undecodable.LoadAndDelete(message)
	if !found {
		return 0, false
	}
	return size.(int), true
}

// nestingOver reports whether message, at depth level, holds messages nested past MaxDecodeDepth.
func nestingOver(message protoreflect.Message, level int) bool {
	if level > MaxDecodeDepth {
		return true
	}
	over := false
	message.Range(func(field protoreflect.FieldDescriptor, value protoreflect.Value) bool {
		switch {
		case field.IsMap():
			if field.MapValue().Message() == nil {
				return true
			}
			// The entry is a message of its own to upb: its value is two levels down.
			value.Map().Range(func(_ protoreflect.MapKey, entry protoreflect.Value) bool {
				over = nestingOver(entry.Message(), level+2)
				return !over
			})
		case field.Message() == nil:
		case field.IsList():
			list := value.List()
			for i := 0; i < list.Len() && !over; i++ {
				over = nestingOver(list.Get(i).Message(), level+1)
			}
		default:
			over = nestingOver(value.Message(), level+1)
		}
		return !over
	})
	return over
}

// malformed answers requests the codec could not decode, on every service the server has.
type malformed struct {
	codec requestCodec
	log   *slog.Logger
	mu    sync.Mutex
	shown map[string]time.Time // method → when its last warning was logged
	held  map[string]int       // method → warnings held back since
}

func newMalformed(codec requestCodec, log *slog.Logger) *malformed {
	return &malformed{codec: codec, log: log, shown: map[string]time.Time{}, held: map[string]int{}}
}

func (m *malformed) refusal(method string, request any, size int) error {
	m.warn(method, size)
	expected := fmt.Sprintf("a request of %s", method)
	if message, ok := request.(proto.Message); ok {
		expected = string(message.ProtoReflect().Descriptor().FullName())
	}
	return &Error{
		Code:   codes.InvalidArgument,
		Reason: "MALFORMED_REQUEST",
		Message: fmt.Sprintf("the request is not a valid %s: its bytes could not be decoded "+
			"(corrupt, or nested more than %d levels deep)", expected, MaxDecodeDepth),
		Metadata: map[string]string{"method": method},
	}
}

func (m *malformed) warn(method string, size int) {
	m.mu.Lock()
	now := time.Now()
	if now.Sub(m.shown[method]) < malformedLogInterval {
		m.held[method]++
		m.mu.Unlock()
		return
	}
	suppressed := m.held[method]
	m.shown[method], m.held[method] = now, 0
	m.mu.Unlock()
	m.log.Warn("malformed request", "method", method, "code", codes.InvalidArgument.String(),
		"reason", "MALFORMED_REQUEST", "suppressed", suppressed, "request_bytes", size)
}

func (m *malformed) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if size, undecodable := m.codec.taken(req); undecodable {
		return nil, m.refusal(info.FullMethod, req, size)
	}
	return handler(ctx, req)
}

func (m *malformed) stream(srv any, stream grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &decodedStream{ServerStream: stream, malformed: m, method: info.FullMethod})
}

// decodedStream refuses a streamed request the codec could not decode as it is received.
type decodedStream struct {
	grpc.ServerStream
	malformed *malformed
	method    string
}

func (d *decodedStream) RecvMsg(message any) error {
	if err := d.ServerStream.RecvMsg(message); err != nil {
		return err
	}
	if size, undecodable := d.malformed.codec.taken(message); undecodable {
		return d.malformed.refusal(d.method, message, size)
	}
	return nil
}
