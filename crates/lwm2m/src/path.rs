//! LwM2M paths `/o`, `/o/i`, `/o/i/r`, `/o/i/r/ri` (Core TS §6.3) and the gateway [`Prefix`]
//! in front of them (Gateway TS 1.1.1 §6: `/{prefix}/o/i/r`).
//!
//! A prefix starts with a letter so it can never be mistaken for an Object ID.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A path into the object tree, without prefix. IDs are 16-bit as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Path {
    /// `/`
    Root,
    /// `/o`
    Object(u16),
    /// `/o/i`
    Instance(u16, u16),
    /// `/o/i/r`
    Resource(u16, u16, u16),
    /// `/o/i/r/ri`
    ResourceInstance(u16, u16, u16, u16),
}

/// A gateway prefix naming one End-Device (`d01`): a letter, then letters, digits, `-` or `_`.
/// Clones share the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix(Arc<str>);

/// A path with an optional gateway prefix in front.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrefixedPath {
    /// The End-Device prefix, if any.
    pub prefix: Option<Prefix>,
    /// The path inside that device (or the gateway itself).
    pub path: Path,
}

/// Why a string is not a valid path or prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Does not start with `/`.
    #[error("path {0:?} does not start with '/'")]
    NotAbsolute(String),
    /// A segment is not a number in 0..=65535.
    #[error("path segment {segment:?} is not an ID in 0..=65535")]
    BadId {
        /// The offending segment.
        segment: String,
    },
    /// More than four numeric segments.
    #[error("path {0:?} is deeper than /o/i/r/ri")]
    TooDeep(String),
    /// A prefix that does not start with a letter or holds other characters.
    #[error("prefix {0:?} must start with a letter and hold only letters, digits, '-' or '_'")]
    BadPrefix(String),
}

impl Path {
    /// Object ID, if any.
    pub fn object_id(&self) -> Option<u16> {
        self.ids().first().copied()
    }

    /// The numeric segments, outermost first.
    pub fn ids(&self) -> Vec<u16> {
        match *self {
            Self::Root => vec![],
            Self::Object(o) => vec![o],
            Self::Instance(o, i) => vec![o, i],
            Self::Resource(o, i, r) => vec![o, i, r],
            Self::ResourceInstance(o, i, r, ri) => vec![o, i, r, ri],
        }
    }

    /// Builds a path from up to four IDs.
    pub fn from_ids(ids: &[u16]) -> Option<Self> {
        Some(match *ids {
            [] => Self::Root,
            [o] => Self::Object(o),
            [o, i] => Self::Instance(o, i),
            [o, i, r] => Self::Resource(o, i, r),
            [o, i, r, ri] => Self::ResourceInstance(o, i, r, ri),
            _ => return None,
        })
    }

    /// Number of numeric segments (0 for root).
    pub fn depth(&self) -> usize {
        self.ids().len()
    }

    /// This path with one more segment; `None` past `/o/i/r/ri`.
    pub fn child(&self, id: u16) -> Option<Self> {
        let mut ids = self.ids();
        ids.push(id);
        Self::from_ids(&ids)
    }

    /// Whether `other` equals this path or lies below it.
    pub fn contains(&self, other: &Self) -> bool {
        let (mine, theirs) = (self.ids(), other.ids());
        theirs.len() >= mine.len() && theirs[..mine.len()] == mine[..]
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = self.ids();
        if ids.is_empty() {
            return f.write_str("/");
        }
        for id in ids {
            write!(f, "/{id}")?;
        }
        Ok(())
    }
}

fn parse_ids(segments: &[&str], whole: &str) -> Result<Path, PathError> {
    let mut ids = Vec::with_capacity(segments.len());
    for seg in segments {
        // Leading '+' or zeros are not IDs: only plain decimal digits are.
        if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_digit()) || seg.len() > 5 {
            return Err(PathError::BadId { segment: (*seg).to_owned() });
        }
        let id: u32 = seg.parse().map_err(|_| PathError::BadId { segment: (*seg).to_owned() })?;
        let id = u16::try_from(id).map_err(|_| PathError::BadId { segment: (*seg).to_owned() })?;
        ids.push(id);
    }
    Path::from_ids(&ids).ok_or_else(|| PathError::TooDeep(whole.to_owned()))
}

fn segments(s: &str) -> Result<Vec<&str>, PathError> {
    let rest = s.strip_prefix('/').ok_or_else(|| PathError::NotAbsolute(s.to_owned()))?;
    // "/" is the root; one trailing '/' is tolerated ("/3/0/").
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(vec![]);
    }
    Ok(rest.split('/').collect())
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_ids(&segments(s)?, s)
    }
}

impl Prefix {
    /// Validates a prefix.
    pub fn new(s: &str) -> Result<Self, PathError> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if first_ok && rest_ok && s.len() <= 64 {
            Ok(Self(Arc::from(s)))
        } else {
            Err(PathError::BadPrefix(s.to_owned()))
        }
    }

    /// The prefix text, without slashes.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serialised as its text (persisted gateway state).
impl serde::Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Deserialised from its text, validated like [`Prefix::new`].
impl<'de> serde::Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

impl PrefixedPath {
    /// A path without prefix.
    pub fn plain(path: Path) -> Self {
        Self { prefix: None, path }
    }
}

impl From<Path> for PrefixedPath {
    fn from(path: Path) -> Self {
        Self::plain(path)
    }
}

impl fmt::Display for PrefixedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.prefix, self.path) {
            (Some(p), Path::Root) => write!(f, "/{p}"),
            (Some(p), path) => write!(f, "/{p}{path}"),
            (None, path) => write!(f, "{path}"),
        }
    }
}

impl FromStr for PrefixedPath {
    type Err = PathError;

    /// `/3/0/1`, `/d01/3/0/1` or `/d01`: a first segment starting with a letter is the prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let segs = segments(s)?;
        match segs.first() {
            Some(first) if first.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                let prefix = Prefix::new(first)?;
                Ok(Self { prefix: Some(prefix), path: parse_ids(&segs[1..], s)? })
            }
            _ => Ok(Self::plain(parse_ids(&segs, s)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_print() {
        for s in ["/", "/3", "/3/0", "/3/0/1", "/3/0/7/1", "/d01/3/0/1", "/d01"] {
            assert_eq!(s.parse::<PrefixedPath>().unwrap().to_string(), s);
        }
        assert_eq!("/3/0/".parse::<Path>().unwrap(), Path::Instance(3, 0));
    }

    #[test]
    fn bad_paths_are_refused() {
        for s in ["3/0", "/65536", "/1/2/3/4/5", "/3/x", "/3//0", "/0d/3", "/+3", "/d 1/3"] {
            assert!(s.parse::<PrefixedPath>().is_err(), "{s}");
        }
    }
}
