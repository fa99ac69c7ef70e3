//! quamina-rs set up as every benchmark compares with it. Included by
//! `benches/engine.rs` and `benches/quamina_file.rs` (`#[path]`).

use quamina::{Quamina, QuaminaBuilder};

/// quamina-rs's default arena budget (10 MB) refuses the 7,400th or so of
/// 10,000 exact rules; the benchmarks give it room.
const ARENA_BYTES: usize = 1 << 30;

/// A quamina holding `rules`, rule `i` under id `i`.
pub fn build(rules: &[(String, String)]) -> Result<Quamina<u32>, String> {
    let mut q = QuaminaBuilder::<u32>::new()
        .with_arena_byte_budget(ARENA_BYTES)
        .build()
        .map_err(|e| format!("quamina builder: {e}"))?;
    for (i, (name, pattern)) in rules.iter().enumerate() {
        q.add_pattern(i as u32, pattern)
            .map_err(|e| format!("quamina rejects {name} {pattern}: {e}"))?;
    }
    Ok(q)
}
