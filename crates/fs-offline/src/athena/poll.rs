//! Waiting for a query: GetQueryExecution polled with exponential backoff
//! until the query ends or the deadline passes (then StopQueryExecution).

use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_athena::types::QueryExecutionState;
use fs_schema::aws_error::AwsError;

use super::error::{AthenaError, AthenaResult};

/// How long to wait between two GetQueryExecution calls: `initial`, then
/// multiplied by `multiplier` after each call, never more than `max`.
///
/// ```
/// use std::time::Duration;
/// use fs_offline::athena::Backoff;
/// let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500), 2.0);
/// let delays: Vec<_> = b.delays().take(5).map(|d| d.as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 500, 500]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// The factor between two delays (at least 1).
    pub multiplier: f64,
}

impl Default for Backoff {
    /// 200 ms, growing by 1.5 up to 5 s: a query of a few seconds is seen
    /// finishing within about 20% of its run time, a long one costs one
    /// call every 5 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(5),
            multiplier: 1.5,
        }
    }
}

impl Backoff {
    /// A backoff from its three parameters (checked when the engine is built).
    pub fn new(initial: Duration, max: Duration, multiplier: f64) -> Self {
        Self {
            initial,
            max,
            multiplier,
        }
    }

    /// The delay after the `n`-th call (0-based): `min(initial · multiplierⁿ, max)`.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = self.multiplier.powi(i32::try_from(n).unwrap_or(i32::MAX));
        let secs = self.initial.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::from_secs_f64(secs)
    }

    /// The delays in order, without end.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + '_ {
        (0u32..).map(|n| self.delay(n))
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.initial.is_zero() {
            return Err("the poll backoff's initial delay must be more than zero".into());
        }
        if self.max < self.initial {
            return Err(format!(
                "the poll backoff's max delay {:?} is shorter than its initial delay {:?}",
                self.max, self.initial
            ));
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err(format!(
                "the poll backoff's multiplier must be a finite number >= 1, not {}",
                self.multiplier
            ));
        }
        Ok(())
    }
}

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
        let poll_delay = backoff.delay(polls);
        polls += 1;
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
    use super::*;

    #[test]
    fn delays_grow_by_the_multiplier_and_stop_at_max() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100), 3.0);
        let d: Vec<u128> = b.delays().take(5).map(|d| d.as_millis()).collect();
        assert_eq!(d, [10, 30, 90, 100, 100]);
        // A multiplier of 1 is a fixed interval.
        let fixed = Backoff::new(Duration::from_millis(7), Duration::from_secs(1), 1.0);
        assert!(
            fixed
                .delays()
                .take(20)
                .all(|d| d == Duration::from_millis(7))
        );
        // Huge exponents saturate at max instead of overflowing.
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(100));
    }

    #[test]
    fn the_default_starts_at_200ms_and_caps_at_5s() {
        let b = Backoff::default();
        assert!(b.validate().is_ok());
        assert_eq!(b.delay(0), Duration::from_millis(200));
        assert_eq!(b.delay(1), Duration::from_millis(300));
        assert_eq!(b.delay(100), Duration::from_secs(5));
    }

    #[test]
    fn invalid_backoffs_are_refused_with_the_reason() {
        let ms = Duration::from_millis;
        let zero = Backoff::new(Duration::ZERO, ms(10), 2.0)
            .validate()
            .unwrap_err();
        assert!(zero.contains("initial delay"), "{zero}");
        let short = Backoff::new(ms(10), ms(5), 2.0).validate().unwrap_err();
        assert!(short.contains("shorter"), "{short}");
        let shrink = Backoff::new(ms(10), ms(50), 0.5).validate().unwrap_err();
        assert!(shrink.contains("multiplier"), "{shrink}");
        let nan = Backoff::new(ms(10), ms(50), f64::NAN)
            .validate()
            .unwrap_err();
        assert!(nan.contains("multiplier"), "{nan}");
    }
}
