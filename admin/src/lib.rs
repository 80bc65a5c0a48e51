//! `chatbot-admin`: the operator command that grants, revokes and lists the admin
//! role (docs/operations.md, "Admins"). It opens the store the API's functions use, from the
//! same settings, with the operator's own credentials: no route and no setting can
//! make an account an admin.

mod command;
mod role;

use std::ffi::OsString;
use std::fmt::Write as _;

use chatbot_core::aws::SharedAws;
use chatbot_core::config::{Config, ConfigError, StoreKind};
use chatbot_core::store::{self, IfMissing, OpenError, Store, StoreError};

use command::{parse, Command, USAGE};
pub use role::{grant, revoke, RoleChange, RoleError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    #[error("no account is named {username:?} in {store}")]
    UnknownUser { username: String, store: String },
    #[error("{0}")]
    Settings(#[from] ConfigError),
    #[error("{store} does not exist: {hint}")]
    Missing { store: String, hint: &'static str },
    #[error("{store}: {source:#}")]
    Store { store: String, source: anyhow::Error },
}

impl AdminError {
    /// The exit status `USAGE` documents.
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::UnknownUser { .. } => 1,
            AdminError::Usage(_) => 2,
            AdminError::Settings(_) | AdminError::Missing { .. } | AdminError::Store { .. } => 3,
        }
    }
}

/// What a successful run prints: the answer on stdout, remarks on stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Runs the command the arguments name on the store the environment's settings name.
pub async fn run(args: impl IntoIterator<Item = OsString>) -> Result<Output, AdminError> {
    let command = parse(args).map_err(AdminError::Usage)?;
    if command == Command::Help {
        return Ok(help());
    }
    let config = Config::from_env()?;
    let aws = SharedAws::from_env();
    let place = describe(&config, &aws).await;
    let store = store::open(&config, &aws, IfMissing::Fail)
        .await
        .map_err(|err| match err {
            OpenError::Missing => AdminError::Missing {
                store: place.clone(),
                hint: match config.store {
                    StoreKind::Sqlite => "check SQLITE_PATH (the API creates the file when it first starts)",
                    StoreKind::DynamoDb => "check TABLE_NAME, AWS_REGION and the account of the credentials",
                },
            },
            OpenError::Failed(source) => AdminError::Store {
                store: place.clone(),
                source,
            },
            err @ OpenError::NotBuiltIn { .. } => AdminError::Store {
                store: place.clone(),
                source: err.into(),
            },
        })?;
    execute(&command, store.as_ref(), &place).await
}

/// Runs one command on an open store; `place` names the store in messages.
async fn execute(command: &Command, store: &dyn Store, place: &str) -> Result<Output, AdminError> {
    let failed = |err: StoreError| AdminError::Store {
        store: place.to_string(),
        source: err.into(),
    };
    let mut output = Output::default();
    match command {
        Command::Grant(name) | Command::Revoke(name) => {
            let granting = matches!(command, Command::Grant(_));
            let result = if granting {
                grant(store, name).await
            } else {
                revoke(store, name).await
            };
            let change = result.map_err(|err| match err {
                RoleError::UnknownUser(username) => AdminError::UnknownUser {
                    username,
                    store: place.to_string(),
                },
                RoleError::Store(err) => failed(err),
            })?;
            let who = &change.user.username;
            let line = match (granting, change.changed) {
                (true, true) => format!("{who} is now an admin ({place})."),
                (true, false) => format!("{who} was already an admin: nothing changed ({place})."),
                (false, true) => format!("{who} is no longer an admin ({place})."),
                (false, false) => format!("{who} was not an admin: nothing changed ({place})."),
            };
            writeln!(output.stdout, "{line}").ok();
            if granting && !change.user.is_active {
                writeln!(
                    output.stderr,
                    "Note: {who}'s account is deactivated; it cannot act until an admin activates it."
                )
                .ok();
            }
        }
        Command::List => {
            let admins = store.admins().await.map_err(failed)?;
            for admin in &admins {
                let state = if admin.is_active { "" } else { " (deactivated)" };
                writeln!(output.stdout, "{}{state}", admin.username).ok();
            }
            if admins.is_empty() {
                writeln!(output.stderr, "No account is an admin in {place}.").ok();
            }
        }
        Command::Help => return Ok(help()),
    }
    Ok(output)
}

fn help() -> Output {
    Output {
        stdout: format!("chatbot-admin: grant, revoke or list the admin role of accounts.\n\n{USAGE}"),
        stderr: String::new(),
    }
}

/// The store the settings name, as messages show it: the SQLite file's full
/// path, or the table with its region (and endpoint, when not AWS's own).
async fn describe(config: &Config, aws: &SharedAws) -> String {
    match config.store {
        StoreKind::Sqlite => {
            let path = std::path::absolute(&config.sqlite_path).unwrap_or_else(|_| config.sqlite_path.clone());
            format!("the SQLite file {}", path.display())
        }
        StoreKind::DynamoDb => {
            let sdk = aws.config().await;
            let region = sdk.region().map_or("no region".to_string(), |r| r.to_string());
            let mut place = format!("the DynamoDB table {} in {region}", config.table_name);
            if let Some(endpoint) = sdk.endpoint_url() {
                write!(place, " at {endpoint}").ok();
            }
            place
        }
    }
}
