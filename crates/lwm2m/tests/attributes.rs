//! Notification attributes (Core TS 1.2 §7.3 Tbl 7.3.2-1, Write-Attributes §6.3.4, Discover
//! §6.3.2; spec notes §2.3 and pitfall 19).

use lwm2m::format::link::{self, Link};
use lwm2m::{
    AttributeChange, AttributeChanges, AttributeError, AttributeName, AttributeStore, DataType, NotificationAttributes,
    Path, Registry, ServerDefaults,
};

fn changes(items: &[&str]) -> Result<AttributeChanges, AttributeError> {
    let items: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    AttributeChanges::from_query(&items)
}

fn write(store: &mut AttributeStore, path: &str, items: &[&str]) -> Result<(), AttributeError> {
    let path: Path = path.parse().unwrap();
    let data_type = Registry::bundled_ref().data_type(&path);
    store.write(&path, &changes(items)?, data_type)
}

#[test]
fn values_set_and_bare_names_unset() {
    let c =
        changes(&["pmin=10", "pmax", "gt=50.5", "lt=-3", "st=0.5", "epmin=1", "epmax=2", "edge=1", "con=0", "hqmax=7"])
            .unwrap();
    assert_eq!(c.pmin, Some(AttributeChange::Set(10)));
    assert_eq!(c.pmax, Some(AttributeChange::Unset));
    assert_eq!(c.gt, Some(AttributeChange::Set(50.5)));
    assert_eq!(c.lt, Some(AttributeChange::Set(-3.0)));
    assert_eq!(c.st, Some(AttributeChange::Set(0.5)));
    assert_eq!(c.edge, Some(AttributeChange::Set(true)));
    assert_eq!(c.con, Some(AttributeChange::Set(false)));
    assert_eq!(c.hqmax, Some(AttributeChange::Set(7)));
    assert_eq!(c.names().len(), 10);
    assert!(!c.cancel);
}

#[test]
fn changes_round_trip_through_the_query() {
    let items = ["pmin=10", "pmax", "gt=50", "lt=42.2", "st=1", "edge=0", "con=1", "cancel"];
    let c = changes(&items).unwrap();
    assert!(c.cancel);
    assert_eq!(c.to_query(), items);
    assert_eq!(AttributeChanges::from_query(&c.to_query()).unwrap(), c);
    assert!(changes(&[]).unwrap().is_empty());
}

#[test]
fn bad_attribute_queries_are_refused_naming_the_attribute() {
    let cases: [(&[&str], &str); 14] = [
        (&["pmin=-1"], "attribute pmin is invalid"),
        (&["pmin=1.5"], "attribute pmin is invalid"),
        (&["pmin="], "attribute pmin is invalid"),
        (&["pmax=4294967296"], "attribute pmax is invalid"),
        (&["gt=abc"], "attribute gt is invalid"),
        (&["lt=inf"], "attribute lt is invalid"),
        (&["st=-1"], "attribute st is invalid: a step cannot be negative"),
        (&["edge=2"], "attribute edge is invalid"),
        (&["con=true"], "attribute con is invalid"),
        (&["pmin=1", "pmin=2"], "attribute pmin is given twice"),
        (&["pmin", "pmin=2"], "attribute pmin is given twice"),
        (&["foo=1"], "unknown attribute \"foo\""),
        (&["dim=2"], "attribute dim is a property"),
        (&["cancel=1"], "attribute cancel takes no value"),
    ];
    for (items, expected) in cases {
        let err = changes(items).unwrap_err().to_string();
        assert!(err.contains(expected), "{items:?}: {err}");
    }
    assert!(changes(&["PMIN=1"]).is_err(), "names are lowercase");
}

#[test]
fn thresholds_go_only_on_numeric_resources_and_edge_on_booleans() {
    let mut store = AttributeStore::new();
    // /3303/0/5700 Sensor Value is Float; /3/0/0 Manufacturer is String; /3342/0/5500 is Boolean.
    write(&mut store, "/3303/0/5700", &["gt=30", "lt=10", "st=2"]).unwrap();
    write(&mut store, "/3/0/7/0", &["gt=5000"]).unwrap();
    write(&mut store, "/3342/0/5500", &["edge=1"]).unwrap();
    let wrong = [
        ("/3303/0", &["gt=1"][..], "attribute gt cannot be attached to /3303/0"),
        ("/3303", &["st=1"][..], "attribute st cannot be attached to /3303"),
        ("/", &["pmin=1"][..], "attribute pmin cannot be attached to /"),
        ("/3/0/0", &["lt=1"][..], "attribute lt does not apply to a string resource"),
        ("/3303/0/5700", &["edge=1"][..], "attribute edge does not apply to a float resource"),
        ("/3342/0/5500", &["gt=1"][..], "attribute gt does not apply to a boolean resource"),
        ("/3/0/13", &["st=1"][..], "attribute st does not apply to a time resource"),
    ];
    for (path, items, expected) in wrong {
        let err = write(&mut store, path, items).unwrap_err().to_string();
        assert_eq!(err, expected, "{path} {items:?}");
    }
    // A type unknown to the caller is not checked; the level still is.
    let unknown = changes(&["gt=1"]).unwrap();
    assert!(store.write(&Path::Resource(32000, 0, 1), &unknown, None).is_ok());
    assert!(store.write(&Path::Instance(32000, 0), &unknown, None).is_err());
}

#[test]
fn unsetting_a_threshold_is_checked_at_the_level_too() {
    let c = changes(&["gt"]).unwrap();
    assert!(c.validate_target(&Path::Instance(3, 0), None).is_err());
    assert!(c.validate_target(&Path::Resource(3, 0, 9), Some(DataType::Integer)).is_ok());
}

#[test]
fn thresholds_must_leave_two_steps_between_lt_and_gt() {
    let mut store = AttributeStore::new();
    let err = write(&mut store, "/3303/0/5700", &["lt=10", "st=5", "gt=20"]).unwrap_err();
    assert_eq!(err, AttributeError::Inconsistent);
    assert!(store.is_empty(), "a refused change leaves the store unchanged");
    write(&mut store, "/3303/0/5700", &["lt=10", "st=5", "gt=20.5"]).unwrap();
    // The rule holds against what is already stored.
    assert_eq!(write(&mut store, "/3303/0/5700", &["st=6"]), Err(AttributeError::Inconsistent));
    assert_eq!(write(&mut store, "/3303/0/5700", &["gt=5"]), Err(AttributeError::Inconsistent));
    let kept = store.get(&Path::Resource(3303, 0, 5700)).unwrap();
    assert_eq!((kept.lt, kept.st, kept.gt), (Some(10.0), Some(5.0), Some(20.5)));
    // Without a step lt < gt is enough; equal thresholds are not.
    assert!(write(&mut store, "/3303/1/5700", &["lt=1", "gt=1"]).is_err());
    assert!(write(&mut store, "/3303/1/5700", &["lt=1", "gt=1.5"]).is_ok());
    // Removing a threshold lifts the constraint.
    write(&mut store, "/3303/0/5700", &["gt", "st=100"]).unwrap();
}

#[test]
fn a_pmax_below_pmin_is_kept_but_ignored() {
    let mut store = AttributeStore::new();
    write(&mut store, "/3/0", &["pmin=60", "pmax=10"]).unwrap();
    let attrs = store.effective(&Path::Resource(3, 0, 9), ServerDefaults::default());
    assert_eq!((attrs.pmin, attrs.pmax), (Some(60), Some(10)));
    assert_eq!(attrs.effective_pmax(), None);
    write(&mut store, "/3/0", &["pmax=60"]).unwrap();
    assert_eq!(store.effective(&Path::Instance(3, 0), ServerDefaults::default()).effective_pmax(), Some(60));
    write(&mut store, "/3/0", &["epmin=5", "epmax=4"]).unwrap();
    assert_eq!(store.get(&Path::Instance(3, 0)).unwrap().effective_epmax(), None);
    let zero = NotificationAttributes { pmax: Some(0), ..Default::default() };
    assert_eq!(zero.effective_pmax(), None, "pmax 0 means no maximum period");
}

#[test]
fn lower_levels_override_higher_ones_then_server_defaults_apply() {
    let mut store = AttributeStore::new();
    write(&mut store, "/3", &["pmin=10", "con=1"]).unwrap();
    write(&mut store, "/3/0", &["pmax=60"]).unwrap();
    write(&mut store, "/3/0/7", &["pmin=20", "gt=5000"]).unwrap();
    write(&mut store, "/3/0/7/1", &["gt=6000"]).unwrap();
    let defaults = ServerDefaults { pmin: Some(1), pmax: Some(300) };

    let ri = store.effective(&Path::ResourceInstance(3, 0, 7, 1), defaults);
    assert_eq!((ri.pmin, ri.pmax, ri.gt, ri.con), (Some(20), Some(60), Some(6000.0), Some(true)));
    let other_ri = store.effective(&Path::ResourceInstance(3, 0, 7, 0), defaults);
    assert_eq!(other_ri.gt, Some(5000.0));
    let sibling = store.effective(&Path::Resource(3, 0, 9), defaults);
    assert_eq!((sibling.pmin, sibling.pmax, sibling.gt), (Some(10), Some(60), None));
    let other_object = store.effective(&Path::Instance(4, 0), defaults);
    assert_eq!((other_object.pmin, other_object.pmax, other_object.con), (Some(1), Some(300), None));
    let no_defaults = store.effective(&Path::Instance(4, 0), ServerDefaults::default());
    assert!(no_defaults.is_empty());
}

#[test]
fn unsetting_everything_removes_the_level_and_deletion_forgets_the_subtree() {
    let mut store = AttributeStore::new();
    write(&mut store, "/3/0", &["pmin=1"]).unwrap();
    write(&mut store, "/3/0/9", &["pmax=9"]).unwrap();
    write(&mut store, "/3/1", &["pmin=2"]).unwrap();
    write(&mut store, "/3/0", &["pmin"]).unwrap();
    assert!(store.get(&Path::Instance(3, 0)).is_none());
    store.remove_below(&Path::Instance(3, 0));
    let left: Vec<Path> = store.iter().map(|(p, _)| *p).collect();
    assert_eq!(left, [Path::Instance(3, 1)]);
}

/// Builds a Discover answer from the store, as a client would.
fn discover(store: &AttributeStore, entries: &[(Path, Option<u16>)]) -> String {
    let links: Vec<Link> = entries
        .iter()
        .map(|(path, dim)| {
            let mut link = Link::new(path.to_string());
            if let Some(dim) = dim {
                link = link.with("dim", dim.to_string());
            }
            if let Some(attrs) = store.get(path) {
                link.attributes.extend(attrs.to_link_attributes());
            }
            link
        })
        .collect();
    link::encode(&links)
}

#[test]
fn core_spec_discover_example_is_reproduced_from_stored_attributes() {
    // C12 §6.3.2: </3>;pmin=10,</3/0>;pmax=60,</3/0/1>,</3/0/6>;dim=2,</3/0/7>;dim=2;gt=50;lt=42.2
    let mut store = AttributeStore::new();
    write(&mut store, "/3", &["pmin=10"]).unwrap();
    write(&mut store, "/3/0", &["pmax=60"]).unwrap();
    write(&mut store, "/3/0/7", &["lt=42.2", "gt=50"]).unwrap();
    let text = discover(
        &store,
        &[
            (Path::Object(3), None),
            (Path::Instance(3, 0), None),
            (Path::Resource(3, 0, 1), None),
            (Path::Resource(3, 0, 6), Some(2)),
            (Path::Resource(3, 0, 7), Some(2)),
        ],
    );
    assert_eq!(text, "</3>;pmin=10,</3/0>;pmax=60,</3/0/1>,</3/0/6>;dim=2,</3/0/7>;dim=2;gt=50;lt=42.2");

    // A server reads them back from the answer, ignoring properties.
    let links = link::parse(&text).unwrap();
    let read: Vec<NotificationAttributes> =
        links.iter().map(|l| NotificationAttributes::from_link(l).unwrap()).collect();
    assert_eq!(read[0].pmin, Some(10));
    assert_eq!(read[1].pmax, Some(60));
    assert!(read[2].is_empty() && read[3].is_empty());
    assert_eq!((read[4].gt, read[4].lt), (Some(50.0), Some(42.2)));
    assert_eq!(&read[4], store.get(&Path::Resource(3, 0, 7)).unwrap());
}

#[test]
fn discover_links_with_bad_attributes_are_refused() {
    for text in ["</3>;pmin", "</3>;pmin=x", "</3>;pmin=1;pmin=2", "</3/0/7>;gt=1;lt=5"] {
        let links = link::parse(text).unwrap();
        assert!(NotificationAttributes::from_link(&links[0]).is_err(), "{text}");
    }
}

#[test]
fn every_attribute_name_round_trips() {
    for name in AttributeName::ALL {
        assert_eq!(AttributeName::from_name(name.as_str()), Some(name));
    }
    let all = NotificationAttributes {
        pmin: Some(1),
        pmax: Some(2),
        gt: Some(30.0),
        lt: Some(-4.5),
        st: Some(0.25),
        epmin: Some(6),
        epmax: Some(7),
        edge: Some(false),
        con: Some(true),
        hqmax: Some(10),
    };
    let link = Link { uri: "/1/0/1".into(), attributes: all.to_link_attributes() };
    assert_eq!(link.to_string(), "</1/0/1>;pmin=1;pmax=2;gt=30;lt=-4.5;st=0.25;epmin=6;epmax=7;edge=0;con=1;hqmax=10");
    assert_eq!(NotificationAttributes::from_link(&link).unwrap(), all);
}

/// A small deterministic generator for the mutation test (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        usize::try_from(self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64).unwrap()
    }
}

#[test]
fn random_queries_never_panic_and_what_parses_round_trips() {
    let names = ["pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "edge", "con", "hqmax", "cancel", "dim", "x"];
    let values = ["", "0", "1", "2", "-1", "10", "50.5", "-3.25", "1e100", "1e-300", "4294967295", "inf", "x"];
    let targets = [Path::Root, Path::Object(3303), Path::Instance(3303, 0), Path::Resource(3303, 0, 5700)];
    let mut rng = Rng(0x0a77_0000_1234_5678);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let items: Vec<String> = (0..rng.below(4))
            .map(|_| {
                let name = names[rng.below(names.len())];
                match rng.below(3) {
                    0 => name.to_owned(),
                    _ => format!("{name}={}", values[rng.below(values.len())]),
                }
            })
            .collect();
        let Ok(c) = AttributeChanges::from_query(&items) else { continue };
        assert_eq!(AttributeChanges::from_query(&c.to_query()).unwrap(), c, "{items:?}");
        let mut store = AttributeStore::new();
        let target = targets[rng.below(targets.len())];
        let data_type = Registry::bundled_ref().data_type(&target);
        if store.write(&target, &c, data_type).is_ok() {
            accepted += 1;
            if let Some(attrs) = store.get(&target) {
                let link = Link { uri: target.to_string(), attributes: attrs.to_link_attributes() };
                let parsed = link::parse(&link.to_string()).unwrap();
                assert_eq!(&NotificationAttributes::from_link(&parsed[0]).unwrap(), attrs, "{items:?}");
            }
        }
    }
    assert!(accepted > 1000, "{accepted}");
}
