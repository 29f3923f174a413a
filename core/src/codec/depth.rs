//! A bound on how deeply a value nests, checked while it is serialized: serializing is
//! recursive, and a value nested tens of thousands of levels deep would overflow the
//! stack (aborting the process) before any codec could refuse it.

use serde::ser::{self, Serialize, Serializer};

/// How deeply a stored value may nest, counting every nested value (an `Option`'s
/// content, a newtype's field, an element): far below what overflows the 2 MiB stack
/// of a tokio worker thread. (`JsonCodec` reads back at most 128 nested arrays and
/// objects, and refuses deeper ones when the value is checked.)
pub(crate) const MAX_DEPTH: usize = 256;

/// `value`, serialized with every nested value counted: one level deeper than
/// [`MAX_DEPTH`] is an error instead of one more call.
pub(crate) struct Limited<'a, T: ?Sized> {
    pub(crate) value: &'a T,
    pub(crate) depth: usize,
}

impl<T: ?Sized + Serialize> Serialize for Limited<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.depth > MAX_DEPTH {
            return Err(ser::Error::custom(format!(
                "the value nests deeper than {MAX_DEPTH} levels"
            )));
        }
        self.value.serialize(Depth {
            inner: serializer,
            depth: self.depth,
        })
    }
}

/// The serializer that wraps each nested value in [`Limited`], one level deeper.
struct Depth<S> {
    inner: S,
    depth: usize,
}

/// A compound (sequence, map, struct, ...) of the inner serializer, its elements one
/// level deeper.
struct Compound<C> {
    inner: C,
    depth: usize,
}

impl<C> Compound<C> {
    fn deeper<'a, T: ?Sized>(&self, value: &'a T) -> Limited<'a, T> {
        Limited {
            value,
            depth: self.depth + 1,
        }
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method(self, $($arg: $ty),*) -> Result<Self::Ok, Self::Error> {
                self.inner.$method($($arg),*)
            }
        )*
    };
}

macro_rules! compound {
    ($method:ident($($arg:ident: $ty:ty),*) -> $assoc:ident) => {
        fn $method(self, $($arg: $ty),*) -> Result<Self::$assoc, S::Error> {
            let depth = self.depth;
            Ok(Compound {
                inner: self.inner.$method($($arg),*)?,
                depth,
            })
        }
    };
}

impl<S: Serializer> Serializer for Depth<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    compound!(serialize_seq(len: Option<usize>) -> SerializeSeq);
    compound!(serialize_tuple(len: usize) -> SerializeTuple);
    compound!(serialize_tuple_struct(name: &'static str, len: usize) -> SerializeTupleStruct);
    compound!(serialize_tuple_variant(
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize
    ) -> SerializeTupleVariant);
    compound!(serialize_map(len: Option<usize>) -> SerializeMap);
    compound!(serialize_struct(name: &'static str, len: usize) -> SerializeStruct);
    compound!(serialize_struct_variant(
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize
    ) -> SerializeStructVariant);

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<S::Ok, S::Error> {
        let depth = self.depth + 1;
        self.inner.serialize_some(&Limited { value, depth })
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let depth = self.depth + 1;
        self.inner
            .serialize_newtype_struct(name, &Limited { value, depth })
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let depth = self.depth + 1;
        self.inner
            .serialize_newtype_variant(name, index, variant, &Limited { value, depth })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! element {
    ($trait:ident, $method:ident) => {
        impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), C::Error> {
                let value = self.deeper(value);
                self.inner.$method(&value)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

element!(SerializeSeq, serialize_element);
element!(SerializeTuple, serialize_element);
element!(SerializeTupleStruct, serialize_field);
element!(SerializeTupleVariant, serialize_field);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), C::Error> {
        let key = self.deeper(key);
        self.inner.serialize_key(&key)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.deeper(value);
        self.inner.serialize_value(&value)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

macro_rules! field {
    ($trait:ident) => {
        impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), C::Error> {
                let value = self.deeper(value);
                self.inner.serialize_field(key, &value)
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.inner.skip_field(key)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

field!(SerializeStruct);
field!(SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;

    /// A list nested `depth` levels deep, dropped level by level (a recursive drop of a
    /// deep value overflows the stack by itself).
    #[derive(serde::Serialize)]
    struct Nest(Vec<Nest>);

    impl Drop for Nest {
        fn drop(&mut self) {
            let mut next = std::mem::take(&mut self.0);
            while let Some(mut inner) = next.pop() {
                next.append(&mut inner.0);
            }
        }
    }

    fn nest(depth: usize) -> Nest {
        (0..depth).fold(Nest(Vec::new()), |inner, _| Nest(vec![inner]))
    }

    #[test]
    fn values_nested_up_to_the_bound_serialize_as_without_it() {
        let value = nest(40);
        let plain = serde_json::to_string(&value).unwrap();
        let limited = serde_json::to_string(&Limited {
            value: &value,
            depth: 0,
        })
        .unwrap();
        assert_eq!(plain, limited);
        let map: std::collections::BTreeMap<String, Vec<(u8, Option<&str>)>> =
            [("a".to_owned(), vec![(1, Some("x")), (2, None)])].into();
        assert_eq!(
            serde_json::to_string(&Limited {
                value: &map,
                depth: 0
            })
            .unwrap(),
            serde_json::to_string(&map).unwrap()
        );
    }

    #[test]
    fn a_deeper_value_is_an_error_not_a_stack_overflow() {
        let value = nest(100_000);
        let error = serde_json::to_vec(&Limited {
            value: &value,
            depth: 0,
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("deeper than 256 levels"),
            "{error}"
        );
    }
}
