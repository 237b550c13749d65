//! Helpers of the S3 cache tests: a client for moto's S3, buckets, objects,
//! and comparisons of the cache with the bucket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use fs_offline::cache::Cache;

/// moto's S3 endpoint, from `FS_S3_ENDPOINT` (set by `cargo xtask it`).
pub(crate) fn endpoint() -> String {
    std::env::var("FS_S3_ENDPOINT").expect(
        "FS_S3_ENDPOINT is not set: run `cargo xtask it`, or start moto and set it (docs/testing.md)",
    )
}

/// An S3 client for moto: dummy static credentials, us-east-1, path style.
pub(crate) fn client() -> Client {
    client_at(&endpoint())
}

/// An S3 client for the S3 at `url` (moto, or a throttled link to it).
pub(crate) fn client_at(url: &str) -> Client {
    let config = fs_server::client_config(url, 3);
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// `client` adding no checksum to uploads unless one is asked for, so
/// that the ETag (the MD5 of a single-part upload) is all S3 has.
pub(crate) fn without_checksums(client: &Client) -> Client {
    Client::from_conf(
        client
            .config()
            .to_builder()
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .build(),
    )
}

/// A new bucket with a unique name.
pub(crate) async fn bucket(client: &Client, name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let bucket = format!(
        "fsc-{name}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    bucket
}

/// Deterministic, incompressible-looking bytes.
pub(crate) fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Uploads one object (the SDK adds its default CRC32 checksum).
pub(crate) async fn put(client: &Client, bucket: &str, key: &str, bytes: Vec<u8>) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .unwrap();
}

pub(crate) async fn delete(client: &Client, bucket: &str, key: &str) {
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
}

/// Every object under `prefix` in the bucket, with its bytes.
pub(crate) async fn bucket_contents(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            let key = o.key().unwrap().to_owned();
            let body = client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes()
                .to_vec();
            out.insert(key, body);
        }
    }
    out
}

/// Every regular file under `dir`, relative path -> bytes.
pub(crate) fn local_contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for path in files_under(dir) {
        let rel = path
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        out.insert(rel, std::fs::read(&path).unwrap());
    }
    out
}

/// Every regular file under `dir` (none if it does not exist).
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Temporary files (`*.fs-partial`) anywhere in the cache.
pub(crate) fn temp_files(cache: &Cache) -> Vec<PathBuf> {
    files_under(cache.root())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".fs-partial"))
        .collect()
}

/// Asserts the cache's copy of `s3://bucket/prefix` equals the bucket's
/// objects under it, byte for byte, with no other files.
pub(crate) async fn assert_mirror(cache: &Cache, client: &Client, bucket: &str, prefix: &str) {
    let remote: BTreeMap<String, Vec<u8>> = bucket_contents(client, bucket, prefix)
        .await
        .into_iter()
        .map(|(k, v)| (k[prefix.len()..].to_owned(), v))
        .collect();
    let dir = cache
        .local_path(&format!("s3://{bucket}/{prefix}"))
        .unwrap();
    let local = local_contents(&dir);
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        remote.keys().collect::<Vec<_>>(),
        "files under {}",
        dir.display()
    );
    for (k, v) in &remote {
        assert!(local[k] == *v, "{k}: local bytes differ from S3's");
    }
}

/// A Glue-layout key under `base`.
pub(crate) fn glue_key(base: &str, y: u32, m: u32, d: u32, h: u32, name: &str) -> String {
    format!("{base}year={y:04}/month={m:02}/day={d:02}/hour={h:02}/{name}")
}
