//! `#[weft::main]` and `#[weft::test]`: what the expanded functions run on,
//! and that the function's attributes and return type survive. Misuse (the
//! compile errors) is checked in `macros_ui.rs`.

use std::error::Error;

use weft::runtime::Handle;

fn num_workers() -> usize {
    Handle::current().metrics().num_workers()
}

#[weft::test]
async fn test_runs_on_a_current_thread_runtime() {
    assert_eq!(num_workers(), 1);
}

#[weft::test(flavor = "current_thread")]
async fn test_current_thread_spelled_out() {
    assert_eq!(num_workers(), 1);
}

#[weft::test(flavor = "multi_thread", worker_threads = 3)]
async fn test_multi_thread_with_three_workers() {
    assert_eq!(num_workers(), 3);
    // Tasks spawned here spread over the workers and complete.
    let tasks: Vec<_> = (0..32u64).map(|i| weft::spawn(async move { i * 2 })).collect();
    let mut sum = 0;
    for task in tasks {
        sum += task.await.unwrap();
    }
    assert_eq!(sum, 2 * (0..32).sum::<u64>());
}

#[weft::test(worker_threads = 2, flavor = "multi_thread")]
async fn test_arguments_in_any_order() {
    assert_eq!(num_workers(), 2);
}

#[weft::test]
async fn test_spawn_and_await() {
    let inner = weft::spawn(async { weft::spawn(async { 20 }).await.unwrap() + 1 });
    assert_eq!(inner.await.unwrap() * 2, 42);
}

#[weft::test]
async fn test_returning_ok() -> Result<(), String> {
    let n = weft::spawn(async { 7 }).await.map_err(|e| e.to_string())?;
    if n == 7 {
        Ok(())
    } else {
        Err(format!("got {n}"))
    }
}

#[weft::test]
async fn test_question_mark_into_box_dyn_error() -> Result<(), Box<dyn Error>> {
    let n: u32 = weft::spawn(async { "12".parse() }).await??;
    assert_eq!(n, 12);
    Ok(())
}

#[weft::test]
#[should_panic(expected = "from the body")]
async fn test_should_panic_is_kept() {
    weft::spawn(async {}).await.unwrap();
    panic!("from the body");
}

#[weft::test]
#[ignore = "checks that #[ignore] is kept: this test would fail if run"]
async fn test_ignore_is_kept() {
    panic!("an #[ignore]d test ran");
}

#[weft::test]
async fn test_inner_attributes_are_kept() {
    #![allow(unused_variables)]
    let unused = 1;
}

/// A crate that re-exports weft under another name.
mod reexport {
    pub use weft as rt;
}

#[weft::test(crate = "reexport::rt")]
async fn test_crate_path_for_reexports() {
    assert_eq!(reexport::rt::spawn(async { 5 }).await.unwrap(), 5);
}

/// `#[weft::main]` on something other than the binary's `main`, so that a
/// test can call it: it becomes a plain function that builds a runtime,
/// runs the body and returns its value.
mod main_like {
    use super::num_workers;

    #[weft::main(worker_threads = 2)]
    pub async fn two_workers() -> (u32, usize) {
        let value = weft::spawn(async { 40 }).await.unwrap() + 2;
        (value, num_workers())
    }

    #[weft::main]
    pub(crate) async fn default_flavor() -> usize {
        num_workers()
    }

    #[weft::main(flavor = "current_thread")]
    pub async fn current_thread() -> Result<usize, std::num::ParseIntError> {
        let n: usize = "3".parse()?;
        Ok(n + num_workers())
    }

    #[weft::main(flavor = "multi_thread")]
    pub async fn no_value() {
        weft::spawn(async {}).await.unwrap();
    }
}

#[test]
fn main_runs_the_body_on_its_own_runtime() {
    // Not inside a runtime here, and not after either: the runtime lives
    // for the call.
    assert!(Handle::try_current().is_err());
    assert_eq!(main_like::two_workers(), (42, 2));
    assert!(Handle::try_current().is_err());
}

#[test]
fn main_defaults_to_the_multi_thread_runtime() {
    // One worker per CPU: how many depends on the machine.
    assert!(main_like::default_flavor() >= 1);
}

#[test]
fn main_current_thread_returning_result() {
    assert_eq!(main_like::current_thread(), Ok(4));
    main_like::no_value();
}
