//! `featurestore demo` runs to its end.

use crate::support::Env;

#[test]
fn the_demo_runs_to_the_end_on_a_temporary_store() {
    let env = Env::new();
    let out = env.run_raw(&["demo", "--rows", "400"]);
    out.ok();
    let text = &out.stdout;
    for step in [
        "[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "summary", "total",
    ] {
        assert!(text.contains(step), "no {step:?} in:\n{text}");
    }
    assert!(
        text.contains("1 deleted") && text.contains("absent"),
        "step 5 builds the training dataset without the deleted customer:\n{text}"
    );
    assert!(
        text.contains("400 rows read, 400 written, 0 failed"),
        "{text}"
    );
    // The temporary directory is gone.
    let dir = text
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .expect("the first line names the directory");
    assert!(!std::path::Path::new(dir).exists(), "{dir} was not removed");
}

#[test]
fn the_demo_in_json_with_a_kept_directory() {
    let env = Env::new();
    let dir = env.path("demo");
    let d = dir.display().to_string();
    let out = env
        .run_raw(&["--json", "demo", "--rows", "300", "--dir", &d])
        .ok()
        .json();
    assert_eq!(out["kept"], true);
    let steps = out["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 5);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["step"], i + 1);
        assert!(s["ms"].as_f64().expect("a time") >= 0.0);
    }
    let customers = steps[0]["details"]["customers"]
        .as_u64()
        .expect("customers");
    assert_eq!(steps[0]["details"]["rows"], 300);
    assert_eq!(steps[2]["details"]["rows_written"], 300);
    assert_eq!(
        steps[3]["details"]["records"]
            .as_array()
            .expect("records")
            .len(),
        5
    );
    // Every version plus the delete marker offline; the training dataset
    // has each customer's latest row except the deleted one.
    assert_eq!(steps[4]["details"]["rows"], 301);
    assert_eq!(steps[4]["details"]["distinct_record_ids"], customers);
    assert_eq!(steps[4]["details"]["dataset_rows"], customers - 1);
    assert!(customers < 300, "some customers have several versions");

    // The store is kept and usable.
    let store = dir.join("store").display().to_string();
    let list = env
        .run_raw(&["--store", &store, "--json", "list-feature-groups"])
        .ok()
        .json();
    assert_eq!(
        list["FeatureGroupSummaries"][0]["FeatureGroupName"],
        "customers"
    );
    // Running it again on the same directory is refused, and changes nothing.
    env.run_raw(&["demo", "--rows", "300", "--dir", &d])
        .fails(1, &["already holds", "customers", &d]);
    let again = env
        .run_raw(&["--store", &store, "--json", "list-feature-groups"])
        .ok()
        .json();
    assert_eq!(again, list);
}
