//! Many End-Devices registering in quick succession behind the gateway: the distant server's
//! reads and observation of `/25` go block-wise while `/25` keeps changing (notifications overtake
//! the block-wise fetch of the first response). Every read must end, so the server's End-Device
//! list is complete long before its 120 s request timeout or the gateway's next Update.

mod support;

use std::time::Duration;

use lwm2m::Version;
use support::*;

/// Starts `n` End-Devices 20 ms apart and gives the server `within` to know them all.
fn burst_of_registrations(seed: u64, n: usize, within: Duration) {
    let mut w = registered_world(seed);
    for i in 0..n {
        w.add_device_with(&format!("sensor-{i}"), Version::V1_1, 300, "U", 20.0, Vec::new());
        w.sim.run_for(Duration::from_millis(20), |_| {});
    }
    let node = w.norths[0].node;
    w.sim.run_for(within, |_| {});
    let known = w.sim[node].end_devices().count();
    assert_eq!(known, n, "the server knows {known} of {n} End-Devices (seed {seed})");
}

#[test]
fn every_end_device_of_a_registration_burst_is_known_within_a_minute() {
    for seed in 700..706 {
        burst_of_registrations(seed, 80, Duration::from_secs(60));
    }
}
