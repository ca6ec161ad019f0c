package ldakit_test

// Cross-checks ReadNpy against github.com/sbinet/npyio (a test-only dependency) on every valid
// fixture: same values, bit for bit, in the same order.
//
// npyio v0.6.0 (the version of that module path the Go module proxy serves) has no float16 and
// no format 3.0, so for those files it is handed a copy with the smallest change that keeps the
// data bytes: 'f2' written as 'u2' (the same bits, compared as bits), and version byte 3 written
// as 2 (3.0 differs from 2.0 only in the header's encoding, UTF-8 for latin-1, and these headers
// are ASCII). The test also checks that npyio still refuses the unchanged file, so a workaround
// that is no longer needed shows up.

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sbinet/npyio/npy"

	"ldakit/conformance/ldakit"
	"ldakit/conformance/suite"
)

func fixturesDir(t *testing.T) string {
	t.Helper()
	dir, err := suite.FindFixtures(".")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCrossCheckWithNpyio(t *testing.T) {
	dir := fixturesDir(t)
	m, err := suite.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range m.Cases {
		if c.Kind != "npy-valid" {
			continue
		}
		n++
		c := c
		t.Run(c.Name, func(t *testing.T) {
			path := filepath.Join(dir, filepath.FromSlash(c.Path))
			ours, err := ldakit.ReadNpyWithOptions(path, ldakit.Options{MaxHeaderSize: c.MaxHeaderSize})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fed, adapted := adaptForNpyio(t, raw, ours)
			if adapted != "" {
				if _, err := readWithNpyio(raw, ours); err == nil {
					t.Fatalf("npyio now reads this file as it is; drop the workaround (%s)", adapted)
				}
				t.Logf("npyio read it after: %s", adapted)
			}
			theirs, err := readWithNpyio(fed, ours)
			if err != nil {
				t.Fatalf("npyio: %v", err)
			}
			want := ours.Data
			if f16, ok := want.([]ldakit.Float16); ok {
				bits := make([]uint16, len(f16))
				for i, h := range f16 {
					bits[i] = uint16(h)
				}
				want = bits
			}
			if ours.FortranOrder {
				theirs = fortranToC(theirs, ours.Shape)
			}
			if !sameBits(theirs, want) {
				t.Fatalf("values differ:\n npyio: %v\n ours:  %v", theirs, want)
			}
		})
	}
	if n == 0 {
		t.Fatal("the manifest has no npy-valid case")
	}
}

// adaptForNpyio returns the bytes to hand npyio, and what was changed ("" for nothing).
func adaptForNpyio(t *testing.T, raw []byte, ours *ldakit.Array) ([]byte, string) {
	out := append([]byte(nil), raw...)
	var changes []string
	if out[6] == 3 {
		end := 12 + int(uint32(out[8])|uint32(out[9])<<8|uint32(out[10])<<16|uint32(out[11])<<24)
		for _, b := range out[12:end] {
			if b >= 0x80 {
				t.Fatal("v3 header is not ASCII; the v2 workaround does not apply")
			}
		}
		out[6] = 2
		changes = append(changes, "version 3.0 written as 2.0")
	}
	if ours.Dtype.String() == "f2" {
		descr := []byte("'descr': '" + ours.Descr + "'")
		i := bytes.Index(out, descr)
		if i < 0 {
			t.Fatal("descr not found in the header")
		}
		copy(out[i:], strings.Replace(string(descr), "f2", "u2", 1))
		changes = append(changes, "'f2' written as 'u2'")
	}
	return out, strings.Join(changes, ", ")
}

func readWithNpyio(raw []byte, ours *ldakit.Array) (interface{}, error) {
	r, err := npy.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	var dst interface{}
	switch ours.Dtype.String() {
	case "b1":
		dst = &[]bool{}
	case "i1":
		dst = &[]int8{}
	case "u1":
		dst = &[]uint8{}
	case "i2":
		dst = &[]int16{}
	case "u2", "f2":
		dst = &[]uint16{}
	case "i4":
		dst = &[]int32{}
	case "u4":
		dst = &[]uint32{}
	case "i8":
		dst = &[]int64{}
	case "u8":
		dst = &[]uint64{}
	case "f4":
		dst = &[]float32{}
	case "f8":
		dst = &[]float64{}
	default:
		return nil, fmt.Errorf("no Go type for %s", ours.Descr)
	}
	if !reflect.DeepEqual(r.Header.Descr.Shape, nonNil(ours.Shape)) &&
		!(len(ours.Shape) == 0 && len(r.Header.Descr.Shape) == 0) {
		return nil, fmt.Errorf("npyio reads shape %v, ours %v", r.Header.Descr.Shape, ours.Shape)
	}
	if r.Header.Descr.Fortran != ours.FortranOrder {
		return nil, fmt.Errorf("npyio reads fortran_order %v", r.Header.Descr.Fortran)
	}
	if err := r.Read(dst); err != nil {
		return nil, err
	}
	return reflect.ValueOf(dst).Elem().Interface(), nil
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// fortranToC permutes a slice read in file (Fortran) order into C order; an independent
// implementation from the loader's (it computes each element's Fortran offset directly).
func fortranToC(v interface{}, shape []int) interface{} {
	src := reflect.ValueOf(v)
	n := src.Len()
	dst := reflect.MakeSlice(src.Type(), n, n)
	for c := 0; c < n; c++ {
		rem, f, stride := c, 0, 1
		idx := make([]int, len(shape))
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k] = rem % shape[k]
			rem /= shape[k]
		}
		for k := 0; k < len(shape); k++ {
			f += idx[k] * stride
			stride *= shape[k]
		}
		dst.Index(c).Set(src.Index(f))
	}
	return dst.Interface()
}

// sameBits compares two slices element by element, floats by their bits (NaN payloads too).
func sameBits(a, b interface{}) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Type() != vb.Type() || va.Len() != vb.Len() {
		return false
	}
	for i := 0; i < va.Len(); i++ {
		x, y := va.Index(i).Interface(), vb.Index(i).Interface()
		switch xv := x.(type) {
		case float32:
			if math.Float32bits(xv) != math.Float32bits(y.(float32)) {
				return false
			}
		case float64:
			if math.Float64bits(xv) != math.Float64bits(y.(float64)) {
				return false
			}
		default:
			if x != y {
				return false
			}
		}
	}
	return true
}
