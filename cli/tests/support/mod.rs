//! Helpers shared by the CLI's test files: `waypost console` as a process, and plain
//! HTTP/1.1 requests to it.

use std::ffi::OsStr;
use std::process::Command;

/// A `waypost console` process, killed when dropped, and the address it serves.
pub(crate) struct ConsoleProcess {
    child: std::process::Child,
    pub(crate) addr: String,
}

impl Drop for ConsoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn console(store: &[&OsStr], extra: &[&str]) -> ConsoleProcess {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_waypost"))
        .args(store)
        .args(["console", "--addr", "127.0.0.1:0"])
        .args(extra)
        .env_remove("WAYPOST_STORE")
        .env_remove("WAYPOST_CONSOLE_TOKEN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the console printed its address")
            .unwrap();
        if let Some(url) = line.trim().strip_prefix("pages:") {
            let url = url.trim();
            break url
                .trim_start_matches("http://")
                .trim_end_matches("/executions")
                .to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    ConsoleProcess { child, addr }
}

/// One HTTP/1.1 request to `addr`: the status code and the body.
pub(crate) fn http(addr: &str, method: &str, path: &str, headers: &[&str]) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}
