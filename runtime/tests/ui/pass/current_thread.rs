#![deny(warnings)]

#[weft::main(flavor = "current_thread")]
pub async fn main() {
    #![allow(unused_mut)]
    let mut n = weft::spawn(async { 1 }).await.unwrap();
    assert_eq!(n, 1);
}

#[weft::test(flavor = "multi_thread", worker_threads = 1, crate = "::weft")]
async fn a_test() {}
