//! Notification attributes (Core TS 1.2 §7.3, Tbl 7.3.2-1; spec notes §2.3): parsing the
//! Uri-Query of Write-Attributes (and of a 1.2 Observe), checking each attribute against the level
//! and data type it is written to, storing them per path with the inheritance rules, and writing
//! them as link attributes in a Discover answer.
//!
//! The store is per server: a caller keeps one [`AttributeStore`] per Short Server ID. Rules kept:
//!
//! - `?pmin=10` sets, a bare `?pmin` unsets the attribute at that level ([`AttributeChange`]).
//! - `pmin`, `pmax`, `epmin`, `epmax`, `con`, `hqmax` apply at every level below the root;
//!   `gt`, `lt`, `st` only to resources and resource instances of a numeric type (Integer,
//!   Unsigned, Float) and `edge` only to Boolean ones. A type unknown to the caller is not
//!   checked. Unknown names and the read-only properties (`dim`, `ssid`, `uri`, `ver`, `lwm2m`)
//!   are refused; the LwM2M 1.0 `cancel` flag is accepted and reported.
//! - After applying a change the attributes of that level must satisfy `lt < gt` and, with a
//!   step, `lt + 2·st < gt`; `st` is not negative. A refused change leaves the store as it was.
//! - `pmax` lower than `pmin` is not an error: the TS says it is then ignored, which
//!   [`NotificationAttributes::effective_pmax`] applies (likewise `epmax` below `epmin`).
//! - Resolution ([`AttributeStore::effective`]): resource instance over resource over instance
//!   over object, attribute by attribute; then `pmin` and `pmax` fall back to the server's
//!   defaults (`/1/x/2`, `/1/x/3`).

use std::collections::BTreeMap;
use std::fmt;

use crate::format::link::{Link, LinkAttribute};
use crate::path::Path;
use crate::value::DataType;

/// The name of a notification attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeName {
    /// `pmin`: minimum period, seconds.
    Pmin,
    /// `pmax`: maximum period, seconds.
    Pmax,
    /// `gt`: greater-than threshold.
    Gt,
    /// `lt`: less-than threshold.
    Lt,
    /// `st`: step.
    St,
    /// `epmin` (1.1): minimum evaluation period, seconds.
    Epmin,
    /// `epmax` (1.1): maximum evaluation period, seconds.
    Epmax,
    /// `edge` (1.2): notify on the rising (1) or falling (0) edge of a boolean.
    Edge,
    /// `con` (1.2): notifications confirmable (1) or not (0).
    Con,
    /// `hqmax` (1.2): historical queue length.
    Hqmax,
}

impl AttributeName {
    /// Every attribute in the order Discover lists them.
    pub const ALL: [Self; 10] = [
        Self::Pmin,
        Self::Pmax,
        Self::Gt,
        Self::Lt,
        Self::St,
        Self::Epmin,
        Self::Epmax,
        Self::Edge,
        Self::Con,
        Self::Hqmax,
    ];

    /// The query and link-format name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pmin => "pmin",
            Self::Pmax => "pmax",
            Self::Gt => "gt",
            Self::Lt => "lt",
            Self::St => "st",
            Self::Epmin => "epmin",
            Self::Epmax => "epmax",
            Self::Edge => "edge",
            Self::Con => "con",
            Self::Hqmax => "hqmax",
        }
    }

    /// The attribute called `name` (exact, lowercase).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Whether the attribute may only be attached to resources and resource instances.
    pub fn is_resource_only(self) -> bool {
        matches!(self, Self::Gt | Self::Lt | Self::St | Self::Edge)
    }
}

impl fmt::Display for AttributeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why attributes are refused; each variant names the attribute. All are 4.00 Bad Request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// Not a notification attribute.
    #[error("unknown attribute {0:?}")]
    Unknown(String),
    /// A property that only Discover reports (`dim`, `ver` …).
    #[error("attribute {0} is a property and cannot be written")]
    Property(&'static str),
    /// Given twice in one request.
    #[error("attribute {0} is given twice")]
    Duplicate(AttributeName),
    /// `name=` with an empty value, or a value that does not parse.
    #[error("attribute {name} is invalid: {reason}")]
    InvalidValue {
        /// The attribute.
        name: AttributeName,
        /// Why.
        reason: &'static str,
    },
    /// Written to a level that does not take it (`gt` on an instance, anything on the root).
    #[error("attribute {name} cannot be attached to {path}")]
    WrongLevel {
        /// The attribute.
        name: AttributeName,
        /// The target.
        path: Path,
    },
    /// Written to a resource whose type does not take it (`gt` on a string).
    #[error("attribute {name} does not apply to a {data_type} resource")]
    WrongType {
        /// The attribute.
        name: AttributeName,
        /// The resource's type.
        data_type: DataType,
    },
    /// The resulting attributes contradict each other.
    #[error("attributes lt, st and gt must satisfy lt + 2·st < gt")]
    Inconsistent,
    /// The `cancel` flag carries a value.
    #[error("attribute cancel takes no value")]
    CancelWithValue,
}

/// One change of one attribute in a Write-Attributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttributeChange<T> {
    /// `name=value`.
    Set(T),
    /// A bare `name`: remove the attribute from this level.
    Unset,
}

impl<T: Copy> AttributeChange<T> {
    fn apply(self, slot: &mut Option<T>) {
        *slot = match self {
            Self::Set(v) => Some(v),
            Self::Unset => None,
        };
    }
}

/// The attributes attached to one path, each optional.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NotificationAttributes {
    /// Minimum period, seconds.
    pub pmin: Option<u32>,
    /// Maximum period, seconds.
    pub pmax: Option<u32>,
    /// Greater-than threshold.
    pub gt: Option<f64>,
    /// Less-than threshold.
    pub lt: Option<f64>,
    /// Step.
    pub st: Option<f64>,
    /// Minimum evaluation period, seconds.
    pub epmin: Option<u32>,
    /// Maximum evaluation period, seconds.
    pub epmax: Option<u32>,
    /// Edge: `true` rising, `false` falling.
    pub edge: Option<bool>,
    /// Confirmable notifications.
    pub con: Option<bool>,
    /// Historical queue length.
    pub hqmax: Option<u32>,
}

/// The changes one Write-Attributes asks for; `None` fields are not mentioned.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AttributeChanges {
    /// `pmin`.
    pub pmin: Option<AttributeChange<u32>>,
    /// `pmax`.
    pub pmax: Option<AttributeChange<u32>>,
    /// `gt`.
    pub gt: Option<AttributeChange<f64>>,
    /// `lt`.
    pub lt: Option<AttributeChange<f64>>,
    /// `st`.
    pub st: Option<AttributeChange<f64>>,
    /// `epmin`.
    pub epmin: Option<AttributeChange<u32>>,
    /// `epmax`.
    pub epmax: Option<AttributeChange<u32>>,
    /// `edge`.
    pub edge: Option<AttributeChange<bool>>,
    /// `con`.
    pub con: Option<AttributeChange<bool>>,
    /// `hqmax`.
    pub hqmax: Option<AttributeChange<u32>>,
    /// The LwM2M 1.0 `cancel` flag was given (cancel the observation of this path).
    pub cancel: bool,
}

/// Properties Discover reports that a server cannot write.
const PROPERTIES: [&str; 5] = ["dim", "ssid", "uri", "ver", "lwm2m"];

/// A number of seconds or a count: plain decimal digits fitting in u32.
fn parse_u32(name: AttributeName, value: &str) -> Result<u32, AttributeError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AttributeError::InvalidValue { name, reason: "it must be a non-negative decimal integer" });
    }
    value.parse().map_err(|_| AttributeError::InvalidValue { name, reason: "it is larger than 4294967295" })
}

/// A finite decimal number (`50`, `-3.5`, `1e3`); no `inf`, `nan` or hex.
fn parse_f64(name: AttributeName, value: &str) -> Result<f64, AttributeError> {
    let invalid = AttributeError::InvalidValue { name, reason: "it must be a finite decimal number" };
    let digits_only = value.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    if value.is_empty() || value.len() > 64 || !digits_only {
        return Err(invalid);
    }
    value.parse::<f64>().ok().filter(|f| f.is_finite()).ok_or(invalid)
}

/// `0` or `1`.
fn parse_bool(name: AttributeName, value: &str) -> Result<bool, AttributeError> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(AttributeError::InvalidValue { name, reason: "it must be 0 or 1" }),
    }
}

/// Writes a float as Discover shows it: `50`, `42.2`, `-0.5`; magnitudes whose plain form
/// would be long in exponent form (`1e100`, `1.5e-30`), which every reader accepts.
fn format_f64(value: f64) -> String {
    let plain = format!("{value}");
    if plain.len() <= 24 {
        plain
    } else {
        format!("{value:e}")
    }
}

fn change<T>(
    name: AttributeName,
    value: Option<&str>,
    parse: impl Fn(AttributeName, &str) -> Result<T, AttributeError>,
) -> Result<AttributeChange<T>, AttributeError> {
    match value {
        None => Ok(AttributeChange::Unset),
        Some(v) => parse(name, v).map(AttributeChange::Set),
    }
}

impl AttributeChanges {
    /// Parses the Uri-Query items of a Write-Attributes (`pmin=10`, `gt=50.5`, `pmax`).
    pub fn from_query(items: &[String]) -> Result<Self, AttributeError> {
        let mut out = Self::default();
        let mut seen = Vec::with_capacity(AttributeName::ALL.len());
        for item in items {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (item.as_str(), None),
            };
            if name == "cancel" {
                if value.is_some() {
                    return Err(AttributeError::CancelWithValue);
                }
                out.cancel = true;
                continue;
            }
            let Some(attribute) = AttributeName::from_name(name) else {
                if let Some(property) = PROPERTIES.into_iter().find(|p| *p == name) {
                    return Err(AttributeError::Property(property));
                }
                return Err(AttributeError::Unknown(cut(name)));
            };
            if seen.contains(&attribute) {
                return Err(AttributeError::Duplicate(attribute));
            }
            seen.push(attribute);
            out.set_from_text(attribute, value)?;
        }
        Ok(out)
    }

    fn set_from_text(&mut self, name: AttributeName, value: Option<&str>) -> Result<(), AttributeError> {
        match name {
            AttributeName::Pmin => self.pmin = Some(change(name, value, parse_u32)?),
            AttributeName::Pmax => self.pmax = Some(change(name, value, parse_u32)?),
            AttributeName::Gt => self.gt = Some(change(name, value, parse_f64)?),
            AttributeName::Lt => self.lt = Some(change(name, value, parse_f64)?),
            AttributeName::St => {
                let st = change(name, value, parse_f64)?;
                if matches!(st, AttributeChange::Set(v) if v < 0.0) {
                    return Err(AttributeError::InvalidValue { name, reason: "a step cannot be negative" });
                }
                self.st = Some(st);
            }
            AttributeName::Epmin => self.epmin = Some(change(name, value, parse_u32)?),
            AttributeName::Epmax => self.epmax = Some(change(name, value, parse_u32)?),
            AttributeName::Edge => self.edge = Some(change(name, value, parse_bool)?),
            AttributeName::Con => self.con = Some(change(name, value, parse_bool)?),
            AttributeName::Hqmax => self.hqmax = Some(change(name, value, parse_u32)?),
        }
        Ok(())
    }

    /// The attributes mentioned, in the order of [`AttributeName::ALL`].
    pub fn names(&self) -> Vec<AttributeName> {
        AttributeName::ALL.into_iter().filter(|n| self.mentions(*n)).collect()
    }

    /// Whether the change mentions `name`.
    pub fn mentions(&self, name: AttributeName) -> bool {
        match name {
            AttributeName::Pmin => self.pmin.is_some(),
            AttributeName::Pmax => self.pmax.is_some(),
            AttributeName::Gt => self.gt.is_some(),
            AttributeName::Lt => self.lt.is_some(),
            AttributeName::St => self.st.is_some(),
            AttributeName::Epmin => self.epmin.is_some(),
            AttributeName::Epmax => self.epmax.is_some(),
            AttributeName::Edge => self.edge.is_some(),
            AttributeName::Con => self.con.is_some(),
            AttributeName::Hqmax => self.hqmax.is_some(),
        }
    }

    /// Whether nothing is asked (no attribute, no `cancel`).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Checks that every attribute mentioned may be attached to `path`, a resource of type
    /// `data_type` when the caller knows it (see the module documentation).
    pub fn validate_target(&self, path: &Path, data_type: Option<DataType>) -> Result<(), AttributeError> {
        let on_resource = matches!(path, Path::Resource(..) | Path::ResourceInstance(..));
        for name in self.names() {
            if *path == Path::Root || (name.is_resource_only() && !on_resource) {
                return Err(AttributeError::WrongLevel { name, path: *path });
            }
            let Some(data_type) = data_type else { continue };
            let fits = match name {
                AttributeName::Gt | AttributeName::Lt | AttributeName::St => {
                    matches!(data_type, DataType::Integer | DataType::Unsigned | DataType::Float)
                }
                AttributeName::Edge => data_type == DataType::Boolean,
                _ => true,
            };
            if !fits {
                return Err(AttributeError::WrongType { name, data_type });
            }
        }
        Ok(())
    }

    /// The Uri-Query items a server sends (order of [`AttributeName::ALL`], `cancel` last).
    pub fn to_query(&self) -> Vec<String> {
        fn push<T>(
            out: &mut Vec<String>,
            name: AttributeName,
            c: Option<AttributeChange<T>>,
            text: impl Fn(T) -> String,
        ) {
            match c {
                Some(AttributeChange::Set(v)) => out.push(format!("{name}={}", text(v))),
                Some(AttributeChange::Unset) => out.push(name.to_string()),
                None => {}
            }
        }
        let bool_text = |b: bool| if b { "1".to_owned() } else { "0".to_owned() };
        let mut out = Vec::new();
        push(&mut out, AttributeName::Pmin, self.pmin, |v| v.to_string());
        push(&mut out, AttributeName::Pmax, self.pmax, |v| v.to_string());
        push(&mut out, AttributeName::Gt, self.gt, format_f64);
        push(&mut out, AttributeName::Lt, self.lt, format_f64);
        push(&mut out, AttributeName::St, self.st, format_f64);
        push(&mut out, AttributeName::Epmin, self.epmin, |v| v.to_string());
        push(&mut out, AttributeName::Epmax, self.epmax, |v| v.to_string());
        push(&mut out, AttributeName::Edge, self.edge, bool_text);
        push(&mut out, AttributeName::Con, self.con, bool_text);
        push(&mut out, AttributeName::Hqmax, self.hqmax, |v| v.to_string());
        if self.cancel {
            out.push("cancel".to_owned());
        }
        out
    }
}

impl NotificationAttributes {
    /// This set with `changes` applied, checked for consistency (`lt + 2·st < gt`).
    pub fn with_changes(&self, changes: &AttributeChanges) -> Result<Self, AttributeError> {
        let mut next = *self;
        let apply_u32 = |c: Option<AttributeChange<u32>>, slot: &mut Option<u32>| {
            if let Some(c) = c {
                c.apply(slot);
            }
        };
        apply_u32(changes.pmin, &mut next.pmin);
        apply_u32(changes.pmax, &mut next.pmax);
        apply_u32(changes.epmin, &mut next.epmin);
        apply_u32(changes.epmax, &mut next.epmax);
        apply_u32(changes.hqmax, &mut next.hqmax);
        for (c, slot) in [(changes.gt, &mut next.gt), (changes.lt, &mut next.lt), (changes.st, &mut next.st)] {
            if let Some(c) = c {
                c.apply(slot);
            }
        }
        for (c, slot) in [(changes.edge, &mut next.edge), (changes.con, &mut next.con)] {
            if let Some(c) = c {
                c.apply(slot);
            }
        }
        next.check_consistency()?;
        Ok(next)
    }

    /// `lt + 2·st < gt` when both thresholds are set (`st` counts as 0 when absent).
    pub fn check_consistency(&self) -> Result<(), AttributeError> {
        if let (Some(gt), Some(lt)) = (self.gt, self.lt) {
            if lt + 2.0 * self.st.unwrap_or(0.0) >= gt {
                return Err(AttributeError::Inconsistent);
            }
        }
        Ok(())
    }

    /// Whether no attribute is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// `pmax` unless it is lower than `pmin` (then the TS says to ignore it) or zero (none).
    pub fn effective_pmax(&self) -> Option<u32> {
        self.pmax.filter(|&pmax| pmax > 0 && self.pmin.is_none_or(|pmin| pmax >= pmin))
    }

    /// `epmax` unless it is lower than `epmin` or zero.
    pub fn effective_epmax(&self) -> Option<u32> {
        self.epmax.filter(|&epmax| epmax > 0 && self.epmin.is_none_or(|epmin| epmax >= epmin))
    }

    /// Every attribute of `inner` that is set, over this set (for inheritance).
    #[must_use]
    pub fn overridden_by(&self, inner: &Self) -> Self {
        Self {
            pmin: inner.pmin.or(self.pmin),
            pmax: inner.pmax.or(self.pmax),
            gt: inner.gt.or(self.gt),
            lt: inner.lt.or(self.lt),
            st: inner.st.or(self.st),
            epmin: inner.epmin.or(self.epmin),
            epmax: inner.epmax.or(self.epmax),
            edge: inner.edge.or(self.edge),
            con: inner.con.or(self.con),
            hqmax: inner.hqmax.or(self.hqmax),
        }
    }

    /// The attributes as link attributes, in the order of [`AttributeName::ALL`]
    /// (`pmin=10`, `gt=50`, `lt=42.2`, `edge=1`).
    pub fn to_link_attributes(&self) -> Vec<LinkAttribute> {
        let bool_text = |b: bool| if b { "1" } else { "0" }.to_owned();
        let entries = [
            (AttributeName::Pmin, self.pmin.map(|v| v.to_string())),
            (AttributeName::Pmax, self.pmax.map(|v| v.to_string())),
            (AttributeName::Gt, self.gt.map(format_f64)),
            (AttributeName::Lt, self.lt.map(format_f64)),
            (AttributeName::St, self.st.map(format_f64)),
            (AttributeName::Epmin, self.epmin.map(|v| v.to_string())),
            (AttributeName::Epmax, self.epmax.map(|v| v.to_string())),
            (AttributeName::Edge, self.edge.map(bool_text)),
            (AttributeName::Con, self.con.map(bool_text)),
            (AttributeName::Hqmax, self.hqmax.map(|v| v.to_string())),
        ];
        entries.into_iter().filter_map(|(name, value)| Some(LinkAttribute::new(name.as_str(), value?))).collect()
    }

    /// Reads the notification attributes of a Discover link; other attributes (`dim`, `ver` …)
    /// are ignored, a notification attribute without value or with a bad one is an error.
    pub fn from_link(link: &Link) -> Result<Self, AttributeError> {
        let mut changes = AttributeChanges::default();
        let mut seen = Vec::new();
        for attribute in &link.attributes {
            let Some(name) = AttributeName::from_name(&attribute.name) else { continue };
            if seen.contains(&name) {
                return Err(AttributeError::Duplicate(name));
            }
            seen.push(name);
            let Some(value) = attribute.value.as_deref() else {
                return Err(AttributeError::InvalidValue { name, reason: "it has no value" });
            };
            changes.set_from_text(name, Some(value))?;
        }
        Self::default().with_changes(&changes)
    }
}

/// Server defaults that apply when no level sets `pmin` or `pmax` (`/1/x/2`, `/1/x/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerDefaults {
    /// `/1/x/2` Default Minimum Period; absent means 0.
    pub pmin: Option<u32>,
    /// `/1/x/3` Default Maximum Period; absent means none.
    pub pmax: Option<u32>,
}

/// The attributes one server attached, by path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttributeStore {
    by_path: BTreeMap<Path, NotificationAttributes>,
}

impl AttributeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a Write-Attributes to `path` (of type `data_type` if known). On error the store is
    /// unchanged. A level left without attributes is removed.
    pub fn write(
        &mut self,
        path: &Path,
        changes: &AttributeChanges,
        data_type: Option<DataType>,
    ) -> Result<(), AttributeError> {
        changes.validate_target(path, data_type)?;
        let current = self.by_path.get(path).copied().unwrap_or_default();
        let next = current.with_changes(changes)?;
        if next.is_empty() {
            self.by_path.remove(path);
        } else {
            self.by_path.insert(*path, next);
        }
        Ok(())
    }

    /// The attributes attached at exactly `path` (what Discover shows on that link).
    pub fn get(&self, path: &Path) -> Option<&NotificationAttributes> {
        self.by_path.get(path)
    }

    /// The attributes in effect at `path`: each level from the object down overrides the one
    /// above, then `pmin`/`pmax` default to the server's.
    pub fn effective(&self, path: &Path, defaults: ServerDefaults) -> NotificationAttributes {
        let ids = path.ids();
        let mut out = NotificationAttributes::default();
        for depth in 1..=ids.len() {
            let Some(level) = ids.get(..depth).and_then(Path::from_ids) else { continue };
            if let Some(attrs) = self.by_path.get(&level) {
                out = out.overridden_by(attrs);
            }
        }
        out.pmin = out.pmin.or(defaults.pmin);
        out.pmax = out.pmax.or(defaults.pmax);
        out
    }

    /// Forgets the attributes at `path` and below (the instance or object was deleted).
    pub fn remove_below(&mut self, path: &Path) {
        self.by_path.retain(|p, _| !path.contains(p));
    }

    /// Every path with attributes and its attributes, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, &NotificationAttributes)> + '_ {
        self.by_path.iter()
    }

    /// Whether no attribute is stored.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
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
    fn floats_are_written_without_a_needless_fraction() {
        assert_eq!(format_f64(50.0), "50");
        assert_eq!(format_f64(42.2), "42.2");
        assert_eq!(format_f64(-0.5), "-0.5");
        assert_eq!(format_f64(1e100), "1e100");
        assert_eq!(format_f64(-1.5e-30), "-1.5e-30");
    }

    #[test]
    fn float_parsing_refuses_words() {
        for bad in ["inf", "NaN", "infinity", "0x10", "", "1e400", "5,5"] {
            assert!(parse_f64(AttributeName::Gt, bad).is_err(), "{bad}");
        }
        assert_eq!(parse_f64(AttributeName::Gt, "-1.5e2"), Ok(-150.0));
    }
}
