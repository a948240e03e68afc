//! The results probes print: one `PROBE<TAB>key<TAB>value` line per result, the value escaped
//! (`\\`, `\n`, `\t`). Each part of the support tree has its own probe prelude (the Python side).

use std::collections::BTreeMap;

/// Results printed by a probe (the last value of each key wins).
#[derive(Debug, Clone)]
pub struct Probe {
    pub map: BTreeMap<String, String>,
    /// What ran and what it printed, for assertion messages.
    pub context: String,
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Probe {
    pub fn parse(stdout: &str, context: String) -> Probe {
        let map = stdout
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            // (A pty may echo injected input in front of a line.)
            .filter_map(|l| l.find("PROBE\t").map(|i| &l[i + 6..]))
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_string(), unescape(v)))
            .collect();
        Probe { map, context }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn opt(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    pub fn get(&self, key: &str) -> &str {
        match self.map.get(key) {
            Some(v) => v,
            None => panic!(
                "probe result {key:?} missing\n{}\nall results: {:#?}",
                self.context, self.map
            ),
        }
    }

    pub fn num(&self, key: &str) -> u64 {
        let v = self.get(key);
        v.parse()
            .unwrap_or_else(|_| panic!("{key}: not a number: {v:?}\n{}", self.context))
    }

    /// Assert the value of `key` is one of `allowed` (errno names, "OK", ...).
    pub fn expect_in(&self, key: &str, allowed: &[&str]) {
        let v = self.get(key);
        assert!(
            allowed.contains(&v),
            "{key}: expected one of {allowed:?}, got {v:?}\n{}",
            self.context
        );
    }

    pub fn expect_eq(&self, key: &str, expected: &str) {
        let v = self.get(key);
        assert!(
            v == expected,
            "{key}: expected {expected:?}, got {v:?}\n{}",
            self.context
        );
    }

    pub fn expect_contains(&self, key: &str, needle: &str) {
        let v = self.get(key);
        assert!(
            v.contains(needle),
            "{key}: expected it to contain {needle:?}, got {v:?}\n{}",
            self.context
        );
    }

    pub fn expect_not_in(&self, key: &str, forbidden: &[&str]) {
        let v = self.get(key);
        assert!(
            !forbidden.contains(&v),
            "{key}: must not be one of {forbidden:?}, got {v:?}\n{}",
            self.context
        );
    }
}
