// The echo shim as a real child process on a free loopback port, for the tests
// of this package. The program comes from $SHIMKIT_ECHO_SHIM (a path, or a
// command line split on spaces, like the Python and Node helpers). It is
// started with --listen 127.0.0.1:0 plus the given arguments; startShim waits
// for its "listening on HOST:PORT" line on stderr.
package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

var listeningRE = regexp.MustCompile(`listening on (\S+?):(\d+)\b`)

type shim struct {
	cmd    *exec.Cmd
	target string // 127.0.0.1:PORT
	exited chan struct{}

	mu  sync.Mutex
	log strings.Builder
}

func startShim(startTimeout time.Duration, args ...string) (*shim, error) {
	spec := strings.Fields(os.Getenv("SHIMKIT_ECHO_SHIM"))
	if len(spec) == 0 {
		return nil, errors.New("SHIMKIT_ECHO_SHIM is not set: point it at build/services/echo/echo_shim")
	}
	argv := append(append(spec[1:len(spec):len(spec)], "--listen", "127.0.0.1:0"), args...)
	cmd := exec.Command(spec[0], argv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec[0], err)
	}
	s := &shim{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stderr)
		found := false
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				s.mu.Lock()
				s.log.WriteString(strings.TrimRight(line, "\n") + "\n")
				s.mu.Unlock()
				if !found {
					if m := listeningRE.FindStringSubmatch(line); m != nil {
						found = true
						ready <- "127.0.0.1:" + m[2]
					}
				}
			}
			if err != nil {
				break
			}
		}
		// All of stderr is read: now Wait may close the pipe.
		_ = cmd.Wait()
		close(s.exited)
	}()

	select {
	case s.target = <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("shim exited with %d before listening:\n%s", cmd.ProcessState.ExitCode(), s.Log())
	case <-time.After(startTimeout):
		s.kill()
		return nil, fmt.Errorf("shim did not print 'listening on' within %v:\n%s", startTimeout, s.Log())
	}
}

// Log is everything the shim wrote on stderr so far.
func (s *shim) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *shim) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and returns the exit code (-1 if a signal ended it); if
// the shim does not exit within timeout it is killed and an error returned.
func (s *shim) stop(timeout time.Duration) (int, error) {
	if s.alive() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode(), nil
	case <-time.After(timeout):
		s.kill()
		return -1, fmt.Errorf("shim did not exit within %v of SIGTERM", timeout)
	}
}

func (s *shim) kill() {
	if s.alive() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
