//! The settings of `lwm2m-gw run`: the TOML file (`-c gateway.toml`, documented by the
//! commented example `docs/gateway.toml`), the flags that override it, and their validation.
//!
//! Reading happens in two steps: serde with `deny_unknown_fields` turns the file into
//! [`FileConfig`] (a misspelt or misplaced key is refused, with its dotted path), then
//! [`Settings::resolve`] merges the flags over it and checks every value, so that a bad setting
//! stops the daemon before any socket is bound, with a `key: reason` message.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use lwm2m::EndpointName;
use serde::Deserialize;

use crate::cli::Bind;

/// Flags of `lwm2m-gw run`; each wins over the same setting in the file.
#[derive(Debug, Args, Default)]
pub(crate) struct RunArgs {
    /// The configuration file (TOML; see docs/gateway.toml for every setting).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The gateway's endpoint name toward the distant servers (`gateway.endpoint`).
    #[arg(long, value_name = "EP")]
    pub(crate) endpoint: Option<String>,
    /// UDP address of the south face without security (`south.coap`), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub(crate) south: Option<Bind>,
    /// UDP address of the south face over DTLS (`south.coaps`), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub(crate) south_dtls: Option<Bind>,
    /// A distant LwM2M server without security, `coap://IP:PORT`; repeat for several. Replaces
    /// the file's `[[north]]` servers.
    #[arg(long, value_name = "URI")]
    pub(crate) north: Vec<String>,
    /// TCP address of the gateway's REST API (`gateway.http`), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub(crate) http: Option<Bind>,
    /// Directory of the gateway's state database (`gateway.data_dir`).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
}

/// The file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    gateway: GatewaySection,
    #[serde(default)]
    south: SouthSection,
    #[serde(default)]
    north: Vec<NorthSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaySection {
    endpoint: Option<String>,
    data_dir: Option<PathBuf>,
    http: Option<String>,
    prefix_pattern: Option<String>,
    device_id_pattern: Option<String>,
    queue_wait: Option<u64>,
    request_timeout: Option<u64>,
    idle_after: Option<u64>,
    report_delay_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SouthSection {
    coap: Option<String>,
    coaps: Option<String>,
    allow_unknown_nosec: Option<bool>,
    #[serde(default)]
    psk: Vec<SouthPsk>,
    x509: Option<X509Files>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SouthPsk {
    endpoint: String,
    identity: String,
    key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct X509Files {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NorthSection {
    uri: String,
    short_server_id: Option<u16>,
    lifetime: Option<u32>,
    psk_identity: Option<String>,
    psk_key: Option<String>,
    x509: Option<X509Files>,
}

/// A setting that cannot be used: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub(crate) struct ConfigError {
    /// The dotted key (`north[0].uri`), or the flag.
    pub(crate) key: String,
    /// What is wrong with it.
    pub(crate) reason: String,
}

fn bad(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), reason: reason.into() }
}

/// Parses the text of a configuration file.
pub(crate) fn parse(text: &str) -> Result<FileConfig, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| bad("(syntax)", toml_reason(&e, text)))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { "(top level)".to_owned() } else { key };
        bad(key, toml_reason(e.inner(), text))
    })
}

/// The message of a TOML error with its line, without the source excerpt.
fn toml_reason(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim_end().to_owned();
    match error.span() {
        Some(span) => {
            let line = text.get(..span.start).map_or(1, |before| before.matches('\n').count() + 1);
            format!("{message} (line {line})")
        }
        None => message,
    }
}

/// A pre-shared key an End-Device authenticates with on the south face.
#[derive(Debug, Clone)]
pub(crate) struct SouthKey {
    /// The End-Device it belongs to (bound: no other endpoint may use it).
    pub(crate) endpoint: EndpointName,
    /// PSK identity.
    pub(crate) identity: String,
    /// The key.
    pub(crate) key: Vec<u8>,
}

/// PEM files of an X.509 identity.
#[derive(Debug, Clone)]
pub(crate) struct X509Paths {
    /// Certificate (then its chain).
    pub(crate) cert: PathBuf,
    /// Private key.
    pub(crate) key: PathBuf,
    /// Trust anchors for the other side.
    pub(crate) ca: Option<PathBuf>,
}

/// How the gateway authenticates to one distant server.
#[derive(Debug, Clone)]
pub(crate) enum NorthSecurity {
    /// Plain UDP.
    NoSec,
    /// DTLS with a pre-shared key.
    Psk {
        /// PSK identity.
        identity: String,
        /// The key.
        key: Vec<u8>,
    },
    /// DTLS with a certificate.
    X509(X509Paths),
}

/// One distant server.
#[derive(Debug, Clone)]
pub(crate) struct NorthServer {
    /// The URI as written into the gateway's Security object (IP literal).
    pub(crate) uri: String,
    /// Its address.
    pub(crate) addr: SocketAddr,
    /// Short Server ID.
    pub(crate) short_server_id: u16,
    /// Registration lifetime (s).
    pub(crate) lifetime: u32,
    /// Credentials.
    pub(crate) security: NorthSecurity,
}

/// Everything `lwm2m-gw run` needs, checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The gateway's endpoint name.
    pub(crate) endpoint: EndpointName,
    /// Data directory.
    pub(crate) data_dir: PathBuf,
    /// REST API address.
    pub(crate) http: Option<SocketAddr>,
    /// Core settings of the gateway.
    pub(crate) core: gateway::GatewayConfig,
    /// South face without security.
    pub(crate) south_coap: Option<SocketAddr>,
    /// South face over DTLS.
    pub(crate) south_coaps: Option<SocketAddr>,
    /// Whether End-Devices without credentials may register over NoSec.
    pub(crate) allow_unknown_nosec: bool,
    /// South PSKs.
    pub(crate) south_keys: Vec<SouthKey>,
    /// South certificate.
    pub(crate) south_x509: Option<X509Paths>,
    /// The distant servers.
    pub(crate) north: Vec<NorthServer>,
}

/// Default south address (the LwM2M port: End-Devices find the gateway where they expect a
/// server).
const DEFAULT_SOUTH: &str = "0.0.0.0:5683";
/// Default REST API address.
const DEFAULT_HTTP: &str = "127.0.0.1:8090";
/// Default registration lifetime toward distant servers (s).
const DEFAULT_LIFETIME: u32 = 300;

fn bind(key: &str, value: &str) -> Result<Option<SocketAddr>, ConfigError> {
    value.parse::<Bind>().map(|b| b.0).map_err(|reason| bad(key, reason))
}

fn seconds(key: &str, value: Option<u64>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(bad(key, "must be at least 1 second")),
        Some(s) if s > 86_400 => Err(bad(key, "must be at most 86400 seconds")),
        Some(s) => Ok(Duration::from_secs(s)),
    }
}

fn hex_key(key: &str, value: &str) -> Result<Vec<u8>, ConfigError> {
    let bytes = hex::decode(value.trim()).map_err(|e| bad(key, format!("not hex ({e})")))?;
    if bytes.is_empty() || bytes.len() > 64 {
        return Err(bad(key, "a key is 1 to 64 bytes"));
    }
    Ok(bytes)
}

fn x509(key: &str, files: &X509Files, base: &Path) -> Result<X509Paths, ConfigError> {
    let check = |field: &str, path: &Path| {
        let path = base.join(path);
        if path.is_file() {
            Ok(path)
        } else {
            Err(bad(format!("{key}.{field}"), format!("{} is not a readable file", path.display())))
        }
    };
    Ok(X509Paths {
        cert: check("cert", &files.cert)?,
        key: check("key", &files.key)?,
        ca: files.ca.as_deref().map(|ca| check("ca", ca)).transpose()?,
    })
}

/// `coap://HOST:PORT` or `coaps://…` to (literal URI, address, secure).
pub(crate) fn server_uri(key: &str, uri: &str) -> Result<(String, SocketAddr, bool), ConfigError> {
    let (scheme, rest) = uri.split_once("://").ok_or_else(|| bad(key, format!("{uri:?} is not a coap:// uri")))?;
    let secure = match scheme {
        "coap" => false,
        "coaps" => true,
        other => return Err(bad(key, format!("scheme {other:?} is not coap or coaps"))),
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(bad(key, format!("{uri:?} names no host")));
    }
    let default_port = if secure { 5684 } else { 5683 };
    let addr = if let Ok(addr) = authority.parse::<SocketAddr>() {
        addr
    } else if let Ok(ip) = authority.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        SocketAddr::new(ip, default_port)
    } else {
        let with_port =
            if authority.contains(':') { authority.to_owned() } else { format!("{authority}:{default_port}") };
        with_port
            .to_socket_addrs()
            .map_err(|e| bad(key, format!("cannot resolve {authority:?} ({e})")))?
            .next()
            .ok_or_else(|| bad(key, format!("{authority:?} has no address")))?
    };
    if addr.port() == 0 {
        return Err(bad(key, "port 0 is no server"));
    }
    Ok((format!("{scheme}://{addr}"), addr, secure))
}

/// The default data directory: $XDG_DATA_HOME/lwm2m-gw/gateway, else
/// $HOME/.local/share/lwm2m-gw/gateway, else ./lwm2m-gw-gateway.
fn default_data_dir() -> PathBuf {
    if let Some(base) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(base).join("lwm2m-gw/gateway");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/lwm2m-gw/gateway");
    }
    PathBuf::from("lwm2m-gw-gateway")
}

impl Settings {
    /// Reads the file named by `--config` (if any) and merges the flags over it.
    pub(crate) fn load(args: &RunArgs) -> Result<Self, ConfigError> {
        let (file, base) = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad("--config", format!("cannot read {} ({e})", path.display())))?;
                let base = path.parent().map(Path::to_owned).unwrap_or_default();
                (parse(&text)?, base)
            }
            None => (FileConfig::default(), PathBuf::new()),
        };
        Self::resolve(file, args, &base)
    }

    /// Merges `args` over `file` (relative paths in the file are relative to `base`) and checks
    /// every value.
    pub(crate) fn resolve(file: FileConfig, args: &RunArgs, base: &Path) -> Result<Self, ConfigError> {
        let g = &file.gateway;
        let (endpoint_key, endpoint) = match (&args.endpoint, &g.endpoint) {
            (Some(ep), _) => ("--endpoint", ep.clone()),
            (None, Some(ep)) => ("gateway.endpoint", ep.clone()),
            (None, None) => return Err(bad("gateway.endpoint", "missing (or pass --endpoint)")),
        };
        let endpoint = EndpointName::new(&endpoint).map_err(|e| bad(endpoint_key, e.to_string()))?;
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| g.data_dir.as_ref().map(|d| base.join(d)))
            .unwrap_or_else(default_data_dir);
        let http = match (args.http, &g.http) {
            (Some(b), _) => b.0,
            (None, Some(text)) => bind("gateway.http", text)?,
            (None, None) => bind("gateway.http", DEFAULT_HTTP)?,
        };
        let defaults = gateway::GatewayConfig::default();
        let prefix_pattern = g.prefix_pattern.clone().unwrap_or(defaults.prefix_pattern);
        if !prefix_pattern.contains("{n}") {
            return Err(bad("gateway.prefix_pattern", "must contain {n}"));
        }
        if !(1..=3).any(|n| lwm2m::Prefix::new(&prefix_pattern.replace("{n}", &n.to_string())).is_ok()) {
            return Err(bad(
                "gateway.prefix_pattern",
                "does not yield valid prefixes (a letter first, then letters, digits, - or _)",
            ));
        }
        let device_id_pattern = g.device_id_pattern.clone().unwrap_or(defaults.device_id_pattern);
        let core = gateway::GatewayConfig {
            prefix_pattern,
            device_id_pattern,
            queue_wait: seconds("gateway.queue_wait", g.queue_wait, defaults.queue_wait)?,
            request_timeout: seconds("gateway.request_timeout", g.request_timeout, defaults.request_timeout)?,
            idle_after: seconds("gateway.idle_after", g.idle_after, defaults.idle_after)?,
            report_delay: match g.report_delay_ms {
                None => defaults.report_delay,
                Some(ms) if ms > 10_000 => return Err(bad("gateway.report_delay_ms", "must be at most 10000 ms")),
                Some(ms) => Duration::from_millis(ms),
            },
        };

        let s = &file.south;
        let south_coap = match (args.south, &s.coap) {
            (Some(b), _) => b.0,
            (None, Some(text)) => bind("south.coap", text)?,
            (None, None) => bind("south.coap", DEFAULT_SOUTH)?,
        };
        let south_coaps = match (args.south_dtls, &s.coaps) {
            (Some(b), _) => b.0,
            (None, Some(text)) => bind("south.coaps", text)?,
            (None, None) => None,
        };
        if south_coap.is_none() && south_coaps.is_none() {
            return Err(bad(
                "south",
                "both south.coap and south.coaps are off: End-Devices could not reach the gateway",
            ));
        }
        let mut south_keys = Vec::new();
        for (i, psk) in s.psk.iter().enumerate() {
            let key = format!("south.psk[{i}]");
            let endpoint =
                EndpointName::new(&psk.endpoint).map_err(|e| bad(format!("{key}.endpoint"), e.to_string()))?;
            if psk.identity.is_empty() || psk.identity.len() > 128 {
                return Err(bad(format!("{key}.identity"), "an identity is 1 to 128 bytes"));
            }
            if south_keys.iter().any(|k: &SouthKey| k.identity == psk.identity) {
                return Err(bad(format!("{key}.identity"), format!("identity {:?} is listed twice", psk.identity)));
            }
            let secret = hex_key(&format!("{key}.key"), &psk.key)?;
            south_keys.push(SouthKey { endpoint, identity: psk.identity.clone(), key: secret });
        }
        let south_x509 = s.x509.as_ref().map(|f| x509("south.x509", f, base)).transpose()?;
        if south_coaps.is_some() && south_keys.is_empty() && south_x509.is_none() {
            return Err(bad("south.coaps", "dtls needs [[south.psk]] keys or [south.x509]"));
        }

        let north_sections: Vec<NorthSection> = if args.north.is_empty() {
            file.north
        } else {
            args.north.iter().map(|uri| NorthSection { uri: uri.clone(), ..NorthSection::default() }).collect()
        };
        if north_sections.is_empty() {
            return Err(bad("north", "no distant server (add a [[north]] table or pass --north coap://IP:PORT)"));
        }
        let from_flags = !args.north.is_empty();
        let mut north: Vec<NorthServer> = Vec::new();
        for (i, n) in north_sections.iter().enumerate() {
            let key = if from_flags { "--north".to_owned() } else { format!("north[{i}]") };
            let uri_key = if from_flags { key.clone() } else { format!("{key}.uri") };
            let (uri, addr, secure) = server_uri(&uri_key, &n.uri)?;
            if north.iter().any(|other| other.addr == addr) {
                return Err(bad(uri_key, format!("{addr} is already a distant server")));
            }
            let short_server_id = n.short_server_id.unwrap_or_else(|| u16::try_from(i + 1).unwrap_or(u16::MAX));
            if short_server_id == 0 || short_server_id == u16::MAX {
                return Err(bad(format!("{key}.short_server_id"), "must be 1 to 65534"));
            }
            if north.iter().any(|other| other.short_server_id == short_server_id) {
                return Err(bad(format!("{key}.short_server_id"), format!("{short_server_id} is used twice")));
            }
            let lifetime = n.lifetime.unwrap_or(DEFAULT_LIFETIME);
            if !(30..=86_400 * 7).contains(&lifetime) {
                return Err(bad(format!("{key}.lifetime"), "must be 30 to 604800 seconds"));
            }
            let security = match (&n.psk_identity, &n.psk_key, &n.x509) {
                (None, None, None) => NorthSecurity::NoSec,
                (Some(identity), Some(psk), None) => {
                    if identity.is_empty() || identity.len() > 128 {
                        return Err(bad(format!("{key}.psk_identity"), "an identity is 1 to 128 bytes"));
                    }
                    NorthSecurity::Psk { identity: identity.clone(), key: hex_key(&format!("{key}.psk_key"), psk)? }
                }
                (None, None, Some(files)) => NorthSecurity::X509(x509(&format!("{key}.x509"), files, base)?),
                (Some(_), None, _) => return Err(bad(format!("{key}.psk_key"), "missing (psk_identity needs it)")),
                (None, Some(_), _) => return Err(bad(format!("{key}.psk_identity"), "missing (psk_key needs it)")),
                (Some(_), Some(_), Some(_)) => {
                    return Err(bad(format!("{key}.x509"), "give either a psk or a certificate, not both"))
                }
            };
            match (&security, secure) {
                (NorthSecurity::NoSec, true) => {
                    return Err(bad(uri_key, "a coaps:// server needs psk_identity/psk_key or [north.x509]"))
                }
                (NorthSecurity::Psk { .. } | NorthSecurity::X509(_), false) => {
                    return Err(bad(uri_key, "credentials given for a coap:// server; use coaps://"))
                }
                _ => {}
            }
            north.push(NorthServer { uri, addr, short_server_id, lifetime, security });
        }
        Ok(Self {
            endpoint,
            data_dir,
            http,
            core,
            south_coap,
            south_coaps,
            allow_unknown_nosec: s.allow_unknown_nosec.unwrap_or(true),
            south_keys,
            south_x509,
            north,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Settings, ConfigError> {
        Settings::resolve(parse(text)?, &RunArgs::default(), Path::new(""))
    }

    const MINIMAL: &str = "[gateway]\nendpoint = \"gw1\"\n[[north]]\nuri = \"coap://127.0.0.1:5683\"\n";

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let settings = resolve(MINIMAL).expect("valid");
        assert_eq!(settings.endpoint.as_str(), "gw1");
        assert_eq!(settings.south_coap, Some("0.0.0.0:5683".parse().expect("addr")));
        assert_eq!(settings.south_coaps, None);
        assert_eq!(settings.http, Some("127.0.0.1:8090".parse().expect("addr")));
        assert_eq!(settings.north.len(), 1);
        assert_eq!(settings.north[0].short_server_id, 1);
        assert_eq!(settings.north[0].lifetime, 300);
        assert_eq!(settings.core, gateway::GatewayConfig::default());
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_path() {
        let error = resolve(&format!("{MINIMAL}lifetme = 3\n")).expect_err("typo");
        assert_eq!(error.key, "north[0].lifetme");
        assert!(error.reason.contains("unknown field `lifetme`"), "{error}");
        let error = resolve("[gateway]\nendpont = \"gw1\"\n").expect_err("typo");
        assert!(error.to_string().starts_with("gateway.endpont: unknown field `endpont`"), "{error}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let error = resolve("[gateway]\nendpoint = \"gw1\"\nqueue_wait = \"long\"\n").expect_err("type");
        assert_eq!(error.key, "gateway.queue_wait");
    }

    #[test]
    fn bad_values_name_their_key_and_reason() {
        let cases = [
            ("[gateway]\nendpoint = \"gw1\"\n", "north"),
            (&format!("{MINIMAL}[south]\ncoap = \"nowhere\"\n"), "south.coap"),
            (&format!("{MINIMAL}[south]\ncoap = \"off\"\n"), "south"),
            (&format!("{MINIMAL}[south]\ncoaps = \"127.0.0.1:0\"\n"), "south.coaps"),
            ("[gateway]\nendpoint = \"gw1\"\n[[north]]\nuri = \"http://x\"\n", "north[0].uri"),
            ("[gateway]\nendpoint = \"gw1\"\n[[north]]\nuri = \"coaps://127.0.0.1:5684\"\n", "north[0].uri"),
            (
                "[gateway]\nendpoint = \"gw1\"\n[[north]]\nuri = \"coaps://127.0.0.1:5684\"\npsk_identity = \"a\"\npsk_key = \"zz\"\n",
                "north[0].psk_key",
            ),
            (&format!("{MINIMAL}[[north]]\nuri = \"coap://127.0.0.1:5683\"\n"), "north[1].uri"),
            (&format!("{MINIMAL}lifetime = 5\n"), "north[0].lifetime"),
            ("[gateway]\nendpoint = \"gw1\"\nprefix_pattern = \"{n}\"\n[[north]]\nuri = \"coap://127.0.0.1:5683\"\n", "gateway.prefix_pattern"),
            ("[gateway]\nendpoint = \"gw1\"\nidle_after = 0\n[[north]]\nuri = \"coap://127.0.0.1:5683\"\n", "gateway.idle_after"),
            (
                "[gateway]\nendpoint = \"gw1\"\nreport_delay_ms = 10001\n[[north]]\nuri = \"coap://127.0.0.1:5683\"\n",
                "gateway.report_delay_ms",
            ),
        ];
        for (text, key) in cases {
            let error = resolve(text).expect_err(text);
            assert_eq!(error.key, key, "{text}: {error}");
            assert!(!error.reason.is_empty());
        }
    }

    #[test]
    fn flags_win_over_the_file() {
        let args = RunArgs {
            endpoint: Some("gw2".into()),
            south: Some(Bind(Some("127.0.0.1:5783".parse().expect("addr")))),
            north: vec!["coap://127.0.0.1:6000".into(), "coap://127.0.0.1:6001".into()],
            http: Some(Bind(None)),
            ..RunArgs::default()
        };
        let settings = Settings::resolve(parse(MINIMAL).expect("parses"), &args, Path::new("")).expect("valid");
        assert_eq!(settings.endpoint.as_str(), "gw2");
        assert_eq!(settings.south_coap, Some("127.0.0.1:5783".parse().expect("addr")));
        assert_eq!(settings.http, None);
        let ids: Vec<u16> = settings.north.iter().map(|n| n.short_server_id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(settings.north[1].uri, "coap://127.0.0.1:6001");
    }

    #[test]
    fn the_documented_example_is_valid() {
        let text = include_str!("../../../../docs/gateway.toml");
        let file = parse(text).expect("docs/gateway.toml parses");
        let settings = Settings::resolve(file, &RunArgs::default(), Path::new("")).expect("docs/gateway.toml is valid");
        assert_eq!(settings.endpoint.as_str(), "gw1");
    }
}
