//! Placeholder replaced below.
fn main() {
    let text =
        std::fs::read_to_string(std::env::args().nth(1).unwrap_or_default()).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    let joined = lines.join("\n");
    for f in rampart_guard::scan(&joined, rampart_guard::ScanKind::Message).findings {
        println!("{} {:?}", f.rule, &joined[f.span[0]..f.span[1]]);
    }
}
