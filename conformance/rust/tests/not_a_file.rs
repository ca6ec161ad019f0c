//! A FIFO in place of an `.npy` file hung `read_npy` in open(2) until a writer appeared; a FIFO, a
//! socket and a directory are now `NOT_A_FILE`, naming the path, at once.
#![cfg(unix)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use ldakit_loader::{read_npy, ErrorCode};

#[test]
fn read_npy_refuses_what_is_not_a_regular_file() {
    // Short: a socket path holds at most 108 bytes.
    let dir = PathBuf::from(format!("/tmp/ldakit-naf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.npy");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let folder = dir.join("folder.npy");
    std::fs::create_dir(&folder).unwrap();
    let socket = dir.join("s.npy");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();

    for (path, kind) in [(&fifo, "a FIFO"), (&folder, "a directory"), (&socket, "a socket")] {
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || tx.send(read_npy(&p).map(|_| ())).unwrap());
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Err(e)) => {
                let text = e.to_string();
                assert_eq!(e.code(), Some(ErrorCode::NotAFile), "{}", text);
                assert!(text.contains(path.to_str().unwrap()) && text.contains(kind), "{}", text);
            }
            Ok(Ok(())) => panic!("{}: read as an array", path.display()),
            Err(_) => {
                // Unblock the stuck open(2) before failing.
                let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
                panic!("{}: read_npy still waits after 5 s", path.display());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
