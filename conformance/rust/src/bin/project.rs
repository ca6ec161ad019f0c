//! Loads a projection with the Rust reference loader and prints, as JSON, the routing weights,
//! the projected queries and both top-k rankings of every query in an `.npy` file: what the
//! cross-runtime round trip compares with `@ldakit/search` and Go.
//!
//!     cargo run --release --bin project -- --root STORE --mh-id N --queries QUERIES.npy [--k 5]
//!
//! STORE is the store root (the folder holding `embeddings/`); QUERIES.npy holds one query
//! `(d,)` or several `(n, d)`, any float dtype. The output is one JSON object:
//!
//! ```text
//! {"mh_id": N, "model": "...", "dimensions": d, "temperature": t, "cluster_ids": [...],
//!  "queries": [{"weights": [...], "projected": [...],
//!               "top": [{"cluster_id": c, "score": s}, ...], "direct": [...]}, ...]}
//! ```

use std::fmt::Write as _;
use std::process::exit;

use ldakit_loader::{load_projection, read_npy, Hit};

fn usage() -> ! {
    eprintln!("usage: project --root STORE --mh-id N --queries QUERIES.npy [--k 5]");
    exit(2)
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("project: {}", message);
    exit(1)
}

/// A finite f64 as a JSON number that parses back to the same value.
fn number(out: &mut String, x: f64) {
    if !x.is_finite() {
        fail(format!("non-finite value {} in the output", x));
    }
    write!(out, "{:e}", x).unwrap();
}

fn numbers(out: &mut String, xs: &[f64]) {
    out.push('[');
    for (i, &x) in xs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        number(out, x);
    }
    out.push(']');
}

fn hits(out: &mut String, hs: &[Hit]) {
    out.push('[');
    for (i, h) in hs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write!(out, "{{\"cluster_id\":{},\"score\":", h.cluster_id).unwrap();
        number(out, h.score);
        out.push('}');
    }
    out.push(']');
}

/// A JSON string literal.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn main() {
    let mut root: Option<String> = None;
    let mut mh_id: Option<i64> = None;
    let mut queries: Option<String> = None;
    let mut k: usize = 5;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--root" => root = Some(value()),
            "--mh-id" => mh_id = Some(value().parse().unwrap_or_else(|_| usage())),
            "--queries" => queries = Some(value()),
            "--k" => k = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let (root, mh_id, queries) = match (root, mh_id, queries) {
        (Some(r), Some(m), Some(q)) if k > 0 => (r, m, q),
        _ => usage(),
    };
    let p = load_projection(&root, mh_id).unwrap_or_else(|e| fail(e));
    let q = read_npy(&queries).unwrap_or_else(|e| fail(e));
    if q.dtype.kind != b'f' || q.shape.is_empty() || q.shape.len() > 2 {
        fail(format!("{}: expected a (d,) or (n, d) float array, found {} of shape {:?}", queries, q.descr, q.shape));
    }
    let d = q.shape[q.shape.len() - 1];
    let values = q.to_f64();

    let mut out = String::new();
    write!(out, "{{\"mh_id\":{},\"model\":", p.id).unwrap();
    string(&mut out, &p.model);
    write!(out, ",\"dimensions\":{},\"temperature\":", p.dimensions).unwrap();
    number(&mut out, p.temperature);
    out.push_str(",\"cluster_ids\":[");
    let ids: Vec<String> = p.cluster_ids.iter().map(|c| c.to_string()).collect();
    out.push_str(&ids.join(","));
    out.push_str("],\"queries\":[");
    if d > 0 {
        for (i, row) in values.chunks(d).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let weights = p.weights(row).unwrap_or_else(|e| fail(e));
            let projected = p.project(row).unwrap_or_else(|e| fail(e));
            let top = p.search(row, k).unwrap_or_else(|e| fail(e));
            let direct = p.direct_search(row, k).unwrap_or_else(|e| fail(e));
            out.push_str("{\"weights\":");
            numbers(&mut out, &weights);
            out.push_str(",\"projected\":");
            numbers(&mut out, &projected);
            out.push_str(",\"top\":");
            hits(&mut out, &top);
            out.push_str(",\"direct\":");
            hits(&mut out, &direct);
            out.push('}');
        }
    }
    out.push_str("]}");
    println!("{}", out);
}
