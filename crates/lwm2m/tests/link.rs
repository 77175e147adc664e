//! CoRE Link Format (RFC 6690) with the payloads LwM2M peers send: registration payloads
//! (Core TS §6.2.1), Discover answers, `/25/x/3` values (Gateway TS §10), and the
//! interoperability pitfalls of spec notes §8 (#12 quoted `ver`, #13 spaces, trailing slashes).

use lwm2m::format::link::{self, Link, LinkAttribute};
use lwm2m::{FormatError, Path, Prefix, PrefixedPath};

fn uris(links: &[Link]) -> Vec<&str> {
    links.iter().map(|l| l.uri.as_str()).collect()
}

fn paths(links: &[Link]) -> Vec<Path> {
    links.iter().map(|l| l.path().expect("an LwM2M path").path).collect()
}

#[test]
fn wakaama_registration_payload_parses_and_encodes_back_exactly() {
    let text = r#"</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>"#;
    let links = link::parse(text).unwrap();
    assert_eq!(uris(&links), ["/", "/1/0", "/3/0"]);
    assert!(links[0].is_lwm2m_root());
    assert_eq!(links[0].value("rt"), Some("oma.lwm2m"));
    assert_eq!(links[0].content_formats().unwrap(), [110]);
    assert_eq!(paths(&links), [Path::Root, Path::Instance(1, 0), Path::Instance(3, 0)]);
    assert_eq!(link::encode(&links), text);
}

#[test]
fn plain_object_list_from_the_core_specification() {
    let links = link::parse("</1/0>,</1/1>,</2/0>,</2/1>,</3/0>,</4/0>,</5>").unwrap();
    assert_eq!(
        paths(&links),
        [
            Path::Instance(1, 0),
            Path::Instance(1, 1),
            Path::Instance(2, 0),
            Path::Instance(2, 1),
            Path::Instance(3, 0),
            Path::Instance(4, 0),
            Path::Object(5),
        ]
    );
    assert!(links.iter().all(|l| l.attributes.is_empty() && !l.is_lwm2m_root()));
}

#[test]
fn spaces_after_commas_and_a_quoted_ct_list_are_accepted() {
    let links = link::parse(r#"</>;ct="110 112 60", </1/0>,  </3/0> "#).unwrap();
    assert_eq!(uris(&links), ["/", "/1/0", "/3/0"]);
    assert_eq!(links[0].content_formats().unwrap(), [110, 112, 60]);
    assert_eq!(link::encode(&links), r#"</>;ct="110 112 60",</1/0>,</3/0>"#);
}

#[test]
fn whitespace_around_semicolons_and_equals_signs_is_skipped() {
    let links = link::parse("\t</3/0> ; pmin = 10 ;pmax= 60 ,\r\n</3/0/1>").unwrap();
    assert_eq!(links[0].value("pmin"), Some("10"));
    assert_eq!(links[0].value("pmax"), Some("60"));
    assert_eq!(link::encode(&links), "</3/0>;pmin=10;pmax=60,</3/0/1>");
}

#[test]
fn alternate_path_links_resolve_below_the_root() {
    let links = link::parse(r#"</lwm2m>;rt="oma.lwm2m", </lwm2m/1/0>,</lwm2m/3/0>"#).unwrap();
    assert!(links[0].is_lwm2m_root());
    let under: Vec<_> = links.iter().map(|l| l.path_under("/lwm2m").unwrap().path).collect();
    assert_eq!(under, [Path::Root, Path::Instance(1, 0), Path::Instance(3, 0)]);
    assert_eq!(links[1].path_under("/lwm2m/").unwrap(), PrefixedPath::plain(Path::Instance(1, 0)));
    assert_eq!(links[1].path_under("/lwm").map(|p| p.path), None, "not below /lwm");
    assert_eq!(links[1].path_under("/other"), None);
    // Read naively, an alternate path looks like a gateway prefix.
    let naive = links[1].path().unwrap();
    assert_eq!(naive.prefix, Some(Prefix::new("lwm2m").unwrap()));
}

#[test]
fn anjay_quoted_and_unquoted_versions_give_the_same_value() {
    let quoted = link::parse(r#"</1/0>,</25>;ver="2.0",</25/0>"#).unwrap();
    let bare = link::parse("</1/0>,</25>;ver=2.0,</25/0>").unwrap();
    assert_eq!(quoted, bare);
    assert_eq!(quoted[1].version(), Some("2.0"));
    assert_eq!(link::encode(&quoted), "</1/0>,</25>;ver=2.0,</25/0>");
}

#[test]
fn trailing_slashes_are_stripped_from_paths() {
    let links = link::parse("</0/1/>, </3/0/>,</5/>").unwrap();
    assert_eq!(paths(&links), [Path::Instance(0, 1), Path::Instance(3, 0), Path::Object(5)]);
    assert_eq!(links[0].uri, "/0/1/", "the target text itself is kept");
}

#[test]
fn discover_answer_with_attributes_round_trips() {
    let text = "</3/0>;pmin=10;pmax=60,</3/0/1>,</3/0/2>;dim=2";
    let links = link::parse(text).unwrap();
    assert_eq!(
        links,
        [
            Link::new("/3/0").with("pmin", "10").with("pmax", "60"),
            Link::new("/3/0/1"),
            Link::new("/3/0/2").with("dim", "2"),
        ]
    );
    assert_eq!(paths(&links), [Path::Instance(3, 0), Path::Resource(3, 0, 1), Path::Resource(3, 0, 2)]);
    assert_eq!(link::encode(&links), text);
}

#[test]
fn gateway_iot_device_objects_value_parses() {
    let links = link::parse("</3/0>;ver=1.2,</5/0>;ver=1.1,</3303/0>,</3303/1>").unwrap();
    assert_eq!(links.iter().map(Link::version).collect::<Vec<_>>(), [Some("1.2"), Some("1.1"), None, None]);
    let discover = link::parse("</19>;pmin=4;pmax=5,</19/0>,</19/0/0>;dim=2").unwrap();
    assert_eq!(discover[2].value("dim"), Some("2"));
}

#[test]
fn a_prefixed_path_link_is_encoded_with_its_prefix() {
    let path: PrefixedPath = "/d01/3303/0".parse().unwrap();
    let link = Link::to_path(&path).with("ver", "1.1");
    assert_eq!(link.to_string(), "</d01/3303/0>;ver=1.1");
    assert_eq!(link.path(), Some(path));
}

#[test]
fn quoted_values_may_hold_commas_and_semicolons() {
    let links = link::parse(r#"</x>;title="a, b; c";rt="x y",</y>"#).unwrap();
    assert_eq!(uris(&links), ["/x", "/y"]);
    assert_eq!(links[0].value("title"), Some("a, b; c"));
    assert_eq!(link::encode(&links), r#"</x>;title="a, b; c";rt="x y",</y>"#);
}

#[test]
fn bare_attributes_have_no_value() {
    let links = link::parse("</3/0/13>;obs;ct=0").unwrap();
    assert!(links[0].has_attribute("obs"));
    assert_eq!(links[0].attribute("obs"), Some(&LinkAttribute::flag("obs")));
    assert_eq!(links[0].value("obs"), None);
    assert_eq!(link::encode(&links), "</3/0/13>;obs;ct=0");
}

#[test]
fn attribute_names_compare_without_case() {
    let links = link::parse("</25>;VER=2.0;RT=\"oma.lwm2m\"").unwrap();
    assert_eq!(links[0].version(), Some("2.0"));
    assert!(links[0].is_lwm2m_root());
}

#[test]
fn values_are_quoted_only_when_needed() {
    let links = [
        Link::new("/").with("rt", "oma.lwm2m").with("ct", "110"),
        Link::new("/1").with("ct", "110 112").with("ver", "2.0").with("gt", "-1.5").with("e", ""),
        Link::new("/2").with("x", "a=b").with("y", "a,b").with("z", "<"),
    ];
    assert_eq!(
        link::encode(&links),
        r#"</>;rt="oma.lwm2m";ct=110,</1>;ct="110 112";ver=2.0;gt=-1.5;e="",</2>;x="a=b";y="a,b";z="<""#
    );
    assert_eq!(link::parse(&link::encode(&links)).unwrap(), links);
}

#[test]
fn empty_and_blank_payloads_hold_no_links() {
    assert_eq!(link::parse("").unwrap(), []);
    assert_eq!(link::parse(" \r\n ").unwrap(), []);
    assert_eq!(link::decode(b"").unwrap(), []);
    assert_eq!(link::encode(&[]), "");
}

#[test]
fn an_empty_target_is_a_link_without_a_path() {
    let links = link::parse("<>;ct=0").unwrap();
    assert_eq!(links[0].uri, "");
    assert_eq!(links[0].path(), None);
}

#[test]
fn bad_ct_lists_are_invalid() {
    for ct in ["abc", "110 70000", "-1", "1.5"] {
        let link = Link::new("/").with("ct", ct);
        assert!(matches!(link.content_formats(), Err(FormatError::Invalid { .. })), "{ct}");
    }
    assert_eq!(Link::new("/").content_formats().unwrap(), Vec::<u16>::new());
}

#[track_caller]
fn assert_malformed(text: &str, at: usize, reason: &str) {
    match link::parse(text) {
        Err(FormatError::Malformed { format: "link-format", offset, reason: r }) => {
            assert_eq!((offset, r.as_str()), (at, reason), "{text:?}");
        }
        other => panic!("{text:?}: expected Malformed, got {other:?}"),
    }
}

#[test]
fn structural_errors_are_malformed_with_the_byte_offset() {
    assert_malformed("</3/0", 5, "missing '>' closing the link target");
    assert_malformed("</3/0,</4/0>", 6, "missing '>' closing the link target");
    assert_malformed("</3/0 >", 5, "missing '>' closing the link target");
    assert_malformed("3/0>", 0, "expected '<' starting a link");
    assert_malformed("</3/0>,", 7, "expected '<' starting a link");
    assert_malformed("</3/0>,,</4/0>", 7, "expected '<' starting a link");
    assert_malformed("</3/0> </4/0>", 7, "expected ',' or ';' after a link");
    assert_malformed("</3/0>x", 6, "expected ',' or ';' after a link");
    assert_malformed("</3/0>;", 7, "expected an attribute name");
    assert_malformed("</3/0>;=5", 7, "expected an attribute name");
    assert_malformed("</3/0>;ct=", 10, "expected an attribute value after '='");
    assert_malformed("</3/0>;ct=,</4>", 10, "expected an attribute value after '='");
    assert_malformed("</3/0>;ct=110 112", 14, "expected ',' or ';' after a link");
    assert_malformed(r#"</3/0>;title="open,</4>"#, 13, "quoted string not terminated");
    assert_malformed(r#"</3/0>;title="a\"#, 13, "quoted string not terminated");
    assert_malformed("</3/0>;title=\"a\nb\"", 15, "control character in a quoted string");
    assert_malformed(r#"</3/0>;ver=2"0""#, 12, "expected ',' or ';' after a link");
}

#[test]
fn malformed_errors_render_with_format_and_offset() {
    let err = link::parse("</3/0").unwrap_err();
    assert_eq!(err.to_string(), "link-format: missing '>' closing the link target at byte 5");
}

/// Deterministic pseudo-random bytes (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_payloads_never_panic_and_what_parses_round_trips() {
    let seeds = [
        r#"</>;rt="oma.lwm2m";ct="110 112",</1/0>,</3/0>;ver=1.2"#,
        r#"</3/0>;pmin=10;pmax=60,</3/0/1>;title="a,\"b\";c",</3/0/2>;dim=2;obs"#,
    ];
    let alphabet = b"<>/;,=\" \\\t0123abc\xc3\xa9";
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut parsed = 0;
    for round in 0..20_000 {
        let mut bytes = seeds[round % seeds.len()].as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            let byte = alphabet[rng.below(alphabet.len())];
            match rng.below(3) {
                0 if at < bytes.len() => bytes[at] = byte,
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, byte),
            }
        }
        if let Ok(links) = link::decode(&bytes) {
            parsed += 1;
            let encoded = link::encode(&links);
            assert_eq!(
                link::parse(&encoded).as_ref(),
                Ok(&links),
                "{:?} -> {encoded:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
    assert!(parsed > 1_000, "the mutations should leave many payloads valid ({parsed})");
}
