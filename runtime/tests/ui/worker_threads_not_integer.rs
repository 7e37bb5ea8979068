#[weft::main(worker_threads = "4")]
async fn main() {}

#[weft::test(flavor = "multi_thread", worker_threads = 2.5)]
async fn fractional() {}
