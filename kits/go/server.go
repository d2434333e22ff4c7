package kit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentmesh/agentmesh/kits/go/descriptors"
	pb "github.com/agentmesh/agentmesh/kits/go/gen/agentmesh/v1"
	"github.com/agentmesh/agentmesh/kits/go/llm"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// A client's connection lives this long before the agent asks it (GOAWAY) to reconnect: a
// client of dns:///name re-resolves the name then, and so reaches replicas added since (a
// Kubernetes scale-up). AGENTMESH_MAX_CONNECTION_AGE_S sets it, as in every agentmesh runtime;
// calls already running get the grace to finish.
const (
	defaultMaxConnectionAge = 60 * time.Second
	maxConnectionAgeGrace   = 10 * time.Minute
)

func maxConnectionAge(getenv func(string) string) time.Duration {
	seconds, err := strconv.ParseFloat(getenv("AGENTMESH_MAX_CONNECTION_AGE_S"), 64)
	if err != nil || seconds <= 0 {
		return defaultMaxConnectionAge
	}
	return time.Duration(seconds * float64(time.Second))
}

// MaxMessageBytes is the largest request or reply an agent accepts, as in every agentmesh runtime.
const MaxMessageBytes = 16 * 1024 * 1024

// Server is an agent served over gRPC: AgentService, grpc.health.v1 and reflection.
type Server struct {
	agent    *Agent
	llm      llm.Provider
	grpc     *grpc.Server
	health   *health.Server
	log      *slog.Logger
	calls    agentCalls
	metrics  *serverMetrics
	stopping atomic.Bool
	stopOnce sync.Once
}

// NewServer is the agent's gRPC server, not yet listening; provider is how it thinks. options
// add to the kit's own, such as grpc.Creds(TLSFiles.Credentials(...)) to serve TLS.
func NewServer(agent *Agent, provider llm.Provider, log *slog.Logger, options ...grpc.ServerOption) *Server {
	s := &Server{agent: agent, llm: provider, health: health.NewServer(), log: log, metrics: newServerMetrics()}
	codec := newRequestCodec()
	refuse := newMalformed(codec, log)
	s.grpc = grpc.NewServer(append([]grpc.ServerOption{
		grpc.ForceServerCodecV2(codec),
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge: maxConnectionAge(os.Getenv), MaxConnectionAgeGrace: maxConnectionAgeGrace,
		}),
		grpc.ChainUnaryInterceptor(s.countUnary, s.metrics.unary, refuse.unary, requireUnary),
		grpc.ChainStreamInterceptor(s.countStream, s.metrics.stream, refuse.stream, requireStream),
	}, options...)...)
	pb.RegisterAgentServiceServer(s.grpc, &service{agent: agent, llm: provider, log: log, stopping: s.stopping.Load})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflecting := reflection.ServerOptions{Services: s.grpc, DescriptorResolver: documented()}
	reflectionv1.RegisterServerReflectionServer(s.grpc, reflection.NewServerV1(reflecting))
	reflectionv1alpha.RegisterServerReflectionServer(s.grpc, reflection.NewServer(reflecting))
	s.metrics.initialize(s.grpc)
	return s
}

// Serve answers calls on listener until Stop; health says SERVING from the first call.
func (s *Server) Serve(listener net.Listener) error {
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(pb.AgentService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s.grpc.Serve(listener)
}

// Stop drains: health turns NOT_SERVING so balancers send no more work, AgentService calls in
// flight get grace to finish, and whatever still runs then is cancelled. Health Watch streams
// are not waited for: a prober's watch lasts as long as the prober likes, and it has been told
// NOT_SERVING already.
func (s *Server) Stop(grace time.Duration) {
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		s.log.Info("shutting down", "grace_seconds", grace.Seconds())
		s.health.Shutdown()
		// GracefulStop refuses new calls at once, then waits for every stream, watches included.
		drained := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(drained)
		}()
		select {
		case <-drained:
		case <-s.calls.idle():
			// A handler that has returned has not necessarily sent its reply yet.
			select {
			case <-drained:
			case <-time.After(farewell):
			}
		case <-time.After(grace):
			s.log.Warn("grace period over; cancelling calls", "in_flight", s.calls.count())
		}
		s.grpc.Stop()
		<-drained
		s.log.Info("stopped")
	})
}

// farewell is how long replies of calls that have just finished, and NOT_SERVING to health
// watchers, get to go out before the server cuts its connections (as in the Python runtime).
const farewell = 250 * time.Millisecond

const agentServicePrefix = "/agentmesh.v1.AgentService/"

func (s *Server) countUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if strings.HasPrefix(info.FullMethod, agentServicePrefix) {
		s.calls.add(1)
		defer s.calls.add(-1)
	}
	return handler(ctx, req)
}

func (s *Server) countStream(srv any, stream grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if strings.HasPrefix(info.FullMethod, agentServicePrefix) {
		s.calls.add(1)
		defer s.calls.add(-1)
	}
	return handler(srv, stream)
}

// agentCalls counts the AgentService calls in flight, the ones a drain waits for.
type agentCalls struct {
	mu      sync.Mutex
	n       int
	waiters []chan struct{}
}

func (c *agentCalls) add(delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += delta
	if c.n == 0 {
		for _, w := range c.waiters {
			close(w)
		}
		c.waiters = nil
	}
}

func (c *agentCalls) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// idle is closed once no AgentService call is in flight (at once if none is).
func (c *agentCalls) idle() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := make(chan struct{})
	if c.n == 0 {
		close(w)
	} else {
		c.waiters = append(c.waiters, w)
	}
	return w
}

// requireUnary refuses, before any handler runs, a request that lacks a field the protos mark
// REQUIRED (google.api.field_behavior), as every agentmesh server does.
func requireUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := checkRequired(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func requireStream(srv any, stream grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &requiredStream{ServerStream: stream})
}

// requiredStream checks the request of a server-streaming call as it is received.
type requiredStream struct{ grpc.ServerStream }

func (r *requiredStream) RecvMsg(m any) error {
	if err := r.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return checkRequired(m)
}

func checkRequired(req any) error {
	message, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	reflected := message.ProtoReflect()
	var violations []FieldViolation
	fields := reflected.Descriptor().Fields()
	for i := range fields.Len() {
		field := fields.Get(i)
		options, _ := field.Options().(*descriptorpb.FieldOptions)
		if options == nil {
			continue
		}
		behaviors, _ := proto.GetExtension(options, annotations.E_FieldBehavior).([]annotations.FieldBehavior)
		for _, behavior := range behaviors {
			if behavior == annotations.FieldBehavior_REQUIRED && lacks(reflected, field) {
				violations = append(violations, FieldViolation{Field: string(field.Name()), Description: "is required"})
			}
		}
	}
	if len(violations) == 0 {
		return nil
	}
	names := make([]string, len(violations))
	for i, v := range violations {
		names[i] = v.Field
	}
	err := InvalidInput("missing required field(s): "+strings.Join(names, ", "), violations...)
	err.Reason = "MISSING_REQUIRED_FIELD"
	return err.GRPCStatus().Err()
}

func lacks(message protoreflect.Message, field protoreflect.FieldDescriptor) bool {
	switch {
	case field.IsList():
		return message.Get(field).List().Len() == 0
	case field.IsMap():
		return message.Get(field).Map().Len() == 0
	case field.HasPresence():
		return !message.Has(field)
	}
	return !message.Has(field) // proto3 scalars: "missing" is the zero value
}

// documented resolves descriptors from the contract's descriptor set, which keeps the protos'
// comments (grpcurl describe shows them), and everything else from the descriptors compiled into
// this binary. The set is decoded on the first reflection request, not at start: an agent nobody
// describes does not hold a second copy of the contract in memory.
func documented() protodesc.Resolver {
	return &layered{load: sync.OnceValue(func() []*protoregistry.Files {
		set := &descriptorpb.FileDescriptorSet{}
		if err := proto.Unmarshal(descriptors.Set, set); err != nil {
			panic(fmt.Sprintf("kit: the embedded descriptor set does not decode: %v", err))
		}
		files, err := protodesc.NewFiles(set)
		if err != nil {
			panic(fmt.Sprintf("kit: the embedded descriptor set does not resolve: %v", err))
		}
		return []*protoregistry.Files{files, protoregistry.GlobalFiles}
	})}
}

type layered struct {
	load func() []*protoregistry.Files
}

func (l *layered) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	for _, files := range l.load() {
		if found, err := files.FindFileByPath(path); err == nil {
			return found, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (l *layered) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, files := range l.load() {
		if found, err := files.FindDescriptorByName(name); err == nil {
			return found, nil
		}
	}
	return nil, protoregistry.NotFound
}
