#[weft::main]
fn main() {}

mod tests {
    #[weft::test]
    pub fn not_async_either() {}
}
