//! `lwm2m-gw decode` and `encode`: payloads ⇄ JSON leaves, for humans debugging devices.
//!
//! The JSON shape is flat, one object per resource or resource instance, so that it reads the
//! same whatever the format nested: `{"path", "type", "value"[, "prefix"][, "time"]}`.
//! Opaque values are lowercase hex, object links `"3:0"`, times integer seconds.

use std::io::{Read, Write};
use std::path::Path as FsPath;

use anyhow::{bail, Context, Result};
use coap::ContentFormat;
use lwm2m::format::link::{self, Link, LinkAttribute};
use lwm2m::{DataType, Path, Prefix, PrefixedPath, Record, Registry, Value};
use serde_json::{json, Map, Number};

use crate::cli::{DecodeArgs, EncodeArgs};

pub(crate) fn decode(args: &DecodeArgs) -> Result<()> {
    let payload = match (&args.hex, &args.file) {
        (Some(h), _) => parse_hex(h)?,
        (None, Some(f)) => std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("cannot read standard input")?;
            buf
        }
    };
    let out = decode_to_json(args.content_format, &payload, &args.path, args.model_dir.as_deref())?;
    println!("{}", serde_json::to_string_pretty(&out).expect("a JSON value always serialises"));
    Ok(())
}

pub(crate) fn encode(args: &EncodeArgs) -> Result<()> {
    let text = match (&args.json, &args.file) {
        (Some(j), _) => j.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("cannot read standard input")?;
            s
        }
    };
    let input: serde_json::Value = serde_json::from_str(&text).context("input is not valid JSON")?;
    let bytes = encode_from_json(args.content_format, &input, args.path.as_deref(), args.model_dir.as_deref())?;
    let mut stdout = std::io::stdout().lock();
    if args.raw {
        stdout.write_all(&bytes)?;
    } else {
        writeln!(stdout, "{}", hex::encode(&bytes))?;
    }
    Ok(())
}

fn registry(model_dir: Option<&FsPath>) -> Result<Registry> {
    let mut registry = Registry::bundled();
    if let Some(dir) = model_dir {
        registry.load_dir(dir).with_context(|| format!("cannot load object models from {}", dir.display()))?;
    }
    Ok(registry)
}

/// Decodes `payload` of format `cf` into the JSON the `decode` command prints.
pub(crate) fn decode_to_json(
    cf: u16,
    payload: &[u8],
    target: &str,
    model_dir: Option<&FsPath>,
) -> Result<serde_json::Value> {
    let cf = ContentFormat(cf);
    if cf == ContentFormat::LINK_FORMAT {
        let text = std::str::from_utf8(payload).context("link-format payload is not UTF-8")?;
        let links = link::parse(text)?;
        return Ok(json!({ "links": links.iter().map(link_to_json).collect::<Vec<_>>() }));
    }
    let target: PrefixedPath = target.parse().with_context(|| format!("bad --path {target:?}"))?;
    let registry = registry(model_dir)?;
    let records = lwm2m::format::decode(cf, payload, &target, &registry)
        .with_context(|| format!("cannot decode content format {} for {target}", cf.0))?;
    Ok(serde_json::Value::Array(records.iter().map(record_to_json).collect()))
}

/// Encodes the JSON `decode` prints back into a payload of format `cf`.
pub(crate) fn encode_from_json(
    cf: u16,
    input: &serde_json::Value,
    target: Option<&str>,
    model_dir: Option<&FsPath>,
) -> Result<Vec<u8>> {
    let cf = ContentFormat(cf);
    if cf == ContentFormat::LINK_FORMAT {
        let links = input
            .get("links")
            .and_then(|l| l.as_array())
            .context("link-format input must be {\"links\": [...]}")?
            .iter()
            .enumerate()
            .map(|(i, l)| link_from_json(l).with_context(|| format!("links[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        return Ok(link::encode(&links).into_bytes());
    }
    let leaves = input.as_array().context("input must be a JSON array of leaves")?;
    let registry = registry(model_dir)?;
    let records = leaves
        .iter()
        .enumerate()
        .map(|(i, leaf)| record_from_json(leaf, &registry).with_context(|| format!("leaf {i}")))
        .collect::<Result<Vec<_>>>()?;
    let target = match target {
        Some(t) => t.parse().with_context(|| format!("bad --path {t:?}"))?,
        None => common_target(&records),
    };
    lwm2m::format::encode(cf, &records, &target, &registry)
        .with_context(|| format!("cannot encode content format {} for {target}", cf.0))
}

/// The deepest path all records share: a single record answers its own path.
fn common_target(records: &[Record]) -> PrefixedPath {
    let Some(first) = records.first() else { return PrefixedPath::plain(Path::Root) };
    let mut ids = first.path.path.ids();
    let mut prefix = first.path.prefix.clone();
    for r in &records[1..] {
        if r.path.prefix != prefix {
            prefix = None;
            ids.clear();
        }
        let theirs = r.path.path.ids();
        let shared = ids.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
        ids.truncate(shared);
    }
    PrefixedPath { prefix, path: Path::from_ids(&ids).expect("a prefix of a valid path is valid") }
}

fn record_to_json(record: &Record) -> serde_json::Value {
    let mut leaf = Map::new();
    leaf.insert("path".into(), record.path.path.to_string().into());
    if let Some(prefix) = &record.path.prefix {
        leaf.insert("prefix".into(), prefix.as_str().into());
    }
    leaf.insert("type".into(), record.value.data_type().name().into());
    leaf.insert("value".into(), value_to_json(&record.value));
    if let Some(t) = record.time {
        leaf.insert("time".into(), number_from_f64(t));
    }
    serde_json::Value::Object(leaf)
}

fn number_from_f64(f: f64) -> serde_json::Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        (f as i64).into()
    } else {
        Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::String(s) | Value::CoreLnk(s) => s.clone().into(),
        Value::Integer(i) | Value::Time(i) => (*i).into(),
        Value::Unsigned(u) => (*u).into(),
        Value::Float(f) => Number::from_f64(*f).map_or_else(|| f.to_string().into(), serde_json::Value::Number),
        Value::Boolean(b) => (*b).into(),
        Value::Opaque(bytes) => hex::encode(bytes).into(),
        Value::ObjLnk(o, i) => format!("{o}:{i}").into(),
        Value::None => serde_json::Value::Null,
    }
}

fn record_from_json(leaf: &serde_json::Value, registry: &Registry) -> Result<Record> {
    let obj = leaf.as_object().context("a leaf must be a JSON object")?;
    let path_text = obj.get("path").and_then(|p| p.as_str()).context("\"path\" is missing or not a string")?;
    let path: Path = path_text.parse().with_context(|| format!("bad path {path_text:?}"))?;
    if path.depth() < 3 {
        bail!("path {path} is not a resource or resource instance");
    }
    let prefix = match obj.get("prefix") {
        None | Some(serde_json::Value::Null) => None,
        Some(p) => {
            let text = p.as_str().context("\"prefix\" must be a string")?;
            Some(Prefix::new(text)?)
        }
    };
    let data_type = match obj.get("type") {
        Some(t) => {
            let name = t.as_str().context("\"type\" must be a string")?;
            DataType::from_name(name).with_context(|| format!("unknown type {name:?}"))?
        }
        None => registry.data_type(&path).with_context(|| format!("\"type\" is missing and {path} has no model"))?,
    };
    let raw = obj.get("value").unwrap_or(&serde_json::Value::Null);
    let value = value_from_json(raw, data_type).with_context(|| format!("{path}: bad {data_type} value {raw}"))?;
    let time = match obj.get("time") {
        None | Some(serde_json::Value::Null) => None,
        Some(t) => Some(t.as_f64().context("\"time\" must be a number")?),
    };
    Ok(Record { path: PrefixedPath { prefix, path }, value, time })
}

fn value_from_json(raw: &serde_json::Value, data_type: DataType) -> Result<Value> {
    use serde_json::Value as J;
    Ok(match (data_type, raw) {
        (DataType::String, J::String(s)) => Value::String(s.clone()),
        (DataType::CoreLnk, J::String(s)) => Value::CoreLnk(s.clone()),
        (DataType::Integer, J::Number(n)) => Value::Integer(n.as_i64().context("not a 64-bit signed integer")?),
        (DataType::Time, J::Number(n)) => Value::Time(n.as_i64().context("not integer seconds")?),
        (DataType::Unsigned, J::Number(n)) => Value::Unsigned(n.as_u64().context("not a 64-bit unsigned integer")?),
        (DataType::Float, J::Number(n)) => Value::Float(n.as_f64().context("not a number")?),
        (DataType::Boolean, J::Bool(b)) => Value::Boolean(*b),
        (DataType::Opaque, J::String(s)) => Value::Opaque(parse_hex(s)?),
        (DataType::ObjLnk, J::String(s)) => {
            let (o, i) = s.split_once(':').context("an object link is \"oid:iid\"")?;
            Value::ObjLnk(o.parse().context("bad object ID")?, i.parse().context("bad instance ID")?)
        }
        (DataType::None, J::Null) => Value::None,
        _ => bail!("wrong JSON kind for this type"),
    })
}

fn link_to_json(link: &Link) -> serde_json::Value {
    let attributes: Vec<serde_json::Value> = link
        .attributes
        .iter()
        .map(|a| match &a.value {
            Some(v) => json!({ "name": a.name, "value": v }),
            None => json!({ "name": a.name }),
        })
        .collect();
    json!({ "uri": link.uri, "attributes": attributes })
}

fn link_from_json(value: &serde_json::Value) -> Result<Link> {
    let uri = value.get("uri").and_then(|u| u.as_str()).context("\"uri\" is missing or not a string")?;
    let mut attributes = Vec::new();
    if let Some(list) = value.get("attributes") {
        for a in list.as_array().context("\"attributes\" must be an array")? {
            let name = a.get("name").and_then(|n| n.as_str()).context("attribute \"name\" missing")?;
            let value = match a.get("value") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            attributes.push(LinkAttribute { name: name.to_owned(), value });
        }
    }
    Ok(Link { uri: uri.to_owned(), attributes })
}

/// Hex as people paste it: spaces, newlines, colons and a leading `0x` are ignored.
fn parse_hex(text: &str) -> Result<Vec<u8>> {
    let text = text.trim();
    let text = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    let digits: String = text.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
    if let Some((i, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        bail!("invalid hex: {c:?} at position {i}");
    }
    if !digits.len().is_multiple_of(2) {
        bail!("invalid hex: odd number of digits ({})", digits.len());
    }
    Ok(hex::decode(&digits).expect("checked: even count of hex digits"))
}
