#[weft::main]
async fn main(args: Vec<String>) {
    drop(args);
}

#[weft::test]
async fn takes_an_argument(n: u32) {
    assert_eq!(n, 0);
}
