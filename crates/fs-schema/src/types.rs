//! Feature types and feature definitions.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::{MAX_VECTOR_DIMENSION, MIN_VECTOR_DIMENSION};
use crate::name::{NameKind, validate_name};

/// The scalar type of a feature, as the service defines it.
///
/// | type | values | Arrow type used here |
/// |---|---|---|
/// | `Integral` | 64-bit signed integers | `Int64` |
/// | `Fractional` | IEEE 754 64-bit floats | `Float64` |
/// | `String` | UTF-8 text | `Utf8` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FeatureType {
    /// A 64-bit signed integer (`i64`).
    Integral,
    /// A 64-bit float (`f64`).
    Fractional,
    /// A UTF-8 string.
    String,
}

impl std::fmt::Display for FeatureType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FeatureType::Integral => "Integral",
            FeatureType::Fractional => "Fractional",
            FeatureType::String => "String",
        })
    }
}

/// A collection feature: a feature whose value is a list of scalars.
///
/// Collection types are only accepted by feature groups whose online store
/// uses the `InMemory` storage type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    /// An ordered list of values of the feature's type.
    List,
    /// A list of distinct values of the feature's type.
    Set,
    /// A fixed-length list of `dimension` values; the feature type must be
    /// `Fractional`.
    Vector {
        /// The number of elements every value has (1 to 8192).
        dimension: u32,
    },
}

impl Collection {
    /// The service's name for this collection type (`List`, `Set`, `Vector`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Collection::List => "List",
            Collection::Set => "Set",
            Collection::Vector { .. } => "Vector",
        }
    }
}

/// One feature of a feature group: its name, type and optional collection.
///
/// Serializes to the `FeatureDefinition` shape of the CreateFeatureGroup
/// request: `{"FeatureName": "...", "FeatureType": "Integral"}`, with
/// `CollectionType` and `CollectionConfig.VectorConfig.Dimension` for
/// collection features.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    try_from = "wire::FeatureDefinitionWire",
    into = "wire::FeatureDefinitionWire"
)]
pub struct FeatureDefinition {
    /// The feature's name.
    pub name: String,
    /// The scalar type of the feature (of each element for collections).
    pub feature_type: FeatureType,
    /// `Some` for collection features.
    pub collection: Option<Collection>,
}

impl FeatureDefinition {
    /// A scalar feature.
    pub fn new(name: impl Into<String>, feature_type: FeatureType) -> Self {
        Self {
            name: name.into(),
            feature_type,
            collection: None,
        }
    }

    /// An `Integral` feature.
    pub fn integral(name: impl Into<String>) -> Self {
        Self::new(name, FeatureType::Integral)
    }

    /// A `Fractional` feature.
    pub fn fractional(name: impl Into<String>) -> Self {
        Self::new(name, FeatureType::Fractional)
    }

    /// A `String` feature.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, FeatureType::String)
    }

    /// This feature as a collection of its type.
    pub fn with_collection(mut self, collection: Collection) -> Self {
        self.collection = Some(collection);
        self
    }

    /// True for `List`, `Set` and `Vector` features.
    pub fn is_collection(&self) -> bool {
        self.collection.is_some()
    }

    /// Checks the feature on its own: its name, and the constraints of its
    /// collection type (a `Vector` is `Fractional` with a dimension from 1 to
    /// 8192).
    pub fn validate(&self) -> Result<()> {
        validate_name(NameKind::Feature, &self.name)?;
        if let Some(Collection::Vector { dimension }) = self.collection {
            if self.feature_type != FeatureType::Fractional {
                return Err(Error::InvalidDefinition {
                    feature: self.name.clone(),
                    reason: format!(
                        "a Vector feature must be Fractional, not {}",
                        self.feature_type
                    ),
                });
            }
            if !(MIN_VECTOR_DIMENSION..=MAX_VECTOR_DIMENSION).contains(&dimension) {
                return Err(Error::InvalidDefinition {
                    feature: self.name.clone(),
                    reason: format!(
                        "a Vector dimension must be from {MIN_VECTOR_DIMENSION} to {MAX_VECTOR_DIMENSION}, not {dimension}"
                    ),
                });
            }
        }
        Ok(())
    }
}

mod wire {
    //! The JSON shape of a `FeatureDefinition` in the SageMaker API.
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    pub(super) struct FeatureDefinitionWire {
        feature_name: String,
        feature_type: FeatureType,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        collection_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        collection_config: Option<CollectionConfigWire>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct CollectionConfigWire {
        vector_config: VectorConfigWire,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct VectorConfigWire {
        dimension: u32,
    }

    impl TryFrom<FeatureDefinitionWire> for FeatureDefinition {
        type Error = String;

        fn try_from(w: FeatureDefinitionWire) -> std::result::Result<Self, String> {
            let collection = match (w.collection_type.as_deref(), w.collection_config) {
                (None, None) => None,
                (Some("List"), None) => Some(Collection::List),
                (Some("Set"), None) => Some(Collection::Set),
                (Some("Vector"), Some(c)) => Some(Collection::Vector {
                    dimension: c.vector_config.dimension,
                }),
                (Some("Vector"), None) => {
                    return Err(format!(
                        "feature {:?}: CollectionType Vector needs CollectionConfig.VectorConfig.Dimension",
                        w.feature_name
                    ));
                }
                (Some(t @ ("List" | "Set")), Some(_)) => {
                    return Err(format!(
                        "feature {:?}: CollectionConfig is only allowed with CollectionType Vector, not {t}",
                        w.feature_name
                    ));
                }
                (None, Some(_)) => {
                    return Err(format!(
                        "feature {:?}: CollectionConfig given without CollectionType",
                        w.feature_name
                    ));
                }
                (Some(other), _) => {
                    return Err(format!(
                        "feature {:?}: unknown CollectionType {other:?}; expected List, Set or Vector",
                        w.feature_name
                    ));
                }
            };
            Ok(FeatureDefinition {
                name: w.feature_name,
                feature_type: w.feature_type,
                collection,
            })
        }
    }

    impl From<FeatureDefinition> for FeatureDefinitionWire {
        fn from(d: FeatureDefinition) -> Self {
            FeatureDefinitionWire {
                feature_name: d.name,
                feature_type: d.feature_type,
                collection_type: d.collection.map(|c| c.type_name().to_owned()),
                collection_config: match d.collection {
                    Some(Collection::Vector { dimension }) => Some(CollectionConfigWire {
                        vector_config: VectorConfigWire { dimension },
                    }),
                    _ => None,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_must_be_fractional_with_dimension_in_range() {
        FeatureDefinition::fractional("emb")
            .with_collection(Collection::Vector { dimension: 8 })
            .validate()
            .unwrap();
        let err = FeatureDefinition::integral("emb")
            .with_collection(Collection::Vector { dimension: 8 })
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("emb") && err.contains("Fractional"), "{err}");
        for dimension in [0, 8193] {
            let err = FeatureDefinition::fractional("emb")
                .with_collection(Collection::Vector { dimension })
                .validate()
                .unwrap_err()
                .to_string();
            assert!(err.contains(&dimension.to_string()), "{err}");
        }
        FeatureDefinition::fractional("emb")
            .with_collection(Collection::Vector { dimension: 8192 })
            .validate()
            .unwrap();
    }

    #[test]
    fn json_shape_matches_the_api() {
        let d = FeatureDefinition::fractional("emb")
            .with_collection(Collection::Vector { dimension: 3 });
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"FeatureName": "emb", "FeatureType": "Fractional",
                "CollectionType": "Vector", "CollectionConfig": {"VectorConfig": {"Dimension": 3}}})
        );
        let back: FeatureDefinition = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
        let plain: FeatureDefinition =
            serde_json::from_str(r#"{"FeatureName":"a","FeatureType":"String"}"#).unwrap();
        assert_eq!(plain, FeatureDefinition::string("a"));
    }

    #[test]
    fn json_errors_name_the_problem() {
        let cases = [
            (r#"{"FeatureName":"a","FeatureType":"Float"}"#, "Float"),
            (
                r#"{"FeatureName":"a","FeatureType":"String","CollectionType":"Bag"}"#,
                "Bag",
            ),
            (
                r#"{"FeatureName":"a","FeatureType":"Fractional","CollectionType":"Vector"}"#,
                "Dimension",
            ),
            (
                r#"{"FeatureName":"a","FeatureType":"String","Typo":1}"#,
                "Typo",
            ),
        ];
        for (json, needle) in cases {
            let err = serde_json::from_str::<FeatureDefinition>(json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }
}
