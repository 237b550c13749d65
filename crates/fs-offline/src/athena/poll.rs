//! Waiting for a query: GetQueryExecution polled with exponential backoff
//! (fs-retry's schedule) until the query ends or the deadline passes (then
//! StopQueryExecution).

use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_athena::types::QueryExecutionState;
use fs_schema::aws_error::AwsError;

use super::error::{AthenaError, AthenaResult};

/// The schedule of GetQueryExecution calls: fs-retry's [`Backoff`], the
/// workspace's one delay schedule (`initial`, multiplied by `multiplier`
/// after each call, never more than `max`; optionally jittered).
pub use fs_retry::Backoff;

/// Athena's default poll schedule ([`AthenaOptions`](super::AthenaOptions)'
/// `backoff`): 200 ms, growing by 1.5 up to 5 s, without jitter: a query of
/// a few seconds is seen finishing within about 20% of its run time, a long
/// one costs one call every 5 s.
pub(crate) const DEFAULT_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(200), Duration::from_secs(5), 1.5);

/// The state of a query execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryState {
    /// Accepted, waiting to run.
    Queued,
    /// Running.
    Running,
    /// Finished; its results can be read.
    Succeeded,
    /// Failed; see the state-change reason.
    Failed,
    /// Stopped by a user (or by the engine at its deadline).
    Cancelled,
}

impl QueryState {
    pub(crate) fn from_sdk(state: &QueryExecutionState) -> Option<Self> {
        Some(match state {
            QueryExecutionState::Queued => Self::Queued,
            QueryExecutionState::Running => Self::Running,
            QueryExecutionState::Succeeded => Self::Succeeded,
            QueryExecutionState::Failed => Self::Failed,
            QueryExecutionState::Cancelled => Self::Cancelled,
            _ => return None,
        })
    }

    /// True once the query can change no more.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// Athena's name of the state (`QUEUED`, `RUNNING`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for QueryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A query that ended `SUCCEEDED`, and what was seen while waiting for it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Finished {
    /// The query execution.
    pub query_id: String,
    /// Athena's statement type (`DML`, `DDL`, `UTILITY`), when given.
    pub statement_type: Option<String>,
    /// How many GetQueryExecution calls were made.
    pub polls: u32,
    /// The distinct states seen, in order (the last is `Succeeded`).
    pub states: Vec<QueryState>,
    /// Bytes scanned, as Athena reports them.
    pub data_scanned_bytes: Option<i64>,
    /// The engine's run time in milliseconds, as Athena reports it.
    pub engine_execution_ms: Option<i64>,
    /// Where Athena wrote the result file (CSV for SELECT).
    pub output_location: Option<String>,
}

/// Polls `query_id` until it ends; on `deadline` (counted from `started`)
/// stops it and returns [`AthenaError::Timeout`].
pub(crate) async fn wait(
    client: &aws_sdk_athena::Client,
    query_id: &str,
    backoff: &Backoff,
    deadline: Option<Duration>,
    started: Instant,
) -> AthenaResult<Finished> {
    let mut polls = 0u32;
    let mut states: Vec<QueryState> = Vec::new();
    loop {
        let out = client
            .get_query_execution()
            .query_execution_id(query_id)
            .send()
            .await
            .map_err(|e| AthenaError::Api {
                query_id: Some(query_id.to_owned()),
                source: Box::new(AwsError::from_sdk("GetQueryExecution", e)),
            })?;
        let execution = out.query_execution();
        let status = execution.and_then(|e| e.status());
        let state = status
            .and_then(|s| s.state())
            .and_then(QueryState::from_sdk)
            .ok_or_else(|| AthenaError::Schema {
                query_id: query_id.to_owned(),
                reason: format!(
                    "GetQueryExecution returned no known state ({:?})",
                    status.and_then(|s| s.state())
                ),
            })?;
        polls += 1;
        let poll_delay = backoff.delay(polls);
        if states.last() != Some(&state) {
            states.push(state);
        }
        tracing::debug!(query_id, %state, polls, "athena query state");
        match state {
            QueryState::Succeeded => {
                let stats = execution.and_then(|e| e.statistics());
                return Ok(Finished {
                    query_id: query_id.to_owned(),
                    statement_type: execution
                        .and_then(|e| e.statement_type())
                        .map(|t| t.as_str().to_owned()),
                    polls,
                    states,
                    data_scanned_bytes: stats.and_then(|s| s.data_scanned_in_bytes()),
                    engine_execution_ms: stats.and_then(|s| s.engine_execution_time_in_millis()),
                    output_location: execution
                        .and_then(|e| e.result_configuration())
                        .and_then(|r| r.output_location())
                        .map(str::to_owned),
                });
            }
            QueryState::Failed | QueryState::Cancelled => {
                let reason = status
                    .and_then(|s| s.state_change_reason())
                    .filter(|r| !r.is_empty())
                    .or_else(|| {
                        status
                            .and_then(|s| s.athena_error())
                            .and_then(|e| e.error_message())
                    })
                    .map(str::to_owned);
                let athena_error = status.and_then(|s| s.athena_error());
                return Err(AthenaError::QueryFailed {
                    query_id: query_id.to_owned(),
                    state,
                    reason,
                    error_category: athena_error.and_then(|e| e.error_category()),
                    error_type: athena_error.and_then(|e| e.error_type()),
                });
            }
            QueryState::Queued | QueryState::Running => {}
        }
        let delay = match deadline {
            Some(deadline) => {
                let elapsed = started.elapsed();
                if elapsed >= deadline {
                    let stopped = stop(client, query_id).await.is_ok();
                    return Err(AthenaError::Timeout {
                        query_id: query_id.to_owned(),
                        deadline,
                        last_state: state,
                        stopped,
                    });
                }
                poll_delay.min(deadline - elapsed)
            }
            None => poll_delay,
        };
        tokio::time::sleep(delay).await;
    }
}

/// Calls StopQueryExecution.
pub(crate) async fn stop(client: &aws_sdk_athena::Client, query_id: &str) -> AthenaResult<()> {
    client
        .stop_query_execution()
        .query_execution_id(query_id)
        .send()
        .await
        .map_err(|e| {
            let source = Box::new(AwsError::from_sdk("StopQueryExecution", e));
            tracing::warn!(query_id, error = %source, "StopQueryExecution failed");
            AthenaError::Api {
                query_id: Some(query_id.to_owned()),
                source,
            }
        })?;
    tracing::info!(query_id, "athena query stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use fs_retry::Jitter;

    use super::*;

    #[test]
    fn the_default_starts_at_200ms_grows_by_half_and_caps_at_5s_without_jitter() {
        let b = DEFAULT_BACKOFF;
        assert!(b.validate().is_ok());
        assert_eq!(b.jitter, Jitter::None);
        let ms = Duration::from_millis;
        let first: Vec<Duration> = b.delays().take(4).collect();
        assert_eq!(first, [ms(200), ms(300), ms(450), ms(675)]);
        assert_eq!(b.delay(100), Duration::from_secs(5));
        assert_eq!(super::super::AthenaOptions::default().backoff, b);
    }
}
