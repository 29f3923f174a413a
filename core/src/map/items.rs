//! Where a CPU map's items come from: the input `Vec`, or any iterator a reader makes
//! from the input (ASL's `ItemReader`), optionally in batches (`ItemBatcher`).

use std::fmt;
use std::marker::PhantomData;

use crate::error::Error;
use crate::step::Payload;

/// Makes the items of a [`par_map`](super::par_map) from the map's input, lazily, so a
/// map of millions of items never holds them all (ASL's `ItemReader`).
///
/// `start` is the index of the first item wanted: a resumed map skips the items whose
/// results are committed. Readers that can seek (a file offset, a database cursor)
/// should; [`read_items`] makes a reader from a closure and skips by iterating.
pub trait ItemReader: Send + Sync + 'static {
    /// The map's input: what the items are read from (a path, a query, a range).
    type Input: Payload;
    /// One item. Items are never checkpointed, so they need not be serializable.
    type Item: Send + 'static;
    /// The items from `start` on.
    type Items: Iterator<Item = Result<Self::Item, Error>> + Send + 'static;

    /// The items of `input`, from the `start`-th (counting from 0) on.
    ///
    /// # Errors
    ///
    /// When the source cannot be opened; the map fails with this error.
    fn read(&self, input: Self::Input, start: usize) -> Result<Self::Items, Error>;

    /// How many items `input` holds, when known before reading (for a tolerated
    /// percentage of failures).
    fn len(&self, input: &Self::Input) -> Option<usize> {
        let _ = input;
        None
    }

    /// Groups the items in batches of up to `size` (ASL's `ItemBatcher`): the map's step
    /// then takes a `Vec` of items per call.
    ///
    /// # Panics
    ///
    /// When `size` is 0.
    fn batched(self, size: usize) -> Batched<Self>
    where
        Self: Sized,
    {
        assert!(size > 0, "a batch holds at least one item");
        Batched { reader: self, size }
    }
}

/// The default reader of a [`par_map`](super::par_map): the items of the input `Vec`.
pub struct VecItems<T>(PhantomData<fn() -> T>);

/// The reader of the input `Vec`'s items, to batch them:
/// `par_map(step).items(vec_items().batched(100))`.
pub fn vec_items<T: Payload>() -> VecItems<T> {
    VecItems(PhantomData)
}

impl<T> fmt::Debug for VecItems<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VecItems")
    }
}

impl<T: Payload> ItemReader for VecItems<T> {
    type Input = Vec<T>;
    type Item = T;
    type Items = std::iter::Map<std::iter::Skip<std::vec::IntoIter<T>>, fn(T) -> Result<T, Error>>;

    fn read(&self, input: Vec<T>, start: usize) -> Result<Self::Items, Error> {
        Ok(input.into_iter().skip(start).map(Ok))
    }

    fn len(&self, input: &Vec<T>) -> Option<usize> {
        Some(input.len())
    }
}

/// A reader made from a closure by [`read_items`].
pub struct FnReader<F, I> {
    read: F,
    _input: PhantomData<fn(I)>,
}

/// A reader from a closure that opens the items of the map's input; a resumed map
/// skips the committed items by iterating past them.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step]
/// fn square(x: u64) -> u64 { x * x }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // The input is a count; the items are made on the fly, never held all at once.
/// let sum_of_squares = Workflow::new(
///     "sum-of-squares",
///     1,
///     par_map(square)
///         .items(read_items(|n: u64| Ok((1..=n).map(Ok))))
///         .fold(0u64, |sum, x| sum + x),
/// );
/// assert_eq!(Runtime::new().run(&sum_of_squares, 1_000).await.unwrap(), 333_833_500);
/// # }
/// ```
pub fn read_items<F, I, It, T>(read: F) -> FnReader<F, I>
where
    F: Fn(I) -> Result<It, Error> + Send + Sync + 'static,
    I: Payload,
    It: Iterator<Item = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
{
    FnReader {
        read,
        _input: PhantomData,
    }
}

impl<F, I> fmt::Debug for FnReader<F, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnReader")
    }
}

impl<F, I, It, T> ItemReader for FnReader<F, I>
where
    F: Fn(I) -> Result<It, Error> + Send + Sync + 'static,
    I: Payload,
    It: Iterator<Item = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
{
    type Input = I;
    type Item = T;
    type Items = std::iter::Skip<It>;

    fn read(&self, input: I, start: usize) -> Result<Self::Items, Error> {
        Ok((self.read)(input)?.skip(start))
    }
}

/// A reader whose items are batches of another's; made by [`ItemReader::batched`].
#[derive(Debug)]
pub struct Batched<R> {
    reader: R,
    size: usize,
}

impl<R: ItemReader> ItemReader for Batched<R> {
    type Input = R::Input;
    type Item = Vec<R::Item>;
    type Items = Batches<R::Items>;

    fn read(&self, input: R::Input, start: usize) -> Result<Self::Items, Error> {
        let items = self.reader.read(input, start.saturating_mul(self.size))?;
        Ok(Batches {
            items,
            size: self.size,
        })
    }

    fn len(&self, input: &R::Input) -> Option<usize> {
        Some(self.reader.len(input)?.div_ceil(self.size))
    }
}

/// The batches of a [`Batched`] reader.
#[derive(Debug)]
pub struct Batches<I> {
    items: I,
    size: usize,
}

impl<T, I: Iterator<Item = Result<T, Error>>> Iterator for Batches<I> {
    type Item = Result<Vec<T>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut batch = Vec::with_capacity(self.size);
        for item in self.items.by_ref() {
            match item {
                Ok(item) => batch.push(item),
                Err(error) => return Some(Err(error)),
            }
            if batch.len() == self.size {
                break;
            }
        }
        (!batch.is_empty()).then_some(Ok(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect<R: ItemReader>(reader: &R, input: R::Input, start: usize) -> Vec<R::Item> {
        reader
            .read(input, start)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn vec_items_skip_the_committed_ones() {
        assert_eq!(collect(&vec_items(), vec![1, 2, 3, 4], 2), [3, 4]);
        assert_eq!(collect(&vec_items(), vec![1, 2], 5), Vec::<i32>::new());
        assert_eq!(vec_items().len(&vec![1, 2, 3]), Some(3));
    }

    #[test]
    fn batches_hold_up_to_size_items_and_skip_whole_batches() {
        let batched = vec_items().batched(3);
        let input: Vec<u32> = (0..8).collect();
        assert_eq!(
            collect(&batched, input.clone(), 0),
            [vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]]
        );
        assert_eq!(collect(&batched, input.clone(), 2), [vec![6, 7]]);
        assert_eq!(batched.len(&input), Some(3));
    }

    #[test]
    fn a_read_error_ends_the_batch_with_it() {
        let reader = read_items(|n: u32| {
            Ok((0..n).map(|i| match i {
                4 => Err(Error::new("BadRow", "row 4")),
                i => Ok(i),
            }))
        })
        .batched(3);
        let mut batches = reader.read(10, 0).unwrap();
        assert_eq!(batches.next().unwrap().unwrap(), [0, 1, 2]);
        assert_eq!(batches.next().unwrap().unwrap_err().name(), "BadRow");
    }
}
