//! The conformance suite: runs the cases of `fixtures/manifest.json` against a [`Loader`] — the
//! reference loader of this crate ([`Reference`]) or your own behind a small adapter.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::json::{self, Json};
use crate::npy::{read_npy, DEFAULT_MAX_HEADER_SIZE};
use crate::sha256;

/// What a loader read from an `.npy` file.
#[derive(Debug, Clone)]
pub struct NpyResult {
    /// The dtype as written in the file, e.g. `">f4"`.
    pub descr: String,
    pub shape: Vec<usize>,
    pub fortran_order: bool,
    /// The elements in C order, each in little-endian byte order.
    pub le_bytes: Vec<u8>,
    /// The elements as f64, in C order.
    pub float64: Vec<f64>,
}

/// A loader's error: the stable code (`"BAD_MAGIC"`, ...) for NPY errors, and a message.
#[derive(Debug, Clone)]
pub struct LoaderError {
    pub code: Option<String>,
    pub message: String,
}

/// A loaded projection; weights come in `cluster_ids()` order; hits are (cluster id, score).
pub trait ProjectionApi {
    fn cluster_ids(&self) -> Vec<i64>;
    fn weights(&self, q: &[f64]) -> Result<Vec<f64>, String>;
    fn project(&self, q: &[f64]) -> Result<Vec<f64>, String>;
    fn search(&self, q: &[f64], k: usize) -> Result<Vec<(i64, f64)>, String>;
    fn direct_search(&self, q: &[f64], k: usize) -> Result<Vec<(i64, f64)>, String>;
}

/// What the suite checks.
pub trait Loader {
    fn read_npy(&self, path: &Path, max_header_size: usize) -> Result<NpyResult, LoaderError>;
    /// (mh id, model name) of every projection under a store root.
    fn discover_projections(&self, root: &Path) -> Result<Vec<(i64, String)>, String>;
    fn load_projection(&self, root: &Path, mh_id: i64) -> Result<Box<dyn ProjectionApi>, String>;
    /// A model's folder under `embeddings/`, or why the name breaks the model-name rule
    /// (docs/FORMAT.md §1.3).
    fn model_folder(&self, model: &str) -> Result<String, String>;
}

/// The loader of this crate.
pub struct Reference;

impl Loader for Reference {
    fn read_npy(&self, path: &Path, max_header_size: usize) -> Result<NpyResult, LoaderError> {
        match crate::npy::read_npy_with_limit(path, max_header_size) {
            Ok(a) => Ok(NpyResult {
                descr: a.descr.clone(),
                shape: a.shape.clone(),
                fortran_order: a.fortran_order,
                le_bytes: a.le_bytes().to_vec(),
                float64: a.to_f64(),
            }),
            Err(e) => Err(LoaderError { code: e.code().map(|c| c.as_str().to_string()), message: e.to_string() }),
        }
    }

    fn discover_projections(&self, root: &Path) -> Result<Vec<(i64, String)>, String> {
        crate::heads::discover_projections(root)
            .map(|v| v.into_iter().map(|p| (p.mh_id, p.model)).collect())
            .map_err(|e| e.to_string())
    }

    fn load_projection(&self, root: &Path, mh_id: i64) -> Result<Box<dyn ProjectionApi>, String> {
        match crate::heads::load_projection(root, mh_id) {
            Ok(p) => Ok(Box::new(p)),
            Err(e) => Err(e.to_string()),
        }
    }

    fn model_folder(&self, model: &str) -> Result<String, String> {
        crate::heads::model_folder(model).map_err(|e| e.to_string())
    }
}

fn pairs(hits: Vec<crate::heads::Hit>) -> Vec<(i64, f64)> {
    hits.into_iter().map(|h| (h.cluster_id, h.score)).collect()
}

impl ProjectionApi for crate::heads::Projection {
    fn cluster_ids(&self) -> Vec<i64> {
        self.cluster_ids.clone()
    }
    fn weights(&self, q: &[f64]) -> Result<Vec<f64>, String> {
        crate::heads::Projection::weights(self, q).map_err(|e| e.to_string())
    }
    fn project(&self, q: &[f64]) -> Result<Vec<f64>, String> {
        crate::heads::Projection::project(self, q).map_err(|e| e.to_string())
    }
    fn search(&self, q: &[f64], k: usize) -> Result<Vec<(i64, f64)>, String> {
        crate::heads::Projection::search(self, q, k).map(pairs).map_err(|e| e.to_string())
    }
    fn direct_search(&self, q: &[f64], k: usize) -> Result<Vec<(i64, f64)>, String> {
        crate::heads::Projection::direct_search(self, q, k).map(pairs).map_err(|e| e.to_string())
    }
}

/// Options of [`run`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The folder holding `manifest.json`.
    pub fixtures: PathBuf,
    /// A file of expected failures (`<case name> <reason>` a line, `#` comments). A listed case
    /// that passes, or that the manifest lacks, fails the run.
    pub expected_failures: Option<PathBuf>,
    /// Only the cases whose name contains this.
    pub filter: String,
}

/// Looks for `fixtures/manifest.json` in `start` and its parents.
pub fn find_fixtures(start: &Path) -> Option<PathBuf> {
    let mut dir = std::fs::canonicalize(start).ok()?;
    loop {
        let candidate = dir.join("fixtures");
        if candidate.join("manifest.json").is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Parses an expected-failures file into (name, reason) pairs, in file order.
pub fn read_expected_failures(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {}", path.display(), e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.find(|c: char| c.is_whitespace()) {
            Some(i) => (l[..i].to_string(), l[i..].trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect())
}

/// Runs every case, writing one line per case and the closing line `N passed, N failed`.
/// Returns (passed, failed).
pub fn run(loader: &dyn Loader, opts: &Options, out: &mut dyn Write) -> Result<(usize, usize), String> {
    let manifest_path = opts.fixtures.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| format!("{}: {}", manifest_path.display(), e))?;
    let manifest = json::parse(&text).map_err(|e| format!("manifest.json: {}", e))?;
    let default_mhs = manifest
        .get("default_max_header_size")
        .and_then(Json::as_i64)
        .map(|n| n as usize)
        .unwrap_or(DEFAULT_MAX_HEADER_SIZE);
    let cases = manifest.get("cases").and_then(Json::as_array).ok_or("manifest.json: no cases")?;
    let expected: Vec<(String, String)> = match &opts.expected_failures {
        Some(p) => read_expected_failures(p)?,
        None => Vec::new(),
    };
    let expected_map: HashMap<&str, &str> = expected.iter().map(|(n, r)| (n.as_str(), r.as_str())).collect();
    let model_names = manifest
        .get("model_names")
        .and_then(Json::as_array)
        .ok_or("manifest.json: no model_names table (regenerate with python3 fixtures/generate.py)")?;
    // Every check is the name its line prints and the entry; the model names come after the file
    // cases and count with them.
    let checks = cases
        .iter()
        .map(|c| (c.get("name").and_then(Json::as_str).unwrap_or("?"), c, false))
        .chain(model_names.iter().map(|c| (c.get("case").and_then(Json::as_str).unwrap_or("?"), c, true)));
    let mut names = HashSet::new();
    let (mut passed, mut failed, mut xfails) = (0usize, 0usize, 0usize);
    let w = |out: &mut dyn Write, line: String| writeln!(out, "{}", line).map_err(|e| e.to_string());
    for (name, case, is_model_name) in checks {
        let name = name.to_string();
        names.insert(name.clone());
        if !name.contains(&opts.filter) {
            continue;
        }
        let result = if is_model_name {
            check_model_name(loader, case)
        } else {
            run_case(loader, case, &opts.fixtures, default_mhs)
        };
        match (result, expected_map.get(name.as_str())) {
            (Ok(()), None) => {
                passed += 1;
                w(out, format!("ok  {}", name))?;
            }
            (Ok(()), Some(reason)) => {
                failed += 1;
                w(
                    out,
                    format!(
                        "FAIL {}: passes but is listed in expected-failures ({}); remove the stale entry",
                        name, reason
                    ),
                )?;
            }
            (Err(why), Some(reason)) => {
                passed += 1;
                xfails += 1;
                w(out, format!("xfail {}: {} (expected failure: {})", name, why, reason))?;
            }
            (Err(why), None) => {
                failed += 1;
                w(out, format!("FAIL {}: {}", name, why))?;
            }
        }
    }
    for (name, _) in &expected {
        if !names.contains(name) {
            failed += 1;
            w(
                out,
                format!(
                    "FAIL {}: listed in expected-failures but the manifest has no such case; remove the stale entry",
                    name
                ),
            )?;
        }
    }
    if xfails > 0 {
        w(out, format!("({} of the passed are expected failures)", xfails))?;
    }
    w(out, format!("{} passed, {} failed", passed, failed))?;
    Ok((passed, failed))
}

type Check = Result<(), String>;

fn field<'a>(case: &'a Json, key: &str) -> Result<&'a Json, String> {
    case.get(key).ok_or_else(|| format!("manifest: the case has no {:?}", key))
}

fn str_field<'a>(case: &'a Json, key: &str) -> Result<&'a str, String> {
    field(case, key)?.as_str().ok_or_else(|| format!("manifest: {:?} is not a string", key))
}

fn run_case(loader: &dyn Loader, case: &Json, fixtures: &Path, default_mhs: usize) -> Check {
    let mhs = case.get("max_header_size").and_then(Json::as_i64).map(|n| n as usize).unwrap_or(default_mhs);
    match str_field(case, "kind")? {
        "npy-valid" => check_valid(loader, case, fixtures, mhs),
        "npy-invalid" => check_invalid(loader, case, fixtures, mhs),
        "heads" => check_heads(loader, case, fixtures),
        "heads-invalid" => check_heads_invalid(loader, case, fixtures),
        other => Err(format!("unknown case kind {:?}", other)),
    }
}

fn check_model_name(loader: &dyn Loader, case: &Json) -> Check {
    let name = str_field(case, "name")?;
    let refused = case.get("error").and_then(Json::as_bool) == Some(true);
    let folder = case.get("folder").and_then(Json::as_str);
    if refused == folder.is_some() {
        return Err(r#"the manifest entry must have either a folder or "error": true"#.into());
    }
    match (loader.model_folder(name), folder) {
        (Ok(got), None) => Err(format!(
            "{:?} is accepted as the folder {:?}; expected it to be refused ({})",
            name,
            got,
            case.get("why").and_then(Json::as_str).unwrap_or("")
        )),
        (Err(e), None) if e.is_empty() => {
            Err(format!("{:?} is refused with an empty message; say what is wrong and where", name))
        }
        (Err(_), None) => Ok(()),
        (Err(e), Some(want)) => Err(format!("{:?} is refused ({}); expected the folder {:?}", name, e, want)),
        (Ok(got), Some(want)) if got != want => {
            Err(format!("{:?} gives the folder {:?}, expected {:?}", name, got, want))
        }
        (Ok(_), Some(_)) => Ok(()),
    }
}

fn check_fixture(case: &Json, fixtures: &Path) -> Result<PathBuf, String> {
    let path = fixtures.join(str_field(case, "path")?);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {}", path.display(), e))?;
    if sha256::hex(&bytes) != str_field(case, "file_sha256")? {
        return Err(
            "the fixture file differs from the manifest's file_sha256 (regenerate with python3 fixtures/generate.py)"
                .into(),
        );
    }
    Ok(path)
}

fn canonical_f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| if x.is_nan() { 0x7ff8_0000_0000_0000u64 } else { x.to_bits() }.to_le_bytes()).collect()
}

fn usizes(v: &Json) -> Vec<usize> {
    v.as_array().unwrap_or(&[]).iter().filter_map(Json::as_i64).map(|n| n as usize).collect()
}

fn check_valid(loader: &dyn Loader, case: &Json, fixtures: &Path, mhs: usize) -> Check {
    let path = check_fixture(case, fixtures)?;
    let r = loader.read_npy(&path, mhs).map_err(|e| format!("read failed: {}", e.message))?;
    let mut problems = Vec::new();
    let descr = str_field(case, "descr")?;
    if r.descr != descr {
        problems.push(format!("descr {:?}, expected {:?}", r.descr, descr));
    }
    let shape = usizes(field(case, "shape")?);
    if r.shape != shape {
        problems.push(format!("shape {:?}, expected {:?}", r.shape, shape));
    }
    let fortran = field(case, "fortran_order")?.as_bool();
    if Some(r.fortran_order) != fortran {
        problems.push(format!("fortran_order {}, expected {:?}", r.fortran_order, fortran));
    }
    let data_sha = sha256::hex(&r.le_bytes);
    if data_sha != str_field(case, "data_sha256")? {
        problems.push(format!("data bytes differ (sha256 {}…)", &data_sha[..12]));
    }
    let count = field(case, "count")?.as_i64().unwrap_or(-1);
    if r.float64.len() as i64 != count {
        problems.push(format!("{} float64 values, expected {}", r.float64.len(), count));
    } else if sha256::hex(&canonical_f64_bytes(&r.float64)) != str_field(case, "float64_sha256")? {
        problems.push("float64 values differ".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn check_invalid(loader: &dyn Loader, case: &Json, fixtures: &Path, mhs: usize) -> Check {
    let path = check_fixture(case, fixtures)?;
    let code = str_field(case, "code")?;
    match loader.read_npy(&path, mhs) {
        Ok(r) => Err(format!("read succeeded (descr {:?}, shape {:?}); expected error {}", r.descr, r.shape, code)),
        Err(e) => match e.code {
            Some(c) if c == code => Ok(()),
            Some(c) => Err(format!("error {} ({}); expected {}", c, e.message, code)),
            None => Err(format!("error without a code ({}); expected {}", e.message, code)),
        },
    }
}

/// |a - b| <= tol, false when either is NaN.
fn within(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

struct Matrix {
    cols: usize,
    rows: usize,
    f: Vec<f64>,
    i: Vec<i64>,
}

fn read_expected(fixtures: &Path, rel: &str) -> Result<Matrix, String> {
    let a = read_npy(fixtures.join(rel)).map_err(|e| e.to_string())?;
    if a.shape.len() != 2 {
        return Err(format!("{}: expected a 2-d array", rel));
    }
    Ok(Matrix { rows: a.shape[0], cols: a.shape[1], f: a.to_f64(), i: a.to_i64().unwrap_or_default() })
}

/// The tree's projection must be refused, by discovery or by loading, with a message; which of
/// the two refuses it is the loader's choice.
fn check_heads_invalid(loader: &dyn Loader, case: &Json, fixtures: &Path) -> Check {
    let root = fixtures.join(str_field(case, "root")?);
    let mh_id = field(case, "mh_id")?.as_i64().ok_or("manifest: mh_id")?;
    let err = match loader.discover_projections(&root) {
        Err(e) => e,
        Ok(_) => match loader.load_projection(&root, mh_id) {
            Err(e) => e,
            Ok(_) => {
                return Err(format!(
                    "projection {} loaded; expected it to be refused: {}",
                    mh_id,
                    str_field(case, "why")?
                ))
            }
        },
    };
    if err.is_empty() {
        return Err("refused with an empty message; say what is wrong and where".into());
    }
    Ok(())
}

fn check_heads(loader: &dyn Loader, case: &Json, fixtures: &Path) -> Check {
    let root = fixtures.join(str_field(case, "root")?);
    let mh_id = field(case, "mh_id")?.as_i64().ok_or("manifest: mh_id")?;
    let tol = field(case, "tolerance")?.as_f64().ok_or("manifest: tolerance")?;
    let k = field(case, "k")?.as_i64().ok_or("manifest: k")? as usize;
    // discovery
    let mut want: Vec<(i64, String)> = field(case, "discover")?
        .as_array()
        .unwrap_or(&[])
        .iter()
        .filter_map(|d| Some((d.get("mh_id")?.as_i64()?, d.get("model")?.as_str()?.to_string())))
        .collect();
    let mut got = loader.discover_projections(&root).map_err(|e| format!("discover: {}", e))?;
    want.sort();
    got.sort();
    if got != want {
        return Err(format!("discover found {:?}, expected {:?}", got, want));
    }
    let model = &want.iter().find(|(id, _)| *id == mh_id).ok_or("manifest: discover lacks the case's mh_id")?.1;
    let p = loader.load_projection(&root, mh_id).map_err(|e| format!("load: {}", e))?;
    let ids = p.cluster_ids();
    let num_heads = field(case, "num_heads")?.as_i64().unwrap_or(-1);
    if ids.len() as i64 != num_heads {
        return Err(format!("{} heads, expected {}", ids.len(), num_heads));
    }
    // the expected weights' columns follow mh_<id>.json's cluster_ids
    let meta_path = root
        .join("embeddings")
        .join(crate::heads::model_folder(model).map_err(|e| e.to_string())?)
        .join(format!("mh_{}.json", mh_id));
    let meta = crate::heads::read_meta(&meta_path).map_err(|e| e.to_string())?;
    let column: HashMap<i64, usize> = meta.cluster_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut exp = BTreeMap::new();
    if let Some(Json::Object(files)) = case.get("files") {
        for (key, rel) in files {
            let rel = rel.as_str().ok_or("manifest: files")?;
            exp.insert(key.clone(), read_expected(fixtures, rel).map_err(|e| format!("expected {}: {}", key, e))?);
        }
    }
    let get = |key: &str| exp.get(key).ok_or_else(|| format!("manifest: no {} file", key));
    let queries = get("queries")?;
    let mut problems: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if problems.len() < 5 {
            problems.push(s)
        }
    };
    for r in 0..queries.rows {
        let q = &queries.f[r * queries.cols..(r + 1) * queries.cols];
        let w = p.weights(q).map_err(|e| format!("query {}: weights: {}", r, e))?;
        if w.len() != ids.len() {
            return Err(format!("query {}: {} weights for {} heads", r, w.len(), ids.len()));
        }
        let ew = get("weights")?;
        for (j, id) in ids.iter().enumerate() {
            let col = *column.get(id).ok_or_else(|| format!("cluster {} is not in mh_{}.json", id, mh_id))?;
            let e = ew.f[r * ew.cols + col];
            if !within(w[j], e, tol) {
                add(format!("query {}: weight of cluster {} is {:.9}, expected {:.9}", r, id, w[j], e));
            }
        }
        let proj = p.project(q).map_err(|e| format!("query {}: project: {}", r, e))?;
        let ep = get("projected")?;
        if proj.len() != ep.cols {
            return Err(format!("query {}: projection has {} dimensions, expected {}", r, proj.len(), ep.cols));
        }
        if let Some(i) = (0..proj.len()).find(|&i| !within(proj[i], ep.f[r * ep.cols + i], tol)) {
            add(format!("query {}: projected[{}] is {:.9}, expected {:.9}", r, i, proj[i], ep.f[r * ep.cols + i]));
        }
        for mode in ["top", "direct"] {
            let hits = if mode == "top" { p.search(q, k) } else { p.direct_search(q, k) }
                .map_err(|e| format!("query {}: {} search: {}", r, mode, e))?;
            let ei = get(&format!("{}_ids", mode))?;
            let es = get(&format!("{}_scores", mode))?;
            if hits.len() != ei.cols {
                add(format!("query {}: {} search returned {} hits, expected {}", r, mode, hits.len(), ei.cols));
                continue;
            }
            for (i, (id, score)) in hits.iter().enumerate() {
                let (eid, esc) = (ei.i[r * ei.cols + i], es.f[r * es.cols + i]);
                if *id != eid {
                    add(format!("query {}: {} search rank {} is cluster {}, expected {}", r, mode, i + 1, id, eid));
                    break;
                }
                if !within(*score, esc, tol) {
                    add(format!("query {}: {} search rank {} score {:.9}, expected {:.9}", r, mode, i + 1, score, esc));
                    break;
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
