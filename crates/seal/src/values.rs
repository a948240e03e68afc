//! Sizes, durations and CPU counts as the user writes them ("512M", "1h30m", "0.5"), for the
//! command line and seal.toml alike. Each is parsed once, where it is read: clap calls the
//! `parse_*` functions, and the policy's fields are the `Size`/`Timeout` types, whose
//! Deserialize goes through the same functions, so a bad value is an error at its source
//! (with the file, line and column) and never a `None` found later.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

/// A time limit longer than zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout(pub Duration);

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_size(s).map(Size)
    }
}

impl FromStr for Timeout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(Timeout)
    }
}

/// Deserialize from the string form, with the parser's message as the error.
pub fn from_text<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?}: expected a size such as 512M, 2G or 1.5G");
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'B' => 1,
                _ => return Err(bad()),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{s:?}: the size must be larger than zero"));
    }
    Ok((v * mult as f64) as u64)
}

pub fn parse_cpus(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=4096.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?}: expected a number of CPUs such as 1, 2 or 0.5"
        )),
    }
}

/// "90s", "10m", "1h30m", "500ms", or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?}: expected a duration such as 30s, 10m, 1h30m or 500ms");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        return Err(format!("{s:?}: the timeout must be longer than zero"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        for bad in ["", "s", "10x", "m10", "0s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5K").unwrap(), 1536);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "G", "0", "-1M", "12Q", "1..2G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_values_use_the_same_parsers() {
        #[derive(Debug, Deserialize)]
        struct T {
            size: Size,
            timeout: Timeout,
        }
        let t: T = toml::from_str("size = \"2G\"\ntimeout = \"1h30m\"\n").unwrap();
        assert_eq!(t.size, Size(2 << 30));
        assert_eq!(t.timeout, Timeout(Duration::from_secs(5400)));
        let e = toml::from_str::<T>("size = \"lots\"\ntimeout = \"1m\"\n").unwrap_err();
        assert!(e.message().contains("expected a size"), "{e}");
        let e = toml::from_str::<T>("size = \"1G\"\ntimeout = \"0s\"\n").unwrap_err();
        assert!(e.message().contains("longer than zero"), "{e}");
    }
}
