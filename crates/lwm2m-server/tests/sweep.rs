//! Lossy network sweep (STYLE §5.4): at 20 % loss and 10 % duplication every request gets
//! exactly one answer or failure, never two.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use coap::{ContentFormat, Event, Response};
use lwm2m::PrefixedPath;
use lwm2m_server::{DmRequest, RequestOptions, ServerEvent};
use support::{ep, World};

#[test]
fn every_request_is_answered_or_failed_exactly_once_on_a_lossy_link() {
    for seed in 0..40 {
        let mut w = World::new(seed);
        let c = w.client();
        w.registered(c, &["ep=dev1", "lt=100000", "lwm2m=1.1"], "</3/0>");
        w.events();
        let server = w.server;
        w.sim.link_both(server, c, |link| {
            link.loss = 0.2;
            link.duplicate = 0.1;
        });
        let now = w.now();
        let mut outcomes: BTreeMap<_, usize> = BTreeMap::new();
        for resource in 0..5 {
            let path: PrefixedPath = format!("/3/0/{resource}").parse().unwrap();
            let read = DmRequest::Read { path, format: Some(ContentFormat::TEXT) };
            let id = w.server().send(now, &ep("dev1"), read, RequestOptions::default()).unwrap();
            outcomes.insert(id, 0);
        }
        let mut answered = 0;
        w.sim.run_for(Duration::from_secs(400), |s| {
            let now = s.now();
            while let Some(event) = s[c].poll_event() {
                if let Event::Request { peer, token, .. } = event {
                    s[c].send_response(now, &peer, token, Response::content(ContentFormat::TEXT, "x")).unwrap();
                }
            }
            while let Some(event) = s[server].server.poll_event() {
                if let ServerEvent::Response { id, .. } = event {
                    *outcomes.entry(id).or_default() += 1;
                    answered += 1;
                }
            }
        });
        assert!(outcomes.values().all(|n| *n == 1), "seed {seed}: {outcomes:?}");
        assert_eq!(answered, 5, "seed {seed}");
    }
}
