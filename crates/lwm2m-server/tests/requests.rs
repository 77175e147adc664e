//! The CoAP form of every DM and Information Reporting request (spec notes §2.3, §2.4, §3.2,
//! pitfall 1), checked on what reaches the client, and the typed answers.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use coap::{Code, ContentFormat, Endpoint, Event, Message, OptionNumber, Request, Response};
use lwm2m::format::{self, senml, Record};
use lwm2m::{AttributeChange, AttributeChanges, ExecuteArguments, PrefixedPath, Registry, Value};
use lwm2m_server::{Content, DmRequest, RequestFailure, RequestOptions, ServerEvent, WriteMode};
use sim::{Node, Verdict};
use support::{ep, options, uri_path, World};

const V1_1: [&str; 3] = ["ep=dev1", "lt=3000", "lwm2m=1.1"];
const V1_0: [&str; 2] = ["ep=dev1", "lt=3000"];

fn path(p: &str) -> PrefixedPath {
    p.parse().unwrap()
}

fn world(seed: u64, query: &[&str], links: &str) -> (World, Node<Endpoint>) {
    let mut w = World::new(seed);
    let c = w.client();
    w.registered(c, query, links);
    w.events();
    (w, c)
}

/// Sends `request`, lets the client see it, answers with `answer`; returns what the client got
/// and the server's event.
fn roundtrip(
    w: &mut World,
    c: Node<Endpoint>,
    request: DmRequest,
    answer: impl FnOnce(&Request) -> Response,
) -> (Request, ServerEvent) {
    let now = w.now();
    let id = w.server().send(now, &ep("dev1"), request, RequestOptions::default()).expect("sent");
    let (peer, token, got, _) = w.next_request(c, Duration::from_secs(5));
    let response = answer(&got);
    w.answer(c, &peer, token, response);
    let event = w.next_event(Duration::from_secs(5));
    assert!(matches!(event, ServerEvent::Response { id: got_id, .. } if got_id == id));
    (got, event)
}

fn content(event: ServerEvent) -> (Code, Content) {
    match event {
        ServerEvent::Response { result: Ok(response), .. } => (response.code, response.content),
        other => panic!("expected a successful response, got {other:?}"),
    }
}

fn device_records() -> Vec<Record> {
    vec![Record::new(path("/3/0/0"), Value::String("Acme".into())), Record::new(path("/3/0/9"), Value::Integer(90))]
}

#[test]
fn read_goes_out_byte_exact_with_accept_senml_cbor_for_a_1_1_client() {
    let (mut w, c) = world(21, &V1_1, "</3/0>");
    let raw: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let sink = raw.clone();
    let (server, client) = (w.server.id(), c.id());
    w.sim.link(server, client).intercept(move |bytes| {
        sink.borrow_mut().push(bytes.to_vec());
        Verdict::Pass
    });
    let answer =
        format::encode(ContentFormat::SENML_CBOR, &device_records(), &path("/3/0"), Registry::bundled_ref()).unwrap();
    let (_, event) = roundtrip(&mut w, c, DmRequest::Read { path: path("/3/0"), format: None }, |_| {
        Response::content(ContentFormat::SENML_CBOR, answer.clone())
    });
    assert_eq!(content(event), (Code::CONTENT, Content::Records(device_records())));
    let bytes = raw.borrow()[0].clone();
    let msg = Message::decode(&bytes).unwrap();
    let mut expected = vec![0x40 | msg.token.len() as u8, 0x01];
    expected.extend_from_slice(&msg.message_id.0.to_be_bytes());
    expected.extend_from_slice(msg.token.as_bytes());
    expected.extend_from_slice(&[0xB1, b'3', 0x01, b'0', 0x61, 112]);
    assert_eq!(bytes, expected, "CON GET Uri-Path 3/0 Accept 112, nothing else");
}

#[test]
fn a_1_0_client_gets_tlv_and_its_tlv_answer_is_decoded() {
    let (mut w, c) = world(22, &V1_0, "</3/0>");
    let answer = format::encode(ContentFormat::TLV, &device_records(), &path("/3/0"), Registry::bundled_ref()).unwrap();
    let (got, event) = roundtrip(&mut w, c, DmRequest::Read { path: path("/3/0"), format: None }, |_| {
        Response::content(ContentFormat::TLV, answer.clone())
    });
    let mut want = uri_path("/3/0");
    want.push((17, vec![0x2D, 0x16]));
    assert_eq!(options(&got), want);
    assert_eq!(content(event), (Code::CONTENT, Content::Records(device_records())));
}

#[test]
fn a_1_0_single_resource_read_names_no_format_and_a_bare_text_answer_is_decoded() {
    let (mut w, c) = world(90, &V1_0, "</3303/0>");
    let (got, event) = roundtrip(&mut w, c, DmRequest::Read { path: path("/3303/0/5700"), format: None }, |_| {
        // lwm2m-node-lib answers with the bare value and no Content-Format.
        Response::new(Code::CONTENT).with_body("21.5")
    });
    assert_eq!(options(&got), uri_path("/3303/0/5700"), "no Accept");
    let want = vec![Record::new(path("/3303/0/5700"), Value::Float(21.5))];
    assert_eq!(content(event), (Code::CONTENT, Content::Records(want)));
}

#[test]
fn a_1_0_single_resource_read_with_a_format_asks_for_it() {
    let (mut w, c) = world(91, &V1_0, "</3/0>");
    let (got, _) =
        roundtrip(&mut w, c, DmRequest::Read { path: path("/3/0/0"), format: Some(ContentFormat::TEXT) }, |_| {
            Response::content(ContentFormat::TEXT, "Acme")
        });
    assert_eq!(got.options.accept(), Some(ContentFormat::TEXT));
}

#[test]
fn a_per_request_format_overrides_the_negotiated_one() {
    let (mut w, c) = world(23, &V1_1, "</3/0>");
    let now = w.now();
    let options_ = RequestOptions { format: Some(ContentFormat::SENML_JSON), timeout: None };
    w.server().send(now, &ep("dev1"), DmRequest::Read { path: path("/3/0"), format: None }, options_).unwrap();
    let (_, _, got, _) = w.next_request(c, Duration::from_secs(5));
    assert_eq!(got.options.accept(), Some(ContentFormat::SENML_JSON));
}

#[test]
fn discover_asks_link_format_and_returns_links() {
    let (mut w, c) = world(24, &V1_1, "</3/0>");
    let (got, event) = roundtrip(&mut w, c, DmRequest::Discover { path: path("/3/0"), depth: None }, |_| {
        Response::content(ContentFormat::LINK_FORMAT, "</3/0>,</3/0/0>,</3/0/9>;pmax=60")
    });
    assert_eq!(got.method, Code::GET);
    let mut want = uri_path("/3/0");
    want.push((17, vec![40]));
    assert_eq!(options(&got), want);
    let (code, Content::Links(links)) = content(event) else { panic!("links expected") };
    assert_eq!(code, Code::CONTENT);
    assert_eq!(links.len(), 3);
    assert_eq!(links[2].value("pmax"), Some("60"));
}

#[test]
fn write_replace_is_a_put_and_partial_update_a_post_with_the_encoded_records() {
    let (mut w, c) = world(25, &V1_1, "</3/0>");
    let records = vec![Record::new(path("/3/0/14"), Value::String("+02".into()))];
    let write =
        DmRequest::Write { path: path("/3/0/14"), mode: WriteMode::Replace, records: records.clone(), format: None };
    let (got, event) = roundtrip(&mut w, c, write, |_| Response::new(Code::CHANGED));
    assert_eq!(got.method, Code::PUT);
    let mut want = uri_path("/3/0/14");
    want.push((12, vec![112]));
    assert_eq!(options(&got), want);
    let body = format::encode(ContentFormat::SENML_CBOR, &records, &path("/3/0/14"), Registry::bundled_ref()).unwrap();
    assert_eq!(got.payload, body);
    assert_eq!(content(event), (Code::CHANGED, Content::Empty));

    let partial = DmRequest::Write { path: path("/3/0"), mode: WriteMode::PartialUpdate, records, format: None };
    let (got, _) = roundtrip(&mut w, c, partial, |_| Response::new(Code::CHANGED));
    assert_eq!(got.method, Code::POST);
    assert_eq!(got.path(), "/3/0");
}

#[test]
fn write_attributes_is_a_put_with_query_and_no_payload() {
    let (mut w, c) = world(26, &V1_1, "</3/0>");
    let attributes = AttributeChanges {
        pmin: Some(AttributeChange::Set(10)),
        pmax: Some(AttributeChange::Set(60)),
        ..AttributeChanges::default()
    };
    let request = DmRequest::WriteAttributes { path: path("/3/0/9"), attributes };
    let (got, _) = roundtrip(&mut w, c, request, |_| Response::new(Code::CHANGED));
    assert_eq!(got.method, Code::PUT);
    let mut want = uri_path("/3/0/9");
    want.push((15, b"pmin=10".to_vec()));
    want.push((15, b"pmax=60".to_vec()));
    assert_eq!(options(&got), want);
    assert!(got.payload.is_empty());
}

#[test]
fn execute_is_a_post_with_text_arguments_when_there_are_some() {
    let (mut w, c) = world(27, &V1_1, "</3/0>");
    let request = DmRequest::Execute { path: path("/3/0/4"), args: ExecuteArguments::new() };
    let (got, event) = roundtrip(&mut w, c, request, |_| Response::new(Code::CHANGED));
    assert_eq!((got.method, options(&got), got.payload.len()), (Code::POST, uri_path("/3/0/4"), 0));
    assert_eq!(content(event).0, Code::CHANGED);

    let mut args = ExecuteArguments::new();
    args.push(0, None).unwrap();
    args.push(1, Some("x".into())).unwrap();
    let request = DmRequest::Execute { path: path("/3/0/4"), args };
    let (got, _) = roundtrip(&mut w, c, request, |_| Response::new(Code::CHANGED));
    let mut want = uri_path("/3/0/4");
    want.push((12, vec![]));
    assert_eq!(options(&got), want, "content-format 0 is an empty option value");
    assert_eq!(got.payload, b"0,1='x'");
}

#[test]
fn create_posts_the_instance_and_returns_the_location_path() {
    let (mut w, c) = world(28, &V1_0, "</3303>");
    let records = vec![Record::new(path("/3303/1/5700"), Value::Float(21.5))];
    let request = DmRequest::Create { path: path("/3303"), instance: Some(1), records: records.clone(), format: None };
    let (got, event) = roundtrip(&mut w, c, request, |_| Response::new(Code::CREATED));
    assert_eq!(got.method, Code::POST);
    let mut want = uri_path("/3303");
    want.push((12, vec![0x2D, 0x16]));
    assert_eq!(options(&got), want);
    let decoded = format::decode(ContentFormat::TLV, &got.payload, &path("/3303"), Registry::bundled_ref()).unwrap();
    assert_eq!(decoded, records, "an object instance tlv around the resources");
    assert_eq!(content(event), (Code::CREATED, Content::Empty));

    let request = DmRequest::Create { path: path("/3303"), instance: None, records, format: None };
    let (_, event) = roundtrip(&mut w, c, request, |_| {
        Response::new(Code::CREATED)
            .with_option(OptionNumber::LOCATION_PATH, "3303")
            .with_option(OptionNumber::LOCATION_PATH, "7")
    });
    assert_eq!(content(event), (Code::CREATED, Content::Location("/3303/7".into())));
}

#[test]
fn delete_is_a_delete_and_a_client_refusal_is_a_response_with_its_code() {
    let (mut w, c) = world(29, &V1_1, "</3303/1>");
    let (got, event) =
        roundtrip(&mut w, c, DmRequest::Delete { path: path("/3303/1") }, |_| Response::new(Code::NOT_FOUND));
    assert_eq!((got.method, options(&got)), (Code::DELETE, uri_path("/3303/1")));
    assert_eq!(content_any(event), (Code::NOT_FOUND, Content::Empty));
}

fn content_any(event: ServerEvent) -> (Code, Content) {
    match event {
        ServerEvent::Response { result: Ok(response), .. } => (response.code, response.content),
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn composite_read_is_a_fetch_on_root_and_composite_write_an_ipatch() {
    let (mut w, c) = world(30, &V1_1, "</3/0>");
    let paths = vec![path("/3/0/0"), path("/3/0/9")];
    let answer =
        format::encode(ContentFormat::SENML_CBOR, &device_records(), &path("/"), Registry::bundled_ref()).unwrap();
    let request = DmRequest::ReadComposite { paths: paths.clone(), format: None };
    let (got, event) = roundtrip(&mut w, c, request, |_| Response::content(ContentFormat::SENML_CBOR, answer.clone()));
    assert_eq!(got.method, Code::FETCH);
    assert_eq!(options(&got), vec![(12, vec![112]), (17, vec![112])]);
    assert_eq!(got.payload, senml::encode_paths(ContentFormat::SENML_CBOR, &paths).unwrap());
    assert_eq!(content(event), (Code::CONTENT, Content::Records(device_records())));

    let request = DmRequest::WriteComposite { records: device_records(), format: None };
    let (got, _) = roundtrip(&mut w, c, request, |_| Response::new(Code::CHANGED));
    assert_eq!(got.method, Code::IPATCH);
    assert_eq!(options(&got), vec![(12, vec![112])]);
    let body =
        format::encode(ContentFormat::SENML_CBOR, &device_records(), &path("/"), Registry::bundled_ref()).unwrap();
    assert_eq!(got.payload, body);
}

#[test]
fn composite_requests_to_a_1_0_client_are_refused_before_sending() {
    let (mut w, _) = world(31, &V1_0, "</3/0>");
    let now = w.now();
    let request = DmRequest::ReadComposite { paths: vec![path("/3/0/0")], format: None };
    assert!(w.server().send(now, &ep("dev1"), request, RequestOptions::default()).is_err());
}

#[test]
fn observe_notifies_and_an_active_cancel_sends_observe_1_with_the_same_token() {
    let (mut w, c) = world(32, &V1_1, "</3/0>");
    let now = w.now();
    let observe = DmRequest::Observe { path: path("/3/0/9"), format: Some(ContentFormat::TEXT) };
    w.server().send(now, &ep("dev1"), observe, RequestOptions::default()).unwrap();
    let (peer, token, got, is_observe) = w.next_request(c, Duration::from_secs(5));
    assert!(is_observe);
    let mut want = vec![(6, vec![])];
    want.extend(uri_path("/3/0/9"));
    want.push((17, vec![]));
    assert_eq!(options(&got), want, "Observe 0 and Accept 0 are empty option values");
    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "90"));
    let ServerEvent::Response { result: Ok(first), .. } = w.next_event(Duration::from_secs(5)) else { panic!() };
    let observation = first.observation.expect("established");
    assert_eq!(first.content, Content::Records(vec![Record::new(path("/3/0/9"), Value::Integer(90))]));

    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "80"));
    match w.next_event(Duration::from_secs(5)) {
        ServerEvent::Notification { endpoint, observation: o, paths, records } => {
            assert_eq!((endpoint, o, paths), (ep("dev1"), observation, vec![path("/3/0/9")]));
            assert_eq!(records, vec![Record::new(path("/3/0/9"), Value::Integer(80))]);
        }
        other => panic!("{other:?}"),
    }

    let now = w.now();
    let cancel = DmRequest::CancelObservation { observation };
    let cancel_id = w.server().send(now, &ep("dev1"), cancel, RequestOptions::default()).unwrap();
    assert_eq!(w.server().observations().count(), 0);
    w.sim.run_until(|s| s[c].has_event(), Duration::from_secs(5));
    let events: Vec<Event> = std::iter::from_fn(|| w.sim[c].poll_event()).collect();
    assert!(matches!(events.first(), Some(Event::ObservationCancelled { token: t, .. }) if *t == token));
    let Some(Event::Request { peer, token: t, request, .. }) = events.get(1) else { panic!("{events:?}") };
    assert_eq!((*t, request.method, request.path()), (token, Code::GET, "/3/0/9".to_owned()));
    assert_eq!(request.options.observe(), Some(1));
    w.answer(c, peer, token, Response::content(ContentFormat::TEXT, "70"));
    let event = w.next_event(Duration::from_secs(5));
    assert!(
        matches!(event, ServerEvent::Response { id, result: Ok(ref r), .. } if id == cancel_id && r.code == Code::CONTENT)
    );
}

#[test]
fn a_passive_cancel_forgets_and_the_next_notification_gets_rst() {
    let (mut w, c) = world(33, &V1_1, "</3/0>");
    let now = w.now();
    let observe = DmRequest::Observe { path: path("/3/0/9"), format: Some(ContentFormat::TEXT) };
    w.server().send(now, &ep("dev1"), observe, RequestOptions::default()).unwrap();
    let (peer, token, _, _) = w.next_request(c, Duration::from_secs(5));
    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "90"));
    let ServerEvent::Response { result: Ok(first), .. } = w.next_event(Duration::from_secs(5)) else { panic!() };
    assert!(w.server().forget_observation(first.observation.unwrap()));
    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "80"));
    w.sim.run_until(|s| s[c].has_event(), Duration::from_secs(300));
    assert!(matches!(w.sim[c].poll_event(), Some(Event::ObservationCancelled { .. })));
    assert!(w.events().is_empty());
}

#[test]
fn a_request_without_answer_fails_at_its_timeout() {
    let (mut w, c) = world(34, &V1_1, "</3/0>");
    let now = w.now();
    let options_ = RequestOptions { format: None, timeout: Some(Duration::from_secs(10)) };
    let id = w.server().send(now, &ep("dev1"), DmRequest::Read { path: path("/3/0"), format: None }, options_).unwrap();
    let _ = w.next_request(c, Duration::from_secs(5));
    let event = w.next_event(Duration::from_secs(60));
    assert_eq!(event, ServerEvent::Response { id, endpoint: ep("dev1"), result: Err(RequestFailure::Timeout) });
    assert_eq!(w.now() - now, Duration::from_secs(10));
}

#[test]
fn requests_to_a_client_with_an_alternate_path_go_below_it() {
    let (mut w, c) = world(35, &V1_1, "</lwm2m>;rt=\"oma.lwm2m\",</lwm2m/3/0>");
    let now = w.now();
    w.server()
        .send(now, &ep("dev1"), DmRequest::Read { path: path("/3/0/0"), format: None }, RequestOptions::default())
        .unwrap();
    let (_, _, got, _) = w.next_request(c, Duration::from_secs(5));
    assert_eq!(got.path(), "/lwm2m/3/0/0");
}

#[test]
fn send_is_answered_2_04_and_reported_and_refused_when_unregistered_or_undecodable() {
    let (mut w, c) = world(36, &V1_1, "</3/0>");
    let body =
        format::encode(ContentFormat::SENML_JSON, &device_records(), &path("/"), Registry::bundled_ref()).unwrap();
    let send = Request::post("/dp").with_payload(ContentFormat::SENML_JSON, body.clone());
    assert_eq!(w.request(c, send).code, Code::CHANGED);
    assert_eq!(w.events(), vec![ServerEvent::Send { endpoint: ep("dev1"), records: device_records() }]);
    let garbage = Request::post("/dp").with_payload(ContentFormat::SENML_JSON, "[{\"n\":");
    assert_eq!(w.request(c, garbage).code, Code::BAD_REQUEST);
    let tlv = Request::post("/dp").with_payload(ContentFormat::TLV, vec![0xC1, 0x00, 0x01]);
    assert_eq!(w.request(c, tlv).code, Code::BAD_REQUEST);
    let stranger = w.client();
    let send = Request::post("/dp").with_payload(ContentFormat::SENML_JSON, body);
    assert_eq!(w.request(stranger, send).code, Code::NOT_FOUND);
    assert!(w.events().is_empty());
}

#[test]
fn an_absurd_timeout_does_not_overflow_the_clock() {
    let (mut w, c) = world(37, &V1_1, "</3/0>");
    let now = w.now();
    let options_ = RequestOptions { format: None, timeout: Some(Duration::MAX) };
    w.server().send(now, &ep("dev1"), DmRequest::Read { path: path("/3/0"), format: None }, options_).unwrap();
    let (peer, token, _, _) = w.next_request(c, Duration::from_secs(5));
    w.answer(c, &peer, token, Response::new(Code::NOT_FOUND));
    assert!(matches!(w.next_event(Duration::from_secs(5)), ServerEvent::Response { result: Ok(_), .. }));
}
