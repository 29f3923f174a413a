//! [`Family`]: an execution's parent and children (child workflows), from its
//! checkpoints.

use serde::{Deserialize, Serialize};

use crate::store::{Checkpoint, CheckpointKind};

/// Where a child execution records its parent (JSON of [`ParentLink`]).
pub const PARENT_KEY: &str = "~parent";

/// The suffix of the key where a parent records a child's id: `{state key}~child`.
pub const CHILD_SUFFIX: &str = "~child";

/// A child execution's parent, as the child stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent execution.
    pub id: String,
    /// The checkpoint key of the parent's state that started the child.
    pub key: String,
}

/// An execution's parent, if it is a child execution, and the children it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Family {
    /// The parent.
    pub parent: Option<ParentLink>,
    /// The ids of the children it started, in the order it started them.
    pub children: Vec<String>,
}

impl Family {
    /// The family the checkpoints of one execution record.
    ///
    /// ```
    /// use waypost::inspect::Family;
    /// use waypost::store::{Checkpoint, CheckpointKind};
    ///
    /// let cp = |key: &str, payload: &[u8]| Checkpoint {
    ///     seq: 0,
    ///     key: key.into(),
    ///     kind: CheckpointKind::Decision,
    ///     payload: payload.to_vec(),
    ///     checksum: 0,
    /// };
    /// let family = Family::of(&[
    ///     cp("~parent", br#"{"id":"batch-1","key":"0.map/2/0.chunk"}"#),
    ///     cp("1.report~child", b"batch-1/0.map/2/0.chunk/1.report"),
    /// ]);
    /// assert_eq!(family.parent.unwrap().id, "batch-1");
    /// assert_eq!(family.children, ["batch-1/0.map/2/0.chunk/1.report"]);
    /// ```
    pub fn of(checkpoints: &[Checkpoint]) -> Family {
        let mut family = Family::default();
        for checkpoint in checkpoints {
            if checkpoint.kind != CheckpointKind::Decision {
                continue;
            }
            if checkpoint.key == PARENT_KEY {
                family.parent = serde_json::from_slice(&checkpoint.payload).ok();
            } else if checkpoint.key.ends_with(CHILD_SUFFIX)
                && let Ok(id) = String::from_utf8(checkpoint.payload.clone())
            {
                family.children.push(id);
            }
        }
        family
    }
}
