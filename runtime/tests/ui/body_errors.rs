// Errors in the body point at the user's code, not at the attribute.
#[weft::main]
async fn main() {
    let n: u32 = "not a number";
    drop(n + missing);
}

#[weft::main(flavor = "current_thread")]
async fn wrong_value() -> u32 {
    let _ = main;
    "forty-two"
}
