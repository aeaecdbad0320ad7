// rpf-netns-listen opens listening TCP sockets inside a pod's network
// namespace for rpf-agent and hands each one back over the agent's Node.js IPC
// channel, as a net.Server. It does what `nsenter --net=PATH node
// listener-helper.js` does, in about 2 ms instead of about 45 ms (no Node.js
// start-up): most of what a session waits for on the agent.
//
// Usage (by rpf-agent only): rpf-netns-listen --netns-fd=3, the namespace
// given as an open descriptor (the one the agent identified: what it checked
// is what is entered, never a path looked up again), or --net=PATH; the IPC
// channel's descriptor in NODE_CHANNEL_FD. The messages are Node's IPC
// "json" serialization: one JSON object per line. Requests and replies are
// those of listener-helper.ts; a socket travels as Node's own internal
// NODE_HANDLE message, its descriptor attached with SCM_RIGHTS.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// setns() changes the namespace of the calling thread only: the sockets must
// be created on the thread that entered, so main stays on it.
func init() { runtime.LockOSThread() }

type request struct {
	Type    string `json:"type"`
	Cmd     string `json:"cmd"`
	ID      int    `json:"id"`
	Address string `json:"address"`
	Port    int    `json:"port"`
}

type listening struct {
	Type    string `json:"type"`
	ID      int    `json:"id"`
	Address string `json:"address"`
	Port    int    `json:"port"`
}

type failed struct {
	Type    string `json:"type"`
	ID      int    `json:"id"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// nodeHandle is how Node's child_process sends a handle: the parent turns the
// attached descriptor into a net.Server and delivers msg with it.
type nodeHandle struct {
	Cmd  string    `json:"cmd"`
	Type string    `json:"type"`
	Msg  listening `json:"msg"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "rpf-netns-listen: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 || !(strings.HasPrefix(os.Args[1], "--net=") || strings.HasPrefix(os.Args[1], "--netns-fd=")) {
		fmt.Fprintln(os.Stderr, "usage: rpf-netns-listen --netns-fd=N | --net=/proc/PID/ns/net (started by rpf-agent with an IPC channel)")
		os.Exit(2)
	}
	channel, err := strconv.Atoi(os.Getenv("NODE_CHANNEL_FD"))
	if err != nil {
		fail("must be started by rpf-agent with an IPC channel (NODE_CHANNEL_FD is not set)")
	}
	if fdText, ok := strings.CutPrefix(os.Args[1], "--netns-fd="); ok {
		fd, err := strconv.Atoi(fdText)
		if err != nil || fd < 0 || fd == channel {
			fail("--netns-fd: not a descriptor: %q", fdText)
		}
		err = setns(fd, fmt.Sprintf("descriptor %d", fd))
		syscall.Close(fd)
		if err != nil {
			fail("%v", err)
		}
	} else if err := enterNetns(strings.TrimPrefix(os.Args[1], "--net=")); err != nil {
		fail("%v", err)
	}
	if err := syscall.SetNonblock(channel, false); err != nil {
		fail("IPC channel: %v", err)
	}
	lines := bufio.NewReader(fdReader(channel))
	for {
		line, err := lines.ReadBytes('\n')
		if len(line) > 0 {
			var req request
			if json.Unmarshal(line, &req) != nil {
				fail("unreadable message from rpf-agent: %q", line)
			}
			switch {
			case strings.HasPrefix(req.Cmd, "NODE_"): // Node's acknowledgements of our handles
			case req.Type == "listen":
				if err := listen(channel, req); err != nil {
					fail("IPC channel: %v", err)
				}
			case req.Type == "exit":
				os.Exit(0)
			}
		}
		if err == io.EOF {
			os.Exit(0) // the agent closed the channel: nothing more to do
		}
		if err != nil {
			fail("IPC channel: %v", err)
		}
	}
}

func enterNetns(path string) error {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cannot open %s: %v", path, err)
	}
	defer syscall.Close(fd)
	return setns(fd, path)
}

// setns enters the network namespace fd refers to; CLONE_NEWNET makes the
// kernel refuse (EINVAL) a descriptor of anything else.
func setns(fd int, what string) error {
	if _, _, errno := syscall.RawSyscall(sysSetns, uintptr(fd), syscall.CLONE_NEWNET, 0); errno != 0 {
		return fmt.Errorf("setns %s: %v", what, errno)
	}
	return nil
}

// listen opens one listener the way Node's net.Server.listen does (libuv sets
// SO_REUSEADDR; backlog 511) and sends it, or the reason it failed.
func listen(channel int, req request) error {
	fd, port, errno := openListener(req.Address, req.Port)
	if errno != nil {
		code, message := errnoCode(errno)
		return send(channel, failed{Type: "failed", ID: req.ID, Address: req.Address, Port: req.Port, Code: code,
			Message: fmt.Sprintf("listen %s: %s %s", code, message, hostPort(req.Address, req.Port))}, -1)
	}
	defer syscall.Close(fd)
	return send(channel, nodeHandle{Cmd: "NODE_HANDLE", Type: "net.Server",
		Msg: listening{Type: "listening", ID: req.ID, Address: req.Address, Port: port}}, fd)
}

func openListener(address string, port int) (int, int, error) {
	ip, err := netip.ParseAddr(address)
	if err != nil || port < 0 || port > 65535 {
		return -1, 0, syscall.EINVAL
	}
	family := syscall.AF_INET6
	var sa syscall.Sockaddr = &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}
	if ip.Is4() {
		family = syscall.AF_INET
		sa = &syscall.SockaddrInet4{Port: port, Addr: ip.As4()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	if err = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err == nil {
		if err = syscall.Bind(fd, sa); err == nil {
			err = syscall.Listen(fd, 511)
		}
	}
	if err != nil {
		syscall.Close(fd)
		return -1, 0, err
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return -1, 0, err
	}
	switch a := bound.(type) {
	case *syscall.SockaddrInet4:
		port = a.Port
	case *syscall.SockaddrInet6:
		port = a.Port
	}
	return fd, port, nil
}

// send writes one message line, with fd attached when it is not -1.
func send(channel int, message any, fd int) error {
	line, err := json.Marshal(message)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	var rights []byte
	if fd >= 0 {
		rights = syscall.UnixRights(fd)
	}
	for len(line) > 0 {
		n, err := syscall.SendmsgN(channel, line, rights, nil, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		line, rights = line[n:], nil // the descriptor goes with the first byte only
	}
	return nil
}

// errnoCode names an error the way Node does (err.code) with its text.
func errnoCode(err error) (string, string) {
	names := map[syscall.Errno]string{
		syscall.EADDRINUSE: "EADDRINUSE", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL", syscall.EAFNOSUPPORT: "EAFNOSUPPORT",
		syscall.EACCES: "EACCES", syscall.EPERM: "EPERM", syscall.EINVAL: "EINVAL", syscall.EMFILE: "EMFILE",
		syscall.ENFILE: "ENFILE", syscall.ENOBUFS: "ENOBUFS", syscall.ENOMEM: "ENOMEM",
	}
	if errno, ok := err.(syscall.Errno); ok {
		if name, ok := names[errno]; ok {
			return name, errno.Error()
		}
		return "E" + strconv.Itoa(int(errno)), errno.Error()
	}
	return "UNKNOWN", err.Error()
}

func hostPort(address string, port int) string {
	if strings.Contains(address, ":") {
		return "[" + address + "]:" + strconv.Itoa(port)
	}
	return address + ":" + strconv.Itoa(port)
}

type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}
