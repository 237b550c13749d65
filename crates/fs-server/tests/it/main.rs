//! Integration tests of fs-server: the control plane through the real
//! `aws-sdk-sagemaker` client (fs-schema's `ControlPlane`), the runtime
//! API's wire details through `aws-sdk-sagemakerfeaturestoreruntime`, raw
//! HTTP limits and timeouts, fault injection (before and after the
//! commit), the caller's region, and the binary.

mod batch_write;
mod binary;
mod control_plane;
mod crash;
mod hardening;
mod post_commit;
mod region;
mod runtime_wire;
mod support;
