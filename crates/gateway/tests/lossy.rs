//! Proxy routing over lossy links: CoAP retransmissions on both faces get every read through,
//! and each answer is the device's value under the right prefix.

mod support;

use coap::{Code, ContentFormat};
use lwm2m::{Path, Value};
use lwm2m_server::{Content, DmRequest};
use support::*;

#[test]
fn reads_through_the_gateway_survive_ten_percent_loss_on_both_faces() {
    for seed in [80, 81, 82] {
        let mut w = registered_world(seed);
        let a = w.add_device("sensor-a", 20.0);
        let b = w.add_device("sensor-b", 30.0);
        let (gw, north) = (w.gw, w.norths[0].node);
        for node in [a.id(), b.id(), north.id()] {
            w.sim.link_both(node, gw, |link| {
                link.loss(0.1);
            });
        }
        for round in 0..10u32 {
            let (dev, ep, prefix) = if round % 2 == 0 { (a, "sensor-a", "d1") } else { (b, "sensor-b", "d2") };
            let celsius = f64::from(round) + 0.5;
            let now = w.sim.now();
            w.sim[dev].set_value(now, Path::Resource(3303, 0, 5700), Value::Float(celsius)).expect("set");
            let read = DmRequest::Read {
                path: "/3303/0/5700".parse().expect("path"),
                format: Some(ContentFormat::SENML_JSON),
            };
            let answer = w.ask(0, ep, read).unwrap_or_else(|failure| panic!("seed {seed} round {round}: {failure}"));
            assert_eq!(answer.code, Code::CONTENT, "seed {seed} round {round}");
            let Content::Records(records) = answer.content else { panic!("records expected") };
            let path = format!("/{prefix}/3303/0/5700");
            assert_eq!(value_at(&records, &path), Some(Value::Float(celsius)), "seed {seed} round {round}");
        }
        assert!(w.sim.net_stats().lost > 0, "seed {seed}: the links lost nothing");
    }
}
