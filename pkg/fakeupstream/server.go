package fakeupstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a Handler listening on a TCP address.
type Server struct {
	*Handler
	srv    *http.Server
	url    string
	served chan struct{}
}

// New starts a Server on a free loopback port, like httptest.NewServer, and panics if it
// cannot listen.
func New(opts ...Option) *Server {
	s, err := Start("127.0.0.1:0", opts...)
	if err != nil {
		panic(fmt.Sprintf("fakeupstream: %v", err))
	}
	return s
}

// Start starts a Server listening on addr ("host:port"; port 0 picks a free one).
func Start(addr string, opts ...Option) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	h := NewHandler(opts...)
	s := &Server{
		Handler: h,
		srv:     &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second},
		url:     "http://" + ln.Addr().String(),
		served:  make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL returns the base URL, e.g. "http://127.0.0.1:40123"; endpoints hang below it
// (URL()+"/v1/messages").
func (s *Server) URL() string { return s.url }

// Close releases hung requests and closes the listener and every connection at once.
func (s *Server) Close() {
	s.Handler.Close()
	_ = s.srv.Close()
	<-s.served
}

// Shutdown releases hung requests, stops accepting, and waits for the requests being served
// to finish until ctx ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Handler.Close()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		_ = s.srv.Close()
	}
	<-s.served
	return err
}
