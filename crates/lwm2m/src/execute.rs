//! Execute arguments (Core TS 1.2 §5.4.5 / §6.3.5; spec notes §2.3): the optional text/plain
//! payload of `POST /o/i/r`, such as `0,1='https://x'`.
//!
//! ```text
//! arglist = arg *( "," arg )
//! arg     = DIGIT [ "=" "'" *CHAR "'" ]
//! CHAR    = %x21 / %x23-26 / %x28-5B / %x5D-7E   ; printable ASCII but SP, ", ' and \
//! ```
//!
//! Parsing is exact: no whitespace, no empty argument, each digit at most once (Core TS 1.2.1).
//! An empty payload is no argument. Errors give the byte offset where the grammar broke.

use std::fmt;

/// One argument: a digit and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argument {
    /// The argument number, 0..=9.
    pub digit: u8,
    /// The quoted value without its quotes, if any.
    pub value: Option<String>,
}

/// The arguments of one Execute, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecuteArguments {
    arguments: Vec<Argument>,
}

/// Why an Execute payload is not an argument list (4.00 Bad Request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecuteError {
    /// The payload breaks the grammar at `offset`.
    #[error("execute arguments: {reason} at byte {offset}")]
    Malformed {
        /// Byte offset in the payload.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The same digit twice.
    #[error("execute argument {0} is given twice")]
    Duplicate(u8),
    /// An argument built by the caller cannot be written (digit > 9, forbidden character).
    #[error("execute argument {digit} cannot be encoded: {reason}")]
    Unencodable {
        /// The argument number.
        digit: u8,
        /// Why.
        reason: &'static str,
    },
}

/// Whether `b` may appear inside a quoted argument value.
fn is_value_byte(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x26 | 0x28..=0x5B | 0x5D..=0x7E)
}

impl ExecuteArguments {
    /// No arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses an Execute payload; empty means no argument.
    pub fn parse(payload: &[u8]) -> Result<Self, ExecuteError> {
        let malformed = |offset, reason| ExecuteError::Malformed { offset, reason };
        let mut out = Self::new();
        let mut pos = 0;
        if payload.is_empty() {
            return Ok(out);
        }
        loop {
            let digit = match payload.get(pos) {
                Some(b) if b.is_ascii_digit() => b - b'0',
                Some(_) => return Err(malformed(pos, "expected an argument digit")),
                None => return Err(malformed(pos, "expected an argument after ','")),
            };
            pos += 1;
            let value = if payload.get(pos) == Some(&b'=') {
                pos += 1;
                if payload.get(pos) != Some(&b'\'') {
                    return Err(malformed(pos, "expected ' opening the value"));
                }
                pos += 1;
                let start = pos;
                while payload.get(pos).is_some_and(|b| is_value_byte(*b)) {
                    pos += 1;
                }
                match payload.get(pos) {
                    Some(b'\'') => {}
                    Some(_) => return Err(malformed(pos, "character not allowed in a value")),
                    None => return Err(malformed(pos, "value not closed by '")),
                }
                // Only ASCII bytes were accepted, so this is valid UTF-8.
                let text = std::str::from_utf8(payload.get(start..pos).unwrap_or_default())
                    .map_err(|_| malformed(start, "character not allowed in a value"))?;
                pos += 1;
                Some(text.to_owned())
            } else {
                None
            };
            out.push(digit, value)?;
            match payload.get(pos) {
                None => return Ok(out),
                Some(b',') => pos += 1,
                Some(_) => return Err(malformed(pos, "expected ',' between arguments")),
            }
        }
    }

    /// Adds an argument, checking the digit and the value can be written.
    pub fn push(&mut self, digit: u8, value: Option<String>) -> Result<&mut Self, ExecuteError> {
        if digit > 9 {
            return Err(ExecuteError::Unencodable { digit, reason: "argument numbers are single digits" });
        }
        if value.as_deref().is_some_and(|v| !v.bytes().all(is_value_byte)) {
            return Err(ExecuteError::Unencodable {
                digit,
                reason: "values hold printable ASCII without space, quotes or backslash",
            });
        }
        if self.get(digit).is_some() {
            return Err(ExecuteError::Duplicate(digit));
        }
        self.arguments.push(Argument { digit, value });
        Ok(self)
    }

    /// The argument `digit`: `None` if absent, `Some(None)` if given without value.
    pub fn get(&self, digit: u8) -> Option<Option<&str>> {
        self.arguments.iter().find(|a| a.digit == digit).map(|a| a.value.as_deref())
    }

    /// The arguments in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &Argument> + '_ {
        self.arguments.iter()
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.arguments.len()
    }

    /// Whether there is no argument.
    pub fn is_empty(&self) -> bool {
        self.arguments.is_empty()
    }

    /// The payload text (`0,1='https://x'`); empty for no argument.
    pub fn encode(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ExecuteArguments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, argument) in self.arguments.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", argument.digit)?;
            if let Some(value) = &argument.value {
                write!(f, "='{value}'")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_bytes_are_printable_ascii_without_space_quotes_or_backslash() {
        let allowed: Vec<u8> = (0..=255u8).filter(|b| is_value_byte(*b)).collect();
        assert_eq!(allowed.len(), 94 - 3);
        for b in [b' ', b'"', b'\'', b'\\', 0x7f, 0x00, 0x80] {
            assert!(!is_value_byte(b), "{b:#x}");
        }
    }
}
