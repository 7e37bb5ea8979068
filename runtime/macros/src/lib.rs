//! The `#[weft::main]` and `#[weft::test]` attribute macros.
//!
//! Use them through the `weft` crate, which re-exports them: this crate
//! expands to paths under `::weft` (or under the path given with
//! `crate = "..."`), so it is of no use on its own.
//!
//! Both rewrite an `async fn` into a plain `fn` that builds a runtime and
//! blocks on the function's body, like Tokio's macros of the same names:
//!
//! ```
//! #[weft::main]
//! async fn main() {
//!     let answer = weft::spawn(async { 6 * 7 }).await.unwrap();
//!     println!("the answer is {answer}");
//! }
//! ```
//!
//! expands to
//!
//! ```
//! fn main() {
//!     let body = async move {
//!         let answer = weft::spawn(async { 6 * 7 }).await.unwrap();
//!         println!("the answer is {answer}");
//!     };
//!     let mut builder = weft::runtime::Builder::new_multi_thread();
//!     return builder
//!         .enable_all()
//!         .build()
//!         .expect("failed to build the weft runtime")
//!         .block_on(body);
//! }
//! ```
//!
//! Arguments (all optional, in any order):
//!
//! | argument | values | default |
//! |---|---|---|
//! | `flavor` | `"multi_thread"`, `"current_thread"` | `"multi_thread"` for `main`, `"current_thread"` for `test` |
//! | `worker_threads` | an integer literal, at least 1 (multi-thread flavor only) | one per CPU |
//! | `start_paused` | `true`, `false` (`true`: current-thread flavor only) | `false` |
//! | `crate` | a path in a string, for re-exports: `crate = "my_crate::weft"` | `"::weft"` |
//!
//! Misuse is a compile error pointing at the offending token: a function
//! that is not `async`, one that takes arguments, an unknown argument, or a
//! bad value.

#![warn(missing_docs)]
// The docs show what `#[weft::main] async fn main` expands to: a `fn main`.
#![allow(clippy::needless_doctest_main)]

use proc_macro::TokenStream;

mod entry;

/// Runs an `async fn` (usually `main`) on a weft runtime.
///
/// The function becomes a plain `fn` with the same name, visibility,
/// attributes and return type; its body runs in an `async move` block
/// passed to `weft::runtime::Runtime::block_on`, on a runtime built for the
/// call and dropped when it returns. The function must take no arguments.
///
/// The runtime is the multi-thread one by default, with one worker per CPU.
/// Arguments:
///
/// - `worker_threads = N`: the number of workers (N ≥ 1);
/// - `flavor = "multi_thread"` (the default) or `flavor = "current_thread"`:
///   the current-thread runtime runs every task on the calling thread
///   (it takes no `worker_threads`);
/// - `start_paused = true`: the runtime's clock starts paused (with
///   `flavor = "current_thread"` only; see `#[weft::test]`);
/// - `crate = "path"`: where to find weft, for crates that re-export it
///   (default `::weft`).
///
/// # Examples
///
/// ```
/// #[weft::main]
/// async fn main() {
///     println!("hello from {:?}", std::thread::current().name());
/// }
/// ```
///
/// `main` may return a value, such as a `Result`:
///
/// ```
/// use std::error::Error;
///
/// #[weft::main(worker_threads = 2)]
/// async fn main() -> Result<(), Box<dyn Error>> {
///     let n: u32 = weft::spawn(async { "42".parse() }).await??;
///     assert_eq!(n, 42);
///     Ok(())
/// }
/// ```
///
/// A single-threaded runtime:
///
/// ```
/// #[weft::main(flavor = "current_thread")]
/// async fn main() {
///     let workers = weft::runtime::Handle::current().metrics().num_workers();
///     println!("{workers} worker");
/// }
/// ```
///
/// Through a re-export of weft (here the crate root's `rt`):
///
/// ```
/// use weft as rt;
///
/// #[rt::main(crate = "rt")]
/// async fn main() {
///     rt::spawn(async {}).await.unwrap();
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(entry::Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a fresh weft runtime.
///
/// The function becomes a `#[test]` `fn` (do not add `#[test]` yourself)
/// with the same name, attributes and return type, so `#[should_panic]`,
/// `#[ignore]` and tests returning `Result` work as usual. Its body runs in
/// an `async move` block on a runtime built for that test alone. The
/// function must take no arguments.
///
/// The body is pinned on the stack and handed to `block_on` as a
/// `Pin<&mut dyn Future<Output = T>>`, so that all the tests of a crate
/// share one instance of `block_on`.
///
/// The runtime is the current-thread one by default: every task runs on
/// the test's thread. Arguments:
///
/// - `flavor = "multi_thread"`: the multi-thread runtime instead (or
///   `flavor = "current_thread"`, the default);
/// - `worker_threads = N`: the number of workers, with
///   `flavor = "multi_thread"` only (default: one per CPU);
/// - `start_paused = true`: the runtime's clock starts paused
///   (`weft::runtime::Builder::start_paused`; see `weft::time::pause`), so
///   time moves only by `weft::time::advance` or by jumping to the next
///   timer when nothing else is left to run. Current-thread flavor only:
///   with `flavor = "multi_thread"` it is a compile error;
/// - `crate = "path"`: where to find weft, for crates that re-export it
///   (default `::weft`).
///
/// # Examples
///
/// ```no_run
/// #[weft::test]
/// async fn spawns() {
///     assert_eq!(weft::spawn(async { 1 + 1 }).await.unwrap(), 2);
/// }
///
/// #[weft::test(flavor = "multi_thread", worker_threads = 2)]
/// async fn on_two_workers() -> Result<(), String> {
///     let workers = weft::runtime::Handle::current().metrics().num_workers();
///     if workers == 2 { Ok(()) } else { Err(format!("{workers} workers")) }
/// }
///
/// #[weft::test(start_paused = true)]
/// async fn times_out_at_once() {
///     let slow = weft::time::sleep(std::time::Duration::from_secs(3600));
///     let late = weft::time::timeout(std::time::Duration::from_secs(30), slow).await;
///     assert!(late.is_err()); // in microseconds: the paused clock jumped 30 s
/// }
///
/// #[weft::test]
/// #[should_panic(expected = "boom")]
/// async fn panics() {
///     weft::spawn(async {}).await.unwrap();
///     panic!("boom");
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(entry::Kind::Test, args.into(), item.into()).into()
}
