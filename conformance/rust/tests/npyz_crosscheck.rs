//! Cross-checks `read_npy` against the `npyz` crate (a dev-dependency) on every valid fixture:
//! same dtype, shape and order, and the same values bit for bit, in the same order.

use std::path::{Path, PathBuf};

use ldakit_loader::json::{self, Json};
use ldakit_loader::npy::{read_npy_with_limit, Array, Data, DEFAULT_MAX_HEADER_SIZE};
use npyz::half::f16;
use npyz::{NpyFile, Order};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Elements read by npyz (file order) as little-endian bytes.
fn npyz_le_bytes(npy: NpyFile<&[u8]>, code: &str) -> Vec<u8> {
    fn le<T: npyz::Deserialize, const N: usize>(npy: NpyFile<&[u8]>, f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        npy.into_vec::<T>().expect("npyz read").into_iter().flat_map(f).collect()
    }
    match code {
        "b1" => le(npy, |x: bool| [x as u8]),
        "i1" => le(npy, i8::to_le_bytes),
        "u1" => le(npy, u8::to_le_bytes),
        "i2" => le(npy, i16::to_le_bytes),
        "u2" => le(npy, u16::to_le_bytes),
        "f2" => le(npy, |x: f16| x.to_bits().to_le_bytes()),
        "i4" => le(npy, i32::to_le_bytes),
        "u4" => le(npy, u32::to_le_bytes),
        "f4" => le(npy, |x: f32| x.to_bits().to_le_bytes()),
        "i8" => le(npy, i64::to_le_bytes),
        "u8" => le(npy, u64::to_le_bytes),
        "f8" => le(npy, |x: f64| x.to_bits().to_le_bytes()),
        other => panic!("no Rust type for {}", other),
    }
}

/// Fortran-ordered items to C order; an independent implementation from the loader's (it
/// computes each element's Fortran offset from its index).
fn fortran_to_c(bytes: &[u8], shape: &[usize], item: usize) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n * item);
    for c in 0..n {
        let mut rem = c;
        let mut idx = vec![0; shape.len()];
        for k in (0..shape.len()).rev() {
            idx[k] = rem % shape[k];
            rem /= shape[k];
        }
        let (mut f, mut stride) = (0, 1);
        for k in 0..shape.len() {
            f += idx[k] * stride;
            stride *= shape[k];
        }
        out.extend_from_slice(&bytes[f * item..(f + 1) * item]);
    }
    out
}

fn check(case: &Json) -> Result<(), String> {
    let rel = case.get("path").and_then(Json::as_str).unwrap();
    let path = fixtures().join(rel);
    let limit =
        case.get("max_header_size").and_then(Json::as_i64).map(|n| n as usize).unwrap_or(DEFAULT_MAX_HEADER_SIZE);
    let ours: Array = read_npy_with_limit(&path, limit).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&path).unwrap();
    let npy = NpyFile::new(&bytes[..]).map_err(|e| format!("npyz: {}", e))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    if shape != ours.shape {
        return Err(format!("npyz reads shape {:?}, ours {:?}", shape, ours.shape));
    }
    let fortran = matches!(npy.order(), Order::Fortran);
    if fortran != ours.fortran_order {
        return Err(format!("npyz reads fortran_order {}, ours {}", fortran, ours.fortran_order));
    }
    let descr = npy.dtype().descr();
    let descr = descr.trim_matches('\'');
    if descr != ours.descr {
        return Err(format!("npyz reads descr {}, ours {}", descr, ours.descr));
    }
    let theirs = npyz_le_bytes(npy, &ours.dtype.code());
    let theirs = if fortran { fortran_to_c(&theirs, &shape, ours.dtype.item_size) } else { theirs };
    if theirs != ours.le_bytes() {
        return Err("values differ".into());
    }
    // the typed view agrees with the bytes too
    let n = ours.len();
    let typed_len = match &ours.data {
        Data::Bool(v) => v.len(),
        Data::I8(v) => v.len(),
        Data::U8(v) => v.len(),
        Data::I16(v) => v.len(),
        Data::U16(v) => v.len(),
        Data::F16(v) => v.len(),
        Data::I32(v) => v.len(),
        Data::U32(v) => v.len(),
        Data::F32(v) => v.len(),
        Data::I64(v) => v.len(),
        Data::U64(v) => v.len(),
        Data::F64(v) => v.len(),
    };
    if typed_len != n {
        return Err(format!("typed data has {} elements, expected {}", typed_len, n));
    }
    Ok(())
}

#[test]
fn every_valid_fixture_reads_as_npyz_reads_it() {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("fixtures/manifest.json");
    let manifest = json::parse(&text).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for case in manifest.get("cases").and_then(Json::as_array).unwrap() {
        if case.get("kind").and_then(Json::as_str) != Some("npy-valid") {
            continue;
        }
        count += 1;
        let name = case.get("name").and_then(Json::as_str).unwrap();
        if let Err(e) = check(case) {
            failures.push(format!("{}: {}", name, e));
        }
    }
    assert!(count > 0, "no npy-valid case in the manifest");
    assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), count, failures.join("\n"));
    println!("{} valid fixtures agree with npyz", count);
}
