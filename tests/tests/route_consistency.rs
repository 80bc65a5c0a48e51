//! The route table, `template.yaml`, the `cargo lambda watch` router, the function
//! crates and the OpenAPI document must name the same routes and functions. The
//! router and the template's functions are written by `cargo xtask gen` (xtask's
//! own tests check the committed files are byte for byte its output); these check
//! what the files mean, independently of how they are rendered.

use chatbot_core::routes::{function, FALLBACK_FUNCTION, FUNCTIONS, ROUTES};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// (METHOD, path) → function, from the route table, both slash forms; `streamed`
/// picks the routes behind Function URLs (true) or the HTTP API (false).
fn expected_where(streamed: Option<bool>) -> BTreeMap<(String, String), String> {
    ROUTES
        .iter()
        .filter(|r| streamed.is_none_or(|s| streams(r.function) == s))
        .flat_map(|r| {
            r.paths()
                .into_iter()
                .map(|p| ((r.method.to_string(), p.to_string()), r.function.to_string()))
        })
        .collect()
}

fn streams(name: &str) -> bool {
    function(name)
        .unwrap_or_else(|| panic!("{name} is not in FUNCTIONS"))
        .streams
}

fn expected() -> BTreeMap<(String, String), String> {
    expected_where(None)
}

/// Every HttpApi event of the template: (METHOD, path) → binary name.
/// What the template declares: HTTP API routes (method, path) → binary, the paths
/// whose other methods go to the fallback, and the functions with streaming URLs.
struct Declared {
    routes: BTreeMap<(String, String), String>,
    any_paths: BTreeSet<String>,
    streaming: BTreeSet<String>,
}

fn template_routes() -> Declared {
    let text = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    let template: Yaml = serde_yaml::from_str(&text).unwrap();
    let mut routes = BTreeMap::new();
    let mut any_paths = BTreeSet::new();
    let mut streaming = BTreeSet::new();
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
        let url = &resource["Properties"]["FunctionUrlConfig"];
        if !url.is_null() {
            assert_eq!(url["InvokeMode"], Yaml::from("RESPONSE_STREAM"), "{binary}");
            streaming.insert(binary.to_string());
        }
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
    Declared {
        routes,
        any_paths,
        streaming,
    }
}

#[test]
fn the_template_declares_every_route_and_nothing_else() {
    let Declared {
        routes,
        any_paths,
        streaming,
    } = template_routes();
    assert_eq!(routes, expected_where(Some(false)), "the HTTP API's routes");
    let api_paths: BTreeSet<String> = expected_where(Some(false)).into_keys().map(|(_, p)| p).collect();
    assert_eq!(
        any_paths, api_paths,
        "every path sends other methods to the fallback (405)"
    );
    let streamed: BTreeSet<String> = expected_where(Some(true)).into_values().collect();
    assert_eq!(
        streaming, streamed,
        "streaming routes are served by Function URLs in RESPONSE_STREAM mode"
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
fn every_function_has_a_crate_whose_binary_serves_its_routes() {
    let functions: BTreeMap<&str, bool> = FUNCTIONS.iter().map(|f| (f.name, f.streams)).collect();
    assert!(!functions[FALLBACK_FUNCTION], "the fallback answers whole");
    let dirs: BTreeSet<String> = std::fs::read_dir(repo().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, functions.keys().map(|f| f.to_string()).collect::<BTreeSet<_>>());
    for (function, streams) in functions {
        let dir = repo().join("functions").join(function);
        let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some(function));
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        let call = if streams { "serve_streaming" } else { "serve" };
        // Its own routes, chosen at compile time; the fallback looks in the whole table.
        let routes = if function == FALLBACK_FUNCTION {
            "&chatbot_core::routes::ROUTE_PATHS".to_string()
        } else {
            format!("chatbot_core::routes_of!(\"{function}\")")
        };
        assert!(
            main.contains(&format!("{call}(\"{function}\", {routes})")),
            "{function} calls {call} with its routes"
        );
    }
}

#[test]
fn the_openapi_document_lists_exactly_the_routes() {
    let doc = chatbot_core::routes::openapi::document();
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
        .filter(|r| r.in_openapi)
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(documented, routes);
}
