//! The loader on the fixtures, the suite as a whole, and store errors.

use std::path::{Path, PathBuf};

use ldakit_loader::suite::{run, Options, Reference};
use ldakit_loader::{discover_projections, load_projection, model_folder, read_npy, ErrorCode, ErrorKind};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn the_whole_manifest_passes() {
    let opts = Options {
        fixtures: fixtures(),
        expected_failures: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("expected-failures.txt")),
        filter: String::new(),
    };
    let mut out = Vec::new();
    let (passed, failed) = run(&Reference, &opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(failed == 0 && passed > 0, "{}", text);
    assert!(text.ends_with(&format!("{} passed, 0 failed\n", passed)));
}

#[test]
fn stale_expected_failures_fail_the_run() {
    let dir = tempdir("xfail");
    let list = dir.join("expected-failures.txt");
    std::fs::write(&list, "# comment\nnpy/valid/f4_le_2x3 listed although it passes\nno/such/case gone\n").unwrap();
    let opts = Options { fixtures: fixtures(), expected_failures: Some(list), filter: "npy/valid/f4_le_2x3".into() };
    let mut out = Vec::new();
    let (_, failed) = run(&Reference, &opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(failed, 2, "{}", text);
    assert!(text.contains("FAIL npy/valid/f4_le_2x3: passes but is listed"));
    assert!(text.contains("FAIL no/such/case: listed in expected-failures but the manifest has no such case"));
}

#[test]
fn projection_from_fixtures() {
    let root = fixtures().join("heads/f32_small");
    let found = discover_projections(&root).unwrap();
    assert_eq!(found.iter().map(|p| p.mh_id).collect::<Vec<_>>(), vec![3, 31]);
    let p = load_projection(&root, 3).unwrap();
    assert_eq!((p.cluster_ids.len(), p.dimensions, p.temperature), (18, 384, 0.1));
    let q = p.centroids[5].clone();
    let w = p.weights(&q).unwrap();
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    let best = (0..w.len()).max_by(|&a, &b| w[a].partial_cmp(&w[b]).unwrap()).unwrap();
    assert_eq!(best, 5);
    assert!(p.project(&vec![0.0; 384]).is_err(), "a zero query");
    assert!(p.search(&[1.0, 2.0, 3.0], 5).is_err(), "a query of the wrong size");
    assert_eq!(p.search(&q, 1000).unwrap().len(), 18);
    assert!(load_projection(&root, 4).is_err());
    let f64_root = fixtures().join("heads/f64_centroids");
    assert_eq!(discover_projections(&f64_root).unwrap()[0].model_folder, "sentence-transformers__all-MiniLM-L6-v2");
}

#[test]
fn npy_errors_name_the_file_and_code() {
    let path = fixtures().join("npy/invalid/bad_magic_byte.npy");
    let err = read_npy(&path).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadMagic));
    assert!(err.to_string().contains("bad_magic_byte.npy") && err.to_string().contains("BAD_MAGIC"));
    let missing = read_npy(fixtures().join("nope.npy")).unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Io);
}

#[test]
fn model_folders() {
    assert_eq!(
        model_folder("sentence-transformers/all-MiniLM-L6-v2").unwrap(),
        "sentence-transformers__all-MiniLM-L6-v2"
    );
    for bad in ["", "a b", "..", "x:y"] {
        assert!(model_folder(bad).is_err(), "{:?}", bad);
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ldakit-loader-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn npy_f4(header: &str, values: &[f32]) -> Vec<u8> {
    let total = 10 + header.len() + 1;
    let text = format!("{}{}\n", header, " ".repeat((64 - total % 64) % 64));
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[test]
fn store_errors() {
    let root = tempdir("store");
    let dir = root.join("embeddings/m");
    std::fs::create_dir_all(&dir).unwrap();
    let meta = |fmt: &str, model: &str| {
        format!(
            r#"{{"format": "{}", "mh_projection_id": 1, "model": "{}", "dimensions": 3, "temperature": 0.1, "num_heads": 1, "cluster_ids": [5]}}"#,
            fmt, model
        )
    };
    std::fs::write(dir.join("mh_1.json"), meta("ldakit.mh/1", "m")).unwrap();
    std::fs::write(
        dir.join("mh_1_cluster_5_centroid.npy"),
        npy_f4("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", &[1.0, 0.0, 0.0]),
    )
    .unwrap();
    let err = load_projection(&root, 1).unwrap_err().to_string();
    assert!(err.contains("mh_1_cluster_5_answer.npy"), "{}", err);
    std::fs::write(
        dir.join("mh_1_cluster_5_answer.npy"),
        npy_f4("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", &[1.0, 0.0, 0.0]),
    )
    .unwrap();
    let err = load_projection(&root, 1).unwrap_err().to_string();
    assert!(err.contains("dtype"), "{}", err);
    std::fs::write(
        dir.join("mh_1_cluster_5_answer.npy"),
        npy_f4("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &[1.0, 0.0]),
    )
    .unwrap();
    let err = load_projection(&root, 1).unwrap_err().to_string();
    assert!(err.contains("shape"), "{}", err);
    std::fs::write(
        dir.join("mh_1_cluster_5_answer.npy"),
        npy_f4("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", &[0.0, 2.0, 0.0]),
    )
    .unwrap();
    let p = load_projection(&root, 1).unwrap();
    assert_eq!(p.search(&[1.0, 1.0, 0.0], 3).unwrap()[0].cluster_id, 5);
    std::fs::write(dir.join("mh_1.json"), meta("ldakit.mh/1", "other")).unwrap();
    let err = discover_projections(&root).unwrap_err().to_string();
    assert!(err.contains("folder"), "{}", err);
    std::fs::write(dir.join("mh_1.json"), meta("ldakit.mh/2", "m")).unwrap();
    let err = discover_projections(&root).unwrap_err().to_string();
    assert!(err.contains("format"), "{}", err);
    let _ = std::fs::remove_dir_all(&root);
}
