//! Command-line interface: every subcommand and flag, documented for `--help`.

use std::path::PathBuf;

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
    Device(crate::device::DeviceArgs),
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
