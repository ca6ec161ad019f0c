package suite

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// brokenBigEndian is the reference loader with a classic bug: it ignores '>' byte order.
type brokenBigEndian struct{ Reference }

func (b brokenBigEndian) ReadNpy(path string, maxHeaderSize int) (*NpyResult, error) {
	r, err := b.Reference.ReadNpy(path, maxHeaderSize)
	if err == nil && strings.HasPrefix(r.Descr, ">") {
		r.LittleEndianC = append([]byte{}, r.LittleEndianC...)
		for i := range r.LittleEndianC {
			r.LittleEndianC[i] ^= 0xff
		}
	}
	return r, err
}

func runWith(t *testing.T, loader Loader, list, filter string) (string, int, int) {
	t.Helper()
	fixtures, err := FindFixtures(".")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "expected-failures.txt")
	if err := os.WriteFile(path, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	passed, failed, err := Run(loader, Options{Fixtures: fixtures, ExpectedFailures: path,
		Filter: filter, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), passed, failed
}

func TestExpectedFailures(t *testing.T) {
	// a listed failure is reported and does not fail the run
	out, passed, failed := runWith(t, brokenBigEndian{},
		"# known\nnpy/valid/f4_be_2x3 byte order ignored\n", "npy/valid/f4_be_2x3")
	if failed != 0 || passed != 1 || !strings.Contains(out, "xfail npy/valid/f4_be_2x3: data bytes differ") ||
		!strings.HasSuffix(out, "1 passed, 0 failed\n") {
		t.Fatalf("%d passed, %d failed:\n%s", passed, failed, out)
	}
	// an unlisted failure fails the run
	out, _, failed = runWith(t, brokenBigEndian{}, "", "npy/valid/f4_be_2x3")
	if failed != 1 || !strings.Contains(out, "FAIL npy/valid/f4_be_2x3: data bytes differ") {
		t.Fatalf("%d failed:\n%s", failed, out)
	}
	// stale entries fail the run: a listed case that passes, a case the manifest lacks
	out, _, failed = runWith(t, Reference{}, "npy/valid/f4_be_2x3 fixed since\nno/such/case gone\n",
		"npy/valid/f4_be_2x3")
	if failed != 2 || !strings.Contains(out, "passes but is listed") ||
		!strings.Contains(out, "FAIL no/such/case: listed in expected-failures but the manifest has no such case") {
		t.Fatalf("%d failed:\n%s", failed, out)
	}
}
