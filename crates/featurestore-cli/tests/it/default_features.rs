//! What only the default build (without `aws`) does. `cargo xtask ci`
//! runs this module on the default feature set; the rest of the suite runs
//! with all features.

use crate::support::Env;

#[test]
fn aws_needs_the_aws_feature() {
    let env = Env::new();
    env.run_raw(&["--aws", "list-feature-groups"])
        .fails(1, &["--aws", "--features aws"]);
    env.run_raw(&["--aws", "--region", "us-east-1", "get", "g", "1"])
        .fails(1, &["--features aws"]);
    env.run_raw(&["--aws", "sync", "g", "--cache", "c"])
        .fails(1, &["--features aws"]);
}
