//! The generator against the committed files, and what a new table entry changes.

use super::*;
use chatbot_core::routes::DynamoDb;

fn route_of(function: &str) -> Route {
    *ROUTES.iter().find(|r| r.function == function).unwrap()
}

/// The rendered template's resources by logical id.
fn resources(template: &str) -> Vec<(String, String)> {
    let mut resources: Vec<(String, String)> = Vec::new();
    for line in template.lines() {
        let starts_resource = line.starts_with("  ") && !line.starts_with("   ") && !line.starts_with("  #");
        if starts_resource {
            resources.push((line.trim().trim_end_matches(':').to_string(), String::new()));
        }
        if let Some((_, text)) = resources.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    resources
}

fn resource(template: &str, id: &str) -> String {
    resources(template)
        .into_iter()
        .find(|(name, _)| name == id)
        .unwrap_or_else(|| panic!("no {id}"))
        .1
}

/// The logical ids of the resources that differ between two renderings.
fn changed(before: &str, after: &str) -> Vec<String> {
    let before = resources(before);
    resources(after)
        .into_iter()
        .filter(|resource| !before.contains(resource))
        .map(|(id, _)| id)
        .collect()
}

#[test]
fn the_committed_files_are_what_gen_writes() {
    let stale: Vec<String> = stale(&repo_root(), &Tables::core())
        .unwrap()
        .iter()
        .map(|a| a.path.display().to_string())
        .collect();
    assert!(stale.is_empty(), "stale or missing: {stale:?}; run `cargo xtask gen`");
}

#[test]
fn a_route_added_to_an_existing_function_gets_its_router_entries_and_template_events() {
    let mut routes = ROUTES.to_vec();
    routes.push(Route::new("PUT", "/api/dialect/ping/", "health", route_of("health").handler).summary("Ping"));
    let tables = Tables {
        routes: &routes,
        functions: FUNCTIONS,
    };

    let before = watch::render(&Tables::core());
    let after = watch::render(&tables);
    let added = "\"/api/dialect/ping/\" = [\n    { method = \"PUT\", function = \"health\" },\n    \
                 { method = \"GET\", function = \"route-fallback\" },\n    \
                 { method = \"POST\", function = \"route-fallback\" },\n    \
                 { method = \"PATCH\", function = \"route-fallback\" },\n    \
                 { method = \"DELETE\", function = \"route-fallback\" },\n    \
                 { method = \"OPTIONS\", function = \"route-fallback\" },\n]\n";
    let bare = added.replace("/api/dialect/ping/", "/api/dialect/ping");
    let last = "\"/{*path}\" = \"route-fallback\"\n";
    assert_eq!(
        after,
        before.replace(last, &format!("{added}{bare}{last}")),
        "both slash forms, before the catch-all; nothing else changes"
    );

    let before = template::render(&Tables::core());
    let after = template::render(&tables);
    assert_eq!(changed(&before, &after), ["HealthFunction", "RouteFallbackFunction"]);
    let health = resource(&after, "HealthFunction");
    for (event, path) in [("Route2", "/api/dialect/ping/"), ("Route2NoSlash", "/api/dialect/ping")] {
        let expected = format!(
            "        {event}:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n            \
             Path: {path}\n            Method: PUT\n"
        );
        assert!(health.contains(&expected), "{health}");
    }
    assert!(
        health.contains("        Route:\n") && health.contains("Path: /api/health/\n"),
        "the first route keeps its event"
    );
    let fallback = resource(&after, "RouteFallbackFunction");
    for path in ["/api/dialect/ping/", "/api/dialect/ping"] {
        assert!(
            fallback.contains(&format!("Path: {path}\n            Method: ANY\n")),
            "{path}"
        );
    }
    assert!(fallback.ends_with(
        "        Unmatched:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n"
    ));
}

#[test]
fn a_new_streaming_function_gets_a_function_url_a_crate_and_no_api_events() {
    let mut functions = FUNCTIONS.to_vec();
    functions.push(
        Function::new("dialect-stream")
            .description("Stream a reply in another dialect")
            .dynamodb(&[DynamoDb::GetItem])
            .streams()
            .timeout(300),
    );
    let mut routes = ROUTES.to_vec();
    let handler = route_of("stream-chat").handler;
    routes.push(Route::new("POST", "/dialect/stream", "dialect-stream", handler).summary("Stream"));
    let tables = Tables {
        routes: &routes,
        functions: &functions,
    };

    let template = template::render(&tables);
    assert_eq!(
        changed(&template::render(&Tables::core()), &template),
        [
            "DialectStreamFunction",
            "DialectStreamFunctionLogs",
            "DialectStreamFunctionThrottlesAlarm",
            "DialectStreamFunctionUrl5xxAlarm"
        ],
        "its own resources and alarms; the fallback does not take a path the API does not serve"
    );
    assert!(resource(&template, "DialectStreamFunctionLogs")
        .contains("LogGroupName: !Sub \"/aws/lambda/${DialectStreamFunction}\"\n"));
    assert!(resource(&template, "DialectStreamFunctionUrl5xxAlarm")
        .contains("MetricName: Url5xxCount\n      Dimensions:\n        - Name: FunctionName\n          Value: !Ref DialectStreamFunction\n"));
    let resource = resource(&template, "DialectStreamFunction");
    assert!(resource.contains("        Binary: dialect-stream\n"));
    assert!(resource.contains("      Description: \"Stream a reply in another dialect\"\n      # API Gateway"));
    assert!(resource.contains("      Timeout: 300\n"));
    assert!(resource.contains("        InvokeMode: RESPONSE_STREAM\n"));
    assert!(resource.contains("          AllowMethods: [POST]\n"));
    assert!(resource.contains("              Action: [dynamodb:GetItem]\n              Resource: !GetAtt Table.Arn\n"));
    assert!(!resource.contains("Events:") && !resource.contains("secretsmanager") && !resource.contains("Environment"));
    assert!(watch::render(&tables)
        .contains("\"/dialect/stream\" = [\n    { method = \"POST\", function = \"dialect-stream\" },\n"));

    let missing: Vec<(String, Option<String>)> = artifacts(&repo_root(), &tables)
        .unwrap()
        .into_iter()
        .filter(|a| a.path.starts_with("functions"))
        .map(|a| (a.path.display().to_string(), a.current))
        .collect();
    assert_eq!(
        missing,
        [
            ("functions/dialect-stream/Cargo.toml".to_string(), None),
            ("functions/dialect-stream/src/main.rs".to_string(), None)
        ],
        "only the crate that does not exist"
    );
    let files = crates::render(&functions[functions.len() - 1]);
    assert!(files[0]
        .1
        .contains("name = \"dialect-stream\"\ndescription = \"Stream a reply in another dialect.\"\n"));
    assert!(files[1]
        .1
        .starts_with("//! The `dialect-stream` function: stream a reply in another dialect."));
    assert!(files[1].1.contains(
        "chatbot_core::lambda::serve_streaming(\"dialect-stream\", chatbot_core::routes_of!(\"dialect-stream\")).await"
    ));
}

#[test]
fn a_generated_crate_has_the_shape_of_the_existing_ones() {
    // Each function's crate is exactly what the generator would write for it.
    let mut compared = 0;
    for function in FUNCTIONS {
        let dir = repo_root().join("functions").join(function.name);
        for (file, wanted) in crates::render(function) {
            let committed = std::fs::read_to_string(dir.join(file)).unwrap();
            assert_eq!(committed, wanted, "functions/{}/{file}", function.name);
        }
        compared += 1;
    }
    assert!(compared > 10, "{compared}");
}
