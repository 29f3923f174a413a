//! The status rules of a commit batch, shared by every store.

use super::{ExecutionStatus, StoreError, Write};

/// Checks a [`Store::commit`] batch against the status of the execution `id`
/// (`before` the batch) and returns the order to apply it in, as indices into `writes`.
/// Every store calls it, so they all accept and refuse the same batches.
///
/// The writes are checked one after the other, each against the status the execution
/// has at that point of the batch:
///
/// - a [`Write::Status`] may move a `running` execution to any status (`running`
///   again included), and a `failed` one back to `running` with `redrive: true`;
/// - a [`Write::Checkpoint`] and a [`Write::Park`] need a `running` execution;
/// - a [`Write::Event`] needs a `running` execution, or a batch whose status write
///   finished the running execution (the final events go with the final status).
///
/// A redrive (a `running` status with `redrive: true`) is applied first, before the
/// writes that come before it in the batch: its redrive marker and events are
/// written to the execution it set running. Every other write keeps its place.
///
/// Anything else refuses the whole batch with [`StoreError::NotRunning`], naming the
/// status the execution would have had at the refused write.
pub fn batch_order(
    id: &str,
    before: ExecutionStatus,
    writes: &[Write],
) -> Result<Vec<usize>, StoreError> {
    let redrive = writes.iter().position(|write| {
        matches!(
            write,
            Write::Status {
                status: ExecutionStatus::Running,
                redrive: true,
                ..
            }
        )
    });
    let order: Vec<usize> = redrive
        .into_iter()
        .chain((0..writes.len()).filter(|&index| Some(index) != redrive))
        .collect();

    let not_running = |status| StoreError::NotRunning {
        id: id.to_owned(),
        status,
    };
    let mut current = before;
    // Whether a status write of this batch finished the execution while it was running.
    let mut finished_here = false;
    for &index in &order {
        match &writes[index] {
            Write::Status {
                status, redrive, ..
            } => {
                let allowed = match current {
                    ExecutionStatus::Running => true,
                    ExecutionStatus::Failed => *status == ExecutionStatus::Running && *redrive,
                    _ => false,
                };
                if !allowed {
                    return Err(not_running(current));
                }
                if current == ExecutionStatus::Running && status.is_finished() {
                    finished_here = true;
                }
                current = *status;
            }
            Write::Checkpoint(_) | Write::Park { .. } if current != ExecutionStatus::Running => {
                return Err(not_running(current));
            }
            Write::Event(_) if current != ExecutionStatus::Running && !finished_here => {
                return Err(not_running(current));
            }
            // Checked by each store (`Write` is non-exhaustive).
            _ => {}
        }
    }
    Ok(order)
}
