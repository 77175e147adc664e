//! Registration parameters and payloads (Core TS 1.2 §6.2, Transport TS Fig 6.4.3-1; spec notes
//! §2.2, §4 and pitfalls 12, 13, 16), with the forms Wakaama, Anjay and Leshan send.

use std::collections::BTreeSet;

use lwm2m::register::NEVER_LISTED;
use lwm2m::{
    Binding, EndpointName, ObjectLinks, ObjectVersion, Path, RegisterError, RegisterParams, Transport, UpdateParams,
    Version,
};

fn query(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn register(items: &[&str]) -> Result<RegisterParams, RegisterError> {
    RegisterParams::from_query(&query(items))
}

fn update(items: &[&str], version: Version) -> Result<UpdateParams, RegisterError> {
    UpdateParams::from_query(&query(items), version)
}

fn ep(name: &str) -> EndpointName {
    EndpointName::new(name).unwrap()
}

// ---- Register query -------------------------------------------------------------------------

#[test]
fn transport_spec_register_example_parses() {
    // T12 Fig 6.4.3-1: POST /rd?ep=example-client&lwm2m=1.1&lt=86400
    let params = register(&["ep=example-client", "lwm2m=1.1", "lt=86400"]).unwrap();
    assert_eq!(params.endpoint.as_str(), "example-client");
    assert_eq!(params.lwm2m_version, Some(Version::V1_1));
    assert_eq!(params.lifetime, Some(86_400));
    assert_eq!(params.binding, None);
    assert!(!params.queue_mode);
    assert!(params.additional.is_empty());
}

#[test]
fn absent_parameters_take_their_defaults() {
    let params = register(&["ep=a"]).unwrap();
    assert_eq!(params.effective_lifetime(), 86_400);
    assert_eq!(params.effective_version(), Version::V1_0);
}

#[test]
fn a_full_one_one_register_round_trips() {
    let items = ["ep=urn:imei:123456789012345", "lt=300", "lwm2m=1.1", "b=UT", "Q", "sms=33612345678"];
    let params = register(&items).unwrap();
    assert_eq!(params.binding, Binding::new([Transport::Udp, Transport::Tcp]));
    assert!(params.queue_mode);
    assert_eq!(params.sms.as_deref(), Some("33612345678"));
    assert_eq!(params.to_query(), query(&items));
    assert_eq!(RegisterParams::from_query(&params.to_query()).unwrap(), params);
}

#[test]
fn one_zero_queue_mode_is_read_from_the_binding_and_written_back_there() {
    for (b, letters, queue) in [
        ("U", "U", false),
        ("UQ", "U", true),
        ("S", "S", false),
        ("SQ", "S", true),
        ("US", "US", false),
        ("UQS", "US", true),
    ] {
        let items = ["ep=c".to_owned(), "lwm2m=1.0".to_owned(), format!("b={b}")];
        let params = RegisterParams::from_query(&items).unwrap();
        assert_eq!(params.binding.as_ref().unwrap().to_string(), letters, "{b}");
        assert_eq!(params.queue_mode, queue, "{b}");
        assert_eq!(params.to_query(), items, "{b}");
    }
}

#[test]
fn one_two_binding_letters_and_profile_id_are_accepted() {
    let params = register(&["ep=c", "lwm2m=1.2", "b=UTSNMH", "pid=profile-7"]).unwrap();
    let all: Vec<Transport> = params.binding.unwrap().transports().collect();
    assert_eq!(all.len(), 6);
    assert_eq!(params.profile_id.as_deref(), Some("profile-7"));
}

#[test]
fn unknown_parameters_are_kept_and_written_back() {
    let params = register(&["ep=c", "vendor=x", "flag"]).unwrap();
    assert_eq!(params.additional.get("vendor"), Some(&Some("x".to_owned())));
    assert_eq!(params.additional.get("flag"), Some(&None));
    assert_eq!(RegisterParams::from_query(&params.to_query()).unwrap(), params);
}

#[test]
fn a_derived_endpoint_stands_in_for_a_missing_ep_from_one_one_on() {
    let derived = ep("from-psk-identity");
    let items = query(&["lwm2m=1.1"]);
    let params = RegisterParams::from_query_with_endpoint(&items, Some(&derived)).unwrap();
    assert_eq!(params.endpoint, derived);
    // 1.0 requires ep; a present ep wins over the derived one.
    let err = RegisterParams::from_query_with_endpoint(&query(&["lwm2m=1.0"]), Some(&derived)).unwrap_err();
    assert_eq!(err, RegisterError::MissingEndpoint);
    let given = RegisterParams::from_query_with_endpoint(&query(&["ep=x", "lwm2m=1.1"]), Some(&derived)).unwrap();
    assert_eq!(given.endpoint.as_str(), "x");
}

#[test]
fn a_register_without_ep_is_refused() {
    assert_eq!(register(&["lt=60", "lwm2m=1.1"]).unwrap_err(), RegisterError::MissingEndpoint);
    assert_eq!(register(&["ep"]).unwrap_err(), RegisterError::MissingValue("ep"));
    assert_eq!(register(&["ep="]).unwrap_err(), RegisterError::MissingValue("ep"));
}

#[test]
fn bad_endpoint_names_are_refused() {
    assert!(EndpointName::new("").is_err());
    assert!(EndpointName::new("a\u{7}b").is_err());
    assert!(EndpointName::new("tab\there").is_err());
    assert!(EndpointName::new(&"x".repeat(253)).is_err());
    assert!(EndpointName::new(&"x".repeat(252)).is_ok());
    let err = register(&["ep=a\nb"]).unwrap_err();
    assert_eq!(err.to_string(), "parameter ep is invalid: it holds a control character");
}

#[test]
fn a_parameter_given_twice_is_refused_by_name() {
    let err = register(&["ep=c", "lt=60", "lt=60"]).unwrap_err();
    assert_eq!(err, RegisterError::Duplicate("lt".into()));
    assert_eq!(err.to_string(), "parameter lt is given twice");
    assert!(register(&["ep=a", "ep=b"]).is_err());
    assert!(register(&["ep=a", "Q", "Q"]).is_err());
}

#[test]
fn bad_lifetimes_are_refused() {
    for lt in ["lt=-1", "lt=+5", "lt=1e3", "lt=4294967296", "lt=60s", "lt= 60", "lt"] {
        let err = register(&["ep=c", lt]).unwrap_err();
        assert!(err.to_string().contains("lt"), "{lt}: {err}");
    }
    assert_eq!(register(&["ep=c", "lt=4294967295"]).unwrap().lifetime, Some(u32::MAX));
    assert_eq!(register(&["ep=c", "lt=0"]).unwrap().lifetime, Some(0));
}

#[test]
fn an_unknown_lwm2m_version_is_its_own_error_for_a_4_12_answer() {
    for v in ["lwm2m=1.3", "lwm2m=2.0", "lwm2m=1", "lwm2m=v1.1", "lwm2m=1.10"] {
        let err = register(&["ep=c", v]).unwrap_err();
        assert!(err.is_unsupported_version(), "{v}: {err}");
    }
    assert!(!register(&["ep=c", "lt=x"]).unwrap_err().is_unsupported_version());
    assert_eq!(register(&["ep=c", "lwm2m"]).unwrap_err(), RegisterError::MissingValue("lwm2m"));
}

#[test]
fn binding_letters_must_fit_the_version() {
    let cases: [(&[&str], &str); 9] = [
        (&["ep=c", "b=UT"], "LwM2M 1.0 allows only"),
        (&["ep=c", "b=QU"], "LwM2M 1.0 allows only"),
        (&["ep=c", "lwm2m=1.1", "b=UQ"], "Q is not a binding letter"),
        (&["ep=c", "lwm2m=1.1", "b=UM"], "not defined by the registered LwM2M version"),
        (&["ep=c", "lwm2m=1.1", "b=UU"], "appears twice"),
        (&["ep=c", "lwm2m=1.2", "b=X"], "letters must be"),
        (&["ep=c", "lwm2m=1.2", "b=u"], "letters must be"),
        (&["ep=c", "lwm2m=1.2", "b="], "needs a value"),
        (&["ep=c", "b"], "needs a value"),
    ];
    for (items, expected) in cases {
        let err = register(items).unwrap_err().to_string();
        assert!(err.contains(expected), "{items:?}: {err}");
        assert!(err.contains(" b "), "{items:?}: {err}");
    }
}

#[test]
fn flags_and_values_are_checked() {
    assert_eq!(register(&["ep=c", "lwm2m=1.1", "Q=1"]).unwrap_err(), RegisterError::UnexpectedValue("Q"));
    assert_eq!(register(&["ep=c", "=x"]).unwrap_err(), RegisterError::EmptyName);
    assert_eq!(register(&["ep=c", ""]).unwrap_err(), RegisterError::EmptyName);
    assert!(register(&["ep=c", "sms=+3361"]).unwrap_err().to_string().contains("sms"));
    assert!(register(&["ep=c", "lwm2m=1.1", "pid=p"]).unwrap_err().to_string().contains("pid"));
    assert!(register(&["ep=c", "lwm2m=1.2", "pid=a\u{0}"]).is_err());
}

// ---- Update query ---------------------------------------------------------------------------

#[test]
fn transport_spec_update_example_parses() {
    // T12 Fig 6.4.3-1: POST /rd/5a3f?lt=600000
    let params = update(&["lt=600000"], Version::V1_1).unwrap();
    assert_eq!(params.lifetime, Some(600_000));
    assert_eq!(params.to_query(Version::V1_1), query(&["lt=600000"]));
    assert!(update(&[], Version::V1_1).unwrap().is_empty());
}

#[test]
fn update_queue_mode_follows_the_registered_version() {
    let v10 = update(&["b=UQ"], Version::V1_0).unwrap();
    assert_eq!((v10.binding.clone(), v10.queue_mode), (Some(Binding::udp()), Some(true)));
    assert_eq!(v10.to_query(Version::V1_0), query(&["b=UQ"]));
    assert_eq!(update(&["b=U"], Version::V1_0).unwrap().queue_mode, Some(false));
    let v11 = update(&["b=T", "Q", "sms=123"], Version::V1_1).unwrap();
    assert_eq!(v11.queue_mode, Some(true));
    assert_eq!(v11.to_query(Version::V1_1), query(&["b=T", "Q", "sms=123"]));
    assert_eq!(update(&["b=T"], Version::V1_1).unwrap().queue_mode, None);
    assert!(update(&["b=T"], Version::V1_0).is_err());
}

#[test]
fn register_only_parameters_are_refused_in_an_update() {
    for item in ["ep=c", "lwm2m=1.1", "pid=p"] {
        assert!(matches!(update(&[item], Version::V1_2), Err(RegisterError::NotInUpdate(_))), "{item}");
    }
    assert!(update(&["lt=1", "lt=2"], Version::V1_1).is_err());
    assert!(update(&["lt=x"], Version::V1_1).is_err());
}

// ---- Register / Update payload --------------------------------------------------------------

fn instances(links: &ObjectLinks, object: u16) -> Vec<u16> {
    links.object(object).unwrap().instances.to_vec()
}

#[test]
fn wakaama_payload_with_root_link_round_trips_exactly() {
    let text = r#"</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</25>;ver=2.0"#;
    let links = ObjectLinks::parse(text).unwrap();
    assert_eq!(links.content_formats(), [110]);
    assert_eq!(links.alternate_path(), None);
    assert!(links.has_object(25) && links.has_object(1) && !links.has_object(5));
    assert_eq!(links.object(25).unwrap().version, Some(ObjectVersion::new(2, 0)));
    assert!(links.object(25).unwrap().instances.is_empty());
    assert_eq!(instances(&links, 3), [0]);
    assert_eq!(links.encode(), text);
}

#[test]
fn a_payload_built_by_hand_encodes_as_a_client_sends_it() {
    let mut links = ObjectLinks::new();
    links.root = Some(lwm2m::RootLink::root(vec![110]));
    links.add_instance(3, 0).add_instance(1, 0).add_object(25, Some(ObjectVersion::new(2, 0)));
    assert_eq!(links.encode(), r#"</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</25>;ver=2.0"#);
}

#[test]
fn core_spec_object_list_without_root() {
    let links = ObjectLinks::parse("</1/0>,</1/1>,</2/0>,</2/1>,</3/0>,</4/0>,</5>").unwrap();
    assert!(links.root.is_none());
    assert_eq!(links.object_ids().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(instances(&links, 1), [0, 1]);
    assert!(links.object(5).unwrap().instances.is_empty());
    assert_eq!(links.encode(), "</1/0>,</1/1>,</2/0>,</2/1>,</3/0>,</4/0>,</5>");
}

#[test]
fn spaces_after_commas_and_a_bare_root_with_several_formats_parse() {
    // Pitfall 13, C12 §6.2.1 example.
    let links = ObjectLinks::parse(r#"</>;ct="110 112 60", </1/0>, </3/0>"#).unwrap();
    let root = links.root.as_ref().unwrap();
    assert!(!root.lwm2m_rt);
    assert_eq!(links.content_formats(), [110, 112, 60]);
    assert_eq!(links.encode(), r#"</>;ct="110 112 60",</1/0>,</3/0>"#);
}

#[test]
fn anjay_one_zero_quoted_versions_and_one_one_bare_versions_mean_the_same() {
    // Pitfall 12: Anjay quotes `ver` in 1.0 mode.
    let quoted = ObjectLinks::parse(r#"</1/0>,</3/0>,</25>;ver="2.0",</25/0>,</25/1>"#).unwrap();
    let bare = ObjectLinks::parse("</1/0>,</3/0>,</25>;ver=2.0,</25/0>,</25/1>").unwrap();
    assert_eq!(quoted, bare);
    assert_eq!(instances(&bare, 25), [0, 1]);
    assert_eq!(bare.encode(), "</1/0>,</3/0>,</25>;ver=2.0,</25/0>,</25/1>");
}

#[test]
fn a_version_on_the_single_instance_link_belongs_to_the_object() {
    let links = ObjectLinks::parse("</44/0>;ver=2.2").unwrap();
    assert_eq!(links.object(44).unwrap().version, Some(ObjectVersion::new(2, 2)));
    assert_eq!(links.encode(), "</44>;ver=2.2,</44/0>");
}

#[test]
fn gateway_register_payload_of_the_notes_parses() {
    let text = r#"</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</5/0>,</25>;ver=2.0,</25/0>,</25/1>"#;
    let links = ObjectLinks::parse(text).unwrap();
    assert_eq!(instances(&links, 25), [0, 1]);
    assert_eq!(links.encode(), text);
}

#[test]
fn an_alternate_path_resolves_the_links_below_it() {
    let links = ObjectLinks::parse(r#"</lwm2m>;rt="oma.lwm2m", </lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/5>"#).unwrap();
    assert_eq!(links.alternate_path(), Some("/lwm2m"));
    assert_eq!(instances(&links, 3), [0]);
    assert!(links.has_object(5));
    assert_eq!(links.encode(), r#"</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/5>"#);
    // Trailing slashes on the root and the instance links are tolerated.
    let slashed = ObjectLinks::parse(r#"</lwm2m/>;rt="oma.lwm2m",</lwm2m/1/0/>,</lwm2m/3/0>,</lwm2m/5/>"#).unwrap();
    assert_eq!(slashed, links);
}

#[test]
fn trailing_slashes_are_tolerated_without_alternate_path() {
    let links = ObjectLinks::parse("</1/0/>,</3/>").unwrap();
    assert_eq!(instances(&links, 1), [0]);
    assert!(links.has_object(3));
}

#[test]
fn never_listed_objects_are_dropped_and_reported() {
    let links = ObjectLinks::parse("</0/0>,</0/1>,</1/0>,</21>,</23/0>,</3/0>").unwrap();
    assert!(NEVER_LISTED.iter().all(|o| !links.has_object(*o)));
    assert_eq!(links.ignored(), [Path::Instance(0, 0), Path::Instance(0, 1), Path::Object(21), Path::Instance(23, 0)]);
    assert_eq!(links.encode(), "</1/0>,</3/0>");
}

#[test]
fn gateway_prefixed_links_are_refused() {
    for text in ["</d01/3/0>", r#"</lwm2m>;rt="oma.lwm2m",</lwm2m/d01/3/0>"#, "</1/0>,</dev0/3303/0>"] {
        let err = ObjectLinks::parse(text).unwrap_err().to_string();
        assert!(err.contains("gateway prefix"), "{text}: {err}");
    }
}

#[test]
fn invalid_object_lists_are_refused_with_the_link() {
    let cases = [
        (r#"</12>;rt="oma.lwm2m""#, "numeric segment"),
        (r#"</a/7>;rt="oma.lwm2m""#, "numeric segment"),
        (r#"</a//b>;rt="oma.lwm2m""#, "empty path segment"),
        (r#"</>;rt="oma.lwm2m",</x>;rt="oma.lwm2m""#, "second root"),
        ("</3/0/1>", "resource path"),
        ("</3/0>,</3/0>", "listed twice"),
        ("</3>;ver=1.1,</3/0>;ver=1.2", "different from another link"),
        ("</3>;ver=x", "not major.minor"),
        ("</70000>", "not an object"),
        ("<coap://host/3>", "not an object"),
        (r#"</lwm2m>;rt="oma.lwm2m",</3/0>"#, "not an object"),
        (r#"</>;ct="110 x""#, "ct"),
        ("</3/0", "link-format"),
    ];
    for (text, expected) in cases {
        let err = ObjectLinks::parse(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}

#[test]
fn an_empty_payload_lists_nothing() {
    let links = ObjectLinks::parse("").unwrap();
    assert!(links.is_empty() && links.root.is_none());
    assert!(ObjectLinks::decode(b"\xff").is_err());
}

#[test]
fn decoded_and_parsed_payloads_agree() {
    let text = "</1/0>,</3/0>,</3303/0>,</3303/1>";
    assert_eq!(ObjectLinks::decode(text.as_bytes()).unwrap(), ObjectLinks::parse(text).unwrap());
    let ids: BTreeSet<u16> = ObjectLinks::parse(text).unwrap().object_ids().collect();
    assert_eq!(ids, BTreeSet::from([1, 3, 3303]));
}

/// A small deterministic generator for the mutation tests (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

/// Truncates, deletes, duplicates or replaces bytes of `seed`.
fn mutate(rng: &mut Rng, seed: &[u8], alphabet: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 => bytes.truncate(at),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, alphabet[rng.below(alphabet.len())]),
            _ if at < bytes.len() => bytes[at] = alphabet[rng.below(alphabet.len())],
            _ => {}
        }
    }
    bytes
}

#[test]
fn mutated_payloads_never_panic_and_what_parses_encodes_stably() {
    let seeds: [&[u8]; 4] = [
        br#"</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</25>;ver=2.0,</25/0>"#,
        br#"</lwm2m>;rt="oma.lwm2m", </lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/5>"#,
        br#"</>;ct="110 112 60", </0/0>,</1/0/>,</44/0>;ver="2.2""#,
        b"</1/0>,</1/1>,</2/0>,</3/0>,</4/0>,</5>",
    ];
    let alphabet = b"</>;,=\"'.0123456789abdlmortvw \\\xff\xc3\x00";
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut parsed = 0;
    for round in 0..20_000 {
        let input = mutate(&mut rng, seeds[round % seeds.len()], alphabet);
        let Ok(links) = ObjectLinks::decode(&input) else { continue };
        parsed += 1;
        let text = links.encode();
        let again = ObjectLinks::parse(&text).unwrap_or_else(|e| panic!("{text:?} from {input:?}: {e}"));
        assert!(again.objects().eq(links.objects()), "{text:?}");
        assert_eq!(again.root, links.root, "{text:?}");
        assert_eq!(again.encode(), text);
    }
    assert!(parsed > 1000, "the mutations should leave many payloads valid ({parsed})");
}

#[test]
fn mutated_queries_never_panic_and_what_parses_round_trips() {
    let seed = ["ep=node-1", "lt=300", "lwm2m=1.1", "b=UT", "Q", "sms=3361", "x=y"];
    let alphabet = b"=QUTSNMH01.ltepbmsx";
    let mut rng = Rng(0xfeed_beef_0000_0042);
    for _ in 0..20_000 {
        let mut items = Vec::new();
        for item in seed {
            if rng.below(4) != 0 {
                items.push(String::from_utf8_lossy(&mutate(&mut rng, item.as_bytes(), alphabet)).into_owned());
            }
        }
        // LwM2M 1.0 has no queue mode without a binding: it is written `b=UQ`.
        if let Ok(mut params) = RegisterParams::from_query(&items) {
            if params.effective_version() == Version::V1_0 && params.queue_mode {
                params.binding.get_or_insert_with(Binding::udp);
            }
            assert_eq!(RegisterParams::from_query(&params.to_query()).as_ref(), Ok(&params), "{items:?}");
        }
        let version = [Version::V1_0, Version::V1_1, Version::V1_2][rng.below(3)];
        if let Ok(mut params) = UpdateParams::from_query(&items, version) {
            if version == Version::V1_0 && params.queue_mode == Some(true) {
                params.binding.get_or_insert_with(Binding::udp);
            }
            let again = UpdateParams::from_query(&params.to_query(version), version).unwrap();
            assert_eq!(again, params, "{items:?}");
        }
    }
}

#[test]
fn an_end_device_registration_becomes_its_iot_device_objects_value() {
    // Spec notes §7.6: /25/x/3 = the device's links minus root, /0, /21, /23 (ver kept).
    let device = ObjectLinks::parse(
        r#"</>;rt="oma.lwm2m";ct=110,</0/0>,</1/0>,</3/0>;ver=1.2,</5/0>;ver=1.1,</3303/0>,</3303/1>"#,
    )
    .unwrap();
    let mut objects = device.without_root();
    assert!(objects.remove_object(1));
    assert!(!objects.remove_object(1));
    assert_eq!(objects.encode(), "</3>;ver=1.2,</3/0>,</5>;ver=1.1,</5/0>,</3303/0>,</3303/1>");
    // Anjay's /25/0/3 value reads back unchanged (Gateway notes §7.3 (2)).
    let anjay = "</19/0>,</3303>;ver=1.1,</3303/0>,</3347/0>";
    assert_eq!(ObjectLinks::parse(anjay).unwrap().encode(), anjay);
}

#[test]
fn instances_listed_out_of_order_are_kept_per_object_in_ascending_order() {
    let mut links = ObjectLinks::parse("</3303/1>,</3/0>,</3303/0>,</1/0>,</5>,</3303/7>").unwrap();
    assert_eq!(links.object_ids().collect::<Vec<_>>(), [1, 3, 5, 3303]);
    assert_eq!(instances(&links, 3303), [0, 1, 7]);
    assert!(links.remove_object(3));
    links.add_instance(1, 4).add_instance(1, 2).add_instance(1, 2).add_object(5, None);
    assert_eq!(instances(&links, 1), [0, 2, 4]);
    assert_eq!(instances(&links, 3303), [0, 1, 7], "other objects keep their instances");
    assert_eq!(links.encode(), "</1/0>,</1/2>,</1/4>,</5>,</3303/0>,</3303/1>,</3303/7>");
    assert!(ObjectLinks::parse("</3/0>,</3303/0>,</3/0>").is_err(), "an instance listed twice is refused");
}

#[test]
fn a_binding_debug_prints_its_transports() {
    let (binding, _) = Binding::parse("US", lwm2m::Version::V1_1).unwrap();
    assert_eq!(format!("{binding:?}"), "Binding({Udp, Sms})");
}

#[test]
fn links_in_any_order_give_the_same_object_links() {
    let mut forward: Vec<String> = (0..2000u16).map(|i| format!("</3303/{i}>")).collect();
    forward.extend(["</3>;ver=1.1".to_owned(), "</3/0>".to_owned(), "</1/0>".to_owned()]);
    let backward: Vec<String> = forward.iter().rev().cloned().collect();
    let parse = |links: &[String]| ObjectLinks::parse(&links.join(",")).expect("valid links");
    let (a, b) = (parse(&forward), parse(&backward));
    assert_eq!(a, b);
    assert_eq!(a.object_ids().collect::<Vec<_>>(), [1, 3, 3303]);
    let temperature = a.object(3303).expect("listed");
    assert_eq!(temperature.instances.len(), 2000);
    assert!(temperature.instances.windows(2).all(|w| w[0] < w[1]), "ascending, each once");
    assert_eq!(a.object(3).map(|o| o.instances), Some(&[0u16][..]));
}
