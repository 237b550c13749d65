//! The SageMaker Feature Store control plane (feature `aws`).
//!
//! - [`ControlPlane`] wraps an `aws_sdk_sagemaker::Client` built from the
//!   caller's `SdkConfig` (this crate never loads AWS configuration) and
//!   creates, describes, lists, updates, deletes and waits for feature groups.
//! - [`ToSdk`] and [`FromSdk`] convert this crate's types to and from the
//!   SDK's; [`apply_create_feature_group`] fills a CreateFeatureGroup request
//!   from a [`FeatureGroup`](crate::FeatureGroup).
//! - [`SageMakerRegistry`] is the [`Registry`](crate::registry::Registry)
//!   over the control plane: each change waits for its status.
//! - [`AwsError`] is every control-plane failure, classified by
//!   [`AwsErrorKind`]; it converts into [`crate::Error::Aws`].

mod client;
mod convert;

mod registry;
mod status;
#[cfg(test)]
mod tests;

/// The `aws-sdk-sagemaker` crate this module is built on, for naming its
/// types with the same version.
pub use aws_sdk_sagemaker as sdk;
/// The shared AWS configuration [`ControlPlane::new`] takes (load it with
/// `aws-config` in the application).
pub use aws_types::SdkConfig;

pub use crate::aws_error::{AwsError, AwsErrorKind};
pub use client::ControlPlane;
pub use convert::{FromSdk, ToSdk, apply_create_feature_group};
pub use registry::SageMakerRegistry;
