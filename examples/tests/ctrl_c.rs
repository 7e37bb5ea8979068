//! The `echo` and `chat` examples in `--serve` mode stop on `SIGINT`
//! (Ctrl-C) and `SIGTERM`: they close their connections, print what they
//! served and exit with status 0.
//!
//! Cargo does not promise that an example is built (or up to date) when an
//! integration test runs, so this test does not look for the example
//! binaries: it compiles the examples' source into itself (`#[path]`
//! modules) and runs each example's `main` in a child process, a copy of
//! this test binary started with [`CHILD`] set and the example's arguments.
//! The parent talks to the child over TCP on 127.0.0.1, sends it a signal
//! with kill(2), and checks its exit status and output. Hence
//! `harness = false` (in `Cargo.toml`): this file's `main` decides which
//! role it plays.
//!
//! Every wait is bounded; a child that does not exit in time is killed and
//! the test fails.

// `echo` and `chat` each declare `mod support;`: two copies of the helpers
// in this binary, as in the two example binaries.
#![allow(clippy::duplicate_mod)]

use std::env;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{exit, Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../examples/chat.rs"]
mod chat;
#[path = "../examples/echo.rs"]
mod echo;

/// Set in a child's environment to the example it runs.
const CHILD: &str = "WEFT_EXAMPLES_CTRL_C_CHILD";
/// Generous bound for every wait (the child's start, a reply, its exit).
const LONG: Duration = Duration::from_secs(30);

fn main() {
    if let Ok(example) = env::var(CHILD) {
        let result = match example.as_str() {
            "echo" => echo::main(),
            "chat" => chat::main(),
            other => panic!("{CHILD}={other}: no such example"),
        };
        if let Err(e) = result {
            eprintln!("{example}: {e}");
            exit(1);
        }
        exit(0);
    }

    // Parent. `cargo test -- ARGS` passes its arguments here; like the
    // standard harness, run the tests whose name contains the filter (the
    // first argument that is not an option), or only list them.
    let (mut filter, mut list) = (None, false);
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            // Options of the standard harness that take a value.
            "--skip" | "--test-threads" | "--format" | "--color" | "-Z" => {
                args.next();
            }
            _ if arg.starts_with('-') => {}
            _ => filter = filter.or(Some(arg)),
        }
    }
    let tests: [(&str, fn()); 4] = [
        ("echo_stops_on_sigint", || echo_stops_on(libc::SIGINT, "SIGINT (Ctrl-C)")),
        ("echo_stops_on_sigterm", || echo_stops_on(libc::SIGTERM, "SIGTERM")),
        ("chat_stops_on_sigint", || chat_stops_on(libc::SIGINT, "SIGINT (Ctrl-C)")),
        ("chat_stops_on_sigterm", || chat_stops_on(libc::SIGTERM, "SIGTERM")),
    ];
    let mut ran = 0;
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|filter| !name.contains(filter)) {
            continue;
        }
        if list {
            println!("{name}: test");
            continue;
        }
        print!("test {name} ... ");
        io::stdout().flush().unwrap();
        test();
        println!("ok");
        ran += 1;
    }
    if !list {
        println!("\ntest result: ok. {ran} passed");
    }
}

/// `echo --serve`: two clients, one of which leaves before the signal.
fn echo_stops_on(signum: libc::c_int, name: &str) {
    let server = Server::start("echo");

    let mut gone = server.connect();
    round_trip(&mut gone, b"hello\n");
    drop(gone);
    let mut client = server.connect();
    round_trip(&mut client, b"one\n");
    round_trip(&mut client, b"two, a longer line\n");

    let output = server.stop(signum);
    assert_line(&output, &format!("echo server: {name}, shutting down"));
    // The first connection's task may not have seen its end of file yet.
    assert!(
        output.contains("connections     2 accepted, 1 still open (closed now)")
            || output.contains("connections     2 accepted, 2 still open (closed now)"),
        "{output}"
    );
    assert_line(&output, "echoed          29 bytes in 3 writes");
    assert!(output.contains("uptime "), "{output}");
    // The server closed the connection that was still open.
    expect_eof(&mut client);
}

/// `chat --serve`: two clients; each line goes to both.
fn chat_stops_on(signum: libc::c_int, name: &str) {
    let server = Server::start("chat");

    let mut alice = server.connect();
    let mut bob = server.connect();
    // Both are registered once a line from each has reached both.
    let mut alice_lines = BufReader::new(alice.try_clone().unwrap());
    let mut bob_lines = BufReader::new(bob.try_clone().unwrap());
    alice.write_all(b"hi from alice\n").unwrap();
    expect_line_eventually(&mut alice_lines, "hi from alice\n");
    bob.write_all(b"hi from bob\n").unwrap();
    expect_line_eventually(&mut alice_lines, "hi from bob\n");
    expect_line_eventually(&mut bob_lines, "hi from bob\n");

    let output = server.stop(signum);
    assert_line(&output, &format!("chat server: {name}, shutting down"));
    assert_line(&output, "connections         2 accepted (peak 2), 2 still open (closed now)");
    // Bob may have joined before or after Alice's line went out.
    assert!(output.contains("lines broadcast     2\n"), "two lines were broadcast: {output}");
    assert!(
        output.contains("lines delivered     3 written to clients, 0 dropped")
            || output.contains("lines delivered     4 written to clients, 0 dropped"),
        "{output}"
    );
    for reader in [&mut alice_lines, &mut bob_lines] {
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).expect("the server closed the connection");
    }
}

/// A child process running one example's `--serve 127.0.0.1:0`.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// The child's stdout, line by line (read by a thread).
    lines: Receiver<String>,
    /// What it printed so far.
    output: String,
}

impl Server {
    /// Starts `example` and waits until it prints its address.
    fn start(example: &str) -> Server {
        let mut child = Command::new(env::current_exe().expect("the test binary's path"))
            .env(CHILD, example)
            .args(["--serve", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the child process");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = ([127, 0, 0, 1], 0).into();
        let mut server = Server { child, addr, lines, output: String::new() };
        let first = server.next_line().unwrap_or_else(|| panic!("{example} printed nothing"));
        // "... on 127.0.0.1:PORT (Ctrl-C or SIGTERM to stop)"
        let addr = first
            .split_whitespace()
            .find_map(|word| word.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        server.addr = addr;
        server
    }

    /// The next line of output, waiting at most `LONG`.
    fn next_line(&mut self) -> Option<String> {
        match self.lines.recv_timeout(LONG) {
            Ok(line) => {
                self.output.push_str(&line);
                self.output.push('\n');
                Some(line)
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                panic!("no output within {LONG:?}; so far:\n{}", self.output)
            }
        }
    }

    /// A client connection with read and write timeouts.
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, LONG).expect("connect to the server");
        stream.set_read_timeout(Some(LONG)).unwrap();
        stream.set_write_timeout(Some(LONG)).unwrap();
        stream
    }

    /// Sends `signum`, waits for the child to exit (status 0 required) and
    /// returns everything it printed.
    fn stop(mut self, signum: libc::c_int) -> String {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) only sends a signal, to our own child process,
        // which has not been waited for, so the pid is still its own.
        let rc = unsafe { libc::kill(pid, signum) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
        let status = self.wait();
        while self.next_line().is_some() {}
        assert!(status.success(), "exit status {status}; output:\n{}", self.output);
        std::mem::take(&mut self.output)
    }

    /// Waits at most `LONG` for the child to exit; kills it after that.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LONG;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the child") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the child did not exit within {LONG:?}; output:\n{}", self.output);
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave the child running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `message` and reads the same bytes back.
fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).unwrap();
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).expect("the echo");
    assert_eq!(back, message);
}

/// Reads lines until `expected` comes (other clients' lines may come first).
fn expect_line_eventually(reader: &mut BufReader<TcpStream>, expected: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("a line from the server");
        assert!(n > 0, "the server closed the connection before {expected:?}");
        if line == expected {
            return;
        }
    }
}

/// The server closed `stream`: end of file (or a reset) within `LONG`.
fn expect_eof(stream: &mut TcpStream) {
    let mut buf = [0; 16];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected data after shutdown: {:?}", &buf[..n]),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("waiting for the server to close the connection: {e}"),
    }
}

/// `output` has `line` as one of its lines.
fn assert_line(output: &str, line: &str) {
    assert!(output.lines().any(|l| l == line), "no line {line:?} in:\n{output}");
}
