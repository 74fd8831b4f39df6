// Command echo_server_go serves the Echo service of proto/examples/echo.proto
// on grpc-go: the Go peer of bench/. The stubs (package echopb) are generated
// by scripts/bench.sh with protoc-gen-go and protoc-gen-go-grpc at pinned
// versions into the build tree, next to a copy of this file.
//
//	echo_server_go --listen 127.0.0.1:0 [--name NAME]
//
// prints "listening on HOST:PORT" on stderr once ready; SIGTERM stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "shimkit.local/bench/peers/go/echopb"
)

type server struct {
	pb.UnimplementedEchoServer
	name string
}

func (s *server) reply(msg string, i uint32) *pb.EchoReply {
	return &pb.EchoReply{Message: msg, Index: i, HandledAt: timestamppb.Now(), ServedBy: s.name}
}

func echoMetadata(ctx context.Context, set func(header, trailer metadata.MD)) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return
	}
	header, trailer := metadata.MD{}, metadata.MD{}
	for k, vs := range md {
		if strings.HasPrefix(k, "x-echo-") {
			header[k] = vs
			trailer[k+"-trailer"] = vs
		}
	}
	if len(header) > 0 {
		set(header, trailer)
	}
}

func (s *server) Say(ctx context.Context, req *pb.EchoRequest) (*pb.EchoReply, error) {
	echoMetadata(ctx, func(h, t metadata.MD) { grpc.SetHeader(ctx, h); grpc.SetTrailer(ctx, t) })
	if req.DelayMs > 0 {
		select {
		case <-time.After(time.Duration(req.DelayMs) * time.Millisecond):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if req.FailCode != 0 {
		return nil, status.Error(codes.Code(req.FailCode), req.FailMessage)
	}
	return s.reply(req.Message, 0), nil
}

func (s *server) Expand(req *pb.ExpandRequest, stream pb.Echo_ExpandServer) error {
	echoMetadata(stream.Context(), func(h, t metadata.MD) { stream.SetHeader(h); stream.SetTrailer(t) })
	for i := uint32(0); i < req.Count; i++ {
		if i > 0 && req.IntervalMs > 0 {
			time.Sleep(time.Duration(req.IntervalMs) * time.Millisecond)
		}
		if err := stream.Send(s.reply(req.Message, i)); err != nil {
			return err
		}
	}
	return nil
}

func (s *server) Collect(stream pb.Echo_CollectServer) error {
	echoMetadata(stream.Context(), func(h, t metadata.MD) { stream.SetHeader(h); stream.SetTrailer(t) })
	var msgs []string
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&pb.CollectReply{Joined: strings.Join(msgs, " "), Count: uint32(len(msgs))})
		}
		if err != nil {
			return err
		}
		msgs = append(msgs, req.Message)
	}
}

func (s *server) Chat(stream pb.Echo_ChatServer) error {
	echoMetadata(stream.Context(), func(h, t metadata.MD) { stream.SetHeader(h); stream.SetTrailer(t) })
	for i := uint32(0); ; i++ {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(s.reply(req.Message, i)); err != nil {
			return err
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:50051", "address to serve on")
	name := flag.String("name", "echo-go", "served_by in replies")
	flag.Parse()
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo_server_go: cannot listen on %s: %v\n", *listen, err)
		os.Exit(1)
	}
	srv := grpc.NewServer()
	pb.RegisterEchoServer(srv, &server{name: *name})
	fmt.Fprintf(os.Stderr, "echo_server_go: listening on %s (name %s)\n", lis.Addr(), *name)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; srv.GracefulStop() }()
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "echo_server_go: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "echo_server_go: stopped")
}
