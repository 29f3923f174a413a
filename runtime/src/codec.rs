//! The codecs that ship with waypost: [`BincodeCodec`] (the default), [`JsonCodec`], and
//! [`RawBytes`] for one state's large [`Blob`].

use std::sync::Arc;

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use waypost_core::store::ExecutionRecord;
use waypost_core::{Codec, Workflow};

use crate::error::RunError;

/// The most a payload may claim to allocate when it is encoded. Decoding uses the
/// limit of the payload's size class (see [`decode_limited`]).
const DECODE_LIMIT: usize = 1 << 30;

type Config = Configuration<LittleEndian, Varint, Limit<DECODE_LIMIT>>;

fn config() -> Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Decodes `bytes` with a bincode limit of `LIMIT` bytes claimed.
///
/// In serde mode bincode claims only the lengths of strings and byte buffers, and
/// allocates a string's full claimed length before reading it: a valid payload claims
/// at most its own size, while a corrupt length prefix could claim (and allocate) up
/// to the limit. So the limit follows the payload's size.
fn decode_limited<const LIMIT: usize>(
    bytes: &[u8],
    visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    let mut decoder = bincode::serde::BorrowedSerdeDecoder::from_slice(bytes, config, ());
    let mut deserializer = <dyn erased_serde::Deserializer<'_>>::erase(decoder.as_deserializer());
    visit(&mut deserializer)
}

/// Compact binary payloads: bincode 2 in serde mode. The default codec.
#[derive(Clone, Copy, Debug, Default)]
pub struct BincodeCodec;

impl Codec for BincodeCodec {
    fn name(&self) -> &'static str {
        "bincode"
    }

    fn encode_erased(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String> {
        bincode::serde::encode_to_vec(value, config()).map_err(|e| e.to_string())
    }

    fn decode_erased(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        // Trailing bytes are not detected here; the checksum beside every stored
        // payload catches damage that still decodes. A corrupt length prefix allocates
        // at most 16 times the payload's size (64 KiB for small payloads).
        match bytes.len() {
            0..=0x1000 => decode_limited::<{ 1 << 16 }>(bytes, visit),
            0x1001..=0x1_0000 => decode_limited::<{ 1 << 20 }>(bytes, visit),
            0x1_0001..=0x10_0000 => decode_limited::<{ 1 << 24 }>(bytes, visit),
            0x10_0001..=0x100_0000 => decode_limited::<{ 1 << 28 }>(bytes, visit),
            _ => decode_limited::<DECODE_LIMIT>(bytes, visit),
        }
    }
}

/// Human-readable payloads: JSON. Choose it for workflows whose checkpoints people read
/// (with `sqlite3` or the CLI).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn name(&self) -> &'static str {
        "json"
    }

    fn encode_erased(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }

    fn decode_erased(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut json = serde_json::Deserializer::from_slice(bytes);
        visit(&mut <dyn erased_serde::Deserializer<'_>>::erase(&mut json))?;
        json.end().map_err(|e| e.to_string())
    }
}

/// A large blob stored as it is: the raw-bytes codec, for the output of one state
/// ([`StepExt::codec`](waypost_core::StepExt::codec)) that is a byte string — a
/// [`Blob`], or a type that serializes as serde bytes (`serde_bytes::ByteBuf`, a newtype
/// around one). The checkpoint holds exactly those bytes, with no length prefix nor
/// escaping, and decodes only into a byte string.
///
/// Any other value is refused when it is stored, with an error naming it
/// (`States.DataEncodingFailed`, which retry and catch match). A `Vec<u8>` is a sequence
/// of numbers to serde, not a byte string: wrap it in a [`Blob`]. A failure of the
/// state is stored with the workflow's codec. Mind the runtime's
/// [`max_payload_bytes`](crate::RuntimeConfig::max_payload_bytes) (16 MiB by default).
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::{Blob, MemoryStore, RawBytes};
/// use waypost::store::Store as _;
///
/// #[step]
/// async fn render(pages: u32) -> Blob { Blob::from(vec![b'%'; pages as usize * 1000]) }
/// #[step]
/// async fn size(pdf: Blob) -> usize { pdf.len() }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let wf = Workflow::new("pdf", 1, render.codec(RawBytes).then(size));
/// let store = MemoryStore::new();
/// let runtime = Runtime::builder().store(store.clone()).build();
/// assert_eq!(runtime.start(&wf, "pdf-1", 3).await.unwrap(), 3000);
/// let checkpoints = store.checkpoints("pdf-1").await.unwrap();
/// let output = checkpoints.iter().find(|c| c.key == "0.render").unwrap();
/// assert_eq!(output.payload, vec![b'%'; 3000]);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RawBytes;

impl Codec for RawBytes {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn encode_erased(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String> {
        erased_serde::serialize(value, raw::Encoder).map_err(|e| e.0)
    }

    fn decode_erased(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        visit(&mut <dyn erased_serde::Deserializer<'_>>::erase(
            raw::Decoder { bytes },
        ))
    }
}

/// A byte string payload: serialized as serde bytes, so that [`RawBytes`] stores it as
/// it is and bincode with a length prefix (a `Vec<u8>` is a sequence of numbers to
/// serde). Its `Debug` shows its size, not its bytes.
///
/// ```
/// use waypost::Blob;
///
/// let blob = Blob::from(vec![1, 2, 3]);
/// assert_eq!(blob.len(), 3);
/// assert_eq!(&blob[..], [1, 2, 3]);
/// assert_eq!(format!("{blob:?}"), "Blob(3 bytes)");
/// assert_eq!(blob.into_vec(), [1, 2, 3]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Blob(Vec<u8>);

impl Blob {
    /// The blob of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Blob(bytes)
    }

    /// Its bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Self {
        Blob(bytes)
    }
}

impl From<Blob> for Vec<u8> {
    fn from(blob: Blob) -> Self {
        blob.0
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl serde::Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_byte_buf(raw::BlobVisitor)
    }
}

/// The serde side of [`RawBytes`] and [`Blob`].
mod raw {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::ser::{self, Impossible, Serialize};

    /// Why the raw codec refused a value.
    #[derive(Debug)]
    pub(super) struct Refused(pub(super) String);

    impl fmt::Display for Refused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Refused {}

    impl ser::Error for Refused {
        fn custom<T: fmt::Display>(msg: T) -> Self {
            Refused(msg.to_string())
        }
    }

    fn refuse<T>(what: &str) -> Result<T, Refused> {
        Err(Refused(format!(
            "the raw codec stores only a byte string (a `waypost::Blob`, or serde bytes), \
             not {what}"
        )))
    }

    /// Serializes a byte string as its bytes; refuses anything else.
    pub(super) struct Encoder;

    macro_rules! refuse_scalars {
        ($($method:ident($ty:ty) => $what:literal),* $(,)?) => {
            $(fn $method(self, _: $ty) -> Result<Vec<u8>, Refused> {
                refuse($what)
            })*
        };
    }

    impl ser::Serializer for Encoder {
        type Ok = Vec<u8>;
        type Error = Refused;
        type SerializeSeq = Impossible<Vec<u8>, Refused>;
        type SerializeTuple = Impossible<Vec<u8>, Refused>;
        type SerializeTupleStruct = Impossible<Vec<u8>, Refused>;
        type SerializeTupleVariant = Impossible<Vec<u8>, Refused>;
        type SerializeMap = Impossible<Vec<u8>, Refused>;
        type SerializeStruct = Impossible<Vec<u8>, Refused>;
        type SerializeStructVariant = Impossible<Vec<u8>, Refused>;

        fn serialize_bytes(self, v: &[u8]) -> Result<Vec<u8>, Refused> {
            Ok(v.to_vec())
        }

        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<Vec<u8>, Refused> {
            value.serialize(self)
        }

        refuse_scalars! {
            serialize_bool(bool) => "a bool",
            serialize_i8(i8) => "a number",
            serialize_i16(i16) => "a number",
            serialize_i32(i32) => "a number",
            serialize_i64(i64) => "a number",
            serialize_i128(i128) => "a number",
            serialize_u8(u8) => "a number",
            serialize_u16(u16) => "a number",
            serialize_u32(u32) => "a number",
            serialize_u64(u64) => "a number",
            serialize_u128(u128) => "a number",
            serialize_f32(f32) => "a number",
            serialize_f64(f64) => "a number",
            serialize_char(char) => "a char",
            serialize_str(&str) => "a string",
            serialize_unit_struct(&'static str) => "a unit struct",
        }

        fn serialize_none(self) -> Result<Vec<u8>, Refused> {
            refuse("an `Option`")
        }

        fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<Vec<u8>, Refused> {
            refuse("an `Option`")
        }

        fn serialize_unit(self) -> Result<Vec<u8>, Refused> {
            refuse("`()`")
        }

        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
        ) -> Result<Vec<u8>, Refused> {
            refuse("an enum")
        }

        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Vec<u8>, Refused> {
            refuse("an enum")
        }

        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Refused> {
            refuse("a sequence (a `Vec<u8>` is one to serde: wrap it in a `waypost::Blob`)")
        }

        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Refused> {
            refuse("a tuple")
        }

        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Refused> {
            refuse("a tuple struct")
        }

        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Refused> {
            refuse("an enum")
        }

        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Refused> {
            refuse("a map")
        }

        fn serialize_struct(
            self,
            name: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, Refused> {
            refuse(&format!("a struct (`{name}`)"))
        }

        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Refused> {
            refuse("an enum")
        }
    }

    /// Hands its bytes to any visitor as a byte string: a byte string type takes them,
    /// any other type refuses them (serde's `invalid type: byte array` error).
    pub(super) struct Decoder<'a> {
        pub(super) bytes: &'a [u8],
    }

    impl<'de> de::Deserializer<'de> for Decoder<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            visitor.visit_bytes(self.bytes)
        }

        fn deserialize_byte_buf<V: Visitor<'de>>(
            self,
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            visitor.visit_byte_buf(self.bytes.to_vec())
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            visitor.visit_newtype_struct(self)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            option unit unit_struct seq tuple tuple_struct map struct enum identifier
            ignored_any
        }
    }

    /// Reads a [`Blob`](super::Blob) from bytes, or from a sequence of numbers (how
    /// JSON writes bytes).
    pub(super) struct BlobVisitor;

    impl<'de> Visitor<'de> for BlobVisitor {
        type Value = super::Blob;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            Ok(super::Blob(v.to_vec()))
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
            Ok(super::Blob(v))
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(byte) = seq.next_element::<u8>()? {
                bytes.push(byte);
            }
            Ok(super::Blob(bytes))
        }
    }
}

/// The codec stored under `name`, for reading executions written by any workflow.
pub fn codec_named(name: &str) -> Option<Arc<dyn Codec>> {
    match name {
        "bincode" => Some(Arc::new(BincodeCodec)),
        "json" => Some(Arc::new(JsonCodec)),
        "raw" => Some(Arc::new(RawBytes)),
        _ => None,
    }
}

pub(crate) fn codec_of<I, O>(workflow: &Workflow<I, O>) -> Arc<dyn Codec> {
    workflow
        .codec()
        .cloned()
        .unwrap_or_else(|| Arc::new(BincodeCodec))
}

/// The codec of a stored execution: the workflow's own when it has the stored name
/// (so custom codecs work), else one of the codecs waypost ships.
pub(crate) fn codec_for<I, O>(
    workflow: &Workflow<I, O>,
    record: &ExecutionRecord,
) -> Result<Arc<dyn Codec>, RunError> {
    match workflow.codec() {
        Some(codec) if codec.name() == record.codec => Ok(Arc::clone(codec)),
        _ => codec_by_name(record),
    }
}

pub(crate) fn codec_by_name(record: &ExecutionRecord) -> Result<Arc<dyn Codec>, RunError> {
    codec_named(&record.codec).ok_or_else(|| RunError::UnknownCodec {
        id: record.id.clone(),
        codec: record.codec.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use waypost_core::Error;
    use waypost_core::codec::{decode, encode};

    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Order {
        id: u32,
        note: Option<String>,
        lines: Vec<(String, u64)>,
    }

    fn codecs() -> [Arc<dyn Codec>; 2] {
        [Arc::new(BincodeCodec), Arc::new(JsonCodec)]
    }

    #[test]
    fn values_and_errors_round_trip_through_every_codec() {
        let order = Order {
            id: 7,
            note: None,
            lines: vec![("tea".into(), 350)],
        };
        let error = Error::new("PaymentDeclined", "card declined")
            .caused_by(Error::timeout("gateway"))
            .at("2.charge");
        for codec in codecs() {
            let bytes = encode(&*codec, &order, "order").unwrap();
            assert_eq!(
                decode::<Order>(&*codec, &bytes, "order").unwrap(),
                order,
                "{}",
                codec.name()
            );
            let bytes = encode(&*codec, &error, "error").unwrap();
            assert_eq!(
                decode::<Error>(&*codec, &bytes, "error").unwrap(),
                error,
                "{}",
                codec.name()
            );
        }
    }

    #[test]
    fn garbage_and_huge_length_prefixes_are_errors_naming_what_failed() {
        for codec in codecs() {
            for bytes in [
                &b""[..],
                &[0xFF; 12],
                &[0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
            ] {
                let err = decode::<Order>(&*codec, bytes, "checkpoint `0.a` of execution `e`")
                    .unwrap_err();
                assert!(
                    err.message()
                        .starts_with("cannot decode checkpoint `0.a` of execution `e`"),
                    "{}: {err}",
                    codec.name()
                );
            }
        }
    }

    #[test]
    fn the_raw_codec_stores_a_blob_as_its_bytes_and_reads_it_back() {
        let blob = Blob::from(vec![0, 1, 2, 255]);
        let bytes = encode(&RawBytes, &blob, "blob").unwrap();
        assert_eq!(bytes, [0, 1, 2, 255]);
        assert_eq!(decode::<Blob>(&RawBytes, &bytes, "blob").unwrap(), blob);
        let empty = encode(&RawBytes, &Blob::default(), "blob").unwrap();
        assert!(empty.is_empty());
        assert_eq!(
            decode::<Blob>(&RawBytes, &[], "blob").unwrap(),
            Blob::default()
        );
    }

    #[test]
    fn the_raw_codec_refuses_what_is_not_a_byte_string_naming_it() {
        let order = Order {
            id: 1,
            note: None,
            lines: Vec::new(),
        };
        let error = waypost_core::codec::encode_checked(&RawBytes, &order, "the output of `o`")
            .unwrap_err();
        assert_eq!(error.name(), "States.DataEncodingFailed");
        assert!(
            error
                .message()
                .contains("the raw codec stores only a byte string (a `waypost::Blob`, or serde bytes), not a struct (`Order`)"),
            "{error}"
        );
        let error = encode(&RawBytes, &vec![1_u8, 2], "v").unwrap_err();
        assert!(
            error.message().contains("wrap it in a `waypost::Blob`"),
            "{error}"
        );
        assert!(encode(&RawBytes, &"text", "s").is_err());
        assert!(encode(&RawBytes, &7_u32, "n").is_err());
        // Bytes decode only into a byte string.
        let error = decode::<u32>(&RawBytes, &[1, 2], "checkpoint `0.a`").unwrap_err();
        assert!(
            error
                .message()
                .starts_with("cannot decode checkpoint `0.a` (2 bytes of raw)"),
            "{error}"
        );
    }

    #[test]
    fn a_blob_goes_through_bincode_and_json_too() {
        let blob = Blob::from(vec![7; 100]);
        for codec in codecs() {
            let bytes = encode(&*codec, &blob, "blob").unwrap();
            assert_eq!(
                decode::<Blob>(&*codec, &bytes, "blob").unwrap(),
                blob,
                "{}",
                codec.name()
            );
        }
    }

    #[test]
    fn codecs_are_found_by_their_stored_name() {
        assert_eq!(codec_named("raw").unwrap().name(), "raw");
        assert_eq!(codec_named("bincode").unwrap().name(), "bincode");
        assert_eq!(codec_named("json").unwrap().name(), "json");
        assert!(codec_named("xml").is_none());
    }
}
