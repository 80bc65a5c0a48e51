//! The command line: `grant USERNAME`, `revoke USERNAME`, `list`, `--help`.

use std::ffi::OsString;

pub const USAGE: &str = "\
Usage:
  chatbot-admin grant USERNAME    make the account an admin
  chatbot-admin revoke USERNAME   take the admin role away
  chatbot-admin list              the admins, one username a line
  chatbot-admin --help            this text

Acts on the store the API uses, named by the same settings: STORE (sqlite or
dynamodb), SQLITE_PATH (default ./chatbot.sqlite3) or TABLE_NAME (default
chatbot), and for DynamoDB the AWS settings of the environment (credentials,
AWS_REGION, AWS_ENDPOINT_URL). It never creates the SQLite file or the table.

Exit status: 0 done, 1 no such account, 2 bad arguments, 3 bad settings or a
store it cannot use.
";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Grant(String),
    Revoke(String),
    List,
    Help,
}

/// The command the arguments (without the program's name) ask for, or what is
/// wrong with them.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let args = args
        .into_iter()
        .map(|arg| arg.into_string().map_err(|arg| format!("{arg:?} is not valid UTF-8")))
        .collect::<Result<Vec<String>, String>>()?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => Err("no command given".into()),
        ["--help" | "-h" | "help", ..] => Ok(Command::Help),
        ["grant" | "revoke"] => Err(format!("{} needs a USERNAME", args[0])),
        ["grant", name] => username(name).map(Command::Grant),
        ["revoke", name] => username(name).map(Command::Revoke),
        ["list"] => Ok(Command::List),
        ["grant" | "revoke" | "list", extra @ ..] => {
            Err(format!("unexpected argument {:?}", extra.last().unwrap_or(&"")))
        }
        [other, ..] => Err(format!("unknown command {other:?}")),
    }
}

fn username(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the USERNAME is empty".into());
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn commands_and_their_argument() {
        assert_eq!(parsed(&["grant", "alice"]), Ok(Command::Grant("alice".into())));
        assert_eq!(parsed(&["revoke", " Bob "]), Ok(Command::Revoke("Bob".into())));
        assert_eq!(parsed(&["list"]), Ok(Command::List));
        assert_eq!(parsed(&["--help"]), Ok(Command::Help));
        assert_eq!(parsed(&["-h", "whatever"]), Ok(Command::Help));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        for (args, says) in [
            (&[][..], "no command"),
            (&["grant"][..], "grant needs a USERNAME"),
            (&["revoke", "  "][..], "empty"),
            (&["grant", "alice", "bob"][..], "unexpected argument \"bob\""),
            (&["list", "all"][..], "unexpected argument \"all\""),
            (&["promote", "alice"][..], "unknown command \"promote\""),
        ] {
            let err = parsed(args).unwrap_err();
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_argument_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStringExt;
        let args = [OsString::from("grant"), OsString::from_vec(vec![b'a', 0xff])];
        assert!(parse(args).unwrap_err().contains("not valid UTF-8"));
    }
}
