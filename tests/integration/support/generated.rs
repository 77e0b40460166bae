//! Deterministic generated strings for fuzz-style tests: the same values on
//! every run (xorshift from a fixed seed), drawn from an alphabet of
//! troublesome characters.

/// `count` strings of 0 to `max_len` characters of `alphabet`.
pub fn strings(count: usize, alphabet: &str, max_len: usize) -> Vec<String> {
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % (max_len as u64 + 1)) as usize;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        })
        .collect()
}
