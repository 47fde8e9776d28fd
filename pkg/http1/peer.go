//go:build unix

package http1

import (
	"errors"
	"net"
	"syscall"
)

// peerOpen reports whether an idle connection is still open at the other end: nothing to read
// on it, not even the end of the stream an upstream closing it would send. One non-blocking
// peek, so a connection the upstream dropped while it was idle is never written to. A
// connection that cannot be peeked at (not a socket) is taken as open.
func peerOpen(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing waiting, the connection is idle as it should be. Anything else (the
		// end of the stream, bytes nobody asked for, an error) makes it unusable.
		open = errors.Is(err, syscall.EAGAIN)
		return true
	})
	return err == nil && open
}
