//! The route table, `template.yaml`, the `cargo lambda watch` router, the function
//! crates and the OpenAPI document must name the same routes and functions.

use chatbot_core::routes::{FALLBACK_FUNCTION, ROUTES};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn variants(path: &str) -> [String; 2] {
    [path.to_string(), path.trim_end_matches('/').to_string()]
}

/// (METHOD, path) → function, from the route table, both slash forms.
fn expected() -> BTreeMap<(String, String), String> {
    ROUTES
        .iter()
        .flat_map(|r| variants(r.path).map(|p| ((r.method.to_string(), p), r.function.to_string())))
        .collect()
}

/// Every HttpApi event of the template: (METHOD, path) → binary name.
fn template_routes() -> (BTreeMap<(String, String), String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    let template: Yaml = serde_yaml::from_str(&text).unwrap();
    let mut routes = BTreeMap::new();
    let mut any_paths = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        assert_eq!(
            resource["Metadata"]["BuildMethod"],
            Yaml::from("rust-cargolambda"),
            "{binary}"
        );
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            assert_eq!(event["Type"], Yaml::from("HttpApi"));
            let props = &event["Properties"];
            let (Some(path), Some(method)) = (props["Path"].as_str(), props["Method"].as_str()) else {
                assert_eq!(binary, FALLBACK_FUNCTION, "only the fallback takes the default route");
                continue;
            };
            if method == "ANY" {
                assert_eq!(binary, FALLBACK_FUNCTION);
                any_paths.insert(path.to_string());
            } else {
                let previous = routes.insert((method.to_string(), path.to_string()), binary.to_string());
                assert!(previous.is_none(), "{method} {path} declared twice");
            }
        }
    }
    (routes, any_paths)
}

#[test]
fn the_template_declares_every_route_and_nothing_else() {
    let (routes, any_paths) = template_routes();
    assert_eq!(routes, expected());
    let all_paths: BTreeSet<String> = expected().into_keys().map(|(_, p)| p).collect();
    assert_eq!(
        any_paths, all_paths,
        "every path sends other methods to the fallback (405)"
    );
}

#[test]
fn the_watch_router_maps_every_route_and_sends_other_methods_to_the_fallback() {
    let text = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut mapped = BTreeMap::new();
    for (path, entry) in router {
        if path == "/{*path}" {
            assert_eq!(entry.as_str(), Some(FALLBACK_FUNCTION));
            continue;
        }
        for item in entry.as_array().unwrap() {
            let method = item["method"].as_str().unwrap().to_string();
            let function = item["function"].as_str().unwrap().to_string();
            if function == FALLBACK_FUNCTION {
                assert!(
                    !expected().contains_key(&(method.clone(), path.clone())),
                    "{method} {path} is a real route"
                );
            } else {
                mapped.insert((method, path.clone()), function);
            }
        }
    }
    assert_eq!(mapped, expected());
}

#[test]
fn every_function_has_a_crate_whose_binary_serves_its_operation() {
    let mut functions: Vec<(&str, String)> = ROUTES
        .iter()
        .map(|r| (r.function, format!("Operation::{:?}", r.operation)))
        .collect();
    functions.push((FALLBACK_FUNCTION, "Operation::Fallback".to_string()));
    let dirs: BTreeSet<String> = std::fs::read_dir(repo().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dirs,
        functions.iter().map(|(f, _)| f.to_string()).collect::<BTreeSet<_>>()
    );
    for (function, operation) in functions {
        let dir = repo().join("functions").join(function);
        let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some(function));
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        assert!(
            main.contains(&format!("serve({operation})")),
            "{function} serves {operation}"
        );
    }
}

#[test]
fn the_openapi_document_lists_exactly_the_routes() {
    let doc = chatbot_core::openapi::document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(documented, routes);
}
