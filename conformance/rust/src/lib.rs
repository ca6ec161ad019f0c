//! Reads ldakit's on-disk format — NumPy `.npy` files and the
//! `embeddings/<model>/mh_<id>_cluster_<id>_{centroid,answer}.npy` head trees with their
//! `mh_<id>.json` — and computes the multi-head projection, with the standard library only.
//!
//! ```no_run
//! use ldakit_loader::{load_projection, read_npy};
//!
//! let p = load_projection("path/to/store", 3)?;          // the folder holding embeddings/
//! let q = read_npy("query.npy")?.to_f64();               // a (d,) vector
//! for hit in p.search(&q, 5)? {
//!     println!("{} {:.4}", hit.cluster_id, hit.score);
//! }
//! # Ok::<(), ldakit_loader::Error>(())
//! ```
//!
//! To copy the loader into a program, take `error.rs`, `literal.rs`, `npy.rs`, `json.rs` and
//! `heads.rs`; `suite.rs` and `sha256.rs` are the conformance suite.

mod error;
pub mod heads;
pub mod json;
mod literal;
pub mod npy;
pub mod sha256;
pub mod suite;

pub use error::{Error, ErrorCode, ErrorKind};
pub use heads::{
    discover_projections, load_projection, model_folder, model_name_problem, Hit, Meta, Projection, ProjectionInfo,
};
pub use npy::{decode_npy, read_npy, read_npy_with_limit, Array, Data, Dtype, DEFAULT_MAX_HEADER_SIZE, F16};
