// A Go client of the agentmesh gateway: start a workflow, follow its events, drop the stream,
// resume with after_sequence, and check that every event arrived once, in order, without a gap.
//
//	go run . -gateway 127.0.0.1:50051 -workflow trend-analysis -input topic=robots
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	agentmeshv1 "github.com/agentmesh/agentmesh/kits/go/gen/agentmesh/v1"
)

type inputs map[string]any

func (i inputs) String() string { return fmt.Sprint(map[string]any(i)) }

func (i inputs) Set(pair string) error {
	key, value, ok := strings.Cut(pair, "=")
	if !ok {
		return fmt.Errorf("expected KEY=VALUE, got %q", pair)
	}
	i[key] = value
	return nil
}

// kind names an event as its field of RunEvent's oneof is named in JSON (runStarted, stepCompleted),
// the name the gateway's server-sent events and the Node example use; the Go type's name would be
// this package's alias for the stubs, and the field number means nothing to a reader.
func kind(event *agentmeshv1.RunEvent) string {
	message := event.ProtoReflect()
	field := message.WhichOneof(message.Descriptor().Oneofs().ByName("event"))
	if field == nil {
		return "unknown" // a kind added to the contract after these stubs were generated
	}
	return field.JSONName()
}

func main() {
	gateway := flag.String("gateway", "127.0.0.1:50051", "the gateway's address")
	workflow := flag.String("workflow", "trend-analysis", "a workflow registered on the gateway")
	dropAfter := flag.Int("drop-after", 3, "events to read before dropping the stream")
	given := inputs{}
	flag.Var(given, "input", "KEY=VALUE, repeatable")
	flag.Parse()

	conn, err := grpc.NewClient(*gateway, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := agentmeshv1.NewOrchestratorServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Struct fields take plain Go maps: structpb converts them.
	values, err := structpb.NewStruct(given)
	if err != nil {
		log.Fatal(err)
	}
	started, err := client.StartRun(ctx, &agentmeshv1.StartRunRequest{
		Source: &agentmeshv1.StartRunRequest_WorkflowName{WorkflowName: *workflow},
		Inputs: values,
	})
	if err != nil {
		log.Fatal(err)
	}
	runID := started.GetRun().GetRunId()
	fmt.Println("run", runID)

	var sequences []int64
	last := int64(0)
	follow := func(limit int) bool { // true once the run's final event has arrived
		streamCtx, stop := context.WithCancel(ctx)
		defer stop() // dropping the stream, as a client that goes away does
		stream, err := client.WatchRun(streamCtx, &agentmeshv1.WatchRunRequest{RunId: runID, AfterSequence: last})
		if err != nil {
			log.Fatal(err)
		}
		for read := 0; limit < 0 || read < limit; read++ {
			response, err := stream.Recv()
			if err == io.EOF {
				return true
			}
			if err != nil {
				log.Fatal(err)
			}
			event := response.GetEvent()
			sequences = append(sequences, event.GetSequence())
			last = event.GetSequence()
			fmt.Printf("%4d %s\n", event.GetSequence(), kind(event))
		}
		return false
	}
	if !follow(*dropAfter) {
		fmt.Printf("dropped the stream after event %d; resuming\n", last)
		follow(-1)
	}
	for i, sequence := range sequences {
		if sequence != int64(i+1) {
			fmt.Printf("gap or repeat: event %d has sequence %d\n", i+1, sequence)
			os.Exit(1)
		}
	}
	run, err := client.GetRun(ctx, &agentmeshv1.GetRunRequest{RunId: runID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d events, gap-free; run %s\n", len(sequences), run.GetRun().GetState())
	if run.GetRun().GetState() != agentmeshv1.RunState_RUN_STATE_SUCCEEDED {
		os.Exit(1)
	}
}
