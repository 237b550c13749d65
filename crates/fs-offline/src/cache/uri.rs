//! `s3://bucket/prefix` locations and how object keys map to local paths.

use std::fmt;
use std::path::PathBuf;

use super::error::{CacheError, CacheResult};

/// The suffix of the cache's temporary files; keys whose last segment ends
/// with it are refused so that cleaning temporary files never removes data.
pub(crate) const TEMP_SUFFIX: &str = ".fs-partial";

/// An S3 prefix naming a "directory": `s3://bucket/a/b` and
/// `s3://bucket/a/b/` are the same prefix, whose key prefix is `a/b/`
/// (empty for a whole bucket).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct S3Prefix {
    bucket: String,
    prefix: String,
}

impl S3Prefix {
    /// Parses `s3://bucket[/prefix]`. The bucket must be a valid S3 bucket
    /// name (3–63 of `a-z`, `0-9`, `.`, `-`, starting and ending with a
    /// letter or digit); the prefix's segments must be non-empty and not
    /// `.` or `..`, since they become local directories.
    ///
    /// ```
    /// use fs_offline::cache::S3Prefix;
    /// let p = S3Prefix::parse("s3://my-bucket/store/data").unwrap();
    /// assert_eq!((p.bucket(), p.key_prefix()), ("my-bucket", "store/data/"));
    /// assert_eq!(p.to_string(), "s3://my-bucket/store/data/");
    /// assert!(S3Prefix::parse("s3://my-bucket/a/../b").is_err());
    /// ```
    pub fn parse(uri: &str) -> CacheResult<Self> {
        let invalid = |reason: &str| CacheError::InvalidUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("it does not start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket).map_err(|r| invalid(&r))?;
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() {
            for segment in prefix.split('/') {
                check_segment(segment).map_err(|r| invalid(&r))?;
            }
        }
        Ok(S3Prefix {
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix: empty, or ending with `/`.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// True when `key` in `bucket` lies under this prefix.
    pub fn contains(&self, bucket: &str, key: &str) -> bool {
        self.bucket == bucket && key.starts_with(&self.prefix)
    }

    /// True when every key under `other` lies under this prefix.
    pub fn covers(&self, other: &S3Prefix) -> bool {
        self.bucket == other.bucket && other.prefix.starts_with(&self.prefix)
    }

    /// The manifest's identifier of a key in this prefix's bucket.
    pub(crate) fn object_id(&self, key: &str) -> String {
        object_id(&self.bucket, key)
    }

    /// The manifest identifiers of this prefix's objects all start with this.
    pub(crate) fn id_prefix(&self) -> String {
        format!("{}/{}", self.bucket, self.prefix)
    }
}

impl fmt::Display for S3Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The manifest's identifier of an object: `bucket/key`.
pub(crate) fn object_id(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

/// Splits a manifest identifier back into bucket and key.
pub(crate) fn split_id(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or((id, ""))
}

/// The path of a key relative to the cache directory: `bucket/seg/.../name`.
/// Refuses keys that cannot be mirrored safely.
pub(crate) fn relative_path(bucket: &str, key: &str) -> CacheResult<PathBuf> {
    let unsafe_key = |reason: String| CacheError::UnsafeKey {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let mut path = PathBuf::from(bucket);
    for segment in key.split('/') {
        check_segment(segment).map_err(unsafe_key)?;
        path.push(segment);
    }
    if key.ends_with(TEMP_SUFFIX) {
        return Err(unsafe_key(format!(
            "names ending with {TEMP_SUFFIX} are reserved for the cache's temporary files"
        )));
    }
    Ok(path)
}

/// Refuses a set of keys of `bucket` where one key is also a "directory"
/// of another (`a/b` and `a/b/c.parquet`): S3 allows it, but a local
/// directory cannot also be a file, so a mirror of both would fail half
/// way. The error names both keys. Cost: O(total length of the keys).
pub(crate) fn check_files_are_not_prefixes<'a>(
    bucket: &str,
    keys: impl IntoIterator<Item = &'a str>,
) -> CacheResult<()> {
    let keys: Vec<&str> = keys.into_iter().collect();
    let set: std::collections::HashSet<&str> = keys.iter().copied().collect();
    for key in keys {
        for (i, _) in key.match_indices('/') {
            let dir = &key[..i];
            if set.contains(dir) {
                return Err(CacheError::UnsafeKey {
                    bucket: bucket.to_owned(),
                    key: dir.to_owned(),
                    reason: format!(
                        "it is an object and also a prefix of s3://{bucket}/{key}, and a local \
                         file cannot also be a directory; nothing was written (rename or delete one of them)"
                    ),
                });
            }
        }
    }
    Ok(())
}

fn check_bucket(bucket: &str) -> Result<(), String> {
    let ok_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bucket.len())
        || !ok_chars
        || !ends_ok(bucket.bytes().next())
        || !ends_ok(bucket.bytes().last())
    {
        return Err(format!(
            "{bucket:?} is not a bucket name (3 to 63 of a-z, 0-9, '.', '-', starting and ending with a letter or digit)"
        ));
    }
    Ok(())
}

fn check_segment(segment: &str) -> Result<(), String> {
    match segment {
        "" => Err("it has an empty path segment (\"//\", or a leading or trailing \"/\")".into()),
        "." | ".." => Err(format!("it has a {segment:?} path segment")),
        s if s.contains('\0') => Err("it contains a NUL character".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_directories() {
        let a = S3Prefix::parse("s3://bucket/a/b").unwrap();
        let b = S3Prefix::parse("s3://bucket/a/b/").unwrap();
        assert_eq!(a, b);
        assert!(a.contains("bucket", "a/b/c.parquet"));
        assert!(!a.contains("bucket", "a/bc/d.parquet"));
        assert!(S3Prefix::parse("s3://bucket").unwrap().covers(&a));
        assert!(!a.covers(&S3Prefix::parse("s3://bucket/a").unwrap()));
    }

    #[test]
    fn unsafe_uris_and_keys_are_refused() {
        for bad in [
            "http://bucket/a",
            "s3://Bucket/a",
            "s3://.fs-cache/a",
            "s3://ab/a",
            "s3://bucket//a",
            "s3://bucket/a/./b",
        ] {
            assert!(S3Prefix::parse(bad).is_err(), "{bad}");
        }
        for bad in ["a//b", "../x", "a/..", "/a", "a/b.parquet.fs-partial"] {
            let err = relative_path("bucket", bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
        let err = check_files_are_not_prefixes("bucket", ["a/b/c.parquet", "a/x", "a/b"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s3://bucket/a/b:") && err.contains("s3://bucket/a/b/c.parquet"),
            "{err}"
        );
        check_files_are_not_prefixes("bucket", ["a/b/c.parquet", "a/bc", "a/b.parquet"]).unwrap();
        assert_eq!(
            relative_path("bucket", "a/year=2024/x.parquet").unwrap(),
            PathBuf::from("bucket/a/year=2024/x.parquet")
        );
    }
}
