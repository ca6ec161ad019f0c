//! Runs the cases of fixtures/manifest.json against the Rust reference loader and prints one line
//! per case and "N passed, N failed".
//!
//!     cargo run --release --bin conformance -- [--fixtures DIR] [--expected-failures FILE] [--run SUBSTRING]

use std::path::{Path, PathBuf};
use std::process::exit;

use ldakit_loader::suite::{find_fixtures, run, Options, Reference};

fn usage() -> ! {
    eprintln!("usage: conformance [--fixtures DIR] [--expected-failures FILE] [--run SUBSTRING]");
    exit(2)
}

fn main() {
    let mut fixtures: Option<PathBuf> = None;
    let mut expected: Option<PathBuf> = None;
    let mut filter = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--fixtures" => fixtures = Some(PathBuf::from(value())),
            "--expected-failures" => expected = Some(PathBuf::from(value())),
            "--run" => filter = value(),
            _ => usage(),
        }
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = match fixtures.or_else(|| find_fixtures(Path::new("."))).or_else(|| find_fixtures(crate_dir)) {
        Some(f) => f,
        None => {
            eprintln!("conformance: no fixtures/manifest.json here or in a parent; pass --fixtures DIR");
            exit(2)
        }
    };
    let expected = expected.or_else(|| {
        let default = crate_dir.join("expected-failures.txt");
        if default.is_file() {
            Some(default)
        } else {
            None
        }
    });
    let opts = Options { fixtures, expected_failures: expected, filter };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(&Reference, &opts, &mut out) {
        Ok((_, 0)) => {}
        Ok(_) => exit(1),
        Err(e) => {
            eprintln!("conformance: {}", e);
            exit(2)
        }
    }
}
