//! `lwm2m-gw`: the LwM2M Gateway binary.

fn main() {}
