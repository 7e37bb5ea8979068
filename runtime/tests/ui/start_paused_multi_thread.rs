// Only a current-thread runtime's clock can be paused.
#[weft::test(flavor = "multi_thread", start_paused = true)]
async fn paused_on_many_workers() {}

#[weft::main(start_paused = true)]
async fn main() {}

#[weft::test(start_paused = "yes")]
async fn not_a_bool() {}
