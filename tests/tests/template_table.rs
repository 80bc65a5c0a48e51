//! `template.yaml`'s table, secret and policies against the code: the table the
//! template deploys is the one `infra/table.json` (which the store creates locally)
//! defines, and each function may use the secret only if it calls models.

use chatbot_core::routes::{Limit, ROUTES};
use chatbot_core::store::dynamodb::table::DEFINITION_JSON;
use serde_json::Value;
use std::path::PathBuf;

fn template() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    // Short-form intrinsics become one-key maps: `!Ref X` is {"!Ref": "X"}.
    serde_json::to_value(yaml).unwrap()
}

#[test]
fn the_template_table_is_the_one_infra_table_json_defines() {
    let template = template();
    let table = &template["Resources"]["Table"]["Properties"];
    let definition: Value = serde_json::from_str(DEFINITION_JSON).unwrap();
    for (name, value) in definition.as_object().unwrap() {
        assert_eq!(&table[name], value, "Table.{name} differs from infra/table.json");
    }
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(
        table["DeletionProtectionEnabled"]["!Ref"], "DeletionProtection",
        "deletion protection follows the parameter"
    );
    assert!(template["Parameters"]["DeletionProtection"].is_object());
}

#[test]
fn functions_read_and_name_a_secret_only_when_they_use_it() {
    let template = template();
    for secret in ["ProviderKeys", "CursorKey"] {
        assert_eq!(template["Resources"][secret]["Type"], "AWS::SecretsManager::Secret");
    }
    // No secret, nor a secret's name, is an environment value of every function.
    let globals = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .unwrap();
    for name in ["SECRET_ID", "CURSOR_KEY", "CURSOR_KEY_SECRET_ID"] {
        assert!(!globals.contains_key(name), "Globals: {name}");
    }
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")).unwrap();
    assert!(
        !text.contains("resolve:secretsmanager"),
        "no secret resolved into the template"
    );
    // Routes that call a model (the ones limited per user), and the model lists,
    // whose `available` depends on the keys; the lists that page.
    let needs_keys: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.limit == Limit::PerUser || r.path.ends_with("models/") || r.path.ends_with("/models"))
        .map(|r| r.function)
        .collect();
    // The functions of routes that take a `cursor`.
    let pages: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.doc.query.iter().any(|(name, _)| *name == "cursor"))
        .map(|r| r.function)
        .collect();
    assert!(pages.contains(&"list-chats") && pages.contains(&"shares"), "{pages:?}");
    for resource in template["Resources"].as_object().unwrap().values() {
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let statements = resource["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
            .collect::<Vec<_>>();
        let reads = |secret: &str| {
            statements.iter().any(|s| {
                let actions = s["Action"].as_array().cloned().unwrap_or_default();
                actions.contains(&Value::from("secretsmanager:GetSecretValue")) && s["Resource"]["!Ref"] == secret
            })
        };
        let variables = &resource["Properties"]["Environment"]["Variables"];
        assert_eq!(reads("ProviderKeys"), needs_keys.contains(&binary), "{binary}");
        assert_eq!(
            variables["SECRET_ID"]["!Ref"] == "ProviderKeys",
            needs_keys.contains(&binary),
            "{binary}"
        );
        assert_eq!(reads("CursorKey"), pages.contains(&binary), "{binary}");
        assert_eq!(
            variables["CURSOR_KEY_SECRET_ID"]["!Ref"] == "CursorKey",
            pages.contains(&binary),
            "{binary}"
        );
        assert!(variables.get("CURSOR_KEY").is_none(), "{binary}");
        for statement in &statements {
            assert_eq!(statement["Effect"], "Allow", "{binary}");
            let actions = statement["Action"].as_array().unwrap();
            assert!(
                actions.iter().all(|a| a.as_str().is_some_and(|a| !a.ends_with('*'))),
                "{binary}: no wildcard actions"
            );
        }
    }
    assert!(needs_keys.contains(&"send-chat") && needs_keys.contains(&"list-models"));
    // The generated key is a JSON object the listing functions read CURSOR_KEY from.
    let generated = &template["Resources"]["CursorKey"]["Properties"]["GenerateSecretString"];
    assert_eq!(generated["GenerateStringKey"], "CURSOR_KEY");
    assert!(generated["PasswordLength"].as_u64().unwrap() >= 32);
}

/// The template's functions (route functions and the inference image) by logical id.
fn functions(template: &Value) -> Vec<String> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, _)| id.clone())
        .collect()
}

/// The alarms watching `metric` of the function `id`.
fn function_alarms<'a>(template: &'a Value, id: &str, metric: &str) -> Vec<&'a Value> {
    template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .filter(|r| {
            let p = &r["Properties"];
            p["Namespace"] == "AWS/Lambda"
                && p["MetricName"] == metric
                && p["Dimensions"][0]["Name"] == "FunctionName"
                && p["Dimensions"][0]["Value"]["!Ref"] == id
        })
        .collect()
}

#[test]
fn every_function_has_a_log_group_with_the_retention_parameter_and_a_throttle_alarm() {
    let template = template();
    let resources = template["Resources"].as_object().unwrap();
    let functions = functions(&template);
    assert!(functions.len() > 20 && functions.contains(&"InferenceFunction".to_string()));
    for id in &functions {
        let groups: Vec<&Value> = resources
            .values()
            .filter(|r| r["Type"] == "AWS::Logs::LogGroup")
            .filter(|r| r["Properties"]["LogGroupName"]["!Sub"] == format!("/aws/lambda/${{{id}}}"))
            .collect();
        assert_eq!(groups.len(), 1, "{id}: one log group named as Lambda names it");
        assert_eq!(
            groups[0]["Properties"]["RetentionInDays"]["!Ref"], "LogRetentionDays",
            "{id}"
        );
        let alarms = function_alarms(&template, id, "Throttles");
        assert_eq!(alarms.len(), 1, "{id}: one throttle alarm");
        assert_eq!(alarms[0]["Properties"]["AlarmActions"][0]["!Ref"], "AlarmTopic", "{id}");
        // A function behind a Function URL is out of the HTTP API's 5xx alarm.
        if resources[id]["Properties"]["FunctionUrlConfig"].is_object() {
            assert_eq!(
                function_alarms(&template, id, "Url5xxCount").len(),
                1,
                "{id}: its URL's 5xx alarm"
            );
            // A page on another origin reads a 429's wait, as through the HTTP API.
            let exposed = &resources[id]["Properties"]["FunctionUrlConfig"]["Cors"]["ExposeHeaders"];
            assert!(
                exposed.as_array().is_some_and(|h| h.iter().any(|h| h == "Retry-After")),
                "{id}: {exposed}"
            );
        }
    }
    assert!(template["Parameters"]["LogRetentionDays"].is_object());
}

#[test]
fn the_api_and_the_table_have_their_alarms() {
    let template = template();
    let resources = &template["Resources"];
    let api = &resources["Api5xxAlarm"]["Properties"];
    assert_eq!(
        (api["Namespace"].as_str(), api["MetricName"].as_str()),
        (Some("AWS/ApiGateway"), Some("5xx"))
    );
    assert_eq!(api["Dimensions"][0]["Value"]["!Ref"], "HttpApi");
    assert_eq!(api["Threshold"]["!Ref"], "ServerErrorAlarmThreshold");
    // DynamoDB's system errors are counted per operation: the alarm sums every
    // operation the store sends (tests/tests/dynamodb_requests.rs counts them).
    let operations: Vec<&str> = resources["TableErrorsAlarm"]["Properties"]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["MetricStat"]["Metric"]["Dimensions"].as_array())
        .map(|d| {
            d.iter().find(|d| d["Name"] == "Operation").unwrap()["Value"]
                .as_str()
                .unwrap()
        })
        .collect();
    for operation in [
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "BatchWriteItem",
        "TransactWriteItems",
    ] {
        assert!(
            operations.contains(&operation),
            "{operation} missing from TableErrorsAlarm"
        );
    }
    assert!(resources["TableThrottlesAlarm"].is_object());
    for resource in resources.as_object().unwrap().values() {
        if resource["Type"] == "AWS::CloudWatch::Alarm" {
            assert_eq!(resource["Properties"]["AlarmActions"][0]["!Ref"], "AlarmTopic");
        }
    }
}

#[test]
fn the_parameters_reach_every_function_and_the_outputs_name_what_an_operator_needs() {
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    for (variable, parameter) in [
        ("DEFAULT_MODEL", "DefaultModel"),
        ("CORS_ALLOWED_ORIGINS", "CorsAllowedOrigins"),
        ("SESSION_COOKIE_NAME", "SessionCookieName"),
        ("SESSION_COOKIE_SAMESITE", "SessionCookieSameSite"),
        ("SESSION_COOKIE_SECURE", "SessionCookieSecure"),
    ] {
        assert_eq!(variables[variable]["!Ref"], parameter, "{variable}");
        assert!(template["Parameters"][parameter].is_object(), "{parameter}");
    }
    assert_eq!(template["Globals"]["Function"]["Tags"]["stage"]["!Ref"], "Stage");
    let outputs = &template["Outputs"];
    assert_eq!(outputs["TableName"]["Value"]["!Ref"], "Table");
    assert_eq!(outputs["ProviderKeysSecretArn"]["Value"]["!Ref"], "ProviderKeys");
    assert_eq!(
        outputs["StreamUrl"]["Value"]["!GetAtt"],
        "StreamChatFunctionUrl.FunctionUrl"
    );
    assert!(outputs["ApiUrl"]["Value"]["!Sub"]
        .as_str()
        .unwrap()
        .contains("${HttpApi}"));
}
