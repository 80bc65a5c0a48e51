//! The command line.

pub const USAGE: &str = "usage: chatbot-load --base URL --ollama-port PORT [--users N] [--requests N] [--seconds S] \
[--in-flight N] [--seed N] [--tokens-per-request N]
  --base                the running API, e.g. http://127.0.0.1:9000
  --ollama-port         where to serve the fake Ollama the stack's OLLAMA_HOST names
  --users               concurrent users, each registered first (default 20)
  --requests            mixed requests in all, after registration (default 2000)
  --in-flight           requests each user has in flight at once (default 3)
  --seconds             stop taking new requests after this long (default 300)
  --seed                the workload's random seed (default 1)
  --tokens-per-request  the stack's TOKENS_PER_REQUEST (default 100)";

#[derive(Clone, Debug)]
pub struct Options {
    pub base: String,
    pub ollama_port: u16,
    pub users: usize,
    pub in_flight: usize,
    pub requests: usize,
    pub seconds: u64,
    pub seed: u64,
    pub tokens_per_request: i64,
}

impl Options {
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Options {
            base: String::new(),
            ollama_port: 0,
            users: 20,
            in_flight: 3,
            requests: 2000,
            seconds: 300,
            seed: 1,
            tokens_per_request: 100,
        };
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{flag}: not a number: {value}"))
            };
            match flag.as_str() {
                "--base" => options.base = value.trim_end_matches('/').to_string(),
                "--ollama-port" => {
                    options.ollama_port = number()?.try_into().map_err(|_| "--ollama-port: too large")?
                }
                "--users" => options.users = number()? as usize,
                "--in-flight" => options.in_flight = number()? as usize,
                "--requests" => options.requests = number()? as usize,
                "--seconds" => options.seconds = number()?,
                "--seed" => options.seed = number()?,
                "--tokens-per-request" => options.tokens_per_request = number()? as i64,
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if options.base.is_empty() || options.ollama_port == 0 {
            return Err("--base and --ollama-port are required".into());
        }
        if options.users == 0 {
            return Err("--users must be at least 1".into());
        }
        if options.in_flight == 0 {
            return Err("--in-flight must be at least 1".into());
        }
        Ok(options)
    }
}
