fn main() {}

#[weft::test]
#[test]
async fn tested_twice() {}
