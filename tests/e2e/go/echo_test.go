// End-to-end tests of the echo shim from Go: grpc-go with stubs that
// tests/e2e/go/run.sh generates from proto/examples/echo.proto with
// protoc-gen-go and protoc-gen-go-grpc at test time (package echopb, not in git).
package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"

	pb "shimkit.test/e2e/echopb"
)

const (
	shimName    = "e2e-go"
	echoService = "shimkit.examples.v1.Echo"
)

var (
	sh   *shim
	conn *grpc.ClientConn
	echo pb.EchoClient
)

// One shim for the whole package, stopped with SIGTERM at the end: it must
// exit with 0.
func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	var err error
	if sh, err = startShim(30*time.Second, "--name", shimName); err != nil {
		fmt.Fprintln(os.Stderr, "e2e.go:", err)
		return 1
	}
	defer sh.kill()
	conn, err = grpc.NewClient(sh.target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e.go: grpc.NewClient:", err)
		return 1
	}
	echo = pb.NewEchoClient(conn)

	code := m.Run()

	conn.Close()
	rc, err := sh.stop(30 * time.Second)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "e2e.go:", err)
		code = 1
	case rc != 0:
		fmt.Fprintf(os.Stderr, "e2e.go: shim exit code on SIGTERM is %d, want 0\n", rc)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "---- shim log ----\n%s------------------\n", sh.Log())
	}
	return code
}

// ctx is a context with a generous deadline, so a hung call fails the test
// instead of the whole run.
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want status %v", want)
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status", err)
	}
	if st.Code() != want {
		t.Fatalf("status code %v (message %q), want %v", st.Code(), st.Message(), want)
	}
	return st
}

func wantValues(t *testing.T, md metadata.MD, key string, want ...string) {
	t.Helper()
	got := md.Get(key)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metadata %q = %q, want %q (all: %v)", key, got, want, map[string][]string(md))
	}
}

// recvAll reads a server stream to its end.
func recvAll[T any](t *testing.T, recv func() (*T, error)) ([]*T, error) {
	t.Helper()
	var out []*T
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func sayStillWorks(t *testing.T, msg string) {
	t.Helper()
	r, err := echo.Say(ctx(t), &pb.EchoRequest{Message: msg})
	if err != nil {
		t.Fatalf("Say(%q) after the previous call: %v", msg, err)
	}
	if r.GetMessage() != msg {
		t.Fatalf("Say(%q) after the previous call answered %q", msg, r.GetMessage())
	}
	if !sh.alive() {
		t.Fatalf("shim is gone:\n%s", sh.Log())
	}
}

// ---- the four kinds ---------------------------------------------------------

func TestSayUnary(t *testing.T) {
	before := time.Now().Add(-time.Hour) // the shim's clock is the machine's; no tight bound
	r, err := echo.Say(ctx(t), &pb.EchoRequest{Message: "hello from go"})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetMessage() != "hello from go" || r.GetIndex() != 0 || r.GetServedBy() != shimName {
		t.Errorf("reply %v, want message %q, index 0, served_by %q", r, "hello from go", shimName)
	}
	if r.GetHandledAt() == nil || !r.GetHandledAt().AsTime().After(before) {
		t.Errorf("handled_at %v is not a current time", r.GetHandledAt())
	}
}

func TestSayLargeAndEmpty(t *testing.T) {
	big := make([]byte, 256*1024)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	for _, msg := range []string{"", "ünïcødé ✓", string(big)} {
		r, err := echo.Say(ctx(t), &pb.EchoRequest{Message: msg})
		if err != nil {
			t.Fatalf("Say(len %d): %v", len(msg), err)
		}
		if r.GetMessage() != msg {
			t.Errorf("Say(len %d) answered len %d", len(msg), len(r.GetMessage()))
		}
	}
}

func TestExpandServerStream(t *testing.T) {
	stream, err := echo.Expand(ctx(t), &pb.ExpandRequest{Message: "tick", Count: 4, IntervalMs: 5})
	if err != nil {
		t.Fatal(err)
	}
	replies, err := recvAll(t, stream.Recv)
	if err != nil {
		t.Fatalf("Expand: %v after %d replies", err, len(replies))
	}
	if len(replies) != 4 {
		t.Fatalf("got %d replies, want 4", len(replies))
	}
	for i, r := range replies {
		if r.GetMessage() != "tick" || r.GetIndex() != uint32(i) || r.GetServedBy() != shimName {
			t.Errorf("reply %d = %v, want tick/%d/%s", i, r, i, shimName)
		}
	}
}

func TestExpandZeroCount(t *testing.T) {
	stream, err := echo.Expand(ctx(t), &pb.ExpandRequest{Message: "none", Count: 0})
	if err != nil {
		t.Fatal(err)
	}
	replies, err := recvAll(t, stream.Recv)
	if err != nil || len(replies) != 0 {
		t.Fatalf("Expand count 0: %d replies, err %v; want 0 replies and OK", len(replies), err)
	}
}

func TestCollectClientStream(t *testing.T) {
	stream, err := echo.Collect(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"alpha", "beta", "gamma"} {
		if err := stream.Send(&pb.EchoRequest{Message: m}); err != nil {
			t.Fatalf("Send(%q): %v", m, err)
		}
	}
	r, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if r.GetJoined() != "alpha beta gamma" || r.GetCount() != 3 {
		t.Errorf("Collect = %v, want joined %q count 3", r, "alpha beta gamma")
	}
}

func TestCollectEmptyStream(t *testing.T) {
	stream, err := echo.Collect(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if r.GetJoined() != "" || r.GetCount() != 0 {
		t.Errorf("Collect of nothing = %v, want empty and 0", r)
	}
}

func TestChatBidi(t *testing.T) {
	stream, err := echo.Chat(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	// Each reply is read before the next request is sent: the shim answers
	// as messages come, not after the client half-closes.
	for i, m := range []string{"one", "two", "three"} {
		if err := stream.Send(&pb.EchoRequest{Message: m}); err != nil {
			t.Fatalf("Send(%q): %v", m, err)
		}
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv after %q: %v", m, err)
		}
		if r.GetMessage() != m || r.GetIndex() != uint32(i) || r.GetServedBy() != shimName {
			t.Errorf("reply %d = %v, want %s/%d/%s", i, r, m, i, shimName)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after CloseSend = %v, want io.EOF (status OK)", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	const n = 32
	var wg sync.WaitGroup
	got := make([]string, n)
	errs := make([]error, n)
	c := ctx(t)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := echo.Say(c, &pb.EchoRequest{Message: fmt.Sprintf("m%d", i), DelayMs: 20})
			got[i], errs[i] = r.GetMessage(), err
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil || got[i] != fmt.Sprintf("m%d", i) {
			t.Errorf("call %d: %q, %v", i, got[i], errs[i])
		}
	}
}

// ---- metadata -----------------------------------------------------------------

func echoMD() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(),
		"x-echo-a", "1", "x-echo-user", "gopher", "x-not-echoed", "no")
}

func checkEchoedMD(t *testing.T, header, trailer metadata.MD) {
	t.Helper()
	wantValues(t, header, "x-echo-a", "1")
	wantValues(t, header, "x-echo-user", "gopher")
	wantValues(t, header, "x-not-echoed")
	wantValues(t, header, "x-echo-a-trailer")
	wantValues(t, trailer, "x-echo-a-trailer", "1")
	wantValues(t, trailer, "x-echo-user-trailer", "gopher")
	wantValues(t, trailer, "x-echo-a")
	wantValues(t, trailer, "x-not-echoed-trailer")
}

func TestMetadataUnary(t *testing.T) {
	c, cancel := context.WithTimeout(echoMD(), 30*time.Second)
	defer cancel()
	var header, trailer metadata.MD
	r, err := echo.Say(c, &pb.EchoRequest{Message: "md"}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		t.Fatal(err)
	}
	if r.GetMessage() != "md" {
		t.Errorf("message %q", r.GetMessage())
	}
	checkEchoedMD(t, header, trailer)
}

func TestMetadataServerStream(t *testing.T) {
	c, cancel := context.WithTimeout(echoMD(), 30*time.Second)
	defer cancel()
	stream, err := echo.Expand(c, &pb.ExpandRequest{Message: "m", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	header, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	replies, err := recvAll(t, stream.Recv)
	if err != nil || len(replies) != 2 {
		t.Fatalf("%d replies, err %v; want 2, OK", len(replies), err)
	}
	checkEchoedMD(t, header, stream.Trailer())
}

func TestMetadataClientStream(t *testing.T) {
	c, cancel := context.WithTimeout(echoMD(), 30*time.Second)
	defer cancel()
	stream, err := echo.Collect(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.EchoRequest{Message: "x"}); err != nil {
		t.Fatal(err)
	}
	r, err := stream.CloseAndRecv()
	if err != nil || r.GetJoined() != "x" {
		t.Fatalf("Collect = %v, %v", r, err)
	}
	header, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	checkEchoedMD(t, header, stream.Trailer())
}

func TestMetadataBidi(t *testing.T) {
	c, cancel := context.WithTimeout(echoMD(), 30*time.Second)
	defer cancel()
	stream, err := echo.Chat(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.EchoRequest{Message: "hi"}); err != nil {
		t.Fatal(err)
	}
	// Headers arrive with (or before) the first reply.
	header, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.GetMessage() != "hi" {
		t.Fatalf("Recv = %v, %v", r, err)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after CloseSend = %v, want io.EOF", err)
	}
	checkEchoedMD(t, header, stream.Trailer())
}

// ---- errors, deadlines, cancellation -----------------------------------------

func TestErrorStatusWithMessage(t *testing.T) {
	_, err := echo.Say(ctx(t), &pb.EchoRequest{Message: "x", FailCode: uint32(codes.PermissionDenied), FailMessage: "not for you"})
	st := wantCode(t, err, codes.PermissionDenied)
	if want := "not for you"; st.Message() != want {
		t.Errorf("status message %q, want %q", st.Message(), want)
	}
}

func TestErrorStatusEveryCode(t *testing.T) {
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		msg := fmt.Sprintf("failing with %v", c)
		_, err := echo.Say(ctx(t), &pb.EchoRequest{FailCode: uint32(c), FailMessage: msg})
		st := wantCode(t, err, c)
		if st.Message() != msg {
			t.Errorf("code %v: message %q, want %q", c, st.Message(), msg)
		}
	}
}

func TestErrorStatusBadCode(t *testing.T) {
	_, err := echo.Say(ctx(t), &pb.EchoRequest{FailCode: 99, FailMessage: "nope"})
	st := wantCode(t, err, codes.InvalidArgument)
	if st.Message() != "fail_code 99 is not a gRPC status code (0..16)" {
		t.Errorf("message %q", st.Message())
	}
}

func TestErrorStatusInStreams(t *testing.T) {
	// Collect: the failing message ends the call with its status.
	cs, err := echo.Collect(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	cs.Send(&pb.EchoRequest{Message: "ok"})
	cs.Send(&pb.EchoRequest{FailCode: uint32(codes.ResourceExhausted), FailMessage: "too much"})
	_, err = cs.CloseAndRecv()
	if st := wantCode(t, err, codes.ResourceExhausted); st.Message() != "too much" {
		t.Errorf("Collect: message %q", st.Message())
	}

	// Chat: replies before the failing message arrive, then the status.
	bs, err := echo.Chat(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Send(&pb.EchoRequest{Message: "fine"}); err != nil {
		t.Fatal(err)
	}
	if r, err := bs.Recv(); err != nil || r.GetMessage() != "fine" {
		t.Fatalf("Chat first reply = %v, %v", r, err)
	}
	if err := bs.Send(&pb.EchoRequest{FailCode: uint32(codes.FailedPrecondition), FailMessage: "chat says no"}); err != nil {
		t.Fatal(err)
	}
	_, err = bs.Recv()
	if st := wantCode(t, err, codes.FailedPrecondition); st.Message() != "chat says no" {
		t.Errorf("Chat: message %q", st.Message())
	}
}

func TestDeadlineExceededUnary(t *testing.T) {
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := echo.Say(c, &pb.EchoRequest{Message: "slow", DelayMs: 5000})
	wantCode(t, err, codes.DeadlineExceeded)
	sayStillWorks(t, "after the deadline")
}

func TestDeadlineExceededServerStream(t *testing.T) {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stream, err := echo.Expand(c, &pb.ExpandRequest{Message: "s", Count: 1000, IntervalMs: 100})
	if err != nil {
		t.Fatal(err)
	}
	replies, err := recvAll(t, stream.Recv)
	wantCode(t, err, codes.DeadlineExceeded)
	if len(replies) >= 1000 {
		t.Errorf("got all %d replies before the deadline", len(replies))
	}
	for i, r := range replies {
		if r.GetIndex() != uint32(i) {
			t.Fatalf("reply %d has index %d", i, r.GetIndex())
		}
	}
	sayStillWorks(t, "after the stream deadline")
}

func TestCancelServerStreamMidway(t *testing.T) {
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := echo.Expand(c, &pb.ExpandRequest{Message: "c", Count: 1000, IntervalMs: 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		r, err := stream.Recv()
		if err != nil || r.GetIndex() != uint32(i) {
			t.Fatalf("reply %d = %v, %v", i, r, err)
		}
	}
	cancel()
	rest, err := recvAll(t, stream.Recv)
	wantCode(t, err, codes.Canceled)
	if 2+len(rest) >= 1000 {
		t.Errorf("stream ran to its end (%d replies) despite the cancel", 2+len(rest))
	}
	sayStillWorks(t, "still here")

	// A whole new stream on the same connection is served too.
	stream, err = echo.Expand(ctx(t), &pb.ExpandRequest{Message: "again", Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	replies, err := recvAll(t, stream.Recv)
	if err != nil || len(replies) != 3 || replies[2].GetMessage() != "again" {
		t.Fatalf("Expand after the cancel: %d replies, %v", len(replies), err)
	}
}

func TestCancelBidiMidway(t *testing.T) {
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := echo.Chat(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.EchoRequest{Message: "first"}); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.GetMessage() != "first" {
		t.Fatalf("first reply = %v, %v", r, err)
	}
	// The next request asks the shim to wait; the client gives up meanwhile.
	if err := stream.Send(&pb.EchoRequest{Message: "second", DelayMs: 10000}); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = stream.Recv()
	wantCode(t, err, codes.Canceled)
	sayStillWorks(t, "next")
}

func TestCancelDuringUnaryDelay(t *testing.T) {
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := echo.Say(c, &pb.EchoRequest{Message: "slow", DelayMs: 10000})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // let the call reach the shim (either way it must end CANCELLED)
	cancel()
	wantCode(t, <-done, codes.Canceled)
	sayStillWorks(t, "after the cancel")
}

// ---- unknown methods, health, reflection -------------------------------------

func TestUnknownMethodIsUnimplemented(t *testing.T) {
	for _, method := range []string{
		"/shimkit.examples.v1.Echo/NoSuchMethod",
		"/no.such.v1.Service/Call",
	} {
		err := conn.Invoke(ctx(t), method, &emptypb.Empty{}, &emptypb.Empty{})
		if st, _ := status.FromError(err); st.Code() != codes.Unimplemented {
			t.Errorf("%s: %v, want Unimplemented", method, err)
		}
	}
	sayStillWorks(t, "after unknown methods")
}

func TestHealthCheck(t *testing.T) {
	h := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", echoService} {
		r, err := h.Check(ctx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("Check(%q): %v", svc, err)
		}
		if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, want SERVING", svc, r.GetStatus())
		}
	}
	_, err := h.Check(ctx(t), &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	wantCode(t, err, codes.NotFound)
}

func reflect1(t *testing.T, req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("reflection stream end: %v, want io.EOF", err)
	}
	if e := resp.GetErrorResponse(); e != nil {
		t.Fatalf("reflection error %d: %s", e.GetErrorCode(), e.GetErrorMessage())
	}
	return resp
}

func TestReflectionListServices(t *testing.T) {
	resp := reflect1(t, &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	})
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	sort.Strings(names)
	for _, want := range []string{echoService, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if i := sort.SearchStrings(names, want); i == len(names) || names[i] != want {
			t.Errorf("ListServices = %v, lacks %s", names, want)
		}
	}
}

// The descriptor the shim serves for Echo matches the one the Go stubs were
// generated from: same methods, same streaming kinds.
func TestReflectionDescribesEcho(t *testing.T) {
	resp := reflect1(t, &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: echoService},
	})
	var svc *descriptorpb.ServiceDescriptorProto
	for _, raw := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, fd); err != nil {
			t.Fatalf("file descriptor: %v", err)
		}
		if fd.GetPackage() != "shimkit.examples.v1" {
			continue
		}
		for _, s := range fd.GetService() {
			if s.GetName() == "Echo" {
				svc = s
			}
		}
	}
	if svc == nil {
		t.Fatalf("no service Echo in the %d file(s) reflection sent", len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()))
	}
	type kind struct{ client, server bool }
	got := map[string]kind{}
	for _, m := range svc.GetMethod() {
		got[m.GetName()] = kind{m.GetClientStreaming(), m.GetServerStreaming()}
	}
	want := map[string]kind{}
	for _, m := range pb.Echo_ServiceDesc.Methods {
		want[m.MethodName] = kind{}
	}
	for _, s := range pb.Echo_ServiceDesc.Streams {
		want[s.StreamName] = kind{s.ClientStreams, s.ServerStreams}
	}
	if len(want) != 4 || !reflect.DeepEqual(got, want) {
		t.Errorf("reflection methods %v, stubs %v", got, want)
	}
}
