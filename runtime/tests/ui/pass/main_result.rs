use std::error::Error;

#[weft::main(worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let n: u32 = weft::spawn(async { "42".parse() }).await??;
    assert_eq!(n, 42);
    assert_eq!(weft::runtime::Handle::current().metrics().num_workers(), 2);
    Ok(())
}
