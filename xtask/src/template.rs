//! The function resources of `template.yaml` (the part between its markers): one
//! `AWS::Serverless::Function` per entry of the function table, with its policy,
//! overrides, and either its HTTP API events or, for a streaming function, a
//! Function URL. The fallback takes every other method of the API's paths (`ANY`,
//! the API matching the most specific method first) and the `$default` route.
//! Rendered as text in the template's own style, so a diff reads as a review.

use std::fmt::Write;

use chatbot_core::routes::{Function, Route, FALLBACK_FUNCTION};

use crate::{paths_in_order, Tables};

/// The function whose Function URL streams chat replies (`POST /api/chats/stream/`).
const STREAM_FUNCTION: &str = "stream-chat";

/// The resources, each at the indentation of `Resources:`'s entries.
pub fn render(tables: &Tables) -> String {
    let mut out = String::from(
        "  # Every function of the route table (shared/src/routes/): edit the table and\n  \
         # run `cargo xtask gen`, not these lines.\n",
    );
    for function in tables.functions {
        let streams = function.streams;
        out += &header(function);
        if let Some(memory) = function.memory {
            writeln!(out, "      MemorySize: {memory}").unwrap();
        }
        if let Some(timeout) = function.timeout {
            writeln!(out, "      Timeout: {timeout}").unwrap();
        }
        out += &environment(function);
        let routes: Vec<&Route> = tables.routes.iter().filter(|r| r.function == function.name).collect();
        if streams {
            out += &function_url(&routes);
        }
        out += &policies(function);
        if function.name == FALLBACK_FUNCTION {
            out += &fallback_events(tables);
        } else if !streams {
            out += &route_events(&routes);
        }
        out += &log_group(function);
        out += &alarms(function);
    }
    out
}

/// `send-chat` → `SendChatFunction`.
pub fn logical_id(function: &str) -> String {
    let mut id: String = function
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    id.push_str("Function");
    id
}

/// The infrastructure scanner's (checkov's) checks that every function skips,
/// each with why; `.ci/run` fails on any other failed check.
pub const CHECKOV_SKIPS: &[(&str, &str)] = &[
    (
        "CKV_AWS_116",
        "No dead-letter queue: invoked synchronously (HTTP API, Function URL), so the caller gets every error",
    ),
    (
        "CKV_AWS_117",
        "No VPC: it reaches only AWS APIs and public model providers; a VPC would add a NAT gateway (about $32 a month) and protect nothing more",
    ),
    (
        "CKV_AWS_173",
        "No secret in its environment (secrets are read from Secrets Manager); Lambda encrypts the rest with its own key",
    ),
];

/// What every function's log group skips.
pub const CHECKOV_LOG_SKIPS: &[(&str, &str)] = &[(
    "CKV_AWS_158",
    "Encrypted at rest with CloudWatch's own key; a customer key would cost $1 a month and protect nothing more here",
)];

/// `Metadata: checkov: skip:` for `skips`, at a resource's `Metadata` indentation.
pub fn checkov_skips<'s>(skips: impl IntoIterator<Item = &'s (&'s str, &'s str)>) -> String {
    let mut out = String::from("      checkov:\n        skip:\n");
    for (id, comment) in skips {
        writeln!(out, "          - id: {id}\n            comment: {}", quoted(comment)).unwrap();
    }
    out
}

fn header(function: &Function) -> String {
    let mut out = format!(
        "  {}:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: rust-cargolambda\n      \
         BuildProperties:\n        Binary: {}\n",
        logical_id(function.name),
        function.name,
    );
    out += &checkov_skips(CHECKOV_SKIPS);
    writeln!(
        out,
        "    Properties:\n      Runtime: provided.al2023\n      Handler: bootstrap\n      CodeUri: .\n      Description: {}",
        quoted(function.description)
    )
    .unwrap();
    if function.streams {
        out += "      # API Gateway's HTTP API cannot stream: a Function URL serves these routes, and\n      \
                # a Function URL has no throttling: its reserved concurrency bounds it.\n      \
                ReservedConcurrentExecutions: !Ref StreamConcurrency\n";
    }
    out
}

/// Only what the function uses: the secrets it reads are named (never their
/// values), and only to the functions allowed to read them.
fn environment(function: &Function) -> String {
    let inference = function.invokes_inference || function.names_inference;
    if !inference
        && !function.names_stream_url
        && !function.reads_keys
        && !function.signs_cursors
        && function.env.is_empty()
    {
        return String::new();
    }
    let mut out = String::from("      Environment:\n        Variables:\n");
    if function.reads_keys {
        out += "          SECRET_ID: !Ref ProviderKeys\n";
    }
    if function.signs_cursors {
        out += "          CURSOR_KEY_SECRET_ID: !Ref CursorKey\n";
    }
    if inference {
        out += "          INFERENCE_FUNCTION: !Ref InferenceFunction\n";
    }
    if function.names_stream_url {
        writeln!(
            out,
            "          STREAM_URL: !GetAtt {}Url.FunctionUrl",
            logical_id(STREAM_FUNCTION)
        )
        .unwrap();
    }
    for (name, value) in function.env {
        writeln!(out, "          {name}: {}", quoted(value)).unwrap();
    }
    out
}

fn function_url(routes: &[&Route]) -> String {
    let mut methods: Vec<&str> = routes.iter().map(|r| r.method).collect();
    methods.sort();
    methods.dedup();
    format!(
        "      FunctionUrlConfig:\n        AuthType: NONE\n        InvokeMode: RESPONSE_STREAM\n        Cors:\n          \
         AllowOrigins: !Split [\",\", !Ref CorsAllowedOrigins]\n          AllowMethods: [{}]\n          \
         AllowHeaders: [Authorization, Content-Type]\n          \
         ExposeHeaders: [Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining]\n          MaxAge: 600\n",
        methods.join(", ")
    )
}

/// Only what the function uses: DynamoDB actions (on the indexes too when it
/// queries them), the provider-keys secret, the cursor-key secret, invoking the
/// inference function.
fn policies(function: &Function) -> String {
    let mut statements = String::new();
    if !function.dynamodb.is_empty() {
        let actions: Vec<&str> = function.dynamodb.iter().map(|a| a.action()).collect();
        writeln!(
            statements,
            "            - Effect: Allow\n              Action: [{}]",
            actions.join(", ")
        )
        .unwrap();
        statements += if function.indexes {
            "              Resource:\n                - !GetAtt Table.Arn\n                - !Sub \"${Table.Arn}/index/*\"\n"
        } else {
            "              Resource: !GetAtt Table.Arn\n"
        };
    }
    if function.reads_keys {
        statements +=
            "            - Effect: Allow\n              Action: [secretsmanager:GetSecretValue]\n              \
                       Resource: !Ref ProviderKeys\n";
    }
    if function.signs_cursors {
        statements +=
            "            - Effect: Allow\n              Action: [secretsmanager:GetSecretValue]\n              \
                       Resource: !Ref CursorKey\n";
    }
    if function.invokes_inference {
        statements += "            - Effect: Allow\n              Action: [lambda:InvokeFunction]\n              \
                       Resource: !GetAtt InferenceFunction.Arn\n";
    }
    if statements.is_empty() {
        return statements;
    }
    format!("      Policies:\n        - Statement:\n{statements}")
}

/// The function's log group, made by the stack (so `sam delete` removes it and the
/// retention applies from the first line) rather than by Lambda on first use.
fn log_group(function: &Function) -> String {
    let id = logical_id(function.name);
    format!(
        "  {id}Logs:\n    Type: AWS::Logs::LogGroup\n    Metadata:\n{}    Properties:\n      \
         LogGroupName: !Sub \"/aws/lambda/${{{id}}}\"\n      RetentionInDays: !Ref LogRetentionDays\n",
        checkov_skips(CHECKOV_LOG_SKIPS)
    )
}

/// An alarm when Lambda throttles the function (its concurrency or the account's
/// is used up) and, for a function behind a Function URL (which API Gateway's 5xx
/// alarm does not see), when its URL answers 5xx.
fn alarms(function: &Function) -> String {
    let id = logical_id(function.name);
    let mut out = alarm(
        &format!("{id}ThrottlesAlarm"),
        &format!(
            "{} is throttled: raise its reserved or the account's concurrency",
            function.name
        ),
        "Throttles",
        &id,
    );
    if function.streams {
        out += &alarm(
            &format!("{id}Url5xxAlarm"),
            &format!(
                "{}'s Function URL answers 5xx (the function failed or timed out)",
                function.name
            ),
            "Url5xxCount",
            &id,
        );
    }
    out
}

fn alarm(name: &str, description: &str, metric: &str, function_id: &str) -> String {
    format!(
        "  {name}:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      AlarmDescription: {}\n      \
         Namespace: AWS/Lambda\n      MetricName: {metric}\n      Dimensions:\n        - Name: FunctionName\n          \
         Value: !Ref {function_id}\n      Statistic: Sum\n      Period: 300\n      EvaluationPeriods: 1\n      \
         Threshold: 1\n      ComparisonOperator: GreaterThanOrEqualToThreshold\n      TreatMissingData: notBreaching\n      \
         AlarmActions: [!Ref AlarmTopic]\n",
        quoted(description)
    )
}

/// `Route` and `RouteNoSlash` for a function's first route, `Route2`… for the
/// next ones, so adding a route keeps the names of the earlier ones.
fn route_events(routes: &[&Route]) -> String {
    if routes.is_empty() {
        return String::new();
    }
    let mut out = String::from("      Events:\n");
    for (i, route) in routes.iter().enumerate() {
        let name = if i == 0 {
            "Route".to_string()
        } else {
            format!("Route{}", i + 1)
        };
        for (form, suffix) in route.paths().into_iter().zip(["", "NoSlash"]) {
            out += &event(&format!("{name}{suffix}"), Some((form, route.method)));
        }
    }
    out
}

/// `ANY` on every path of the HTTP API (both forms), then the `$default` route.
fn fallback_events(tables: &Tables) -> String {
    let api_routes = tables
        .routes
        .iter()
        .filter(|r| !tables.function(r.function).is_some_and(|f| f.streams));
    let forms = paths_in_order(api_routes.clone()).into_iter().flat_map(|pattern| {
        let route = api_routes
            .clone()
            .find(|r| r.path == pattern)
            .expect("a pattern of these routes");
        route.paths()
    });
    let mut out = String::from("      Events:\n");
    for (i, form) in forms.enumerate() {
        out += &event(&format!("OtherMethods{}", i + 1), Some((form, "ANY")));
    }
    out += &event("Unmatched", None);
    out
}

/// An HttpApi event; without a path and method, the API's `$default` route.
fn event(name: &str, route: Option<(&str, &str)>) -> String {
    let mut out =
        format!("        {name}:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n");
    if let Some((path, method)) = route {
        writeln!(out, "            Path: {path}\n            Method: {method}").unwrap();
    }
    out
}

/// A YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
