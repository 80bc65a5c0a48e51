//! `chatbot-admin grant USERNAME | revoke USERNAME | list`: see `chatbot_admin::USAGE`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match chatbot_admin::run(std::env::args_os().skip(1)).await {
        Ok(output) => {
            print!("{}", output.stdout);
            eprint!("{}", output.stderr);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("chatbot-admin: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
