//! Hostile input: random and mutated datagrams never panic the endpoint, every one is either
//! processed or counted as dropped, and the tables stay within their caps.

mod support;

use std::sync::Arc;
use std::time::Duration;

use coap::block::{Block, BlockSize};
use coap::{Code, Endpoint, EndpointConfig, Message, MessageId, MessageType, OptionNumber, Token};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sim::Sim;
use support::{drain, Recorder};

fn valid_messages() -> Vec<Vec<u8>> {
    let token = Token::new(&[1, 2, 3, 4]).expect("4 bytes");
    let mut out = Vec::new();
    for (mtype, code) in [
        (MessageType::Confirmable, Code::GET),
        (MessageType::NonConfirmable, Code::PUT),
        (MessageType::Confirmable, Code::CONTENT),
        (MessageType::Acknowledgement, Code::CONTENT),
        (MessageType::Reset, Code::EMPTY),
        (MessageType::Confirmable, Code::EMPTY),
    ] {
        let mut msg = Message::new(mtype, code, MessageId(7), if code.is_empty() { Token::EMPTY } else { token });
        if !code.is_empty() {
            msg.options.set_uri_path("/5/0/0");
            msg.options.set_uint(OptionNumber::OBSERVE, 0);
            msg.options.set(OptionNumber::BLOCK1, Block { num: 0, more: true, size: BlockSize::S16 }.encode());
            msg.payload = vec![0xab; 16];
        }
        let mut bytes = Vec::new();
        msg.encode(&mut bytes);
        out.push(bytes);
    }
    out
}

#[test]
fn random_and_mutated_datagrams_never_panic_and_tables_stay_bounded() {
    let config = Arc::new(EndpointConfig {
        max_dedup_entries: 64,
        max_server_exchanges: 16,
        max_block_transfers: 4,
        max_block_bytes: 4096,
        max_body_size: 4096,
        max_observations: 4,
        ..EndpointConfig::default()
    });
    let mut sim = Sim::new(40);
    let b = sim.add_with(|s| Endpoint::new(config, s));
    let _probe = sim.add(Recorder::default());
    let mut rng = ChaCha20Rng::seed_from_u64(40);
    let seeds = valid_messages();
    for i in 0..20_000u32 {
        let mut bytes = seeds[i as usize % seeds.len()].clone();
        match i % 4 {
            0 => {
                let len = rng.random_range(0..64);
                bytes = (0..len).map(|_| rng.random()).collect();
            }
            1 => {
                let flips = rng.random_range(1..4);
                for _ in 0..flips {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] ^= 1 << rng.random_range(0..8);
                }
            }
            2 => {
                let cut = rng.random_range(0..bytes.len());
                bytes.truncate(cut);
            }
            _ => {
                // A fresh message ID so the mutation is not deduplicated away.
                bytes[2] = (i >> 8) as u8;
                bytes[3] = i as u8;
            }
        }
        let port = 1000 + (i % 50) as u16;
        sim.inject(std::net::SocketAddr::from(([192, 0, 2, 1], port)), b, bytes);
        if i % 200 == 199 {
            sim.run_for(Duration::from_millis(100), |s| {
                let _ = drain(s, b);
            });
            let sizes = sim[b].table_sizes();
            assert!(sizes.dedup_entries <= 64, "{sizes:?}");
            assert!(sizes.server_exchanges <= 16, "{sizes:?}");
            assert!(sizes.block_transfers <= 4 && sizes.block_bytes <= 4096, "{sizes:?}");
            assert!(sizes.observers <= 4, "{sizes:?}");
        }
    }
    let stats = sim[b].stats();
    assert_eq!(stats.datagrams_received, 20_000);
    assert!(stats.dropped_total() > 5_000, "{stats:?}");
}
