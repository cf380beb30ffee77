//! Numbers as PostgreSQL's `numeric_out` prints them.

use super::MAX_EXPONENT;

/// `numeric_out(numeric_in(literal))` for a JSON number literal (already
/// checked against the JSON grammar): plain notation, scale = fraction digits
/// minus the exponent (never below 0), no sign on zero.
pub(super) fn numeric_text(literal: &str) -> Result<String, String> {
    let (negative, rest) = match literal.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, literal),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => {
            let e: i64 = rest[at + 1..]
                .parse()
                .map_err(|_| format!("number {literal} is out of range"))?;
            (&rest[..at], e)
        }
        None => (rest, 0),
    };
    if exponent.abs() > MAX_EXPONENT {
        return Err(format!("number {literal} is out of range"));
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    // Where the decimal point falls within `digits`.
    let point = int.len() as i64 + exponent;
    let scale = (digits.len() as i64 - point).max(0) as usize;
    let digit = |i: i64| -> u8 {
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            b'0'
        }
    };
    let mut integer: String = (0..point.max(0)).map(|i| digit(i) as char).collect();
    let trimmed = integer.trim_start_matches('0').len();
    integer.drain(..integer.len() - trimmed);
    if integer.is_empty() {
        integer.push('0');
    }
    let fraction: String = (point..point + scale as i64).map(|i| digit(i) as char).collect();
    let zero = digits.iter().all(|&d| d == b'0');
    let mut out = String::with_capacity(integer.len() + fraction.len() + 2);
    if negative && !zero {
        out.push('-');
    }
    out.push_str(&integer);
    if scale > 0 {
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}
