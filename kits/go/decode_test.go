package kit_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// rawCodec sends requests as the bytes they are, whatever they hold.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "raw" }

// nestedRequest is a valid greet request plus a key nested levels Structs deep: the last Value is
// at protobuf level 6 + 3 × levels (a map entry counts, as upb counts it).
func nestedRequest(t *testing.T, levels int) []byte {
	t.Helper()
	in := request("greet", map[string]any{"name": "Ada"})
	value := structpb.NewStringValue("bottom")
	for range levels {
		value = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"deeper": value}})
	}
	in.GetMessage().GetParts()[0].GetData().Fields["deeper"] = value
	raw, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestUndecodableRequestsAreInvalidArgumentNotInternal(t *testing.T) {
	s := serve(t, testAgent(&seen{}))
	cases := map[string]struct {
		method  string
		request []byte
	}{
		"garbage":                    {"/agentmesh.v1.AgentService/Invoke", []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")},
		"invalid UTF-8 in the skill": {"/agentmesh.v1.AgentService/Invoke", []byte("\x12\x02\xff\xfe")},
		"structs 32 deep":            {"/agentmesh.v1.AgentService/Invoke", nestedRequest(t, 32)},
		"structs 6,000 deep":         {"/agentmesh.v1.AgentService/Invoke", nestedRequest(t, 6000)},
		"garbage health check":       {"/grpc.health.v1.Health/Check", []byte("\x0a\x7fshort")},
	}
	for name, c := range cases {
		var out []byte
		err := s.conn.Invoke(within(t, 5), c.method, c.request, &out, grpc.ForceCodecV2(rawCodec{}))
		st, info, _ := errorDetails(t, err)
		if st.Code() != codes.InvalidArgument || info.GetReason() != "MALFORMED_REQUEST" || info.GetMetadata()["method"] != c.method {
			t.Errorf("%s: got %v %v %v", name, st.Code(), info.GetReason(), info.GetMetadata())
		}
	}
	var out []byte
	if err := s.conn.Invoke(within(t, 5), "/agentmesh.v1.AgentService/Invoke", nestedRequest(t, 31), &out, grpc.ForceCodecV2(rawCodec{})); err != nil {
		t.Fatalf("31 Structs deep is within the bound: %v", err)
	}
}
