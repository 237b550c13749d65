//! Who calls: the region and account that ARNs and resolved S3 URIs name.
//!
//! The region is the one the client signed for, read from the SigV4
//! credential scope of its `Authorization` header
//! (`AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`),
//! unless the server runs for one region (`--region`). A SigV4 scope names
//! no account, so the account is the server's (`--account`) or the
//! store's. Nothing else of the header is read, and none of it is logged.

use axum::http::HeaderMap;

/// The region and account a request is answered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub(crate) region: String,
    pub(crate) account: String,
}

/// How a server resolves callers: fixed values win over the request's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    pub(crate) region: Option<String>,
    pub(crate) account: Option<String>,
}

impl Identity {
    /// The caller of a request with `headers`, on a store whose own
    /// region and account are `store`.
    pub(crate) fn caller(&self, headers: &HeaderMap, store: &fs_local::StoreOptions) -> Caller {
        let region = self
            .region
            .clone()
            .or_else(|| signed_region(headers).map(str::to_owned))
            .unwrap_or_else(|| store.region.clone());
        let account = self
            .account
            .clone()
            .unwrap_or_else(|| store.account_id.clone());
        Caller { region, account }
    }
}

/// The region of the SigV4 credential scope in `headers`, if there is one
/// and it looks like a region (lower-case letters, digits and dashes).
pub(crate) fn signed_region(headers: &HeaderMap) -> Option<&str> {
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?;
    let credential = rest
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    // AKID/DATE/REGION/SERVICE/aws4_request; an access key id has no '/'.
    let scope: Vec<&str> = credential.split('/').collect();
    match scope.as_slice() {
        [_, _, region, _, "aws4_request"] if is_region(region) => Some(region),
        _ => None,
    }
}

fn is_region(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn the_region_comes_from_the_credential_scope() {
        let h = headers(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/ap-southeast-2/sagemaker/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        );
        assert_eq!(signed_region(&h), Some("ap-southeast-2"));
    }

    #[test]
    fn anything_else_names_no_region() {
        for auth in [
            "Bearer abc",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sagemaker, Signature=abc",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/US:EAST/sagemaker/aws4_request",
        ] {
            assert_eq!(signed_region(&headers(auth)), None, "{auth}");
        }
        assert_eq!(signed_region(&HeaderMap::new()), None);
    }

    #[test]
    fn fixed_values_win_over_the_request() {
        let h =
            headers("AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/sagemaker/aws4_request");
        let store = fs_local::StoreOptions::default();
        let signed = Identity::default().caller(&h, &store);
        assert_eq!(
            (signed.region.as_str(), signed.account.as_str()),
            ("eu-west-1", "000000000000")
        );
        let fixed = Identity {
            region: Some("ap-southeast-2".into()),
            account: Some("123456789012".into()),
        }
        .caller(&h, &store);
        assert_eq!(
            (fixed.region.as_str(), fixed.account.as_str()),
            ("ap-southeast-2", "123456789012")
        );
        let unsigned = Identity::default().caller(&HeaderMap::new(), &store);
        assert_eq!(unsigned.region, "us-east-1");
    }
}
