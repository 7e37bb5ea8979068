//! Compile-time checks of `#[weft::main]` and `#[weft::test]`: each misuse
//! is an error with a span on the offending token (the `.stderr` files in
//! `tests/ui/`), and the valid forms compile and run.
//!
//! After changing a message, regenerate the expectations with
//! `TRYBUILD=overwrite cargo test -p weft --test macros_ui` and read the
//! diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
