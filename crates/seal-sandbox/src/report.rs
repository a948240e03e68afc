//! Messages the sandbox side sends to the supervisor over the report pipe before `execve`.
//!
//! The pipe is close-on-exec: reading it to EOF tells the supervisor that the program has
//! started (or that setup failed, in which case the last message says why).

use crate::landlock_rules::Level;

#[derive(Debug)]
pub enum Message {
    Landlock(Level),
    Error { code: i32, text: String },
}

impl Message {
    pub fn encode(&self) -> String {
        match self {
            Message::Landlock(l) => format!("L {}\n", *l as u8),
            Message::Error { code, text } => format!("E {code} {}\n", text.replace('\n', " ")),
        }
    }

    pub fn decode_all(buf: &str) -> Vec<Message> {
        buf.lines().filter_map(Self::decode).collect()
    }

    fn decode(line: &str) -> Option<Message> {
        let (tag, rest) = line.split_once(' ')?;
        match tag {
            "L" => {
                let level = match rest {
                    "0" => Level::Full,
                    "1" => Level::Partial,
                    "2" => Level::None,
                    _ => Level::Disabled,
                };
                Some(Message::Landlock(level))
            }
            "E" => {
                let (code, text) = rest.split_once(' ')?;
                Some(Message::Error {
                    code: code.parse().ok()?,
                    text: text.to_string(),
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let msgs = [
            Message::Landlock(Level::Partial),
            Message::Error {
                code: 127,
                text: "not\nfound".into(),
            },
        ];
        let wire: String = msgs.iter().map(Message::encode).collect();
        let back = Message::decode_all(&wire);
        assert!(matches!(back[0], Message::Landlock(Level::Partial)));
        assert!(matches!(&back[1], Message::Error { code: 127, text } if text == "not found"));
    }
}
