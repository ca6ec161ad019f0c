//! The one error type of this crate.

use std::fmt;
use std::path::{Path, PathBuf};

/// Stable codes of the ways an NPY file can be wrong: the codes of `@ldakit/npy`, recorded for
/// every invalid file in `fixtures/manifest.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The bytes do not start with `\x93NUMPY`.
    BadMagic,
    /// A format version other than 1.0, 2.0 and 3.0.
    UnsupportedVersion,
    /// The header is not a Python dict literal with exactly `descr`, `fortran_order`, `shape`.
    BadHeader,
    /// The header is longer than the limit (default 10 000 bytes, as NumPy).
    HeaderTooLarge,
    /// Object, structured, string, datetime, complex or any dtype outside
    /// b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8.
    UnsupportedDtype,
    /// A shape that is not a tuple of non-negative integers, or too large to address.
    BadShape,
    /// The file ends inside the magic, the header or the data.
    Truncated,
    /// Bytes follow the data that the shape calls for.
    TrailingData,
    /// The path names a FIFO, socket, device or directory, not a regular file. It describes the
    /// path rather than the bytes, as in `@ldakit/npy`.
    NotAFile,
}

impl ErrorCode {
    /// The code as `@ldakit/npy` and the manifest spell it, e.g. `"BAD_MAGIC"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMagic => "BAD_MAGIC",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::BadHeader => "BAD_HEADER",
            ErrorCode::HeaderTooLarge => "HEADER_TOO_LARGE",
            ErrorCode::UnsupportedDtype => "UNSUPPORTED_DTYPE",
            ErrorCode::BadShape => "BAD_SHAPE",
            ErrorCode::Truncated => "TRUNCATED",
            ErrorCode::TrailingData => "TRAILING_DATA",
            ErrorCode::NotAFile => "NOT_A_FILE",
        }
    }
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An NPY file's contents, with its stable code.
    Npy(ErrorCode),
    /// Reading a file or folder failed.
    Io,
    /// A store does not follow the file convention (names, `mh_<id>.json`, shapes, dtypes), or a
    /// query does not fit the projection.
    Store,
}

/// Every failure of this crate.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// The file, when the error is about one.
    pub path: Option<PathBuf>,
}

impl Error {
    pub(crate) fn npy(code: ErrorCode, message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Npy(code), message: message.into(), path: None }
    }

    pub(crate) fn store(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Store, message: message.into(), path: None }
    }

    pub(crate) fn io(path: &Path, err: std::io::Error) -> Error {
        Error { kind: ErrorKind::Io, message: err.to_string(), path: Some(path.to_path_buf()) }
    }

    pub(crate) fn at(mut self, path: &Path) -> Error {
        if self.path.is_none() {
            self.path = Some(path.to_path_buf());
        }
        self
    }

    /// The NPY error code, for NPY errors.
    pub fn code(&self) -> Option<ErrorCode> {
        match self.kind {
            ErrorKind::Npy(code) => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        if let ErrorKind::Npy(code) = self.kind {
            write!(f, "{}: ", code.as_str())?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
