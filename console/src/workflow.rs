//! What the console shows of a workflow: its graph and per-step statistics over its
//! newest executions.

use serde::Deserialize;
use waypost_core::graph::Graph;
use waypost_core::inspect::WorkflowStats;
use waypost_core::store::ListFilter;

use crate::console::AppState;
use crate::error::ConsoleError;

/// How many of a workflow's newest executions its statistics cover.
pub(crate) const SAMPLE: usize = 500;

/// `?version=2`
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WorkflowQuery {
    pub(crate) version: Option<u32>,
}

/// A workflow, one version of it.
pub(crate) struct WorkflowData {
    pub(crate) name: String,
    pub(crate) version: u32,
    /// The versions seen (registered, or among its newest executions), newest first.
    pub(crate) versions: Vec<u32>,
    pub(crate) graph: Graph,
    pub(crate) stats: WorkflowStats,
    /// Whether the graph comes from the workflow's code (rather than a stored copy).
    pub(crate) registered: bool,
}

impl WorkflowData {
    /// Reads workflow `name` at `version` (default: the newest known).
    pub(crate) async fn load(
        app: &AppState,
        name: &str,
        version: Option<u32>,
    ) -> Result<Self, ConsoleError> {
        let filter = ListFilter {
            workflow: Some(name.to_owned()),
            limit: Some(SAMPLE),
            ..ListFilter::default()
        };
        let records = app.store().list(&filter).await?;
        let mut versions: Vec<u32> = records.iter().map(|r| r.version).collect();
        versions.extend(
            app.registry()
                .keys()
                .into_iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v),
        );
        versions.sort_unstable_by(|a, b| b.cmp(a));
        versions.dedup();
        let Some(&newest) = versions.first() else {
            return Err(ConsoleError::NotFound(format!(
                "there is no workflow `{name}`: no execution of it is in this store"
            )));
        };
        let version = version.unwrap_or(newest);
        if !versions.contains(&version) {
            return Err(ConsoleError::NotFound(format!(
                "there is no version {version} of workflow `{name}` (versions: {})",
                versions
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let registered = app.registry().get(name, version);
        let graph = match (registered, records.iter().find(|r| r.version == version)) {
            (Some(workflow), _) => workflow.graph().clone(),
            (None, Some(record)) => serde_json::from_str(&record.graph).map_err(|e| {
                ConsoleError::Store(waypost_core::store::StoreError::Corrupt {
                    detail: format!("the graph stored with execution `{}`: {e}", record.id),
                })
            })?,
            (None, None) => {
                return Err(ConsoleError::NotFound(format!(
                    "no execution of workflow `{name}` v{version} is in this store"
                )));
            }
        };
        let mut stats = WorkflowStats::default();
        // Oldest first, so that steps are listed in the order they first ran.
        for record in records.iter().rev().filter(|r| r.version == version) {
            let history = app.store().history(&record.id).await?;
            stats.add(record, &graph, &history);
        }
        Ok(WorkflowData {
            name: name.to_owned(),
            version,
            versions,
            graph,
            stats,
            registered: registered.is_some(),
        })
    }
}
