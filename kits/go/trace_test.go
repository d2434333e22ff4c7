package kit_test

import (
	"testing"

	kit "github.com/agentmesh/agentmesh/kits/go"
)

func TestParseTraceParentFollowsW3C(t *testing.T) {
	valid, ok := kit.ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if !ok || valid.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || valid.ParentID != "00f067aa0ba902b7" || !valid.Sampled {
		t.Fatalf("valid header read as %+v %v", valid, ok)
	}
	future, ok := kit.ParseTraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra")
	if !ok || future.Sampled {
		t.Fatalf("a later version's header read as %+v %v", future, ok)
	}
	for _, invalid := range []string{
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
	} {
		if parsed, ok := kit.ParseTraceParent(invalid); ok {
			t.Errorf("%q accepted as %+v", invalid, parsed)
		}
	}
}
