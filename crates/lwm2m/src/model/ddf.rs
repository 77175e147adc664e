//! OMA DDF XML, the object definition format of the OMNA LwM2M registry (Core TS §7.1,
//! schema `LWM2M.xsd`): `<LWM2M><Object ObjectType="MODefinition">…<Resources><Item ID="…">`.
//!
//! [`parse`] turns one document into [`ObjectModel`]s. Document type declarations and entity
//! references are refused, so a model file can neither expand nor reach outside itself. Every
//! error names the element and the object (and resource) it was found in:
//! `object 3303: resource 5700: unknown type "Flaot"`.

use std::collections::BTreeMap;
use std::fmt;

use roxmltree::{Document, Node, ParsingOptions};

use super::{ObjectModel, Operations, ResourceModel};
use crate::value::DataType;

/// Most XML nodes one document may hold; the largest registry files have a few thousand.
const MAX_NODES: u32 = 1_000_000;

/// Longest piece of file text quoted back in an error.
const MAX_QUOTED: usize = 40;

/// Where in a DDF document an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The object: its ID, or its position (1-based) when the ID is not known yet.
    pub object: Ref,
    /// The resource (`<Item>`), if the error is inside one.
    pub resource: Option<Ref>,
}

/// An object or resource, named by ID when known, else by its position among its siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref {
    /// The ID from the document.
    Id(u16),
    /// 1-based position, used before the ID is read or when it is invalid.
    Position(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.object {
            Ref::Id(id) => write!(f, "object {id}")?,
            Ref::Position(n) => write!(f, "object #{n}")?,
        }
        match self.resource {
            Some(Ref::Id(id)) => write!(f, ": resource {id}"),
            Some(Ref::Position(n)) => write!(f, ": resource #{n}"),
            None => Ok(()),
        }
    }
}

/// Why a DDF document cannot be read. Messages name the element and the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DdfError {
    /// The text is not well-formed XML.
    #[error("not well-formed XML")]
    Xml(#[source] roxmltree::Error),
    /// The document has a `<!DOCTYPE …>`; DTDs are refused.
    #[error("document type declarations (DTD) are not allowed")]
    Dtd,
    /// The document references an entity other than the five predefined ones.
    #[error("entity reference &{name}; is not allowed (no DTD, no entities)")]
    Entity {
        /// Entity name.
        name: String,
    },
    /// The root element is not `<LWM2M>`.
    #[error("root element is <{0}>, expected <LWM2M>")]
    NotLwm2m(String),
    /// The document defines no object.
    #[error("no <Object> element in <LWM2M>")]
    NoObject,
    /// A required element or attribute is absent.
    #[error("{at}: missing <{element}>")]
    Missing {
        /// Where.
        at: Location,
        /// Element name (`Item ID` for the attribute).
        element: &'static str,
    },
    /// An element or attribute appears more than once.
    #[error("{at}: <{element}> given more than once")]
    Repeated {
        /// Where.
        at: Location,
        /// Element name.
        element: &'static str,
    },
    /// An element holds text that is not allowed there.
    #[error("{at}: <{element}> {value:?} is not {expected}")]
    BadValue {
        /// Where.
        at: Location,
        /// Element name.
        element: &'static str,
        /// The text found (cut to 40 characters).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A resource `<Type>` that is not an LwM2M data type.
    #[error("{at}: unknown type {value:?}")]
    UnknownType {
        /// Where.
        at: Location,
        /// The type text (cut to 40 characters).
        value: String,
    },
    /// Two `<Item>`s of one object share an ID.
    #[error("object {object}: resource {resource} defined twice")]
    DuplicateResource {
        /// Object ID.
        object: u16,
        /// Resource ID.
        resource: u16,
    },
    /// Two `<Object>`s of one document share an ID.
    #[error("object {0} defined twice in one document")]
    DuplicateObject(u16),
}

/// Parses a DDF document into its object models (usually one).
pub fn parse(xml: &str) -> Result<Vec<ObjectModel>, DdfError> {
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let options = ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..ParsingOptions::default() };
    let doc = Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => DdfError::Dtd,
        roxmltree::Error::UnknownEntityReference(name, _) => DdfError::Entity { name: quote(&name) },
        other => DdfError::Xml(other),
    })?;
    let root = doc.root_element();
    // roxmltree lets an empty `<!DOCTYPE x>` through; it can only sit before the root element.
    if xml.get(..root.range().start).is_some_and(|prolog| prolog.contains("<!DOCTYPE")) {
        return Err(DdfError::Dtd);
    }
    if root.tag_name().name() != "LWM2M" {
        return Err(DdfError::NotLwm2m(quote(root.tag_name().name())));
    }
    let mut models: Vec<ObjectModel> = Vec::new();
    for (index, node) in elements(root).filter(|n| n.tag_name().name() == "Object").enumerate() {
        let model = parse_object(node, index + 1)?;
        if models.iter().any(|m| m.id == model.id) {
            return Err(DdfError::DuplicateObject(model.id));
        }
        models.push(model);
    }
    if models.is_empty() {
        return Err(DdfError::NoObject);
    }
    Ok(models)
}

fn parse_object(node: Node<'_, '_>, position: usize) -> Result<ObjectModel, DdfError> {
    let mut at = Location { object: Ref::Position(position), resource: None };
    let id_text = required(node, "ObjectID", &at)?;
    let id = parse_id(&id_text).ok_or_else(|| bad(&at, "ObjectID", &id_text, "an ID in 0..=65535"))?;
    at.object = Ref::Id(id);

    let name = required(node, "Name", &at)?;
    let description = optional(node, "Description1", &at)?.unwrap_or_default();
    let urn = optional(node, "ObjectURN", &at)?.unwrap_or_default();
    let version = parse_version(node, "ObjectVersion", &at)?;
    let lwm2m_version = parse_version(node, "LWM2MVersion", &at)?;
    let multiple = parse_multiple(&required(node, "MultipleInstances", &at)?, &at)?;
    let mandatory = parse_mandatory(&required(node, "Mandatory", &at)?, &at)?;

    let mut resources = BTreeMap::new();
    if let Some(list) = single(node, "Resources", &at)? {
        for (index, item) in elements(list).filter(|n| n.tag_name().name() == "Item").enumerate() {
            let resource = parse_item(item, id, index + 1)?;
            if resources.contains_key(&resource.id) {
                return Err(DdfError::DuplicateResource { object: id, resource: resource.id });
            }
            resources.insert(resource.id, resource);
        }
    }
    Ok(ObjectModel { id, name, description, version, lwm2m_version, urn, multiple, mandatory, resources })
}

fn parse_item(node: Node<'_, '_>, object: u16, position: usize) -> Result<ResourceModel, DdfError> {
    let mut at = Location { object: Ref::Id(object), resource: Some(Ref::Position(position)) };
    let id_text = node.attribute("ID").ok_or(DdfError::Missing { at: at.clone(), element: "Item ID" })?;
    let id = parse_id(id_text).ok_or_else(|| bad(&at, "Item ID", id_text, "an ID in 0..=65535"))?;
    at.resource = Some(Ref::Id(id));

    let name = required(node, "Name", &at)?;
    let operations = parse_operations(&optional(node, "Operations", &at)?.unwrap_or_default(), &at)?;
    let multiple = parse_multiple(&required(node, "MultipleInstances", &at)?, &at)?;
    let mandatory = parse_mandatory(&required(node, "Mandatory", &at)?, &at)?;
    let type_text = optional(node, "Type", &at)?.unwrap_or_default();
    let data_type = DataType::from_name(&type_text)
        .ok_or_else(|| DdfError::UnknownType { at: at.clone(), value: quote(&type_text) })?;
    let range = optional(node, "RangeEnumeration", &at)?.unwrap_or_default();
    let units = optional(node, "Units", &at)?.unwrap_or_default();
    let description = optional(node, "Description", &at)?.unwrap_or_default();
    Ok(ResourceModel { id, name, operations, multiple, mandatory, data_type, range, units, description })
}

/// Child elements of `node`.
fn elements<'a, 'input>(node: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(Node::is_element)
}

/// The only child element called `name`, if any.
fn single<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'static str,
    at: &Location,
) -> Result<Option<Node<'a, 'input>>, DdfError> {
    let mut found = elements(node).filter(|n| n.tag_name().name() == name);
    let first = found.next();
    if found.next().is_some() {
        return Err(DdfError::Repeated { at: at.clone(), element: name });
    }
    Ok(first)
}

/// The trimmed text of an optional element (`None` when absent).
fn optional(node: Node<'_, '_>, name: &'static str, at: &Location) -> Result<Option<String>, DdfError> {
    let Some(element) = single(node, name, at)? else {
        return Ok(None);
    };
    if let Some(child) = elements(element).next() {
        return Err(bad(at, name, child.tag_name().name(), "text (found a child element)"));
    }
    // Text and CDATA children, concatenated; comments are skipped.
    let text: String = element.children().filter(Node::is_text).filter_map(|n| n.text()).collect();
    Ok(Some(text.trim().to_owned()))
}

/// The trimmed, non-empty text of a required element.
fn required(node: Node<'_, '_>, name: &'static str, at: &Location) -> Result<String, DdfError> {
    match optional(node, name, at)? {
        Some(text) if !text.is_empty() => Ok(text),
        Some(_) => Err(bad(at, name, "", "allowed to be empty")),
        None => Err(DdfError::Missing { at: at.clone(), element: name }),
    }
}

/// A `major.minor` version; absent or empty means `"1.0"`.
fn parse_version(node: Node<'_, '_>, name: &'static str, at: &Location) -> Result<String, DdfError> {
    let text = optional(node, name, at)?.unwrap_or_default();
    if text.is_empty() {
        return Ok("1.0".to_owned());
    }
    let valid = text.split_once('.').is_some_and(|(major, minor)| {
        [major, minor].iter().all(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
    });
    if valid {
        Ok(text)
    } else {
        Err(bad(at, name, &text, "a version like \"1.0\""))
    }
}

fn parse_multiple(text: &str, at: &Location) -> Result<bool, DdfError> {
    match text.to_ascii_lowercase().as_str() {
        "multiple" => Ok(true),
        "single" => Ok(false),
        _ => Err(bad(at, "MultipleInstances", text, "\"Multiple\" or \"Single\"")),
    }
}

fn parse_mandatory(text: &str, at: &Location) -> Result<bool, DdfError> {
    match text.to_ascii_lowercase().as_str() {
        "mandatory" => Ok(true),
        "optional" => Ok(false),
        _ => Err(bad(at, "Mandatory", text, "\"Mandatory\" or \"Optional\"")),
    }
}

fn parse_operations(text: &str, at: &Location) -> Result<Operations, DdfError> {
    Operations::from_ddf(text).ok_or_else(|| bad(at, "Operations", text, "one of R, W, RW, E or empty"))
}

/// A decimal ID in 0..=65535, digits only.
fn parse_id(text: &str) -> Option<u16> {
    let text = text.trim();
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn bad(at: &Location, element: &'static str, value: &str, expected: &'static str) -> DdfError {
    DdfError::BadValue { at: at.clone(), element, value: quote(value), expected }
}

/// File text to quote in an error, cut to [`MAX_QUOTED`] characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><LWM2M><Object ObjectType=\"MODefinition\"><Name>Test</Name>\
             <ObjectID>3303</ObjectID><MultipleInstances>Multiple</MultipleInstances>\
             <Mandatory>Optional</Mandatory><Resources>{body}</Resources></Object></LWM2M>"
        )
    }

    fn item(id: &str, ops: &str, ty: &str) -> String {
        format!(
            "<Item ID=\"{id}\"><Name>R{id}</Name><Operations>{ops}</Operations>\
             <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>\
             <Type>{ty}</Type><RangeEnumeration/><Units/><Description/></Item>"
        )
    }

    #[test]
    fn a_minimal_object_gets_default_versions() {
        let models = parse(&object(&item("5700", "R", "Float"))).unwrap();
        let [model] = models.as_slice() else { panic!("one model expected") };
        assert_eq!((model.id, model.version.as_str(), model.lwm2m_version.as_str()), (3303, "1.0", "1.0"));
        let r = &model.resources[&5700];
        assert_eq!(r.data_type, DataType::Float);
        assert_eq!(r.operations, Operations { read: true, write: false, execute: false });
        assert!(r.mandatory && !r.multiple);
    }

    #[test]
    fn unknown_type_names_object_and_resource() {
        let err = parse(&object(&item("5700", "R", "Flaot"))).unwrap_err();
        assert_eq!(err.to_string(), "object 3303: resource 5700: unknown type \"Flaot\"");
    }

    #[test]
    fn duplicate_resource_ids_are_refused() {
        let body = item("1", "R", "String") + &item("1", "W", "Integer");
        assert_eq!(parse(&object(&body)).unwrap_err(), DdfError::DuplicateResource { object: 3303, resource: 1 });
    }

    #[test]
    fn bad_operations_and_ids_say_where() {
        let err = parse(&object(&item("7", "RX", "String"))).unwrap_err();
        assert_eq!(err.to_string(), "object 3303: resource 7: <Operations> \"RX\" is not one of R, W, RW, E or empty");
        let err = parse(&object(&(item("1", "R", "String") + &item("70000", "R", "String")))).unwrap_err();
        assert_eq!(err.to_string(), "object 3303: resource #2: <Item ID> \"70000\" is not an ID in 0..=65535");
    }

    #[test]
    fn an_empty_type_is_none_and_empty_operations_are_bootstrap_only() {
        let models = parse(&object(&(item("4", "E", "") + &item("5", "", "Opaque")))).unwrap();
        let reboot = &models[0].resources[&4];
        assert_eq!((reboot.data_type, reboot.operations.execute), (DataType::None, true));
        assert!(models[0].resources[&5].operations.is_bootstrap_only());
    }

    #[test]
    fn dtd_and_entities_are_refused() {
        let with_dtd = "<?xml version=\"1.0\"?><!DOCTYPE LWM2M [<!ENTITY x \"boom\">]><LWM2M>&x;</LWM2M>";
        assert_eq!(parse(with_dtd).unwrap_err(), DdfError::Dtd);
        assert_eq!(parse("<!DOCTYPE LWM2M><LWM2M/>").unwrap_err(), DdfError::Dtd);
        let entity = object(&item("1", "R", "String")).replace("<Name>Test</Name>", "<Name>&ext;</Name>");
        assert_eq!(parse(&entity).unwrap_err(), DdfError::Entity { name: "ext".into() });
    }

    #[test]
    fn missing_elements_are_named() {
        let xml = object("").replace("<MultipleInstances>Multiple</MultipleInstances>", "");
        assert_eq!(parse(&xml).unwrap_err().to_string(), "object 3303: missing <MultipleInstances>");
        assert_eq!(parse("<LWM2M></LWM2M>").unwrap_err(), DdfError::NoObject);
        assert_eq!(parse("<Objects/>").unwrap_err(), DdfError::NotLwm2m("Objects".into()));
        assert!(matches!(parse("<LWM2M><Object>").unwrap_err(), DdfError::Xml(_)));
    }

    #[test]
    fn long_values_are_cut_in_errors() {
        let long = "x".repeat(500);
        let err = parse(&object(&item("1", "R", &long))).unwrap_err().to_string();
        assert!(err.len() < 120, "{err}");
    }
}
