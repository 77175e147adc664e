//! Observations the client serves and when each one notifies (Core TS §6.4, §7.3; spec notes
//! §2.3 attributes, §2.4): a change is reported no sooner than `pmin` after the last
//! notification, and only if it passes `gt`/`lt`/`st` when those are set; `pmax` forces one;
//! `epmin` holds back evaluation, `epmax` forces one.
//!
//! This module keeps the state and makes the decisions; `client.rs` reads values and sends.
//! Invariant: an observation's deadline is recomputed after every change to it.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use coap::{ContentFormat, Peer, Token};
use lwm2m::{NotificationAttributes, Path, Record, Value};

use crate::object::ServerId;

/// One observation of a server on one path (or several, for Observe-Composite).
#[derive(Debug, Clone)]
pub struct Observation {
    /// The observing server.
    pub server: ServerId,
    /// Its address.
    pub peer: Peer,
    /// The observation's token.
    pub token: Token,
    /// What is observed.
    pub paths: Vec<Path>,
    /// Whether it is an Observe-Composite.
    pub composite: bool,
    /// Format of every notification.
    pub format: ContentFormat,
    /// What is kept of the records last sent.
    pub last_sent: LastSent,
    /// When the last notification (or first answer) went out.
    pub last_sent_at: Instant,
    /// When values were last evaluated.
    pub last_evaluated_at: Instant,
    /// A change was signalled and not evaluated yet.
    pub dirty: bool,
    /// A change passed the conditions and waits for `pmin`.
    pub due: bool,
}

/// What an observation keeps of the records it last sent: all the notification rules need.
///
/// `gt`/`lt`/`st` and `edge` only apply to a single value, so a single record is kept as it is;
/// of several records (an object or instance, a gateway's `/25` listing every End-Device) only
/// whether they changed matters, and a 64-bit digest of them answers that.
#[derive(Debug, Clone, PartialEq)]
pub enum LastSent {
    /// The one record sent.
    Single(Record),
    /// A digest of the records sent (none or several).
    Digest(u64),
}

impl LastSent {
    /// What to keep of `records`.
    pub fn of(records: &[Record]) -> Self {
        match records {
            [single] => Self::Single(single.clone()),
            _ => Self::Digest(digest(records)),
        }
    }

    /// Whether `records` are the records last sent.
    pub fn matches(&self, records: &[Record]) -> bool {
        match (self, records) {
            (Self::Single(last), [current]) => last == current,
            (Self::Digest(last), _) if records.len() != 1 => *last == digest(records),
            _ => false,
        }
    }

    /// The records kept, as a slice (empty for a digest).
    fn records(&self) -> &[Record] {
        match self {
            Self::Single(record) => std::slice::from_ref(record),
            Self::Digest(_) => &[],
        }
    }
}

/// A 64-bit digest of records: path, value and timestamp of each, in order.
fn digest(records: &[Record]) -> u64 {
    let mut hasher = DefaultHasher::new();
    records.len().hash(&mut hasher);
    for record in records {
        record.path.hash(&mut hasher);
        hash_value(&record.value, &mut hasher);
        record.time.map(float_bits).hash(&mut hasher);
    }
    hasher.finish()
}

/// The bits of a float, with `-0.0` as `0.0` (they compare equal).
fn float_bits(f: f64) -> u64 {
    if f == 0.0 {
        0
    } else {
        f.to_bits()
    }
}

fn hash_value(value: &Value, hasher: &mut DefaultHasher) {
    std::mem::discriminant(value).hash(hasher);
    match value {
        Value::String(s) | Value::CoreLnk(s) => s.hash(hasher),
        Value::Integer(i) | Value::Time(i) => i.hash(hasher),
        Value::Unsigned(u) => u.hash(hasher),
        Value::Float(f) => float_bits(*f).hash(hasher),
        Value::Boolean(b) => b.hash(hasher),
        Value::Opaque(bytes) => bytes.hash(hasher),
        Value::ObjLnk(o, i) => (o, i).hash(hasher),
        Value::None => {}
    }
}

/// The numeric reading of a single-value record set (for `gt`/`lt`/`st`).
pub fn numeric(records: &[Record]) -> Option<f64> {
    match records {
        [single] => match single.value {
            Value::Integer(i) => Some(i as f64),
            Value::Unsigned(u) => Some(u as f64),
            Value::Float(f) => Some(f),
            Value::Time(t) => Some(t as f64),
            _ => None,
        },
        _ => None,
    }
}

/// The boolean reading of a single-value record set (for `edge`).
pub fn boolean(records: &[Record]) -> Option<bool> {
    match records {
        [Record { value: Value::Boolean(b), .. }] => Some(*b),
        _ => None,
    }
}

/// Under `edge` (1.2), whether a boolean went the watched way: to `true` for a rising edge
/// (`edge=1`), to `false` for a falling one (`edge=0`). Other values pass.
pub fn passes_edge(attrs: &NotificationAttributes, last: Option<bool>, current: Option<bool>) -> bool {
    match (attrs.edge, last, current) {
        (Some(edge), Some(last), Some(current)) => last != current && current == edge,
        _ => true,
    }
}

/// Whether a change from `last` to `current` is worth a notification under `attrs`: without
/// `gt`, `lt` and `st` any change is; with them, crossing a threshold or moving by `st`.
pub fn passes_thresholds(attrs: &NotificationAttributes, last: Option<f64>, current: Option<f64>) -> bool {
    if attrs.gt.is_none() && attrs.lt.is_none() && attrs.st.is_none() {
        return true;
    }
    let (Some(last), Some(current)) = (last, current) else { return true };
    let crosses = |threshold: Option<f64>| threshold.is_some_and(|t| (last > t) != (current > t));
    let crosses_lt = attrs.lt.is_some_and(|t| (last < t) != (current < t));
    let steps = attrs.st.is_some_and(|st| (current - last).abs() >= st);
    crosses(attrs.gt) || crosses_lt || steps
}

impl Observation {
    /// Whether the observation watches `changed` (one contains the other).
    pub fn watches(&self, changed: &Path) -> bool {
        self.paths.iter().any(|p| p.contains(changed) || changed.contains(p))
    }

    /// The next instant this observation needs attention, under `attrs`.
    pub fn deadline(&self, attrs: &NotificationAttributes) -> Option<Instant> {
        let secs = |s: u32| Duration::from_secs(u64::from(s));
        let mut next: Option<Instant> = None;
        let mut consider = |at: Instant| next = Some(next.map_or(at, |n: Instant| n.min(at)));
        if self.due {
            consider(self.last_sent_at + secs(attrs.pmin.unwrap_or(0)));
        }
        if self.dirty {
            consider(self.last_evaluated_at + secs(attrs.epmin.unwrap_or(0)));
        }
        if let Some(pmax) = attrs.effective_pmax() {
            consider(self.last_sent_at + secs(pmax));
        }
        if let Some(epmax) = attrs.effective_epmax() {
            consider(self.last_evaluated_at + secs(epmax));
        }
        next
    }

    /// Decides at `now` whether to notify with `current` records: evaluates a pending change
    /// (or an `epmax` tick), then checks `pmin`/`pmax`. Returns `true` to send now.
    pub fn decide(&mut self, now: Instant, attrs: &NotificationAttributes, current: &[Record]) -> bool {
        let secs = |s: u32| Duration::from_secs(u64::from(s));
        let evaluate_due = self.dirty && now >= self.last_evaluated_at + secs(attrs.epmin.unwrap_or(0));
        let epmax_due = attrs.effective_epmax().is_some_and(|e| now >= self.last_evaluated_at + secs(e));
        if evaluate_due || epmax_due {
            self.dirty = false;
            self.last_evaluated_at = now;
            let last = self.last_sent.records();
            if !self.last_sent.matches(current)
                && passes_thresholds(attrs, numeric(last), numeric(current))
                && passes_edge(attrs, boolean(last), boolean(current))
            {
                self.due = true;
            }
        }
        let pmin_over = now >= self.last_sent_at + secs(attrs.pmin.unwrap_or(0));
        let pmax_due = attrs.effective_pmax().is_some_and(|p| now >= self.last_sent_at + secs(p));
        (self.due && pmin_over) || pmax_due
    }

    /// A notification with `records` went out at `now`.
    pub fn sent(&mut self, now: Instant, records: &[Record]) {
        self.last_sent = LastSent::of(records);
        self.last_sent_at = now;
        self.due = false;
    }
}

/// The observations the client serves, by observer and token.
#[derive(Debug, Default)]
pub struct Observations {
    by_key: BTreeMap<(Peer, Token), Observation>,
}

/// Most observations kept; a new one beyond this is refused (answered without Observe).
pub const MAX_OBSERVATIONS: usize = 256;

impl Observations {
    /// Starts (or replaces) an observation; `false` when the table is full.
    pub fn insert(&mut self, observation: Observation) -> bool {
        let key = (observation.peer.clone(), observation.token);
        if self.by_key.len() >= MAX_OBSERVATIONS && !self.by_key.contains_key(&key) {
            return false;
        }
        self.by_key.insert(key, observation);
        true
    }

    /// Ends one observation.
    pub fn remove(&mut self, peer: &Peer, token: Token) -> Option<Observation> {
        self.by_key.remove(&(peer.clone(), token))
    }

    /// Ends every observation of `server` (it registered again or went away); returns their keys.
    pub fn remove_server(&mut self, server: ServerId) -> Vec<(Peer, Token)> {
        let keys: Vec<(Peer, Token)> =
            self.by_key.iter().filter(|(_, o)| o.server == server).map(|(k, _)| k.clone()).collect();
        for key in &keys {
            self.by_key.remove(key);
        }
        keys
    }

    /// Ends the observations of `server` on exactly `path` (1.0 `cancel`); returns their keys.
    pub fn remove_path(&mut self, server: ServerId, path: &Path) -> Vec<(Peer, Token)> {
        let keys: Vec<(Peer, Token)> = self
            .by_key
            .iter()
            .filter(|(_, o)| o.server == server && !o.composite && o.paths.first() == Some(path))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &keys {
            self.by_key.remove(key);
        }
        keys
    }

    /// Marks the observations watching `changed` as dirty.
    pub fn mark_changed(&mut self, changed: &Path) {
        for observation in self.by_key.values_mut() {
            if observation.watches(changed) {
                observation.dirty = true;
            }
        }
    }

    /// Marks the observations of `servers` watching `changed` as dirty.
    pub fn mark_changed_for(&mut self, changed: &Path, servers: &[ServerId]) {
        for observation in self.by_key.values_mut() {
            if servers.contains(&observation.server) && observation.watches(changed) {
                observation.dirty = true;
            }
        }
    }

    /// Every observation.
    pub fn iter(&self) -> impl Iterator<Item = &Observation> + '_ {
        self.by_key.values()
    }

    /// Every observation, mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Observation> + '_ {
        self.by_key.values_mut()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use lwm2m::PrefixedPath;

    use super::*;

    fn record(v: f64) -> Vec<Record> {
        vec![Record::new(PrefixedPath::plain(Path::Resource(3303, 0, 5700)), Value::Float(v))]
    }

    fn observation(now: Instant, v: f64) -> Observation {
        Observation {
            server: ServerId(1),
            peer: Peer::udp("10.0.0.1:5683".parse().expect("addr")),
            token: Token::default(),
            paths: vec![Path::Resource(3303, 0, 5700)],
            composite: false,
            format: ContentFormat::TEXT,
            last_sent: LastSent::of(&record(v)),
            last_sent_at: now,
            last_evaluated_at: now,
            dirty: false,
            due: false,
        }
    }

    #[test]
    fn thresholds_need_a_crossing_or_a_step() {
        let attrs = NotificationAttributes { gt: Some(30.0), lt: Some(10.0), st: Some(5.0), ..Default::default() };
        assert!(!passes_thresholds(&attrs, Some(20.0), Some(22.0)));
        assert!(passes_thresholds(&attrs, Some(28.0), Some(31.0)), "crosses gt");
        assert!(passes_thresholds(&attrs, Some(11.0), Some(9.0)), "crosses lt");
        assert!(passes_thresholds(&attrs, Some(15.0), Some(20.0)), "steps by st");
        assert!(passes_thresholds(&NotificationAttributes::default(), Some(1.0), Some(1.5)));
    }

    #[test]
    fn pmin_holds_a_change_until_it_elapses() {
        let start = Instant::now();
        let attrs = NotificationAttributes { pmin: Some(10), ..Default::default() };
        let mut obs = observation(start, 1.0);
        obs.dirty = true;
        let at = start + Duration::from_secs(2);
        assert!(!obs.decide(at, &attrs, &record(2.0)));
        assert_eq!(obs.deadline(&attrs), Some(start + Duration::from_secs(10)));
        assert!(obs.decide(start + Duration::from_secs(10), &attrs, &record(2.0)));
    }

    #[test]
    fn pmax_forces_a_notification_without_change() {
        let start = Instant::now();
        let attrs = NotificationAttributes { pmax: Some(30), ..Default::default() };
        let mut obs = observation(start, 1.0);
        assert!(!obs.decide(start + Duration::from_secs(29), &attrs, &record(1.0)));
        assert!(obs.decide(start + Duration::from_secs(30), &attrs, &record(1.0)));
    }

    #[test]
    fn epmin_delays_evaluation_and_epmax_catches_unsignalled_changes() {
        let start = Instant::now();
        let attrs = NotificationAttributes { epmin: Some(5), epmax: Some(20), ..Default::default() };
        let mut obs = observation(start, 1.0);
        obs.dirty = true;
        assert!(!obs.decide(start + Duration::from_secs(1), &attrs, &record(2.0)), "epmin not over");
        assert_eq!(obs.deadline(&attrs), Some(start + Duration::from_secs(5)));
        assert!(obs.decide(start + Duration::from_secs(5), &attrs, &record(2.0)));
        obs.sent(start + Duration::from_secs(5), &record(2.0));
        // A change nobody signalled is found at the next epmax evaluation.
        assert_eq!(obs.deadline(&attrs), Some(start + Duration::from_secs(25)));
        assert!(obs.decide(start + Duration::from_secs(25), &attrs, &record(3.0)));
    }

    #[test]
    fn edge_reports_only_the_watched_transition() {
        let rising = NotificationAttributes { edge: Some(true), ..Default::default() };
        assert!(passes_edge(&rising, Some(false), Some(true)));
        assert!(!passes_edge(&rising, Some(true), Some(false)));
        let falling = NotificationAttributes { edge: Some(false), ..Default::default() };
        assert!(passes_edge(&falling, Some(true), Some(false)));
        assert!(passes_edge(&NotificationAttributes::default(), Some(true), Some(false)));
    }

    #[test]
    fn several_records_are_compared_by_digest_and_a_single_one_as_is() {
        let path = |r| PrefixedPath::plain(Path::Resource(25, 0, r));
        let set =
            |v: &str| vec![Record::new(path(0), Value::String(v.into())), Record::new(path(1), Value::Float(0.0))];
        let last = LastSent::of(&set("ed-1"));
        assert!(matches!(last, LastSent::Digest(_)), "several records keep a digest only");
        assert!(last.matches(&set("ed-1")));
        assert!(!last.matches(&set("ed-2")), "a changed value is a change");
        let mut negative_zero = set("ed-1");
        negative_zero[1].value = Value::Float(-0.0);
        assert!(last.matches(&negative_zero), "-0.0 equals 0.0 as before");
        let mut reordered = set("ed-1");
        reordered.reverse();
        assert!(!last.matches(&reordered), "order is part of what was sent");
        assert!(!last.matches(&set("ed-1")[..1]), "fewer records are a change");
        assert!(LastSent::of(&[]).matches(&[]));
        assert_eq!(LastSent::of(&record(1.5)), LastSent::Single(record(1.5).remove(0)));
    }

    #[test]
    fn an_instance_changing_under_a_threshold_still_notifies() {
        // gt/lt/st apply to single values only: several records notify on any change.
        let start = Instant::now();
        let attrs = NotificationAttributes { st: Some(5.0), ..Default::default() };
        let two = |v: f64| {
            let mut records = record(v);
            records.push(Record::new(PrefixedPath::plain(Path::Resource(3303, 0, 5701)), Value::String("Cel".into())));
            records
        };
        let mut obs = observation(start, 1.0);
        obs.sent(start, &two(1.0));
        obs.dirty = true;
        assert!(!obs.decide(start + Duration::from_secs(1), &attrs, &two(1.0)), "unchanged");
        obs.dirty = true;
        assert!(obs.decide(start + Duration::from_secs(2), &attrs, &two(1.5)), "changed, below st");
    }
}
