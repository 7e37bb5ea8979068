use std::time::Duration;

#[weft::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let start = weft::time::Instant::now();
    weft::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
}
