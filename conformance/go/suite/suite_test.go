package suite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ldakit/conformance/ldakit"
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

// oldModelRule is the reference loader with the rule ldakit's loaders had before
// docs/FORMAT.md §1.3: '/' becomes "__" and only the resulting folder is checked, so empty parts
// ("a//b", "/a", "a/") slip through.
type oldModelRule struct{ Reference }

func (oldModelRule) ModelFolder(model string) (string, error) {
	folder := strings.Replace(model, "/", "__", -1)
	if folder == "" || folder == "." || folder == ".." ||
		strings.Trim(folder, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
		return "", errors.New("not a folder name")
	}
	return folder, nil
}

func TestModelNamesCatchEmptyParts(t *testing.T) {
	out, passed, failed := runWith(t, oldModelRule{}, "", "model-name/")
	for _, c := range []string{"double-slash", "triple-slash", "leading-slash", "trailing-slash",
		"dot-slash"} {
		if !strings.Contains(out, "FAIL model-name/"+c+": ") {
			t.Errorf("model-name/%s did not fail:\n%s", c, out)
		}
	}
	if passed == 0 || failed == 0 || strings.Contains(out, "FAIL model-name/space") ||
		!strings.HasSuffix(out, fmt.Sprintf("%d passed, %d failed\n", passed, failed)) {
		t.Fatalf("%d passed, %d failed:\n%s", passed, failed, out)
	}
	if !strings.Contains(out, `FAIL model-name/double-slash: "a//b" is accepted as the folder "a____b"; expected it to be refused`) {
		t.Errorf("the line does not say what was wrong:\n%s", out)
	}
}

// fortranBlind is the reference loader with the bug heads/adapter_fortran is there to catch: it
// takes the W file's data bytes row by row whatever its header's fortran_order says.
type fortranBlind struct{ Reference }

func (fortranBlind) LoadProjection(root string, mhID int64) (Projection, error) {
	p, err := ldakit.LoadProjection(root, mhID)
	if err != nil || p.Adapter == nil {
		return referenceProjection{p}, err
	}
	all, err := ldakit.DiscoverProjections(root)
	if err != nil {
		return nil, err
	}
	for _, info := range all {
		if info.MhID != mhID {
			continue
		}
		path := filepath.Join(info.Dir, info.Meta.Adapter)
		arr, err := ldakit.ReadNpy(path)
		if err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var order binary.ByteOrder = binary.LittleEndian
		if strings.HasPrefix(arr.Descr, ">") {
			order = binary.BigEndian
		}
		size, d := arr.Dtype.ItemSize, p.Dimensions
		data := raw[len(raw)-d*d*size:] // the loader has checked there is nothing after the data
		for i := range p.Adapter {
			for j := range p.Adapter[i] {
				at := data[(i*d+j)*size:]
				if size == 4 {
					p.Adapter[i][j] = float64(math.Float32frombits(order.Uint32(at)))
				} else {
					p.Adapter[i][j] = math.Float64frombits(order.Uint64(at))
				}
			}
		}
	}
	return referenceProjection{p}, nil
}

func TestFortranAdapterCaught(t *testing.T) {
	// every adapter case but the Fortran-ordered one is unaffected by the bug
	out, passed, failed := runWith(t, fortranBlind{}, "", "heads/adapter_")
	if failed != 1 || passed != 4 || !strings.Contains(out, "FAIL heads/adapter_fortran/mh_26: ") {
		t.Fatalf("%d passed, %d failed:\n%s", passed, failed, out)
	}
	out, passed, failed = runWith(t, Reference{}, "", "heads/adapter_")
	if failed != 0 || passed != 5 {
		t.Fatalf("%d passed, %d failed:\n%s", passed, failed, out)
	}
}
