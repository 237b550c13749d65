//! Checksums: the one S3 gives for an object (checked on download) and the
//! local CRC32C the manifest records (checked by `verify`).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{ChecksumType, ServerSideEncryption};
use aws_smithy_checksums::ChecksumAlgorithm;
use aws_smithy_checksums::http::HttpChecksum;
use md5::Digest;
use serde::{Deserialize, Serialize};

/// How an object's content was checked on download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RemoteChecksum {
    /// `crc32`, `crc32c`, `crc64nvme`, `sha1`, `sha256` or `md5` (an S3
    /// `x-amz-checksum-*` value, base64), or `etag-md5` (the ETag of a
    /// single-part upload, hex).
    pub algorithm: String,
    /// The value S3 returned, which the downloaded bytes matched.
    pub value: String,
}

/// The S3 checksums the cache can check, in order of preference.
const S3_ALGORITHMS: [&str; 6] = ["crc64nvme", "crc32c", "crc32", "sha256", "sha1", "md5"];

/// The headers of an answer about a whole object that name its checksums:
/// a `GetObject` of all of it, or a `HeadObject`.
pub(crate) trait ObjectHeaders {
    /// The `x-amz-checksum-*` value of `algorithm` (one of [`S3_ALGORITHMS`]).
    fn checksum(&self, algorithm: &str) -> Option<&str>;
    fn checksum_type(&self) -> Option<&ChecksumType>;
    fn server_side_encryption(&self) -> Option<&ServerSideEncryption>;
    fn sse_customer_algorithm(&self) -> Option<&str>;
    fn e_tag(&self) -> Option<&str>;
}

/// Implements [`ObjectHeaders`] for an SDK output with the same accessors.
macro_rules! object_headers {
    ($t:ty) => {
        impl ObjectHeaders for $t {
            fn checksum(&self, algorithm: &str) -> Option<&str> {
                match algorithm {
                    "crc64nvme" => self.checksum_crc64_nvme(),
                    "crc32c" => self.checksum_crc32_c(),
                    "crc32" => self.checksum_crc32(),
                    "sha256" => self.checksum_sha256(),
                    "sha1" => self.checksum_sha1(),
                    _ => self.checksum_md5(),
                }
            }
            fn checksum_type(&self) -> Option<&ChecksumType> {
                <$t>::checksum_type(self)
            }
            fn server_side_encryption(&self) -> Option<&ServerSideEncryption> {
                <$t>::server_side_encryption(self)
            }
            fn sse_customer_algorithm(&self) -> Option<&str> {
                <$t>::sse_customer_algorithm(self)
            }
            fn e_tag(&self) -> Option<&str> {
                <$t>::e_tag(self)
            }
        }
    };
}

object_headers!(GetObjectOutput);
object_headers!(HeadObjectOutput);

/// The checksum to check a download against: the first full-object
/// `x-amz-checksum-*` value S3 returned (with `ChecksumMode::Enabled`), else
/// the ETag when it is the MD5 of the content (a single-part upload without
/// SSE-KMS or SSE-C encryption), else none (size only). `out` answers for
/// the whole object: a ranged GET's answer carries no whole-object
/// checksum, so a download in parts asks a `HeadObject`.
pub(crate) fn expected(out: &impl ObjectHeaders) -> Option<RemoteChecksum> {
    let composite = matches!(out.checksum_type(), Some(ChecksumType::Composite));
    if !composite {
        for algorithm in S3_ALGORITHMS {
            // Composite (per-part) checksums end with `-<parts>`.
            if let Some(v) = out
                .checksum(algorithm)
                .filter(|v| !v.contains('-') && !v.is_empty())
            {
                return Some(RemoteChecksum {
                    algorithm: algorithm.to_owned(),
                    value: v.to_owned(),
                });
            }
        }
    }
    let kms = matches!(
        out.server_side_encryption(),
        Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
    );
    let etag = normalize_etag(out.e_tag().unwrap_or_default());
    let is_md5 = etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit());
    (is_md5 && !kms && out.sse_customer_algorithm().is_none()).then(|| RemoteChecksum {
        algorithm: "etag-md5".to_owned(),
        value: etag.to_ascii_lowercase(),
    })
}

/// An ETag without its quotes.
pub(crate) fn normalize_etag(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// A running checksum of one of the algorithms above.
pub(crate) enum Hasher {
    Smithy(Box<dyn HttpChecksum>),
    Md5 { hex: bool, md5: md5::Md5 },
}

impl Hasher {
    /// The hasher for a [`RemoteChecksum::algorithm`].
    pub(crate) fn new(algorithm: &str) -> Self {
        match algorithm {
            "md5" => Hasher::Md5 {
                hex: false,
                md5: md5::Md5::new(),
            },
            "etag-md5" => Hasher::Md5 {
                hex: true,
                md5: md5::Md5::new(),
            },
            other => Hasher::Smithy(
                other
                    .parse::<ChecksumAlgorithm>()
                    .unwrap_or(ChecksumAlgorithm::Crc32c)
                    .into_impl(),
            ),
        }
    }

    /// The local checksum the manifest records.
    pub(crate) fn local() -> Self {
        Hasher::Smithy(ChecksumAlgorithm::Crc32c.into_impl())
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Smithy(h) => h.update(bytes),
            Hasher::Md5 { md5, .. } => md5.update(bytes),
        }
    }

    /// The value in S3's notation: base64, or lowercase hex for `etag-md5`.
    pub(crate) fn finish(self) -> String {
        match self {
            Hasher::Smithy(h) => aws_smithy_types::base64::encode(&h.finalize()[..]),
            Hasher::Md5 { hex: false, md5 } => {
                aws_smithy_types::base64::encode(&md5.finalize()[..])
            }
            Hasher::Md5 { hex: true, md5 } => {
                md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
            }
        }
    }
}

/// The size and local checksum (CRC32C, base64) of a file.
pub(crate) fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Hasher::local();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(algorithm: &str, data: &[u8]) -> String {
        let mut h = Hasher::new(algorithm);
        h.update(data);
        h.finish()
    }

    #[test]
    fn known_values() {
        // RFC 3720 test vector for CRC32C: 32 bytes of zeros -> 0x8A9136AA.
        assert_eq!(
            digest("crc32c", &[0u8; 32]),
            aws_smithy_types::base64::encode([0x8a, 0x91, 0x36, 0xaa])
        );
        assert_eq!(digest("etag-md5", b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(digest("md5", b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        // The CRC32 of "123456789" is 0xCBF43926.
        assert_eq!(
            digest("crc32", b"123456789"),
            aws_smithy_types::base64::encode([0xcb, 0xf4, 0x39, 0x26])
        );
        let mut split = Hasher::local();
        split.update(b"1234");
        split.update(b"56789");
        assert_eq!(split.finish(), digest("crc32c", b"123456789"));
    }

    #[test]
    fn expected_prefers_full_object_checksums_over_the_etag() {
        let out = GetObjectOutput::builder()
            .e_tag("\"d41d8cd98f00b204e9800998ecf8427e\"")
            .checksum_crc32("AAAAAA==")
            .build();
        assert_eq!(expected(&out).unwrap().algorithm, "crc32");
        let composite = GetObjectOutput::builder()
            .e_tag("\"d41d8cd98f00b204e9800998ecf8427e-3\"")
            .checksum_crc32("AAAAAA==-3")
            .build();
        assert_eq!(expected(&composite), None);
        let kms = GetObjectOutput::builder()
            .e_tag("\"d41d8cd98f00b204e9800998ecf8427e\"")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .build();
        assert_eq!(expected(&kms), None);
        let plain = GetObjectOutput::builder()
            .e_tag("\"D41D8CD98F00B204E9800998ECF8427E\"")
            .build();
        assert_eq!(
            expected(&plain).unwrap().value,
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }
}
