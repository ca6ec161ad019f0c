//! Head trees (docs/FORMAT.md §1–§4): discovery from `embeddings/<model folder>/mh_<id>.json`, loading of
//! `mh_<id>_cluster_<cluster id>_{centroid,answer}.npy` and of the query adapter `mh_<id>_W.npy`, and the
//! projection math with the adapter and the blend (docs/FORMAT.md §6).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::json::{self, Json};
use crate::npy::read_npy;

/// The `format` values of the `mh_<id>.json` files this crate reads. Edition 2 adds the query
/// adapter and the blend (docs/FORMAT.md §4); an edition-1 file is a projection with neither.
pub const META_FORMATS: [&str; 2] = ["ldakit.mh/1", "ldakit.mh/2"];

/// The content of `mh_<id>.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub format: String,
    pub mh_projection_id: i64,
    pub model: String,
    pub dimensions: usize,
    pub temperature: f64,
    pub num_heads: usize,
    pub cluster_ids: Vec<i64>,
    /// The query adapter's file name, always `mh_<id>_W.npy`; `None` when `adapter` is absent or
    /// null.
    pub adapter: Option<String>,
    /// β, from 0 to 1; 1 when `blend` is absent (no blending).
    pub blend: f64,
}

/// A projection found under a store root.
#[derive(Debug, Clone)]
pub struct ProjectionInfo {
    pub mh_id: i64,
    pub model: String,
    /// The model's folder name (`/` written as `__`).
    pub model_folder: String,
    pub dir: PathBuf,
    pub meta_path: PathBuf,
    pub meta: Meta,
}

/// A loaded projection: unit-length centroids and answers, in the order of `mh_<id>.json`.
#[derive(Debug, Clone)]
pub struct Projection {
    pub id: i64,
    pub model: String,
    pub dimensions: usize,
    pub temperature: f64,
    pub cluster_ids: Vec<i64>,
    pub centroids: Vec<Vec<f64>>,
    pub answers: Vec<Vec<f64>>,
    /// The query adapter W as `d` rows of `d` (`adapter[i][j]` = `W[i, j]`), routing by
    /// normalize(W q̂); `None` when the projection has none.
    pub adapter: Option<Vec<Vec<f64>>>,
    /// β: the searched vector is normalize(β p + (1 − β) q̂); 1 searches with p itself.
    pub blend: f64,
}

/// One ranked cluster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub cluster_id: i64,
    pub score: f64,
}

/// Why `model` is not a model name (docs/FORMAT.md §1.3), or `None` when it is: a model name is
/// one or more parts of the characters `A-Z a-z 0-9 . _ -` separated by single `/`, and its
/// folder must not be `.` or `..`. The reason names the first offending character with its code
/// point and 1-based position (counted in characters), or the empty part, or the folder.
pub fn model_name_problem(model: &str) -> Option<String> {
    if model.is_empty() {
        return Some("the name is empty".into());
    }
    for (i, c) in model.chars().enumerate() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')) {
            return Some(format!(
                "character {:?} (U+{:04X}) at position {} is not allowed; use letters A-Z a-z, digits, \".\", \"_\", \"-\" and \"/\"",
                c.to_string(),
                c as u32,
                i + 1
            ));
        }
    }
    // Every character is ASCII from here on, so byte offsets are positions.
    if model.starts_with('/') {
        return Some(r#"the name starts with "/"; "/" separates parts and no part may be empty"#.into());
    }
    if model.ends_with('/') {
        return Some(r#"the name ends with "/"; "/" separates parts and no part may be empty"#.into());
    }
    if let Some(i) = model.find("//") {
        return Some(format!(r#""//" at position {} leaves an empty part; separate parts with a single "/""#, i + 1));
    }
    let folder = model.replace('/', "__");
    if folder == "." || folder == ".." {
        return Some(format!("{:?} is not a usable folder name", folder));
    }
    None
}

/// The folder of a model under `embeddings/`: the name with every `/` written `__`
/// (docs/FORMAT.md §1.3). A name that breaks the rule is an error saying why
/// ([`model_name_problem`]). The mapping is not one-to-one: `a/b` and `a__b` share the folder
/// `a__b`.
pub fn model_folder(model: &str) -> Result<String, Error> {
    match model_name_problem(model) {
        Some(problem) => Err(Error::store(format!("invalid model name {:?}: {}", model, problem))),
        None => Ok(model.replace('/', "__")),
    }
}

fn meta_id(name: &str) -> Option<&str> {
    let id = name.strip_prefix("mh_")?.strip_suffix(".json")?;
    if !id.is_empty() && id.bytes().all(|c| c.is_ascii_digit()) {
        Some(id)
    } else {
        None
    }
}

fn sorted_dir(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let is_dir = path.is_dir();
        out.push((entry.file_name().to_string_lossy().into_owned(), path, is_dir));
    }
    out.sort();
    Ok(out)
}

/// Every projection under a store root (the folder holding `embeddings/`), from the files
/// alone, sorted by id then model folder.
pub fn discover_projections(root: impl AsRef<Path>) -> Result<Vec<ProjectionInfo>, Error> {
    let embeddings = root.as_ref().join("embeddings");
    let mut out = Vec::new();
    for (folder_name, dir, is_dir) in sorted_dir(&embeddings)? {
        if !is_dir {
            continue;
        }
        for (name, path, is_dir) in sorted_dir(&dir)? {
            let id = match meta_id(&name) {
                Some(id) if !is_dir => id,
                _ => continue,
            };
            let id: i64 = id.parse().map_err(|_| Error::store("id out of range").at(&path))?;
            let meta = read_meta(&path)?;
            if meta.mh_projection_id != id {
                return Err(Error::store(format!(
                    "mh_projection_id is {}, the file name says {}",
                    meta.mh_projection_id, id
                ))
                .at(&path));
            }
            let folder = model_folder(&meta.model).map_err(|e| e.at(&path))?;
            if folder != folder_name {
                return Err(Error::store(format!(
                    "model {:?} belongs in folder {:?}, not {:?}",
                    meta.model, folder, folder_name
                ))
                .at(&path));
            }
            out.push(ProjectionInfo {
                mh_id: id,
                model: meta.model.clone(),
                model_folder: folder,
                dir: dir.clone(),
                meta_path: path,
                meta,
            });
        }
    }
    out.sort_by(|a, b| a.mh_id.cmp(&b.mh_id).then_with(|| a.model_folder.cmp(&b.model_folder)));
    Ok(out)
}

/// Reads and checks an `mh_<id>.json` file.
pub fn read_meta(path: &Path) -> Result<Meta, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v = json::parse(&text).map_err(|e| Error::store(e).at(path))?;
    let bad = |what: &str| Error::store(format!("{} is missing or of the wrong type", what)).at(path);
    let ids = v.get("cluster_ids").and_then(Json::as_array).ok_or_else(|| bad("cluster_ids"))?;
    let mut cluster_ids = Vec::with_capacity(ids.len());
    for id in ids {
        cluster_ids.push(id.as_i64().ok_or_else(|| bad("cluster_ids"))?);
    }
    let count = |key: &str| -> Result<usize, Error> {
        v.get(key).and_then(Json::as_i64).and_then(|n| usize::try_from(n).ok()).ok_or_else(|| bad(key))
    };
    let mh_projection_id = v.get("mh_projection_id").and_then(Json::as_i64).ok_or_else(|| bad("mh_projection_id"))?;
    // The adapter can only be this projection's own W file, never a path, so that a json cannot
    // point a reader elsewhere; β must be a JSON number (not null, a string or a bool).
    let own_adapter = format!("mh_{}_W.npy", mh_projection_id);
    let adapter = match v.get("adapter") {
        None | Some(Json::Null) => None,
        Some(Json::String(name)) if *name == own_adapter => Some(name.clone()),
        Some(other) => {
            return Err(
                Error::store(format!("adapter is {}; it must be {:?} or null", show(other), own_adapter)).at(path)
            )
        }
    };
    let blend = match v.get("blend") {
        None => 1.0,
        Some(Json::Number(n)) if n.parse::<f64>().map_or(false, |b| (0.0..=1.0).contains(&b)) => n.parse().unwrap(),
        Some(other) => {
            return Err(Error::store(format!("blend is {}; it must be a number from 0 to 1", show(other))).at(path))
        }
    };
    let meta = Meta {
        format: v.get("format").and_then(Json::as_str).ok_or_else(|| bad("format"))?.to_string(),
        mh_projection_id,
        model: v.get("model").and_then(Json::as_str).ok_or_else(|| bad("model"))?.to_string(),
        dimensions: count("dimensions")?,
        temperature: v.get("temperature").and_then(Json::as_f64).ok_or_else(|| bad("temperature"))?,
        num_heads: count("num_heads")?,
        cluster_ids,
        adapter,
        blend,
    };
    let problem = if !META_FORMATS.contains(&meta.format.as_str()) {
        Some(format!("format is {:?}; this reader knows {:?} and {:?}", meta.format, META_FORMATS[0], META_FORMATS[1]))
    } else if meta.format == META_FORMATS[0] && (meta.adapter.is_some() || meta.blend != 1.0) {
        // an edition-1 reader would ignore them and rank differently
        Some(format!("an {} file carries an adapter or a blend; those need {}", META_FORMATS[0], META_FORMATS[1]))
    } else if meta.dimensions == 0 {
        Some("dimensions is 0".to_string())
    } else if !(meta.temperature > 0.0 && meta.temperature.is_finite()) {
        Some(format!("temperature is {}; it must be a positive number", meta.temperature))
    } else if meta.num_heads != meta.cluster_ids.len() {
        Some(format!("num_heads is {} but cluster_ids has {}", meta.num_heads, meta.cluster_ids.len()))
    } else if meta.num_heads == 0 {
        Some("no heads".to_string())
    } else {
        let mut sorted = meta.cluster_ids.clone();
        sorted.sort_unstable();
        sorted.windows(2).find(|w| w[0] == w[1]).map(|w| format!("cluster id {} appears twice", w[0]))
    };
    match problem {
        Some(p) => Err(Error::store(p).at(path)),
        None => Ok(meta),
    }
}

/// A JSON value as its text, for messages.
fn show(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.clone(),
        Json::String(s) => format!("{:?}", s),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// Loads projection `mh_id` from a store root.
pub fn load_projection(root: impl AsRef<Path>, mh_id: i64) -> Result<Projection, Error> {
    let root = root.as_ref();
    let found: Vec<ProjectionInfo> = discover_projections(root)?.into_iter().filter(|p| p.mh_id == mh_id).collect();
    let info = match found.len() {
        0 => {
            return Err(Error::store(format!(
                "no mh_{}.json under {}",
                mh_id,
                root.join("embeddings").join("*").display()
            )))
        }
        1 => &found[0],
        _ => {
            return Err(Error::store(format!(
                "projection {} exists in two model folders: {} and {}",
                mh_id,
                found[0].dir.display(),
                found[1].dir.display()
            )))
        }
    };
    let m = &info.meta;
    let mut p = Projection {
        id: mh_id,
        model: m.model.clone(),
        dimensions: m.dimensions,
        temperature: m.temperature,
        cluster_ids: m.cluster_ids.clone(),
        centroids: Vec::with_capacity(m.num_heads),
        answers: Vec::with_capacity(m.num_heads),
        adapter: match &m.adapter {
            Some(name) => Some(read_adapter(&info.dir.join(name), m.dimensions)?),
            None => None,
        },
        blend: m.blend,
    };
    for &cid in &m.cluster_ids {
        p.centroids.push(read_vector(&info.dir, mh_id, cid, "centroid", m.dimensions)?);
        p.answers.push(read_vector(&info.dir, mh_id, cid, "answer", m.dimensions)?);
    }
    Ok(p)
}

fn read_vector(dir: &Path, mh_id: i64, cluster_id: i64, role: &str, d: usize) -> Result<Vec<f64>, Error> {
    let path = dir.join(format!("mh_{}_cluster_{}_{}.npy", mh_id, cluster_id, role));
    let arr = read_npy(&path)?;
    if arr.dtype.kind != b'f' || arr.dtype.item_size < 4 {
        return Err(Error::store(format!("dtype {}; expected '<f4' or '<f8'", arr.descr)).at(&path));
    }
    if arr.shape != [d] {
        return Err(Error::store(format!("shape {:?}; expected ({},)", arr.shape, d)).at(&path));
    }
    unit(&arr.to_f64()).ok_or_else(|| Error::store("the vector has zero length or non-finite values").at(&path))
}

/// W: `(d, d)`, f4 or f8 in either byte order, every element finite.
fn read_adapter(path: &Path, d: usize) -> Result<Vec<Vec<f64>>, Error> {
    let arr = read_npy(path)?;
    if arr.dtype.kind != b'f' || arr.dtype.item_size < 4 {
        return Err(Error::store(format!("dtype {}; an adapter is '<f4' or '<f8'", arr.descr)).at(path));
    }
    if arr.shape != [d, d] {
        return Err(Error::store(format!("shape {:?}; expected ({}, {})", arr.shape, d, d)).at(path));
    }
    let values = arr.to_f64();
    if let Some(i) = values.iter().position(|x| !x.is_finite()) {
        return Err(
            Error::store(format!("W[{}, {}] is {}; an adapter must be finite", i / d, i % d, values[i])).at(path)
        );
    }
    Ok(values.chunks(d).map(<[f64]>::to_vec).collect())
}

fn unit(v: &[f64]) -> Option<Vec<f64>> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n > 0.0 && n.is_finite() {
        Some(v.iter().map(|x| x / n).collect())
    } else {
        None
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Projection {
    fn query(&self, q: &[f64]) -> Result<Vec<f64>, Error> {
        if q.len() != self.dimensions {
            return Err(Error::store(format!(
                "query has {} dimensions, projection {} has {}",
                q.len(),
                self.id,
                self.dimensions
            )));
        }
        unit(q).ok_or_else(|| Error::store("query has zero length or non-finite values"))
    }

    /// The routing weights softmax(cos(r, c_k) / temperature), in `cluster_ids` order, where r
    /// is W q̂ with an adapter and q̂ without.
    pub fn weights(&self, q: &[f64]) -> Result<Vec<f64>, Error> {
        self.weights_of_unit(&self.query(q)?)
    }

    /// The unit routing vector: normalize(W u) (`r_i = Σ_j W[i, j] u_j`), or `u` itself.
    fn route(&self, u: &[f64]) -> Result<Vec<f64>, Error> {
        match &self.adapter {
            None => Ok(u.to_vec()),
            Some(w) => unit(&w.iter().map(|row| dot(row, u)).collect::<Vec<f64>>()).ok_or_else(|| {
                Error::store(format!(
                    "the adapter of projection {} maps the query to a zero or non-finite vector",
                    self.id
                ))
            }),
        }
    }

    fn weights_of_unit(&self, u: &[f64]) -> Result<Vec<f64>, Error> {
        let r = self.route(u)?;
        let logits: Vec<f64> = self.centroids.iter().map(|c| dot(&r, c) / self.temperature).collect();
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        Ok(exps.iter().map(|e| e / sum).collect())
    }

    /// The query moved into answer space: p = normalize(sum_k w_k a_k), then, when `blend` is
    /// below 1, normalize(β p + (1 − β) q̂): the vector the answers are ranked against.
    pub fn project(&self, q: &[f64]) -> Result<Vec<f64>, Error> {
        self.project_unit(&self.query(q)?)
    }

    fn project_unit(&self, u: &[f64]) -> Result<Vec<f64>, Error> {
        let w = self.weights_of_unit(u)?;
        let mut out = vec![0.0; self.dimensions];
        for (wk, a) in w.iter().zip(&self.answers) {
            for (o, x) in out.iter_mut().zip(a) {
                *o += wk * x;
            }
        }
        let p = unit(&out).ok_or_else(|| Error::store("the projected query has zero length"))?;
        if self.blend == 1.0 {
            return Ok(p);
        }
        let b: Vec<f64> = p.iter().zip(u).map(|(x, y)| self.blend * x + (1.0 - self.blend) * y).collect();
        // p = −q̂ at β = ½ cancels: every score is 0 and the ranking falls to the cluster ids.
        Ok(unit(&b).unwrap_or_else(|| vec![0.0; self.dimensions]))
    }

    /// Every head's answer ranked by cosine similarity to the projected query; the best `k`
    /// (ties go to the smaller cluster id).
    pub fn search(&self, q: &[f64], k: usize) -> Result<Vec<Hit>, Error> {
        let p = self.project_unit(&self.query(q)?)?;
        Ok(self.rank(&p, k))
    }

    /// Every head's answer ranked by cosine similarity to the query itself (no projection).
    pub fn direct_search(&self, q: &[f64], k: usize) -> Result<Vec<Hit>, Error> {
        let u = self.query(q)?;
        Ok(self.rank(&u, k))
    }

    fn rank(&self, v: &[f64], k: usize) -> Vec<Hit> {
        let mut hits: Vec<Hit> = self
            .answers
            .iter()
            .zip(&self.cluster_ids)
            .map(|(a, &id)| Hit { cluster_id: id, score: dot(v, a) })
            .collect();
        hits.sort_by(|a, b| {
            b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal).then_with(|| a.cluster_id.cmp(&b.cluster_id))
        });
        hits.truncate(k);
        hits
    }
}
