//! LwM2M Client engine (sans-IO over `coap::Endpoint`).
