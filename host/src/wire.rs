//! JSON from requests read as the OpenAPI document describes it.
//!
//! - Numbers as JSON Schema sees them: a schema's `integer` is any number
//!   with no fractional part, so `3600.0` is as much an integer as `3600`
//!   and must be accepted as one; serde alone refuses it for an integer
//!   field. Use [`int`] and [`opt_int`] with `deserialize_with`.
//! - Objects only where objects are expected, at every depth: [`Strict`]
//!   and [`from_value`].

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Value;

fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i128, D::Error> {
    let n = serde_json::Number::deserialize(deserializer)?;
    if let Some(i) = n.as_i64() {
        return Ok(i.into());
    }
    if let Some(u) = n.as_u64() {
        return Ok(u.into());
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e19 => Ok(f as i128),
        _ => Err(D::Error::custom(format!("{n} is not an integer"))),
    }
}

fn fit<T: TryFrom<i128>, E: Error>(value: i128) -> Result<T, E> {
    T::try_from(value).map_err(|_| E::custom(format!("{value} is out of range")))
}

/// An integer field (`u32`, `u64`, `i64`, …), accepting `12.0` as `12`.
pub fn int<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    fit(integer(deserializer)?)
}

/// An optional integer field; `null` and absence are `None`.
pub fn opt_int<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let value: Option<serde_json::Number> = Option::deserialize(deserializer)?;
    match value {
        None => Ok(None),
        Some(n) => fit(integer(n).map_err(D::Error::custom)?).map(Some),
    }
}

/// A JSON value read the way the OpenAPI document describes it. serde lets
/// a struct be read from an array of its fields in order (`[]` for a struct
/// whose fields all have defaults); the API's objects are objects, so this
/// refuses anything but a JSON object where a struct is expected, at every
/// depth, and otherwise reads like `serde_json::Value`.
pub struct Strict(pub serde_json::Value);

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("a number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for Strict {
    type Deserializer = Strict;
    fn into_deserializer(self) -> Strict {
        self
    }
}

fn map(
    m: serde_json::Map<String, Value>,
) -> MapDeserializer<'static, impl Iterator<Item = (String, Strict)>, serde_json::Error> {
    MapDeserializer::new(m.into_iter().map(|(k, v)| (k, Strict(v))))
}

impl<'de> Deserializer<'de> for Strict {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(a) => {
                let mut seq = SeqDeserializer::new(a.into_iter().map(Strict));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Object(m) => {
                let mut map = map(m);
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Strict(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            Value::Object(m) if m.len() == 1 => {
                let (variant, value) = m.into_iter().next().expect("one entry");
                visitor.visit_enum(Variant { variant, value })
            }
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// `{"variant": value}`, an externally tagged enum value.
struct Variant {
    variant: String,
    value: Value,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = serde_json::Error;
    type Variant = Strict;

    fn variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Strict), Self::Error> {
        let variant = seed.deserialize(self.variant.into_deserializer())?;
        Ok((variant, Strict(self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for Strict {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        match self.0 {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a unit variant",
            )),
        }
    }

    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, Self::Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(_) => self.deserialize_any(visitor),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_struct("", fields, visitor)
    }
}

/// Read `T` from `value` as [`Strict`] does, with the path to what was wrong
/// in the error (`import.rbac.custom[0].verbs: …`).
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: Value,
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize(Strict(value))
}

#[cfg(test)]
mod strict_tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        a: u32,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    enum E {
        Plain,
        Custom(Vec<Inner>),
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        maybe: Option<Inner>,
        #[serde(default = "plain")]
        e: E,
    }

    fn plain() -> E {
        E::Plain
    }

    fn read(text: &str) -> Result<Outer, String> {
        super::from_value(serde_json::from_str(text).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn objects_are_objects_at_every_depth() {
        let ok = read(
            r#"{"inner": {"a": 1}, "list": [{}], "maybe": null, "e": {"custom": [{"a": 2}]}}"#,
        )
        .unwrap();
        assert_eq!(ok.inner, Inner { a: 1 });
        assert_eq!(ok.e, E::Custom(vec![Inner { a: 2 }]));
        assert_eq!(read(r#"{"inner": {}, "e": "plain"}"#).unwrap().e, E::Plain);
        for bad in [
            r#"{"inner": []}"#,
            r#"{"inner": {}, "list": [[]]}"#,
            r#"{"inner": {}, "maybe": [1]}"#,
            r#"{"inner": {}, "e": {"custom": [[]]}}"#,
            r#"{"inner": {}, "e": {"plain": 1}}"#,
            r#"{"inner": {"a": 1, "b": 2}}"#,
        ] {
            assert!(read(bad).is_err(), "{bad} was accepted");
        }
        let e = read(r#"{"inner": {}, "list": [{"a": "x"}]}"#).unwrap_err();
        assert!(e.starts_with("list[0].a"), "{e}");
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::int")]
        a: u32,
        #[serde(default, deserialize_with = "super::opt_int")]
        b: Option<i64>,
    }

    #[test]
    fn integral_floats_are_integers_and_the_rest_is_refused() {
        let t: T = serde_json::from_str(r#"{"a": 3600.0, "b": -2}"#).unwrap();
        assert_eq!((t.a, t.b), (3600, Some(-2)));
        let t: T = serde_json::from_str(r#"{"a": 1, "b": null}"#).unwrap();
        assert_eq!(t.b, None);
        assert!(serde_json::from_str::<T>(r#"{"a": 1.5}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a": -1}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a": 1e30}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a": "1"}"#).is_err());
    }
}
