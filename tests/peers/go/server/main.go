// grpc-go peer server for grpcwire's interop tests and captures: helloworld.Greeter (as in
// grpc-go's examples/helloworld greeter_server) plus grpcwire.test.Lab, whose Control message
// drives every scenario (streams, sizes, sleeps, errors with details).
// Built in GOPATH mode against Debian's grpc-go 1.33 and golang/protobuf 1.3 by tests/peers/build.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/golang/protobuf/proto"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // lets the server answer gzip requests in gzip
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	pb "grpcwire/pb/helloworld"
	lab "grpcwire/pb/lab"
)

type greeter struct {
	pb.UnimplementedGreeterServer
}

func (greeter) SayHello(ctx context.Context, in *pb.HelloRequest) (*pb.HelloReply, error) {
	return &pb.HelloReply{Message: "Hello " + in.GetName()}, nil
}

func (greeter) SayHelloStreamReply(in *pb.HelloRequest, s pb.Greeter_SayHelloStreamReplyServer) error {
	for i := 0; i < 3; i++ {
		if err := s.Send(&pb.HelloReply{Message: fmt.Sprintf("Hello %s #%d", in.GetName(), i)}); err != nil {
			return err
		}
	}
	return nil
}

func (greeter) SayHelloBidiStream(s pb.Greeter_SayHelloBidiStreamServer) error {
	for {
		in, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&pb.HelloReply{Message: "Hello " + in.GetName()}); err != nil {
			return err
		}
	}
}

type labServer struct {
	lab.UnimplementedLabServer
}

// pattern makes reply blobs that are the same in every peer: byte i is i mod 251.
func pattern(n int32) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// sleep waits ms milliseconds or until the call ends, whichever is first.
func sleep(ctx context.Context, ms int32) error {
	if ms <= 0 {
		return nil
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failure turns Control.fail_code into a status error, with a google.rpc.BadRequest detail when
// asked, so that grpc-status-details-bin appears in the trailers.
func failure(c *lab.Control) error {
	if c.GetFailCode() == 0 {
		return nil
	}
	st := status.New(codes.Code(c.GetFailCode()), c.GetFailMessage())
	if c.GetWithDetails() {
		br := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "record.name", Description: c.GetFailMessage()},
		}}
		if ds, err := st.WithDetails(br); err == nil {
			st = ds
		}
	}
	return st.Err()
}

func reply(seq int32, rec *lab.Record, c *lab.Control, note string) *lab.LabReply {
	r := &lab.LabReply{Seq: seq, Note: note}
	if rec != nil {
		r.Record = proto.Clone(rec).(*lab.Record)
	}
	if c.GetReplySize() > 0 {
		if r.Record == nil {
			r.Record = &lab.Record{}
		}
		r.Record.Blob = pattern(c.GetReplySize())
	}
	return r
}

func (labServer) Unary(ctx context.Context, in *lab.LabRequest) (*lab.LabReply, error) {
	c := in.GetControl()
	if err := sleep(ctx, c.GetSleepMs()); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if err := failure(c); err != nil {
		return nil, err
	}
	return reply(in.GetSeq(), in.GetRecord(), c, "unary"), nil
}

func (labServer) ServerStream(in *lab.LabRequest, s lab.Lab_ServerStreamServer) error {
	c := in.GetControl()
	ctx := s.Context()
	if err := sleep(ctx, c.GetSleepMs()); err != nil {
		return status.FromContextError(err).Err()
	}
	if err := failure(c); err != nil {
		return err
	}
	n := c.GetReplyCount()
	if n <= 0 {
		n = 1
	}
	for i := int32(0); i < n; i++ {
		if i > 0 {
			if err := sleep(ctx, c.GetIntervalMs()); err != nil {
				return status.FromContextError(err).Err()
			}
		}
		if err := s.Send(reply(i, in.GetRecord(), c, "server_stream")); err != nil {
			return err
		}
	}
	return nil
}

func (labServer) ClientStream(s lab.Lab_ClientStreamServer) error {
	var last *lab.LabRequest
	var n int32
	for {
		in, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		last = in
		n++
	}
	if err := failure(last.GetControl()); err != nil {
		return err
	}
	return s.SendAndClose(reply(n, last.GetRecord(), last.GetControl(), fmt.Sprintf("received %d", n)))
}

func (labServer) Bidi(s lab.Lab_BidiServer) error {
	for {
		in, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := failure(in.GetControl()); err != nil {
			return err
		}
		if err := s.Send(reply(in.GetSeq(), in.GetRecord(), in.GetControl(), "bidi")); err != nil {
			return err
		}
	}
}

func main() {
	port := flag.Int("port", 50051, "TCP port to listen on")
	host := flag.String("host", "127.0.0.1", "address to listen on (127.0.0.1 or ::1)")
	flag.Parse()

	lis, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "go server: listen: %v\n", err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, greeter{})
	lab.RegisterLabServer(s, labServer{})
	reflection.Register(s) // so captures can hold a reflection exchange (grpcwire learns from it)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		// Graceful first so captures end with GOAWAY and clean FINs; a stuck stream must not
		// keep the test waiting, hence the hard stop after a second.
		done := make(chan struct{})
		go func() { s.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
			s.Stop()
		}
	}()

	fmt.Printf("listening on %d\n", lis.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	if err := s.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "go server: serve: %v\n", err)
		os.Exit(1)
	}
}
