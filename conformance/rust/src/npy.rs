//! NumPy `.npy` files, format versions 1.0, 2.0 and 3.0: dtype, byte order and Fortran order
//! honoured; the data comes back in C order with native values.

use std::path::Path;

use crate::error::{Error, ErrorCode};
use crate::literal::{parse_python_literal, PyValue};

/// The longest header read unless told otherwise: NumPy's default `max_header_size`.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 10_000;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// A supported element type: kind `b'b'` (bool), `b'i'`, `b'u'` or `b'f'`, and its size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dtype {
    pub kind: u8,
    pub item_size: usize,
}

impl Dtype {
    /// `"f4"`, `"b1"`, ...
    pub fn code(&self) -> String {
        format!("{}{}", self.kind as char, self.item_size)
    }
}

/// The bits of an IEEE 754 half-precision float (NumPy's `f2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct F16(pub u16);

impl F16 {
    /// The exact value as f64 (NaN payloads kept in the high bits).
    pub fn to_f64(self) -> f64 {
        let h = self.0 as u64;
        let sign = (h >> 15) << 63;
        let exp = (h >> 10) & 0x1f;
        let frac = h & 0x3ff;
        if exp == 0x1f {
            return f64::from_bits(sign | 0x7ff << 52 | frac << 42);
        }
        if exp == 0 {
            let v = frac as f64 * (1.0 / (1u64 << 24) as f64);
            return if sign != 0 { -v } else { v };
        }
        f64::from_bits(sign | (exp + 1023 - 15) << 52 | frac << 42)
    }
}

/// The elements, in C order, as the Rust type of the dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    F16(Vec<F16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    F32(Vec<f32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F64(Vec<f64>),
}

/// An array read from an `.npy` file.
#[derive(Debug, Clone)]
pub struct Array {
    /// The dtype as written in the file, e.g. `">f4"`.
    pub descr: String,
    pub dtype: Dtype,
    /// Empty for a 0-d array (which holds one element).
    pub shape: Vec<usize>,
    /// How the file laid the data out; `data` is in C order either way.
    pub fortran_order: bool,
    /// The format version: (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    pub data: Data,
    le: Vec<u8>,
}

impl Array {
    /// The number of elements (1 for a 0-d array).
    pub fn len(&self) -> usize {
        self.le.len() / self.dtype.item_size
    }

    pub fn is_empty(&self) -> bool {
        self.le.is_empty()
    }

    /// The elements in C order, each in little-endian byte order.
    pub fn le_bytes(&self) -> &[u8] {
        &self.le
    }

    /// Every element as f64, in C order (bools are 0 and 1; 64-bit integers past 2^53 round to
    /// the nearest f64).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            Data::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
            Data::I8(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I16(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U16(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F16(v) => v.iter().map(|&x| x.to_f64()).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F64(v) => v.clone(),
        }
    }

    /// The elements of a bool or integer array as i64 (None for floats, or a u64 past i64::MAX).
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        Some(match &self.data {
            Data::Bool(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I16(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U16(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I64(v) => v.clone(),
            Data::U64(v) => {
                let mut out = Vec::with_capacity(v.len());
                for &x in v {
                    out.push(i64::try_from(x).ok()?);
                }
                out
            }
            Data::F16(_) | Data::F32(_) | Data::F64(_) => return None,
        })
    }
}

/// Reads an `.npy` file with the default header limit.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Array, Error> {
    read_npy_with_limit(path, DEFAULT_MAX_HEADER_SIZE)
}

/// Reads an `.npy` file whose header may be up to `max_header_size` bytes long.
pub fn read_npy_with_limit(path: impl AsRef<Path>, max_header_size: usize) -> Result<Array, Error> {
    let path = path.as_ref();
    let bytes = read_regular_file(path)?;
    decode_npy(&bytes, max_header_size).map_err(|e| e.at(path))
}

/// Opens non-blocking where `O_NONBLOCK`'s value is known without a libc binding (this crate has no
/// dependencies); elsewhere the type check before opening still keeps a FIFO from being opened.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
))]
fn non_blocking(options: &mut std::fs::OpenOptions) {
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, 0o4000);
}
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd", target_os = "openbsd", target_os = "netbsd"))]
fn non_blocking(options: &mut std::fs::OpenOptions) {
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, 0x4);
}
#[cfg(not(any(
    all(
        any(target_os = "linux", target_os = "android"),
        any(
            target_arch = "x86",
            target_arch = "x86_64",
            target_arch = "arm",
            target_arch = "aarch64",
            target_arch = "riscv64"
        )
    ),
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd"
)))]
fn non_blocking(_options: &mut std::fs::OpenOptions) {}

/// Reads a whole regular file. Opening a FIFO for reading blocks until a writer appears, so the
/// type is checked before opening, the file is opened non-blocking where the flag is known (no
/// effect on a regular file), and the opened file's own type is checked again, leaving no race
/// with a path swapped in between. A FIFO, socket, device or directory is `NOT_A_FILE`.
fn read_regular_file(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let not_a_file = |meta: &std::fs::Metadata| {
        let kind = file_kind(meta);
        Error::npy(ErrorCode::NotAFile, format!("is {}; an NPY file must be a regular file", kind)).at(path)
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    non_blocking(&mut options);
    let mut file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

struct Header {
    descr: String,
    dtype: Dtype,
    little_endian: bool,
    shape: Vec<usize>,
    fortran_order: bool,
}

fn shape_string(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Decodes the bytes of a whole `.npy` file.
pub fn decode_npy(b: &[u8], max_header_size: usize) -> Result<Array, Error> {
    if b.len() < 8 {
        let n = b.len().min(MAGIC.len());
        if b[..n] != MAGIC[..n] {
            return Err(bad_magic(b));
        }
        return Err(Error::npy(
            ErrorCode::Truncated,
            format!("file ends after {} bytes, inside the NPY magic", b.len()),
        ));
    }
    if &b[..6] != MAGIC {
        return Err(bad_magic(b));
    }
    let (major, minor) = (b[6], b[7]);
    if !(1..=3).contains(&major) || minor != 0 {
        return Err(Error::npy(
            ErrorCode::UnsupportedVersion,
            format!("NPY format version {}.{} is not supported (1.0, 2.0 and 3.0 are)", major, minor),
        ));
    }
    let prefix = if major == 1 { 10 } else { 12 };
    if b.len() < prefix {
        return Err(Error::npy(
            ErrorCode::Truncated,
            format!("file ends after {} bytes, inside the header length", b.len()),
        ));
    }
    let header_len = if major == 1 {
        u16::from_le_bytes([b[8], b[9]]) as u64
    } else {
        u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as u64
    };
    if header_len > max_header_size as u64 {
        return Err(Error::npy(
            ErrorCode::HeaderTooLarge,
            format!(
                "header is {} bytes, over the limit of {} (raise the limit to read it)",
                header_len, max_header_size
            ),
        ));
    }
    let data_offset = prefix + header_len as usize;
    if b.len() < data_offset {
        return Err(Error::npy(
            ErrorCode::Truncated,
            format!("file ends after {} bytes, inside a header that needs {}", b.len(), data_offset),
        ));
    }
    let text = &b[prefix..data_offset];
    if major == 3 && std::str::from_utf8(text).is_err() {
        return Err(Error::npy(ErrorCode::BadHeader, "v3.0 header is not valid UTF-8"));
    }
    // v1/v2 headers are latin-1; the parser works on bytes and only ASCII matters in them.
    let literal = parse_python_literal(text, major <= 2)?;
    let h = validate_header(&literal)?;
    let count: usize = h.shape.iter().product(); // validate_header checked for overflow
    let need = count * h.dtype.item_size;
    let have = b.len() - data_offset;
    if have < need {
        return Err(Error::npy(
            ErrorCode::Truncated,
            format!("data is {} bytes but shape {} of {} needs {}", have, shape_string(&h.shape), h.descr, need),
        ));
    }
    if have > need {
        return Err(Error::npy(
            ErrorCode::TrailingData,
            format!(
                "{} bytes follow the {} bytes of data that shape {} of {} calls for",
                have - need,
                need,
                shape_string(&h.shape),
                h.descr
            ),
        ));
    }
    let src = &b[data_offset..];
    let mut le = if h.fortran_order { fortran_to_c(src, &h.shape, h.dtype.item_size) } else { src.to_vec() };
    if !h.little_endian && h.dtype.item_size > 1 {
        for item in le.chunks_exact_mut(h.dtype.item_size) {
            item.reverse();
        }
    }
    let data = typed(&h.dtype, &le);
    Ok(Array {
        descr: h.descr,
        dtype: h.dtype,
        shape: h.shape,
        fortran_order: h.fortran_order,
        version: (major, 0),
        data,
        le,
    })
}

fn bad_magic(b: &[u8]) -> Error {
    let head: Vec<String> = b.iter().take(6).map(|x| format!("{:02x}", x)).collect();
    Error::npy(ErrorCode::BadMagic, format!("not an NPY file: starts with [{}], expected \\x93NUMPY", head.join(" ")))
}

fn validate_header(v: &PyValue) -> Result<Header, Error> {
    let entries = match v {
        PyValue::Dict(entries) => entries,
        other => return Err(Error::npy(ErrorCode::BadHeader, format!("header is not a dict: {}", other.describe()))),
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    let mut keys = Vec::new();
    for (k, value) in entries {
        match k {
            PyValue::Str(name) => {
                match name.as_str() {
                    "descr" => descr = Some(value),
                    "fortran_order" => fortran = Some(value),
                    "shape" => shape = Some(value),
                    _ => {}
                }
                keys.push(name.clone());
            }
            other => keys.push(other.describe()),
        }
    }
    let (descr, fortran, shape) = match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) if keys.len() == 3 => (d, f, s),
        _ => {
            return Err(Error::npy(
                ErrorCode::BadHeader,
                format!("header keys are [{}]; expected exactly [descr, fortran_order, shape]", keys.join(", ")),
            ))
        }
    };
    let descr = match descr {
        PyValue::Str(s) => s.clone(),
        PyValue::List(_) => {
            return Err(Error::npy(ErrorCode::UnsupportedDtype, "structured dtypes (a list descr) are not supported"))
        }
        other => {
            return Err(Error::npy(
                ErrorCode::BadHeader,
                format!("'descr' is not a dtype string: {}", other.describe()),
            ))
        }
    };
    let fortran_order = match fortran {
        PyValue::Bool(b) => *b,
        other => {
            return Err(Error::npy(
                ErrorCode::BadHeader,
                format!("'fortran_order' is not True or False: {}", other.describe()),
            ))
        }
    };
    let items = match shape {
        PyValue::Tuple(items) => items,
        other => return Err(Error::npy(ErrorCode::BadShape, format!("'shape' is not a tuple: {}", other.describe()))),
    };
    let mut dims = Vec::with_capacity(items.len());
    for (axis, item) in items.iter().enumerate() {
        match item {
            PyValue::Int(Some(n)) if *n >= 0 && *n <= i64::MAX as i128 && usize::try_from(*n).is_ok() => {
                dims.push(*n as usize)
            }
            other => {
                return Err(Error::npy(
                    ErrorCode::BadShape,
                    format!("'shape' axis {} is {}; expected a non-negative integer", axis, other.describe()),
                ))
            }
        }
    }
    // The non-zero axes alone must multiply to at most 2^53 − 1, as in @ldakit/npy: NumPy refuses
    // an empty array whose other axes overflow, so (2**40, 2**40, 0) is no harmless empty array.
    let mut non_zero: u64 = 1;
    for &d in dims.iter().filter(|&&d| d != 0) {
        non_zero = match non_zero.checked_mul(d as u64) {
            Some(c) if c <= MAX_ELEMENTS => c,
            _ => {
                return Err(Error::npy(
                    ErrorCode::BadShape,
                    format!("shape {} holds too many elements", shape_string(&dims)),
                ))
            }
        };
    }
    let count = if dims.contains(&0) { 0 } else { non_zero };
    // the byte count must be addressable (and fit in an i64)
    let limit = (isize::MAX as u64).min(i64::MAX as u64);
    let (dtype, little_endian) = parse_dtype(&descr)?;
    if count.checked_mul(dtype.item_size as u64).map_or(true, |n| n > limit) {
        return Err(Error::npy(
            ErrorCode::BadShape,
            format!("shape {} of {} holds too many bytes", shape_string(&dims), descr),
        ));
    }
    Ok(Header { descr, dtype, little_endian, shape: dims, fortran_order })
}

/// The most elements a shape may hold, 2^53 − 1: the largest count a JSON number (and
/// `@ldakit/npy`'s JavaScript) holds exactly.
const MAX_ELEMENTS: u64 = (1 << 53) - 1;

/// Reads a NumPy dtype string such as `<f4`, `>i8`, `|b1`, `=u2` or `f8`; returns the dtype and
/// whether its bytes are little-endian.
pub fn parse_dtype(descr: &str) -> Result<(Dtype, bool), Error> {
    let (order, rest) = match descr.as_bytes().first() {
        Some(c @ (b'<' | b'>' | b'|' | b'=')) => (*c, &descr[1..]),
        _ => (b'=', descr),
    };
    let code = match rest {
        "?" => "b1",
        "b" => "i1",
        "B" => "u1",
        "h" => "i2",
        "H" => "u2",
        "i" => "i4",
        "I" => "u4",
        "q" => "i8",
        "Q" => "u8",
        "e" => "f2",
        "f" => "f4",
        "d" => "f8",
        other => other,
    };
    let dtype = match code {
        "b1" | "i1" | "u1" | "i2" | "u2" | "i4" | "u4" | "i8" | "u8" | "f2" | "f4" | "f8" => {
            Dtype { kind: code.as_bytes()[0], item_size: (code.as_bytes()[1] - b'0') as usize }
        }
        _ => {
            let why = if rest.starts_with('O') || rest.starts_with('V') {
                " (object and void dtypes can hold pickled Python objects and are never loaded)"
            } else {
                ""
            };
            return Err(Error::npy(
                ErrorCode::UnsupportedDtype,
                format!("unsupported dtype {:?}{}; supported: b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8", descr, why),
            ));
        }
    };
    // '|' means "byte order does not apply"; NumPy reads a multi-byte '|' type as native.
    let little =
        dtype.item_size == 1 || order == b'<' || ((order == b'=' || order == b'|') && cfg!(target_endian = "little"));
    Ok((dtype, little))
}

/// Fortran-ordered elements to C order.
fn fortran_to_c(src: &[u8], shape: &[usize], item: usize) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let mut dst = vec![0u8; n * item];
    if shape.len() < 2 || n == 0 {
        dst.copy_from_slice(&src[..n * item]);
        return dst;
    }
    let rank = shape.len();
    let mut strides = vec![1usize; rank]; // Fortran strides, in elements
    for k in 1..rank {
        strides[k] = strides[k - 1] * shape[k - 1];
    }
    let mut idx = vec![0usize; rank];
    let mut off = 0usize;
    for c in 0..n {
        dst[c * item..(c + 1) * item].copy_from_slice(&src[off * item..(off + 1) * item]);
        for k in (0..rank).rev() {
            idx[k] += 1;
            off += strides[k];
            if idx[k] < shape[k] {
                break;
            }
            off -= strides[k] * shape[k];
            idx[k] = 0;
        }
    }
    dst
}

fn typed(dtype: &Dtype, le: &[u8]) -> Data {
    fn chunks<const N: usize>(le: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        le.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    match (dtype.kind, dtype.item_size) {
        (b'b', _) => Data::Bool(le.iter().map(|&x| x != 0).collect()),
        (b'i', 1) => Data::I8(le.iter().map(|&x| x as i8).collect()),
        (b'u', 1) => Data::U8(le.to_vec()),
        (b'i', 2) => Data::I16(chunks::<2>(le).map(i16::from_le_bytes).collect()),
        (b'u', 2) => Data::U16(chunks::<2>(le).map(u16::from_le_bytes).collect()),
        (b'f', 2) => Data::F16(chunks::<2>(le).map(|c| F16(u16::from_le_bytes(c))).collect()),
        (b'i', 4) => Data::I32(chunks::<4>(le).map(i32::from_le_bytes).collect()),
        (b'u', 4) => Data::U32(chunks::<4>(le).map(u32::from_le_bytes).collect()),
        (b'f', 4) => Data::F32(chunks::<4>(le).map(|c| f32::from_bits(u32::from_le_bytes(c))).collect()),
        (b'i', 8) => Data::I64(chunks::<8>(le).map(i64::from_le_bytes).collect()),
        (b'u', 8) => Data::U64(chunks::<8>(le).map(u64::from_le_bytes).collect()),
        _ => Data::F64(chunks::<8>(le).map(|c| f64::from_bits(u64::from_le_bytes(c))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let total = 10 + header.len() + 1;
        let text = format!("{}{}\n", header, " ".repeat((64 - total % 64) % 64));
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn f4(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn accepts_what_numpy_accepts() {
        for header in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
            "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}",
            "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3,)}",
            "{\n\t'descr' :\t'<f4' ,\n 'fortran_order':False,\r\n'shape':( 3 , ) ,\n}",
            "{'descr': 'f', 'fortran_order': False, 'shape': (3,), }",
            "{'descr': '=f4', 'fortran_order': False, 'shape': (3L,), }",
        ] {
            let a = decode_npy(&npy(header, &f4(&[0.0, 1.0, 2.0])), DEFAULT_MAX_HEADER_SIZE).expect(header);
            assert_eq!(a.data, Data::F32(vec![0.0, 1.0, 2.0]), "{}", header);
            assert_eq!(a.shape, vec![3]);
        }
    }

    #[test]
    fn error_codes() {
        let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (True,), }", &[]), ErrorCode::BadShape),
            (
                npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", &[]),
                ErrorCode::BadShape,
            ),
            (
                npy("{'descr': ('<f4', (3,)), 'fortran_order': False, 'shape': (1,), }", &f4(&[0.0; 3])),
                ErrorCode::BadHeader,
            ),
            (
                npy("{'descr': '<i4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", &f4(&[0.0; 4])),
                ErrorCode::TrailingData,
            ),
        ];
        for (bytes, code) in cases {
            let err = decode_npy(&bytes, DEFAULT_MAX_HEADER_SIZE).unwrap_err();
            assert_eq!(err.code(), Some(code), "{}", err);
        }
    }

    #[test]
    fn half_floats() {
        assert_eq!(F16(0x3c00).to_f64(), 1.0);
        assert_eq!(F16(0xc000).to_f64(), -2.0);
        assert_eq!(F16(0x7bff).to_f64(), 65504.0);
        assert_eq!(F16(0x0001).to_f64(), 2f64.powi(-24));
        assert_eq!(F16(0x0400).to_f64(), 2f64.powi(-14));
        assert_eq!(F16(0x7c00).to_f64(), f64::INFINITY);
        assert!(F16(0x7e00).to_f64().is_nan());
        assert!(F16(0x8000).to_f64().is_sign_negative());
    }

    #[test]
    fn fortran_order() {
        // shape (2, 3) written column by column: 0 3 1 4 2 5 is C order 0 1 2 3 4 5
        let a = decode_npy(
            &npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", &f4(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0])),
            DEFAULT_MAX_HEADER_SIZE,
        )
        .unwrap();
        assert_eq!(a.data, Data::F32(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
    }
}
