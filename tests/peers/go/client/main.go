// grpc-go peer client: runs named scenarios against a peer server and prints one line per call,
// "call <method> status=<CODE> ...", exiting 0 only when every call ends as the scenario expects.
// The request content is the canonical Lab record that the Python and Node clients also send,
// so captures from different peers carry the same protobuf values.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/golang/protobuf/ptypes/any"
	"github.com/golang/protobuf/ptypes/timestamp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	pb "grpcwire/pb/helloworld"
	lab "grpcwire/pb/lab"
)

const (
	mUnary   = "/grpcwire.test.Lab/Unary"
	mSStream = "/grpcwire.test.Lab/ServerStream"
	mCStream = "/grpcwire.test.Lab/ClientStream"
	mBidi    = "/grpcwire.test.Lab/Bidi"
	mMissing = "/grpcwire.test.Lab/Missing"
	failMsg  = "résumé ✓"
)

var failed bool

// report prints the call line and records whether the status was the expected one.
func report(method string, err error, want codes.Code, extra string) {
	st := status.Convert(err)
	line := fmt.Sprintf("call %s status=%s", method, codeName(st.Code()))
	if st.Code() != codes.OK {
		line += fmt.Sprintf(" message=%q", st.Message())
	}
	if extra != "" {
		line += " " + extra
	}
	if st.Code() != want {
		line += " UNEXPECTED(want " + codeName(want) + ")"
		failed = true
	}
	fmt.Println(line)
}

func codeName(c codes.Code) string {
	// The canonical upper-case names, as in grpc's doc/statuscodes.md.
	names := []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
		"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	if int(c) < len(names) {
		return names[c]
	}
	return fmt.Sprintf("CODE_%d", c)
}

func check(cond bool, what string) {
	if !cond {
		fmt.Println("check failed: " + what)
		failed = true
	}
}

// record is the canonical request content; keep it in step with py/client.py and node/client.js.
func record() *lab.Record {
	pt, _ := proto.Marshal(&lab.Record_Point{X: 1, Y: 2})
	return &lab.Record{
		Name:     "lab",
		Kind:     lab.Kind_KIND_DATA,
		Samples:  []int32{1, -2, 300, 70000},
		Tags:     []string{"a", "résumé"},
		Counters: map[string]int64{"x": 1, "y": -1},
		Value:    &lab.Record_Point_{Point: &lab.Record_Point{X: 3, Y: -4}},
		At:       &timestamp.Timestamp{Seconds: 1724897757, Nanos: 925436000},
		Extra:    &any.Any{TypeUrl: "type.googleapis.com/grpcwire.test.Record.Point", Value: pt},
		Origin:   &lab.Record_Point{X: -1, Y: 1},
		Path:     []*lab.Record_Point{{X: 1, Y: 1}, {X: 2, Y: 4}},
		Blob:     []byte{0x00, 0x01, 0x02, 0xff},
		Id:       0x0102030405060708,
		Ratio:    0.5,
		Flag:     true,
		Big:      18446744073709551615,
		Weights:  []float64{1.5, -2.25},
		Delta:    -5,
	}
}

func req(seq int32, c *lab.Control) *lab.LabRequest {
	return &lab.LabRequest{Seq: seq, Control: c, Record: record()}
}

func ctxT(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func greeter(conn *grpc.ClientConn) {
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	r, err := pb.NewGreeterClient(conn).SayHello(ctx, &pb.HelloRequest{Name: "world"})
	report("/helloworld.Greeter/SayHello", err, codes.OK, "")
	if err == nil {
		fmt.Printf("Greeting: %s\n", r.GetMessage())
		check(r.GetMessage() == "Hello world", "greeting text")
	}
}

func unary(c lab.LabClient, seq int32, ctl *lab.Control, want codes.Code, opts ...grpc.CallOption) *lab.LabReply {
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	r, err := c.Unary(ctx, req(seq, ctl), opts...)
	extra := ""
	if err == nil {
		extra = fmt.Sprintf("seq=%d", r.GetSeq())
	}
	report(mUnary, err, want, extra)
	return r
}

func serverStream(c lab.LabClient, n int32) {
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	s, err := c.ServerStream(ctx, req(1, &lab.Control{ReplyCount: n, ReplySize: 16}))
	got := int32(0)
	for err == nil {
		_, err = s.Recv()
		if err == nil {
			got++
		}
	}
	if err == io.EOF {
		err = nil
	}
	report(mSStream, err, codes.OK, fmt.Sprintf("replies=%d", got))
	check(got == n, "server_stream reply count")
}

func clientStream(c lab.LabClient, n int32) {
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	s, err := c.ClientStream(ctx)
	for i := int32(0); err == nil && i < n; i++ {
		err = s.Send(req(i, nil))
	}
	var r *lab.LabReply
	if err == nil {
		r, err = s.CloseAndRecv()
	}
	report(mCStream, err, codes.OK, fmt.Sprintf("seq=%d", r.GetSeq()))
	check(err != nil || r.GetSeq() == n, "client_stream count")
}

func bidi(c lab.LabClient, n int32) {
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	s, err := c.Bidi(ctx)
	got := int32(0)
	// Ping-pong: each request waits for its reply, so the frames interleave on the wire.
	for i := int32(0); err == nil && i < n; i++ {
		if err = s.Send(req(i, nil)); err == nil {
			var r *lab.LabReply
			if r, err = s.Recv(); err == nil {
				check(r.GetSeq() == i, "bidi seq")
				got++
			}
		}
	}
	if err == nil {
		err = s.CloseSend()
	}
	if err == nil {
		if _, err = s.Recv(); err == io.EOF {
			err = nil
		}
	}
	report(mBidi, err, codes.OK, fmt.Sprintf("replies=%d", got))
}

func errorDetails(c lab.LabClient) {
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	_, err := c.Unary(ctx, req(1, &lab.Control{FailCode: int32(codes.InvalidArgument),
		FailMessage: failMsg, WithDetails: true}))
	st := status.Convert(err)
	nd := 0
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
			nd++
		}
	}
	report(mUnary, err, codes.InvalidArgument, fmt.Sprintf("details=%d", nd))
	check(st.Message() == failMsg, "error message text")
	check(nd == 1, "one BadRequest detail")
}

func unimplemented(conn *grpc.ClientConn) {
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	err := conn.Invoke(ctx, mMissing, req(1, nil), &lab.LabReply{})
	report(mMissing, err, codes.Unimplemented, "")
}

func deadline(c lab.LabClient) {
	ctx, cancel := ctxT(100 * time.Millisecond)
	defer cancel()
	_, err := c.Unary(ctx, req(1, &lab.Control{SleepMs: 500}))
	report(mUnary, err, codes.DeadlineExceeded, "")
	// Give the server's RST_STREAM/trailers a moment to reach the wire before the next scenario.
	time.Sleep(500 * time.Millisecond)
}

func concurrent(c lab.LabClient, n int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(seq int32) {
			defer wg.Done()
			ctx, cancel := ctxT(10 * time.Second)
			defer cancel()
			r, err := c.Unary(ctx, req(seq, nil))
			mu.Lock()
			defer mu.Unlock()
			report(mUnary, err, codes.OK, fmt.Sprintf("seq=%d", seq))
			check(err != nil || r.GetSeq() == seq, "concurrent seq")
		}(int32(i))
	}
	wg.Wait()
}

func cancelStream(c lab.LabClient) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.ServerStream(ctx, req(1, &lab.Control{ReplyCount: 100, IntervalMs: 50}))
	if err == nil {
		_, err = s.Recv()
	}
	if err != nil {
		cancel()
		report(mSStream, err, codes.Canceled, "replies=0")
		return
	}
	cancel()
	for err == nil {
		_, err = s.Recv()
	}
	report(mSStream, err, codes.Canceled, "replies=1")
	time.Sleep(200 * time.Millisecond)
}

var scenarios = []string{"greeter", "unary", "server_stream", "client_stream", "bidi", "large",
	"gzip", "error_details", "unimplemented", "deadline", "concurrent", "cancel", "reflection", "load"}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// load is benchmark traffic, not a check: LOAD_CONC goroutines spread over LOAD_CONNS
// connections loop unary calls for LOAD_SECONDS, each with its own deadline (so grpc-timeout
// varies per call, as in real services). Mix: 90% SayHello("world"), 8% Lab/Unary with the
// canonical record, 1% of those gzip, 2% Lab/Unary failing NOT_FOUND with a grpc-message.
func load(addr string) {
	secs, conc, nconn := envInt("LOAD_SECONDS", 5), envInt("LOAD_CONC", 32), envInt("LOAD_CONNS", 4)
	conns := make([]*grpc.ClientConn, nconn)
	for i := range conns {
		ctx, cancel := ctxT(10 * time.Second)
		c, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithBlock())
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go client: load dial %s: %v\n", addr, err)
			os.Exit(1)
		}
		defer c.Close()
		conns[i] = c
	}
	end := time.Now().Add(time.Duration(secs) * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	calls, bad := 0, 0
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			conn := conns[g%nconn]
			greet, lc := pb.NewGreeterClient(conn), lab.NewLabClient(conn)
			n, nbad := 0, 0
			for i := g; time.Now().Before(end); i++ {
				ctx, cancel := ctxT(time.Duration(2000+(i*37)%3000) * time.Millisecond)
				var err error
				want := codes.OK
				switch k := (i * 7919) % 100; {
				case k < 90:
					_, err = greet.SayHello(ctx, &pb.HelloRequest{Name: "world"})
				case k < 98:
					var opts []grpc.CallOption
					if k == 97 && i%2 == 0 {
						opts = append(opts, grpc.UseCompressor(gzip.Name))
					}
					_, err = lc.Unary(ctx, req(int32(i), nil), opts...)
				default:
					want = codes.NotFound
					_, err = lc.Unary(ctx, req(int32(i), &lab.Control{FailCode: int32(codes.NotFound),
						FailMessage: "no such record"}))
				}
				cancel()
				n++
				if status.Code(err) != want {
					nbad++
				}
			}
			mu.Lock()
			calls += n
			bad += nbad
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	fmt.Printf("load calls=%d unexpected=%d conns=%d conc=%d seconds=%d\n", calls, bad, nconn, conc, secs)
	if bad > 0 {
		failed = true
	}
}

// reflectionInfo asks the server's reflection service for its services, then for the file that
// defines grpcwire.test.Lab, as grpcurl does before a call.
func reflectionInfo(conn *grpc.ClientConn) {
	const m = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
	ctx, cancel := ctxT(5 * time.Second)
	defer cancel()
	st, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		report(m, err, codes.OK, "")
		failed = true
		return
	}
	files := 0
	for _, q := range []*rpb.ServerReflectionRequest{
		{MessageRequest: &rpb.ServerReflectionRequest_ListServices{ListServices: "*"}},
		{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "grpcwire.test.Lab"}},
	} {
		if err = st.Send(q); err != nil {
			break
		}
		var r *rpb.ServerReflectionResponse
		if r, err = st.Recv(); err != nil {
			break
		}
		files += len(r.GetFileDescriptorResponse().GetFileDescriptorProto())
	}
	if err == nil {
		err = st.CloseSend()
	}
	if err == nil {
		_, err = st.Recv()
		if err == io.EOF {
			err = nil
		}
	}
	report(m, err, codes.OK, fmt.Sprintf("files=%d", files))
	check(err == nil && files > 0, "reflection returned file descriptors")
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s ADDR SCENARIO...\nscenarios: %s\n", os.Args[0],
			strings.Join(scenarios, " "))
	}
	flag.Parse()
	if flag.NArg() < 2 {
		flag.Usage()
		os.Exit(2)
	}
	// load dials its own connections; it runs alone so the capture holds only its traffic.
	if flag.NArg() == 2 && flag.Arg(1) == "load" {
		load(flag.Arg(0))
		if failed {
			os.Exit(1)
		}
		return
	}
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, flag.Arg(0), grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8<<20), grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "go client: dial %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
	defer conn.Close()
	c := lab.NewLabClient(conn)
	for _, sc := range flag.Args()[1:] {
		switch sc {
		case "greeter":
			greeter(conn)
		case "unary":
			r := unary(c, 1, nil, codes.OK)
			check(r != nil && proto.Equal(r.GetRecord(), record()), "unary echo")
		case "server_stream":
			serverStream(c, 5)
		case "client_stream":
			clientStream(c, 5)
		case "bidi":
			bidi(c, 5)
		case "large":
			ctx, cancel := ctxT(10 * time.Second)
			q := req(1, &lab.Control{ReplySize: 1 << 20})
			q.Record.Blob = make([]byte, 1<<20)
			for i := range q.Record.Blob {
				q.Record.Blob[i] = byte(i % 251)
			}
			r, err := c.Unary(ctx, q)
			cancel()
			report(mUnary, err, codes.OK, fmt.Sprintf("reply_blob=%d", len(r.GetRecord().GetBlob())))
			check(err != nil || len(r.GetRecord().GetBlob()) == 1<<20, "large reply size")
		case "gzip":
			q := &lab.Control{}
			r := unary(c, 1, q, codes.OK, grpc.UseCompressor(gzip.Name))
			check(r != nil && proto.Equal(r.GetRecord(), record()), "gzip echo")
		case "error_details":
			errorDetails(c)
		case "unimplemented":
			unimplemented(conn)
		case "deadline":
			deadline(c)
		case "concurrent":
			concurrent(c, 50)
		case "cancel":
			cancelStream(c)
		case "reflection":
			reflectionInfo(conn)
		case "load":
			load(flag.Arg(0))
		default:
			fmt.Fprintf(os.Stderr, "go client: unknown scenario %q\n", sc)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}
