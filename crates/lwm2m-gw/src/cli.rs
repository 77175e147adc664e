//! Command-line interface: every subcommand and flag, documented for `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

/// lwm2m-gw: an LwM2M Gateway (server for End-Devices, client for distant servers) and the
/// tools around it.
#[derive(Debug, Parser)]
#[command(name = "lwm2m-gw", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Decode an LwM2M payload (TLV, SenML, CBOR, link-format …) into JSON.
    ///
    /// Prints a JSON array of leaves, one per resource or resource instance:
    /// `{"path": "/3/0/0", "type": "string", "value": "…"}`, with `"prefix"` when the name
    /// carried a gateway prefix and `"time"` when the format carried a timestamp.
    /// Link-format (40) prints `{"links": [{"uri": …, "attributes": [{"name": …, "value": …}]}]}`.
    Decode(DecodeArgs),
    /// Encode JSON (the shape `decode` prints) into an LwM2M payload, printed as hex.
    Encode(EncodeArgs),
    // ----- `lwm2m-gw device` -----
    /// Run simulated LwM2M End-Devices (Device, Connectivity, Temperature 3303, Light 3311,
    /// Firmware Update 5) against a server, one UDP socket per device.
    ///
    /// Prints one line per milestone (`registered ep=… server=… location=…`, `all-registered
    /// devices=N elapsed_ms=T`, `firmware-updated ep=… version=…` …) and a `summary` line on
    /// SIGINT/SIGTERM after de-registering.
    ///
    /// Firmware Update accepts packages laid out as `"LWFW" | n: u8 | version (n bytes) | image
    /// | SHA-256 of all preceding bytes (32 bytes)`, pushed to /5/0/0 or pulled from a
    /// `coap://IP:PORT/path` Package URI written to /5/0/1 (Block2 over the device's own
    /// socket; the firmware server must not be the LwM2M server's address). A bad digest gives
    /// Update Result 5, another layout 6, a malformed URI 7, another scheme 9; /5/0/6 shows
    /// `lwm2m-gw-sim@<sha256 of the package>` and /5/0/7 its version; Update (/5/0/2) makes
    /// that version /3/0/3 after --update-delay-ms.
    ///
    /// Temperature is multi-instance: a server may Create further simulated sensors (2.01, with
    /// a Location-Path when the device picks the ID; 4.00 for an existing ID or beyond 16
    /// sensors; only Application Type /3303/x/5750 is writable) and Delete them (2.02, 4.04 for
    /// an unknown one); sensor /3303/0 is built in and cannot be deleted (4.05). Each change
    /// sends a registration Update with the new object list.
    ///
    /// With --send-interval the devices Send (`POST /dp`) /3303/0/5700 and /3/0/9 periodically
    /// to each server whose Mute Send (/1/x/23) is false: start with --unmute-send, or have the
    /// server Write /1/0/23 = false.
    Device(crate::device::DeviceArgs),
    /// Run a standalone LwM2M Server and Bootstrap Server with a REST API compatible with the
    /// Leshan demo servers' (`/api/clients`, `/api/event`, `/api/security/clients`,
    /// `/api/bootstrap`).
    ///
    /// Prints one `<face> listening on <address>` line per bound socket (`coap`, `coaps`,
    /// `bs-coap`, `bs-coaps`, `http`, `bs-http`) once all are bound; port 0 picks a free port. Stops
    /// cleanly on Ctrl-C or SIGTERM. Log level from RUST_LOG (default `info`, on stderr).
    Server(ServerArgs),
    /// Run the gateway: an LwM2M server for End-Devices (south) and an LwM2M client registered
    /// to one or more distant servers (north), End-Devices reachable under their prefix.
    ///
    /// Settings come from `-c gateway.toml` (see docs/gateway.toml, every key documented) and
    /// the flags, which win over the file; a bad setting is refused at start with its key.
    /// Quick start without a file: `lwm2m-gw run --endpoint gw1 --south 127.0.0.1:5783 --north
    /// coap://127.0.0.1:5683`. Prints `south listening on ADDR` (and `south-dtls …`, `http …`)
    /// once bound, then `registered to URI as EP` per distant server. Stops on Ctrl-C or
    /// SIGTERM after de-registering. Log level from RUST_LOG (default `info`, on stderr).
    Run(crate::daemon::config::RunArgs),
    /// Everything on loopback with no configuration: a distant `lwm2m-gw server`, the gateway
    /// and three simulated End-Devices behind it, and a tour of what happens (prefixes, a read
    /// and a write through the gateway, notifications of an observed temperature).
    ///
    /// Keeps running and prints where to look until Ctrl-C; `--once` exits after the tour
    /// (status 0 when every step worked). State lives in a temporary directory removed at exit.
    Demo(crate::demo::DemoArgs),
    /// Benchmark (hidden): N simulated End-Devices behind `lwm2m-gw run`, proxied reads
    /// against direct reads on the same devices, and the gateway's memory per End-Device
    /// (see docs/benchmarks.md).
    #[command(hide = true)]
    Bench(crate::bench::BenchArgs),
}

/// A socket address, or `off` to leave that socket closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bind(pub(crate) Option<SocketAddr>);

impl FromStr for Bind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        s.parse().map(|a| Self(Some(a))).map_err(|_| format!("{s:?} is neither an ip:port address nor `off`"))
    }
}

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// UDP address of the LwM2M Server without security (NoSec), or `off`.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:5683")]
    pub(crate) coap: Bind,
    /// UDP address of the LwM2M Server over DTLS (PSK from the security store, X.509 with
    /// `--x509-*`), or `off`.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:5684")]
    pub(crate) coaps: Bind,
    /// UDP address of the Bootstrap Server without security, or `off`.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:5783")]
    pub(crate) bs_coap: Bind,
    /// UDP address of the Bootstrap Server over DTLS (PSK of the bootstrap configuration's
    /// bootstrap account, else the bootstrap security store of `--bs-http`, else the LwM2M
    /// Server's), or `off`.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:5784")]
    pub(crate) bs_coaps: Bind,
    /// TCP address of the REST API (no authentication: keep it on a trusted interface).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) http: SocketAddr,
    /// TCP address of the Bootstrap Server's own REST API (as Leshan's bootstrap demo:
    /// `/api/security/clients` for bootstrap credentials, `/api/bootstrap`), or `off`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub(crate) bs_http: Bind,
    /// Directory of the state database (registrations, security, bootstrap configs).
    /// Default: $XDG_DATA_HOME/lwm2m-gw, else $HOME/.local/share/lwm2m-gw, else ./lwm2m-gw-data.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// PEM certificate (then its chain) of the server for DTLS certificate mode.
    #[arg(long, value_name = "FILE")]
    pub(crate) x509_cert: Option<PathBuf>,
    /// PEM private key (EC P-256) of `--x509-cert`.
    #[arg(long, value_name = "FILE")]
    pub(crate) x509_key: Option<PathBuf>,
    /// PEM trust anchors for client certificates; a client's certificate CN is its endpoint.
    #[arg(long, value_name = "FILE")]
    pub(crate) x509_ca: Option<PathBuf>,
    /// Refuse NoSec registrations of endpoints that have no security entry.
    #[arg(long)]
    pub(crate) deny_unknown_nosec: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// Content-Format number: 0 text, 40 link-format, 42 opaque, 60 CBOR, 110 SenML JSON,
    /// 112 SenML CBOR, 11542 TLV, 11543 OMA JSON, 11544 LwM2M CBOR (legacy 1541-1543 accepted).
    #[arg(long, short = 'f', value_name = "N")]
    pub(crate) content_format: u16,
    /// Request path the payload answers (needed by formats without names: text, opaque, CBOR,
    /// TLV), e.g. `/3/0` or `/d01/3303/0/5700`.
    #[arg(long, short = 'p', value_name = "PATH", default_value = "/")]
    pub(crate) path: String,
    /// Directory of extra OMA DDF XML object models (a file for a bundled object replaces it).
    #[arg(long, value_name = "DIR")]
    pub(crate) model_dir: Option<PathBuf>,
    /// The payload as hex (spaces, colons and a 0x prefix are ignored).
    #[arg(long, value_name = "HEX", conflicts_with = "file")]
    pub(crate) hex: Option<String>,
    /// Read the payload from a file (raw bytes).
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    /// Content-Format number to produce (see `decode --help`).
    #[arg(long, short = 'f', value_name = "N")]
    pub(crate) content_format: u16,
    /// Request path the payload answers; defaults to the deepest path shared by all leaves.
    #[arg(long, short = 'p', value_name = "PATH")]
    pub(crate) path: Option<String>,
    /// Directory of extra OMA DDF XML object models.
    #[arg(long, value_name = "DIR")]
    pub(crate) model_dir: Option<PathBuf>,
    /// The JSON input inline; otherwise read from `--file` or standard input.
    #[arg(long, value_name = "JSON", conflicts_with = "file")]
    pub(crate) json: Option<String>,
    /// Read the JSON input from a file.
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    /// Write the raw payload bytes to standard output instead of hex.
    #[arg(long)]
    pub(crate) raw: bool,
}
