//! What the benches share: the interleaved comparison.

use std::time::Instant;

/// Times `ours` and `theirs` in `pairs` pairs, each run of one right after
/// a run of the other (the order alternating, so neither always goes
/// first). The columns of a criterion group are measured seconds apart,
/// and this shared machine's speed drifts between them; within a pair the
/// drift cancels. Returns the medians of each side's seconds and the
/// median of the pairs' ratios (`ours / theirs`).
pub fn interleaved(
    pairs: usize,
    mut ours: impl FnMut(),
    mut theirs: impl FnMut(),
) -> (f64, f64, f64) {
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let (mut a, mut b) = (Vec::with_capacity(pairs), Vec::with_capacity(pairs));
    for i in 0..pairs {
        if i % 2 == 0 {
            a.push(time(&mut ours));
            b.push(time(&mut theirs));
        } else {
            b.push(time(&mut theirs));
            a.push(time(&mut ours));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratios = a.iter().zip(&b).map(|(x, y)| x / y).collect();
    (median(a), median(b), median(ratios))
}
