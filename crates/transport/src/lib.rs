//! UDP and DTLS 1.2 sockets and the tokio driver for sans-IO CoAP engines.
