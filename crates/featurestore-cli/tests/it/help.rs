//! Every command documents itself, with examples.

use crate::support::Env;

const COMMANDS: [&str; 12] = [
    "create-dataset",
    "create-feature-group",
    "describe-feature-group",
    "list-feature-groups",
    "add-features",
    "delete-feature-group",
    "ingest",
    "get",
    "delete-record",
    "serve",
    "flush",
    "demo",
];

#[test]
fn every_command_has_help_with_examples() {
    let env = Env::new();
    let top = env.run_raw(&["--help"]);
    top.ok();
    assert!(top.stdout.contains("Exit codes"), "{}", top.stdout);
    for command in COMMANDS {
        assert!(
            top.stdout.contains(command),
            "--help does not list {command}"
        );
        let help = env.run_raw(&[command, "--help"]);
        help.ok();
        assert!(
            help.stdout.contains("Examples:")
                && help.stdout.contains(&format!("featurestore {command}")),
            "{command} --help has no examples:\n{}",
            help.stdout
        );
        for flag in ["--store", "--json", "--aws"] {
            assert!(help.stdout.contains(flag), "{command} --help lacks {flag}");
        }
    }
    let version = env.run_raw(&["--version"]);
    version.ok();
    assert!(version.stdout.starts_with("featurestore "));
    // No command: the help, and exit code 2.
    let none = env.run_raw::<&str>(&[]);
    assert_eq!(none.status.code(), Some(2));
}
