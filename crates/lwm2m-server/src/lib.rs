//! LwM2M Server and Bootstrap Server engines (sans-IO over `coap::Endpoint`).

pub mod bootstrap;
