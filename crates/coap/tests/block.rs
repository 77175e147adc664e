//! Block-wise transfers in simulated time (RFC 7959): both roles of Block1 and Block2, size
//! renegotiation, 4.08 / 4.13, and the caps on reassembly state.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use coap::block::{Block, BlockSize};
use coap::{
    Code, ContentFormat, Endpoint, EndpointConfig, Event, ExchangeError, Message, MessageId, MessageType, OptionNumber,
    Reliability, Request, Response, Token,
};
use sim::{Sim, Verdict};
use support::{body, config, exchange, next_event, pair, serve, Recorder};

const OPAQUE: ContentFormat = ContentFormat(42);

/// Records the given block option of every datagram on a link.
fn record_blocks(sim: &mut Sim, from: sim::NodeId, to: sim::NodeId, option: OptionNumber) -> Rc<RefCell<Vec<Block>>> {
    let seen: Rc<RefCell<Vec<Block>>> = Rc::default();
    let sink = seen.clone();
    sim.link(from, to).intercept(move |bytes| {
        let msg = Message::decode(bytes).expect("valid");
        if let Ok(Some(block)) = Block::from_options(&msg.options, option) {
            sink.borrow_mut().push(block);
        }
        Verdict::Pass
    });
    seen
}

#[test]
fn block2_transfer_of_100_kb_is_delivered_whole_once() {
    let (mut sim, a, b) = pair(20, config(), config());
    let big = body(100_000);
    let served = big.clone();
    let requests = Rc::new(RefCell::new(0));
    let counter = requests.clone();
    let (token, event) = exchange(&mut sim, a, b, Request::get("/5/0/0"), move |_| {
        *counter.borrow_mut() += 1;
        Response::content(OPAQUE, served.clone())
    });
    let Event::Response { token: got, response } = event else { panic!("expected a response, got {event:?}") };
    assert_eq!(got, token);
    assert_eq!(response.payload.len(), 100_000);
    assert!(response.payload == big, "reassembled body differs");
    assert_eq!(response.options.content_format(), Some(OPAQUE));
    assert_eq!(response.options.get(OptionNumber::BLOCK2), None, "block options are the endpoint's business");
    assert_eq!(*requests.borrow(), 1, "later blocks come from the cache, not the application");
    assert_eq!(sim[b].table_sizes().block_transfers, 0, "the cache entry goes with the last block");
    assert_eq!(sim.net_stats().sent, 2 * 98);
}

#[test]
fn block2_honours_the_smaller_size_the_client_asks_for() {
    let client = Arc::new(EndpointConfig { block_size: BlockSize::S128, ..EndpointConfig::default() });
    let (mut sim, a, b) = pair(21, client, config());
    let blocks = record_blocks(&mut sim, b.id(), a.id(), OptionNumber::BLOCK2);
    let big = body(3_000);
    let served = big.clone();
    let (_, event) =
        exchange(&mut sim, a, b, Request::get("/5/0/0"), move |_| Response::content(OPAQUE, served.clone()));
    assert!(matches!(event, Event::Response { ref response, .. } if response.payload == big));
    let blocks = blocks.borrow();
    assert_eq!(blocks.len(), 24);
    assert!(blocks.iter().all(|b| b.size == BlockSize::S128));
    assert_eq!(blocks.iter().map(|b| b.num).collect::<Vec<_>>(), (0..24).collect::<Vec<_>>());
}

#[test]
fn block1_starts_at_1024_and_renegotiates_to_the_servers_128() {
    let server = Arc::new(EndpointConfig { block_size: BlockSize::S128, ..EndpointConfig::default() });
    let (mut sim, a, b) = pair(22, config(), server);
    let sent = record_blocks(&mut sim, a.id(), b.id(), OptionNumber::BLOCK1);
    let upload = body(5_000);
    let received = Rc::new(RefCell::new(Vec::new()));
    let sink = received.clone();
    let (_, event) = exchange(&mut sim, a, b, Request::put("/5/0/0").with_payload(OPAQUE, upload.clone()), move |r| {
        sink.borrow_mut().push(r.payload.clone());
        Response::new(Code::CHANGED)
    });
    assert!(matches!(event, Event::Response { ref response, .. } if response.code == Code::CHANGED));
    assert_eq!(*received.borrow(), vec![upload], "one request with the whole body");
    let sent = sent.borrow();
    assert_eq!(sent[0], Block { num: 0, more: true, size: BlockSize::S1024 });
    assert_eq!(
        sent[1],
        Block { num: 8, more: true, size: BlockSize::S128 },
        "continues at byte 1024 in 128-byte blocks"
    );
    assert!(sent[1..].iter().all(|b| b.size == BlockSize::S128));
    assert_eq!(sent.len(), 1 + (5_000 - 1_024usize).div_ceil(128));
    assert!(!sent.last().expect("blocks were sent").more);
}

#[test]
fn request_entity_too_large_is_retried_block_wise_at_the_servers_size() {
    let server = Arc::new(EndpointConfig {
        block_size: BlockSize::S256,
        max_unfragmented_payload: 256,
        ..EndpointConfig::default()
    });
    let (mut sim, a, b) = pair(23, config(), server);
    let sent = record_blocks(&mut sim, a.id(), b.id(), OptionNumber::BLOCK1);
    let upload = body(800);
    let received = Rc::new(RefCell::new(Vec::new()));
    let sink = received.clone();
    let (_, event) = exchange(&mut sim, a, b, Request::post("/dp").with_payload(OPAQUE, upload.clone()), move |r| {
        sink.borrow_mut().push(r.payload.clone());
        Response::new(Code::CHANGED)
    });
    assert!(matches!(event, Event::Response { ref response, .. } if response.code == Code::CHANGED), "{event:?}");
    assert_eq!(*received.borrow(), vec![upload]);
    let sent = sent.borrow();
    let nums: Vec<(u32, bool, BlockSize)> = sent.iter().map(|b| (b.num, b.more, b.size)).collect();
    assert_eq!(
        nums,
        vec![
            (0, true, BlockSize::S256),
            (1, true, BlockSize::S256),
            (2, true, BlockSize::S256),
            (3, false, BlockSize::S256)
        ]
    );
    assert_eq!(sim[b].stats().requests_rejected, 1, "the first, unfragmented attempt");
}

#[test]
fn body_larger_than_the_servers_limit_gets_4_13_with_size1() {
    let server = Arc::new(EndpointConfig { max_body_size: 2_000, ..EndpointConfig::default() });
    let (mut sim, a, b) = pair(24, config(), server);
    let (_, event) = exchange(&mut sim, a, b, Request::put("/5/0/0").with_payload(OPAQUE, body(5_000)), |_| {
        unreachable!("never delivered")
    });
    let Event::Response { response, .. } = event else { panic!("expected a response, got {event:?}") };
    assert_eq!(response.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(response.options.get_uint(OptionNumber::SIZE1), Some(2_000));
    assert_eq!(sim[b].table_sizes().block_transfers, 0);
}

#[test]
fn block1_out_of_order_gets_4_08() {
    let mut sim = Sim::new(25);
    let b = sim.add_with(|s| Endpoint::new(config(), s));
    let probe = sim.add(Recorder::default());
    let from = sim.addr(probe);
    let mut msg =
        Message::new(MessageType::Confirmable, Code::PUT, MessageId(1), Token::new(&[1, 2, 3, 4]).expect("4 bytes"));
    msg.options.set_uri_path("/5/0/0");
    msg.options.set(OptionNumber::BLOCK1, Block { num: 0, more: true, size: BlockSize::S16 }.encode());
    msg.payload = vec![0; 16];
    let mut first = Vec::new();
    msg.encode(&mut first);
    msg.message_id = MessageId(2);
    msg.options.set(OptionNumber::BLOCK1, Block { num: 2, more: true, size: BlockSize::S16 }.encode());
    let mut skipped = Vec::new();
    msg.encode(&mut skipped);
    sim.inject(from, b, first);
    sim.run_for(Duration::from_secs(1), |_| {});
    sim.inject(from, b, skipped);
    sim.run_for(Duration::from_secs(1), |_| {});
    let codes: Vec<Code> =
        sim[probe].received.iter().map(|(_, _, d)| Message::decode(d).expect("valid").code).collect();
    assert_eq!(codes, vec![Code::CONTINUE, Code::REQUEST_ENTITY_INCOMPLETE]);
    assert!(!sim[b].has_event());
    assert_eq!(sim[b].table_sizes().block_transfers, 0, "the broken transfer is dropped");
}

#[test]
fn block2_body_beyond_the_clients_limit_fails_the_exchange() {
    let client =
        Arc::new(EndpointConfig { max_body_size: 10_000, max_block_bytes: 10_000, ..EndpointConfig::default() });
    let (mut sim, a, b) = pair(26, client, config());
    let (token, event) = exchange(&mut sim, a, b, Request::get("/5/0/0"), |_| Response::content(OPAQUE, body(20_000)));
    assert_eq!(event, Event::Failed { token, error: ExchangeError::BodyTooLarge { limit: 10_000 } });
}

#[test]
fn block1_transfers_stay_within_their_caps_and_expire() {
    let server = Arc::new(EndpointConfig {
        max_block_transfers: 8,
        max_block_bytes: 1 << 20,
        max_body_size: 1 << 20,
        ..EndpointConfig::default()
    });
    let mut sim = Sim::new(27);
    let b = sim.add_with(|s| Endpoint::new(server, s));
    let _probe = sim.add(Recorder::default());
    for port in 0..100u16 {
        let from = std::net::SocketAddr::from(([192, 0, 2, 9], 1000 + port));
        let mut msg =
            Message::new(MessageType::NonConfirmable, Code::PUT, MessageId(port), Token::new(&[7; 4]).expect("4"));
        msg.options.set_uri_path("/5/0/0");
        msg.options.set(OptionNumber::BLOCK1, Block { num: 0, more: true, size: BlockSize::S1024 }.encode());
        msg.payload = vec![0; 1024];
        let mut bytes = Vec::new();
        msg.encode(&mut bytes);
        sim.inject(from, b, bytes);
        sim.run_for(Duration::from_millis(20), |_| {});
        assert!(sim[b].table_sizes().block_transfers <= 8);
    }
    assert_eq!(sim[b].stats().block_transfers_evicted, 92);
    sim.run_for(Duration::from_secs(300), |_| {});
    let sizes = sim[b].table_sizes();
    assert_eq!((sizes.block_transfers, sizes.block_bytes), (0, 0));
}

#[test]
fn nonconfirmable_block2_transfer_completes() {
    let (mut sim, a, b) = pair(28, config(), config());
    let (now, to) = (sim.now(), sim.peer(b));
    let token = sim[a].send_request(now, to, Request::get("/5/0/0"), Reliability::NonConfirmable).expect("accepted");
    sim.run_until(
        |s| {
            serve(s, b, |_| Response::content(OPAQUE, body(5_000)));
            s[a].has_event()
        },
        Duration::from_secs(10),
    );
    let event = next_event(&mut sim, a, Duration::from_secs(1));
    assert!(
        matches!(event, Event::Response { token: t, ref response } if t == token && response.payload == body(5_000))
    );
}

#[test]
fn concurrent_block2_bodies_share_the_clients_byte_cap() {
    let client = Arc::new(EndpointConfig {
        nstart: 2,
        max_body_size: 4_000,
        max_block_bytes: 5_000,
        ..EndpointConfig::default()
    });
    let (mut sim, a, b) = pair(29, client, config());
    let (now, to) = (sim.now(), sim.peer(b));
    let first =
        sim[a].send_request(now, to.clone(), Request::get("/5/0/0"), Reliability::Confirmable).expect("accepted");
    let second = sim[a].send_request(now, to, Request::get("/5/0/1"), Reliability::Confirmable).expect("accepted");
    let mut events = Vec::new();
    sim.run_until(
        |s| {
            serve(s, b, |_| Response::content(OPAQUE, body(4_000)));
            events.extend(support::drain(s, a));
            events.len() == 2
        },
        Duration::from_secs(60),
    );
    let failed: Vec<Token> = events
        .iter()
        .filter_map(|e| match e {
            Event::Failed { token, error: ExchangeError::NoRoom { limit: 5_000 } } => Some(*token),
            _ => None,
        })
        .collect();
    let answered: Vec<Token> = events
        .iter()
        .filter_map(|e| match e {
            Event::Response { token, response } if response.payload == body(4_000) => Some(*token),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(answered.len(), 1, "{events:?}");
    let mut both = vec![failed[0], answered[0]];
    both.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(both, expected);
}

#[test]
fn fetch_body_sent_block_wise_is_reassembled_under_one_key() {
    let (mut sim, a, b) = pair(30, config(), config());
    let names = body(2_500);
    let received = Rc::new(RefCell::new(Vec::new()));
    let sink = received.clone();
    let request = Request::new(Code::FETCH, "/").with_payload(OPAQUE, names.clone());
    let (_, event) = exchange(&mut sim, a, b, request, move |r| {
        sink.borrow_mut().push(r.payload.clone());
        Response::content(OPAQUE, "ok")
    });
    assert!(matches!(event, Event::Response { ref response, .. } if response.payload == b"ok"), "{event:?}");
    assert!(*received.borrow() == vec![names]);
}

/// A GET of `/5/0/0` from `probe` for Block2 block `num` (1 KiB blocks), message ID `mid`.
fn block2_get(mid: u16, num: u32) -> Vec<u8> {
    let token = Token::new(&[9, 9, 9, 9]).expect("4 bytes");
    let mut msg = Message::new(MessageType::Confirmable, Code::GET, MessageId(mid), token);
    msg.options.set_uri_path("/5/0/0");
    msg.options.set(OptionNumber::BLOCK2, Block { num, more: false, size: BlockSize::S1024 }.encode());
    let mut bytes = Vec::new();
    msg.encode(&mut bytes);
    bytes
}

#[test]
fn a_duplicated_block2_request_still_gets_the_right_block() {
    let mut sim = Sim::new(26);
    let b = sim.add_with(|s| Endpoint::new(config(), s));
    let probe = sim.add(Recorder::default());
    let from = sim.addr(probe);
    let big = body(4_000);
    let served = big.clone();
    let answered = Rc::new(RefCell::new(0));
    let count = answered.clone();
    let step = |sim: &mut Sim, datagram: Vec<u8>| -> Message {
        sim.inject(from, b, datagram);
        sim.run_for(Duration::from_secs(1), |s| {
            *count.borrow_mut() += serve(s, b, |_| Response::content(OPAQUE, served.clone())).len();
        });
        let (_, _, last) = sim[probe].received.last().expect("an answer").clone();
        Message::decode(&last).expect("valid")
    };
    let block_of =
        |msg: &Message| Block::from_options(&msg.options, OptionNumber::BLOCK2).expect("valid").expect("block2");

    let first = step(&mut sim, block2_get(1, 0));
    assert_eq!(first.payload, big[..1024]);
    let second = step(&mut sim, block2_get(2, 1));
    assert_eq!((block_of(&second).num, second.payload.as_slice()), (1, &big[1024..2048]));
    let again = step(&mut sim, block2_get(2, 1));
    assert_eq!(again, second, "the duplicate is served the same block from the cached body");
    assert_eq!(sim[b].stats().dropped(coap::DropReason::Duplicate), 1);
    assert_eq!(*answered.borrow(), 1, "only block 0 came from the application");

    // The last block ends the transfer; the body stays for duplicates of its blocks.
    let last = step(&mut sim, block2_get(3, 3));
    assert_eq!((block_of(&last).num, block_of(&last).more, last.payload.as_slice()), (3, false, &big[3072..]));
    assert_eq!(sim[b].table_sizes().block_transfers, 0, "no transfer in progress");
    assert_eq!(step(&mut sim, block2_get(3, 3)), last, "the duplicate of the last block");
    assert_eq!(step(&mut sim, block2_get(2, 1)), second, "a late duplicate of an earlier block");
    assert_eq!(*answered.borrow(), 1, "duplicates never reach the application");
    assert_eq!(sim[b].stats().dropped(coap::DropReason::Duplicate), 3);
    assert_eq!(sim[probe].received.len(), 6);

    // Once EXCHANGE_LIFETIME is over the body is gone; a new read goes to the application.
    sim.run_for(Duration::from_secs(300), |_| {});
    let fresh = step(&mut sim, block2_get(4, 1));
    assert_eq!((block_of(&fresh).num, fresh.payload.as_slice()), (1, &big[1024..2048]));
    assert_eq!(*answered.borrow(), 2);
}
