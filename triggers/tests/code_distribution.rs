//! The code generator's output must be uniform over the ten digits.

use triggers::code::OneTimeCode;

/// For 9 degrees of freedom, P(chi-square > 45) is 9.2e-7: a correct generator fails this
/// test less than once in a million runs, while a bias of one percent on a digit over a
/// million draws lands far above it.
const CHI_SQUARE_BOUND: f64 = 45.0;
const CODES: usize = 100_000;
const LENGTH: u8 = 10;

#[test]
fn digits_are_uniform_by_chi_square() {
    let mut counts = [0u64; 10];
    for _ in 0..CODES {
        for digit in OneTimeCode::generate(LENGTH).unwrap().digits().bytes() {
            counts[usize::from(digit - b'0')] += 1;
        }
    }
    assert!(
        counts.iter().all(|&count| count > 0),
        "a digit never occurred: {counts:?}"
    );
    let total = (CODES * usize::from(LENGTH)) as f64;
    let expected = total / 10.0;
    let chi_square: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    assert!(
        chi_square < CHI_SQUARE_BOUND,
        "chi-square {chi_square:.2} over {counts:?}"
    );
}

#[test]
fn every_position_takes_every_digit() {
    let mut seen = [[false; 10]; LENGTH as usize];
    for _ in 0..2_000 {
        for (position, digit) in OneTimeCode::generate(LENGTH)
            .unwrap()
            .digits()
            .bytes()
            .enumerate()
        {
            seen[position][usize::from(digit - b'0')] = true;
        }
    }
    assert!(
        seen.iter().flatten().all(|&s| s),
        "some digit never appeared at some position"
    );
}
