//! CoRE Link Format, content format 40 (RFC 6690 §2), as LwM2M uses it: Register and Update
//! payloads (Core TS §6.2.1, object versions §7.2.3), Discover answers, and the value of
//! `/25/x/3` IoT Device Objects (Gateway TS §6).
//!
//! The parser is lenient where real peers differ (optional whitespace around `,` `;` `=`,
//! quoted or bare values: `ver="2.0"` and `ver=2.0` both give `2.0`, quoted values may hold
//! `,` and `;`) and strict on structure: a link target without `>`, an attribute without a
//! name or an unterminated quoted string is a [`FormatError::Malformed`] with the byte offset.
//! The encoder writes the compact form LwM2M examples show:
//! `</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>` — `rt`, `if`, `anchor` and `title` values always
//! quoted, other values only when they hold characters outside a token (`ct="110 112"`).

use std::fmt;

use super::FormatError;
use crate::path::PrefixedPath;

/// Format name used in errors.
const FORMAT: &str = "link-format";

/// Attributes whose values RFC 6690 and RFC 8288 write as quoted strings (and LwM2M the `uri`
/// of a Bootstrap-Discover link, Core TS §5.2.7.3).
const QUOTED_ATTRIBUTES: [&str; 5] = ["rt", "if", "anchor", "title", "uri"];

/// One link: `<uri>;name=value;name…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Link {
    /// The link target, as written between `<` and `>` (`/3/0`, `/`, `/lwm2m/3/0`).
    pub uri: String,
    /// Target attributes in order of appearance.
    pub attributes: Vec<LinkAttribute>,
}

/// One target attribute: `name=value` or a bare `name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkAttribute {
    /// Attribute name (`rt`, `ct`, `ver`, `pmin` …).
    pub name: String,
    /// Value with quotes and escapes removed; `None` for a bare name.
    pub value: Option<String>,
}

impl LinkAttribute {
    /// `name=value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), value: Some(value.into()) }
    }

    /// A bare `name` without value.
    pub fn flag(name: impl Into<String>) -> Self {
        Self { name: name.into(), value: None }
    }
}

impl Link {
    /// A link without attributes.
    pub fn new(uri: impl Into<String>) -> Self {
        Self { uri: uri.into(), attributes: Vec::new() }
    }

    /// A link to an LwM2M path (`</3/0>`, `</d01/3303/0/5700>`).
    pub fn to_path(path: &PrefixedPath) -> Self {
        Self::new(path.to_string())
    }

    /// This link with one more `name=value` attribute.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push(LinkAttribute::new(name, value));
        self
    }

    /// This link with one more bare attribute.
    #[must_use]
    pub fn with_flag(mut self, name: impl Into<String>) -> Self {
        self.attributes.push(LinkAttribute::flag(name));
        self
    }

    /// The first attribute called `name` (names compare ASCII case-insensitively).
    pub fn attribute(&self, name: &str) -> Option<&LinkAttribute> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The value of the first attribute called `name`; `None` if absent or bare.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.attribute(name)?.value.as_deref()
    }

    /// Whether an attribute called `name` is present, with or without value.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// The LwM2M path of the target: `</3/0>` is `/3/0`, `</>` the root, `</0/1/>` (one
    /// trailing slash) `/0/1`. A first segment starting with a letter reads as a prefix, so an
    /// alternate path `</lwm2m/3/0>` gives prefix `lwm2m`; use [`Link::path_under`] when the
    /// client registered an alternate path. `None` if the target is not such a path.
    pub fn path(&self) -> Option<PrefixedPath> {
        self.uri.parse().ok()
    }

    /// The path of the target below an alternate path `root` (`"/lwm2m"`; `"/"` or `""` for
    /// none): `</lwm2m/3/0>` under `/lwm2m` is `/3/0`, `</lwm2m>` the root. `None` if the
    /// target is not below `root`.
    pub fn path_under(&self, root: &str) -> Option<PrefixedPath> {
        let root = root.strip_suffix('/').unwrap_or(root);
        match self.uri.strip_prefix(root)? {
            "" => Some(PrefixedPath::plain(crate::path::Path::Root)),
            rest if rest.starts_with('/') => rest.parse().ok(),
            _ => None,
        }
    }

    /// The object version `ver` (Core TS §7.2.3), quoted or not.
    pub fn version(&self) -> Option<&str> {
        self.value("ver")
    }

    /// Whether `rt` lists `oma.lwm2m`: the link marks the LwM2M root or alternate path.
    pub fn is_lwm2m_root(&self) -> bool {
        self.value("rt").is_some_and(|rt| rt.split_ascii_whitespace().any(|t| t == "oma.lwm2m"))
    }

    /// The content formats listed in `ct` (`ct=110` or `ct="110 112"`); empty if absent.
    pub fn content_formats(&self) -> Result<Vec<u16>, FormatError> {
        let Some(ct) = self.value("ct") else {
            return Ok(Vec::new());
        };
        ct.split_ascii_whitespace()
            .map(|code| {
                let valid = !code.is_empty() && code.len() <= 5 && code.bytes().all(|b| b.is_ascii_digit());
                valid.then(|| code.parse::<u16>().ok()).flatten().ok_or_else(|| FormatError::Invalid {
                    format: FORMAT,
                    reason: format!("ct of <{}> is not a list of content format numbers", cut(&self.uri)),
                })
            })
            .collect()
    }
}

impl fmt::Display for Link {
    /// The link in the compact encoding of [`encode`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_assert!(!self.uri.contains(['>', ' ']), "link target {:?} cannot be encoded", self.uri);
        write!(f, "<{}>", self.uri)?;
        for attribute in &self.attributes {
            write!(f, ";{}", attribute.name)?;
            let Some(value) = &attribute.value else { continue };
            let quote = QUOTED_ATTRIBUTES.iter().any(|q| attribute.name.eq_ignore_ascii_case(q))
                || value.is_empty()
                || !value.bytes().all(is_token_byte);
            if quote {
                f.write_str("=\"")?;
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")?;
            } else {
                write!(f, "={value}")?;
            }
        }
        Ok(())
    }
}

/// Encodes links separated by `,` with no whitespace.
pub fn encode(links: &[Link]) -> String {
    let mut out = String::new();
    for (i, link) in links.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&link.to_string());
    }
    out
}

/// Parses a link-format payload given as bytes; it must be UTF-8.
pub fn decode(payload: &[u8]) -> Result<Vec<Link>, FormatError> {
    let text = std::str::from_utf8(payload).map_err(|e| malformed(e.valid_up_to(), "invalid UTF-8".to_owned()))?;
    parse(text)
}

/// Parses a link-format payload. An empty or blank payload holds no links.
pub fn parse(s: &str) -> Result<Vec<Link>, FormatError> {
    let mut parser = Parser { text: s, bytes: s.as_bytes(), pos: 0 };
    let mut links = Vec::new();
    parser.skip_whitespace();
    if parser.at_end() {
        return Ok(links);
    }
    loop {
        links.push(parser.link()?);
        parser.skip_whitespace();
        match parser.peek() {
            None => return Ok(links),
            Some(b',') => {
                parser.pos += 1;
                parser.skip_whitespace();
            }
            Some(_) => return Err(parser.error("expected ',' or ';' after a link")),
        }
    }
}

/// Cursor over the payload. Structure is ASCII, so every slice taken at a structural byte
/// falls on a character boundary.
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn error(&self, reason: &str) -> FormatError {
        malformed(self.pos, reason.to_owned())
    }

    /// `<uri>` followed by any number of `;attribute`.
    fn link(&mut self) -> Result<Link, FormatError> {
        if self.peek() != Some(b'<') {
            return Err(self.error("expected '<' starting a link"));
        }
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'>') => break,
                Some(b) if b == b'<' || b == b'"' || b.is_ascii_whitespace() || b.is_ascii_control() => {
                    return Err(self.error("missing '>' closing the link target"));
                }
                Some(_) => self.pos += 1,
                None => return Err(self.error("missing '>' closing the link target")),
            }
        }
        let uri = self.text.get(start..self.pos).unwrap_or_default().to_owned();
        self.pos += 1;

        let mut attributes = Vec::new();
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b';') {
                return Ok(Link { uri, attributes });
            }
            self.pos += 1;
            self.skip_whitespace();
            attributes.push(self.attribute()?);
        }
    }

    /// `name`, `name=token` or `name="quoted"`.
    fn attribute(&mut self) -> Result<LinkAttribute, FormatError> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_byte) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected an attribute name"));
        }
        let name = self.text.get(start..self.pos).unwrap_or_default().to_owned();
        let before_equals = self.pos;
        self.skip_whitespace();
        if self.peek() != Some(b'=') {
            self.pos = before_equals;
            return Ok(LinkAttribute { name, value: None });
        }
        self.pos += 1;
        self.skip_whitespace();
        let value = if self.peek() == Some(b'"') { self.quoted()? } else { self.token()? };
        Ok(LinkAttribute { name, value: Some(value) })
    }

    /// A bare value: bytes up to the next separator, quote, angle bracket or blank.
    fn token(&mut self) -> Result<String, FormatError> {
        let start = self.pos;
        while self.peek().is_some_and(|b| !matches!(b, b',' | b';' | b'"' | b'<' | b'>') && b > b' ' && b != 0x7f) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected an attribute value after '='"));
        }
        Ok(self.text.get(start..self.pos).unwrap_or_default().to_owned())
    }

    /// A quoted string; `\x` stands for `x`.
    fn quoted(&mut self) -> Result<String, FormatError> {
        let open = self.pos;
        self.pos += 1;
        let mut value = String::new();
        let mut run_start = self.pos;
        loop {
            match self.peek() {
                Some(b'"') => {
                    value.push_str(self.text.get(run_start..self.pos).unwrap_or_default());
                    self.pos += 1;
                    return Ok(value);
                }
                Some(b'\\') => {
                    value.push_str(self.text.get(run_start..self.pos).unwrap_or_default());
                    self.pos += 1;
                    let rest = self.text.get(self.pos..).unwrap_or_default();
                    let Some(escaped) = rest.chars().next() else { break };
                    // An escaped control character is still one: refuse it as the bare form is.
                    if escaped.is_ascii_control() && escaped != '\t' {
                        return Err(self.error("control character in a quoted string"));
                    }
                    value.push(escaped);
                    self.pos += escaped.len_utf8();
                    run_start = self.pos;
                }
                Some(b) if b.is_ascii_control() && b != b'\t' => {
                    return Err(self.error("control character in a quoted string"));
                }
                Some(_) => self.pos += 1,
                None => break,
            }
        }
        Err(malformed(open, "quoted string not terminated".to_owned()))
    }
}

/// Bytes of an attribute name (RFC 8288 `token`, plus `*` for extended names).
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~*".contains(&b)
}

/// Bytes a value may hold without quotes when encoding.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'()*+-./:?@[]^_`{|}~".contains(&b)
}

fn malformed(offset: usize, reason: String) -> FormatError {
    FormatError::Malformed { format: FORMAT, offset, reason }
}

/// Peer text quoted in an error, cut to 40 characters.
fn cut(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_can_be_quoted_or_bare() {
        let links = parse("</25>;ver=\"2.0\",</26>;ver=2.0").unwrap();
        assert_eq!(links[0].version(), Some("2.0"));
        assert_eq!(links[1].version(), Some("2.0"));
    }

    #[test]
    fn escapes_in_quoted_strings_round_trip() {
        let links = parse(r#"</a>;title="say \"hi\" \\ ok""#).unwrap();
        assert_eq!(links[0].value("title"), Some(r#"say "hi" \ ok"#));
        assert_eq!(encode(&links), r#"</a>;title="say \"hi\" \\ ok""#);
    }

    #[test]
    fn an_escaped_control_character_is_refused() {
        assert!(parse("</>;r=\"a\\\u{1c}b\"").is_err());
    }

    #[test]
    fn non_ascii_text_is_kept_whole() {
        let links = parse("</a>;title=\"Température, °C\";x=é").unwrap();
        assert_eq!(links[0].value("title"), Some("Température, °C"));
        assert_eq!(links[0].value("x"), Some("é"));
        assert_eq!(encode(&links), "</a>;title=\"Température, °C\";x=\"é\"");
    }

    #[test]
    fn invalid_utf8_is_malformed_at_its_offset() {
        let err = decode(b"</3/0>,</\xff>").unwrap_err();
        assert_eq!(err, malformed(9, "invalid UTF-8".into()));
    }

    #[test]
    fn long_uris_are_cut_in_errors() {
        let link = Link::new("/".repeat(300)).with("ct", "x");
        let err = link.content_formats().unwrap_err().to_string();
        assert!(err.len() < 120, "{err}");
    }
}
