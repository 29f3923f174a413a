//! Where a CPU map's results go: collected into a `Vec`, or folded into one value as
//! they arrive (ASL's `ResultWriter`), so a map of millions of items need not hold
//! them.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::address::Address;
use crate::codec::{Codec, decode, encode};
use crate::context::Context;
use crate::error::Error;
use crate::step::{Payload, Step};

mod private {
    pub trait Sealed {}
}

/// What a [`par_map`](super::par_map) does with its items' results, in input order.
///
/// Between checkpoints the map commits what the sink needs to carry on after a crash:
/// the results since the last checkpoint ([`Collect`]) or the folded value ([`Fold`]).
pub trait Sink<T>: private::Sealed + Send + Sync + 'static {
    /// The map's output.
    type Output: Payload;
    /// What the sink holds while the map runs.
    type State: Send;

    /// The state before the first item.
    fn start(&self) -> Self::State;

    /// Takes the next item's result.
    fn push(&self, state: &mut Self::State, item: T);

    /// Encodes what a checkpoint must hold for the items pushed since the last one.
    ///
    /// # Errors
    ///
    /// When the codec cannot encode it.
    fn checkpoint(
        &self,
        state: &mut Self::State,
        codec: &dyn Codec,
        what: &str,
    ) -> Result<Vec<u8>, Error>;

    /// Takes back what [`checkpoint`](Self::checkpoint) encoded, in the same order.
    ///
    /// # Errors
    ///
    /// When the bytes do not decode.
    fn restore(
        &self,
        state: &mut Self::State,
        payload: &[u8],
        codec: &dyn Codec,
        what: &str,
    ) -> Result<(), Error>;

    /// The map's output once every item is pushed.
    fn finish(&self, state: Self::State) -> Self::Output;

    /// Hands a full batch pushed so far (when `last`, all that is left) to where it
    /// goes, before the next checkpoint; a sink that keeps its results in its state does
    /// nothing.
    ///
    /// # Errors
    ///
    /// When writing a batch fails: the map fails with that error.
    fn flush<'a>(
        &'a self,
        state: &'a mut Self::State,
        cx: &'a Context,
        map: &'a Address,
        last: bool,
    ) -> BoxFuture<'a, Result<(), Error>> {
        let _ = (state, cx, map, last);
        Box::pin(std::future::ready(Ok(())))
    }

    /// How many of the items pushed are not yet in what [`checkpoint`](Self::checkpoint)
    /// encodes (they wait for a full batch): they run again after a crash.
    fn held(&self, state: &Self::State) -> usize {
        let _ = state;
        0
    }

    /// How many items make a full batch for [`flush`](Self::flush); 0 when the sink
    /// holds none back.
    fn batch(&self) -> usize {
        0
    }
}

/// Encodes the entries of `all` after the first `committed`, and counts them committed.
fn encode_new<T: Payload>(
    all: &[T],
    committed: &mut usize,
    codec: &dyn Codec,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let bytes = encode(codec, &&all[*committed..], what)?;
    // Read back as it will be on resume: nothing undecodable is committed.
    decode::<Vec<T>>(codec, &bytes, what).map_err(|error| reads_back_not(codec, what, &error))?;
    *committed = all.len();
    Ok(bytes)
}

/// The [`DATA_ENCODING_FAILED`](crate::error::names::DATA_ENCODING_FAILED) error of
/// map results that `codec` writes but cannot read back.
fn reads_back_not(codec: &dyn Codec, what: &str, error: &Error) -> Error {
    Error::with_kind(
        crate::ErrorKind::Task,
        crate::error::names::DATA_ENCODING_FAILED,
        format!(
            "{what} cannot be stored with {}: what it writes does not read back: {}",
            codec.name(),
            error.message()
        ),
    )
}

/// Appends the entries [`encode_new`] encoded, counted committed.
fn decode_more<T: Payload>(
    all: &mut Vec<T>,
    committed: &mut usize,
    payload: &[u8],
    codec: &dyn Codec,
    what: &str,
) -> Result<(), Error> {
    all.extend(decode::<Vec<T>>(codec, payload, what)?);
    *committed = all.len();
    Ok(())
}

/// The default sink: every result, in input order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Collect;

/// The results collected so far, and how many of them are committed.
#[derive(Debug)]
pub struct Collected<T> {
    items: Vec<T>,
    committed: usize,
}

impl private::Sealed for Collect {}

impl<T: Payload> Sink<T> for Collect {
    type Output = Vec<T>;
    type State = Collected<T>;

    fn start(&self) -> Collected<T> {
        Collected {
            items: Vec::new(),
            committed: 0,
        }
    }

    fn push(&self, state: &mut Collected<T>, item: T) {
        state.items.push(item);
    }

    fn checkpoint(
        &self,
        state: &mut Collected<T>,
        codec: &dyn Codec,
        what: &str,
    ) -> Result<Vec<u8>, Error> {
        encode_new(&state.items, &mut state.committed, codec, what)
    }

    fn restore(
        &self,
        state: &mut Collected<T>,
        payload: &[u8],
        codec: &dyn Codec,
        what: &str,
    ) -> Result<(), Error> {
        decode_more(&mut state.items, &mut state.committed, payload, codec, what)
    }

    fn finish(&self, state: Collected<T>) -> Vec<T> {
        state.items
    }
}

/// A sink that folds every result into one value, in input order; made by
/// [`ParMap::fold`](super::ParMap::fold). Each checkpoint holds the value so far.
pub struct Fold<A, F> {
    init: A,
    f: Arc<F>,
}

impl<A, F> Fold<A, F> {
    pub(crate) fn new(init: A, f: F) -> Self {
        Fold {
            init,
            f: Arc::new(f),
        }
    }
}

impl<A: fmt::Debug, F> fmt::Debug for Fold<A, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fold")
            .field("init", &self.init)
            .finish_non_exhaustive()
    }
}

impl<A, F> private::Sealed for Fold<A, F> {}

impl<T, A, F> Sink<T> for Fold<A, F>
where
    A: Payload + Sync,
    F: Fn(A, T) -> A + Send + Sync + 'static,
{
    type Output = A;
    /// `None` only while `f` runs.
    type State = Option<A>;

    fn start(&self) -> Option<A> {
        Some(self.init.clone())
    }

    fn push(&self, state: &mut Option<A>, item: T) {
        let acc = state
            .take()
            .expect("the fold holds its value between items");
        *state = Some((self.f)(acc, item));
    }

    fn checkpoint(
        &self,
        state: &mut Option<A>,
        codec: &dyn Codec,
        what: &str,
    ) -> Result<Vec<u8>, Error> {
        crate::codec::encode_checked(codec, state, what)
    }

    fn restore(
        &self,
        state: &mut Option<A>,
        payload: &[u8],
        codec: &dyn Codec,
        what: &str,
    ) -> Result<(), Error> {
        let value: Option<A> = decode(codec, payload, what)?;
        *state =
            Some(value.ok_or_else(|| Error::runtime(format!("{what} holds no folded value")))?);
        Ok(())
    }

    fn finish(&self, state: Option<A>) -> A {
        state.expect("the fold holds its value between items")
    }
}

/// A sink that hands the results, in batches of a fixed size and in input order, to a
/// step (ASL's `ResultWriter`: write them to a file, a table, a queue); made by
/// [`ParMap::write_results`](super::ParMap::write_results). The map's output is the
/// step's output for each batch.
///
/// The step runs durably like any task step, at `{map}/~sink/{batch}`: a batch it
/// wrote is never written again, and since batches always start at a multiple of their
/// size, a batch cut short by a crash is the same batch when the map resumes.
#[derive(Debug)]
pub struct WriteResults<W> {
    step: W,
    size: usize,
}

impl<W> WriteResults<W> {
    pub(crate) fn new(step: W, size: usize) -> Self {
        assert!(size > 0, "a batch of results holds at least one");
        WriteResults { step, size }
    }
}

/// The results waiting for a full batch, and what the step returned for each batch.
#[derive(Debug)]
pub struct Written<T, O> {
    pending: Vec<T>,
    outputs: Vec<O>,
    committed: usize,
}

impl<W> private::Sealed for WriteResults<W> {}

impl<T, W> Sink<T> for WriteResults<W>
where
    T: Payload + Sync,
    W: Step<Input = Vec<T>>,
{
    type Output = Vec<W::Output>;
    type State = Written<T, W::Output>;

    fn start(&self) -> Self::State {
        Written {
            pending: Vec::new(),
            outputs: Vec::new(),
            committed: 0,
        }
    }

    fn push(&self, state: &mut Self::State, item: T) {
        state.pending.push(item);
    }

    fn checkpoint(
        &self,
        state: &mut Self::State,
        codec: &dyn Codec,
        what: &str,
    ) -> Result<Vec<u8>, Error> {
        encode_new(&state.outputs, &mut state.committed, codec, what)
    }

    fn restore(
        &self,
        state: &mut Self::State,
        payload: &[u8],
        codec: &dyn Codec,
        what: &str,
    ) -> Result<(), Error> {
        decode_more(
            &mut state.outputs,
            &mut state.committed,
            payload,
            codec,
            what,
        )
    }

    fn finish(&self, state: Self::State) -> Vec<W::Output> {
        state.outputs
    }

    fn flush<'a>(
        &'a self,
        state: &'a mut Self::State,
        cx: &'a Context,
        map: &'a Address,
        last: bool,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            // One batch at a time while items run, so that each is committed as soon as
            // it is written; at the end, all that is left.
            let mut room = if last { usize::MAX } else { 1 };
            while room > 0
                && (state.pending.len() >= self.size || (last && !state.pending.is_empty()))
            {
                room -= 1;
                let take = self.size.min(state.pending.len());
                // Cloned, not drained: if the step fails, the batch is still held.
                let batch = state.pending[..take].to_vec();
                let at = map.branch(format_args!("~sink/{}", state.outputs.len()));
                let output = self.step.run(&cx.nested(at), batch).await?;
                state.pending.drain(..take);
                state.outputs.push(output);
            }
            Ok(())
        })
    }

    fn held(&self, state: &Self::State) -> usize {
        state.pending.len()
    }

    fn batch(&self) -> usize {
        self.size
    }
}
