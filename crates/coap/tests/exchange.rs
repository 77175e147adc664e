//! Message-layer scenarios in simulated time (RFC 7252 §4, §5): retransmission, deduplication,
//! piggybacked and separate responses, ping, RST, NSTART, malformed input and bounded tables.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use coap::{
    Code, DropReason, Endpoint, EndpointConfig, Event, ExchangeError, Message, MessageId, MessageType, OptionNumber,
    Options, Reliability, Request, Response, SendError, Token,
};
use sim::{Sim, Verdict};
use support::{config, drain, exchange, next_event, pair, serve, Recorder};

fn content(request: &Request) -> Response {
    Response::content(coap::ContentFormat(0), request.path().into_bytes())
}

#[test]
fn piggybacked_response_reaches_the_client_with_its_token() {
    let (mut sim, a, b) = pair(1, config(), config());
    let (token, event) = exchange(&mut sim, a, b, Request::get("/3/0/0"), content);
    let Event::Response { token: got, response } = event else { panic!("expected a response, got {event:?}") };
    assert_eq!(got, token);
    assert_eq!(response.code, Code::CONTENT);
    assert!(token.len() >= 4);
    assert_eq!(sim[a].stats().retransmissions, 0);
    // One CON and one ACK, nothing else.
    assert_eq!(sim.net_stats().sent, 2);
}

#[test]
fn con_is_retransmitted_four_times_with_exponential_backoff_then_fails() {
    let mut sim = Sim::new(3);
    let a = sim.add_with(|s| Endpoint::new(config(), s));
    let hole = sim.add(Recorder::default());
    let (start, to) = (sim.now(), sim.peer(hole));
    let token = sim[a].send_request(start, to, Request::get("/1/0"), Reliability::Confirmable).expect("accepted");
    let event = next_event(&mut sim, a, Duration::from_secs(200));
    assert_eq!(event, Event::Failed { token, error: ExchangeError::Timeout });

    let received = &sim[hole].received;
    assert_eq!(received.len(), 5, "the original and four retransmissions");
    assert!(received.iter().all(|(_, _, bytes)| *bytes == received[0].2), "retransmissions are identical");
    let gaps: Vec<Duration> = received.windows(2).map(|w| w[1].0 - w[0].0).collect();
    for (k, gap) in gaps.iter().enumerate() {
        let scale = 1u32 << k;
        assert!(
            *gap >= Duration::from_secs(2) * scale && *gap <= Duration::from_secs(3) * scale,
            "gap {k} is {gap:?}, outside [2, 3]·2^{k} s"
        );
        let doubled = gaps[0] * scale;
        assert!(gap.abs_diff(doubled) < Duration::from_millis(1), "gap {k} is {gap:?}, not 2^{k} × {:?}", gaps[0]);
    }
    // Given up MAX_TRANSMIT_WAIT after the first transmission: 31 × the initial timeout.
    let failed_after = sim.now() - start;
    assert!(failed_after.abs_diff(gaps[0] * 31) < Duration::from_millis(50), "failed after {failed_after:?}");
    assert_eq!(sim[a].stats().retransmissions, 4);
    assert_eq!(sim[a].stats().transmissions_failed, 1);
    assert_eq!(sim[a].table_sizes().client_exchanges, 0);
}

#[test]
fn con_request_survives_two_lost_copies() {
    let (mut sim, a, b) = pair(7, config(), config());
    sim.link(a, b).drop_next(2);
    let (token, event) = exchange(&mut sim, a, b, Request::get("/3/0/0"), content);
    assert!(matches!(event, Event::Response { token: t, .. } if t == token));
    assert_eq!(sim[a].stats().retransmissions, 2);
}

#[test]
fn duplicate_con_gets_the_cached_ack_without_a_second_request_event() {
    let (mut sim, a, b) = pair(2, config(), config());
    let captured: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let sink = captured.clone();
    sim.link(a, b).intercept(move |bytes| {
        sink.borrow_mut().push(bytes.to_vec());
        Verdict::Pass
    });
    let (_, event) =
        exchange(&mut sim, a, b, Request::put("/1/0/1").with_payload(coap::ContentFormat(0), "60"), |_| {
            Response::new(Code::CHANGED)
        });
    assert!(matches!(event, Event::Response { ref response, .. } if response.code == Code::CHANGED));
    let request = captured.borrow()[0].clone();

    let (from, answers_before) = (sim.addr(a), sim.net_stats().sent);
    sim.inject(from, b, request);
    sim.run_for(Duration::from_secs(5), |_| {});
    assert!(drain(&mut sim, b).is_empty(), "the duplicate must not reach the application");
    assert_eq!(sim[b].stats().dropped(DropReason::Duplicate), 1);
    assert_eq!(sim.net_stats().sent, answers_before + 1, "the cached ACK is sent again");
    // The client no longer waits for it: a stray ACK, counted.
    assert_eq!(sim[a].stats().dropped(DropReason::UnmatchedAcknowledgement), 1);
}

#[test]
fn slow_answer_goes_as_a_separate_con_response_after_an_empty_ack() {
    let (mut sim, a, b) = pair(4, config(), config());
    let (now, to) = (sim.now(), sim.peer(b));
    let token = sim[a].send_request(now, to, Request::get("/3/0/1"), Reliability::Confirmable).expect("accepted");
    let Event::Request { peer, token: server_token, .. } = next_event(&mut sim, b, Duration::from_secs(1)) else {
        panic!("expected the request")
    };
    // The application takes 10 s; the endpoint acknowledges after `separate_response_delay`.
    sim.run_for(Duration::from_secs(10), |_| {});
    assert_eq!(sim[a].stats().retransmissions, 0, "the empty ACK stopped the retransmissions");
    assert!(!sim[a].has_event());
    let now = sim.now();
    sim[b].send_response(now, &peer, server_token, Response::new(Code::CONTENT)).expect("awaits an answer");
    let event = next_event(&mut sim, a, Duration::from_secs(5));
    assert!(matches!(event, Event::Response { token: t, .. } if t == token));
    sim.run_for(Duration::from_secs(60), |_| {});
    assert_eq!(sim[b].stats().retransmissions, 0, "the client acknowledged the separate response");
    assert_eq!(sim[b].table_sizes().unacknowledged, 0);
}

#[test]
fn non_request_gets_a_non_response() {
    let (mut sim, a, b) = pair(5, config(), config());
    let kinds: Rc<RefCell<Vec<MessageType>>> = Rc::default();
    let sink = kinds.clone();
    sim.link(b, a).intercept(move |bytes| {
        sink.borrow_mut().push(Message::decode(bytes).expect("valid").mtype);
        Verdict::Pass
    });
    let (now, to) = (sim.now(), sim.peer(b));
    let token = sim[a].send_request(now, to, Request::get("/3/0/2"), Reliability::NonConfirmable).expect("accepted");
    sim.run_until(
        |s| {
            serve(s, b, content);
            s[a].has_event()
        },
        Duration::from_secs(5),
    );
    assert!(matches!(sim[a].poll_event(), Some(Event::Response { token: t, .. }) if t == token));
    assert_eq!(*kinds.borrow(), vec![MessageType::NonConfirmable]);
}

#[test]
fn ping_is_answered_with_reset_and_reported_as_pong() {
    let (mut sim, a, b) = pair(6, config(), config());
    let (now, to) = (sim.now(), sim.peer(b));
    let token = sim[a].ping(now, to).expect("accepted");
    assert_eq!(next_event(&mut sim, a, Duration::from_secs(5)), Event::Pong { token });
    assert!(drain(&mut sim, b).is_empty());
}

#[test]
fn request_with_unknown_critical_option_gets_4_02() {
    let (mut sim, a, b) = pair(8, config(), config());
    let request = Request::get("/3/0").with_option(OptionNumber(65001), b"x".to_vec());
    let (now, to) = (sim.now(), sim.peer(b));
    sim[a].send_request(now, to, request, Reliability::Confirmable).expect("accepted");
    let event = next_event(&mut sim, a, Duration::from_secs(5));
    assert!(matches!(event, Event::Response { ref response, .. } if response.code == Code::BAD_OPTION));
    assert!(drain(&mut sim, b).is_empty());
    assert_eq!(sim[b].stats().requests_rejected, 1);
}

#[test]
fn malformed_con_is_reset_and_counted() {
    let mut sim = Sim::new(9);
    let b = sim.add_with(|s| Endpoint::new(config(), s));
    let probe = sim.add(Recorder::default());
    let from = sim.addr(probe);
    // CON, TKL 0, GET, MID 0x0102, then option delta 15 (reserved) without the payload marker.
    sim.inject(from, b, vec![0x40, 0x01, 0x01, 0x02, 0xf0]);
    // Too short to have a header: ignored silently.
    sim.inject(from, b, vec![0x40, 0x01]);
    sim.run_for(Duration::from_secs(1), |_| {});
    assert_eq!(sim[b].stats().dropped(DropReason::Malformed), 2);
    let replies: Vec<Message> =
        sim[probe].received.iter().map(|(_, _, d)| Message::decode(d).expect("valid")).collect();
    assert_eq!(replies, vec![Message::reset(MessageId(0x0102))]);
}

#[test]
fn con_response_with_unknown_token_is_reset() {
    let mut sim = Sim::new(10);
    let a = sim.add_with(|s| Endpoint::new(config(), s));
    let probe = sim.add(Recorder::default());
    let from = sim.addr(probe);
    let stray =
        Message::new(MessageType::Confirmable, Code::CONTENT, MessageId(77), Token::new(&[9; 4]).expect("4 bytes"));
    let mut bytes = Vec::new();
    stray.encode(&mut bytes);
    sim.inject(from, a, bytes);
    sim.run_for(Duration::from_secs(1), |_| {});
    assert_eq!(sim[a].stats().dropped(DropReason::UnknownToken), 1);
    let replies: Vec<Message> =
        sim[probe].received.iter().map(|(_, _, d)| Message::decode(d).expect("valid")).collect();
    assert_eq!(replies, vec![Message::reset(MessageId(77))]);
}

#[test]
fn nstart_queues_requests_and_sends_them_one_at_a_time() {
    let client = Arc::new(EndpointConfig { max_queued_requests: 3, ..EndpointConfig::default() });
    let (mut sim, a, b) = pair(11, client, config());
    let (now, to) = (sim.now(), sim.peer(b));
    let tokens: Vec<Token> = (0..4)
        .map(|i| {
            sim[a]
                .send_request(now, to.clone(), Request::get(&format!("/3/0/{i}")), Reliability::Confirmable)
                .expect("queued")
        })
        .collect();
    assert_eq!(sim[a].table_sizes().queued_requests, 3);
    assert_eq!(
        sim[a].send_request(now, to, Request::get("/3/0/9"), Reliability::Confirmable),
        Err(SendError::QueueFull { limit: 3 })
    );
    let mut answered = Vec::new();
    let mut most_at_server = 0;
    sim.run_until(
        |s| {
            // The server answers after a while, so requests would overlap without NSTART.
            most_at_server = most_at_server.max(s[b].table_sizes().server_exchanges);
            if s.elapsed() > Duration::from_millis(300) * (answered.len() as u32 + 1) {
                serve(s, b, content);
            }
            while let Some(event) = s[a].poll_event() {
                let Event::Response { token, response } = event else { panic!("unexpected {event:?}") };
                answered.push((token, response.payload));
            }
            answered.len() == 4
        },
        Duration::from_secs(60),
    );
    assert_eq!(most_at_server, 1, "NSTART = 1: never two requests at the server at once");
    let order: Vec<Token> = answered.iter().map(|(t, _)| *t).collect();
    assert_eq!(order, tokens, "queued requests go out in order");
    assert_eq!(answered[3].1, b"/3/0/3");
}

#[test]
fn a_peer_with_its_own_nstart_gets_that_many_requests_at_once() {
    let (mut sim, a, b) = pair(12, Arc::new(EndpointConfig::default()), config());
    let (now, to) = (sim.now(), sim.peer(b));
    for i in 0..6 {
        sim[a]
            .send_request(now, to.clone(), Request::get(&format!("/3/0/{i}")), Reliability::Confirmable)
            .expect("sent");
    }
    assert_eq!(sim[a].table_sizes().queued_requests, 5, "NSTART 1 by default");
    assert!(sim[a].set_nstart(&to, Some(3)));
    let mut answered = 0;
    let mut most_at_server = 0;
    sim.run_until(
        |s| {
            most_at_server = most_at_server.max(s[b].table_sizes().server_exchanges);
            if s.elapsed() > Duration::from_millis(300) * (answered + 1) {
                serve(s, b, content);
            }
            while let Some(event) = s[a].poll_event() {
                assert!(matches!(event, Event::Response { .. }), "unexpected {event:?}");
                answered += 1;
            }
            answered == 6
        },
        Duration::from_secs(60),
    );
    assert_eq!(most_at_server, 3, "three requests at the server at once, never more");
    assert!(sim[a].set_nstart(&to, None));
}

#[test]
fn dedup_cache_stays_within_its_cap_under_ten_thousand_junk_messages() {
    let server =
        Arc::new(EndpointConfig { max_dedup_entries: 500, max_server_exchanges: 50, ..EndpointConfig::default() });
    let mut sim = Sim::new(12);
    let b = sim.add_with(|s| Endpoint::new(server, s));
    let probe = sim.add(Recorder::default());
    let from = sim.addr(probe);
    let mut most = coap::TableSizes::default();
    for i in 0..10_000u16 {
        let mtype = if i % 2 == 0 { MessageType::Confirmable } else { MessageType::NonConfirmable };
        let mut msg = Message::new(mtype, Code::POST, MessageId(i), Token::new(&i.to_be_bytes()).expect("2 bytes"));
        msg.options = Options::new();
        if i % 3 == 0 {
            msg.options.push(OptionNumber(9999), vec![1]); // unknown critical: 4.02
        }
        msg.payload = vec![i as u8; 16];
        let mut bytes = Vec::new();
        msg.encode(&mut bytes);
        if i % 5 == 0 {
            bytes[0] = (bytes[0] & 0xf0) | 9; // token length 9 is reserved: malformed
        }
        sim.inject(from, b, bytes);
        if i % 100 == 99 {
            sim.run_for(Duration::from_millis(50), |_| {});
            let _ = drain(&mut sim, b);
            let sizes = sim[b].table_sizes();
            most.dedup_entries = most.dedup_entries.max(sizes.dedup_entries);
            most.server_exchanges = most.server_exchanges.max(sizes.server_exchanges);
            most.peers = most.peers.max(sizes.peers);
        }
    }
    assert!((400..=500).contains(&most.dedup_entries), "cap 500, an eighth evicted at once: {most:?}");
    assert!(most.server_exchanges <= 50);
    assert!(most.peers <= 1);
    let stats = sim[b].stats();
    assert_eq!(stats.dropped(DropReason::Malformed), 2_000);
    let held = sim[b].table_sizes().dedup_entries;
    assert_eq!(stats.dedup_evictions, 8_000 - held as u64, "every valid message is held or was evicted");
    assert!(stats.requests_rejected > 0);
    // Everything eventually expires.
    sim.run_for(Duration::from_secs(400), |s| {
        let _ = drain(s, b);
    });
    let sizes = sim[b].table_sizes();
    assert_eq!((sizes.dedup_entries, sizes.server_exchanges, sizes.deadlines), (0, 0, 0));
}

#[test]
fn reset_to_a_request_fails_it_with_reset() {
    let mut sim = Sim::new(13);
    let a = sim.add_with(|s| Endpoint::new(config(), s));
    let probe = sim.add(Recorder::default());
    let (now, to) = (sim.now(), sim.peer(probe));
    let token = sim[a].send_request(now, to, Request::get("/x"), Reliability::Confirmable).expect("accepted");
    sim.run_for(Duration::from_millis(100), |_| {});
    let request = Message::decode(&sim[probe].received[0].2).expect("valid");
    let mut bytes = Vec::new();
    Message::reset(request.message_id).encode(&mut bytes);
    let from = sim.addr(probe);
    sim.inject(from, a, bytes);
    assert_eq!(next_event(&mut sim, a, Duration::from_secs(1)), Event::Failed { token, error: ExchangeError::Reset });
}

#[test]
fn cancelled_request_reports_nothing_and_stops_retransmitting() {
    let mut sim = Sim::new(14);
    let a = sim.add_with(|s| Endpoint::new(config(), s));
    let hole = sim.add(Recorder::default());
    let (now, to) = (sim.now(), sim.peer(hole));
    let token = sim[a].send_request(now, to, Request::get("/x"), Reliability::Confirmable).expect("accepted");
    sim.run_for(Duration::from_secs(5), |_| {});
    sim[a].cancel(token);
    sim.run_for(Duration::from_secs(200), |_| {});
    assert!(!sim[a].has_event());
    assert!(sim[hole].received.len() <= 2);
    assert_eq!(sim[a].table_sizes().unacknowledged, 0);
}

#[test]
fn rfc_7252_appendix_a_piggybacked_and_separate_exchanges_byte_for_byte() {
    let mut sim = Sim::new(15);
    let b = sim.add_with(|s| Endpoint::new(config(), s));
    let probe = sim.add(Recorder::default());
    let from = sim.addr(probe);
    // Figure 16: CON [0x7d34] GET /temperature, answered in the ACK with 2.05 "22.3 C".
    sim.inject(from, b, hex::decode("40017d34bb74656d7065726174757265").expect("hex"));
    sim.run_until(|s| s[b].has_event(), Duration::from_secs(1));
    let Some(Event::Request { peer, token, .. }) = sim[b].poll_event() else { panic!("expected the request") };
    let now = sim.now();
    sim[b].send_response(now, &peer, token, Response::new(Code::CONTENT).with_body("22.3 C")).expect("answer");
    sim.run_for(Duration::from_millis(100), |_| {});
    assert_eq!(hex::encode(&sim[probe].received[0].2), "60457d34ff32322e332043");

    // Figure 18 (separate response): CON [0x7a10] GET /temperature with token 0x71; the empty
    // ACK comes after `separate_response_delay`, the response later as a CON with the token.
    sim.inject(from, b, hex::decode("41017a1071bb74656d7065726174757265").expect("hex"));
    sim.run_until(|s| s[b].has_event(), Duration::from_secs(1));
    let Some(Event::Request { peer, token, .. }) = sim[b].poll_event() else { panic!("expected the request") };
    sim.run_for(Duration::from_secs(3), |_| {});
    assert_eq!(hex::encode(&sim[probe].received[1].2), "60007a10");
    let now = sim.now();
    sim[b].send_response(now, &peer, token, Response::new(Code::CONTENT).with_body("22.3 C")).expect("answer");
    sim.run_for(Duration::from_millis(100), |_| {});
    let response = Message::decode(&sim[probe].received[2].2).expect("valid");
    assert_eq!(
        (response.mtype, response.code, response.token.as_bytes()),
        (MessageType::Confirmable, Code::CONTENT, &[0x71][..])
    );
    assert_eq!(response.payload, b"22.3 C");
}

#[test]
fn spurious_timeouts_change_nothing() {
    let (mut sim, a, b) = pair(16, config(), config());
    let (now, to) = (sim.now(), sim.peer(b));
    sim[a].send_request(now, to, Request::get("/3/0/0"), Reliability::Confirmable).expect("accepted");
    let before = (sim[a].table_sizes(), sim[a].stats().clone(), sim[a].poll_timeout());
    for _ in 0..10 {
        sim[a].handle_timeout(now);
    }
    let mut buf = Vec::new();
    let sent = std::iter::from_fn(|| sim[a].poll_transmit(now, &mut buf).map(|t| t.len)).count();
    assert_eq!(sent, 1, "only the request itself");
    let stats = sim[a].stats().clone();
    assert_eq!((sim[a].table_sizes(), stats.retransmissions), (before.0, before.1.retransmissions));
    assert_eq!(sim[a].poll_timeout(), before.2);
}

#[test]
fn lost_ack_of_a_separate_response_is_resent_and_the_response_delivered_once() {
    let (mut sim, a, b) = pair(17, config(), config());
    let (now, to) = (sim.now(), sim.peer(b));
    let token = sim[a].send_request(now, to, Request::get("/3/0/1"), Reliability::Confirmable).expect("accepted");
    let Event::Request { peer, token: handle, .. } = next_event(&mut sim, b, Duration::from_secs(1)) else {
        panic!("expected the request")
    };
    sim.run_for(Duration::from_secs(5), |_| {}); // empty ACK sent and received
                                                 // The client's ACK of the separate response is lost twice.
    sim.link(a, b).drop_next(2);
    let now = sim.now();
    sim[b].send_response(now, &peer, handle, Response::new(Code::CONTENT).with_body("late")).expect("answer");
    sim.run_for(Duration::from_secs(60), |_| {});
    let events = drain(&mut sim, a);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(&events[0], Event::Response { token: t, response } if *t == token && response.payload == b"late"));
    assert_eq!(sim[b].stats().retransmissions, 2);
    assert_eq!(sim[a].stats().dropped(DropReason::Duplicate), 2, "the copies were answered from the cache");
    assert_eq!(sim[b].table_sizes().unacknowledged, 0);
}
