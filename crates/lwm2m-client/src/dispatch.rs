//! Device Management & Service Enablement requests (Core TS §6.3, spec notes §2.3): one CoAP
//! request from a registered server becomes one LwM2M operation on the [`ObjectTree`] and one
//! response with the right code.
//!
//! Codes are chosen in one place: `impl From<&DmError> for Code`. Writes are validated against
//! the model for every record before any object is touched, so a request applies whole or not
//! at all.

use std::collections::BTreeMap;
use std::time::Instant;

use coap::{Code, ContentFormat, OptionNumber, Request, Response};
use lwm2m::format::link::Link;
use lwm2m::format::senml;
use lwm2m::{
    AttributeChanges, AttributeStore, ExecuteArguments, FormatError, Path, PrefixedPath, Record, Value, Version,
};

use crate::acl::{self, Right};
use crate::object::{ObjectError, ResourceChange, ResourceValue, ServerId};
use crate::tree::ObjectTree;

/// Why an operation failed; each maps to one response code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmError {
    /// 4.00: malformed request or payload.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 4.01: the server has no right to do this.
    #[error("access to {0} denied")]
    Unauthorized(Path),
    /// 4.04: no such object, instance or resource.
    #[error("{0} not found")]
    NotFound(Path),
    /// 4.05: the operation is not allowed on this target.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// 4.06: the Accept format cannot carry the answer.
    #[error("content format {0} not acceptable")]
    NotAcceptable(u16),
    /// 4.15: the payload's content format is not supported.
    #[error("content format {0} not supported")]
    UnsupportedContentFormat(u16),
    /// 5.00: an object failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<&DmError> for Code {
    fn from(error: &DmError) -> Self {
        match error {
            DmError::BadRequest(_) => Self::BAD_REQUEST,
            DmError::Unauthorized(_) => Self::UNAUTHORIZED,
            DmError::NotFound(_) => Self::NOT_FOUND,
            DmError::NotAllowed(_) => Self::METHOD_NOT_ALLOWED,
            DmError::NotAcceptable(_) => Self::NOT_ACCEPTABLE,
            DmError::UnsupportedContentFormat(_) => Self::UNSUPPORTED_CONTENT_FORMAT,
            DmError::Internal(_) => Self::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ObjectError> for DmError {
    fn from(error: ObjectError) -> Self {
        match error {
            ObjectError::NotFound(path) => Self::NotFound(path),
            ObjectError::NotAllowed(path) => Self::NotAllowed(format!("operation on {path}")),
            ObjectError::BadValue { .. } => Self::BadRequest(error.to_string()),
            ObjectError::Internal { .. } => Self::Internal(error.to_string()),
        }
    }
}

/// A payload that cannot be decoded.
fn decode_error(error: FormatError) -> DmError {
    match error {
        FormatError::UnsupportedFormat(cf) => DmError::UnsupportedContentFormat(cf),
        other => DmError::BadRequest(other.to_string()),
    }
}

/// An answer that cannot be encoded in the asked format.
fn encode_error(error: FormatError, cf: ContentFormat) -> DmError {
    match error {
        FormatError::UnsupportedFormat(_) | FormatError::Unrepresentable { .. } => DmError::NotAcceptable(cf.0),
        other => DmError::Internal(other.to_string()),
    }
}

/// Formats the client can answer in.
const OUTPUT_FORMATS: [ContentFormat; 8] = [
    ContentFormat::TEXT,
    ContentFormat::OPAQUE,
    ContentFormat::CBOR,
    ContentFormat::TLV,
    ContentFormat::SENML_JSON,
    ContentFormat::SENML_CBOR,
    ContentFormat::LWM2M_CBOR,
    ContentFormat::OMA_JSON,
];

/// The formats listed on the root link of a 1.1 registration (besides the mandatory ones).
pub const ADVERTISED_FORMATS: [u16; 4] = [110, 112, 11542, 11544];

/// Encodes `records` for `target` in `accept`, or in the default for the server's version:
/// text (opaque for bytes) for one single value, TLV for 1.0, SenML CBOR for 1.1.
pub(crate) fn encode(
    tree: &ObjectTree,
    records: &[Record],
    target: &Path,
    accept: Option<ContentFormat>,
    version: Version,
) -> Result<(ContentFormat, Vec<u8>), DmError> {
    let cf = match accept {
        Some(cf) if OUTPUT_FORMATS.contains(&cf) => cf,
        Some(cf) => return Err(DmError::NotAcceptable(cf.0)),
        None => default_format(records, target, version),
    };
    let payload = lwm2m::format::encode(cf, records, &PrefixedPath::plain(*target), tree.registry())
        .map_err(|e| encode_error(e, cf))?;
    Ok((cf, payload))
}

fn default_format(records: &[Record], target: &Path, version: Version) -> ContentFormat {
    let single_leaf = matches!(target, Path::Resource(..) | Path::ResourceInstance(..))
        && records.len() == 1
        && records.first().is_some_and(|r| r.path.path == *target);
    match records.first() {
        Some(Record { value: Value::Opaque(_), .. }) if single_leaf => ContentFormat::OPAQUE,
        _ if single_leaf => ContentFormat::TEXT,
        _ if version == Version::V1_0 => ContentFormat::TLV,
        _ => ContentFormat::SENML_CBOR,
    }
}

/// Parses the Uri-Path of a request into an LwM2M path; anything else is 4.04.
pub(crate) fn request_path(request: &Request) -> Result<Path, DmError> {
    let text = request.path();
    text.parse::<PrefixedPath>()
        .ok()
        .filter(|p| p.prefix.is_none())
        .map(|p| p.path)
        .ok_or(DmError::NotFound(Path::Root))
}

/// What a request did besides its response, for the engine.
#[derive(Debug, Default)]
pub(crate) struct DmOutcome {
    /// Resources whose values a write changed.
    pub changed: Vec<Path>,
    /// Whether instances were created or deleted (the object list changed).
    pub instances_changed: bool,
    /// Whether notification attributes changed.
    pub attributes_changed: bool,
    /// LwM2M 1.0 Write-Attributes `cancel`: end this server's observations of the path.
    pub cancel_observations: Option<Path>,
    /// An observation to start if the response is a success.
    pub observe: Option<ObserveTarget>,
}

/// What an accepted Observe watches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObserveTarget {
    /// One path, or several for Observe-Composite.
    pub paths: Vec<Path>,
    /// Whether it came as Observe-Composite.
    pub composite: bool,
    /// The format of the first answer; notifications keep it.
    pub format: ContentFormat,
    /// The records of the first answer.
    pub records: Vec<Record>,
}

/// The requesting server and what it may do.
#[derive(Debug)]
pub(crate) struct DmContext<'a> {
    pub now: Instant,
    pub tree: &'a mut ObjectTree,
    pub server: ServerId,
    pub version: Version,
    pub attributes: &'a mut AttributeStore,
    pub enforce_acl: bool,
}

impl DmContext<'_> {
    fn check(&self, path: &Path, right: Right) -> Result<(), DmError> {
        let ids = path.ids();
        let (Some(&o), instance) = (ids.first(), ids.get(1).copied()) else { return Ok(()) };
        if o == 0 || o == 21 || o == 23 {
            return Err(DmError::Unauthorized(*path));
        }
        if !self.enforce_acl || o == crate::objects::acl::OBJECT_ID {
            return Ok(());
        }
        let allowed = match instance {
            Some(i) => acl::allowed(self.tree, self.now, self.server, o, i, right),
            None if right == Right::Create => acl::allowed(self.tree, self.now, self.server, o, 65535, right),
            // Object-level reads: rights on at least one instance are checked per instance below.
            None => true,
        };
        if allowed {
            Ok(())
        } else {
            Err(DmError::Unauthorized(*path))
        }
    }

    /// Drops the records of instances the server may not read.
    fn filter_readable(&self, records: Vec<Record>) -> Vec<Record> {
        if !self.enforce_acl {
            return records;
        }
        records
            .into_iter()
            .filter(|r| match r.path.path.ids().as_slice() {
                [o, i, ..] => *o == 2 || acl::allowed(self.tree, self.now, self.server, *o, *i, Right::Read),
                _ => true,
            })
            .collect()
    }

    /// The records a server sees at `path` (Read, Observe, composite members).
    pub(crate) fn read_records(&self, path: &Path) -> Result<Vec<Record>, DmError> {
        self.check(path, Right::Read)?;
        let records = self.tree.records(self.now, path, true)?;
        Ok(self.filter_readable(records))
    }
}

/// Handles one DM request. `observe`: the endpoint accepted it as an Observe registration.
pub(crate) fn handle(ctx: &mut DmContext<'_>, request: &Request, observe: bool) -> (Response, DmOutcome) {
    let mut outcome = DmOutcome::default();
    let response = match route(ctx, request, observe, &mut outcome) {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(%error, path = %request.path(), "request refused");
            outcome = DmOutcome::default();
            Response::new(Code::from(&error))
        }
    };
    (response, outcome)
}

fn route(
    ctx: &mut DmContext<'_>,
    request: &Request,
    observe: bool,
    outcome: &mut DmOutcome,
) -> Result<Response, DmError> {
    let path = request_path(request)?;
    let accept = request.options.accept();
    match request.method {
        Code::GET if accept == Some(ContentFormat::LINK_FORMAT) => discover(ctx, request, &path),
        Code::GET => {
            if path == Path::Root {
                return Err(DmError::NotAllowed("read on /".to_owned()));
            }
            let records = ctx.read_records(&path)?;
            let (cf, payload) = encode(ctx.tree, &records, &path, accept, ctx.version)?;
            if observe {
                outcome.observe = Some(ObserveTarget { paths: vec![path], composite: false, format: cf, records });
            }
            Ok(Response::content(cf, payload))
        }
        Code::FETCH if path == Path::Root => read_composite(ctx, request, observe, outcome),
        Code::IPATCH if path == Path::Root => write_composite(ctx, request, outcome),
        Code::PUT if request.payload.is_empty() && request.options.content_format().is_none() => {
            write_attributes(ctx, request, &path, outcome)
        }
        Code::PUT => {
            if !matches!(path, Path::Instance(..) | Path::Resource(..) | Path::ResourceInstance(..)) {
                return Err(DmError::NotAllowed(format!("write on {path}")));
            }
            ctx.check(&path, Right::Write)?;
            let records = decode(ctx.tree, request, &path)?;
            outcome.changed = apply_write(ctx.tree, ctx.now, &path, records, WriteMode::Replace)?;
            Ok(Response::new(Code::CHANGED))
        }
        Code::POST => match path {
            Path::Object(o) => create(ctx, request, o, outcome),
            Path::Instance(..) => {
                ctx.check(&path, Right::Write)?;
                let records = decode(ctx.tree, request, &path)?;
                outcome.changed = apply_write(ctx.tree, ctx.now, &path, records, WriteMode::Update)?;
                Ok(Response::new(Code::CHANGED))
            }
            Path::Resource(o, i, r) => {
                let model = ctx.tree.resource_model(o, r);
                let writable_multiple = model.is_some_and(|m| m.multiple && m.operations.write);
                if writable_multiple && request.options.content_format().is_some() {
                    ctx.check(&path, Right::Write)?;
                    let records = decode(ctx.tree, request, &path)?;
                    outcome.changed = apply_write(ctx.tree, ctx.now, &path, records, WriteMode::Update)?;
                    return Ok(Response::new(Code::CHANGED));
                }
                execute(ctx, request, o, i, r)
            }
            _ => Err(DmError::NotAllowed(format!("post on {path}"))),
        },
        Code::DELETE => delete(ctx, &path, outcome),
        _ => Err(DmError::NotAllowed(format!("method {} on {path}", request.method))),
    }
}

fn decode(tree: &ObjectTree, request: &Request, target: &Path) -> Result<Vec<Record>, DmError> {
    let cf = request
        .options
        .content_format()
        .ok_or_else(|| DmError::BadRequest("a write needs a content format".to_owned()))?;
    lwm2m::format::decode(cf, &request.payload, &PrefixedPath::plain(*target), tree.registry()).map_err(decode_error)
}

fn discover(ctx: &DmContext<'_>, request: &Request, path: &Path) -> Result<Response, DmError> {
    if matches!(path, Path::Root | Path::ResourceInstance(..)) {
        return Err(DmError::NotAllowed(format!("discover on {path}")));
    }
    if matches!(path.object_id(), Some(0 | 21 | 23)) {
        return Err(DmError::Unauthorized(*path));
    }
    let depth = match request.options.uri_query().iter().find_map(|q| q.strip_prefix("depth=")) {
        Some(d) => d
            .parse::<usize>()
            .ok()
            .filter(|d| *d <= 3)
            .ok_or_else(|| DmError::BadRequest("depth must be 0..=3".to_owned()))?,
        None => match path {
            Path::Object(_) => 2,
            Path::Instance(..) => 1,
            _ => 0,
        },
    };
    let links = ctx.tree.discover_links(ctx.now, path, depth)?;
    let links: Vec<Link> = links
        .into_iter()
        .map(|(p, mut link)| {
            if let Some(attrs) = ctx.attributes.get(&p) {
                link.attributes.extend(attrs.to_link_attributes());
            }
            link
        })
        .collect();
    Ok(Response::content(ContentFormat::LINK_FORMAT, lwm2m::format::link::encode(&links)))
}

fn composite_formats(request: &Request) -> Result<(ContentFormat, ContentFormat), DmError> {
    let cf = request
        .options
        .content_format()
        .ok_or_else(|| DmError::BadRequest("a composite request needs a content format".to_owned()))?;
    if cf != ContentFormat::SENML_JSON && cf != ContentFormat::SENML_CBOR {
        return Err(DmError::UnsupportedContentFormat(cf.0));
    }
    let accept = request.options.accept().unwrap_or(cf);
    if ![ContentFormat::SENML_JSON, ContentFormat::SENML_CBOR, ContentFormat::LWM2M_CBOR].contains(&accept) {
        return Err(DmError::NotAcceptable(accept.0));
    }
    Ok((cf, accept))
}

/// The records of several paths (Read-/Observe-Composite); paths without data are skipped.
pub(crate) fn composite_records(ctx: &DmContext<'_>, paths: &[Path]) -> Result<Vec<Record>, DmError> {
    let mut records = Vec::new();
    for path in paths {
        match ctx.read_records(path) {
            Ok(found) => records.extend(found),
            Err(DmError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(records)
}

fn read_composite(
    ctx: &DmContext<'_>,
    request: &Request,
    observe: bool,
    outcome: &mut DmOutcome,
) -> Result<Response, DmError> {
    let (cf, accept) = composite_formats(request)?;
    let paths: Vec<Path> = senml::decode_paths(cf, &request.payload)
        .map_err(decode_error)?
        .into_iter()
        .map(|p| if p.prefix.is_none() { Ok(p.path) } else { Err(DmError::NotFound(Path::Root)) })
        .collect::<Result<_, _>>()?;
    let records = composite_records(ctx, &paths)?;
    let payload = lwm2m::format::encode(accept, &records, &PrefixedPath::plain(Path::Root), ctx.tree.registry())
        .map_err(|e| encode_error(e, accept))?;
    if observe {
        outcome.observe = Some(ObserveTarget { paths, composite: true, format: accept, records });
    }
    Ok(Response::content(accept, payload))
}

fn write_composite(ctx: &mut DmContext<'_>, request: &Request, outcome: &mut DmOutcome) -> Result<Response, DmError> {
    let cf = request.options.content_format().unwrap_or(ContentFormat::TEXT);
    if cf != ContentFormat::SENML_JSON && cf != ContentFormat::SENML_CBOR && cf != ContentFormat::LWM2M_CBOR {
        return Err(DmError::UnsupportedContentFormat(cf.0));
    }
    let records = lwm2m::format::decode(cf, &request.payload, &PrefixedPath::plain(Path::Root), ctx.tree.registry())
        .map_err(decode_error)?;
    for record in &records {
        ctx.check(&record.path.path, Right::Write)?;
    }
    outcome.changed = apply_write(ctx.tree, ctx.now, &Path::Root, records, WriteMode::Update)?;
    Ok(Response::new(Code::CHANGED))
}

fn write_attributes(
    ctx: &mut DmContext<'_>,
    request: &Request,
    path: &Path,
    outcome: &mut DmOutcome,
) -> Result<Response, DmError> {
    if *path == Path::Root {
        return Err(DmError::NotAllowed("write-attributes on /".to_owned()));
    }
    ctx.check(path, Right::Read)?;
    if !ctx.tree.exists(ctx.now, path) {
        return Err(DmError::NotFound(*path));
    }
    let changes =
        AttributeChanges::from_query(&request.options.uri_query()).map_err(|e| DmError::BadRequest(e.to_string()))?;
    let data_type = ctx.tree.registry().data_type(path);
    ctx.attributes.write(path, &changes, data_type).map_err(|e| DmError::BadRequest(e.to_string()))?;
    outcome.attributes_changed = true;
    if changes.cancel {
        outcome.cancel_observations = Some(*path);
    }
    Ok(Response::new(Code::CHANGED))
}

fn execute(ctx: &mut DmContext<'_>, request: &Request, o: u16, i: u16, r: u16) -> Result<Response, DmError> {
    let path = Path::Resource(o, i, r);
    ctx.check(&path, Right::Execute)?;
    if ctx.tree.object(o).is_none() {
        return Err(DmError::NotFound(Path::Object(o)));
    }
    if !ctx.tree.exists(ctx.now, &Path::Instance(o, i)) {
        return Err(DmError::NotFound(Path::Instance(o, i)));
    }
    match ctx.tree.resource_model(o, r) {
        Some(model) if !model.operations.execute => {
            return Err(DmError::NotAllowed(format!("{path} is not executable")))
        }
        None if ctx.tree.registry().object(o).is_some() => return Err(DmError::NotFound(path)),
        _ => {}
    }
    if let Some(cf) = request.options.content_format() {
        if cf != ContentFormat::TEXT {
            return Err(DmError::UnsupportedContentFormat(cf.0));
        }
    }
    let arguments = ExecuteArguments::parse(&request.payload).map_err(|e| DmError::BadRequest(e.to_string()))?;
    let object = ctx.tree.object_mut(o).ok_or(DmError::NotFound(Path::Object(o)))?;
    object.execute(ctx.now, i, r, &arguments)?;
    Ok(Response::new(Code::CHANGED))
}

/// The reserved instance ID a Create payload uses for "the client picks the ID".
const PLACEHOLDER_INSTANCE: u16 = u16::MAX;

fn create(ctx: &mut DmContext<'_>, request: &Request, o: u16, outcome: &mut DmOutcome) -> Result<Response, DmError> {
    let path = Path::Object(o);
    ctx.check(&path, Right::Create)?;
    if ctx.tree.object(o).is_none() {
        return Err(DmError::NotFound(path));
    }
    let free = ctx.tree.free_instance(o).ok_or_else(|| DmError::BadRequest("no free instance id".to_owned()))?;
    let decoded = if request.payload.is_empty() { Ok(Vec::new()) } else { decode(ctx.tree, request, &path) };
    let (records, picked) = match decoded {
        Ok(records) => (records, None),
        Err(DmError::BadRequest(_)) if request.options.content_format() == Some(ContentFormat::TLV) => {
            (decode(ctx.tree, request, &Path::Instance(o, free))?, Some(free))
        }
        Err(other) => return Err(other),
    };
    let mut by_instance: BTreeMap<u16, Vec<Record>> = BTreeMap::new();
    for record in records {
        let Some(&i) = record.path.path.ids().get(1) else { continue };
        by_instance.entry(i).or_default().push(record);
    }
    let existing = ctx.tree.object(o).map(|obj| obj.instances()).unwrap_or_default();
    // Instance 65535 is reserved: a payload naming it leaves the ID to the client (LwM2M CBOR,
    // and SenML from servers that use it as the placeholder too).
    let mut picked = picked;
    if let Some(records) = by_instance.remove(&PLACEHOLDER_INSTANCE) {
        let free = (0..PLACEHOLDER_INSTANCE)
            .find(|i| !existing.contains(i) && !by_instance.contains_key(i))
            .ok_or_else(|| DmError::BadRequest("no free instance id".to_owned()))?;
        let records = records
            .into_iter()
            .map(|mut record| {
                let mut ids = record.path.path.ids();
                if let Some(instance) = ids.get_mut(1) {
                    *instance = free;
                }
                record.path.path = Path::from_ids(&ids).unwrap_or(record.path.path);
                record
            })
            .collect();
        by_instance.insert(free, records);
        picked = Some(free);
    }
    if by_instance.is_empty() {
        // An empty payload creates instance `free` with no resources.
        by_instance.insert(picked.unwrap_or(free), Vec::new());
    }
    let single = ctx.tree.registry().object(o).is_some_and(|m| !m.multiple);
    for i in by_instance.keys() {
        if existing.contains(i) || (single && (!existing.is_empty() || *i != 0 || by_instance.len() > 1)) {
            return Err(DmError::BadRequest(format!("instance /{o}/{i} cannot be created")));
        }
    }
    let mut prepared = Vec::with_capacity(by_instance.len());
    for (i, records) in by_instance {
        let groups = group_records(ctx.tree, records, &Path::Instance(o, i), Leniency::SkipUnwritable)?;
        let values: BTreeMap<u16, ResourceValue> =
            groups.into_iter().next().map(|(_, resources)| resources.into_iter().collect()).unwrap_or_default();
        // Mandatory resources a server can write must come with the Create (Core TS §6.3.6).
        if let Some(model) = ctx.tree.registry().object(o) {
            let missing =
                model.resources.values().find(|r| r.mandatory && r.operations.write && !values.contains_key(&r.id));
            if let Some(missing) = missing {
                return Err(DmError::BadRequest(format!("create of /{o}/{i} lacks mandatory resource {}", missing.id)));
            }
        }
        prepared.push((i, values));
    }
    let created: Vec<u16> = prepared.iter().map(|(i, _)| *i).collect();
    let object = ctx.tree.object_mut(o).ok_or(DmError::NotFound(path))?;
    for (i, values) in prepared {
        object.create(ctx.now, i, values)?;
    }
    for i in &created {
        acl::on_created(ctx.tree, ctx.now, ctx.server, o, *i);
    }
    outcome.instances_changed = true;
    let mut response = Response::new(Code::CREATED);
    let chosen = picked.or_else(|| request.payload.is_empty().then_some(free));
    if let Some(i) = chosen.filter(|i| created.contains(i)) {
        response = response.with_option(OptionNumber::LOCATION_PATH, o.to_string().into_bytes());
        response = response.with_option(OptionNumber::LOCATION_PATH, i.to_string().into_bytes());
    }
    Ok(response)
}

fn delete(ctx: &mut DmContext<'_>, path: &Path, outcome: &mut DmOutcome) -> Result<Response, DmError> {
    match *path {
        Path::Instance(o, i) => {
            ctx.check(path, Right::Delete)?;
            if o == 3 && i == 0 {
                return Err(DmError::NotAllowed("/3/0 cannot be deleted".to_owned()));
            }
            let object = ctx.tree.object_mut(o).ok_or(DmError::NotFound(Path::Object(o)))?;
            object.delete(i)?;
            acl::on_deleted(ctx.tree, ctx.now, o, i);
            ctx.attributes.remove_below(path);
            outcome.instances_changed = true;
            Ok(Response::new(Code::DELETED))
        }
        Path::ResourceInstance(o, i, r, ri) => {
            ctx.check(path, Right::Delete)?;
            let Some(ResourceValue::Multiple(mut map)) = ctx.tree.resource(ctx.now, o, i, r) else {
                return Err(DmError::NotFound(*path));
            };
            if map.remove(&ri).is_none() {
                return Err(DmError::NotFound(*path));
            }
            let object = ctx.tree.object_mut(o).ok_or(DmError::NotFound(Path::Object(o)))?;
            object.write(
                ctx.now,
                i,
                vec![ResourceChange { resource: r, value: Some(ResourceValue::Multiple(map)) }],
            )?;
            outcome.changed.push(Path::Resource(o, i, r));
            Ok(Response::new(Code::DELETED))
        }
        _ => Err(DmError::NotAllowed(format!("delete on {path}"))),
    }
}

/// How a write treats what the payload does not mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// PUT: the target is replaced (missing optional writable resources of an instance go).
    Replace,
    /// POST / iPATCH: only what is given changes; multi-instance resources are merged.
    Update,
    /// Bootstrap-Write: like Update, ignores operations and unknown resources, creates instances.
    Bootstrap,
}

type Groups = BTreeMap<(u16, u16), BTreeMap<u16, ResourceValue>>;

/// How [`group_records`] treats resources a server may not write or the model does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leniency {
    /// Refuse them (4.05 / 4.04).
    Strict,
    /// Skip them (Create: read-only values in the payload are ignored).
    SkipUnwritable,
    /// Write every known resource whatever its operations; skip unknown ones (Bootstrap-Write).
    Bootstrap,
}

/// Groups leaf records by instance and resource, typed and checked against the model.
fn group_records(
    tree: &ObjectTree,
    records: Vec<Record>,
    target: &Path,
    leniency: Leniency,
) -> Result<Groups, DmError> {
    let mut groups = Groups::new();
    for record in records {
        let path = record.path.path;
        if record.path.prefix.is_some() || !(target.contains(&path) || *target == Path::Root) {
            return Err(DmError::BadRequest(format!("record {} is outside {target}", record.path)));
        }
        let (o, i, r, ri) = match path {
            Path::Resource(o, i, r) => (o, i, r, None),
            Path::ResourceInstance(o, i, r, ri) => (o, i, r, Some(ri)),
            _ => return Err(DmError::BadRequest(format!("record {path} is not a resource"))),
        };
        let mut value = record.value;
        if let Some(model) = tree.resource_model(o, r) {
            if !model.operations.write {
                match leniency {
                    Leniency::Strict => return Err(DmError::NotAllowed(format!("{path} is not writable"))),
                    Leniency::SkipUnwritable => continue,
                    Leniency::Bootstrap => {}
                }
            }
            if model.multiple != ri.is_some() {
                return Err(DmError::BadRequest(format!("{path} does not match the resource's multiplicity")));
            }
            value = value.coerce(model.data_type).map_err(|e| DmError::BadRequest(format!("{path}: {e}")))?;
        } else if tree.registry().object(o).is_some() {
            if leniency != Leniency::Strict {
                continue;
            }
            return Err(DmError::NotFound(Path::Resource(o, i, r)));
        }
        let resources = groups.entry((o, i)).or_default();
        match ri {
            None => {
                resources.insert(r, ResourceValue::Single(value));
            }
            Some(ri) => match resources.entry(r).or_insert_with(|| ResourceValue::Multiple(BTreeMap::new())) {
                ResourceValue::Multiple(map) => {
                    map.insert(ri, value);
                }
                ResourceValue::Single(_) => {
                    return Err(DmError::BadRequest(format!("{path} mixes single and multiple values")));
                }
            },
        }
    }
    Ok(groups)
}

/// Applies a write of `records` at `target`, all or nothing; returns the changed resources.
pub(crate) fn apply_write(
    tree: &mut ObjectTree,
    now: Instant,
    target: &Path,
    records: Vec<Record>,
    mode: WriteMode,
) -> Result<Vec<Path>, DmError> {
    let bootstrap = mode == WriteMode::Bootstrap;
    let leniency = if bootstrap { Leniency::Bootstrap } else { Leniency::Strict };
    let groups = group_records(tree, records, target, leniency)?;
    let mut plans = Vec::with_capacity(groups.len());
    for ((o, i), resources) in groups {
        let object = tree.object(o).ok_or(DmError::NotFound(Path::Object(o)))?;
        let current = match object.read(now, i) {
            Some(current) => Some(current),
            None if bootstrap => None,
            None => return Err(DmError::NotFound(Path::Instance(o, i))),
        };
        let mut changes = Vec::with_capacity(resources.len());
        for (r, value) in &resources {
            let merged = match (value, current.as_ref().and_then(|c| c.get(r))) {
                (ResourceValue::Multiple(new), Some(ResourceValue::Multiple(old)))
                    if mode != WriteMode::Replace || matches!(target, Path::ResourceInstance(..)) =>
                {
                    let mut all = old.clone();
                    all.extend(new.iter().map(|(k, v)| (*k, v.clone())));
                    ResourceValue::Multiple(all)
                }
                _ => value.clone(),
            };
            changes.push(ResourceChange { resource: *r, value: Some(merged) });
        }
        if mode == WriteMode::Replace && matches!(target, Path::Instance(..)) {
            for r in current.iter().flat_map(BTreeMap::keys) {
                let removable = tree.resource_model(o, *r).is_some_and(|m| m.operations.write && !m.mandatory);
                if removable && !resources.contains_key(r) {
                    changes.push(ResourceChange { resource: *r, value: None });
                }
            }
        }
        plans.push((o, i, current.is_some(), resources, changes));
    }
    let mut changed = Vec::new();
    for (o, i, exists, resources, changes) in plans {
        changed.extend(changes.iter().map(|c| Path::Resource(o, i, c.resource)));
        let object = tree.object_mut(o).ok_or(DmError::NotFound(Path::Object(o)))?;
        if exists {
            object.write(now, i, changes)?;
        } else {
            object.create(now, i, resources)?;
        }
    }
    Ok(changed)
}
