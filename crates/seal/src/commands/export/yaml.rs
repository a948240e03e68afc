//! Block-style YAML from a JSON value, for manifests people read and kubectl applies. Every
//! string is written as a JSON string, which is also a YAML double-quoted scalar with the
//! same escapes, so no value can be read as another type (`"no"`, `"1.0"`, `"*"`) or break
//! out of its line.

use serde_json::Value;

pub fn document(v: &Value) -> String {
    let mut out = String::new();
    block(v, 0, &mut out);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => false,
    }
}

/// Keys are Kubernetes field names and label keys; anything else is quoted.
fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && k.starts_with(|c: char| c.is_ascii_alphabetic());
    if plain {
        k.into()
    } else {
        Value::String(k.into()).to_string()
    }
}

fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, val) in o {
                if is_block(val) {
                    out.push_str(&format!("{pad}{}:\n", key(k)));
                    // Sequences under a key sit at the key's indentation, as kubectl writes them.
                    let inner = if val.is_array() { indent } else { indent + 2 };
                    block(val, inner, out);
                } else {
                    out.push_str(&format!("{pad}{}: {}\n", key(k), scalar(val)));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                if is_block(item) {
                    // The first line of the item goes after the dash.
                    let mut inner = String::new();
                    block(item, indent + 2, &mut inner);
                    let trimmed = inner.trim_start_matches(' ');
                    out.push_str(&format!("{pad}- {trimmed}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_maps_and_lists() {
        let v = json!({
            "kind": "Job",
            "spec": {
                "backoffLimit": 0,
                "list": [{"name": "a", "drop": ["ALL"]}, "x"],
                "empty": [],
                "labels": {"seal-job": "no"},
            },
        });
        assert_eq!(
            document(&v),
            // serde_json's maps are sorted by key.
            "kind: \"Job\"\nspec:\n  backoffLimit: 0\n  empty: []\n  labels:\n    seal-job: \"no\"\n  list:\n  - drop:\n    - \"ALL\"\n    name: \"a\"\n  - \"x\"\n"
        );
    }

    #[test]
    fn strings_cannot_break_out() {
        let v = json!({"command": ["sh", "-c", "a\nkind: Secret"], "weird key": 1});
        let d = document(&v);
        assert!(d.contains("- \"a\\nkind: Secret\"\n"), "{d}");
        assert!(d.contains("\"weird key\": 1\n"), "{d}");
    }
}
