#[weft::main(workers = 4)]
async fn main() {}

#[weft::test(multi_thread)]
async fn bare_flavor_name() {}
