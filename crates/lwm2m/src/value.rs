//! Typed LwM2M values and data types (Core TS Appendix C).
//!
//! Integers stay integers: no value passes through floating point unless its type is Float.

use std::fmt;

/// The data type of a resource, as declared in its object model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// UTF-8 string.
    String,
    /// Signed 64-bit integer.
    Integer,
    /// Unsigned 64-bit integer (1.1).
    Unsigned,
    /// IEEE-754 float.
    Float,
    /// Boolean.
    Boolean,
    /// Raw bytes.
    Opaque,
    /// Unix time in seconds.
    Time,
    /// Object link `oid:iid`.
    ObjLnk,
    /// CoRE link (1.1).
    CoreLnk,
    /// No value (executable resources).
    None,
}

/// A typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// UTF-8 string.
    String(String),
    /// Signed integer.
    Integer(i64),
    /// Unsigned integer.
    Unsigned(u64),
    /// Float.
    Float(f64),
    /// Boolean.
    Boolean(bool),
    /// Raw bytes.
    Opaque(Vec<u8>),
    /// Unix time in seconds.
    Time(i64),
    /// Object link: object ID, instance ID.
    ObjLnk(u16, u16),
    /// CoRE link text.
    CoreLnk(String),
    /// No value.
    None,
}

impl DataType {
    /// The lowercase name used in JSON output and DDF files (`"unsigned"`, `"objlnk"` …).
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Unsigned => "unsigned",
            Self::Float => "float",
            Self::Boolean => "boolean",
            Self::Opaque => "opaque",
            Self::Time => "time",
            Self::ObjLnk => "objlnk",
            Self::CoreLnk => "corelnk",
            Self::None => "none",
        }
    }

    /// Parses a type name; case-insensitive, accepts the DDF spellings
    /// (`"Unsigned Integer"`, `"Objlnk"`, `"Corelnk"`, `""` for none).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "string" => Self::String,
            "integer" => Self::Integer,
            "unsigned" | "unsigned integer" => Self::Unsigned,
            "float" => Self::Float,
            "boolean" => Self::Boolean,
            "opaque" => Self::Opaque,
            "time" => Self::Time,
            "objlnk" => Self::ObjLnk,
            "corelnk" => Self::CoreLnk,
            "none" | "" => Self::None,
            _ => return None,
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a value cannot be given the type its model declares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} value cannot be read as {to}")]
pub struct CoerceError {
    /// Type of the value at hand.
    pub from: DataType,
    /// Type the model wants.
    pub to: DataType,
}

impl Value {
    /// The value's type.
    pub fn data_type(&self) -> DataType {
        match self {
            Self::String(_) => DataType::String,
            Self::Integer(_) => DataType::Integer,
            Self::Unsigned(_) => DataType::Unsigned,
            Self::Float(_) => DataType::Float,
            Self::Boolean(_) => DataType::Boolean,
            Self::Opaque(_) => DataType::Opaque,
            Self::Time(_) => DataType::Time,
            Self::ObjLnk(..) => DataType::ObjLnk,
            Self::CoreLnk(_) => DataType::CoreLnk,
            Self::None => DataType::None,
        }
    }

    /// Converts a value decoded without type information (a SenML `v`, a CBOR integer) to the
    /// type a model declares. Lossless only: an integer becomes a float only if exact, a float
    /// never becomes an integer unless it has no fraction and fits.
    pub fn coerce(self, to: DataType) -> Result<Self, CoerceError> {
        let from = self.data_type();
        if from == to {
            return Ok(self);
        }
        let err = CoerceError { from, to };
        Ok(match (self, to) {
            (Self::Integer(i), DataType::Unsigned) => Self::Unsigned(u64::try_from(i).map_err(|_| err)?),
            (Self::Integer(i), DataType::Time) => Self::Time(i),
            (Self::Integer(i), DataType::Float) => Self::Float(exact_f64_from_i64(i).ok_or(err)?),
            (Self::Unsigned(u), DataType::Integer) => Self::Integer(i64::try_from(u).map_err(|_| err)?),
            (Self::Unsigned(u), DataType::Time) => Self::Time(i64::try_from(u).map_err(|_| err)?),
            (Self::Unsigned(u), DataType::Float) => Self::Float(exact_f64_from_u64(u).ok_or(err)?),
            (Self::Time(t), DataType::Integer) => Self::Integer(t),
            (Self::Time(t), DataType::Unsigned) => Self::Unsigned(u64::try_from(t).map_err(|_| err)?),
            (Self::Float(f), DataType::Integer) => Self::Integer(integral_f64(f).ok_or(err)?),
            (Self::Float(f), DataType::Time) => Self::Time(integral_f64(f).ok_or(err)?),
            (Self::Float(f), DataType::Unsigned) => {
                Self::Unsigned(u64::try_from(integral_f64(f).ok_or(err.clone())?).map_err(|_| err)?)
            }
            (Self::String(s), DataType::CoreLnk) => Self::CoreLnk(s),
            (Self::CoreLnk(s), DataType::String) => Self::String(s),
            _ => return Err(err),
        })
    }
}

fn exact_f64_from_i64(i: i64) -> Option<f64> {
    let f = i as f64;
    // 2^63 itself is not an i64: `as` would saturate and hide the rounding.
    (f < 9_223_372_036_854_775_808.0 && f as i64 == i).then_some(f)
}

fn exact_f64_from_u64(u: u64) -> Option<f64> {
    let f = u as f64;
    (f < 18_446_744_073_709_551_616.0 && f as u64 == u).then_some(f)
}

fn integral_f64(f: f64) -> Option<i64> {
    (f.is_finite() && f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f))
        .then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerce_is_lossless() {
        assert_eq!(Value::Integer(5).coerce(DataType::Unsigned), Ok(Value::Unsigned(5)));
        assert!(Value::Integer(-1).coerce(DataType::Unsigned).is_err());
        assert_eq!(Value::Float(3.0).coerce(DataType::Integer), Ok(Value::Integer(3)));
        assert!(Value::Float(3.5).coerce(DataType::Integer).is_err());
        assert!(Value::Integer(i64::MAX).coerce(DataType::Float).is_err());
        assert_eq!(Value::Unsigned(u64::MAX).coerce(DataType::Unsigned), Ok(Value::Unsigned(u64::MAX)));
    }
}
