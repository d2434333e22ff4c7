package main

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// testdata/python_offline.jsonl holds what the Python trend scanner's offline composer answered
// before the agent moved to Go: the same input must still give the same trends, number for number.
func TestOfflineMatchesThePythonComposer(t *testing.T) {
	file, err := os.Open("testdata/python_offline.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	lines := bufio.NewScanner(file)
	cases := 0
	for lines.Scan() {
		var golden struct {
			Input  ScanInput `json:"input"`
			Output Trends    `json:"output"`
		}
		if err := json.Unmarshal(lines.Bytes(), &golden); err != nil {
			t.Fatal(err)
		}
		got, err := scanOffline(golden.Input)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, golden.Output) {
			t.Errorf("scan(%+v)\n got  %+v\n want %+v", golden.Input, got, golden.Output)
		}
		cases++
	}
	if cases < 4 {
		t.Fatalf("only %d golden cases read", cases)
	}
}

func TestHashtag(t *testing.T) {
	for text, want := range map[string]string{
		"robots myth busting": "#RobotsMythBusting",
		"café crème tutorial": "#CaféCrèmeTutorial",
		"AI agents":           "#AiAgents",
		"a very long topic indeed that goes on and on": "#AVeryLongTopicIndeedThatGoesOnAndOn",
		"x y z 0123456789 0123456789 0123456789 0123":  "#XYZ0123456789012345678901234567890123",
	} {
		if got := hashtag(text); got != want {
			t.Errorf("hashtag(%q) = %q, want %q", text, got, want)
		}
	}
}
