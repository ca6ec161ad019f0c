//! The loader on the fixtures, the suite as a whole, and store errors.

use std::path::{Path, PathBuf};

use ldakit_loader::json::{self, Json};
use ldakit_loader::suite::{run, Loader, LoaderError, NpyResult, Options, ProjectionApi, Reference};
use ldakit_loader::{
    discover_projections, load_projection, model_folder, model_name_problem, read_npy, ErrorCode, ErrorKind,
};

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

/// The manifest's model-name table, shared by every runner, through `model_folder`.
#[test]
fn model_folder_table() {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    let manifest = json::parse(&text).unwrap();
    let table = manifest.get("model_names").and_then(Json::as_array).expect("model_names");
    let (mut valid, mut refused) = (0, 0);
    for entry in table {
        let case = entry.get("case").and_then(Json::as_str).unwrap();
        let name = entry.get("name").and_then(Json::as_str).unwrap();
        let problem = model_name_problem(name);
        match entry.get("folder").and_then(Json::as_str) {
            Some(folder) => {
                valid += 1;
                assert_eq!(model_folder(name).ok().as_deref(), Some(folder), "{}: {:?}", case, name);
                assert_eq!(problem, None, "{}", case);
            }
            None => {
                refused += 1;
                assert_eq!(entry.get("error").and_then(Json::as_bool), Some(true), "{}", case);
                let err = model_folder(name).expect_err(case);
                assert_eq!(err.kind, ErrorKind::Store);
                let problem = problem.unwrap_or_else(|| panic!("{}: no problem", case));
                assert!(err.to_string().ends_with(&format!(": {}", problem)), "{}: {}", case, err);
            }
        }
    }
    // the table covers both sides, so a rule that refuses everything or nothing fails here
    assert!(valid >= 10 && refused >= 10, "{} valid, {} refused", valid, refused);
}

/// The messages say what is wrong and where, in the words of @ldakit/format.
#[test]
fn model_name_messages() {
    let us = r#"; use letters A-Z a-z, digits, ".", "_", "-" and "/""#;
    let cases: &[(&str, String)] = &[
        ("", "the name is empty".into()),
        ("my model", format!(r#"character " " (U+0020) at position 3 is not allowed{}"#, us)),
        ("a\\b", format!(r#"character "\\" (U+005C) at position 2 is not allowed{}"#, us)),
        ("modèle", format!(r#"character "è" (U+00E8) at position 4 is not allowed{}"#, us)),
        // positions count characters, not bytes: "è" is two bytes in UTF-8
        ("ab😀", format!(r#"character "😀" (U+1F600) at position 3 is not allowed{}"#, us)),
        ("\u{ff41}bc", format!("character \"\u{ff41}\" (U+FF41) at position 1 is not allowed{}", us)),
        ("a\0", format!(r#"character "\0" (U+0000) at position 2 is not allowed{}"#, us)),
        ("a b//c", format!(r#"character " " (U+0020) at position 2 is not allowed{}"#, us)),
        ("a//b", r#""//" at position 2 leaves an empty part; separate parts with a single "/""#.into()),
        ("org/a///b", r#""//" at position 6 leaves an empty part; separate parts with a single "/""#.into()),
        ("/a", r#"the name starts with "/"; "/" separates parts and no part may be empty"#.into()),
        ("a/", r#"the name ends with "/"; "/" separates parts and no part may be empty"#.into()),
        ("./", r#"the name ends with "/"; "/" separates parts and no part may be empty"#.into()),
        (".", r#""." is not a usable folder name"#.into()),
        ("..", r#"".." is not a usable folder name"#.into()),
    ];
    for (name, message) in cases {
        assert_eq!(model_name_problem(name).as_deref(), Some(message.as_str()), "{:?}", name);
    }
    assert_eq!(
        model_folder("my model").unwrap_err().to_string(),
        format!(r#"invalid model name "my model": character " " (U+0020) at position 3 is not allowed{}"#, us)
    );
}

/// The rule said another way — split at '/', every part non-empty and of [A-Za-z0-9._-], and
/// not "." or ".." — agrees with `model_name_problem` on every name of up to 5 characters over
/// a small alphabet.
#[test]
fn model_name_rule_exhaustive() {
    fn by_parts(name: &str) -> bool {
        name != "."
            && name != ".."
            && name.split('/').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            })
    }
    let alphabet = ['a', '.', '/', '_', '-', ' '];
    let mut names = vec![String::new()];
    let mut checked = 0;
    while let Some(name) = names.pop() {
        let want = by_parts(&name);
        assert_eq!(model_name_problem(&name).is_none(), want, "{:?}", name);
        if want {
            assert_eq!(model_folder(&name).unwrap(), name.replace('/', "__"));
        }
        checked += 1;
        if name.len() < 5 {
            names.extend(alphabet.iter().map(|c| format!("{}{}", name, c)));
        }
    }
    assert_eq!(checked, 1 + 6 + 36 + 216 + 1296 + 7776);
}

#[test]
fn model_folder_shared_by_two_names() {
    assert_eq!(model_folder("a/b").unwrap(), "a__b");
    assert_eq!(model_folder("a__b").unwrap(), "a__b");
    assert_eq!(
        model_folder("sentence-transformers/all-MiniLM-L6-v2").unwrap(),
        "sentence-transformers__all-MiniLM-L6-v2"
    );
}

/// A store whose mh_<id>.json names a model with an empty part, in the folder that name would
/// map to, is refused with the reason (the old rule mapped "a//b" to "a____b" and accepted it).
#[test]
fn discovery_refuses_a_bad_model_name() {
    let root = tempdir("badname");
    let dir = root.join("embeddings/a____b");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mh_1.json"),
        r#"{"format": "ldakit.mh/1", "mh_projection_id": 1, "model": "a//b", "dimensions": 3, "temperature": 0.1, "num_heads": 1, "cluster_ids": [5]}"#,
    )
    .unwrap();
    let err = discover_projections(&root).unwrap_err().to_string();
    assert!(err.contains("mh_1.json") && err.contains(r#"invalid model name "a//b": "//" at position 2"#), "{}", err);
    let _ = std::fs::remove_dir_all(&root);
}

/// The reference loader with the rule ldakit's loaders had before docs/FORMAT.md §1.3: '/'
/// becomes "__" and only the resulting folder is checked, so empty parts slip through.
struct OldModelRule;

impl Loader for OldModelRule {
    fn read_npy(&self, path: &Path, max_header_size: usize) -> Result<NpyResult, LoaderError> {
        Reference.read_npy(path, max_header_size)
    }
    fn discover_projections(&self, root: &Path) -> Result<Vec<(i64, String)>, String> {
        Reference.discover_projections(root)
    }
    fn load_projection(&self, root: &Path, mh_id: i64) -> Result<Box<dyn ProjectionApi>, String> {
        Reference.load_projection(root, mh_id)
    }
    fn model_folder(&self, model: &str) -> Result<String, String> {
        let folder = model.replace('/', "__");
        if folder.is_empty()
            || folder == "."
            || folder == ".."
            || !folder.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err("not a folder name".into());
        }
        Ok(folder)
    }
}

#[test]
fn the_suite_catches_empty_parts() {
    let opts = Options { fixtures: fixtures(), expected_failures: None, filter: "model-name/".into() };
    let mut out = Vec::new();
    let (passed, failed) = run(&OldModelRule, &opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for case in ["double-slash", "triple-slash", "leading-slash", "trailing-slash", "dot-slash"] {
        assert!(text.contains(&format!("FAIL model-name/{}: ", case)), "{}: {}", case, text);
    }
    assert!(passed > 0 && failed > 0 && !text.contains("FAIL model-name/space"), "{}", text);
    assert!(text.ends_with(&format!("{} passed, {} failed\n", passed, failed)));
    assert!(text.contains(
        r#"FAIL model-name/double-slash: "a//b" is accepted as the folder "a____b"; expected it to be refused"#
    ));
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
    std::fs::write(dir.join("mh_1.json"), meta("ldakit.mh/3", "m")).unwrap();
    let err = discover_projections(&root).unwrap_err().to_string();
    assert!(err.contains("format"), "{}", err);
    let _ = std::fs::remove_dir_all(&root);
}

/// A two-head projection of d = 2 (c = a = the axes) with `extra` appended to `mh_1.json`, and W
/// as '<f8' when given.
fn adapter_store(tag: &str, format: &str, temperature: f64, extra: &str, w: Option<&[f64]>) -> PathBuf {
    let root = tempdir(tag);
    let dir = root.join("embeddings/m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mh_1.json"),
        format!(
            r#"{{"format": "{}", "mh_projection_id": 1, "model": "m", "dimensions": 2, "temperature": {}, "num_heads": 2, "cluster_ids": [1, 2]{}}}"#,
            format, temperature, extra
        ),
    )
    .unwrap();
    let vec = |x: f32, y: f32| npy_f4("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &[x, y]);
    std::fs::write(dir.join("mh_1_cluster_1_centroid.npy"), vec(1.0, 0.0)).unwrap();
    std::fs::write(dir.join("mh_1_cluster_1_answer.npy"), vec(1.0, 0.0)).unwrap();
    std::fs::write(dir.join("mh_1_cluster_2_centroid.npy"), vec(0.0, 1.0)).unwrap();
    std::fs::write(dir.join("mh_1_cluster_2_answer.npy"), vec(0.0, 1.0)).unwrap();
    if let Some(w) = w {
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
        let text = format!("{}{}\n", header, " ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
        for x in w {
            out.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(dir.join("mh_1_W.npy"), out).unwrap();
    }
    root
}

/// W = [[0, 0], [1, 0]] (W[1, 0] = 1) sends q = (1, 0) to r = (0, 1): routing goes to head 2,
/// where q itself (or Wᵀ q = 0) would go to head 1 (or be refused); β = ½ then blends p ≈ (0, 1)
/// with q̂ = (1, 0).
#[test]
fn adapter_orientation_and_blend() {
    let root = adapter_store(
        "adapter",
        "ldakit.mh/2",
        0.01,
        r#", "adapter": "mh_1_W.npy", "blend": 0.5"#,
        Some(&[0.0, 0.0, 1.0, 0.0]),
    );
    let p = load_projection(&root, 1).unwrap();
    assert_eq!(p.blend, 0.5);
    assert_eq!(p.adapter, Some(vec![vec![0.0, 0.0], vec![1.0, 0.0]]));
    let w = p.weights(&[3.0, 0.0]).unwrap();
    assert!(w[1] == 1.0 && w[0] < 1e-40, "{:?}", w);
    let b = p.project(&[3.0, 0.0]).unwrap();
    let h = 0.5f64.sqrt();
    assert!((b[0] - h).abs() < 1e-15 && (b[1] - h).abs() < 1e-15, "{:?}", b);
    let hits = p.search(&[3.0, 0.0], 2).unwrap();
    assert_eq!(hits[0].cluster_id, 1);
    assert!((hits[0].score - hits[1].score).abs() < 1e-15, "{:?}", hits);
    let err = p.search(&[0.0, 1.0], 2).unwrap_err().to_string();
    assert!(err.contains("adapter"), "{}", err);
    let _ = std::fs::remove_dir_all(&root);
}

/// A W file with `fortran_order` True holds W column by column; the adapter is the matrix np.load
/// returns, not the bytes read row by row (which would be Wᵀ). Checked in both byte orders, since
/// the swap and the transposition must compose.
#[test]
fn adapter_fortran_order() {
    type Encode = fn(f64) -> Vec<u8>;
    let encodings: [(&str, Encode); 2] =
        [("<f4", |x| (x as f32).to_le_bytes().to_vec()), (">f8", |x| x.to_be_bytes().to_vec())];
    for (n, (descr, encode)) in encodings.iter().enumerate() {
        let header = format!("{{'descr': '{}', 'fortran_order': True, 'shape': (2, 2), }}", descr);
        let text = format!("{}{}\n", header, " ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
        let store = |tag: &str, columns: [f64; 4]| {
            let root = adapter_store(
                &format!("fortran{}{}", tag, n),
                "ldakit.mh/2",
                0.01,
                r#", "adapter": "mh_1_W.npy", "blend": 0.5"#,
                None,
            );
            let mut out = b"\x93NUMPY\x01\x00".to_vec();
            out.extend_from_slice(&(text.len() as u16).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
            for x in columns {
                out.extend(encode(x));
            }
            std::fs::write(root.join("embeddings/m/mh_1_W.npy"), out).unwrap();
            root
        };
        // W = [[1, 2], [3, 4]]: by column the file holds 1, 3, 2, 4
        let root = store("values", [1.0, 3.0, 2.0, 4.0]);
        let p = load_projection(&root, 1).unwrap();
        assert_eq!(p.adapter, Some(vec![vec![1.0, 2.0], vec![3.0, 4.0]]), "{}", descr);
        let _ = std::fs::remove_dir_all(&root);
        // W = [[0, 0], [1, 0]] sends q = (1, 0) to (0, 1), head 2; the bytes read row by row (Wᵀ)
        // would send it to zero and refuse the query
        let root = store("route", [0.0, 1.0, 0.0, 0.0]);
        let w = load_projection(&root, 1).unwrap().weights(&[3.0, 0.0]);
        assert!(matches!(&w, Ok(w) if w[1] == 1.0 && w[0] < 1e-40), "{}: {:?}", descr, w);
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// The reference loader with the bug heads/adapter_fortran is there to catch: it takes the W
/// file's data bytes row by row whatever its header's fortran_order says.
struct FortranBlind;

impl Loader for FortranBlind {
    fn read_npy(&self, path: &Path, max_header_size: usize) -> Result<NpyResult, LoaderError> {
        Reference.read_npy(path, max_header_size)
    }
    fn discover_projections(&self, root: &Path) -> Result<Vec<(i64, String)>, String> {
        Reference.discover_projections(root)
    }
    fn load_projection(&self, root: &Path, mh_id: i64) -> Result<Box<dyn ProjectionApi>, String> {
        let mut p = load_projection(root, mh_id).map_err(|e| e.to_string())?;
        let info = discover_projections(root)
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|i| i.mh_id == mh_id)
            .ok_or("no such projection")?;
        if let (Some(name), Some(w)) = (&info.meta.adapter, &mut p.adapter) {
            let path = info.dir.join(name);
            let arr = read_npy(&path).map_err(|e| e.to_string())?;
            let raw = std::fs::read(&path).map_err(|e| e.to_string())?;
            let (size, d) = (arr.dtype.item_size, p.dimensions);
            // the loader has checked that nothing follows the data
            let data = &raw[raw.len() - d * d * size..];
            let big = arr.descr.starts_with('>');
            for (i, row) in w.iter_mut().enumerate() {
                for (j, x) in row.iter_mut().enumerate() {
                    let at = &data[(i * d + j) * size..(i * d + j + 1) * size];
                    *x = match (size, big) {
                        (4, false) => f32::from_le_bytes(at.try_into().unwrap()) as f64,
                        (4, true) => f32::from_be_bytes(at.try_into().unwrap()) as f64,
                        (_, false) => f64::from_le_bytes(at.try_into().unwrap()),
                        (_, true) => f64::from_be_bytes(at.try_into().unwrap()),
                    };
                }
            }
        }
        Ok(Box::new(p))
    }
    fn model_folder(&self, model: &str) -> Result<String, String> {
        Reference.model_folder(model)
    }
}

#[test]
fn the_suite_catches_a_fortran_blind_adapter() {
    let opts = Options { fixtures: fixtures(), expected_failures: None, filter: "heads/adapter_".into() };
    let mut out = Vec::new();
    // every adapter case but the Fortran-ordered one is unaffected by the bug
    let (passed, failed) = run(&FortranBlind, &opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(passed == 4 && failed == 1 && text.contains("FAIL heads/adapter_fortran/mh_26: "), "{}", text);
    let mut out = Vec::new();
    assert_eq!(run(&Reference, &opts, &mut out).unwrap(), (5, 0));
}

/// β = ½ with p = −q̂ cancels: b = 0, every score is 0 and the ranking is by cluster id.
#[test]
fn blend_cancels() {
    // τ = 0.001 makes routing exactly one-hot (e^-1000 underflows), so p = −q̂ exactly
    let root = adapter_store("cancel", "ldakit.mh/2", 0.001, r#", "blend": 0.5"#, None);
    std::fs::write(
        root.join("embeddings/m/mh_1_cluster_1_answer.npy"),
        npy_f4("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &[-1.0, 0.0]),
    )
    .unwrap();
    let p = load_projection(&root, 1).unwrap();
    assert_eq!(p.project(&[1.0, 0.0]).unwrap(), vec![0.0, 0.0]);
    let hits = p.search(&[1.0, 0.0], 2).unwrap();
    assert_eq!((hits[0].cluster_id, hits[0].score, hits[1].score), (1, 0.0, 0.0), "{:?}", hits);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn adapter_and_blend_keys() {
    let eye: &[f64] = &[1.0, 0.0, 0.0, 1.0];
    let nan: &[f64] = &[1.0, f64::NAN, 0.0, 1.0];
    let cases: &[(&str, &str, Option<&[f64]>, &str)] = &[
        ("ldakit.mh/1", r#", "blend": 1, "adapter": null"#, None, ""),
        ("ldakit.mh/2", r#", "adapter": null"#, None, ""),
        ("ldakit.mh/2", r#", "blend": 0"#, None, ""),
        ("ldakit.mh/2", r#", "adapter": "mh_1_W.npy""#, Some(eye), ""),
        ("ldakit.mh/1", r#", "blend": 0.5"#, None, "ldakit.mh/2"),
        ("ldakit.mh/1", r#", "adapter": "mh_1_W.npy""#, Some(eye), "ldakit.mh/2"),
        ("ldakit.mh/2", r#", "blend": null"#, None, "blend is null"),
        ("ldakit.mh/2", r#", "blend": true"#, None, "blend is true"),
        ("ldakit.mh/2", r#", "blend": 1.0000001"#, None, "blend is 1.0000001"),
        ("ldakit.mh/2", r#", "adapter": "./mh_1_W.npy""#, Some(eye), "adapter is"),
        ("ldakit.mh/2", r#", "adapter": 1"#, None, "adapter is 1"),
        ("ldakit.mh/2", r#", "adapter": "mh_1_W.npy""#, None, "mh_1_W.npy"),
        ("ldakit.mh/2", r#", "adapter": "mh_1_W.npy""#, Some(nan), "W[0, 1] is NaN"),
    ];
    for (i, (format, extra, w, problem)) in cases.iter().enumerate() {
        let root = adapter_store(&format!("keys{}", i), format, 0.1, extra, *w);
        let got = load_projection(&root, 1);
        match (problem.is_empty(), got) {
            (true, Err(e)) => panic!("{}{}: {}", format, extra, e),
            (false, Ok(_)) => panic!("{}{}: loaded; expected an error with {:?}", format, extra, problem),
            (false, Err(e)) => assert!(e.to_string().contains(problem), "{}{}: {}", format, extra, e),
            (true, Ok(_)) => {}
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
