//! Device Management operations against a registered client (Core TS §6.3, spec notes §2.3):
//! each with its success code and its error codes.

mod support;

use coap::{Code, ContentFormat, OptionNumber, Request, Response};
use lwm2m::format::senml;
use lwm2m::{Path, PrefixedPath, Record, Registry, Value};
use lwm2m_client::ClientEvent;
use support::{ask, next_request, registered, wait_event};

fn get(path: &str, accept: Option<ContentFormat>) -> Request {
    let request = Request::get(path);
    match accept {
        Some(cf) => request.with_option(OptionNumber::ACCEPT, coap::msg::encode_uint(u32::from(cf.0))),
        None => request,
    }
}

fn decode(response: &Response, target: Path) -> Vec<Record> {
    let cf = response.options.content_format().expect("content format");
    lwm2m::format::decode(cf, &response.payload, &PrefixedPath::plain(target), &Registry::bundled()).expect("decodes")
}

#[test]
fn read_answers_in_the_right_format_or_the_right_error() {
    let (mut sim, client, server) = registered(10, 300, "U");
    let r = ask(&mut sim, server, client, get("/3/0/0", None));
    assert_eq!((r.code, r.options.content_format()), (Code::CONTENT, Some(ContentFormat::TEXT)));
    assert_eq!(r.payload, b"Acme");

    let r = ask(&mut sim, server, client, get("/3/0", None));
    assert_eq!(r.options.content_format(), Some(ContentFormat::SENML_CBOR), "1.1 default for several values");
    let records = decode(&r, Path::Instance(3, 0));
    assert!(records
        .iter()
        .any(|rec| rec.path.path == Path::Resource(3, 0, 1) && rec.value == Value::String("M1".into())));

    let r = ask(&mut sim, server, client, get("/3303/0", Some(ContentFormat::TLV)));
    assert_eq!(r.options.content_format(), Some(ContentFormat::TLV));
    assert_eq!(decode(&r, Path::Instance(3303, 0)).len(), 2);

    let r = ask(&mut sim, server, client, get("/3/0/11/0", None));
    assert_eq!((r.code, r.payload.as_slice()), (Code::CONTENT, b"0".as_slice()), "resource instance read");

    assert_eq!(ask(&mut sim, server, client, get("/3/0", Some(ContentFormat(50)))).code, Code::NOT_ACCEPTABLE);
    assert_eq!(ask(&mut sim, server, client, get("/3/0", Some(ContentFormat::TEXT))).code, Code::NOT_ACCEPTABLE);
    assert_eq!(ask(&mut sim, server, client, get("/0/0", None)).code, Code::UNAUTHORIZED, "security is never readable");
    assert_eq!(ask(&mut sim, server, client, get("/9", None)).code, Code::NOT_FOUND);
    assert_eq!(ask(&mut sim, server, client, get("/3/7", None)).code, Code::NOT_FOUND);
    assert_eq!(ask(&mut sim, server, client, get("/3/0/4", None)).code, Code::METHOD_NOT_ALLOWED, "execute-only");
    assert_eq!(ask(&mut sim, server, client, get("/", None)).code, Code::METHOD_NOT_ALLOWED);
}

#[test]
fn write_replace_and_partial_update_with_their_errors() {
    let (mut sim, client, server) = registered(11, 300, "U");
    let put = |path: &str, cf: ContentFormat, body: &[u8]| Request::put(path).with_payload(cf, body.to_vec());
    let r = ask(&mut sim, server, client, put("/3303/0/5750", ContentFormat::TEXT, b"Far"));
    assert_eq!(r.code, Code::CHANGED);
    wait_event(&mut sim, client, |e| {
        matches!(e, ClientEvent::WriteApplied { path: Path::Resource(3303, 0, 5750), .. })
    });
    assert_eq!(ask(&mut sim, server, client, get("/3303/0/5750", None)).payload, b"Far");

    assert_eq!(
        ask(&mut sim, server, client, put("/3/0/0", ContentFormat::TEXT, b"x")).code,
        Code::METHOD_NOT_ALLOWED,
        "manufacturer is read-only"
    );
    assert_eq!(
        ask(&mut sim, server, client, put("/3303/0/5750", ContentFormat(9999), b"x")).code,
        Code::UNSUPPORTED_CONTENT_FORMAT
    );
    assert_eq!(
        ask(&mut sim, server, client, put("/1/0/1", ContentFormat::TEXT, b"not a number")).code,
        Code::BAD_REQUEST
    );
    assert_eq!(ask(&mut sim, server, client, put("/3303/9/5750", ContentFormat::TEXT, b"x")).code, Code::NOT_FOUND);

    // Partial update of two resources in one SenML JSON body; one bad value makes it all fail.
    let body = br#"[{"n":"/1/0/2","v":5},{"n":"/1/0/3","v":50}]"#;
    let post = Request::post("/1/0").with_payload(ContentFormat::SENML_JSON, body.to_vec());
    assert_eq!(ask(&mut sim, server, client, post).code, Code::CHANGED);
    let bad = br#"[{"n":"/1/0/2","v":7},{"n":"/1/0/0","v":9}]"#;
    let post = Request::post("/1/0").with_payload(ContentFormat::SENML_JSON, bad.to_vec());
    assert_eq!(ask(&mut sim, server, client, post).code, Code::METHOD_NOT_ALLOWED, "/1/0/0 is read-only");
    assert_eq!(ask(&mut sim, server, client, get("/1/0/2", None)).payload, b"5", "atomic: nothing applied");

    // Writing the lifetime leads to an Update carrying it.
    let r = ask(&mut sim, server, client, put("/1/0/1", ContentFormat::TEXT, b"600"));
    assert_eq!(r.code, Code::CHANGED);
    let (_, _, update) = next_request(&mut sim, server);
    assert_eq!(update.path(), "/rd/c1");
    assert_eq!(update.options.uri_query(), ["lt=600"]);
}

#[test]
fn execute_create_delete_and_their_errors() {
    let (mut sim, client, server) = registered(12, 300, "U");
    assert_eq!(ask(&mut sim, server, client, Request::post("/3/0/4")).code, Code::CHANGED);
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::RebootRequested));
    assert_eq!(ask(&mut sim, server, client, Request::post("/3/0/0")).code, Code::METHOD_NOT_ALLOWED);
    let bad_args = Request::post("/3/0/4").with_body(b"0='unterminated".to_vec());
    assert_eq!(ask(&mut sim, server, client, bad_args).code, Code::BAD_REQUEST);

    // Create with the instance ID chosen by the server (SenML names carry it).
    let body = br#"[{"n":"/3303/5/5750","vs":"K"}]"#;
    let create = Request::post("/3303").with_payload(ContentFormat::SENML_JSON, body.to_vec());
    let r = ask(&mut sim, server, client, create.clone());
    assert_eq!(r.code, Code::CREATED);
    // The object list changed: an Update carries it.
    let (peer, token, update) = next_request(&mut sim, server);
    assert!(String::from_utf8_lossy(&update.payload).contains("</3303/5>"));
    support::answer(&mut sim, server, &peer, token, Response::new(Code::CHANGED));
    assert_eq!(ask(&mut sim, server, client, get("/3303/5/5750", None)).payload, b"K");
    assert_eq!(ask(&mut sim, server, client, create).code, Code::BAD_REQUEST, "instance exists");
    // The reserved instance ID 65535 leaves the choice to the client: Location-Path.
    let body = br#"[{"n":"/3303/65535/5750","vs":"P"}]"#;
    let placeholder = Request::post("/3303").with_payload(ContentFormat::SENML_JSON, body.to_vec());
    let r = ask(&mut sim, server, client, placeholder);
    assert_eq!(r.code, Code::CREATED);
    let location: Vec<&[u8]> = r.options.get_all(OptionNumber::LOCATION_PATH).collect();
    assert_eq!(location, [b"3303".as_slice(), b"1".as_slice()], "the lowest free id");
    let (peer, token, _update) = next_request(&mut sim, server);
    support::answer(&mut sim, server, &peer, token, Response::new(Code::CHANGED));
    assert_eq!(ask(&mut sim, server, client, get("/3303/1/5750", None)).payload, b"P");
    assert_eq!(ask(&mut sim, server, client, get("/3303/65535", None)).code, Code::NOT_FOUND);
    assert_eq!(ask(&mut sim, server, client, Request::delete("/3303/1")).code, Code::DELETED);
    let (peer, token, _update) = next_request(&mut sim, server);
    support::answer(&mut sim, server, &peer, token, Response::new(Code::CHANGED));

    // Create with the ID left to the client (TLV without instance wrapper): Location-Path.
    let tlv = lwm2m::format::encode(
        ContentFormat::TLV,
        &[Record::new(PrefixedPath::plain(Path::Resource(3303, 1, 5750)), Value::String("F".into()))],
        &PrefixedPath::plain(Path::Instance(3303, 1)),
        &Registry::bundled(),
    )
    .expect("encodes");
    let r = ask(&mut sim, server, client, Request::post("/3303").with_payload(ContentFormat::TLV, tlv));
    assert_eq!(r.code, Code::CREATED);
    let location: Vec<&[u8]> = r.options.get_all(OptionNumber::LOCATION_PATH).collect();
    assert_eq!(location, [b"3303".as_slice(), b"1".as_slice()]);

    assert_eq!(ask(&mut sim, server, client, Request::delete("/3303/5")).code, Code::DELETED);
    assert_eq!(ask(&mut sim, server, client, get("/3303/5", None)).code, Code::NOT_FOUND);
    assert_eq!(ask(&mut sim, server, client, Request::delete("/3303/5")).code, Code::NOT_FOUND);
    assert_eq!(ask(&mut sim, server, client, Request::delete("/3/0")).code, Code::METHOD_NOT_ALLOWED);
    assert_eq!(ask(&mut sim, server, client, Request::delete("/3303")).code, Code::METHOD_NOT_ALLOWED);
    assert_eq!(ask(&mut sim, server, client, Request::post("/9")).code, Code::NOT_FOUND);
    let incomplete = br#"[{"n":"/1/3/1","v":60}]"#;
    let create = Request::post("/1").with_payload(ContentFormat::SENML_JSON, incomplete.to_vec());
    assert_eq!(ask(&mut sim, server, client, create).code, Code::BAD_REQUEST, "binding (/1/x/7) is mandatory");
}

#[test]
fn write_attributes_show_in_discover() {
    let (mut sim, client, server) = registered(13, 300, "U");
    let wa = Request::put("/3303/0/5700").with_query("pmin=10").with_query("gt=50").with_query("lt=42.2");
    assert_eq!(ask(&mut sim, server, client, wa).code, Code::CHANGED);
    let bad = Request::put("/3303/0/5700").with_query("lt=40").with_query("gt=50").with_query("st=6");
    assert_eq!(ask(&mut sim, server, client, bad).code, Code::BAD_REQUEST, "lt + 2·st must stay below gt");
    let unknown = Request::put("/3303/0/5700").with_query("foo=1");
    assert_eq!(ask(&mut sim, server, client, unknown).code, Code::BAD_REQUEST);
    let wa = Request::put("/3").with_query("pmax=60");
    assert_eq!(ask(&mut sim, server, client, wa).code, Code::CHANGED);

    let r = ask(&mut sim, server, client, get("/3303/0", Some(ContentFormat::LINK_FORMAT)));
    assert_eq!(r.code, Code::CONTENT);
    assert_eq!(
        String::from_utf8(r.payload).expect("utf-8"),
        "</3303/0>,</3303/0/5700>;pmin=10;gt=50;lt=42.2,</3303/0/5701>"
    );
    let r = ask(&mut sim, server, client, get("/3", Some(ContentFormat::LINK_FORMAT)));
    let links = String::from_utf8(r.payload).expect("utf-8");
    assert!(links.starts_with("</3>;ver=1.2;pmax=60,</3/0>,</3/0/0>,"), "{links}");
    assert!(links.contains("</3/0/11>;dim=1"), "{links}");
    assert!(links.contains("</3/0/3>,</3/0/4>,</3/0/5>,</3/0/11>"), "executables are listed in order: {links}");
    assert_eq!(
        ask(&mut sim, server, client, get("/3/0/11/0", Some(ContentFormat::LINK_FORMAT))).code,
        Code::METHOD_NOT_ALLOWED
    );
}

#[test]
fn discover_lists_executable_resources_of_an_instance() {
    let (mut sim, client, server) = registered(19, 300, "U");
    let r = ask(&mut sim, server, client, get("/3/0", Some(ContentFormat::LINK_FORMAT)));
    assert_eq!(r.code, Code::CONTENT);
    let links = String::from_utf8(r.payload).expect("utf-8");
    assert!(links.contains("</3/0/4>,</3/0/5>"), "Reboot and Factory Reset: {links}");
    let r = ask(&mut sim, server, client, get("/1/0", Some(ContentFormat::LINK_FORMAT)));
    let links = String::from_utf8(r.payload).expect("utf-8");
    assert!(links.contains("</1/0/4>") && links.contains("</1/0/8>") && links.contains("</1/0/9>"), "{links}");
    let r = ask(&mut sim, server, client, get("/3/0/4", Some(ContentFormat::LINK_FORMAT)));
    assert_eq!(r.code, Code::CONTENT);
    assert_eq!(String::from_utf8(r.payload).expect("utf-8"), "</3/0/4>");
    let r = ask(&mut sim, server, client, get("/3/0/12", Some(ContentFormat::LINK_FORMAT)));
    assert_eq!(r.code, Code::NOT_FOUND, "Reset Error Code is not implemented");
    assert_eq!(ask(&mut sim, server, client, get("/3/0/4", None)).code, Code::METHOD_NOT_ALLOWED, "still not readable");
}

#[test]
fn read_and_write_composite() {
    let (mut sim, client, server) = registered(14, 300, "U");
    let names = senml::encode_paths(
        ContentFormat::SENML_JSON,
        &[PrefixedPath::plain(Path::Resource(3, 0, 0)), PrefixedPath::plain(Path::Instance(3303, 0))],
    )
    .expect("encodes");
    let fetch = Request::new(Code::FETCH, "/")
        .with_payload(ContentFormat::SENML_JSON, names)
        .with_option(OptionNumber::ACCEPT, coap::msg::encode_uint(112));
    let r = ask(&mut sim, server, client, fetch);
    assert_eq!((r.code, r.options.content_format()), (Code::CONTENT, Some(ContentFormat::SENML_CBOR)));
    let records = decode(&r, Path::Root);
    let paths: Vec<Path> = records.iter().map(|r| r.path.path).collect();
    assert_eq!(paths, [Path::Resource(3, 0, 0), Path::Resource(3303, 0, 5700), Path::Resource(3303, 0, 5701)]);

    let bad = Request::new(Code::FETCH, "/").with_payload(ContentFormat::TEXT, b"x".to_vec());
    assert_eq!(ask(&mut sim, server, client, bad).code, Code::UNSUPPORTED_CONTENT_FORMAT);

    let body = br#"[{"n":"/3303/0/5750","vs":"K"},{"n":"/1/0/3","v":120}]"#;
    let patch = Request::new(Code::IPATCH, "/").with_payload(ContentFormat::SENML_JSON, body.to_vec());
    assert_eq!(ask(&mut sim, server, client, patch).code, Code::CHANGED);
    assert_eq!(ask(&mut sim, server, client, get("/3303/0/5750", None)).payload, b"K");
    assert_eq!(ask(&mut sim, server, client, get("/1/0/3", None)).payload, b"120");
    let body = br#"[{"n":"/3303/0/5750","vs":"L"},{"n":"/3/0/0","vs":"x"}]"#;
    let patch = Request::new(Code::IPATCH, "/").with_payload(ContentFormat::SENML_JSON, body.to_vec());
    assert_eq!(ask(&mut sim, server, client, patch).code, Code::METHOD_NOT_ALLOWED);
    assert_eq!(ask(&mut sim, server, client, get("/3303/0/5750", None)).payload, b"K", "all or nothing");
}
