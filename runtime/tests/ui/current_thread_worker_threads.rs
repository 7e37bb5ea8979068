#[weft::main(flavor = "current_thread", worker_threads = 2)]
async fn main() {}

// Tests default to the current-thread flavor.
#[weft::test(worker_threads = 2)]
async fn needs_multi_thread() {}
