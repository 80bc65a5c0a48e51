//! The `chatbot-admin` binary run as an operator runs it: a process with settings
//! in its environment, against a SQLite file and against a DynamoDB table on the
//! local endpoint (moto, `AWS_ENDPOINT_URL`, as the other DynamoDB suites).

use std::path::Path;
use std::process::Command;

use chatbot_core::store::dynamodb::table;
use chatbot_core::store::sqlite::SqliteStore;
use chatbot_core::store::{Accounts, UserChanges};
use chatbot_tests::contract::user;
use chatbot_tests::dynamodb::{endpoint, fresh_store, sdk_config, unique_name};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `dir` with only `vars` (and dummy AWS credentials) set, so
/// nothing of the machine's environment decides which store it opens.
fn admin(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_chatbot-admin"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs([
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ])
        .envs(vars.iter().copied())
        .output()
        .expect("running chatbot-admin");
    Run {
        code: output.status.code().expect("an exit code"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn sqlite_file(dir: &Path) -> (String, SqliteStore) {
    let path = dir.join("chatbot.sqlite3");
    let store = SqliteStore::open(&path).unwrap();
    (path.display().to_string(), store)
}

#[tokio::test]
async fn grant_list_and_revoke_on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = sqlite_file(dir.path());
    let alice = user("alice");
    let bob = user("bob");
    store.create_user(&alice).await.unwrap();
    store.create_user(&bob).await.unwrap();
    let vars = [("SQLITE_PATH", path.as_str())];
    let place = format!("the SQLite file {path}");

    let none = admin(dir.path(), &vars, &["list"]);
    assert_eq!((none.code, none.stdout.as_str()), (0, ""));
    assert!(
        none.stderr.contains(&format!("No account is an admin in {place}")),
        "{}",
        none.stderr
    );

    let granted = admin(dir.path(), &vars, &["grant", "ALICE"]);
    assert_eq!(granted.code, 0, "{}", granted.stderr);
    assert_eq!(granted.stdout, format!("alice is now an admin ({place}).\n"));
    assert!(store.user_by_id(alice.id).await.unwrap().unwrap().is_admin);
    assert!(!store.user_by_id(bob.id).await.unwrap().unwrap().is_admin);

    let again = admin(dir.path(), &vars, &["grant", "alice"]);
    assert_eq!(again.code, 0);
    assert_eq!(
        again.stdout,
        format!("alice was already an admin: nothing changed ({place}).\n")
    );

    let deactivate = UserChanges {
        is_active: Some(false),
        ..UserChanges::default()
    };
    store.update_user(bob.id, &deactivate).await.unwrap();
    let inactive = admin(dir.path(), &vars, &["grant", "bob"]);
    assert_eq!(inactive.code, 0);
    assert!(
        inactive.stderr.contains("bob's account is deactivated"),
        "{}",
        inactive.stderr
    );
    let listed = admin(dir.path(), &vars, &["list"]);
    assert_eq!((listed.code, listed.stdout.as_str()), (0, "alice\nbob (deactivated)\n"));

    let revoked = admin(dir.path(), &vars, &["revoke", "alice"]);
    assert_eq!(revoked.code, 0);
    assert_eq!(revoked.stdout, format!("alice is no longer an admin ({place}).\n"));
    assert!(!store.user_by_id(alice.id).await.unwrap().unwrap().is_admin);
    let not_admin = admin(dir.path(), &vars, &["revoke", "alice"]);
    assert_eq!(not_admin.code, 0);
    assert_eq!(
        not_admin.stdout,
        format!("alice was not an admin: nothing changed ({place}).\n")
    );
    assert_eq!(admin(dir.path(), &vars, &["list"]).stdout, "bob (deactivated)\n");
}

#[tokio::test]
async fn without_sqlite_path_it_opens_the_api_s_default_file_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = sqlite_file(dir.path());
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let granted = admin(dir.path(), &[], &["grant", "alice"]);
    assert_eq!(granted.code, 0, "{}", granted.stderr);
    assert!(store.user_by_id(alice.id).await.unwrap().unwrap().is_admin);
}

#[tokio::test]
async fn an_unknown_user_is_exit_1_naming_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _store) = sqlite_file(dir.path());
    for command in ["grant", "revoke"] {
        let run = admin(dir.path(), &[("SQLITE_PATH", &path)], &[command, "carol"]);
        assert_eq!(run.code, 1, "{command}");
        assert_eq!(run.stdout, "");
        assert!(
            run.stderr
                .contains(&format!("no account is named \"carol\" in the SQLite file {path}")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn bad_arguments_are_exit_2_with_the_usage_and_help_is_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    // Arguments are checked before settings or the store are looked at.
    let vars = [("STORE", "postgres")];
    for (args, says) in [
        (&[][..], "no command given"),
        (&["promote", "alice"][..], "unknown command \"promote\""),
        (&["grant"][..], "grant needs a USERNAME"),
        (&["revoke", "alice", "bob"][..], "unexpected argument \"bob\""),
    ] {
        let run = admin(dir.path(), &vars, args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("Usage:"), "{}", run.stderr);
    }
    let help = admin(dir.path(), &vars, &["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("chatbot-admin grant USERNAME"), "{}", help.stdout);
    assert!(help.stdout.contains("Exit status"), "{}", help.stdout);
}

#[test]
fn a_missing_sqlite_file_is_exit_3_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("chatbot.sqlite");
    let run = admin(
        dir.path(),
        &[("SQLITE_PATH", typo.to_str().unwrap())],
        &["grant", "alice"],
    );
    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .contains(&format!("the SQLite file {} does not exist", typo.display())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("SQLITE_PATH"), "{}", run.stderr);
    assert!(!typo.exists(), "no empty database is made out of a typo");
}

#[test]
fn a_file_that_is_not_a_database_and_bad_settings_are_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(
        &notes,
        "not a database, but long enough to have a header's worth of bytes in it",
    )
    .unwrap();
    let run = admin(dir.path(), &[("SQLITE_PATH", notes.to_str().unwrap())], &["list"]);
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("notes.txt"), "{}", run.stderr);
    for (name, value) in [("STORE", "postgres"), ("ADMIN_USERNAMES", "root")] {
        let run = admin(dir.path(), &[(name, value)], &["list"]);
        assert_eq!(run.code, 3, "{name}");
        assert!(
            run.stderr.contains(&format!("invalid setting {name}=")),
            "{}",
            run.stderr
        );
    }
}

fn dynamodb_vars<'a>(endpoint: &'a str, table: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("STORE", "dynamodb"),
        ("TABLE_NAME", table),
        ("AWS_ENDPOINT_URL", endpoint),
    ]
}

#[tokio::test]
async fn grant_list_and_revoke_on_a_dynamodb_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store().await;
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let endpoint = endpoint();
    let vars = dynamodb_vars(&endpoint, store.table());
    let place = format!("the DynamoDB table {} in us-east-1 at {endpoint}", store.table());

    let granted = admin(dir.path(), &vars, &["grant", "alice"]);
    assert_eq!(granted.code, 0, "{}", granted.stderr);
    assert_eq!(granted.stdout, format!("alice is now an admin ({place}).\n"));
    assert!(store.user_by_id(alice.id).await.unwrap().unwrap().is_admin);
    assert_eq!(admin(dir.path(), &vars, &["list"]).stdout, "alice\n");

    let unknown = admin(dir.path(), &vars, &["grant", "carol"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains(&format!("no account is named \"carol\" in {place}")),
        "{}",
        unknown.stderr
    );

    let revoked = admin(dir.path(), &vars, &["revoke", "alice"]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert!(!store.user_by_id(alice.id).await.unwrap().unwrap().is_admin);
    let none = admin(dir.path(), &vars, &["list"]);
    assert_eq!((none.code, none.stdout.as_str()), (0, ""));
}

#[tokio::test]
async fn a_missing_table_is_exit_3_and_is_not_created_even_on_a_local_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = endpoint();
    let name = unique_name("chatbot-typo");
    let run = admin(dir.path(), &dynamodb_vars(&endpoint, &name), &["list"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains(&format!("the DynamoDB table {name} in us-east-1")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("does not exist: check TABLE_NAME"),
        "{}",
        run.stderr
    );
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    assert!(!table::exists(&client, &name).await.unwrap());
}

#[test]
fn an_endpoint_that_does_not_answer_is_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    // A loopback port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("http://127.0.0.1:{port}");
    let run = admin(dir.path(), &dynamodb_vars(&nowhere, "chatbot"), &["grant", "alice"]);
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("describing table chatbot"), "{}", run.stderr);
}
