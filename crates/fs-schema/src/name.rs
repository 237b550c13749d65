//! Name validation for feature groups and features.

use crate::error::{Error, Result};
use crate::limits::{MAX_NAME_LEN, RESERVED_FEATURE_NAMES};

/// What a validated name names; used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// A feature group name.
    FeatureGroup,
    /// A feature name.
    Feature,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::FeatureGroup => "feature group name",
            NameKind::Feature => "feature name",
        })
    }
}

/// Checks `name` against the service's name pattern
/// `^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}` (1 to 64 characters, starting and
/// ending with a letter or digit, with `-` and `_` allowed in between).
///
/// Feature names are also checked against the reserved names
/// (`is_deleted`, `write_time`, `api_invocation_time`).
///
/// ```
/// use fs_schema::{validate_name, NameKind};
/// assert!(validate_name(NameKind::Feature, "customer_id").is_ok());
/// assert!(validate_name(NameKind::Feature, "write_time").is_err());
/// assert!(validate_name(NameKind::FeatureGroup, "-leading-dash").is_err());
/// ```
pub fn validate_name(kind: NameKind, name: &str) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidName {
        kind,
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(invalid(&format!(
            "it is longer than {MAX_NAME_LEN} characters"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(invalid(&format!(
            "it contains {c:?}; only ASCII letters, digits, '-' and '_' are allowed"
        )));
    }
    let bytes = name.as_bytes();
    if !bytes[0].is_ascii_alphanumeric() {
        return Err(invalid("it must start with a letter or digit"));
    }
    if !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        return Err(invalid("it must end with a letter or digit"));
    }
    if kind == NameKind::Feature && is_reserved(name) {
        return Err(Error::ReservedName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// True when `name` is one of the feature names the offline store reserves
/// for its own columns (compared without regard to ASCII case, as the Glue
/// catalog lower-cases column names).
pub fn is_reserved(name: &str) -> bool {
    RESERVED_FEATURE_NAMES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for n in [
            "a",
            "A1",
            "customer_id",
            "a-b_c",
            "x__-__y",
            &"a".repeat(64),
        ] {
            validate_name(NameKind::Feature, n).unwrap();
            validate_name(NameKind::FeatureGroup, n).unwrap();
        }
    }

    #[test]
    fn rejects_bad_names_with_reason() {
        let cases = [
            ("", "empty"),
            ("_a", "start"),
            ("a_", "end"),
            ("a b", "' '"),
            ("a.b", "'.'"),
            ("é", "'é'"),
        ];
        for (name, needle) in cases {
            let err = validate_name(NameKind::Feature, name)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{name:?}: {err}");
            assert!(err.contains("feature name"), "{err}");
        }
        let long = "a".repeat(65);
        let err = validate_name(NameKind::FeatureGroup, &long)
            .unwrap_err()
            .to_string();
        assert!(err.contains("64 characters"), "{err}");
    }

    #[test]
    fn reserved_names_are_refused_for_features_only() {
        for n in [
            "is_deleted",
            "write_time",
            "api_invocation_time",
            "Write_Time",
        ] {
            let err = validate_name(NameKind::Feature, n).unwrap_err();
            assert!(matches!(err, Error::ReservedName { .. }), "{n}: {err}");
            validate_name(NameKind::FeatureGroup, n).unwrap();
        }
    }
}
