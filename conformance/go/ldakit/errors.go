package ldakit

import "fmt"

// ErrorCode names one way an NPY file can be wrong. The codes are the ones @ldakit/npy uses and
// fixtures/manifest.json records for every invalid file, so they are stable across runtimes.
type ErrorCode string

const (
	// BadMagic: the bytes do not start with "\x93NUMPY".
	BadMagic ErrorCode = "BAD_MAGIC"
	// UnsupportedVersion: a format version other than 1.0, 2.0 and 3.0.
	UnsupportedVersion ErrorCode = "UNSUPPORTED_VERSION"
	// BadHeader: the header is not a Python dict literal with exactly descr, fortran_order, shape.
	BadHeader ErrorCode = "BAD_HEADER"
	// HeaderTooLarge: the header is longer than Options.MaxHeaderSize (default 10 000, as NumPy).
	HeaderTooLarge ErrorCode = "HEADER_TOO_LARGE"
	// UnsupportedDtype: object, structured, string, datetime, complex or any other dtype that is
	// not one of b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8.
	UnsupportedDtype ErrorCode = "UNSUPPORTED_DTYPE"
	// BadShape: a shape that is not a tuple of non-negative integers, or too large to address.
	BadShape ErrorCode = "BAD_SHAPE"
	// Truncated: the file ends inside the magic, the header or the data.
	Truncated ErrorCode = "TRUNCATED"
	// TrailingData: bytes follow the data that the shape calls for.
	TrailingData ErrorCode = "TRAILING_DATA"
	// NotAFile: the path names a FIFO, socket, device or directory, not a regular file. It
	// describes the path rather than the bytes, as in @ldakit/npy.
	NotAFile ErrorCode = "NOT_A_FILE"
)

// NpyError is the error every NPY failure returns: switch on Code, show Error().
type NpyError struct {
	Code    ErrorCode
	Path    string // the file, when reading one
	Message string
}

func (e *NpyError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("%s: %s: %s", e.Path, e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// ErrorCode returns the stable code as a string (what the conformance suite compares).
func (e *NpyError) ErrorCode() string { return string(e.Code) }

func npyErr(code ErrorCode, format string, args ...interface{}) *NpyError {
	return &NpyError{Code: code, Message: fmt.Sprintf(format, args...)}
}
