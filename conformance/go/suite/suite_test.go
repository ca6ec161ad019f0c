package suite

import (
	"bytes"
	"errors"
	"fmt"
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
