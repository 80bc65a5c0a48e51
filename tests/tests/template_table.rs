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
fn functions_read_the_secret_only_when_they_call_models() {
    let template = template();
    assert_eq!(
        template["Resources"]["ProviderKeys"]["Type"],
        "AWS::SecretsManager::Secret"
    );
    assert_eq!(
        template["Globals"]["Function"]["Environment"]["Variables"]["SECRET_ID"]["!Ref"],
        "ProviderKeys"
    );
    // Routes that call a model (the ones limited per user), and the model lists,
    // whose `available` depends on the keys.
    let needs_keys: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.limit == Limit::PerUser || r.path.ends_with("models/") || r.path.ends_with("/models"))
        .map(|r| r.function)
        .collect();
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
        let reads_secret = statements.iter().any(|s| {
            let actions = s["Action"].as_array().cloned().unwrap_or_default();
            actions.contains(&Value::from("secretsmanager:GetSecretValue")) && s["Resource"]["!Ref"] == "ProviderKeys"
        });
        assert_eq!(reads_secret, needs_keys.contains(&binary), "{binary}");
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
}
