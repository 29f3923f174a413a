//! Workflow fingerprints and versions: is this the workflow the execution was started
//! with?

use super::journal::ReplayError;

/// What a fingerprint check decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    /// The workflow is refused when its version or its structure changed.
    Refuse,
    /// The caller opted in: resume even when the version or the structure changed
    /// (checkpoints whose keys still exist are replayed, the rest runs).
    Allow,
}

/// Checks the version and fingerprint an execution was started with against the
/// workflow it is being run with. A new version is a change even when the structure
/// stayed the same: the steps' code may differ.
///
/// # Errors
///
/// [`ReplayError::FingerprintMismatch`] naming both versions and fingerprints when the
/// structure changed, else [`ReplayError::VersionMismatch`] naming both versions when
/// the version changed — unless `changed` is [`Changed::Allow`].
pub fn check(
    execution: &str,
    workflow: &str,
    stored: (u32, &str),
    current: (u32, &str),
    changed: Changed,
) -> Result<(), ReplayError> {
    if changed == Changed::Allow || stored == current {
        return Ok(());
    }
    if stored.1 != current.1 {
        return Err(ReplayError::FingerprintMismatch {
            execution: execution.to_owned(),
            workflow: workflow.to_owned(),
            stored_version: stored.0,
            stored: stored.1.to_owned(),
            current_version: current.0,
            current: current.1.to_owned(),
        });
    }
    Err(ReplayError::VersionMismatch {
        execution: execution.to_owned(),
        workflow: workflow.to_owned(),
        stored_version: stored.0,
        current_version: current.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_version_and_structure_passes() {
        assert!(check("e", "w", (1, "abc"), (1, "abc"), Changed::Refuse).is_ok());
    }

    #[test]
    fn another_version_of_the_same_structure_is_refused_naming_both_unless_allowed() {
        let err = check("order-1", "orders", (1, "abc"), (2, "abc"), Changed::Refuse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "execution `order-1` was started with workflow `orders` v1, but is being run \
             with v2; run it with the version it was started with, or allow changed workflows"
        );
        assert!(check("order-1", "orders", (1, "abc"), (2, "abc"), Changed::Allow).is_ok());
    }

    #[test]
    fn a_changed_structure_is_refused_naming_both_versions_unless_allowed() {
        let err = check("order-1", "orders", (1, "abc"), (2, "def"), Changed::Refuse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "execution `order-1` was started with workflow `orders` v1 (fingerprint abc), but is \
             being resumed with v2 (fingerprint def); resume with the workflow it was started \
             with, or allow changed workflows"
        );
        assert!(check("order-1", "orders", (1, "abc"), (2, "def"), Changed::Allow).is_ok());
    }
}
