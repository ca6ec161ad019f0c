// Package ldakit reads the files of ldakit's on-disk format (NumPy .npy files and the
// embeddings/<model>/mh_<id>_cluster_<id>_{centroid,answer}.npy head trees with their
// mh_<id>.json) and computes the multi-head projection, with the standard library only.
//
// Copy the .go files of this folder (not the _test.go ones) into your program, or import the
// package. See README.md next to go.mod.
package ldakit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
	"syscall"
	"unicode/utf8"
	"unsafe"
)

// DefaultMaxHeaderSize is the longest header read unless Options says otherwise: NumPy's default.
const DefaultMaxHeaderSize = 10000

var npyMagic = []byte("\x93NUMPY")

// Options tune ReadNpyWithOptions and DecodeNpy.
type Options struct {
	// MaxHeaderSize is the longest header text accepted, in bytes; 0 means DefaultMaxHeaderSize.
	// NumPy's np.load has the same limit (max_header_size) for the same reason: a header is
	// parsed before anything else is known about the file.
	MaxHeaderSize int
}

// Dtype is one of the supported element types: Kind 'b' (bool), 'i', 'u' or 'f', and the size
// of one element in bytes.
type Dtype struct {
	Kind     byte
	ItemSize int
}

func (d Dtype) String() string { return fmt.Sprintf("%c%d", d.Kind, d.ItemSize) }

// Float16 holds the bits of an IEEE 754 half-precision float (NumPy's 'f2').
type Float16 uint16

// Float64 converts the half float exactly (NaN payloads are kept in the high bits).
func (h Float16) Float64() float64 {
	sign := uint64(h>>15) << 63
	exp := int(h>>10) & 0x1f
	frac := uint64(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float64frombits(sign | 0x7ff<<52 | frac<<42)
	case exp == 0:
		// zero or subnormal: frac * 2^-24
		v := float64(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			return -v
		}
		return v
	}
	return math.Float64frombits(sign | uint64(exp-15+1023)<<52 | frac<<42)
}

// Array is an NPY file's array, with its data in C (row-major) order and native values.
type Array struct {
	// Descr is the dtype as written in the file, e.g. ">f4" or "|b1".
	Descr string
	Dtype Dtype
	// Shape is empty for a 0-d array (which holds one element).
	Shape []int
	// FortranOrder tells how the file laid the data out; Data is in C order either way.
	FortranOrder bool
	// Version is the format version of the file: {1,0}, {2,0} or {3,0}.
	Version [2]int
	// Data is a typed slice in C order: []bool, []int8, []uint8, []int16, []uint16, []int32,
	// []uint32, []int64, []uint64, []Float16, []float32 or []float64.
	Data interface{}

	le []byte // the elements in C order, each little-endian
}

// Len is the number of elements (the product of Shape; 1 for a 0-d array).
func (a *Array) Len() int { return len(a.le) / a.Dtype.ItemSize }

// Bytes returns the elements in C order, each in little-endian byte order (a copy).
func (a *Array) Bytes() []byte { return append([]byte(nil), a.le...) }

// Float64s returns every element converted to float64, in C order (bools are 0 and 1; 64-bit
// integers past 2^53 round to the nearest float64).
func (a *Array) Float64s() []float64 {
	n := a.Len()
	out := make([]float64, n)
	b := a.le
	le := binary.LittleEndian
	code := a.Dtype.String()
	for i := 0; i < n; i++ {
		switch code {
		case "b1":
			if b[i] != 0 {
				out[i] = 1
			}
		case "i1":
			out[i] = float64(int8(b[i]))
		case "u1":
			out[i] = float64(b[i])
		case "i2":
			out[i] = float64(int16(le.Uint16(b[2*i:])))
		case "u2":
			out[i] = float64(le.Uint16(b[2*i:]))
		case "f2":
			out[i] = Float16(le.Uint16(b[2*i:])).Float64()
		case "i4":
			out[i] = float64(int32(le.Uint32(b[4*i:])))
		case "u4":
			out[i] = float64(le.Uint32(b[4*i:]))
		case "f4":
			out[i] = float64(math.Float32frombits(le.Uint32(b[4*i:])))
		case "i8":
			out[i] = float64(int64(le.Uint64(b[8*i:])))
		case "u8":
			out[i] = float64(le.Uint64(b[8*i:]))
		case "f8":
			out[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
	}
	return out
}

// Int64s returns the elements of an integer or bool array as int64, in C order.
func (a *Array) Int64s() ([]int64, error) {
	if a.Dtype.Kind == 'f' {
		return nil, fmt.Errorf("ldakit: %s array has no integer values", a.Descr)
	}
	vals := a.Float64s()
	out := make([]int64, len(vals))
	le := binary.LittleEndian
	code := a.Dtype.String()
	for i := range out {
		switch code {
		case "i8":
			out[i] = int64(le.Uint64(a.le[8*i:]))
		case "u8":
			v := le.Uint64(a.le[8*i:])
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("ldakit: value %d does not fit in int64", v)
			}
			out[i] = int64(v)
		default:
			out[i] = int64(vals[i]) // exact below 2^53
		}
	}
	return out, nil
}

// ReadNpy reads an .npy file (format 1.0, 2.0 or 3.0) with the default options.
func ReadNpy(path string) (*Array, error) { return ReadNpyWithOptions(path, Options{}) }

// ReadNpyWithOptions reads an .npy file. Errors about the file's contents are *NpyError.
func ReadNpyWithOptions(path string, opts Options) (*Array, error) {
	b, err := readRegularFile(path)
	if err != nil {
		return nil, err
	}
	arr, err := DecodeNpy(b, opts)
	if err != nil {
		var ne *NpyError
		if errors.As(err, &ne) {
			ne.Path = path
		}
		return nil, err
	}
	return arr, nil
}

// readRegularFile reads a whole regular file. Opening a FIFO for reading blocks until a writer
// appears, so the file is opened non-blocking (no effect on a regular file) and the opened
// descriptor's own type is checked, leaving no race with a path swapped in between. A FIFO,
// socket, device or directory is an *NpyError with code NOT_A_FILE naming the path.
func readRegularFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		// open(2) refuses a Unix socket with ENXIO: say what the path is instead.
		if info, statErr := os.Stat(path); statErr == nil && !info.Mode().IsRegular() {
			return nil, notAFile(path, info.Mode())
		}
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, notAFile(path, info.Mode())
	}
	return io.ReadAll(f)
}

func notAFile(path string, mode fs.FileMode) *NpyError {
	kind := "not a regular file"
	switch {
	case mode&fs.ModeNamedPipe != 0:
		kind = "a FIFO (named pipe)"
	case mode&fs.ModeSocket != 0:
		kind = "a socket"
	case mode&fs.ModeCharDevice != 0:
		kind = "a character device"
	case mode&fs.ModeDevice != 0:
		kind = "a block device"
	case mode.IsDir():
		kind = "a directory"
	}
	return &NpyError{Code: NotAFile, Path: path, Message: "is " + kind + "; an NPY file must be a regular file"}
}

var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// DecodeNpy decodes the bytes of a whole .npy file.
func DecodeNpy(b []byte, opts Options) (*Array, error) {
	maxHeader := opts.MaxHeaderSize
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderSize
	}
	if len(b) < 8 {
		n := len(b)
		if n > len(npyMagic) {
			n = len(npyMagic)
		}
		if !bytes.Equal(b[:n], npyMagic[:n]) {
			return nil, badMagic(b)
		}
		return nil, npyErr(Truncated, "file ends after %d bytes, inside the NPY magic", len(b))
	}
	if !bytes.Equal(b[:6], npyMagic) {
		return nil, badMagic(b)
	}
	major, minor := int(b[6]), int(b[7])
	if (major != 1 && major != 2 && major != 3) || minor != 0 {
		return nil, npyErr(UnsupportedVersion,
			"NPY format version %d.%d is not supported (1.0, 2.0 and 3.0 are)", major, minor)
	}
	prefix := 10
	if major > 1 {
		prefix = 12
	}
	if len(b) < prefix {
		return nil, npyErr(Truncated, "file ends after %d bytes, inside the header length", len(b))
	}
	var headerLen uint64
	if major == 1 {
		headerLen = uint64(binary.LittleEndian.Uint16(b[8:]))
	} else {
		headerLen = uint64(binary.LittleEndian.Uint32(b[8:]))
	}
	if headerLen > uint64(maxHeader) {
		return nil, npyErr(HeaderTooLarge,
			"header is %d bytes, over the limit of %d (raise MaxHeaderSize to read it)",
			headerLen, maxHeader)
	}
	dataOffset := prefix + int(headerLen)
	if len(b) < dataOffset {
		return nil, npyErr(Truncated,
			"file ends after %d bytes, inside a header that needs %d", len(b), dataOffset)
	}
	headerBytes := b[prefix:dataOffset]
	var text string
	if major == 3 {
		if !utf8.Valid(headerBytes) {
			return nil, npyErr(BadHeader, "v3.0 header is not valid UTF-8")
		}
		text = string(headerBytes)
	} else {
		// latin-1: the parser works on bytes, and only ASCII is meaningful in a header
		text = string(headerBytes)
	}
	lit, err := parsePythonLiteral(text, major <= 2)
	if err != nil {
		return nil, err
	}
	h, err := validateHeader(lit)
	if err != nil {
		return nil, err
	}
	count := 1
	for _, d := range h.shape {
		count *= d // validateHeader checked that this cannot overflow
	}
	need := count * h.dtype.ItemSize
	have := len(b) - dataOffset
	if have < need {
		return nil, npyErr(Truncated, "data is %d bytes but shape %s of %s needs %d",
			have, shapeString(h.shape), h.descr, need)
	}
	if have > need {
		return nil, npyErr(TrailingData,
			"%d bytes follow the %d bytes of data that shape %s of %s calls for",
			have-need, need, shapeString(h.shape), h.descr)
	}
	data := make([]byte, need)
	src := b[dataOffset:]
	if h.fortranOrder {
		fortranToC(data, src, h.shape, h.dtype.ItemSize)
	} else {
		copy(data, src)
	}
	if !h.littleEndian {
		swapBytes(data, h.dtype.ItemSize)
	}
	arr := &Array{
		Descr:        h.descr,
		Dtype:        h.dtype,
		Shape:        h.shape,
		FortranOrder: h.fortranOrder,
		Version:      [2]int{major, 0},
		le:           data,
	}
	arr.Data = typedData(arr)
	return arr, nil
}

func badMagic(b []byte) error {
	n := len(b)
	if n > 6 {
		n = 6
	}
	return npyErr(BadMagic, "not an NPY file: starts with [% x], expected \\x93NUMPY", b[:n])
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

type header struct {
	descr        string
	dtype        Dtype
	littleEndian bool
	shape        []int
	fortranOrder bool
}

func validateHeader(v *pyValue) (*header, error) {
	if v.kind != pyDict {
		return nil, npyErr(BadHeader, "header is not a dict: %s", v.describe())
	}
	var descr, fortran, shape *pyValue
	var keys []string
	for _, e := range v.entries {
		name := e.key.describe()
		if e.key.kind == pyStr {
			name = e.key.str
			switch name {
			case "descr":
				descr = e.value
			case "fortran_order":
				fortran = e.value
			case "shape":
				shape = e.value
			}
		}
		keys = append(keys, name)
	}
	if len(keys) != 3 || descr == nil || fortran == nil || shape == nil {
		return nil, npyErr(BadHeader,
			"header keys are [%s]; expected exactly [descr, fortran_order, shape]",
			strings.Join(keys, ", "))
	}
	if descr.kind != pyStr {
		if descr.kind == pyList {
			return nil, npyErr(UnsupportedDtype, "structured dtypes (a list descr) are not supported")
		}
		return nil, npyErr(BadHeader, "'descr' is not a dtype string: %s", descr.describe())
	}
	if fortran.kind != pyBool {
		return nil, npyErr(BadHeader, "'fortran_order' is not True or False: %s", fortran.describe())
	}
	if shape.kind != pyTuple {
		return nil, npyErr(BadShape, "'shape' is not a tuple: %s", shape.describe())
	}
	dims := make([]int, len(shape.items))
	for i, d := range shape.items {
		if d.kind != pyInt || d.integer.Sign() < 0 || !d.integer.IsInt64() ||
			d.integer.Int64() > int64(maxInt) {
			return nil, npyErr(BadShape,
				"'shape' axis %d is %s; expected a non-negative integer", i, d.describe())
		}
		dims[i] = int(d.integer.Int64())
	}
	// The non-zero axes alone must multiply to at most 2^53 − 1, as in @ldakit/npy: NumPy refuses
	// an empty array whose other axes overflow, so (2**40, 2**40, 0) is no harmless empty array.
	count, nonZero := int64(1), int64(1)
	for _, d := range dims {
		if d == 0 {
			count = 0
			continue
		}
		if nonZero > maxElements/int64(d) {
			return nil, npyErr(BadShape, "shape %s holds too many elements", shapeString(dims))
		}
		nonZero *= int64(d)
		count *= int64(d)
	}
	dtype, little, err := parseDtype(descr.str)
	if err != nil {
		return nil, err
	}
	if count > int64(maxInt/dtype.ItemSize) {
		return nil, npyErr(BadShape, "shape %s of %s holds too many bytes", shapeString(dims), descr.str)
	}
	return &header{descr: descr.str, dtype: dtype, littleEndian: little, shape: dims,
		fortranOrder: fortran.boolean}, nil
}

const maxInt = int(^uint(0) >> 1)

// maxElements is 2^53 − 1, the most elements a shape may hold: the largest count a JSON number
// (and @ldakit/npy's JavaScript) holds exactly.
const maxElements int64 = 1<<53 - 1

var charCodes = map[string]string{
	"?": "b1", "b": "i1", "B": "u1", "h": "i2", "H": "u2", "i": "i4", "I": "u4",
	"q": "i8", "Q": "u8", "e": "f2", "f": "f4", "d": "f8",
}

var supported = map[string]Dtype{
	"b1": {'b', 1}, "i1": {'i', 1}, "u1": {'u', 1}, "i2": {'i', 2}, "u2": {'u', 2},
	"i4": {'i', 4}, "u4": {'u', 4}, "i8": {'i', 8}, "u8": {'u', 8},
	"f2": {'f', 2}, "f4": {'f', 4}, "f8": {'f', 8},
}

// parseDtype reads a NumPy dtype string such as "<f4", ">i8", "|b1", "=u2" or "f8" and tells
// whether its bytes are little-endian.
func parseDtype(descr string) (Dtype, bool, error) {
	order := byte('=')
	rest := descr
	if descr != "" && strings.IndexByte("<>|=", descr[0]) >= 0 {
		order, rest = descr[0], descr[1:]
	}
	code := rest
	if c, ok := charCodes[rest]; ok {
		code = c
	}
	d, ok := supported[code]
	if !ok {
		why := ""
		if strings.HasPrefix(rest, "O") || strings.HasPrefix(rest, "V") {
			why = " (object and void dtypes can hold pickled Python objects and are never loaded)"
		}
		return Dtype{}, false, npyErr(UnsupportedDtype,
			"unsupported dtype %q%s; supported: b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8", descr, why)
	}
	// '|' means "byte order does not apply"; NumPy reads a multi-byte '|' type as native.
	little := d.ItemSize == 1 || order == '<' || ((order == '=' || order == '|') && hostLittleEndian)
	return d, little, nil
}

// fortranToC copies Fortran-ordered elements from src into C order in dst.
func fortranToC(dst, src []byte, shape []int, itemSize int) {
	rank := len(shape)
	n := len(dst) / itemSize
	if rank < 2 || n == 0 {
		copy(dst, src[:len(dst)])
		return
	}
	strides := make([]int, rank) // Fortran strides, in elements
	s := 1
	for k := 0; k < rank; k++ {
		strides[k] = s
		s *= shape[k]
	}
	idx := make([]int, rank)
	off := 0
	for c := 0; c < n; c++ {
		copy(dst[c*itemSize:(c+1)*itemSize], src[off*itemSize:(off+1)*itemSize])
		for k := rank - 1; k >= 0; k-- {
			idx[k]++
			off += strides[k]
			if idx[k] < shape[k] {
				break
			}
			off -= strides[k] * shape[k]
			idx[k] = 0
		}
	}
}

func swapBytes(b []byte, itemSize int) {
	if itemSize == 1 {
		return
	}
	for i := 0; i+itemSize <= len(b); i += itemSize {
		for lo, hi := i, i+itemSize-1; lo < hi; lo, hi = lo+1, hi-1 {
			b[lo], b[hi] = b[hi], b[lo]
		}
	}
}

func typedData(a *Array) interface{} {
	n := a.Len()
	b := a.le
	le := binary.LittleEndian
	switch a.Dtype.String() {
	case "b1":
		out := make([]bool, n)
		for i := range out {
			out[i] = b[i] != 0
		}
		return out
	case "i1":
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(b[i])
		}
		return out
	case "u1":
		return append([]uint8(nil), b...)
	case "i2":
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(le.Uint16(b[2*i:]))
		}
		return out
	case "u2":
		out := make([]uint16, n)
		for i := range out {
			out[i] = le.Uint16(b[2*i:])
		}
		return out
	case "f2":
		out := make([]Float16, n)
		for i := range out {
			out[i] = Float16(le.Uint16(b[2*i:]))
		}
		return out
	case "i4":
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(le.Uint32(b[4*i:]))
		}
		return out
	case "u4":
		out := make([]uint32, n)
		for i := range out {
			out[i] = le.Uint32(b[4*i:])
		}
		return out
	case "f4":
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		return out
	case "i8":
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(le.Uint64(b[8*i:]))
		}
		return out
	case "u8":
		out := make([]uint64, n)
		for i := range out {
			out[i] = le.Uint64(b[8*i:])
		}
		return out
	case "f8":
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		return out
	}
	return nil
}
