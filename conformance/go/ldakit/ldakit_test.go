package ldakit_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"ldakit/conformance/ldakit"
	"ldakit/conformance/suite"
)

// The whole manifest through the suite: every case passes (no expected failures are listed).
func TestConformanceSuite(t *testing.T) {
	dir := fixturesDir(t)
	var out bytes.Buffer
	passed, failed, err := suite.Run(suite.Reference{}, suite.Options{
		Fixtures:         dir,
		ExpectedFailures: filepath.Join("..", "expected-failures.txt"),
		Out:              &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || passed == 0 {
		t.Fatalf("%d passed, %d failed:\n%s", passed, failed, out.String())
	}
}

// npyBytes frames a header the way NumPy does (space padding, '\n', data at a multiple of 64).
func npyBytes(header string, data []byte, major byte) []byte {
	prefix := 10
	if major > 1 {
		prefix = 12
	}
	total := prefix + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	out := append([]byte("\x93NUMPY"), major, 0)
	n := make([]byte, 4)
	binary.LittleEndian.PutUint32(n, uint32(len(header)))
	if major == 1 {
		n = n[:2]
	}
	out = append(out, n...)
	return append(append(out, header...), data...)
}

func f4(values ...float32) []byte {
	out := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}

func TestHeadersNumpyAccepts(t *testing.T) {
	data := f4(0, 1, 2)
	cases := map[string]string{
		"numpy layout":        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
		"keys in other order": "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}",
		"double quotes":       `{"descr": "<f4", "fortran_order": False, "shape": (3,)}`,
		"whitespace":          "{\n\t'descr' :\t'<f4' ,\n 'fortran_order':False,\r\n'shape':( 3 , ) ,\n}",
		"one-letter code":     "{'descr': 'f', 'fortran_order': False, 'shape': (3,), }",
		"native order '='":    "{'descr': '=f4', 'fortran_order': False, 'shape': (3,), }",
		"python 2 long":       "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }",
		"unicode prefix":      "{u'descr': u'<f4', u'fortran_order': False, u'shape': (3,), }",
	}
	for name, header := range cases {
		arr, err := ldakit.DecodeNpy(npyBytes(header, data, 1), ldakit.Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(arr.Data, []float32{0, 1, 2}) || !reflect.DeepEqual(arr.Shape, []int{3}) {
			t.Errorf("%s: got %v %v", name, arr.Shape, arr.Data)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
	cases := []struct {
		name  string
		bytes []byte
		code  ldakit.ErrorCode
	}{
		{"python 2 long in v3", npyBytes(strings.Replace(good, "(3,)", "(3L,)", 1), f4(0, 1, 2), 3),
			ldakit.BadHeader},
		{"bool in shape", npyBytes(strings.Replace(good, "(3,)", "(True,)", 1), f4(0), 1),
			ldakit.BadShape},
		{"duplicate key keeps the last", npyBytes("{'descr': '<i4', 'descr': '<f4', "+
			"'fortran_order': False, 'shape': (3,), }", f4(0, 1, 2, 3), 1), ldakit.TrailingData},
		{"huge dimension", npyBytes(strings.Replace(good, "(3,)", "(99999999999999999999,)", 1),
			nil, 1), ldakit.BadShape},
		{"subarray descr", npyBytes("{'descr': ('<f4', (3,)), 'fortran_order': False, "+
			"'shape': (1,), }", f4(0, 1, 2), 1), ldakit.BadHeader},
	}
	for _, c := range cases {
		_, err := ldakit.DecodeNpy(c.bytes, ldakit.Options{})
		var ne *ldakit.NpyError
		if !errors.As(err, &ne) || ne.Code != c.code {
			t.Errorf("%s: got %v, expected %s", c.name, err, c.code)
		}
	}
}

func TestReadNpyNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npy")
	if err := os.WriteFile(path, []byte("not npy"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ldakit.ReadNpy(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "BAD_MAGIC") {
		t.Fatalf("got %v", err)
	}
}

func TestFloat16(t *testing.T) {
	cases := map[uint16]float64{
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: math.Ldexp(1, -24), 0x0400: math.Ldexp(1, -14),
		0x7c00: math.Inf(1), 0xfc00: math.Inf(-1), 0x3555: 0.333251953125,
	}
	for bits, want := range cases {
		if got := ldakit.Float16(bits).Float64(); got != want {
			t.Errorf("%#04x: got %v, want %v", bits, got, want)
		}
	}
	if got := ldakit.Float16(0x8000).Float64(); got != 0 || !math.Signbit(got) {
		t.Errorf("-0: got %v", got)
	}
	if !math.IsNaN(ldakit.Float16(0x7e00).Float64()) {
		t.Error("NaN")
	}
}

func TestModelFolder(t *testing.T) {
	if f, err := ldakit.ModelFolder("sentence-transformers/all-MiniLM-L6-v2"); err != nil ||
		f != "sentence-transformers__all-MiniLM-L6-v2" {
		t.Fatalf("got %q %v", f, err)
	}
	for _, bad := range []string{"", "a b", "..", "x:y"} {
		if _, err := ldakit.ModelFolder(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProjectionFromFixtures(t *testing.T) {
	root := filepath.Join(fixturesDir(t), "heads", "f32_small")
	found, err := ldakit.DiscoverProjections(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].MhID != 3 || found[1].MhID != 31 {
		t.Fatalf("found %+v", found)
	}
	p, err := ldakit.LoadProjection(root, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ClusterIDs) != 18 || p.Dimensions != 384 || p.Temperature != 0.1 {
		t.Fatalf("loaded %d heads, d=%d, τ=%v", len(p.ClusterIDs), p.Dimensions, p.Temperature)
	}
	// a query equal to a head's centroid routes mostly to that head
	q := append([]float64(nil), p.Centroids[5]...)
	w, err := p.Weights(q)
	if err != nil {
		t.Fatal(err)
	}
	sum, best := 0.0, 0
	for k, x := range w {
		sum += x
		if x > w[best] {
			best = k
		}
	}
	if math.Abs(sum-1) > 1e-12 || best != 5 {
		t.Fatalf("weights sum %v, best head %d", sum, best)
	}
	if _, err := p.Project(make([]float64, 384)); err == nil {
		t.Fatal("a zero query was accepted")
	}
	if _, err := p.Search(make([]float64, 3), 5); err == nil {
		t.Fatal("a query of the wrong size was accepted")
	}
	if hits, _ := p.Search(q, 1000); len(hits) != 18 {
		t.Fatalf("k past the head count gave %d hits", len(hits))
	}
	if _, err := ldakit.LoadProjection(root, 4); err == nil {
		t.Fatal("a missing projection loaded")
	}
}

func TestLoadProjectionErrors(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "embeddings", "m")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mh_1.json", `{"format": "ldakit.mh/1", "mh_projection_id": 1, "model": "m",
		"dimensions": 3, "temperature": 0.1, "num_heads": 1, "cluster_ids": [5]}`)
	write("mh_1_cluster_5_centroid.npy", string(npyBytes(
		"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f4(1, 0, 0), 1)))
	_, err := ldakit.LoadProjection(root, 1)
	if err == nil || !strings.Contains(err.Error(), "mh_1_cluster_5_answer.npy") {
		t.Fatalf("missing answer: %v", err)
	}
	write("mh_1_cluster_5_answer.npy", string(npyBytes(
		"{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", f4(1, 0, 0), 1)))
	if _, err = ldakit.LoadProjection(root, 1); err == nil || !strings.Contains(err.Error(), "dtype") {
		t.Fatalf("integer answer: %v", err)
	}
	write("mh_1_cluster_5_answer.npy", string(npyBytes(
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4(1, 0), 1)))
	if _, err = ldakit.LoadProjection(root, 1); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("short answer: %v", err)
	}
	write("mh_1.json", `{"format": "ldakit.mh/1", "mh_projection_id": 1, "model": "other",
		"dimensions": 3, "temperature": 0.1, "num_heads": 1, "cluster_ids": [5]}`)
	if _, err = ldakit.DiscoverProjections(root); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Fatalf("model in the wrong folder: %v", err)
	}
	write("mh_1.json", `{"format": "ldakit.mh/2", "mh_projection_id": 1, "model": "m",
		"dimensions": 3, "temperature": 0.1, "num_heads": 1, "cluster_ids": [5]}`)
	if _, err = ldakit.DiscoverProjections(root); err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("unknown format: %v", err)
	}
}
