//go:build unix

package ldakit_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ldakit/conformance/ldakit"
)

// A FIFO in place of an .npy file hung ReadNpy in open(2) until a writer appeared; a FIFO, a
// socket and a directory are now NOT_A_FILE, naming the path, at once.
func TestReadNpyRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.npy")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder.npy")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	// Socket paths are short (108 bytes); the temp folder may be longer.
	sockDir, err := os.MkdirTemp("", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	socket := filepath.Join(sockDir, "s.npy")
	listener, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()

	for path, kind := range map[string]string{fifo: "a FIFO", folder: "a directory", socket: "a socket"} {
		done := make(chan error, 1)
		go func() {
			_, err := ldakit.ReadNpy(path)
			done <- err
		}()
		select {
		case err := <-done:
			var ne *ldakit.NpyError
			if !errors.As(err, &ne) || ne.Code != ldakit.NotAFile || !strings.Contains(err.Error(), path) ||
				!strings.Contains(err.Error(), kind) {
				t.Errorf("%s: got %v, expected NOT_A_FILE naming the path and %s", path, err, kind)
			}
		case <-time.After(5 * time.Second):
			// Unblock the stuck open(2) so the test can end.
			if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			t.Fatalf("%s: ReadNpy still waits after 5 s", path)
		}
	}
}
